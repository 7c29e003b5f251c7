"""Fractional max pooling in 2d and 3d, equal to ``torch.nn.functional.fractional_max_pool*``.

Windows of a fixed ``kernel_size`` start at pseudo-random positions chosen so that
``output_size`` of them span the input (Graham, 2014). With ``u`` the plane's sample for an
axis, ``L`` the input length, ``O`` the output length and ``k`` the kernel size, window ``i``
starts at

.. math::

    \\alpha = \\frac{L - k}{O - 1}, \\qquad
    s_i = \\lfloor (i + u)\\,\\alpha \\rfloor - \\lfloor u\\,\\alpha \\rfloor \\; (i < O - 1),
    \\qquad s_{O-1} = L - k,

computed in the input's dtype, with C++'s truncation toward zero for the floors.

Torch's rules, all reproduced here:

* ``_random_samples`` has shape ``(N', C, ndim)`` with ``N' >= N`` (1 for unbatched input)
  and the input's dtype. In 2d sample 0 places the columns (W) and sample 1 the rows (H); in
  3d, inconsistently, samples 0, 1, 2 place D, H, W. Values are not range-checked. Without
  it, samples are drawn from NumPy's generator (not torch's stream).
* ``output_size`` wins over ``output_ratio``; otherwise ``output_size = int(L * ratio)``.
  In 2d ``output_ratio`` must be a 2-tuple (torch 2.13 refuses a bare number); in 3d a
  number or a tuple (of which the first 3 entries are used).
* Each axis needs ``output_size + kernel_size - 1 <= L`` in 2d, ``< L`` in 3d (sic).
  ``kernel_size <= 0`` is accepted and gives empty windows: value ``-inf``, index of the
  window start.
* Max rules as in :mod:`.max_pool`: first of ties, last NaN. Float inputs only (any dtype
  when the result is empty and samples are given).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .._args import ntuple
from ._core import (
    FLOATS,
    IntOrTuple,
    as_planes,
    check_dtype,
    check_grad_output,
    flat_index,
    restore,
    scatter_add,
)

__all__ = ["fractional_max_pool2d", "fractional_max_pool3d", "fractional_max_pool2d_backward",
           "fractional_max_pool3d_backward", "fractional_intervals",
           "fractional_max_pool2d_loop"]


def fractional_intervals(sample: np.ndarray, input_size: int, output_size: int,
                         kernel_size: int) -> np.ndarray:
    """Window starts along one axis for each sample, computed in the samples' dtype.

    >>> fractional_intervals(np.array([0.3, 0.9]), 12, 5, 3)
    array([[0, 2, 5, 7, 9],
           [0, 2, 4, 6, 9]])
    """
    sample = np.asarray(sample)
    dtype = sample.dtype.type
    starts = np.empty((*sample.shape, output_size), dtype=np.int64)
    if output_size > 1:
        alpha = dtype(input_size - kernel_size) / dtype(output_size - 1)
        i = np.arange(output_size - 1).astype(dtype)
        with np.errstate(all="ignore"):
            starts[..., :-1] = (((i + sample[..., None]) * alpha).astype(np.int64)
                                - (sample * alpha).astype(np.int64)[..., None])
    if output_size > 0:
        starts[..., -1] = input_size - kernel_size
    return starts


def _geometry(input: np.ndarray, ndim: int, op: str, kernel_size: IntOrTuple,
              output_size: IntOrTuple | None, output_ratio: float | Sequence[float] | None,
              samples: np.ndarray | None) -> tuple:
    planes, lead = as_planes(input, ndim, op, None)
    k = ntuple(kernel_size, ndim, "kernel_size", allow_single=False)
    spatial = planes.shape[1:]
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    if output_size is not None:
        sizes = ntuple(output_size, ndim, "output_size", allow_single=False)
    else:
        if isinstance(output_ratio, numbers.Real) and ndim == 3:
            ratios = (output_ratio,) * 3
        elif isinstance(output_ratio, Sequence) and len(output_ratio) >= ndim and (
                ndim == 3 or len(output_ratio) == 2):
            ratios = tuple(output_ratio)[:ndim]
        elif isinstance(output_ratio, Sequence):
            raise ValueError(f"{op}: output_ratio must have {ndim} entries, got {output_ratio!r}")
        else:
            raise TypeError(f"{op}: output_ratio must be a tuple of {ndim} floats"
                            f"{' (torch refuses a bare number in 2d)' if ndim == 2 else ''}, "
                            f"got {output_ratio!r}")
        sizes = tuple(int(n * r) for n, r in zip(spatial, ratios, strict=True))
    if any(o < 0 for o in sizes):
        raise ValueError(f"{op}: output_size must be non-negative, got {sizes}")
    for n, o, ki in zip(spatial, sizes, k, strict=True):
        # torch's 2d check is "<= n", its 3d check "< n": one window less fits in 3d.
        if o + ki - 1 > n or (ndim == 3 and o + ki - 1 == n):
            bound = "<=" if ndim == 2 else "<"
            raise ValueError(f"{op}: kernel_size {ki} is too large for input size {n} and "
                             f"output_size {o}: need output_size + kernel_size - 1 {bound} {n}")
    batch = input.shape[0] if input.ndim == ndim + 2 else 1
    channels = input.shape[-ndim - 1]
    if samples is None:
        check_dtype(planes.dtype, op, FLOATS)  # torch cannot draw integer samples
        samples = np.random.default_rng().random((batch, channels, ndim)).astype(planes.dtype)
    if not isinstance(samples, np.ndarray) or samples.dtype != planes.dtype:
        raise TypeError(f"{op}: _random_samples must be a numpy.ndarray of the input's dtype "
                        f"{planes.dtype}, got {getattr(samples, 'dtype', type(samples))}")
    if samples.ndim != 3 or samples.shape[0] < batch or samples.shape[1] != channels or (
            samples.shape[2] != ndim):
        raise ValueError(f"{op}: _random_samples must have shape (N', {channels}, {ndim}) with "
                         f"N' >= {batch}, got {samples.shape}")
    if planes.shape[0] and 0 not in sizes:
        # torch returns an empty result before it dispatches on the dtype
        check_dtype(planes.dtype, op, FLOATS)
    plane_samples = samples[:batch].reshape(batch * channels, ndim)
    return planes, lead, k, sizes, plane_samples


def _fractional(input: np.ndarray, ndim: int, op: str, kernel_size: IntOrTuple,
                output_size: IntOrTuple | None, output_ratio: float | Sequence[float] | None,
                samples: np.ndarray | None) -> tuple:
    planes, lead, k, sizes, plane_samples = _geometry(input, ndim, op, kernel_size, output_size,
                                                      output_ratio, samples)
    batch, spatial = planes.shape[0], planes.shape[1:]
    if batch == 0 or 0 in sizes:
        empty = np.empty((batch, *sizes))
        return empty.astype(planes.dtype), empty.astype(np.int64), lead
    index, starts = [np.arange(batch).reshape(-1, *[1] * (2 * ndim))], []
    valid = True
    for axis in range(ndim):
        # torch's 2d kernel reads sample 0 for W and 1 for H; its 3d kernel 0 for D, 1 for H,
        # 2 for W.
        which = 1 - axis if ndim == 2 else axis
        start = fractional_intervals(plane_samples[:, which], spatial[axis],
                                     sizes[axis], k[axis])
        width = max(k[axis], 1)
        cells = start[:, :, None] + np.arange(width)
        shape = [batch] + [1] * (2 * ndim)
        shape[1 + axis], shape[1 + ndim + axis] = sizes[axis], width
        valid = valid & (np.arange(width) < k[axis]).reshape([1] * (1 + ndim + axis) + [width]
                                                             + [1] * (ndim - axis - 1))
        inside = (cells >= 0) & (cells < spatial[axis])
        if not inside[..., :k[axis]].all():
            raise ValueError(f"{op}: _random_samples put a window outside the input along "
                             f"spatial axis {axis}")
        index.append(np.clip(cells, 0, spatial[axis] - 1).reshape(shape))
        starts.append(start.reshape([batch] + [sizes[a] if a == axis else 1
                                               for a in range(ndim)]))
    windows = np.where(valid, planes[tuple(index)], planes.dtype.type(-np.inf))
    kshape = windows.shape[ndim + 1:]
    flat = windows.reshape(*windows.shape[:ndim + 1], int(np.prod(kshape)))
    nan = np.isnan(flat)
    pos = np.where(nan.any(axis=-1), flat.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1),
                   np.argmax(flat, axis=-1))
    values = np.take_along_axis(flat, pos[..., None], axis=-1)[..., 0]
    offsets = np.unravel_index(pos, kshape)
    # Empty windows (kernel_size <= 0) keep torch's initial index: the window start.
    coords = [starts[a] + np.where(k[a] > 0, offsets[a], 0) for a in range(ndim)]
    return values, flat_index(coords, spatial), lead


def fractional_max_pool2d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    output_size: IntOrTuple | None = None,
    output_ratio: Sequence[float] | None = None,
    return_indices: bool = False,
    _random_samples: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """2d fractional max pooling, equal to ``torch.nn.functional.fractional_max_pool2d``
    for the same ``_random_samples``.

    Args:
        input: ``(N, C, H, W)`` or ``(C, H, W)``, float16/32/64.
        kernel_size: an int or ``(kH, kW)``.
        output_size: an int or ``(H_out, W_out)``.
        output_ratio: ``(rH, rW)``, used when ``output_size`` is None.
        return_indices: also return int64 positions ``h * W + w``.
        _random_samples: ``(N, C, 2)`` samples in ``[0, 1)`` of the input's dtype;
            ``[..., 0]`` places the columns, ``[..., 1]`` the rows.

    Shape: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``.

    >>> x = np.arange(36.0).reshape(1, 1, 6, 6)
    >>> u = np.array([[[0.5, 0.5]]])
    >>> fractional_max_pool2d(x, 2, output_size=3, _random_samples=u)
    array([[[[ 7.,  9., 11.],
             [19., 21., 23.],
             [31., 33., 35.]]]])
    """
    values, indices, lead = _fractional(input, 2, "fractional_max_pool2d", kernel_size,
                                        output_size, output_ratio, _random_samples)
    out = restore(values, lead)
    return (out, restore(indices, lead)) if return_indices else out


def fractional_max_pool3d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    output_size: IntOrTuple | None = None,
    output_ratio: float | Sequence[float] | None = None,
    return_indices: bool = False,
    _random_samples: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """3d fractional max pooling, equal to ``torch.nn.functional.fractional_max_pool3d``.

    As :func:`fractional_max_pool2d` with ``(N, C, D, H, W)`` input and ``(N, C, 3)``
    samples: ``[..., 0]`` for D, ``[..., 1]`` for H, ``[..., 2]`` for W (the reverse of 2d's
    order, as in torch).

    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> fractional_max_pool3d(x, 1, output_size=1,
    ...                       _random_samples=np.zeros((1, 1, 3)))
    array([[[[7.]]]])
    """
    values, indices, lead = _fractional(input, 3, "fractional_max_pool3d", kernel_size,
                                        output_size, output_ratio, _random_samples)
    out = restore(values, lead)
    return (out, restore(indices, lead)) if return_indices else out


def _backward(grad_output: np.ndarray, input: np.ndarray, ndim: int, op: str,
              kernel_size: IntOrTuple, output_size: IntOrTuple | None,
              output_ratio: float | Sequence[float] | None,
              samples: np.ndarray | None) -> np.ndarray:
    if samples is None:
        raise ValueError(f"{op}: pass the forward pass's _random_samples; the windows depend "
                         f"on them")
    values, indices, lead = _fractional(input, ndim, op, kernel_size, output_size,
                                        output_ratio, samples)
    grad = check_grad_output(grad_output, restore(values, lead).shape, op)
    plane_size = int(np.prod(input.shape[-ndim:]))
    planes = np.zeros((values.shape[0], plane_size), dtype=input.dtype)
    real = (indices >= 0) & (indices < plane_size)
    scatter_add(planes, np.where(real, indices, 0),
                np.where(real, grad.astype(input.dtype).reshape(values.shape), 0))
    return planes.reshape(input.shape)


def fractional_max_pool2d_backward(
    grad_output: np.ndarray, input: np.ndarray, kernel_size: IntOrTuple,
    output_size: IntOrTuple | None = None, output_ratio: Sequence[float] | None = None,
    _random_samples: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient of :func:`fractional_max_pool2d` for the same ``_random_samples``
    (required): each gradient goes to its window's argmax, summed in window order.

    >>> samples = np.zeros((1, 1, 2))
    >>> fractional_max_pool2d_backward(np.ones((1, 1, 1)), np.eye(2)[None],
    ...                                2, 1, _random_samples=samples)
    array([[[1., 0.],
            [0., 0.]]])
    """
    return _backward(grad_output, input, 2, "fractional_max_pool2d_backward", kernel_size,
                     output_size, output_ratio, _random_samples)


