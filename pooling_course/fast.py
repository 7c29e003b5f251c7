"""Chapter 7, making pooling fast: the speed ladder of 2-d max pooling and why memory bounds it.

Five ways to compute the same ``max_pool2d`` of an ``(N, C, H, W)`` array (no padding, square
windows), from the slowest to the fastest:

1. :func:`max_pool2d_loops` — Python loops over every output cell;
2. :func:`max_pool2d_sliding` — NumPy's ``sliding_window_view`` reduced over the window axes;
3. :func:`max_pool2d_reshape` — the reshape trick, only when ``k == s`` and ``k`` divides H, W;
4. :func:`max_pool2d_shifted` — one strided view per kernel offset, folded in with
   ``np.maximum``: no ``k*k`` copy (:func:`avg_pool2d_shifted` adds the same views);
5. the package's :func:`pooling_course.functional.max_pool2d`, which adds blocks of planes
   that stay in the cache and a separable reduction (rows, then columns).

:func:`max_pool2d_backward_shifted` is the backward pass written the same way: an
accumulation over the ``k*k`` shifted views instead of a scatter. The timing helpers measure
CPU time (``time.process_time``), so that other processes on a shared machine do not count,
and :func:`roofline_figure` draws the measurements against the roofs: NumPy's copy
bandwidth at the working set a kernel moves (:func:`copy_bandwidth`), NumPy's ``np.maximum``
throughput (:func:`maximum_throughput`) and the CPU's vector ceiling (:func:`vector_ceiling`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .bench import copy_bandwidth, paired_ratios, peak_temporary, side_by_side
from .figures import FIGURE_WIDTH
from .functional import pool_output_size

__all__ = [
    "max_pool2d_loops", "max_pool2d_sliding", "max_pool2d_reshape", "max_pool2d_shifted",
    "avg_pool2d_shifted", "max_pool2d_shifted_channels_last", "max_pool2d_backward_shifted",
    "cpu_time", "copy_bandwidth", "maximum_throughput", "vector_ceiling", "cache_sizes",
    "peak_temporary", "bytes_moved", "roofline_figure",
]


def _sizes(x: np.ndarray, kernel_size: int, stride: int | None) -> tuple[int, int, int, int]:
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be an (N, C, H, W) numpy array, got {getattr(x, 'shape', x)}")
    s = kernel_size if stride is None else stride
    out_h = pool_output_size(x.shape[2], kernel_size, s)
    out_w = pool_output_size(x.shape[3], kernel_size, s)
    return kernel_size, s, out_h, out_w


def max_pool2d_loops(x: np.ndarray, kernel_size: int, stride: int | None = None) -> np.ndarray:
    """Rung 1: a Python loop over every batch, channel and output cell.

    >>> max_pool2d_loops(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    k, s, out_h, out_w = _sizes(x, kernel_size, stride)
    out = np.empty((*x.shape[:2], out_h, out_w), dtype=x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(out_h):
                for j in range(out_w):
                    out[n, c, i, j] = x[n, c, i * s:i * s + k, j * s:j * s + k].max()
    return out


def max_pool2d_sliding(x: np.ndarray, kernel_size: int, stride: int | None = None) -> np.ndarray:
    """Rung 2: every window as a view ``(N, C, H', W', k, k)``, reduced over its last two axes.

    The view copies nothing, but the reduction runs over ``k x k`` windows: NumPy's inner
    loop is ``k`` elements long, and its overhead per loop dominates.

    >>> max_pool2d_sliding(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    k, s, out_h, out_w = _sizes(x, kernel_size, stride)
    windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    return windows.max(axis=(4, 5))


def max_pool2d_reshape(x: np.ndarray, kernel_size: int, stride: int | None = None) -> np.ndarray:
    """Rung 3: when windows tile the input exactly (``k == s``, ``k`` divides H and W),
    ``(N, C, H, W)`` *is* ``(N, C, H/k, k, W/k, k)``: one reshape, one max.

    Raises:
        ValueError: windows overlap or leave a remainder; the trick has no answer then.

    >>> max_pool2d_reshape(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    k, s, out_h, out_w = _sizes(x, kernel_size, stride)
    n, c, h, w = x.shape
    if s != k or h % k or w % k:
        raise ValueError(f"the reshape trick needs stride == kernel_size dividing H and W, got "
                         f"kernel_size={k}, stride={s}, input {h}x{w}")
    return x.reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))


def _offset_views(x: np.ndarray, kernel_size: int,
                  stride: int | None) -> list[np.ndarray]:
    """For each kernel offset ``(a, b)`` in row-major order, the strided view
    ``x[..., a::s, b::s]`` of the output's shape: the elements every window holds there."""
    k, s, out_h, out_w = _sizes(x, kernel_size, stride)
    return [x[:, :, a:a + (out_h - 1) * s + 1:s, b:b + (out_w - 1) * s + 1:s]
            for a in range(k) for b in range(k)]


def max_pool2d_shifted(x: np.ndarray, kernel_size: int, stride: int | None = None) -> np.ndarray:
    """Rung 4: for each of the ``k*k`` kernel offsets ``(a, b)``, the elements every window
    holds at that offset form one strided view ``x[..., a::s, b::s]`` of the output's shape;
    ``np.maximum`` folds the views in one at a time, so nothing bigger than the output is
    ever allocated.

    >>> max_pool2d_shifted(np.arange(16.0).reshape(1, 1, 4, 4), 3, 1)
    array([[[[10., 11.],
             [14., 15.]]]])
    """
    views = _offset_views(x, kernel_size, stride)
    out = views[0].copy()
    for view in views:
        np.maximum(out, view, out=out)
    return out


def max_pool2d_shifted_channels_last(x: np.ndarray, kernel_size: int,
                                     stride: int | None = None) -> np.ndarray:
    """Rung 4 on an ``(N, H, W, C)`` array, the layout torch calls ``channels_last``: the
    same ``k*k`` views, now over axes 1 and 2, so that NumPy's inner loop runs over the ``C``
    contiguous channels of one window position. Returns ``(N, H_out, W_out, C)``.

    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> max_pool2d_shifted_channels_last(x, 2)[..., 0]
    array([[[ 5.,  7.],
            [13., 15.]]])
    """
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be an (N, H, W, C) numpy array, got {getattr(x, 'shape', x)}")
    views = _offset_views(np.moveaxis(x, 3, 1), kernel_size, stride)  # (N, C, H', W') each
    n, c, out_h, out_w = views[0].shape
    out = np.empty((n, out_h, out_w, c), dtype=x.dtype)
    inner = np.moveaxis(out, 3, 1)  # the same memory, seen as (N, C, H', W')
    np.copyto(inner, views[0])
    for view in views[1:]:
        np.maximum(inner, view, out=inner)
    return out


def avg_pool2d_shifted(x: np.ndarray, kernel_size: int, stride: int | None = None) -> np.ndarray:
    """Rung 4 for sums: the same strided views added one offset at a time in row-major
    order, starting from zero (torch's order, so float results agree to the bit), then
    divided by ``k*k``.

    >>> avg_pool2d_shifted(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """
    views = _offset_views(x, kernel_size, stride)
    total = np.zeros(views[0].shape, x.dtype)
    for view in views:
        total += view
    return total / x.dtype.type(len(views))


def max_pool2d_backward_shifted(grad_output: np.ndarray, x: np.ndarray, kernel_size: int,
                                stride: int | None = None) -> np.ndarray:
    """The backward pass as an accumulation over the ``k*k`` shifted views.

    A first sweep over the offsets finds each window's winner (the first maximum in row-major
    order, torch's tie rule); a second sweep adds, for each offset, the gradients of the
    windows whose winner sits there into the strided view of the input gradient. Offsets run
    backwards so an element shared by windows receives their gradients in window order,
    as torch adds them. (NaN inputs are left to the package.)

    >>> x = np.array([[[[1.0, 4.0], [4.0, 2.0]]]])
    >>> max_pool2d_backward_shifted(np.ones((1, 1, 1, 1)), x, 2)
    array([[[[0., 1.],
             [0., 0.]]]])
    """
    k, s, out_h, out_w = _sizes(x, kernel_size, stride)

    def rows(a: int) -> slice:
        return slice(a, a + (out_h - 1) * s + 1, s)

    def cols(b: int) -> slice:
        return slice(b, b + (out_w - 1) * s + 1, s)

    best = x[:, :, rows(0), cols(0)].copy()
    winner = np.zeros(best.shape, dtype=np.int32)
    for a in range(k):
        for b in range(k):
            view = x[:, :, rows(a), cols(b)]
            better = view > best  # strictly: the first of equal maxima keeps the gradient
            np.maximum(best, view, out=best)
            winner[better] = a * k + b
    grad = np.zeros_like(x)
    for a in reversed(range(k)):
        for b in reversed(range(k)):
            target = grad[:, :, rows(a), cols(b)]
            target += np.where(winner == a * k + b, grad_output, 0)
    return grad


# --- measuring -------------------------------------------------------------------------------

def cpu_time(fn: Callable[[], object], repeats: int = 5) -> float:
    """Median CPU seconds of ``fn()`` over ``repeats`` calls, after one warm-up call.

    CPU time (``time.process_time``) rather than wall-clock time: on a shared machine the
    wall clock also counts the time other processes hold the core.
    """
    fn()
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times)


