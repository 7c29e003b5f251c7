"""Max unpooling in 1d, 2d and 3d, equal to ``torch.nn.functional.max_unpool*``.

Unpooling puts every input value back at the position its index names, in a zero output:
a partial inverse of max pooling with ``return_indices=True``.

Torch's rules, all reproduced here:

* Default output size per axis: ``(L_in - 1) * stride - 2 * padding + kernel_size``.
* An explicit ``output_size`` is a sequence of ``ndim`` sizes, or ``ndim + 2`` (then the
  first two, batch and channels, are ignored); each must lie strictly between
  ``default - stride`` and ``default + stride``. A bare int is refused, as torch does.
* Sizes must come out non-negative. Torch does not otherwise check ``kernel_size``,
  ``stride`` or ``padding`` here (``stride=0`` is accepted in 1d/2d), except that 3d needs
  ``stride > 0``.
* Float inputs only (any dtype when the result is empty).
* ``indices`` must be int64, shaped like ``input``, each in ``[0, prod(output_size))``.
* Two inputs with the same index: here the later one (row-major) wins; in torch the winner
  is not defined (its CPU kernel writes in parallel, and runs differ).
* Backward: each input element receives ``grad_output`` at its index (duplicates included,
  even the overwritten ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._args import _is_int, ntuple
from ._core import FLOATS, IntOrTuple, as_planes, check_dtype, check_grad_output, restore

__all__ = ["max_unpool1d", "max_unpool2d", "max_unpool3d", "max_unpool1d_backward",
           "max_unpool2d_backward", "max_unpool3d_backward", "max_unpool2d_loop"]


def _geometry(input: np.ndarray, indices: np.ndarray, ndim: int, op: str,
              kernel_size: IntOrTuple, stride: IntOrTuple | None, padding: IntOrTuple,
              output_size: Sequence[int] | None) -> tuple:
    planes, lead = as_planes(input, ndim, op, None)
    if not isinstance(indices, np.ndarray) or indices.dtype != np.int64:
        raise TypeError(f"{op}: indices must be an int64 numpy.ndarray, got "
                        f"{getattr(indices, 'dtype', type(indices).__name__)}")
    if indices.shape != input.shape:
        raise ValueError(f"{op}: indices must have the input's shape {input.shape}, got "
                         f"{indices.shape}")
    k = ntuple(kernel_size, ndim, "kernel_size")
    s = k if stride is None else ntuple(stride, ndim, "stride")
    p = ntuple(padding, ndim, "padding")
    if ndim == 3 and any(v <= 0 for v in s):
        raise ValueError(f"{op}: stride must be greater than zero, got {s}")
    spatial = planes.shape[1:]
    default = [(n - 1) * si + ki - 2 * pi for n, ki, si, pi in zip(spatial, k, s, p,
                                                                     strict=True)]
    if output_size is None:
        sizes = default
    else:
        if not isinstance(output_size, Sequence) or isinstance(output_size, str) or not all(
                _is_int(v) for v in output_size):
            raise TypeError(f"{op}: output_size must be a sequence of {ndim} or {ndim + 2} "
                            f"ints, got {output_size!r}")
        sizes = list(output_size)[-ndim:] if len(output_size) == ndim + 2 else list(
            output_size)
        if len(sizes) != ndim:
            raise ValueError(f"{op}: output_size must have {ndim} or {ndim + 2} entries, got "
                             f"{output_size!r}")
        for axis, (o, dflt, si) in enumerate(zip(sizes, default, s, strict=True)):
            if not dflt - si < o < dflt + si:
                raise ValueError(f"{op}: output_size[{axis}] must lie strictly between "
                                 f"{dflt - si} and {dflt + si}, got {o}")
    if any(o < 0 for o in sizes):
        raise ValueError(f"{op}: the output size must be non-negative, got {tuple(sizes)} "
                         f"from kernel_size={k}, stride={s}, padding={p}")
    flat_indices = indices.reshape(planes.shape[0], -1) if planes.size else indices.reshape(
        planes.shape[0], int(np.prod(spatial)))
    plane_size = int(np.prod(sizes))
    if plane_size and planes.size:
        # torch returns an empty result before it dispatches on the dtype
        check_dtype(planes.dtype, op, FLOATS)
    if flat_indices.size and plane_size and (flat_indices.min() < 0
                                             or flat_indices.max() >= plane_size):
        bad = flat_indices[(flat_indices < 0) | (flat_indices >= plane_size)][0]
        raise ValueError(f"{op}: indices must lie in [0, {plane_size}) for output size "
                         f"{tuple(sizes)}, found {bad}")
    return planes, lead, flat_indices, tuple(sizes)


def _unpool(input: np.ndarray, indices: np.ndarray, ndim: int, op: str,
            kernel_size: IntOrTuple, stride: IntOrTuple | None, padding: IntOrTuple,
            output_size: Sequence[int] | None) -> np.ndarray:
    planes, lead, flat_indices, sizes = _geometry(input, indices, ndim, op, kernel_size, stride,
                                                  padding, output_size)
    batch = planes.shape[0]
    out = np.zeros((batch, int(np.prod(sizes))), dtype=planes.dtype)
    if out.size and flat_indices.size:
        # Resolve duplicates ourselves (numpy leaves the order of repeated writes open):
        # the last occurrence in row-major order wins, as in torch's loop.
        target = (np.arange(batch)[:, None] * out.shape[1] + flat_indices).reshape(-1)
        values = planes.reshape(-1)
        _, last_from_end = np.unique(target[::-1], return_index=True)
        keep = target.size - 1 - last_from_end
        out.reshape(-1)[target[keep]] = values[keep]
    return restore(out.reshape(batch, *sizes), lead)


def max_unpool1d(input: np.ndarray, indices: np.ndarray, kernel_size: IntOrTuple,
                 stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 output_size: Sequence[int] | None = None) -> np.ndarray:
    """1d max unpooling, equal to ``torch.nn.functional.max_unpool1d``.

    Args:
        input: ``(N, C, L)`` or ``(C, L)``, float16/32/64.
        indices: int64, shaped like ``input``, e.g. from ``max_pool1d(..., return_indices=True)``.
        kernel_size, stride, padding: those of the max pool being undone.
        output_size: ``(L_out,)`` or ``(N, C, L_out)``; see the module rules.

    Shape: ``(N, C, L_out)`` or ``(C, L_out)``, ``L_out = (L - 1) * stride - 2 * padding +
    kernel_size`` unless ``output_size`` says otherwise.

    >>> max_unpool1d(np.array([[5.0, 7.0]]), np.array([[1, 2]]), 2)
    array([[0., 5., 7., 0.]])
    """
    return _unpool(input, indices, 1, "max_unpool1d", kernel_size, stride, padding,
                   output_size)


def max_unpool2d(input: np.ndarray, indices: np.ndarray, kernel_size: IntOrTuple,
                 stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 output_size: Sequence[int] | None = None) -> np.ndarray:
    """2d max unpooling, equal to ``torch.nn.functional.max_unpool2d``.

    >>> max_unpool2d(np.array([[[9.0]]]), np.array([[[3]]]), 2)
    array([[[0., 0.],
            [0., 9.]]])
    """
    return _unpool(input, indices, 2, "max_unpool2d", kernel_size, stride, padding,
                   output_size)


def max_unpool3d(input: np.ndarray, indices: np.ndarray, kernel_size: IntOrTuple,
                 stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 output_size: Sequence[int] | None = None) -> np.ndarray:
    """3d max unpooling, equal to ``torch.nn.functional.max_unpool3d``.

    >>> max_unpool3d(np.array([[[[9.0]]]]), np.array([[[[7]]]]), 2)[0, 1]
    array([[0., 0.],
           [0., 9.]])
    """
    return _unpool(input, indices, 3, "max_unpool3d", kernel_size, stride, padding,
                   output_size)


def _unpool_backward(grad_output: np.ndarray, input: np.ndarray, indices: np.ndarray,
                     ndim: int, op: str, kernel_size: IntOrTuple, stride: IntOrTuple | None,
                     padding: IntOrTuple, output_size: Sequence[int] | None) -> np.ndarray:
    planes, lead, flat_indices, sizes = _geometry(input, indices, ndim, op, kernel_size, stride,
                                                  padding, output_size)
    grad = check_grad_output(grad_output, (*lead, *sizes), op)
    # An explicit plane size: reshape(B, -1) cannot infer it when the batch B is 0.
    grad = grad.astype(planes.dtype, copy=False).reshape(planes.shape[0], int(np.prod(sizes)))
    if grad.shape[1] == 0 or grad.shape[0] == 0:
        return np.zeros(input.shape, dtype=planes.dtype)
    return np.take_along_axis(grad, flat_indices, axis=1).reshape(input.shape)


def max_unpool1d_backward(grad_output: np.ndarray, input: np.ndarray, indices: np.ndarray,
                          kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                          padding: IntOrTuple = 0,
                          output_size: Sequence[int] | None = None) -> np.ndarray:
    """Gradient of :func:`max_unpool1d` with respect to ``input``: ``grad_output`` read back
    at each index.

    >>> max_unpool1d_backward(np.array([[1.0, 2.0, 3.0, 4.0]]),
    ...                       np.zeros((1, 2)), np.array([[1, 2]]), 2)
    array([[2., 3.]])
    """
    return _unpool_backward(grad_output, input, indices, 1, "max_unpool1d_backward",
                            kernel_size, stride, padding, output_size)


def max_unpool2d_backward(grad_output: np.ndarray, input: np.ndarray, indices: np.ndarray,
                          kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                          padding: IntOrTuple = 0,
                          output_size: Sequence[int] | None = None) -> np.ndarray:
    """Gradient of :func:`max_unpool2d`; see :func:`max_unpool1d_backward`."""
    return _unpool_backward(grad_output, input, indices, 2, "max_unpool2d_backward",
                            kernel_size, stride, padding, output_size)


def max_unpool3d_backward(grad_output: np.ndarray, input: np.ndarray, indices: np.ndarray,
                          kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                          padding: IntOrTuple = 0,
                          output_size: Sequence[int] | None = None) -> np.ndarray:
    """Gradient of :func:`max_unpool3d`; see :func:`max_unpool1d_backward`."""
    return _unpool_backward(grad_output, input, indices, 3, "max_unpool3d_backward",
                            kernel_size, stride, padding, output_size)


def max_unpool2d_loop(input: np.ndarray, indices: np.ndarray, kernel_size: IntOrTuple,
                      stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                      output_size: Sequence[int] | None = None) -> np.ndarray:
    """Loop reference of :func:`max_unpool2d`: write each value at its index.

    >>> max_unpool2d_loop(np.array([[[9.0]]]), np.array([[[3]]]), 2)
    array([[[0., 0.],
            [0., 9.]]])
    """
    planes, lead, flat_indices, (out_h, out_w) = _geometry(
        input, indices, 2, "max_unpool2d_loop", kernel_size, stride, padding, output_size)
    out = np.zeros((planes.shape[0], out_h * out_w), dtype=planes.dtype)
    for c, plane in enumerate(planes.reshape(planes.shape[0], -1)):
        for value, at in zip(plane, flat_indices[c], strict=True):
            out[c, at] = value
    return restore(out.reshape(-1, out_h, out_w), lead)
