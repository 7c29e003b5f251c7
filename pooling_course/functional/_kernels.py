"""Blocks and stride phases: what the fast max and average kernels share.

:func:`~pooling_course.functional.sliding_windows` exposes every window as a view
``(B, *out, *kernel)``; reducing that view with ``argmax`` needs a contiguous ``(…, k*k)`` copy,
and the padding it reads needs a padded copy of the whole input. The kernels read the same
elements without either copy:

* **Runs instead of padding.** For kernel offset ``a`` along an axis, output ``o`` reads input
  position ``o * s - p + a * d``. The outputs whose position lies inside the input form one
  contiguous range ``lo <= o < hi`` (:func:`offset_runs`), read as one strided slice of the
  input. Padding is never read, which is exactly torch's rule that padding never competes.
* **One offset at a time.** Each offset updates a running result of the output's size
  (``np.maximum``, with indices also a record of where it replaced, or ``+=``), so no
  temporary is larger than the output.
* **Phases.** :class:`Phases` copies a block's stride phases once, so that each kernel
  offset is one contiguous pass (:func:`phase_blocks`). It pays when windows overlap (an
  element is read by several offsets) and when indices are tracked (several passes per
  offset read the same phase).
* **Blocks of planes.** The work runs on blocks of ``(H, W)`` planes small enough that every
  pass over a block hits the cache, so the several passes per offset cost little memory traffic.

What is particular to each op lives beside it: :mod:`._max_kernels` (separable maxima, the
1-d values-only kernel, which kernel position won) and :mod:`._avg_kernels` (sums in
torch's order).
"""

from __future__ import annotations

import functools
import itertools
import sys
import threading
from collections.abc import Callable, Iterator

import numpy as np

# Elements of input per block: a block's input and its temporaries stay in the L2 cache.
BLOCK_ELEMENTS = 1 << 17
# Scratch buffers kept per thread, for the most recently used shapes.
SCRATCH_KEYS = 4
_SCRATCH = threading.local()


def scratch(key: tuple, make: Callable[[], object]) -> object:
    """The scratch buffers for ``key`` that this thread made with ``make()`` on an earlier
    call, else new ones. Fresh buffers must be allocated, padded and brought into the cache
    on every call, a few per cent of a pooling call; kept per thread, two threads never
    share them. Kernels never return them: callers copy out of the views they yield."""
    cache = _SCRATCH.__dict__.setdefault("buffers", {})
    if key in cache:
        cache[key] = cache.pop(key)  # the most recently used go last
    else:
        while len(cache) >= SCRATCH_KEYS:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


def release_scratch() -> None:
    """Free the scratch buffers the pooling kernels keep for this thread between calls
    (about a megabyte per recent shape); the next call allocates them again."""
    _SCRATCH.__dict__.pop("buffers", None)


