"""The average-pooling kernels: window sums added in torch's order, one offset at a time.

Torch adds a window's real elements one after another, in row-major order, into a sum that
starts at +0.0, divides once and adds the quotient to a zeroed output. Every kernel here
adds the elements of one kernel offset into the running sums of all windows at a time,
offsets in row-major order, so each window's sum sees the same additions in the same order
and rounds to the same bits. Sums are never made separable (rows first, then columns): that
would round differently. A sum may start from its first element rather than from +0.0: the
two differ only for -0.0, and the caller makes every zero quotient +0.0, as torch does.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator

import numpy as np

from ._kernels import Phases, blocks, blocks_of, offset_runs, phase_blocks, scratch


def window_sums(planes: np.ndarray, k: tuple[int, ...], s: tuple[int, ...],
                p: tuple[int, ...], out_shape: tuple[int, ...],
                acc: np.dtype) -> Iterator[tuple[slice, np.ndarray]]:
    """Each block's slice of ``planes`` ``(B, *spatial)`` and its windows' sums
    ``(b, *out)`` in ``acc``: a view the next block may overwrite."""
    layout = Phases.of(planes.shape[1:], k, s, p, out_shape)
    if layout.reuses and pairs_apply(planes, k, s, p, out_shape):
        yield from pair_sums(planes, k, out_shape)
    elif layout.reuses:
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
    the input, one strided pass per offset, skipping padding (a copy would cost as much).
    Yields views into a buffer the next block overwrites."""
    regions = offset_regions(planes.shape[1:], k, s, p, out_shape)
    full = [all(part == slice(0, o) for part, o in zip(write[1:], out_shape, strict=True))
            for write, _ in regions]
    # Sums start from the first two offsets' values when both reach every window (see the
    # module docstring), else from +0.0.
    fused = len(regions) >= 2 and full[0] and full[1]
    plane = int(np.prod(planes.shape[1:]))
    buffer = np.empty((blocks_of(planes.shape[0], plane), *out_shape), dtype=acc)
    for block in blocks(planes.shape[0], plane):
        x = planes[block]
        total = buffer[:x.shape[0]]
        with np.errstate(invalid="ignore", over="ignore"):
            if fused:
                (_, first), (_, second), *rest = regions
                np.add(x[first], x[second], out=total, dtype=acc)
            else:
                total[...] = 0
                rest = regions
            for write, read in rest:
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


def pairs_apply(planes: np.ndarray, k: tuple[int, ...], s: tuple[int, ...],
                p: tuple[int, ...], out_shape: tuple[int, ...]) -> bool:
    """Whether :func:`pair_sums` can pool ``planes``: 2-d float32 planes in C order on a
    little-endian machine, stride 2, no padding, and every window inside the plane."""
    return (len(k) == 2 and s == (2, 2) and p == (0, 0) and planes.dtype == np.float32
            and planes.flags.c_contiguous and sys.byteorder == "little"
            and all((o - 1) * 2 + ki <= n
                    for o, ki, n in zip(out_shape, k, planes.shape[1:], strict=True)))


def pair_sums(planes: np.ndarray, k: tuple[int, ...], out_shape: tuple[int, ...],
              ) -> Iterator[tuple[slice, np.ndarray]]:
    """Window sums of 2-d float32 planes ``(B, H, W)`` pooled with stride 2 and no padding,
    in torch's order, from each plane's values split by the parity of their flat position.

    Window ``(i, j)`` of a plane ``g`` (flattened) reads ``g[2 * t + c]`` with
    ``t = i * W + j`` and ``c = a * W + b`` for kernel offset ``(a, b)``: the even values
    ``g[0::2]`` at ``t + c // 2`` when ``c`` is even, the odd values ``g[1::2]`` at
    ``t + c // 2`` when it is odd. So every offset is one contiguous shifted ``+=`` over the
    whole block, as in :class:`~._kernels.Phases`, with two phases per plane instead of four.
    The split itself reads pairs of float32 values as one uint64 and keeps its low half: a
    contiguous cast per plane, where four 2-d phases cost NumPy one call per row of each.
    The running sums cover ``t`` up to the plane's half size, about twice the windows, so
    this pays only because the split is so much cheaper than the phase copies.
    """
    (height, width), (out_h, out_w) = planes.shape[1:], out_shape
    plane = height * width
    half = max(-(-plane // 2), out_h * width)  # a plane's slots in every buffer
    shifts = [((a * width + b) % 2, (a * width + b) // 2)
              for a in range(k[0]) for b in range(k[1])]
    tail = max(shift for _, shift in shifts)
    most = blocks_of(planes.shape[0], plane)
    # parity -> a plane's values at even (0) or odd (1) flat positions, `half` slots each;
    # slots no value fills stay zero from call to call
    split, running = scratch(
        ("pairs", planes.shape[1:], tuple(k), most),
        lambda: (np.zeros((2, most * half + tail), dtype=np.float32),
                 np.empty(most * half, dtype=np.float32)))
    for block in blocks(planes.shape[0], plane):
        n = block.stop - block.start
        x = planes[block]
        flat = x.reshape(-1)
        for parity, target in enumerate(split):
            rows = target[:n * half].reshape(n, half)
            # pairs (g[2t + parity], g[2t + parity + 1]) that lie inside the plane
            count = (plane - parity) // 2
            pairs = np.ndarray((n, count), dtype=np.uint64, buffer=flat, offset=4 * parity,
                               strides=(4 * plane, 8))
            np.copyto(rows[:, :count].view(np.uint32), pairs, casting="unsafe")
            if (plane - parity) % 2:  # the plane's last value has no partner inside it
                rows[:, count] = x[:, -1, -1]
        size = n * half
        sums = running[:size]
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in torch
            (parity, shift), (second, step), *rest = shifts
            # 0.0 + x is x but for x = -0.0: the caller makes a zero quotient +0.0 anyway
            np.add(split[parity, shift:shift + size], split[second, step:step + size],
                   out=sums)
            for parity, shift in rest:
                np.add(sums, split[parity, shift:shift + size], out=sums)
        windows = sums.reshape(n, half)[:, :out_h * width].reshape(n, out_h, width)
        yield block, windows[:, :, :out_w]
