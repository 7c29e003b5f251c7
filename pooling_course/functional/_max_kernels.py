"""The max-pooling kernels: separable maxima, the 1-d values-only kernel, winners' indices.

* **Max values are separable.** Without indices and without overlap, a window's maximum is
  the maximum over rows of the rows' maxima: reduce the last axis first, then the next
  (:func:`separable_runs`), reading each element once from the input.
* **Overlap or indices:** the stride phases of :mod:`._kernels`, the running maximum one
  kernel offset at a time, and (with indices) which offset replaced it last
  (:func:`window_maxima`); a window's flat index is then ``base + table[code]``
  (:func:`index_table`).
* **1-d without indices** (:func:`rows_max`): the running maximum of every window start in
  contiguous passes, then every ``s``-th start.

Average pooling is not made separable: torch adds a window's elements one after another in
row-major order, and adding rows first would round differently (:mod:`._avg_kernels`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import numpy as np

from ._core import axis_grid, lowest
from ._kernels import (
    Phases,
    axis_key,
    blocks,
    blocks_of,
    first_offsets,
    offset_runs,
    phase_blocks,
    scratch,
)


def first_max(dtype: np.dtype) -> Callable:
    """``np.maximum(running, new)`` keeping the running value when the two are equal
    (torch replaces only a greater value; it matters for +0.0 vs -0.0). Which argument
    ``np.maximum`` returns on a tie differs by dtype."""
    if dtype == np.float16:
        return lambda running, new, out: np.maximum(running, new, out=out)
    return lambda running, new, out: np.maximum(new, running, out=out)


def rows_max(planes: np.ndarray, k: int, s: int, d: int, out: int) -> np.ndarray | None:
    """Values-only 1-d max pool of contiguous rows ``(B, n)`` whose windows all lie inside
    the row (no padding), or ``None`` when that does not hold.

    Per block of rows, the running maximum of *every* window start,
    ``m[j] = max(x[j], x[j + d], ...)``, in contiguous passes over the flat block (a window
    that crosses into the next row is computed and never read); then every ``s``-th start
    of each row is picked out:

    * With stride 2 on 2- or 4-byte values the pick reads each pair of values as one
      unsigned integer of twice the width and casts it down to its low half, the pair's
      first value on a little-endian machine: a contiguous cast, where a stride-2 copy is
      one of NumPy's slow strided loops.
    * Otherwise (8-byte values) the passes stop one offset short, at the maxima of
      ``k - 1`` elements, and one strided pass takes each window as the maximum of the two
      such runs at its start and one step later: they cover the window, the earlier keeps
      a tie (torch's first maximum) and a NaN in either propagates. That strided pass
      writes the output directly, instead of a last full-length pass and a strided copy.
    """
    rows, n = planes.shape
    if k < 2 or (out - 1) * s + (k - 1) * d >= n or not planes.flags.c_contiguous:
        return None
    keep = first_max(planes.dtype)
    values = np.empty((rows, out), dtype=planes.dtype)
    pair = {2: np.uint32, 4: np.uint64}.get(planes.dtype.itemsize)
    by_cast = s == 2 and pair is not None and n % 2 == 0 and sys.byteorder == "little"
    if by_cast:
        target = values.view(np.uint16 if pair == np.uint32 else np.uint32)
    itemsize = planes.dtype.itemsize
    size = blocks_of(rows, n, itemsize) * n
    starts = scratch(("rows", size, planes.dtype),
                     lambda: np.empty(size, dtype=planes.dtype))
    last = k if by_cast else k - 1  # the kernel offsets the contiguous passes take in
    for block in blocks(rows, n, itemsize):
        flat = planes[block].reshape(-1)
        size = flat.size
        runs = flat
        for a in range(1, last):
            keep(runs[:size - a * d], flat[a * d:], out=starts[:size - a * d])
            runs = starts
        if by_cast:
            pairs = starts[:size].view(pair).reshape(-1, n // 2)[:, :out]
            np.copyto(target[block], pairs, casting="unsafe")
        else:
            runs = runs[:size].reshape(-1, n)
            keep(runs[:, :(out - 1) * s + 1:s], runs[:, d:(out - 1) * s + d + 1:s],
                 out=values[block])
    return values


def separable_runs(spatial: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...],
                   p: tuple[int, ...], d: tuple[int, ...],
                   out_shape: tuple[int, ...]) -> list[tuple[int, int, int, list]]:
    """What every block of a values-only max pool shares: per spatial axis, innermost
    first, ``(array axis, stride, output size, runs)`` (:func:`offset_runs`)."""
    return [(axis + 1, s[axis], out_shape[axis],
             offset_runs(spatial[axis], k[axis], s[axis], p[axis], d[axis], out_shape[axis]))
            for axis in range(len(k) - 1, -1, -1)]


def start_codes(k: tuple[int, ...], s: tuple[int, ...], p: tuple[int, ...],
                d: tuple[int, ...], out_shape: tuple[int, ...]) -> np.ndarray:
    """Each window's code when nothing beats torch's start value: the row-major kernel
    position of its first real element, ``(1, *out)``, in the smallest integer type that
    holds every kernel position (codes are moved around, fewer bytes move faster)."""
    size = int(np.prod(k))
    dtype = np.int8 if size <= 127 else np.int16 if size <= 32767 else np.int32
    ndim = len(k)
    code = np.zeros((1,) * (ndim + 1), dtype=dtype)
    step = 1
    for axis in range(ndim - 1, -1, -1):
        grid = [1] * (ndim + 1)
        grid[axis + 1] = -1
        offsets = first_offsets(k[axis], s[axis], p[axis], d[axis], out_shape[axis])
        code = (code + step * offsets.reshape(grid)).astype(dtype)
        step *= k[axis]
    return code


def max_pool_block(x: np.ndarray, axes: list, low: np.generic) -> np.ndarray:
    """Max pool one block of planes ``(b, *spatial)`` to its values ``(b, *out)``, one axis
    after another (a window's maximum is the maximum of its rows' maxima); ``axes`` from
    :func:`separable_runs`."""
    for axis, s, out, runs in axes:
        x = _max_along(x, axis, s, out, runs, low)
    return x


def _max_along(x: np.ndarray, axis: int, s: int, out: int, runs: list,
               low: np.generic) -> np.ndarray:
    """Max over windows along array ``axis`` of ``x``."""
    shape = list(x.shape)
    shape[axis] = out
    values = np.full(shape, low, dtype=x.dtype)
    # np.maximum propagates NaN; which of two equal values it returns (it matters only for
    # +0.0 vs -0.0) differs by dtype: keep the earlier one.
    keep = first_max(x.dtype)
    for _, lo, hi, start in runs:
        src = x[axis_key(x.ndim, axis, slice(start, start + (hi - lo - 1) * s + 1, s))]
        dst = values[axis_key(x.ndim, axis, slice(lo, hi))]
        keep(dst, src, out=dst)
    return values


def window_maxima(planes: np.ndarray, k: tuple[int, ...], s: tuple[int, ...], p: tuple[int, ...],
           d: tuple[int, ...], out_shape: tuple[int, ...],
           track: bool) -> Iterator[tuple[slice, np.ndarray, np.ndarray | None]]:
    """Each block's slice of the planes, its maxima and, with ``track``, each window's
    winning kernel position (row-major).

    The phases, padded with the lowest value (it never replaces a running maximum; NaN
    propagates through np.maximum), when windows overlap or indices are tracked; otherwise
    the separable plan, which reads each element once."""
    spatial = planes.shape[1:]
    low = lowest(planes.dtype)
    layout = Phases.of(spatial, k, s, p, out_shape, d)
    if layout.reuses or track:
        yield from phase_blocks(planes, layout, planes.dtype, first_max(planes.dtype), low,
                                start_codes(k, s, p, d, out_shape) if track else None)
        return
    axes = separable_runs(spatial, k, s, p, d, out_shape)
    for block in blocks(planes.shape[0], int(np.prod(spatial))):
        yield block, max_pool_block(planes[block], axes, low), None


def index_table(spatial: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...],
                 p: tuple[int, ...], d: tuple[int, ...],
                 out_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Flat index of a window's element = ``base[window] + table[kernel position]``."""
    ndim = len(spatial)
    steps = np.cumprod((1, *spatial[:0:-1]))[::-1]
    base = sum(axis_grid(np.arange(o) * si - pi, axis, ndim) * step
               for axis, (o, si, pi, step) in enumerate(zip(out_shape, s, p, steps,
                                                            strict=True)))
    table = sum(np.arange(ki).reshape([-1 if j == axis else 1 for j in range(ndim)]) * di * step
                for axis, (ki, di, step) in enumerate(zip(k, d, steps, strict=True))).ravel()
    return base, table.astype(np.int64)


def has_real_element(spatial: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...],
              p: tuple[int, ...], d: tuple[int, ...], out_shape: tuple[int, ...]) -> np.ndarray:
    """Windows with at least one real element, shape broadcastable to ``(B, *out)``."""
    ndim = len(spatial)
    has_real = np.ones((1,) * (ndim + 1), dtype=bool)
    for axis in range(ndim):
        start = axis_grid(np.arange(out_shape[axis]) * s[axis] - p[axis], axis, ndim)
        # The first grid position at or after 0 must lie inside the input and the window.
        first = start + (-np.minimum(start, 0) + d[axis] - 1) // d[axis] * d[axis]
        has_real = has_real & (first < spatial[axis]) & (first <= start + (k[axis] - 1) * d[axis])
    return has_real
