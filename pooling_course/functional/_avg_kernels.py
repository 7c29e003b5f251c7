"""The average-pooling kernels: window sums added in torch's order, one offset at a time.

Torch adds a window's real elements one after another, in row-major order, into a sum that
starts at +0.0, and divides once. Every kernel here adds the elements of one kernel offset
into the running sums of all windows at a time, offsets in row-major order, so each window's
sum sees the same additions in the same order and rounds to the same bits. Sums are never
made separable (rows first, then columns): that would round differently.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from ._kernels import Phases, blocks, offset_runs, phase_blocks


def window_sums(planes: np.ndarray, k: tuple[int, ...], s: tuple[int, ...],
                p: tuple[int, ...], out_shape: tuple[int, ...],
                acc: np.dtype) -> Iterator[tuple[slice, np.ndarray]]:
    """Each block's slice of ``planes`` ``(B, *spatial)`` and its windows' sums
    ``(b, *out)`` in ``acc``: a view the next block may overwrite."""
    layout = Phases.of(planes.shape[1:], k, s, p, out_shape)
    if layout.reuses:
        # Windows overlap, so each input element is read several times: copy the phases
        # once. Padding stored as +0.0 changes no bit of a sum that starts at +0.0, so
        # windows over padding sum as if it were skipped, as torch skips it.
        for block, total, _ in phase_blocks(planes, layout, acc, np.add, acc.type(0)):
            yield block, total
    else:
        yield from strided_sums(planes, k, s, p, out_shape, acc)


def strided_sums(planes: np.ndarray, k: tuple[int, ...], s: tuple[int, ...],
                  p: tuple[int, ...], out_shape: tuple[int, ...],
                  acc: np.dtype) -> Iterator[tuple[slice, np.ndarray]]:
    """Windows that do not overlap read each input element once: add it straight from
    the input, one strided pass per offset, skipping padding (a copy would cost as much)."""
    regions = offset_regions(planes.shape[1:], k, s, p, out_shape)
    for block in blocks(planes.shape[0], int(np.prod(planes.shape[1:]))):
        x = planes[block]
        total = np.zeros((x.shape[0], *out_shape), dtype=acc)
        with np.errstate(invalid="ignore", over="ignore"):
            for write, read in regions:
                view = total[write]
                np.add(view, x[read], out=view)
        yield block, total


def offset_regions(spatial: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...],
          p: tuple[int, ...], out_shape: tuple[int, ...]) -> list[tuple[tuple, tuple]]:
    """For each kernel offset that reads the input, in row-major order: the output region
    ``write`` whose windows hold a real element there, and the strided input region ``read``
    those elements fill. Padding is never read: torch's sums skip it."""
    per_axis = [offset_runs(n, ki, si, pi, 1, o)
                for n, ki, si, pi, o in zip(spatial, k, s, p, out_shape, strict=True)]
    regions = []
    for combo in itertools.product(*per_axis):
        write = (slice(None), *(slice(lo, hi) for _, lo, hi, _ in combo))
        read = (slice(None), *(slice(st, st + (hi - lo - 1) * si + 1, si)
                               for (_, lo, hi, st), si in zip(combo, s, strict=True)))
        regions.append((write, read))
    return regions