def offset_runs(n: int, k: int, s: int, p: int, d: int,
                out: int) -> list[tuple[int, int, int, int]]:
    """``(a, lo, hi, start)`` for each kernel offset ``a`` that reads the input: outputs
    ``lo <= o < hi`` read positions ``start, start + s, ...`` (all inside ``[0, n)``)."""
    runs = []
    for a in range(k):
        shift = a * d - p
        lo = -(shift // s) if shift < 0 else 0  # smallest o with o * s + shift >= 0
        hi = min(out, (n - 1 - shift) // s + 1) if n - 1 - shift >= 0 else 0
        if hi > lo:
            runs.append((a, lo, hi, lo * s + shift))
    return runs


def first_offsets(k: int, s: int, p: int, d: int, out: int) -> np.ndarray:
    """For each window, the offset of its first grid position at or after 0 (may be ``>= k``
    or past the input when the window has no real element): where torch's loop starts."""
    start = np.arange(out) * s - p
    return (np.maximum(-start, 0) + d - 1) // d


def blocks_of(batch: int, plane: int, itemsize: int = 4) -> int:
    """Planes per block: about :data:`BLOCK_ELEMENTS` 4-byte values' worth of planes of
    ``plane`` elements of ``itemsize`` bytes (wider values, fewer planes, so that a block
    and its temporaries still fit the cache), at most the whole batch."""
    plane *= max(1, itemsize // 4)
    return max(1, min(batch, BLOCK_ELEMENTS // max(plane, 1)))


def blocks(batch: int, plane: int, itemsize: int = 4) -> Iterator[slice]:
    """Slices of the plane axis whose blocks hold about :data:`BLOCK_ELEMENTS` 4-byte
    values' worth (:func:`blocks_of`)."""
    step = blocks_of(batch, plane, itemsize)
    for b in range(0, batch, step):
        yield slice(b, min(b + step, batch))


def axis_key(ndim: int, axis: int, index: slice) -> tuple:
    key = [slice(None)] * ndim
    key[axis] = index
    return tuple(key)


class Phases:
    """A polyphase layout of a block of planes: every kernel offset is one contiguous 1-D op.

    With stride ``s``, kernel offset ``a`` of window ``o`` reads padded position
    ``o * s + a``: phase ``a % s`` of the padded input, at phase position ``o + a // s``.
    Copy each phase the kernel uses into a buffer of shape ``(b, *wide)``,
    ``wide = out + (k - 1) // s`` per axis, padding filled in. Then every kernel offset is
    *one flat shift* of one buffer: the running result, laid out ``(b, *wide)`` too, takes
    ``result[:L - shift] op= phase[shift:]``, a single long contiguous NumPy call instead of
    one short strided call per row (NumPy's strided loops are several times slower than its
    contiguous ones). Positions past the output on an axis hold values mixed from
    neighbouring rows and planes and are never read.

    ``passes`` lists ``(phase, shift)`` in row-major kernel order, the order torch visits a
    window's elements.
    """

    def __init__(self, spatial: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...],
                 p: tuple[int, ...], out_shape: tuple[int, ...],
                 d: tuple[int, ...] | None = None):
        d = d or (1,) * len(k)
        self.out_shape = out_shape
        self.wide = tuple(o + (ki - 1) * di // si
                          for o, ki, si, di in zip(out_shape, k, s, d, strict=True))
        steps = np.cumprod((1, *self.wide[:0:-1]))[::-1]
        self.passes = []
        for a in itertools.product(*map(range, k)):
            at = [ai * di for ai, di in zip(a, d, strict=True)]  # padded offsets
            self.passes.append((tuple(ai % si for ai, si in zip(at, s, strict=True)),
                                int(sum(ai // si * step
                                        for ai, si, step in zip(at, s, steps, strict=True)))))
        self.copies = {phase: _phase_copy(spatial, s, p, phase, self.wide)
                       for phase in dict.fromkeys(phase for phase, _ in self.passes)}

    @classmethod
    @functools.lru_cache(maxsize=64)
    def of(cls, spatial: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...],
           p: tuple[int, ...], out_shape: tuple[int, ...],
           d: tuple[int, ...] | None = None) -> Phases:
        """The layout for these sizes, built once: a layout never changes after it is built,
        and building one costs more than pooling a small input."""
        return cls(spatial, k, s, p, out_shape, d)

    @property
    def reuses(self) -> bool:
        """Whether some phase is read by several kernel offsets (windows overlap): only
        then does copying the phases pay for itself."""
        return len(self.copies) < len(self.passes)

    def buffers(self, planes: int, dtype: np.dtype, pad: object) -> dict[tuple, np.ndarray]:
        """Phase buffers for blocks of up to ``planes`` planes, their padding filled in.

        Allocated once per call and reused by every block: a block's copy overwrites only
        the real positions, so the padding written here stays in place.
        """
        buffers = {}
        for phase, (dst, _, ranges) in self.copies.items():
            buf = np.empty((planes, *self.wide), dtype=dtype)
            if dst is None:
                buf[...] = pad
            for axis, (lo, hi) in enumerate(ranges or (), start=1):
                buf[axis_key(buf.ndim, axis, slice(0, lo))] = pad
                buf[axis_key(buf.ndim, axis, slice(hi, None))] = pad
            buffers[phase] = buf
        return buffers

    def fill(self, buffers: dict[tuple, np.ndarray], x: np.ndarray) -> dict[tuple, np.ndarray]:
        """Copy block ``x`` ``(b, *spatial)`` into ``buffers`` (cast to their dtype); returns
        the flat phases of its ``b`` planes."""
        flat = {}
        for phase, (dst, src, _) in self.copies.items():
            buf = buffers[phase][:x.shape[0]]
            if src is not None:
                np.copyto(buf[dst], x[src], casting="unsafe")
            flat[phase] = buf.reshape(-1)
        return flat

    def crop(self, flat: np.ndarray) -> np.ndarray:
        """The outputs in a flat ``(b, *wide)`` result: a ``(b, *out)`` view."""
        wide = flat.reshape(-1, *self.wide)
        return wide[(slice(None), *(slice(0, o) for o in self.out_shape))]


def phase_blocks(planes: np.ndarray, layout: Phases, dtype: np.dtype, op: Callable,
                 start: np.generic, first_code: np.ndarray | None = None,
                 ) -> Iterator[tuple[slice, np.ndarray, np.ndarray | None]]:
    """Pool ``planes`` ``(B, *spatial)`` block by block in the layout: each block's phases
    (in ``dtype``, padding stored as ``start``), then every kernel offset's pass in
    row-major order, ``op(running, new, out=running)``, the running values starting at
    ``start``. Yields each block's slice of the planes, its ``(b, *out)`` result and, with
    ``first_code`` (max pooling with indices, see :class:`_Winners`), each window's winning
    kernel position, else ``None``: views into buffers the next block overwrites.

    ``op(start, first)`` must equal ``first`` wherever it matters: the maximum of the lowest
    value and ``x`` is ``x``; ``0.0 + x`` is ``x`` but for ``x = -0.0``, whose zero sum the
    caller's ``0 + sum / divisor`` makes ``+0.0`` either way. So the first pass starts
    from the first two offsets' values, and positions only the first offset reaches (past
    every window's output) are never written."""
    plane, itemsize = int(np.prod(planes.shape[1:])), np.dtype(dtype).itemsize
    most = blocks_of(planes.shape[0], plane, itemsize)

    def make() -> tuple:
        buffers = layout.buffers(most, dtype, start)
        result = np.empty(most * int(np.prod(layout.wide)), dtype=dtype)
        return buffers, result, _BlockViews(layout, buffers, result, planes, most)

    buffers, result, full = scratch(
        ("phases", layout, most, np.dtype(dtype), start.tobytes(), planes.dtype,
         planes.flags.c_contiguous), make)
    winners = None if first_code is None else _Winners(layout, most, first_code)
    for block in blocks(planes.shape[0], plane, itemsize):
        n = block.stop - block.start
        views = full if n == most else _BlockViews(layout, buffers, result, planes, n)
        views.fill(planes, block)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in torch
            if not views.passes:
                op(start, views.first, out=views.running)
            if winners is not None:
                winners.begin(views.size, planes[block])
            for position, (view, new) in enumerate(views.passes, start=1):
                # The first offset's values are the running values before the second:
                # op(start, first) is first itself (see the docstring), so skip that pass.
                running = views.first[:view.size] if position == 1 else view
                if winners is not None:
                    winners.record(new, running, position)
                op(running, new, out=view)
        yield (block, views.output,
               None if winners is None else layout.crop(winners.codes[:views.size]))


class _BlockViews:
    """Every view one block of ``n`` planes needs, built once and reused by every block of
    that size: NumPy's slicing costs microseconds, and a call makes dozens of blocks.

    The copies into the phases read 4-byte values at stride 2 along the last axis as
    8-byte pairs and keep the low half (the first value of the pair on a little-endian
    machine): a contiguous cast, where a stride-2 copy is one of NumPy's slower loops.
    Pairs may start at any 4-byte boundary (NumPy reads unaligned values), so odd rows and
    odd starts pair up too."""

    def __init__(self, layout: Phases, buffers: dict[tuple, np.ndarray], result: np.ndarray,
                 planes: np.ndarray, n: int):
        flat = {phase: buf[:n].reshape(-1) for phase, buf in buffers.items()}
        self.size = n * int(np.prod(layout.wide))
        self.running = result[:self.size]
        (first, _), *rest = layout.passes  # the first offset is 0 on every axis: shift 0
        self.first = flat[first]
        self.passes = [(self.running[:self.size - shift], flat[key][shift:])
                       for key, shift in rest]
        self.output = layout.crop(self.running)
        pairs = (planes.dtype.itemsize == 4 and planes.dtype == buffers[first].dtype
                 and planes.flags.c_contiguous and sys.byteorder == "little")
        self.copies = []
        for phase, (dst, src, _) in layout.copies.items():
            if src is None:
                continue
            target = buffers[phase][:n][dst]
            last = src[-1]
            if not (pairs and last.step == 2):
                self.copies.append((target, src[1:], None))
                continue
            # Pairs that start at an odd position are read 4 bytes into the block; a pair
            # whose second value would lie past the row's end is copied on its own.
            odd = last.start % 2
            count = target.shape[-1]
            inside = min(count, (planes.shape[-1] - odd) // 2 - last.start // 2)
            half = slice(last.start // 2, last.start // 2 + inside)
            self.copies.append((target[..., :inside].view(np.uint32), src[1:-1] + (half,),
                                odd))
            if inside < count:
                rest = slice(last.start + 2 * inside, last.stop, 2)
                self.copies.append((target[..., inside:], src[1:-1] + (rest,), None))

    def fill(self, planes: np.ndarray, block: slice) -> None:
        """Copy the real positions of ``planes[block]`` into the phases."""
        paired = {}
        for target, src, odd in self.copies:
            if odd is None:
                np.copyto(target, planes[(block, *src)], casting="unsafe")
                continue
            if odd not in paired:
                x = planes[block]
                shape = (*x.shape[:-1], (x.shape[-1] - odd) // 2)
                strides = (*x.strides[:-1], 8)
                paired[odd] = np.ndarray(shape, dtype=np.uint64, buffer=x, offset=4 * odd,
                                         strides=strides)
            np.copyto(target, paired[odd][(slice(None), *src)], casting="unsafe")


class _Winners:
    """Which kernel position each window's maximum came from, by torch's rule: a pass
    *replaces* the running maximum where its value is greater or NaN, and the window's code
    is the row-major position of the last pass that replaced, else ``first_code`` (the
    position of its first real element, ``(1, *out)``, an integer dtype). Positions grow
    pass by pass, so the last replacement is the largest ``replaced * position``: a few
    whole-block operations per pass instead of a masked copy."""

    def __init__(self, layout: Phases, planes: int, first_code: np.ndarray):
        wide = int(np.prod(layout.wide))
        self.codes = np.empty(planes * wide, dtype=first_code.dtype)
        self.replaced = np.empty(planes * wide, dtype=bool)
        self.candidate = np.empty_like(self.codes)
        self.initial = np.zeros((1, wide), dtype=first_code.dtype)
        layout.crop(self.initial)[...] = first_code
        self.nan = False

    def begin(self, size: int, x: np.ndarray) -> None:
        """Start a block of ``size`` wide positions whose input is ``x``."""
        np.copyto(self.codes[:size].reshape(-1, self.initial.size), self.initial)
        # torch's NaN test costs a pass per offset: skip it when the block has no NaN.
        self.nan = np.issubdtype(x.dtype, np.floating) and bool(np.isnan(x.max()))

    def record(self, new: np.ndarray, running: np.ndarray, position: int) -> None:
        """Before ``running`` takes the maximum with ``new``: note where ``new`` replaces."""
        n = new.size
        replaced, candidate, codes = self.replaced[:n], self.candidate[:n], self.codes[:n]
        np.greater(new, running, out=replaced)
        if self.nan:
            np.logical_or(replaced, np.isnan(new), out=replaced)
        np.multiply(replaced, codes.dtype.type(position), out=candidate)
        np.maximum(codes, candidate, out=codes)


def _phase_copy(spatial: tuple[int, ...], s: tuple[int, ...], p: tuple[int, ...],
                phase: tuple[int, ...], wide: tuple[int, ...]) -> tuple:
    """Where phase ``phase`` of the padded input lands in its buffer: the buffer region
    ``dst`` it fills from input region ``src`` (both ``None`` if it is all padding), and
    per axis the range ``(lo, hi)`` of real positions."""
    dst, src, ranges = [slice(None)], [slice(None)], []
    for n, si, pi, phi, qi in zip(spatial, s, p, phase, wide, strict=True):
        # Buffer position r holds input position r * s + phase - p.
        lo = max(0, -((phi - pi) // si))
        hi = min(qi, (n - 1 + pi - phi) // si + 1)
        if hi <= lo:
            return None, None, None
        start = lo * si + phi - pi
        dst.append(slice(lo, hi))
        src.append(slice(start, start + (hi - lo - 1) * si + 1, si))
        ranges.append((lo, hi))
    return tuple(dst), tuple(src), ranges
