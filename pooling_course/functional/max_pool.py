"""Max pooling in 1d, 2d and 3d, forward and backward, equal to ``torch.nn.functional``.

The loop reference of the forward pass is :func:`max_pool2d_loop` (chapter 1 shows it);
:func:`max_pool2d_backward_loop` is its backward. The vectorised functions below are what the
rest of the course calls.

Torch's rules, all reproduced here:

* Padding is never a candidate: a window's maximum is taken over its real elements only.
* Ties: the first element in row-major window order wins.
* NaN: a NaN beats every number, and a later NaN beats an earlier one, so the index of a window
  holding NaNs is that of its *last* NaN (torch's test is ``val > max || isnan(val)``).
* A window with no real element gives ``-inf`` (the dtype's minimum for integers) and the
  index of the window's first on-grid position at or after 0 along each axis, which may lie
  outside the input. Only dilation makes such a window: with ``dilation=1`` the cap
  ``padding <= kernel_size // 2`` keeps a real element in every window, ``ceil_mode`` or not.
* Backward adds each ``grad_output`` to the input element its index names, windows in
  row-major order; tied maxima therefore route the whole gradient to the first of them.
"""

from __future__ import annotations

import numpy as np

from ._core import (
    FLOATS,
    INTS,
    IntOrTuple,
    as_planes,
    check_dtype,
    check_grad_output,
    first_inside,
    loop_planes2d,
    lowest,
    pool_output_shape,
    restore,
    window_cells,
    window_params,
)
from ._max_kernels import has_real_element, index_table, rows_max, window_maxima

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d",
    "max_pool1d_backward", "max_pool2d_backward", "max_pool3d_backward",
    "max_pool2d_loop", "max_pool2d_backward_loop",
]


def _max_pool(
    input: np.ndarray, ndim: int, op: str, kernel_size: IntOrTuple,
    stride: IntOrTuple | None, padding: IntOrTuple, dilation: IntOrTuple, ceil_mode: bool,
    dtypes: tuple[type, ...] = FLOATS + INTS, with_indices: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, tuple[int, ...], np.ndarray]:
    """Shared N-d kernel: returns planes' values ``(B, *out)``, indices (``None`` unless
    ``with_indices``), lead shape and a mask of the windows that hold a real element.

    It runs on blocks of planes (:func:`~._max_kernels.window_maxima` chooses how): one
    kernel offset at a time over the padded stride phases, or axis by axis through strided
    slices that skip the padding.
    """
    planes, lead = as_planes(input, ndim, op, dtypes)
    k, s, p, d = window_params(ndim, kernel_size, stride, padding, dilation)
    spatial = planes.shape[1:]
    out_shape = pool_output_shape(spatial, k, s, p, d, ceil_mode)
    has_real = has_real_element(spatial, k, s, p, d, out_shape)
    if ndim == 1 and not with_indices and p == (0,):
        # torch's 1-d values-only kernel is a plain loop; ours for it reads no phases
        values = rows_max(planes, k[0], s[0], d[0], out_shape[0])
        if values is not None:
            return values, None, lead, np.broadcast_to(has_real, values.shape)
    values = np.empty((planes.shape[0], *out_shape), dtype=planes.dtype)
    indices = np.empty(values.shape, dtype=np.int64) if with_indices else None
    if with_indices:
        base, table = index_table(spatial, k, s, p, d, out_shape)
    for block, result, code in window_maxima(planes, k, s, p, d, out_shape, with_indices):
        values[block] = result
        if with_indices:
            np.add(base, table[code], out=indices[block])
    return values, indices, lead, np.broadcast_to(has_real, values.shape)


def _forward(values: np.ndarray, indices: np.ndarray | None, lead: tuple[int, ...],
             return_indices: bool) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    out = restore(values, lead)
    return (out, restore(indices, lead)) if return_indices else out


