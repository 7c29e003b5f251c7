"""Fast kernels for max and average pooling: shifted strided views, one offset at a time.

:func:`~pooling_course.functional.sliding_windows` exposes every window as a view
``(B, *out, *kernel)``; reducing that view with ``argmax`` needs a contiguous ``(…, k*k)`` copy,
and the padding it reads needs a padded copy of the whole input. The kernels here read the
same elements without either copy:

* **Runs instead of padding.** For kernel offset ``a`` along an axis, output ``o`` reads input
  position ``o * s - p + a * d``. The outputs whose position lies inside the input form one
  contiguous range ``lo <= o < hi`` (:func:`offset_runs`), read as one strided slice of the
  input. Padding is never read, which is exactly torch's rule that padding never competes.
* **One offset at a time.** Each offset updates a running result of the output's size
  (``np.maximum``, a compare-and-copy when indices are needed, or ``+=``), so no temporary is
  larger than the output.
* **Max is separable.** A window's maximum is the maximum over rows of the rows' maxima, and
  with torch's update rule (``val > max or isnan(val)``) the winner is the same element: reduce
  the last axis first, then the next, carrying each window's winning offsets.
* **Blocks of planes.** The work runs on blocks of ``(H, W)`` planes small enough that every
  pass over a block hits the cache, so the several passes per offset cost little memory traffic.

Average pooling is not made separable: torch adds a window's elements one after another in
row-major order, and adding rows first would round differently.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator

import numpy as np

# Elements of input per block: a block's input and its temporaries stay in the L2 cache.
BLOCK_ELEMENTS = 1 << 17


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


def blocks_of(batch: int, plane: int) -> int:
    """Planes per block: about :data:`BLOCK_ELEMENTS` elements, at most the whole batch."""
    return max(1, min(batch, BLOCK_ELEMENTS // max(plane, 1)))


def blocks(batch: int, plane: int) -> Iterator[slice]:
    """Slices of the plane axis whose blocks hold about :data:`BLOCK_ELEMENTS` elements."""
    step = blocks_of(batch, plane)
    for b in range(0, batch, step):
        yield slice(b, min(b + step, batch))


def _axis(ndim: int, axis: int, index: slice) -> tuple:
    key = [slice(None)] * ndim
    key[axis] = index
    return tuple(key)


class MaxPlan:
    """What every block of a max pool shares: per spatial axis, innermost first, its runs
    (:func:`offset_runs`), the number of kernel positions inside it, and each window's
    starting code (the row-major kernel position of its first real element, which torch
    reports when nothing beats its start value)."""

    def __init__(self, spatial: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...],
                 p: tuple[int, ...], d: tuple[int, ...], out_shape: tuple[int, ...]):
        ndim = len(k)
        self.axes = []
        # Codes are kernel positions: the smallest integer type that holds them moves the
        # fewest bytes.
        self.dtype = np.dtype(np.int8 if np.prod(k) <= 127 else np.int16
                              if np.prod(k) <= 32767 else np.int32)
        first = np.zeros((1,) * (ndim + 1), dtype=self.dtype)
        size = 1
        for axis in range(ndim - 1, -1, -1):
            grid = [1] * (ndim + 1)
            grid[axis + 1] = -1
            offsets = first_offsets(k[axis], s[axis], p[axis], d[axis], out_shape[axis])
            first = (first + size * offsets.reshape(grid)).astype(self.dtype)
            runs = offset_runs(spatial[axis], k[axis], s[axis], p[axis], d[axis],
                               out_shape[axis])
            self.axes.append((axis + 1, s[axis], out_shape[axis], runs, size, first))
            size *= k[axis]


def max_pool_block(x: np.ndarray, plan: MaxPlan, low: np.generic,
                   track: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Max pool one block of planes ``(b, *spatial)``: values ``(b, *out)`` and, with
    ``track``, each window's winning position in the kernel, row-major (``plan.dtype``).

    Axes are reduced innermost first: the first maximum in row-major order is then the first
    row's first maximum, exactly the element torch's loop picks.
    """
    code = np.zeros((1,) * x.ndim, dtype=plan.dtype) if track else None
    # NaN needs its own test (torch's rule lets a NaN replace a NaN); skip it without NaN.
    nan = track and np.issubdtype(x.dtype, np.floating) and bool(np.isnan(x.max()))
    for axis, s, out, runs, size, first in plan.axes:
        x, code = _max_along(x, axis, s, out, runs, low, code, size, first, nan)
    return x, code


