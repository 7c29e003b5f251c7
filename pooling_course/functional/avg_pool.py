"""Average pooling in 1d, 2d and 3d, forward and backward, equal to ``torch.nn.functional``.

The loop reference of the forward pass is :func:`avg_pool2d_loop`;
:func:`avg_pool2d_backward_loop` is its backward.

Torch's rules, all reproduced here:

* The sum runs over the window's real elements only, in row-major order, accumulated in the
  input's dtype (float32 for float16 input), from +0.0; the result is ``0 + sum / divisor``
  (torch adds the quotient to an output it set to zero, so a quotient of -0.0 comes out
  +0.0).
* The divisor is ``divisor_override`` when given (any non-zero int, even negative); else with
  ``count_include_pad=True`` the window's size *clipped to the padded input*, so a ``ceil_mode``
  window that runs past the right padding divides only by its part inside it; else
  (``count_include_pad=False``) the number of real elements.
* Integer (int64) input divides with truncation toward zero, like C++: ``-7 / 2 == -3``.
* ``avg_pool3d`` also requires every input side to be at least the kernel size (padding not
  counted), a check torch's 1d and 2d versions do not make; it does not take float16.
* Backward gives every real element of a window ``grad_output / divisor``; an element in
  several windows sums their shares in window order.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from ._avg_kernels import offset_regions, window_sums
from ._core import (
    IntOrTuple,
    as_planes,
    axis_grid,
    check_dtype,
    check_grad_output,
    loop_planes2d,
    pool_output_shape,
    restore,
    window_cells,
    window_params,
)
from ._kernels import blocks

__all__ = [
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "avg_pool1d_backward", "avg_pool2d_backward", "avg_pool3d_backward",
    "avg_pool2d_loop", "avg_pool2d_backward_loop",
]

_DTYPES = (np.float16, np.float32, np.float64, np.int64)
_DTYPES_3D = (np.float32, np.float64, np.int64)


def _geometry(
    input: np.ndarray, ndim: int, op: str, kernel_size: IntOrTuple, stride: IntOrTuple | None,
    padding: IntOrTuple, ceil_mode: bool, count_include_pad: bool,
    divisor_override: int | None,
) -> tuple:
    """Check everything and return planes, lead shape, (k, s, p), output shape, divisors."""
    planes, lead = as_planes(input, ndim, op, _DTYPES_3D if ndim == 3 else _DTYPES)
    k, s, p, _ = window_params(ndim, kernel_size, stride, padding, 1)
    if divisor_override is not None:
        if not isinstance(divisor_override, numbers.Integral) or isinstance(
                divisor_override, bool | np.bool_):
            raise TypeError(f"{op}: divisor_override must be an int or None, got "
                            f"{divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be non-zero, got 0")
    spatial = planes.shape[1:]
    out_shape = pool_output_shape(spatial, k, s, p, 1, ceil_mode)
    if ndim == 3 and any(n < ki for n, ki in zip(spatial, k, strict=True)):
        raise ValueError(f"{op}: every input side must be at least kernel_size (torch's "
                         f"avg_pool3d rule), got input size {spatial}, kernel_size={k}")
    divisor = _divisors(spatial, k, s, p, out_shape, count_include_pad, divisor_override)
    return planes, lead, (k, s, p), out_shape, divisor


@functools.lru_cache(maxsize=64)
def _divisors(
    spatial: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...], p: tuple[int, ...],
    out_shape: tuple[int, ...], count_include_pad: bool, divisor_override: int | None,
) -> np.ndarray:
    """Divisor of each window, shape broadcastable to ``(B, *out_shape)``: read-only,
    computed once per geometry (it costs as much as pooling a small input)."""
    ndim = len(spatial)
    if divisor_override is not None:
        divisor = np.full((1,) * (ndim + 1), divisor_override, dtype=np.int64)
        divisor.flags.writeable = False
        return divisor
    divisor = np.ones((1,) * (ndim + 1), dtype=np.int64)
    for axis, (n, ki, si, pi, o) in enumerate(zip(spatial, k, s, p, out_shape, strict=True)):
        start = np.arange(o) * si - pi
        if count_include_pad:
            size = np.minimum(start + ki, n + pi) - start
        else:
            size = np.minimum(start + ki, n) - np.maximum(start, 0)
        divisor = divisor * axis_grid(size, axis, ndim)
    divisor.flags.writeable = False
    return divisor


def _divide(total: np.ndarray, divisor: np.ndarray) -> np.ndarray:
    if np.issubdtype(total.dtype, np.integer):
        # C++ integer division truncates toward zero; numpy's // floors.
        quotient = np.abs(total) // np.abs(divisor)
        return np.where((total < 0) != (divisor < 0), -quotient, quotient)
    return total / divisor.astype(total.dtype)


def _accumulator(dtype: np.dtype) -> np.dtype:
    # torch sums float16 in float32 (its "opmath" type) and rounds once at the end.
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def _avg_pool(input: np.ndarray, ndim: int, op: str, kernel_size: IntOrTuple,
              stride: IntOrTuple | None, padding: IntOrTuple, ceil_mode: bool,
              count_include_pad: bool, divisor_override: int | None) -> np.ndarray:
    """Blocks of planes; for each kernel offset in row-major order one ``+=`` of the input
    elements at that offset into the windows' running sums. Every window's sum is then
    accumulated in exactly torch's order, so float results agree to the last bit."""
    planes, lead, (k, s, p), out_shape, divisor = _geometry(
        input, ndim, op, kernel_size, stride, padding, ceil_mode, count_include_pad,
        divisor_override)
    acc = _accumulator(planes.dtype)
    out = np.empty((planes.shape[0], *out_shape), dtype=planes.dtype)
    if acc.kind == "f":
        divisor = divisor.astype(acc)
        if (divisor == divisor.flat[0]).all():  # the common case: a scalar divides faster
            divisor = divisor.flat[0]
    sums = window_sums(planes, k, s, p, out_shape, acc)
    for block, total in sums:
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in torch
            if acc == out.dtype and acc.kind == "f":
                np.divide(total, divisor, out=out[block])
            else:
                out[block] = _divide(total, divisor)
            if out.dtype.kind == "f":  # torch adds the quotient to a zeroed output: -0 is +0
                np.add(out[block], out.dtype.type(0), out=out[block])
    return restore(out, lead)