def _backward(
    grad_output: np.ndarray, input: np.ndarray, ndim: int, op: str, kernel_size: IntOrTuple,
    stride: IntOrTuple | None, padding: IntOrTuple, dilation: IntOrTuple, ceil_mode: bool,
) -> np.ndarray:
    """Each window's gradient goes to its maximum: ``grad[index] += grad_output``.

    The indices come from the same blocked kernel as the forward pass, as flat positions in
    the whole input, and ``np.add.at`` on a flat array (NumPy's fast path for it) adds them
    one after another in window order, the order of torch's sequential ``+=``: sums of
    gradients that meet in one element round as torch's do. A window with no real element
    has nowhere to send its gradient (torch writes it out of the plane's bounds, into a
    neighbouring plane or past the buffer): we drop it.
    """
    check_dtype(np.asarray(input).dtype, op, FLOATS)
    planes, lead = as_planes(input, ndim, op, FLOATS)
    k, s, p, d = window_params(ndim, kernel_size, stride, padding, dilation)
    spatial = planes.shape[1:]
    out_shape = pool_output_shape(spatial, k, s, p, d, ceil_mode)
    grad = check_grad_output(grad_output, (*lead, *out_shape), op)
    grad = grad.astype(planes.dtype, copy=False).reshape(planes.shape[0], *out_shape)
    result = np.zeros(planes.size, dtype=planes.dtype)
    base, table = index_table(spatial, k, s, p, d, out_shape)
    has_real = has_real_element(spatial, k, s, p, d, out_shape)
    plane = int(np.prod(spatial))
    for block, _, code in window_maxima(planes, k, s, p, d, out_shape, True):
        index = table[code]
        index += base
        index += (np.arange(block.start, block.stop) * plane).reshape(-1, *[1] * ndim)
        g = grad[block]
        if not has_real.all():
            index = np.where(has_real, index, 0)
            g = np.where(has_real, g, 0)
        with np.errstate(invalid="ignore", over="ignore"):
            np.add.at(result, index.reshape(-1), g.reshape(-1))
    return result.reshape(input.shape)


def max_pool1d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """1d max pooling, equal to ``torch.nn.functional.max_pool1d``.

    Args:
        input: ``(N, C, L)`` or ``(C, L)``; float16/32/64, or an integer dtype when
            ``return_indices=True`` (torch's index-free 1d kernel is float-only).
        kernel_size: window length ``k``, at least 1.
        stride: step between windows, at least 1. Default: ``kernel_size``.
        padding: implicit ``-inf`` padding on both sides, ``0 <= padding <= k // 2``.
        dilation: spacing between window elements, at least 1.
        ceil_mode: round the output length up (see
            :func:`~pooling_course.functional.pool_output_size`).
        return_indices: also return the int64 position of each maximum within its ``L`` row.

    Shape:
        ``(N, C, L_out)`` or ``(C, L_out)``, with ``L_out`` from
        :func:`~pooling_course.functional.pool_output_size`.

    Rules: see the module docstring (ties go to the first, NaN to the last NaN, padding never
    wins, empty windows give ``-inf``).

    >>> x = np.array([[1.0, 3.0, 3.0, np.nan, 0.0, 2.0]])
    >>> max_pool1d(x, 2, return_indices=True)
    (array([[ 3., nan,  2.]]), array([[1, 3, 5]]))
    """
    planes_dtype = np.asarray(input).dtype
    if not return_indices:
        check_dtype(planes_dtype, "max_pool1d", FLOATS)
    values, indices, lead, _ = _max_pool(input, 1, "max_pool1d", kernel_size, stride, padding,
                                         dilation, ceil_mode, with_indices=return_indices)
    return _forward(values, indices, lead, return_indices)


def max_pool2d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """2d max pooling, equal to ``torch.nn.functional.max_pool2d``.

    Args:
        input: ``(N, C, H, W)`` or ``(C, H, W)``; float16/32/64 or int8/uint8/int16/32/64.
        kernel_size: window size, an int or ``(kH, kW)``, each at least 1.
        stride: step between windows. Default: ``kernel_size``.
        padding: implicit ``-inf`` padding, at most half the kernel size on each axis.
        dilation: spacing between window elements, at least 1.
        ceil_mode: round output sizes up; a window that would start in the right padding is
            dropped.
        return_indices: also return int64 positions ``h * W + w`` within each ``(H, W)`` plane.

    Shape:
        ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, sizes from
        :func:`~pooling_course.functional.pool_output_shape`.

    Rules: see the module docstring.

    >>> x = np.arange(16.0).reshape(1, 4, 4)
    >>> max_pool2d(x, 2)
    array([[[ 5.,  7.],
            [13., 15.]]])
    >>> max_pool2d(x, 3, stride=2, padding=1, return_indices=True)[1]
    array([[[ 5,  7],
            [13, 15]]])
    """
    values, indices, lead, _ = _max_pool(input, 2, "max_pool2d", kernel_size, stride, padding,
                                         dilation, ceil_mode, with_indices=return_indices)
    return _forward(values, indices, lead, return_indices)