def _max_along(x: np.ndarray, axis: int, s: int, out: int, runs: list, low: np.generic,
               code: np.ndarray | None, size: int, first: np.ndarray,
               nan: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Max over windows along array ``axis`` of ``x``.

    With ``code`` (each element's winning position within the axes already reduced,
    row-major, an int array broadcastable to ``x``; ``size`` is the number of such positions)
    it also returns each window's winning position with this axis prepended,
    ``a * size + code``; a window that nothing replaces keeps ``first``.
    """
    shape = list(x.shape)
    shape[axis] = out
    values = np.full(shape, low, dtype=x.dtype)
    # np.maximum propagates NaN; which of two equal values it returns (it matters only for
    # +0.0 vs -0.0) differs by dtype: keep the earlier one.
    swap = x.dtype == np.float16
    if code is None:
        for _, lo, hi, start in runs:
            src = x[_axis(x.ndim, axis, slice(start, start + (hi - lo - 1) * s + 1, s))]
            dst = values[_axis(x.ndim, axis, slice(lo, hi))]
            np.maximum(*((dst, src) if swap else (src, dst)), out=dst)
        return values, None
    # torch's rule: replace when val > max or val is NaN. The window's final code is that of
    # the last replacement, and codes grow with the offset a, so it is the largest
    # ``take * (a * size + code)``: arithmetic, because masked copies are slow in NumPy.
    best = np.empty(shape, dtype=first.dtype)
    best[...] = first
    take = np.empty(shape, dtype=bool)
    isnan = np.empty(shape, dtype=bool) if nan else None
    candidate = np.empty(shape, dtype=first.dtype)
    step = first.dtype.type
    for a, lo, hi, start in runs:
        read = _axis(x.ndim, axis, slice(start, start + (hi - lo - 1) * s + 1, s))
        write = _axis(x.ndim, axis, slice(lo, hi))
        src, dst, m, c = x[read], values[write], take[write], candidate[write]
        np.greater(src, dst, out=m)
        if nan:
            # NaN != NaN; np.isnan(out=<strided view>) skips elements in NumPy 2.4.
            np.not_equal(src, src, out=isnan[write])
            np.logical_or(m, isnan[write], out=m)
        np.maximum(*((dst, src) if swap else (src, dst)), out=dst)
        if code.shape != x.shape:  # the first axis reduced: every code so far is 0
            if a == 0:
                continue  # a candidate 0 never beats the start code
            np.multiply(m, step(a * size), out=c)
        else:
            np.add(code[read], step(a * size), out=c)
            np.multiply(c, m, out=c)
        np.maximum(best[write], c, out=best[write])
    return values, best


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
                buf[_axis(buf.ndim, axis, slice(0, lo))] = pad
                buf[_axis(buf.ndim, axis, slice(hi, None))] = pad
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
                 start: np.generic) -> Iterator[tuple[slice, np.ndarray]]:
    """Pool ``planes`` ``(B, *spatial)`` block by block in the layout: each block's phases
    (in ``dtype``, padding stored as ``start``), then every kernel offset's pass in
    row-major order, ``op(running, new, out=running)``, the running values starting at
    ``start``. Yields each block's slice of the planes and its ``(b, *out)`` result, a view
    into a buffer that the next block overwrites."""
    plane = int(np.prod(planes.shape[1:]))
    most = blocks_of(planes.shape[0], plane)
    buffers = layout.buffers(most, dtype, start)
    result = np.empty(most * int(np.prod(layout.wide)), dtype=dtype)
    (first, _), *rest = layout.passes  # the first offset is 0 on every axis: shift 0
    for block in blocks(planes.shape[0], plane):
        sources = layout.fill(buffers, planes[block])
        size = sources[first].size
        running = result[:size]
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in torch
            op(start, sources[first], out=running)
            for key, shift in rest:
                view = running[:size - shift]
                op(view, sources[key][shift:], out=view)
        yield block, layout.crop(running)


def first_max(dtype: np.dtype) -> Callable:
    """``np.maximum(running, new)`` keeping the running value when the two are equal
    (torch replaces only a greater value; it matters for +0.0 vs -0.0). Which argument
    ``np.maximum`` returns on a tie differs by dtype."""
    if dtype == np.float16:
        return lambda running, new, out: np.maximum(running, new, out=out)
    return lambda running, new, out: np.maximum(new, running, out=out)


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
