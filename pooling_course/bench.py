"""``python -m pooling_course bench``: the package's pooling kernels against PyTorch's.

Every case runs ours and torch's side by side in one process, alternating, on one thread
each (``torch.set_num_threads(1)``; NumPy's pooling is single-threaded), and reports medians
of the CPU time each call takes (``time.process_time``: on a shared machine, wall-clock time
also counts the time other processes hold the core).
Speed is measured here and never asserted in a test: timings depend on the machine and on
whatever else runs on it, ratios measured in the same run much less.

Columns: the case, our time and torch's, their ratio (below 1: we are faster) with the
spread of that ratio, the target the ratio should meet and whether it does, the bandwidth
we achieved (bytes read and written once, over our time), NumPy's copy bandwidth when it
moves the same number of bytes (measured in the same run: a copy of a few MiB runs from the
cache, one of tens of MiB from memory, and the roof differs), our fraction of that roof,
and the peak of our temporary memory (what ``tracemalloc`` sees beyond the result) as a
multiple of the output's size.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from . import functional as PF


@dataclass(frozen=True)
class Case:
    """One benchmark: an op (``max``/``avg``), input shape (NCHW-style) and window."""

    op: str
    shape: tuple[int, ...]
    kernel_size: int
    stride: int
    padding: int = 0
    backward: bool = False

    @property
    def ndim(self) -> int:
        return len(self.shape) - 2

    @property
    def name(self) -> str:
        return f"{self.op}_pool{self.ndim}d" + ("_backward" if self.backward else "")

    @property
    def params(self) -> str:
        return f"k{self.kernel_size} s{self.stride}" + (f" p{self.padding}" if self.padding
                                                         else "")

    def kwargs(self) -> dict:
        return {"kernel_size": self.kernel_size, "stride": self.stride,
                "padding": self.padding}


_FULL = [  # the shapes: ResNet and AlexNet pooling layers, a 1d and a 3d case
    ("max", (32, 64, 56, 56), 2, 2, 0),
    ("max", (32, 64, 56, 56), 3, 2, 1),
    ("max", (16, 96, 27, 27), 3, 2, 0),
    ("avg", (32, 64, 56, 56), 3, 2, 1),
    ("avg", (16, 96, 27, 27), 3, 2, 0),
    ("avg", (32, 64, 56, 56), 2, 2, 0),
    ("max", (32, 256, 1024), 3, 2, 0),
    ("avg", (32, 256, 1024), 3, 2, 0),
    ("max", (4, 32, 16, 56, 56), 2, 2, 0),
    ("avg", (4, 32, 16, 56, 56), 2, 2, 0),
]
_QUICK = [  # the same kinds of case at a size that runs in seconds
    ("max", (2, 16, 28, 28), 2, 2, 0),
    ("max", (2, 16, 28, 28), 3, 2, 1),
    ("avg", (2, 16, 28, 28), 3, 2, 1),
    ("max", (2, 16, 256), 3, 2, 0),
    ("avg", (1, 8, 8, 14, 14), 2, 2, 0),
]


def cases(quick: bool = False) -> list[Case]:
    """Forward and backward of every benchmark shape."""
    table = _QUICK if quick else _FULL
    return [Case(op, shape, k, s, p, backward)
            for backward in (False, True) for op, shape, k, s, p in table]


# The targets, as ours/torch: 2-d forward in float32 at most half of torch's time; every
# other row (our backward against torch's forward plus backward) at most torch's time.
FAST_TARGET, TARGET = 0.5, 1.0
# Enough pairs that one slow moment of a shared machine moves no median.
DEFAULT_REPEATS = 11


@dataclass
class Row:
    case: Case
    dtype: str
    ours: float
    torch: float
    nbytes: int
    copy_bandwidth: float
    peak: float
    ratios: Sequence[float]

    @property
    def ratio(self) -> float:
        """The median of the paired ratios (each call of ours over the call of torch's next
        to it): a machine that slows down for a while slows both calls of a pair."""
        return statistics.median(self.ratios)

    @property
    def spread(self) -> tuple[float, float]:
        """The lower and upper quartile of the paired ratios."""
        if len(self.ratios) < 2:
            return self.ratio, self.ratio
        low, _, high = statistics.quantiles(self.ratios, n=4, method="inclusive")
        return low, high

    @property
    def target(self) -> float:
        fast = self.case.ndim == 2 and not self.case.backward and self.dtype == "float32"
        return FAST_TARGET if fast else TARGET

    @property
    def bandwidth(self) -> float:
        return self.nbytes / self.ours

    def cells(self) -> list[str]:
        return [self.case.name, "×".join(map(str, self.case.shape)), self.case.params,
                self.dtype, f"{self.ours * 1e3:.1f}", f"{self.torch * 1e3:.1f}",
                f"{self.ratio:.2f}", "{:.2f}–{:.2f}".format(*self.spread),
                f"≤ {self.target:g} " + ("met" if self.ratio <= self.target else "missed"),
                f"{self.bandwidth / 1e9:.1f}", f"{self.copy_bandwidth / 1e9:.1f}",
                f"{100 * self.bandwidth / self.copy_bandwidth:.0f}%", f"{self.peak:.2f}"]


HEADER = ["op", "shape", "params", "dtype", "ours ms", "torch ms", "ours/torch", "quartiles",
          "target", "GB/s", "copy GB/s", "of copy", "peak temp / result"]


def side_by_side(ours: Callable[[], object], theirs: Callable[[], object],
                 repeats: int) -> tuple[list[float], list[float]]:
    """CPU seconds of ``ours()`` and ``theirs()``, called alternately ``repeats`` times each
    after one warm-up call, so that both see the same state of a busy machine."""
    ours()
    theirs()
    a, b = [], []
    for _ in range(repeats):
        t = time.process_time()
        ours()
        a.append(time.process_time() - t)
        t = time.process_time()
        theirs()
        b.append(time.process_time() - t)
    return a, b


def paired_ratios(mine: Sequence[float], theirs: Sequence[float]) -> list[float]:
    """Each time in ``mine`` over the time in ``theirs`` of the call next to it (the two
    lists :func:`side_by_side` returns)."""
    return [m / max(t, 1e-9) for m, t in zip(mine, theirs, strict=True)]


@functools.cache
def copy_bandwidth(moved: int, repeats: int = 7) -> float:
    """Bytes per second NumPy moves in an ``np.copyto`` that reads and writes ``moved`` bytes
    in all: the ceiling for a kernel moving as many bytes (a working set that fits the cache
    is copied several times faster than one that does not). Small copies are timed in
    batches of at least 16 MiB moved, so that the clock's resolution does not count."""
    src = np.ones(max(moved // 16, 1), dtype=np.float64)
    dst = np.empty_like(src)
    batch = max(1, (16 << 20) // (2 * src.nbytes))
    times = []
    for _ in range(repeats + 1):
        t = time.process_time()
        for _ in range(batch):
            np.copyto(dst, src)
        times.append(time.process_time() - t)
    return 2 * src.nbytes * batch / max(statistics.median(times[1:]), 1e-9)


def peak_temporary(fn: Callable[[], np.ndarray | tuple[np.ndarray, ...]]) -> int:
    """Bytes ``fn()`` allocates at its peak beyond its result, an array or a tuple of arrays
    such as values and indices (``tracemalloc`` sees NumPy's array buffers). The scratch
    buffers the package's kernels keep between calls are released first, so that they
    count as what a call needs."""
    PF.release_scratch()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    arrays = result if isinstance(result, tuple) else (result,)
    return max(peak - sum(a.nbytes for a in arrays), 0)


def run_case(case: Case, dtype: type, repeats: int, rng: np.random.Generator) -> Row:
    import torch
    import torch.nn.functional as F

    x = rng.standard_normal(case.shape).astype(dtype)
    kwargs = case.kwargs()
    forward = getattr(PF, f"{case.op}_pool{case.ndim}d")
    torch_forward = getattr(F, f"{case.op}_pool{case.ndim}d")
    xt = torch.from_numpy(x)
    out = forward(x, **kwargs)
    if case.backward:
        g = rng.standard_normal(out.shape).astype(dtype)
        gt = torch.from_numpy(g)
        backward = getattr(PF, case.name)

        def ours() -> np.ndarray:
            return backward(g, x, **kwargs)

        def theirs() -> None:
            xg = xt.detach().requires_grad_()
            torch_forward(xg, **kwargs).backward(gt)

        nbytes = 2 * x.nbytes + g.nbytes  # read the input and the gradient, write the result
    else:
        def ours() -> np.ndarray:
            return forward(x, **kwargs)

        def theirs() -> None:
            with torch.no_grad():
                torch_forward(xt, **kwargs)

        nbytes = x.nbytes + out.nbytes
    mine, torchs = side_by_side(ours, theirs, repeats)
    peak = peak_temporary(ours) / ours().nbytes  # as a multiple of the output's size
    return Row(case, np.dtype(dtype).name, statistics.median(mine), statistics.median(torchs),
               nbytes, copy_bandwidth(nbytes), peak,
               paired_ratios(mine, torchs))


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table of the rows."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def _progress(done: int, total: int, label: str, stream: TextIO) -> None:
    width = 24
    filled = width * done // total
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<40}")
    if done == total:
        stream.write("\n")
    stream.flush()


def run(quick: bool = False, repeats: int | None = None,
        dtypes: Sequence[str] = ("float32", "float64"), progress: TextIO | None = None,
        ) -> list[Row]:
    """Measure every case."""
    import torch

    torch.set_num_threads(1)
    repeats = repeats or (3 if quick else DEFAULT_REPEATS)
    rng = np.random.default_rng(0)
    todo = [(case, dtype) for case in cases(quick) for dtype in dtypes]
    rows = []
    for i, (case, dtype) in enumerate(todo):
        if progress:
            _progress(i, len(todo), f"{case.name} {case.params} {dtype}", progress)
        rows.append(run_case(case, np.dtype(dtype).type, repeats, rng))
    if progress:
        _progress(len(todo), len(todo), "done", progress)
    return rows


def machine() -> str:
    """One line about where the numbers come from."""
    import os
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, NumPy {np.__version__}, torch {torch.__version__}"
            f" (1 thread), Python {platform.python_version()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pooling_course bench",
                                     description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return command(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="small shapes, float32, 3 repeats: a smoke test in seconds")
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed calls of each side per case (default {DEFAULT_REPEATS}, "
                        "--quick 3)")
    parser.add_argument("--dtype", action="append", choices=["float32", "float64"],
                        help="dtype to measure (repeatable; default both, --quick float32)")


def command(args: argparse.Namespace) -> int:
    dtypes = args.dtype or (["float32"] if args.quick else ["float32", "float64"])
    if args.repeats is not None and args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1, got {args.repeats}")
    rows = run(args.quick, args.repeats, dtypes, progress=sys.stderr)
    print(machine())
    print(f"Medians of {args.repeats or (3 if args.quick else DEFAULT_REPEATS)} alternating "
          "calls; ours/torch is the median of the ratios of neighbouring calls; copy GB/s is "
          "NumPy's copy bandwidth (read + write) moving the same bytes as the row\n")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
