"""What every pooling op shares: output size, input checks, the window view, index arithmetic.

The library's core: :mod:`pooling_course.functional` and :mod:`pooling_course.ops` build on
it, and chapter 1 (:mod:`pooling_course.forward`) teaches its rules by importing them.

The one idea of the package lives in :func:`sliding_windows`: expose every window as a
strided *view* of shape ``(B, *out, *kernel)``, so that no window is copied. Max pooling is
then one ``argmax`` over the kernel axes and average pooling one sum over them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._args import check_non_negative, check_positive, ntuple

IntOrTuple = int | Sequence[int]

FLOATS = (np.float16, np.float32, np.float64)
INTS = (np.int8, np.uint8, np.int16, np.int32, np.int64)

_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


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
    >>> (pool_output_size(5, kernel_size=2, ceil_mode=False),
    ...  pool_output_size(5, kernel_size=2, ceil_mode=True))
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


def lowest(dtype: np.dtype) -> np.generic:
    """The value a max starts from: ``-inf`` for floats, the minimum for integers.

    >>> lowest(np.dtype(np.float32)), lowest(np.dtype(np.int8))
    (np.float32(-inf), np.int8(-128))
    """
    if np.issubdtype(dtype, np.floating):
        return dtype.type(-np.inf)
    return dtype.type(np.iinfo(dtype).min)


def as_planes(
    input: np.ndarray,
    ndim: int,
    op: str,
    dtypes: Sequence[type] | None,
    *,
    empty_channels: bool = False,
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Check ``input`` and view it as ``(B, *spatial)`` planes, ``B = N * C``.

    Torch accepts ``(N, C, *spatial)`` and ``(C, *spatial)``; only the batch ``N`` may be 0
    (adaptive average pooling also allows ``C = 0``). Returns the planes and the leading shape
    ``(N, C)`` or ``(C,)`` to restore at the end.
    """
    if not isinstance(input, np.ndarray):
        raise TypeError(f"{op}: input must be a numpy.ndarray, got {type(input).__name__}")
    if input.ndim not in (ndim + 1, ndim + 2):
        raise ValueError(f"{op}: input must have shape (N, C, {_SPATIAL[ndim]}) or "
                         f"(C, {_SPATIAL[ndim]}), got {ndim + 1} or {ndim + 2} dimensions "
                         f"expected but shape {input.shape}")
    if dtypes is not None:
        check_dtype(input.dtype, op, dtypes)
    first_checked = input.ndim - ndim - (0 if empty_channels else 1)
    if 0 in input.shape[first_checked:]:
        raise ValueError(f"{op}: input's non-batch dimensions must be non-zero, got shape "
                         f"{input.shape}")
    lead = input.shape[:-ndim]
    return input.reshape(int(np.prod(lead)), *input.shape[-ndim:]), lead


def check_dtype(dtype: np.dtype, op: str, dtypes: Sequence[type]) -> None:
    if dtype.type not in dtypes:
        names = ", ".join(np.dtype(d).name for d in dtypes)
        raise TypeError(f"{op}: dtype {dtype} is not supported (torch 2.13 accepts {names})")


def window_params(
    ndim: int,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    padding: IntOrTuple,
    dilation: IntOrTuple,
) -> tuple[tuple[int, ...], ...]:
    """Normalise ``kernel_size, stride, padding, dilation``; ``stride=None`` or ``()`` means
    ``kernel_size``, as in torch."""
    k = ntuple(kernel_size, ndim, "kernel_size")
    s = k if stride is None or (isinstance(stride, Sequence) and len(stride) == 0) else ntuple(
        stride, ndim, "stride")
    return k, s, ntuple(padding, ndim, "padding"), ntuple(dilation, ndim, "dilation")


def sliding_windows(
    planes: np.ndarray,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    out_shape: tuple[int, ...],
    fill: float,
) -> np.ndarray:
    """Every pooling window of ``planes`` ``(B, *spatial)`` as a read-only strided view
    ``(B, *out_shape, *kernel_size)``.

    Args:
        planes: the input, ``(B, *spatial)`` with one to three spatial axes.
        kernel_size, stride, padding, dilation: one int per spatial axis, as the pools
            normalise them (``stride`` already defaulted to ``kernel_size``).
        out_shape: the number of windows per axis, from
            :func:`~pooling_course.functional.pool_output_shape`.
        fill: what positions outside the input read: a value that cannot win the reduction
            (the dtype's lowest value for a max, 0 for a sum).

    Window ``o`` along an axis covers positions ``o * s - p + a * d`` for ``a < k``. Positions
    outside the input read ``fill``: ``padding`` on the left, and on the right as much as the
    last window needs (with ``ceil_mode`` that can exceed ``padding``).

    Memory: when no window reaches outside the input, the result is a view of ``planes``
    itself (of a contiguous copy if ``planes`` is not contiguous). Otherwise there is no memory
    to view for the outside positions, so ``planes`` is first copied into a padded array
    (``np.pad``) and the result is a view of that copy.

    >>> x = np.arange(16.0).reshape(1, 4, 4)
    >>> w = sliding_windows(x, kernel_size=(2, 2), stride=(2, 2),
    ...                     padding=(0, 0), dilation=(1, 1),
    ...                     out_shape=(2, 2), fill=-np.inf)
    >>> w.shape, np.shares_memory(w, x)
    ((1, 2, 2, 2, 2), True)
    >>> w = sliding_windows(x, kernel_size=(2, 2), stride=(2, 2),
    ...                     padding=(1, 1), dilation=(1, 1),
    ...                     out_shape=(3, 3), fill=-np.inf)
    >>> w[0, 0, 0], np.shares_memory(w, x)
    (array([[-inf, -inf],
           [-inf,   0.]]), False)
    """
    spatial = planes.shape[1:]
    right = [max(0, (o - 1) * s + (k - 1) * d + 1 - p - n)
             for n, k, s, p, d, o in zip(spatial, kernel_size, stride, padding, dilation,
                                         out_shape, strict=True)]
    if any(padding) or any(right):
        widths = [(0, 0)] + list(zip(padding, right, strict=True))
        planes = np.pad(planes, widths, constant_values=fill)
    else:
        planes = np.ascontiguousarray(planes)
    steps = planes.strides[1:]
    shape = (planes.shape[0], *out_shape, *kernel_size)
    strides = (planes.strides[0], *(t * s for t, s in zip(steps, stride, strict=True)),
               *(t * d for t, d in zip(steps, dilation, strict=True)))
    return as_strided(planes, shape, strides, writeable=False)