def max_pool3d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """3d max pooling, equal to ``torch.nn.functional.max_pool3d``.

    As :func:`max_pool2d` with ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input, parameters an
    int or ``(kD, kH, kW)``, and indices ``(d * H + h) * W + w`` within each volume.

    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> max_pool3d(x, 2, return_indices=True)
    (array([[[[7.]]]]), array([[[[7]]]]))
    """
    values, indices, lead, _ = _max_pool(input, 3, "max_pool3d", kernel_size, stride, padding,
                                         dilation, ceil_mode, with_indices=return_indices)
    return _forward(values, indices, lead, return_indices)


def max_pool1d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Gradient of :func:`max_pool1d` with respect to ``input``.

    Each window sends its ``grad_output`` to the element its index names; elements that win
    several windows collect the sum, added in window order as torch does.

    >>> x = np.array([[1.0, 3.0, 2.0]])
    >>> max_pool1d_backward(np.ones((1, 2)), x, 2, 1)
    array([[0., 2., 0.]])
    """
    return _backward(grad_output, input, 1, "max_pool1d_backward", kernel_size, stride, padding,
                     dilation, ceil_mode)


def max_pool2d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Gradient of :func:`max_pool2d` with respect to ``input``; see :func:`max_pool1d_backward`.

    >>> x = np.array([[[1.0, 4.0], [4.0, 2.0]]])
    >>> max_pool2d_backward(np.ones((1, 1, 1)), x, 2)
    array([[[0., 1.],
            [0., 0.]]])
    """
    return _backward(grad_output, input, 2, "max_pool2d_backward", kernel_size, stride, padding,
                     dilation, ceil_mode)


def max_pool3d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Gradient of :func:`max_pool3d` with respect to ``input``; see :func:`max_pool1d_backward`.
    """
    return _backward(grad_output, input, 3, "max_pool3d_backward", kernel_size, stride, padding,
                     dilation, ceil_mode)


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
    ``(C, H_out, W_out)`` out, sizes from :func:`~pooling_course.functional.pool_output_shape`.

    Rules: padding is never a candidate (it acts as minus infinity); on ties the first
    element in row-major order wins; a NaN wins over every number, and a later NaN over an
    earlier one. ``indices`` are flat positions ``h * W + w`` within each ``(H, W)`` plane.
    """
    planes, (out_h, out_w), (k, s, p, d) = loop_planes2d(input, kernel_size, stride, padding,
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
                first_h = first_inside(i, 0, k, s, p, d)
                first_w = first_inside(j, 1, k, s, p, d)
                best, best_at = start_value, first_h * width + first_w
                for h, w in window_cells(i, j, k, s, p, d, height, width):
                    value = plane[h, w]
                    if value > best or np.isnan(value):
                        best, best_at = value, h * width + w
                out[c, i, j], idx[c, i, j] = best, best_at
    out, idx = out.reshape(input.shape[:-2] + out.shape[-2:]), idx.reshape(
        input.shape[:-2] + out.shape[-2:])
    return (out, idx) if return_indices else out


def max_pool2d_backward_loop(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Loop reference of :func:`max_pool2d_backward`: route each gradient to its argmax.

    >>> x = np.array([[[1.0, 4.0], [4.0, 2.0]]])
    >>> max_pool2d_backward_loop(np.ones((1, 1, 1)), x, 2)
    array([[[0., 1.],
            [0., 0.]]])
    """
    _, (out_h, out_w), (k, s, p, d) = loop_planes2d(input, kernel_size, stride, padding, dilation,
                                                    ceil_mode)
    _, indices = max_pool2d_loop(input, kernel_size, stride, padding, dilation, ceil_mode,
                                 return_indices=True)
    height, width = input.shape[-2:]
    grad_planes = np.asarray(grad_output).reshape(indices.size // (out_h * out_w), out_h, out_w)
    index_planes = indices.reshape(grad_planes.shape)
    grad_input = np.zeros((grad_planes.shape[0], height * width), dtype=input.dtype)
    for c in range(grad_planes.shape[0]):
        for i in range(out_h):
            for j in range(out_w):
                if window_cells(i, j, k, s, p, d, height, width):  # else: no element to feed
                    grad_input[c, index_planes[c, i, j]] += grad_planes[c, i, j]
    return grad_input.reshape(input.shape)
