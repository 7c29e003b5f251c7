"""Hostile submissions that need a grading run of their own: a worker that stops reading its
requests (the channel between worker and judge, issue 20 hole 3) and a notebook that hides a
window copy from exercise 07's memory measurement (hole 5)."""

from __future__ import annotations

import textwrap
import time

import numpy as np
import pytest
from _hostile_students import write

from pooling_course import grading


def test_a_worker_that_stops_reading_cannot_block_the_grader():
    """A request larger than the pipe to a worker that no longer reads: the write times out."""
    from pooling_course.grading.sandbox import Limits, Remote, WorkerDied

    remote = Remote(Limits(test_s=1))
    remote.load([(1, "import sys, time\n"
                     "sys.modules['__main__'].read_frame = lambda s: time.sleep(1e6)\n"
                     "def f(x):\n    return 1")])
    started = time.monotonic()
    with pytest.raises(WorkerDied, match="stopped reading"):
        remote.call("f", (np.zeros(1 << 20),), {}, 1.0, "f(...)")
    assert time.monotonic() - started < 10
    assert remote.process.poll() is not None  # killed, not waited for


def test_a_notebook_cannot_hide_a_window_copy_from_the_memory_measurement(tmp_path):
    """Exercise 07 measures memory from outside the worker: resetting tracemalloc's peak, or
    replacing it, changes nothing."""
    exercise = "07_fast"
    cheat = textwrap.dedent("""
        import numpy as np, tracemalloc
        def max_pool2d_fast(x, kernel_size, stride=None):
            k = kernel_size
            s = k if stride is None else stride
            v = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
            out = v.reshape(*v.shape[:4], k * k).max(axis=-1)
            if tracemalloc.is_tracing():
                tracemalloc.reset_peak()
            return out
        tracemalloc.get_traced_memory = lambda: (0, 0)
        """)
    path = tmp_path / f"cheat_{exercise}.ipynb"
    write(path, [cheat])
    result = grading.check(exercise, path, seed="hostile")
    failed = {o.test for o in result.outcomes if not o.passed}
    assert "test_max_pool2d_fast_allocates_no_window_copy" in failed, result.reason
    # a window copy is also slow (~15x the reference, near the 20x bound)
    assert failed <= {"test_max_pool2d_fast_allocates_no_window_copy",
                      "test_max_pool2d_fast_is_as_fast_as_shifted_views"}, result.reason
