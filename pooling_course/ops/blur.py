"""Anti-aliased pooling of Zhang (2019): blur pooling and MaxBlurPool.

:func:`blur_pool1d` / :func:`blur_pool2d` apply a normalised binomial filter per channel after
reflect padding, then subsample; :func:`max_blur_pool1d` / :func:`max_blur_pool2d` are a dense
max pool with stride 1 followed by a blur pool. They follow the reference implementation of
the paper (antialiased-cnns' ``BlurPool``) rule for rule:

* the filter of ``filter_size`` taps (1 to 7) is a row of Pascal's triangle, ``(1, 3, 3, 1)``
  for 4, divided by its sum; in 2d it is the outer product of that row with itself;
* every spatial axis is padded by reflection, ``(filter_size - 1) // 2`` cells before and
  ``filter_size // 2`` (that is, the ceiling of ``(filter_size - 1) / 2``) after; reflection
  mirrors about the edge cell without repeating it, as ``torch.nn.functional.pad(mode=
  "reflect")`` does, and, like it, needs every padding to be smaller than the axis;
* the filter is then applied at every ``stride``-th position, starting at the first, so the
  output length is ``ceil(L / stride)``.

Chapter 3 teaches them (what a shift does to each pool); :func:`blur_pool2d_loop` is the loop
reference.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as PF
from ..functional._core import as_planes, restore

__all__ = ["MAX_FILTER_SIZE", "binomial_filter", "blur_pool1d", "blur_pool2d",
           "blur_pool2d_loop", "max_blur_pool1d", "max_blur_pool2d"]

#: The largest ``filter_size`` (antialiased-cnns' filters go up to 7 taps).
MAX_FILTER_SIZE = 7
_BLUR_DTYPES = (np.float32, np.float64)


def binomial_filter(filter_size: int) -> np.ndarray:
    """The normalised 1-D binomial filter of ``filter_size`` taps, as antialiased-cnns builds it.

    Row ``filter_size - 1`` of Pascal's triangle divided by its sum ``2 ** (filter_size - 1)``:
    1 tap is the identity, 2 a box ``(1, 1) / 2``, 3 the triangle ``(1, 2, 1) / 4``.

    Args:
        filter_size: number of taps, 1 to 7.

    >>> binomial_filter(4) * 8
    array([1., 3., 3., 1.])
    """
    _check_filter_size(filter_size)
    return np.array([math.comb(filter_size - 1, j) for j in range(filter_size)],
                    dtype=np.float64) / 2 ** (filter_size - 1)


def _check_filter_size(filter_size: object) -> None:
    if not isinstance(filter_size, int | np.integer) or isinstance(filter_size, bool):
        raise TypeError(f"filter_size must be an int from 1 to {MAX_FILTER_SIZE}, "
                        f"got {filter_size!r}")
    if not 1 <= filter_size <= MAX_FILTER_SIZE:
        raise ValueError(f"filter_size must be from 1 to {MAX_FILTER_SIZE}, got {filter_size}")


def _blur_pads(filter_size: int) -> tuple[int, int]:
    """Reflect padding before and after: floor and ceil of ``(filter_size - 1) / 2``."""
    return (filter_size - 1) // 2, filter_size // 2


def _blur_check(input: np.ndarray, ndim: int, op: str, filter_size: int,
                stride: int) -> tuple[np.ndarray, tuple[int, ...], tuple[int, int]]:
    _check_filter_size(filter_size)
    if not isinstance(stride, int | np.integer) or isinstance(stride, bool):
        raise TypeError(f"{op}: stride must be an int, got {stride!r}")
    if stride < 1:
        raise ValueError(f"{op}: stride must be at least 1, got {stride}")
    planes, lead = as_planes(input, ndim, op, _BLUR_DTYPES)
    before, after = _blur_pads(filter_size)
    if filter_size > 1 and min(planes.shape[1:]) <= after:
        raise ValueError(f"{op}: reflect padding of {after} needs every spatial size to be "
                         f"larger than {after}, got {planes.shape[1:]} (filter_size="
                         f"{filter_size})")
    return planes, lead, (before, after)


def _blur_axis(planes: np.ndarray, axis: int, taps: np.ndarray, stride: int,
               pads: tuple[int, int]) -> np.ndarray:
    """Reflect-pad one axis, then take the filter's dot product at every stride-th window."""
    width = [(0, 0)] * planes.ndim
    width[axis] = pads
    padded = np.pad(planes, width, mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, len(taps), axis=axis)
    index = [slice(None)] * planes.ndim
    index[axis] = slice(None, None, stride)
    return windows[tuple(index)] @ taps.astype(planes.dtype)


def blur_pool1d(input: np.ndarray, filter_size: int = 4, stride: int = 2) -> np.ndarray:
    """Anti-aliased subsampling of Zhang (2019): binomial blur per channel, then stride.

    Equal to antialiased-cnns' ``BlurPool1D(channels, pad_type="reflect", filt_size, stride)``,
    i.e. ``F.conv1d(F.pad(x, (b, a), mode="reflect"), filter, stride=stride, groups=C)`` with
    ``b = (filter_size - 1) // 2``, ``a = filter_size // 2`` and the filter of
    :func:`binomial_filter`.

    Args:
        input: ``(N, C, L)`` or ``(C, L)``, float32 or float64.
        filter_size: taps of the binomial filter, 1 to 7; 1 is plain subsampling
            ``x[..., ::stride]``. Default: 4.
        stride: subsampling factor, at least 1. Default: 2.

    Shape:
        ``L_out = ceil(L / stride)``. ``L`` must exceed ``filter_size // 2`` (reflection
        cannot pad more cells than the axis has beyond its edge).

    >>> blur_pool1d(np.array([[0., 0, 8, 8, 0, 0, 8, 8]]), filter_size=3)
    array([[0., 6., 2., 6.]])
    """
    planes, lead, pads = _blur_check(input, 1, "blur_pool1d", filter_size, stride)
    out = _blur_axis(planes, 1, binomial_filter(filter_size), stride, pads)
    return restore(out, lead)


