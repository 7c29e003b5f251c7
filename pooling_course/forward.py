"""Chapter 1, the forward pass: windows, strides, output size and receptive field.

Everything here is written to be read. ``pool_output_size`` is the one output-size rule that
every other function, widget, exercise test and chapter of the course calls, and
``max_pool2d_loop`` / ``avg_pool2d_loop`` are the loop references of the two basic pools:
plain Python loops over output positions that give exactly what ``torch.nn.functional``
gives. The vectorised kernels live in :mod:`pooling_course.functional`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._args import check_non_negative, check_positive, ntuple

IntOrTuple = int | Sequence[int]


def pool_output_size(
    input_size: int,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    r"""Number of windows a pool places along one axis, by PyTorch's rule.

    .. math::

        L_{out} = \left\lfloor \frac{L_{in} + 2p - d(k-1) - 1}{s} \right\rfloor + 1

    With ``ceil_mode=True`` the floor becomes a ceiling, and then one rule more: the last
    window must *start* inside the input or the left padding, i.e.
    ``(L_out - 1) * s < L_in + p``; a window that would start in the right padding is dropped.

    Args:
        input_size: length ``L_in`` of the axis, at least 1.
        kernel_size: window length ``k``, at least 1.
        stride: step ``s`` between window starts, at least 1. Default: ``kernel_size``.
        padding: implicit padding ``p`` added on both sides, ``0 <= p <= k // 2``: torch's cap,
            a design choice (with ``d = 1`` any ``p <= k - 1`` would leave a real cell in every
            window; with ``d > 1`` even the cap allows a window of padding only).
        dilation: spacing ``d`` between window elements, at least 1.
        ceil_mode: round the division up instead of down.

    Raises:
        ValueError: a parameter is out of its range, or no window fits (output size below 1).

    >>> pool_output_size(4, kernel_size=2)
    2
    >>> pool_output_size(5, kernel_size=2, ceil_mode=False), pool_output_size(5, 2, ceil_mode=True)
    (2, 3)
    """
    (out,) = pool_output_shape((input_size,), kernel_size, stride, padding, dilation, ceil_mode)
    return out


def pool_output_shape(
    input_shape: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> tuple[int, ...]:
    """:func:`pool_output_size` for every spatial axis of ``input_shape`` at once.

    Each window parameter is an int (used on every axis) or a tuple with one entry per axis.

    >>> pool_output_shape((5, 7), kernel_size=(2, 3), stride=2, padding=1)
    (3, 4)
    """
    ndim = len(input_shape)
    k = ntuple(kernel_size, ndim, "kernel_size")
    s = k if stride is None else ntuple(stride, ndim, "stride")
    p = ntuple(padding, ndim, "padding")
    d = ntuple(dilation, ndim, "dilation")
    check_positive(k, "kernel_size")
    check_positive(s, "stride")
    check_positive(d, "dilation")
    check_non_negative(p, "padding")
    if any(pi > ki // 2 for pi, ki in zip(p, k, strict=True)):
        # Torch's cap, on kernel_size and not on the dilated span. With d = 1 it keeps a real
        # element in every window; with d > 1 a window can still miss every real element.
        raise ValueError(f"padding must be at most half of kernel_size, got padding={p}, "
                         f"kernel_size={k}")
    out = tuple(
        _one_axis(n, ki, si, pi, di, ceil_mode)
        for n, ki, si, pi, di in zip(input_shape, k, s, p, d, strict=True)
    )
    if any(o < 1 for o in out):
        raise ValueError(f"input_size {tuple(input_shape)} is too small for kernel_size={k}, "
                         f"dilation={d}, padding={p}: the output size would be {out}")
    return out


def _one_axis(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = n + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


@dataclass(frozen=True)
class Layer:
    """One windowed layer (convolution or pool) as receptive-field arithmetic sees it."""

    name: str
    kernel_size: int
    stride: int = 1
    dilation: int = 1


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field and effective stride after a layer, along one axis."""

    layer: str
    kernel_size: int
    stride: int
    receptive_field: int
    effective_stride: int


def receptive_fields(layers: Sequence[Layer]) -> list[ReceptiveField]:
    r"""Receptive field and effective stride after each layer, along one axis.

    Starting from one input pixel (:math:`RF_0 = 1`, :math:`S_0 = 1`):

    .. math::

        RF_i = RF_{i-1} + (k_i - 1)\, d_i\, S_{i-1}, \qquad S_i = S_{i-1}\, s_i

    A window of :math:`k_i` cells spaced :math:`d_i` apart, whose neighbouring cells are
    :math:`S_{i-1}` input pixels apart, adds :math:`(k_i - 1)\, d_i\, S_{i-1}` pixels to what
    one cell already sees. Padding does not enter. (Araujo et al., *Computing Receptive Fields
    of Convolutional Neural Networks*, Distill 2019.)

    >>> [r.receptive_field for r in receptive_fields([Layer("conv", 3), Layer("pool", 2, 2)])]
    [3, 4]
    """
    rows, rf, jump = [], 1, 1
    for layer in layers:
        check_positive((layer.kernel_size,), "kernel_size")
        check_positive((layer.stride,), "stride")
        check_positive((layer.dilation,), "dilation")
        rf += (layer.kernel_size - 1) * layer.dilation * jump
        jump *= layer.stride
        rows.append(ReceptiveField(layer.name, layer.kernel_size, layer.stride, rf, jump))
    return rows