def flat_index(coords: Sequence[np.ndarray], spatial: Sequence[int]) -> np.ndarray:
    """Row-major position of ``coords`` in a plane of shape ``spatial`` (torch's indices)."""
    index = np.zeros(np.broadcast_shapes(*(np.shape(c) for c in coords)), dtype=np.int64)
    for c, n in zip(coords, spatial, strict=True):
        index = index * n + c
    return index


def axis_grid(values: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """Reshape a 1d array so it broadcasts along spatial ``axis`` of ``(B, *out)``."""
    shape = [1] * (ndim + 1)
    shape[axis + 1] = -1
    return np.asarray(values).reshape(shape)


def restore(out: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    """Undo :func:`as_planes`: ``(B, *out)`` back to ``(*lead, *out)``."""
    return out.reshape(*lead, *out.shape[1:])


def check_grad_output(grad_output: np.ndarray, expected: tuple[int, ...], op: str) -> np.ndarray:
    if not isinstance(grad_output, np.ndarray):
        raise TypeError(f"{op}: grad_output must be a numpy.ndarray, got "
                        f"{type(grad_output).__name__}")
    if grad_output.shape != expected:
        raise ValueError(f"{op}: grad_output must have the output's shape {expected}, got "
                         f"{grad_output.shape}")
    return grad_output


def scatter_add(target: np.ndarray, index: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``target[b, index[b, j]] += values[b, j]`` in order of ``j``, as torch's loops add.

    ``target`` is ``(B, plane_size)``; ``index`` and ``values`` are ``(B, ...)``. ``np.add.at``
    adds repeated positions one after another in array order, so floating-point sums round
    exactly as torch's sequential ``+=`` does.
    """
    batch = np.arange(target.shape[0]).reshape(-1, *([1] * (index.ndim - 1)))
    np.add.at(target, (batch, index), values)
    return target


# --- the loop references' window geometry (readable, one output cell at a time) ---

def loop_planes2d(
    input: np.ndarray, kernel_size: IntOrTuple, stride: IntOrTuple | None, padding: IntOrTuple,
    dilation: IntOrTuple, ceil_mode: bool,
) -> tuple[np.ndarray, tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """What the 2d loop references start from: the input as ``(B, H, W)`` planes, the output
    size ``(H_out, W_out)`` and the parameters ``(k, s, p, d)`` as pairs."""
    input = np.asarray(input)
    if input.ndim not in (3, 4) or 0 in input.shape[-3:]:
        raise ValueError(f"input must have shape (N, C, H, W) or (C, H, W) with non-zero C, H, "
                         f"W, got {input.shape}")
    k = ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None else ntuple(stride, 2, "stride")
    p, d = ntuple(padding, 2, "padding"), ntuple(dilation, 2, "dilation")
    out_hw = pool_output_shape(input.shape[-2:], k, s, p, d, ceil_mode)
    return input.reshape(-1, *input.shape[-2:]), out_hw, (k, s, p, d)


def window_cells(
    i: int, j: int, k: tuple[int, ...], s: tuple[int, ...], p: tuple[int, ...],
    d: tuple[int, ...], height: int, width: int,
) -> list[tuple[int, int]]:
    """Input positions of output cell (i, j)'s window that lie inside the input."""
    rows = [i * s[0] - p[0] + a * d[0] for a in range(k[0])]
    cols = [j * s[1] - p[1] + b * d[1] for b in range(k[1])]
    return [(h, w) for h in rows if 0 <= h < height for w in cols if 0 <= w < width]


def first_inside(i: int, axis: int, k: tuple[int, ...], s: tuple[int, ...],
                  p: tuple[int, ...], d: tuple[int, ...]) -> int:
    """First position of the window's dilation grid along ``axis`` that is not before 0."""
    start = i * s[axis] - p[axis]
    while start < 0:
        start += d[axis]
    return start