def _avg_pool_backward(grad_output: np.ndarray, input: np.ndarray, ndim: int, op: str,
                       kernel_size: IntOrTuple, stride: IntOrTuple | None, padding: IntOrTuple,
                       ceil_mode: bool, count_include_pad: bool,
                       divisor_override: int | None) -> np.ndarray:
    """Each window's ``grad_output / divisor`` added to its real elements: one strided ``+=``
    per kernel offset, offsets in reverse row-major order, so that each input element
    receives its windows' shares in increasing window order, as torch's loop adds them."""
    planes, lead, (k, s, p), out_shape, divisor = _geometry(
        input, ndim, op, kernel_size, stride, padding, ceil_mode, count_include_pad,
        divisor_override)
    check_dtype(planes.dtype, op, (np.float16, np.float32, np.float64))
    grad = check_grad_output(grad_output, (*lead, *out_shape), op)
    grad = grad.astype(planes.dtype, copy=False).reshape(planes.shape[0], *out_shape)
    divisor = divisor.astype(planes.dtype)
    result = np.zeros(planes.shape, dtype=planes.dtype)
    regions = offset_regions(planes.shape[1:], k, s, p, out_shape)[::-1]
    for block in blocks(planes.shape[0], int(np.prod(planes.shape[1:]))):
        delta = grad[block] / divisor
        target = result[block]
        with np.errstate(invalid="ignore", over="ignore"):
            for write, read in regions:
                view = target[read]
                np.add(view, delta[write], out=view)
    return result.reshape(input.shape)