def max_pool2d_loop(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """2d max pooling with plain loops, equal to ``torch.nn.functional.max_pool2d``.

    Shape: ``(N, C, H, W)`` or ``(C, H, W)`` in, ``(N, C, H_out, W_out)`` or
    ``(C, H_out, W_out)`` out, sizes from :func:`~pooling_course.forward.pool_output_shape`.

    Rules: padding is never a candidate (it acts as minus infinity); on ties the first
    element in row-major order wins; a NaN wins over every number, and a later NaN over an
    earlier one. ``indices`` are flat positions ``h * W + w`` within each ``(H, W)`` plane.
    """
    planes, (out_h, out_w), (k, s, p, d) = _prepare(input, kernel_size, stride, padding,
                                                    dilation, ceil_mode)
    height, width = planes.shape[-2:]
    start_value = lowest(planes.dtype)
    out = np.empty((planes.shape[0], out_h, out_w), dtype=planes.dtype)
    idx = np.empty(out.shape, dtype=np.int64)
    for c, plane in enumerate(planes):
        for i in range(out_h):
            for j in range(out_w):
                # Torch starts from the lowest value at the window's first on-grid position
                # inside the input, so a window wholly in padding yields (lowest, that index).
                first_h, first_w = _first_inside(i, 0, k, s, p, d), _first_inside(j, 1, k, s, p, d)
                best, best_at = start_value, first_h * width + first_w
                for h, w in _window(i, j, k, s, p, d, height, width):
                    value = plane[h, w]
                    if value > best or np.isnan(value):
                        best, best_at = value, h * width + w
                out[c, i, j], idx[c, i, j] = best, best_at
    out, idx = out.reshape(input.shape[:-2] + out.shape[-2:]), idx.reshape(
        input.shape[:-2] + out.shape[-2:])
    return (out, idx) if return_indices else out


def avg_pool2d_loop(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """2d average pooling with plain loops, equal to ``torch.nn.functional.avg_pool2d``.

    Shape: as :func:`~pooling_course.forward.max_pool2d_loop`.

    The sum runs over the real elements of the window; the divisor is
    ``divisor_override`` if given, else with ``count_include_pad=True`` the window's area
    clipped to the padded input (so a ceil_mode window that runs past the padding counts only
    its part inside it), else the number of real elements.
    """
    if divisor_override is not None and (isinstance(divisor_override, bool)
                                         or int(divisor_override) != divisor_override
                                         or divisor_override == 0):
        raise ValueError(f"divisor_override must be a non-zero int, got {divisor_override!r}")
    planes, (out_h, out_w), (k, s, p, d) = _prepare(input, kernel_size, stride, padding, 1,
                                                    ceil_mode)
    height, width = planes.shape[-2:]
    # Torch sums float16 in float32 and rounds once, at the end.
    acc = np.dtype(np.float32) if planes.dtype == np.float16 else planes.dtype
    out = np.empty((planes.shape[0], out_h, out_w), dtype=planes.dtype)
    for c, plane in enumerate(planes):
        for i in range(out_h):
            for j in range(out_w):
                cells = list(_window(i, j, k, s, p, d, height, width))
                total = sum((acc.type(plane[h, w]) for h, w in cells), start=acc.type(0))
                if divisor_override is not None:
                    divisor = divisor_override
                elif count_include_pad:
                    rows = min(i * s[0] - p[0] + k[0], height + p[0]) - (i * s[0] - p[0])
                    cols = min(j * s[1] - p[1] + k[1], width + p[1]) - (j * s[1] - p[1])
                    divisor = rows * cols
                else:
                    divisor = len(cells)
                out[c, i, j] = total / divisor
    return out.reshape(input.shape[:-2] + out.shape[-2:])


def _prepare(
    input: np.ndarray, kernel_size: IntOrTuple, stride: IntOrTuple | None, padding: IntOrTuple,
    dilation: IntOrTuple, ceil_mode: bool,
) -> tuple[np.ndarray, tuple[int, ...], tuple[tuple[int, ...], ...]]:
    input = np.asarray(input)
    if input.ndim not in (3, 4) or 0 in input.shape[-3:]:
        raise ValueError(f"input must have shape (N, C, H, W) or (C, H, W) with non-zero C, H, "
                         f"W, got {input.shape}")
    k = ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None else ntuple(stride, 2, "stride")
    p, d = ntuple(padding, 2, "padding"), ntuple(dilation, 2, "dilation")
    out_hw = pool_output_shape(input.shape[-2:], k, s, p, d, ceil_mode)
    return input.reshape(-1, *input.shape[-2:]), out_hw, (k, s, p, d)


def _window(
    i: int, j: int, k: tuple[int, ...], s: tuple[int, ...], p: tuple[int, ...],
    d: tuple[int, ...], height: int, width: int,
) -> list[tuple[int, int]]:
    """Input positions of output cell (i, j)'s window that lie inside the input."""
    rows = [i * s[0] - p[0] + a * d[0] for a in range(k[0])]
    cols = [j * s[1] - p[1] + b * d[1] for b in range(k[1])]
    return [(h, w) for h in rows if 0 <= h < height for w in cols if 0 <= w < width]


def _first_inside(i: int, axis: int, k: tuple[int, ...], s: tuple[int, ...],
                  p: tuple[int, ...], d: tuple[int, ...]) -> int:
    """First position of the window's dilation grid along ``axis`` that is not before 0."""
    start = i * s[axis] - p[axis]
    while start < 0:
        start += d[axis]
    return start


def lowest(dtype: np.dtype) -> np.generic:
    """The value a max starts from: ``-inf`` for floats, the minimum for integers."""
    if np.issubdtype(dtype, np.floating):
        return dtype.type(-np.inf)
    return dtype.type(np.iinfo(dtype).min)
