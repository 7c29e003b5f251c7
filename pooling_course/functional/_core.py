"""What every pooling op shares: input checks, the window view, index arithmetic.

The one idea of the package lives in :func:`sliding_windows`: expose every window as a
strided *view* of shape ``(B, *out, *kernel)``, so that no window is copied. Max pooling is
then one ``argmax`` over the kernel axes and average pooling one sum over them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._args import ntuple
from ..forward import lowest  # noqa: F401 - re-exported for the kernels

IntOrTuple = int | Sequence[int]

FLOATS = (np.float16, np.float32, np.float64)
INTS = (np.int8, np.uint8, np.int16, np.int32, np.int64)

_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


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
        kernel_size, stride, padding, dilation: one int per spatial axis (see
            :func:`window_params`).
        out_shape: the number of windows per axis, from
            :func:`~pooling_course.forward.pool_output_shape`.
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
    >>> w = sliding_windows(x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0),
    ...                     dilation=(1, 1), out_shape=(2, 2), fill=-np.inf)
    >>> w.shape, np.shares_memory(w, x)
    ((1, 2, 2, 2, 2), True)
    >>> w = sliding_windows(x, kernel_size=(2, 2), stride=(2, 2), padding=(1, 1),
    ...                     dilation=(1, 1), out_shape=(3, 3), fill=-np.inf)
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