def blur_pool2d(input: np.ndarray, filter_size: int = 4, stride: int = 2) -> np.ndarray:
    """2-D anti-aliased subsampling: a separable binomial blur per channel, then stride.

    Equal to antialiased-cnns' ``BlurPool(channels, pad_type="reflect", filt_size, stride)``:
    reflect padding of ``(filter_size - 1) // 2`` before and ``filter_size // 2`` after on
    each spatial axis, then a grouped convolution with the normalised outer product of
    :func:`binomial_filter` with itself, with ``stride`` on both axes. The filter is separable,
    so this applies the 1-D filter along H, then along W (:func:`blur_pool2d_loop` is the
    plain 2-D sum).

    Args:
        input: ``(N, C, H, W)`` or ``(C, H, W)``, float32 or float64.
        filter_size: taps per axis, 1 to 7. Default: 4.
        stride: subsampling factor on both axes, at least 1. Default: 2.

    Shape:
        ``H_out = ceil(H / stride)``, ``W_out = ceil(W / stride)``; ``H`` and ``W`` must
        exceed ``filter_size // 2``.

    >>> blur_pool2d(np.ones((1, 5, 5)), filter_size=3).shape
    (1, 3, 3)
    """
    planes, lead, pads = _blur_check(input, 2, "blur_pool2d", filter_size, stride)
    taps = binomial_filter(filter_size)
    out = _blur_axis(_blur_axis(planes, 1, taps, stride, pads), 2, taps, stride, pads)
    return restore(out, lead)


def blur_pool2d_loop(input: np.ndarray, filter_size: int = 4, stride: int = 2) -> np.ndarray:
    """:func:`blur_pool2d` with plain loops: the reference the vectorised kernel is checked on.

    For each output cell ``(i, j)`` it sums ``filter[a, b] * x[r(i*s + a - b0), r(j*s + b - b0)]``
    over the taps, where ``b0`` is the padding before and ``r`` reflects an index about the
    edges: ``-1 -> 1``, ``L -> L - 2``.
    """
    planes, lead, (before, _) = _blur_check(input, 2, "blur_pool2d_loop", filter_size, stride)
    taps = binomial_filter(filter_size)
    kernel = np.outer(taps, taps)
    _, height, width = planes.shape
    out_h, out_w = -(-height // stride), -(-width // stride)
    out = np.zeros((planes.shape[0], out_h, out_w), dtype=planes.dtype)
    for c, plane in enumerate(planes):
        for i in range(out_h):
            for j in range(out_w):
                total = 0.0
                for a in range(filter_size):
                    for b in range(filter_size):
                        h = _reflect(i * stride + a - before, height)
                        w = _reflect(j * stride + b - before, width)
                        total += kernel[a, b] * plane[h, w]
                out[c, i, j] = total
    return restore(out, lead)


def _reflect(index: int, size: int) -> int:
    if index < 0:
        return -index
    if index >= size:
        return 2 * (size - 1) - index
    return index


def max_blur_pool1d(input: np.ndarray, kernel_size: int = 2, filter_size: int = 4,
                    stride: int = 2, padding: int = 0) -> np.ndarray:
    """MaxBlurPool of Zhang (2019) in 1-D: ``max_pool1d(kernel_size, stride=1, padding)``, then
    :func:`blur_pool1d` with ``filter_size`` and ``stride``.

    The dense max (stride 1) is shift-equivariant; the subsampling is where shifts are lost,
    and the blur before it low-passes what is subsampled.

    Shape:
        ``L_dense = L + 2 * padding - kernel_size + 1``, then ``L_out = ceil(L_dense / stride)``.

    >>> x = np.array([[0., 0, 1, 1, 0, 0, 1, 1]])
    >>> max_blur_pool1d(x, filter_size=3)
    array([[0.5, 1. , 0.5, 1. ]])
    """
    dense = PF.max_pool1d(input, kernel_size, stride=1, padding=padding)
    return blur_pool1d(dense, filter_size, stride)


def max_blur_pool2d(input: np.ndarray, kernel_size: int = 2, filter_size: int = 4,
                    stride: int = 2, padding: int = 0) -> np.ndarray:
    """MaxBlurPool of Zhang (2019): ``max_pool2d(kernel_size, stride=1, padding)``, then
    :func:`blur_pool2d` with ``filter_size`` and ``stride``.

    antialiased-cnns replaces ``MaxPool2d(k, stride=2)`` by ``MaxPool2d(k, stride=1)``
    followed by ``BlurPool(channels, filt_size, stride=2)``; this is that pair.

    Args:
        input: ``(N, C, H, W)`` or ``(C, H, W)``, float32 or float64.
        kernel_size: the dense max pool's window. Default: 2.
        filter_size: taps of the binomial filter, 1 to 7. Default: 4.
        stride: the blur pool's subsampling factor. Default: 2.
        padding: the dense max pool's padding (at most ``kernel_size // 2``). Default: 0.

    Shape:
        ``H_dense = H + 2 * padding - kernel_size + 1``, ``H_out = ceil(H_dense / stride)``
        (the same for W).

    >>> max_blur_pool2d(np.ones((1, 8, 8))).shape
    (1, 4, 4)
    """
    dense = PF.max_pool2d(input, kernel_size, stride=1, padding=padding)
    return blur_pool2d(dense, filter_size, stride)
