"""Adaptive max and average pooling in 1d, 2d and 3d, equal to ``torch.nn.functional``.

You give the output size; the windows follow. Along an axis of length ``L`` pooled to ``O``
cells, cell ``i`` covers ``[floor(i * L / O), ceil((i + 1) * L / O))``: windows of one or two
lengths that tile the axis, overlap when ``L / O`` is not an integer, and repeat input cells
when ``O > L``.

Torch's rules, all reproduced here:

* ``output_size`` is an int or a tuple with one entry per axis; a ``None`` entry keeps that
  axis's input size (2d and 3d only); 0 gives an empty output; negative sizes are refused.
* Max: ties go to the first element, NaN to the last NaN, as in :mod:`.max_pool`.
* Average: the window's sum in row-major order (float16 summed in float32 in 1d/2d but in
  float16 in 3d) divided by each axis's window length in turn
  (``sum / kh / kw``, not ``sum / (kh * kw)``: the last bit can differ). When every output
  size is 1, torch computes ``mean`` instead, whose summation order is not a
  simple loop, so that case can differ from torch in the last bit.
* Only floating inputs; average pooling, unlike every other pool, accepts ``C = 0``, and in
  1d/2d returns an empty result of any dtype when the output is empty (unless every output
  size is 1: torch's ``mean`` path refuses integers even then).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._args import _is_int
from ._core import (
    FLOATS,
    as_planes,
    axis_grid,
    check_dtype,
    check_grad_output,
    flat_index,
    restore,
    scatter_add,
)

__all__ = [
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d_backward", "adaptive_max_pool2d_backward",
    "adaptive_max_pool3d_backward", "adaptive_avg_pool1d_backward",
    "adaptive_avg_pool2d_backward", "adaptive_avg_pool3d_backward",
    "adaptive_max_pool2d_loop", "adaptive_avg_pool2d_loop", "adaptive_bounds",
]

OutputSize = int | None | Sequence[int | None]


def adaptive_bounds(input_size: int, output_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of every adaptive window along one axis.

    >>> adaptive_bounds(5, 3)
    (array([0, 1, 3]), array([2, 4, 5]))
    """
    i = np.arange(output_size)
    return i * input_size // output_size, -(-(i + 1) * input_size // output_size)


def _output_shape(output_size: OutputSize, spatial: tuple[int, ...], op: str) -> tuple[int, ...]:
    ndim = len(spatial)
    if _is_int(output_size):
        sizes = (int(output_size),) * ndim
    elif (ndim == 1 and isinstance(output_size, Sequence) and not isinstance(output_size, str)
          and all(_is_int(v) for v in output_size)):
        # torch's 1d versions take a one-int tuple or list too (but not None in it).
        if len(output_size) != 1:
            raise ValueError(f"{op}: output_size must have 1 entry, got {output_size!r}")
        sizes = (int(output_size[0]),)
    elif (ndim > 1 and isinstance(output_size, Sequence) and not isinstance(output_size, str)
          and all(v is None or _is_int(v) for v in output_size)):
        if len(output_size) != ndim:
            raise ValueError(f"{op}: output_size must have {ndim} entries, got {output_size!r}")
        sizes = tuple(n if v is None else int(v) for v, n in zip(output_size, spatial,
                                                                 strict=True))
    else:
        allowed = ("an int or a tuple of one int" if ndim == 1
                   else f"an int or a tuple of {ndim} ints or None")
        raise TypeError(f"{op}: output_size must be {allowed}, got {output_size!r}")
    if any(v < 0 for v in sizes):
        raise ValueError(f"{op}: output_size must be non-negative, got {sizes}")
    return sizes


def _gather(planes: np.ndarray, out_shape: tuple[int, ...]) -> tuple:
    """Windows as ``(B, *out, *kmax)`` by fancy indexing, with a mask of the real cells.

    Adaptive windows differ in length, so no single stride describes them; each axis is
    padded to its longest window and the mask says which positions are real.
    """
    ndim = len(out_shape)
    index, mask, starts = [np.arange(planes.shape[0]).reshape(-1, *[1] * (2 * ndim))], True, []
    for axis, (n, o) in enumerate(zip(planes.shape[1:], out_shape, strict=True)):
        start, end = adaptive_bounds(n, o)
        kmax = int((end - start).max())
        offsets = np.arange(kmax)
        shape = [1] * (2 * ndim)
        shape[axis], shape[ndim + axis] = o, kmax
        cells = (start[:, None] + offsets).reshape(o, kmax)
        index.append(np.minimum(cells, n - 1).reshape(shape))
        mask = mask & (cells < end[:, None]).reshape(shape)
        starts.append(start)
    return planes[tuple(index)], np.asarray(mask)[None], starts