def paired_ratio(fn: Callable[[], object], other: Callable[[], object],
                 repeats: int = 9) -> float:
    """How many times ``other``'s CPU time ``fn`` takes: the median, over calls made
    alternately, of each call of ``fn`` over the call of ``other`` next to it.

    Two medians timed one after the other can each catch a different moment of a shared
    machine (a burst of load slows one and not the other); both calls of a pair see the same.
    """
    return statistics.median(paired_ratios(*side_by_side(fn, other, repeats)))


def maximum_throughput(n: int = 1 << 14, repeats: int = 200) -> float:
    """Element comparisons per second of ``np.maximum`` on float32 arrays that stay in the
    L1 cache: NumPy's arithmetic roof (memory plays no part), not the CPU's."""
    a = np.ones(n, dtype=np.float32)
    b = np.ones(n, dtype=np.float32)

    def many() -> None:
        for _ in range(repeats):
            np.maximum(a, b, out=a)

    return n * repeats / cpu_time(many, 3)


def _cpuinfo() -> tuple[set[str], float] | None:
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    if "flags" not in fields or "cpu MHz" not in fields:
        return None
    return set(fields["flags"].split()), float(fields["cpu MHz"]) * 1e6


def vector_ceiling() -> tuple[float, str] | None:
    """The CPU's float32 comparisons per second at one vector maximum per clock cycle: lanes
    of its widest vector unit (from ``/proc/cpuinfo``'s flags) times its clock, with a line
    saying how; ``None`` where ``/proc/cpuinfo`` does not tell."""
    info = _cpuinfo()
    if info is None:
        return None
    flags, hertz = info
    lanes, unit = next(((n, name) for name, n in (("avx512f", 16), ("avx", 8), ("sse", 4))
                        if name in flags), (1, "scalar"))
    return lanes * hertz, f"{lanes} float32 lanes ({unit}) × {hertz / 1e9:.1f} GHz"