def fractional_max_pool3d_backward(
    grad_output: np.ndarray, input: np.ndarray, kernel_size: IntOrTuple,
    output_size: IntOrTuple | None = None, output_ratio: float | Sequence[float] | None = None,
    _random_samples: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient of :func:`fractional_max_pool3d`; see :func:`fractional_max_pool2d_backward`."""
    return _backward(grad_output, input, 3, "fractional_max_pool3d_backward", kernel_size,
                     output_size, output_ratio, _random_samples)


def fractional_max_pool2d_loop(
    input: np.ndarray, kernel_size: IntOrTuple, output_size: IntOrTuple,
    _random_samples: np.ndarray, return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Loop reference of :func:`fractional_max_pool2d` (``output_size`` and samples given).

    >>> x = np.arange(36.0).reshape(1, 1, 6, 6)
    >>> fractional_max_pool2d_loop(x, 2, 3, np.array([[[0.5, 0.5]]]))
    array([[[[ 7.,  9., 11.],
             [19., 21., 23.],
             [31., 33., 35.]]]])
    """
    planes, lead, (k_h, k_w), (out_h, out_w), samples = _geometry(
        input, 2, "fractional_max_pool2d_loop", kernel_size, output_size, None, _random_samples)
    height, width = planes.shape[1:]
    out = np.empty((planes.shape[0], out_h, out_w), dtype=planes.dtype)
    idx = np.empty(out.shape, dtype=np.int64)
    for c, plane in enumerate(planes):
        rows = fractional_intervals(samples[c, 1], height, out_h, k_h)
        cols = fractional_intervals(samples[c, 0], width, out_w, k_w)
        for i, h0 in enumerate(rows):
            for j, w0 in enumerate(cols):
                best, best_at = planes.dtype.type(-np.inf), h0 * width + w0
                for h in range(h0, h0 + k_h):
                    for w in range(w0, w0 + k_w):
                        if plane[h, w] > best or np.isnan(plane[h, w]):
                            best, best_at = plane[h, w], h * width + w
                out[c, i, j], idx[c, i, j] = best, best_at
    return (restore(out, lead), restore(idx, lead)) if return_indices else restore(out, lead)