def _adaptive_max(input: np.ndarray, ndim: int, op: str, output_size: OutputSize) -> tuple:
    planes, lead = as_planes(input, ndim, op, FLOATS)
    out_shape = _output_shape(output_size, planes.shape[1:], op)
    if 0 in out_shape:
        empty = np.empty((planes.shape[0], *out_shape))
        return empty.astype(planes.dtype), empty.astype(np.int64), lead
    windows, mask, starts = _gather(planes, out_shape)
    windows = np.where(mask, windows, planes.dtype.type(-np.inf))
    kmax = windows.shape[ndim + 1:]
    flat = windows.reshape(*windows.shape[:ndim + 1], int(np.prod(kmax)))
    nan = np.isnan(flat)
    pos = np.where(nan.any(axis=-1), flat.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1),
                   np.argmax(flat, axis=-1))
    values = np.take_along_axis(flat, pos[..., None], axis=-1)[..., 0]
    # Every window's first cell is real and comes first in row-major order, so a masked
    # cell never wins a tie: the offsets below always name a real cell.
    offsets = np.unravel_index(pos, kmax)
    coords = [axis_grid(starts[a], a, ndim) + offsets[a] for a in range(ndim)]
    return values, flat_index(coords, planes.shape[1:]), lead


def _adaptive_avg(input: np.ndarray, ndim: int, op: str, output_size: OutputSize) -> tuple:
    planes, lead = as_planes(input, ndim, op, None, empty_channels=True)
    out_shape = _output_shape(output_size, planes.shape[1:], op)
    mean_path = all(o == 1 for o in out_shape)
    if ndim < 3 and not mean_path and (0 in out_shape or planes.shape[0] == 0):
        # torch's 1d/2d version returns an empty result before it looks at the dtype.
        return np.zeros((planes.shape[0], *out_shape), planes.dtype), lead, out_shape
    check_dtype(planes.dtype, op, FLOATS)
    if 0 in out_shape or planes.shape[0] == 0:
        return np.zeros((planes.shape[0], *out_shape), planes.dtype), lead, out_shape
    # torch's 1d/2d kernel sums float16 in float32; its 3d kernel sums in float16 itself.
    acc = np.float32 if planes.dtype == np.float16 and ndim < 3 else planes.dtype.type
    windows, mask, _ = _gather(planes.astype(acc, copy=False), out_shape)
    windows = np.where(mask, windows, acc(0))
    total = np.zeros(windows.shape[:ndim + 1], dtype=acc)
    with np.errstate(invalid="ignore", over="ignore"):
        for offset in np.ndindex(*windows.shape[ndim + 1:]):
            total += windows[(Ellipsis, *offset)]
        for axis, (n, o) in enumerate(zip(planes.shape[1:], out_shape, strict=True)):
            start, end = adaptive_bounds(n, o)
            total = total / axis_grid(end - start, axis, ndim).astype(acc)
    return total.astype(planes.dtype, copy=False), lead, out_shape