def cache_sizes() -> dict[str, int]:
    """This CPU's data caches, e.g. ``{"L1d": 49152, "L2": 2097152, ...}`` in bytes (from
    ``/sys``; empty where it does not tell)."""
    sizes = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    for index in range(8):
        try:
            with open(f"{base}/index{index}/level") as f:
                level = f.read().strip()
            with open(f"{base}/index{index}/type") as f:
                kind = f.read().strip()
            with open(f"{base}/index{index}/size") as f:
                size = f.read().strip()
        except OSError:
            break
        if kind == "Instruction":
            continue
        name = f"L{level}" + ("d" if kind == "Data" else "")
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        sizes[name] = int(size.rstrip("KMG")) * units.get(size[-1], 1)
    return sizes


def bytes_moved(x: np.ndarray, out: np.ndarray) -> int:
    """The least memory traffic of a pooling call: read the input once, write the output."""
    return x.nbytes + out.nbytes


def roofline_figure(points: Mapping[str, tuple[float, float]],
                    memory_roofs: Mapping[str, float],
                    compute_roofs: Mapping[str, float]) -> plt.Figure:
    """A roofline: comparisons per second against arithmetic intensity (comparisons per byte
    moved). ``points`` maps a label to ``(intensity, comparisons per second)``; each memory
    roof (bytes per second) is the line ``intensity * bandwidth``, each compute roof
    (comparisons per second) a horizontal line."""
    grid = np.logspace(-2, 1, 100)
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 6.6), layout="constrained")
    for (label, bandwidth), style in zip(memory_roofs.items(), ["-", "--", "-.", ":"],
                                         strict=False):
        ax.loglog(grid, grid * bandwidth, color="0.3", ls=style, lw=1.5, label=label)
    for (label, throughput), color in zip(compute_roofs.items(), ["#8c564b", "#7f7f7f"],
                                          strict=False):
        ax.axhline(throughput, color=color, lw=1.5, label=label)
    markers = "os^vDP*Xh"
    for i, (label, (intensity, rate)) in enumerate(points.items()):
        ax.loglog([intensity], [rate], markers[i % len(markers)], ms=7, label=label)
    ax.set_xlabel("arithmetic intensity (comparisons per byte moved)")
    ax.set_ylabel("comparisons per second")
    ax.tick_params(labelsize=11)
    ax.xaxis.label.set_size(11)
    ax.yaxis.label.set_size(11)
    fig.legend(loc="outside lower left", frameon=False, fontsize=11)  # below: a phone's width
    return fig
