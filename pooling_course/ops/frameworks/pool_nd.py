"""The general N-d pooling core that every framework's rules reduce to.

PyTorch, TensorFlow/Keras, JAX and ONNX all place windows the same way once their options are
spelled out: along each spatial axis, output cell ``o`` reads the taps
``o * stride - pad_begin + j * dilation`` for ``j < kernel``. What differs is how the options
are spelled (``"SAME"``, ``auto_pad``, ``ceil_mode``), which padded cells an average counts,
and how an argmax is numbered. :func:`pool_nd` takes the spelled-out form: a ``(begin, end)``
pad per axis, a dilation for max *and* average, ``count_include_pad``, ``ceil_mode``, and
channels first or last. The framework modules translate their own arguments into it.

NumPy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MODES = ("max", "avg", "lp")


def output_length(length: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                  dilation: int = 1, ceil_mode: bool = False) -> int:
    """Number of windows along one axis (PyTorch's and ONNX's rule).

    ``floor`` (or ``ceil`` with ``ceil_mode``) of
    ``(length + pad_begin + pad_end - span) / stride + 1`` with ``span = (kernel - 1) *
    dilation + 1``; with ``ceil_mode`` a last window that would start inside the end padding
    is dropped. Returns 0 when not even one window fits.

    >>> (output_length(5, 2, 2, 0, 0),
    ...  output_length(5, 2, 2, 0, 0, ceil_mode=True))
    (2, 3)
    """
    span = (kernel - 1) * dilation + 1
    room = length + pad_begin + pad_end - span
    if room < 0:
        return 0
    if not ceil_mode:
        return room // stride + 1
    out = -(-room // stride) + 1
    if (out - 1) * stride >= length + pad_begin:
        out -= 1
    return out


def same_pads(length: int, kernel: int, stride: int, dilation: int = 1,
              odd_cell: str = "end") -> tuple[int, int]:
    """TensorFlow's ``"SAME"`` padding along one axis: ``ceil(length / stride)`` windows.

    The total padding ``max((out - 1) * stride + span - length, 0)`` is split in two halves;
    an odd cell goes to the end (TensorFlow, XLA, ONNX ``SAME_UPPER``) or to the beginning
    (ONNX ``SAME_LOWER``: ``odd_cell="begin"``).

    >>> (same_pads(5, 2, 2), same_pads(5, 2, 1),
    ...  same_pads(6, 3, 1, odd_cell="begin"))
    ((0, 1), (0, 1), (1, 1))
    """
    if odd_cell not in ("end", "begin"):
        raise ValueError(f"odd_cell must be 'end' or 'begin', got {odd_cell!r}")
    out = math.ceil(length / stride)
    span = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + span - length, 0)
    small = total // 2
    return (small, total - small) if odd_cell == "end" else (total - small, small)


def _per_axis(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return (int(value),) * n
    items = tuple(value)
    if len(items) != n or not all(isinstance(v, int | np.integer) for v in items):
        raise ValueError(f"{name} must be an int or {n} ints, got {value!r}")
    return tuple(int(v) for v in items)


def _tap_counts(length: int, out: int, kernel: int, stride: int, dilation: int,
                pad_begin: int, pad_end: int) -> tuple[np.ndarray, np.ndarray]:
    """Per window: taps inside the input, and taps inside input + padding."""
    taps = (np.arange(out)[:, None] * stride - pad_begin
            + np.arange(kernel)[None, :] * dilation)
    inside = ((taps >= 0) & (taps < length)).sum(axis=1)
    padded = ((taps >= -pad_begin) & (taps < length + pad_end)).sum(axis=1)
    return inside, padded


def pool_nd(
    x: np.ndarray,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    pads: Sequence[tuple[int, int]] | int = 0,
    *,
    mode: str = "max",
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    p: float = 2.0,
    channels_last: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Max, average or power-average pooling over the last ``n`` spatial axes.

    Args:
        x: ``(..., C, *spatial)``, or ``(..., *spatial, C)`` with ``channels_last``; ``n =
            len(kernel_size)`` spatial axes (an int kernel means ``x.ndim - 2`` axes).
        kernel_size: window size per spatial axis.
        stride: step per axis; default ``kernel_size`` (PyTorch's and Keras's default).
        pads: per axis a ``(begin, end)`` pair of padded cells, or one int for all sides.
        mode: ``"max"`` (padding never wins), ``"avg"`` or ``"lp"`` (``(sum |x|^p)^(1/p)``
            over the taps inside the input, ONNX's LpPool).
        dilation: spacing of the taps inside a window, for every mode.
        ceil_mode: round the window count up (a last window must start inside the input or
            the begin padding).
        count_include_pad: the average divides by the taps inside input + padding; else by
            the taps inside the input. Cells past the padding (``ceil_mode``) never count.
        p: the power of ``"lp"``.
        channels_last: the channel axis follows the spatial axes (NHWC).
        return_indices: max only; also return the argmax of each window as a flat index
            into its ``(*spatial)`` plane, PyTorch's convention (the first maximum wins; NaN
            wins).

    Returns:
        The pooled array in ``x``'s layout and dtype, and with ``return_indices`` the int64
        indices.

    >>> pool_nd(np.arange(5.0)[None], (2,), 2, [(0, 1)], mode="avg",
    ...         count_include_pad=False)
    array([[0.5, 2.5, 4. ]])
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    x = np.asarray(x)
    n = len(kernel_size) if isinstance(kernel_size, Sequence) else x.ndim - 2
    if n < 1 or x.ndim < n + 1:
        raise ValueError(f"input needs at least {n + 1} dims for {n} spatial axes, "
                         f"got shape {x.shape}")
    kernel = _per_axis(kernel_size, n, "kernel_size")
    step = kernel if stride is None else _per_axis(stride, n, "stride")
    dil = _per_axis(dilation, n, "dilation")
    if isinstance(pads, int | np.integer):
        pads = [(int(pads), int(pads))] * n
    pad_pairs = [tuple(int(v) for v in pair) for pair in pads]
    if len(pad_pairs) != n or any(len(pair) != 2 for pair in pad_pairs):
        raise ValueError(f"pads must be {n} (begin, end) pairs, got {pads!r}")
    for name, values, low in (("kernel_size", kernel, 1), ("stride", step, 1),
                              ("dilation", dil, 1)):
        if min(values) < low:
            raise ValueError(f"{name} must be positive, got {values}")
    if min(min(pair) for pair in pad_pairs) < 0:
        raise ValueError(f"pads must be non-negative, got {pad_pairs}")
    if return_indices and mode != "max":
        raise ValueError("return_indices is only defined for mode='max'")
    if channels_last:
        x = np.moveaxis(x, -1, -n - 1)
    spatial = x.shape[-n:]
    outs = [output_length(spatial[a], kernel[a], step[a], *pad_pairs[a], dil[a], ceil_mode)
            for a in range(n)]
    if min(outs) < 1:
        raise ValueError(f"output would be empty: input {spatial}, kernel {kernel}, "
                         f"pads {pad_pairs}, dilation {dil}")

    # Pad every axis to exactly the cells the windows read (ceil_mode may read past the pad).
    need = [(outs[a] - 1) * step[a] + (kernel[a] - 1) * dil[a] + 1 for a in range(n)]
    widths = [(0, 0)] * (x.ndim - n) + [
        (pad_pairs[a][0], max(need[a] - pad_pairs[a][0] - spatial[a], 0)) for a in range(n)]
    if mode == "max":
        fill = -np.inf if x.dtype.kind in "fc" else np.iinfo(x.dtype).min
        source = x
    else:
        fill = 0
        source = x.astype(np.float64)
        if mode == "lp":
            source = np.abs(source) ** p
    padded = np.pad(source, widths, constant_values=fill)
    spans = [(kernel[a] - 1) * dil[a] + 1 for a in range(n)]
    windows = np.lib.stride_tricks.sliding_window_view(
        padded, spans, axis=tuple(range(x.ndim - n, x.ndim)))
    lead = (slice(None),) * (x.ndim - n)
    windows = windows[lead + tuple(slice(0, outs[a] * step[a], step[a]) for a in range(n))
                      + tuple(slice(None, None, dil[a]) for a in range(n))]
    windows = windows[lead + tuple(slice(0, outs[a]) for a in range(n))]
    flat = windows.reshape(*windows.shape[:-n], -1)

    if mode == "max":
        out = flat.max(axis=-1)
        result = out
    else:
        counts = [_tap_counts(spatial[a], outs[a], kernel[a], step[a], dil[a],
                              *pad_pairs[a]) for a in range(n)]
        total = flat.sum(axis=-1)
        if mode == "lp":
            result = (total ** (1.0 / p)).astype(x.dtype if x.dtype.kind == "f"
                                                 else np.float64)
        else:
            divisor = np.ones(outs)
            for a in range(n):
                per_axis = counts[a][1] if count_include_pad else counts[a][0]
                shape = [1] * n
                shape[a] = outs[a]
                divisor = divisor * per_axis.reshape(shape)
            with np.errstate(invalid="ignore", divide="ignore"):
                avg = total / divisor
            result = avg.astype(x.dtype if x.dtype.kind == "f" else np.float64)
    if channels_last:
        result = np.moveaxis(result, -n - 1, -1)
    if not return_indices:
        return result
    local = np.argmax(flat, axis=-1)
    nan_first = np.isnan(flat).any(axis=-1) if flat.dtype.kind == "f" else None
    if nan_first is not None and nan_first.any():
        local = np.where(nan_first, np.argmax(np.isnan(flat), axis=-1), local)
    within = np.unravel_index(local, kernel)
    coords = []
    for a in range(n):
        shape = [1] * n
        shape[a] = outs[a]
        start = (np.arange(outs[a]) * step[a] - pad_pairs[a][0]).reshape(shape)
        coords.append(start + within[a] * dil[a])
    index = np.ravel_multi_index(coords, spatial, mode="clip").astype(np.int64)
    if channels_last:
        index = np.moveaxis(index, -n - 1, -1)
    return result, index