def adaptive_max_pool1d(
    input: np.ndarray, output_size: int | Sequence[int], return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """1d adaptive max pooling, equal to ``torch.nn.functional.adaptive_max_pool1d``.

    Args:
        input: ``(N, C, L)`` or ``(C, L)``, float16/32/64.
        output_size: ``L_out``, a non-negative int (or a tuple or list of one int).
        return_indices: also return the int64 position of each maximum within its row.

    Shape: ``(N, C, L_out)`` or ``(C, L_out)``. Windows: see the module docstring.

    >>> x = np.array([[1.0, 5.0, 2.0, 4.0, 3.0]])
    >>> adaptive_max_pool1d(x, 3, return_indices=True)
    (array([[5., 5., 4.]]), array([[1, 1, 3]]))
    """
    values, indices, lead = _adaptive_max(input, 1, "adaptive_max_pool1d", output_size)
    out = restore(values, lead)
    return (out, restore(indices, lead)) if return_indices else out


def adaptive_max_pool2d(
    input: np.ndarray, output_size: OutputSize, return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """2d adaptive max pooling, equal to ``torch.nn.functional.adaptive_max_pool2d``.

    ``output_size`` is an int or ``(H_out, W_out)``, where ``None`` keeps the input size.
    Indices are ``h * W + w``.

    >>> adaptive_max_pool2d(np.arange(12.0).reshape(1, 3, 4), (2, None))
    array([[[ 4.,  5.,  6.,  7.],
            [ 8.,  9., 10., 11.]]])
    """
    values, indices, lead = _adaptive_max(input, 2, "adaptive_max_pool2d", output_size)
    out = restore(values, lead)
    return (out, restore(indices, lead)) if return_indices else out


def adaptive_max_pool3d(
    input: np.ndarray, output_size: OutputSize, return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """3d adaptive max pooling, equal to ``torch.nn.functional.adaptive_max_pool3d``.

    >>> adaptive_max_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 1)
    array([[[[7.]]]])
    """
    values, indices, lead = _adaptive_max(input, 3, "adaptive_max_pool3d", output_size)
    out = restore(values, lead)
    return (out, restore(indices, lead)) if return_indices else out


def adaptive_avg_pool1d(input: np.ndarray, output_size: int | Sequence[int]) -> np.ndarray:
    """1d adaptive average pooling, equal to ``torch.nn.functional.adaptive_avg_pool1d``.

    >>> adaptive_avg_pool1d(np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]), 3)
    array([[1.5, 3. , 4.5]])
    """
    out, lead, _ = _adaptive_avg(input, 1, "adaptive_avg_pool1d", output_size)
    return restore(out, lead)


def adaptive_avg_pool2d(input: np.ndarray, output_size: OutputSize) -> np.ndarray:
    """2d adaptive average pooling, equal to ``torch.nn.functional.adaptive_avg_pool2d``.

    >>> adaptive_avg_pool2d(np.arange(16.0).reshape(1, 4, 4), 2)
    array([[[ 2.5,  4.5],
            [10.5, 12.5]]])
    """
    out, lead, _ = _adaptive_avg(input, 2, "adaptive_avg_pool2d", output_size)
    return restore(out, lead)


def adaptive_avg_pool3d(input: np.ndarray, output_size: OutputSize) -> np.ndarray:
    """3d adaptive average pooling, equal to ``torch.nn.functional.adaptive_avg_pool3d``.

    >>> adaptive_avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 1)
    array([[[[3.5]]]])
    """
    out, lead, _ = _adaptive_avg(input, 3, "adaptive_avg_pool3d", output_size)
    return restore(out, lead)


def _check_backward_grad(grad_output: np.ndarray, shape: tuple[int, ...], op: str) -> np.ndarray:
    grad = check_grad_output(grad_output, shape, op)
    if 0 in grad.shape[1:]:
        # torch's adaptive backward kernels refuse these (its dim 0 is C when unbatched).
        raise ValueError(f"{op}: output_size and channels must be positive for the backward "
                         f"pass, got grad_output of shape {grad.shape}")
    return grad


def _max_backward(grad_output: np.ndarray, input: np.ndarray, ndim: int, op: str,
                  output_size: OutputSize) -> np.ndarray:
    values, indices, lead = _adaptive_max(input, ndim, op, output_size)
    grad = _check_backward_grad(grad_output, restore(values, lead).shape, op)
    planes = np.zeros((values.shape[0], int(np.prod(input.shape[-ndim:]))), dtype=input.dtype)
    scatter_add(planes, indices, grad.astype(input.dtype, copy=False).reshape(values.shape))
    return planes.reshape(input.shape)


def _avg_backward(grad_output: np.ndarray, input: np.ndarray, ndim: int, op: str,
                  output_size: OutputSize) -> np.ndarray:
    check_dtype(np.asarray(input).dtype, op, FLOATS)
    out, lead, out_shape = _adaptive_avg(input, ndim, op, output_size)
    grad = _check_backward_grad(grad_output, restore(out, lead).shape, op)
    dtype, spatial = input.dtype, input.shape[-ndim:]
    grad = grad.astype(dtype, copy=False).reshape(out.shape)
    if all(o == 1 for o in out_shape):
        # torch computes this case as mean(), whose backward divides once by the plane size.
        share = grad / dtype.type(np.prod(spatial))
        return np.broadcast_to(share.reshape(-1, *(1,) * ndim),
                               (out.shape[0], *spatial)).reshape(input.shape).copy()
    planes = np.zeros((out.shape[0], int(np.prod(spatial))), dtype=dtype)
    if out.size == 0:
        return planes.reshape(input.shape)
    index_planes = np.arange(planes.size).reshape(out.shape[0], *spatial)
    windows, mask, _ = _gather(index_planes, out_shape)
    share = grad
    for axis, (n, o) in enumerate(zip(spatial, out_shape, strict=True)):
        start, end = adaptive_bounds(n, o)
        share = share / axis_grid(end - start, axis, ndim).astype(dtype)
    share = np.broadcast_to(share.reshape(*share.shape, *(1,) * ndim), windows.shape)
    real = np.broadcast_to(mask, windows.shape)
    # Boolean selection keeps row-major order: window by window, as torch's loop adds.
    flat = planes.reshape(-1)
    np.add.at(flat, windows[real], share[real])
    return planes.reshape(input.shape)


def adaptive_max_pool1d_backward(grad_output: np.ndarray, input: np.ndarray,
                                 output_size: int | Sequence[int]) -> np.ndarray:
    """Gradient of :func:`adaptive_max_pool1d`: each gradient goes to its window's argmax.

    >>> x = np.array([[1.0, 5.0, 2.0, 4.0, 3.0]])
    >>> adaptive_max_pool1d_backward(np.ones((1, 3)), x, 3)
    array([[0., 2., 0., 1., 0.]])
    """
    return _max_backward(grad_output, input, 1, "adaptive_max_pool1d_backward", output_size)


def adaptive_max_pool2d_backward(grad_output: np.ndarray, input: np.ndarray,
                                 output_size: OutputSize) -> np.ndarray:
    """Gradient of :func:`adaptive_max_pool2d`; see :func:`adaptive_max_pool1d_backward`."""
    return _max_backward(grad_output, input, 2, "adaptive_max_pool2d_backward", output_size)


def adaptive_max_pool3d_backward(grad_output: np.ndarray, input: np.ndarray,
                                 output_size: OutputSize) -> np.ndarray:
    """Gradient of :func:`adaptive_max_pool3d`; see :func:`adaptive_max_pool1d_backward`."""
    return _max_backward(grad_output, input, 3, "adaptive_max_pool3d_backward", output_size)


def adaptive_avg_pool1d_backward(grad_output: np.ndarray, input: np.ndarray,
                                 output_size: int | Sequence[int]) -> np.ndarray:
    """Gradient of :func:`adaptive_avg_pool1d`: each window shares its gradient equally.

    >>> adaptive_avg_pool1d_backward(np.ones((1, 2)), np.zeros((1, 3)), 2)
    array([[0.5, 1. , 0.5]])
    """
    return _avg_backward(grad_output, input, 1, "adaptive_avg_pool1d_backward", output_size)


def adaptive_avg_pool2d_backward(grad_output: np.ndarray, input: np.ndarray,
                                 output_size: OutputSize) -> np.ndarray:
    """Gradient of :func:`adaptive_avg_pool2d`; see :func:`adaptive_avg_pool1d_backward`."""
    return _avg_backward(grad_output, input, 2, "adaptive_avg_pool2d_backward", output_size)


def adaptive_avg_pool3d_backward(grad_output: np.ndarray, input: np.ndarray,
                                 output_size: OutputSize) -> np.ndarray:
    """Gradient of :func:`adaptive_avg_pool3d`; see :func:`adaptive_avg_pool1d_backward`."""
    return _avg_backward(grad_output, input, 3, "adaptive_avg_pool3d_backward", output_size)


def adaptive_max_pool2d_loop(
    input: np.ndarray, output_size: OutputSize, return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Loop reference of :func:`adaptive_max_pool2d`.

    >>> adaptive_max_pool2d_loop(np.arange(12.0).reshape(1, 3, 4), 1)
    array([[[11.]]])
    """
    planes, lead = as_planes(input, 2, "adaptive_max_pool2d_loop", FLOATS)
    height, width = planes.shape[1:]
    out_h, out_w = _output_shape(output_size, (height, width), "adaptive_max_pool2d_loop")
    out = np.empty((planes.shape[0], out_h, out_w), dtype=planes.dtype)
    idx = np.empty(out.shape, dtype=np.int64)
    for c, plane in enumerate(planes):
        for i in range(out_h):
            h0, h1 = i * height // out_h, -(-(i + 1) * height // out_h)
            for j in range(out_w):
                w0, w1 = j * width // out_w, -(-(j + 1) * width // out_w)
                best, best_at = planes.dtype.type(-np.inf), h0 * width + w0
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        if plane[h, w] > best or np.isnan(plane[h, w]):
                            best, best_at = plane[h, w], h * width + w
                out[c, i, j], idx[c, i, j] = best, best_at
    return (restore(out, lead), restore(idx, lead)) if return_indices else restore(out, lead)


def adaptive_avg_pool2d_loop(input: np.ndarray, output_size: OutputSize) -> np.ndarray:
    """Loop reference of :func:`adaptive_avg_pool2d` (float32 sums for float16, as torch).

    >>> adaptive_avg_pool2d_loop(np.arange(16.0).reshape(1, 4, 4), 2)
    array([[[ 2.5,  4.5],
            [10.5, 12.5]]])
    """
    planes, lead = as_planes(input, 2, "adaptive_avg_pool2d_loop", FLOATS, empty_channels=True)
    height, width = planes.shape[1:]
    out_h, out_w = _output_shape(output_size, (height, width), "adaptive_avg_pool2d_loop")
    acc = np.float32 if planes.dtype == np.float16 else planes.dtype.type
    out = np.empty((planes.shape[0], out_h, out_w), dtype=planes.dtype)
    for c, plane in enumerate(planes):
        for i in range(out_h):
            h0, h1 = i * height // out_h, -(-(i + 1) * height // out_h)
            for j in range(out_w):
                w0, w1 = j * width // out_w, -(-(j + 1) * width // out_w)
                total = acc(0)
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        total = acc(total + acc(plane[h, w]))
                out[c, i, j] = total / acc(h1 - h0) / acc(w1 - w0)
    return restore(out, lead)