def avg_pool1d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """1d average pooling, equal to ``torch.nn.functional.avg_pool1d`` (which, unlike the 2d
    and 3d versions, has no ``divisor_override``).

    Args:
        input: ``(N, C, L)`` or ``(C, L)``; float16/32/64 or int64.
        kernel_size: window length ``k``, at least 1.
        stride: step between windows. Default: ``kernel_size``.
        padding: implicit zero padding on both sides, ``0 <= padding <= k // 2``.
        ceil_mode: round the output length up.
        count_include_pad: count padding in the divisor.

    Shape:
        ``(N, C, L_out)`` or ``(C, L_out)``, ``L_out`` from
        :func:`~pooling_course.functional.pool_output_size`.

    Rules (divisors, integer division): see the module docstring.

    >>> avg_pool1d(np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]), 2, ceil_mode=True)
    array([[1.5, 3.5, 5. ]])
    >>> avg_pool1d(np.array([[2.0, 4.0]]), 2, padding=1,
    ...            count_include_pad=False)
    array([[2., 4.]])
    """
    return _avg_pool(input, 1, "avg_pool1d", kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """2d average pooling, equal to ``torch.nn.functional.avg_pool2d``.

    Args:
        input: ``(N, C, H, W)`` or ``(C, H, W)``; float16/32/64 or int64.
        kernel_size: an int or ``(kH, kW)``, each at least 1.
        stride: step between windows. Default: ``kernel_size``.
        padding: implicit zero padding, at most half the kernel size on each axis.
        ceil_mode: round output sizes up.
        count_include_pad: count padding in the divisor.
        divisor_override: divide every window's sum by this non-zero int instead.

    Shape:
        ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, sizes from
        :func:`~pooling_course.functional.pool_output_shape`.

    >>> x = np.arange(16.0).reshape(1, 4, 4)
    >>> avg_pool2d(x, 2)
    array([[[ 2.5,  4.5],
            [10.5, 12.5]]])
    >>> avg_pool2d(x, 2, divisor_override=1)
    array([[[10., 18.],
            [42., 50.]]])
    """
    return _avg_pool(input, 2, "avg_pool2d", kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """3d average pooling, equal to ``torch.nn.functional.avg_pool3d``.

    As :func:`avg_pool2d` with ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input of dtype
    float32/64 or int64, and one rule more: each input side must be at least its kernel size.

    >>> avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 2)
    array([[[[3.5]]]])
    """
    return _avg_pool(input, 3, "avg_pool3d", kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool1d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Gradient of :func:`avg_pool1d` with respect to ``input``.

    Every real element of a window receives ``grad_output / divisor``.

    >>> avg_pool1d_backward(np.ones((1, 2)), np.zeros((1, 3)), 2, 1)
    array([[0.5, 1. , 0.5]])
    """
    return _avg_pool_backward(grad_output, input, 1, "avg_pool1d_backward", kernel_size, stride,
                              padding, ceil_mode, count_include_pad, None)


def avg_pool2d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Gradient of :func:`avg_pool2d` with respect to ``input``; see :func:`avg_pool1d_backward`.

    >>> avg_pool2d_backward(np.ones((1, 1, 1)), np.zeros((1, 2, 2)), 2)
    array([[[0.25, 0.25],
            [0.25, 0.25]]])
    """
    return _avg_pool_backward(grad_output, input, 2, "avg_pool2d_backward", kernel_size, stride,
                              padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Gradient of :func:`avg_pool3d` with respect to ``input``; see :func:`avg_pool1d_backward`.
    """
    return _avg_pool_backward(grad_output, input, 3, "avg_pool3d_backward", kernel_size, stride,
                              padding, ceil_mode, count_include_pad, divisor_override)


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

    Shape: as :func:`~pooling_course.functional.max_pool.max_pool2d_loop`.

    The sum runs over the real elements of the window; the divisor is
    ``divisor_override`` if given, else with ``count_include_pad=True`` the window's area
    clipped to the padded input (so a ceil_mode window that runs past the padding counts only
    its part inside it), else the number of real elements.
    """
    if divisor_override is not None and (isinstance(divisor_override, bool)
                                         or int(divisor_override) != divisor_override
                                         or divisor_override == 0):
        raise ValueError(f"divisor_override must be a non-zero int, got {divisor_override!r}")
    planes, (out_h, out_w), (k, s, p, d) = loop_planes2d(input, kernel_size, stride, padding, 1,
                                                    ceil_mode)
    height, width = planes.shape[-2:]
    # Torch sums float16 in float32 and rounds once, at the end.
    acc = np.dtype(np.float32) if planes.dtype == np.float16 else planes.dtype
    out = np.empty((planes.shape[0], out_h, out_w), dtype=planes.dtype)
    for c, plane in enumerate(planes):
        for i in range(out_h):
            for j in range(out_w):
                cells = list(window_cells(i, j, k, s, p, d, height, width))
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
    out += 0  # torch adds each quotient to an output it set to zero: -0.0 becomes +0.0
    return out.reshape(input.shape[:-2] + out.shape[-2:])


def avg_pool2d_backward_loop(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Loop reference of :func:`avg_pool2d_backward`: share each gradient over its window.

    >>> avg_pool2d_backward_loop(np.ones((1, 1, 1)), np.zeros((1, 2, 2)), 2)
    array([[[0.25, 0.25],
            [0.25, 0.25]]])
    """
    planes, lead, (k, s, p), (out_h, out_w), divisor = _geometry(
        input, 2, "avg_pool2d_backward_loop", kernel_size, stride, padding, ceil_mode,
        count_include_pad, divisor_override)
    height, width = planes.shape[1:]
    grads = np.asarray(grad_output).reshape(planes.shape[0], out_h, out_w)
    divisor = np.broadcast_to(divisor, (1, out_h, out_w))[0]
    grad_input = np.zeros(planes.shape, dtype=planes.dtype)
    for c in range(planes.shape[0]):
        for i in range(out_h):
            for j in range(out_w):
                share = grads[c, i, j].astype(planes.dtype) / planes.dtype.type(divisor[i, j])
                for h in range(max(i * s[0] - p[0], 0), min(i * s[0] - p[0] + k[0], height)):
                    for w in range(max(j * s[1] - p[1], 0), min(j * s[1] - p[1] + k[1], width)):
                        grad_input[c, h, w] += share
    return grad_input.reshape(input.shape)
