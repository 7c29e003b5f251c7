"""The graded tests of exercise 03_equivariance (marked ``graded``; they grade the notebook given
by ``--submission``, by default the reference solution). Every answer is compared with
:mod:`pooling_course.grading.expect`, so that a failure names the call, what came back, what
was expected and a hint keyed to the kind of mistake."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _torch_oracle import pascal_row, torch_blur

from pooling_course import equivariance as E
from pooling_course.grading import expect

EXERCISE = "03_equivariance"


def np_max_pool(x: np.ndarray, k: int) -> np.ndarray:
    """Non-overlapping max pooling of a 1-D signal whose length is a multiple of k."""
    return np.asarray(x, dtype=float).reshape(-1, k).max(axis=1)


def torch_avg_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    return F.avg_pool1d(torch.from_numpy(np.asarray(x, float))[None], k, s)[0].numpy()


SHIFT_HINTS = {
    "sign": "(T_d x)[n] = x[(n - d) mod L]: content moves right (to larger n) for positive d.",
    "values": "(T_d x)[n] = x[(n - d) mod L]: content moves right for positive d; np.roll(x, d) "
              "does exactly this.",
    "dtype": "Keep x's dtype: a shift only moves values (np.roll keeps it).",
}


def check_shift(submission, x: np.ndarray, delta: int) -> None:
    kept = x.copy()
    got = submission.shift(x, delta)
    hints = {**SHIFT_HINTS, "off_by_one": SHIFT_HINTS["values"]}
    if isinstance(got, np.ndarray) and got.shape == x.shape and np.array_equal(
            np.sort(got, axis=None), np.sort(kept, axis=None)):
        hints["values"] = hints["off_by_one"] = (
            "The values are all there but not where they should be: take the shift modulo the "
            "length, so shifts beyond L and negative shifts wrap around.")
    call = f"shift({kept.tolist() if x.size <= 8 else f'<{x.size} samples>'}, {delta})"
    expect.array(got, E.shift(kept, delta), call, hints, dtype=False, mistakes=[
        (np.roll(kept, -delta), "Shifted the wrong way: for positive d the content moves "
                                "right, (T_d x)[n] = x[(n - d) mod L].")])
    expect.that(np.array_equal(x, kept), "values", f"{call} changed its input x",
                {"values": "Return a new array (np.roll does); never modify x in place."})


@pytest.mark.graded(EXERCISE, points=1, question="3.1 shift",
                    hint="(T_d x)[n] = x[(n - d) mod L]: content moves right for positive d.")
def test_shift_on_the_teaching_example(submission):
    check_shift(submission, np.array([0, 0, 1, 1, 0, 0, 1, 1]), 1)
    check_shift(submission, np.arange(5), -2)


@pytest.mark.graded(EXERCISE, points=1, question="3.1 shift",
                    hint="Use the remainder modulo the length, so large and negative shifts wrap.")
def test_shift_matches_the_package_on_random_signals(submission, rng):
    for _ in range(20):
        n = int(rng.integers(1, 15))
        x = rng.normal(size=n)
        delta = int(rng.integers(-3 * n, 3 * n + 1))
        check_shift(submission, x, delta)


CHANGE_HINTS = {
    "nan": "0/0 gave NaN: when y equals a zero reference the change is 0.0; handle a zero "
           "reference before dividing.",
    "values": "Divide the norm of the difference by the norm of the reference: "
              "||y - reference|| / ||reference||.",
    "no_error": "Arrays of different shapes cannot be compared: check y.shape against "
                "reference.shape first and raise ValueError naming both.",
    "wrong_error": "Check the shapes before computing and raise ValueError naming both "
                   "(NumPy's own broadcasting error is not the ValueError asked for).",
}


@pytest.mark.graded(EXERCISE, points=1, question="3.2 change",
                    hint="Divide the norm of the difference by the norm of the reference.")
def test_change_is_the_normalised_euclidean_distance(submission, rng):
    hints = CHANGE_HINTS
    expect.number(submission.change(np.array([1.0, 1, 1, 1]), np.array([0.0, 1, 0, 1])), 1.0,
                  "change([1, 1, 1, 1], [0, 1, 0, 1])", hints)
    expect.number(submission.change(np.zeros(3), np.zeros(3)), 0.0,
                  "change(zeros(3), zeros(3))", hints)
    expect.number(submission.change(np.ones(3), np.zeros(3)), np.inf,
                  "change(ones(3), zeros(3))", {**hints, "nan": "a nonzero change of a zero "
                                                "reference is inf, not NaN"})
    for _ in range(10):
        y, ref = rng.normal(size=(2, 3, 4))
        expect.number(submission.change(y, ref), E.normalized_change(y, ref),
                      f"change(y, reference) on shape {y.shape}", hints, rtol=1e-6)
    for y, ref in [(np.zeros(3), np.zeros(4)), (np.ones((2, 3)), np.ones(3))]:
        expect.raises(lambda y=y, ref=ref: submission.change(y, ref),
                      f"change(<shape {y.shape}>, <shape {ref.shape}>)", hints)


EQ_HINTS = {
    "nan": "NaN: the change of a zero reference must be handled (use your change).",
    "sign": "The error is a distance: never negative.",
    "values": "Compare pool(shift(x, delta)) with shift(pool(x), delta // stride) using your "
              "change: the output moves by delta // stride cells, in the same direction.",
}


@pytest.mark.graded(EXERCISE, points=1, question="3.3 equivariance_error",
                    hint="Compare pool(shift(x, delta)) with shift(pool(x), delta // stride).")
def test_equivariance_error_is_zero_for_shifts_by_the_stride(submission, rng):
    for k in (2, 3, 4):
        x = rng.normal(size=4 * k)
        for m in (-2, 1, 3):
            y, y_shifted = np_max_pool(x, k), np_max_pool(np.roll(x, m * k), k)
            expect.number(submission.equivariance_error(y, y_shifted, m * k, k), 0.0,
                          f"equivariance_error(y, y_shifted, {m * k}, {k}) where y_shifted "
                          f"is y moved by {m} cells", EQ_HINTS, atol=1e-12)


@pytest.mark.graded(EXERCISE, points=1, question="3.3 equivariance_error",
                    hint="Use your shift and change; the output moves by delta // stride cells.")
def test_equivariance_error_measures_overlapping_pools(submission, rng):
    # Average pooling with k=3, s=2 on a signal of 11 samples: the windows do not wrap, so a
    # circular shift by the stride changes the last output cell; torch computes both sides.
    for _ in range(5):
        x = rng.normal(size=11)
        y, y_shifted = torch_avg_pool(x, 3, 2), torch_avg_pool(np.roll(x, 2), 3, 2)
        want = E.normalized_change(y_shifted, np.roll(y, 1))
        assert want > 0  # the test can fail: the pools are not equivariant here
        expect.number(submission.equivariance_error(y, y_shifted, 2, 2), want,
                      "equivariance_error(y, y_shifted, 2, 2) of an average pool (k=3, s=2)",
                      EQ_HINTS)


@pytest.mark.graded(EXERCISE, points=1, question="3.3 equivariance_error",
                    hint="No whole number of output cells matches a shift between strides.")
def test_equivariance_error_rejects_shifts_between_strides(submission):
    x = np.arange(8.0)
    y, y_shifted = np_max_pool(x, 2), np_max_pool(np.roll(x, 1), 2)
    expect.raises(lambda: submission.equivariance_error(y, y_shifted, 1, 2),
                  "equivariance_error(y, y_shifted, 1, 2)",
                  {"no_error": "delta = 1 is not a multiple of stride = 2: no whole number of "
                               "output cells matches it; raise ValueError."})


@pytest.mark.graded(EXERCISE, points=1, question="3.4 binomial_filter",
                    hint="Row filter_size - 1 of Pascal's triangle, divided by its sum.")
def test_binomial_filter_is_pascals_row(submission):
    hints = {"off_by_one": "binomial_filter(f) has f taps: row f - 1 of Pascal's triangle.",
             "values": "Row filter_size - 1 of Pascal's triangle (math.comb(f - 1, i)), divided "
                       "by its sum so the taps sum to 1."}
    for f in range(1, 8):
        expect.array(submission.binomial_filter(f), pascal_row(f), f"binomial_filter({f})",
                     hints, dtype=False, atol=1e-12)


BLUR_HINTS = {
    "off_by_one": "ceil(L / stride) outputs: pad (f-1)//2 before and f//2 after, then output i "
                  "starts at i * stride in the padded signal.",
    "shape": "Return a 1-D array of ceil(L / stride) outputs.",
    "values": "Pad (f-1)//2 before and f//2 after with np.pad(mode='reflect'), convolve with "
              "binomial_filter(f), keep every stride-th output starting at 0.",
}


def zero_padded(got: object, x: np.ndarray, f: int, s: int) -> bool:
    """Whether the answer is what zero padding instead of reflection would give."""
    if not isinstance(got, np.ndarray) or f < 2:
        return False
    padded = np.pad(x, ((f - 1) // 2, f // 2))
    full = np.convolve(padded, pascal_row(f), mode="valid")[::s]
    return full.shape == got.shape and np.allclose(full, got, atol=1e-10)


def check_blur(submission, x: np.ndarray, f: int, s: int) -> None:
    want = torch_blur(x[None], f, s, ndim=1)[0]
    got = submission.blur_pool1d(x, filter_size=f, stride=s)
    hints = dict(BLUR_HINTS)
    if zero_padded(got, x, f, s):
        hints["values"] = "Pad by reflection (np.pad(..., mode='reflect')), not with zeros."
    shown = x.tolist() if x.size <= 8 else f"<{x.size} samples>"
    expect.array(got, want, f"blur_pool1d({shown}, filter_size={f}, stride={s})", hints,
                 dtype=False, atol=1e-10)


@pytest.mark.graded(EXERCISE, points=1, question="3.4 blur_pool1d",
                    hint="Pad (f-1)//2 before and f//2 after with np.pad(mode='reflect').")
def test_blur_pool1d_on_zhangs_signal(submission):
    x = np.array([0.0, 0, 8, 8, 0, 0, 8, 8])
    for f in (3, 4):
        check_blur(submission, x, f, 2)


@pytest.mark.graded(EXERCISE, points=2, question="3.4 blur_pool1d",
                    hint="Output i starts at i * stride in the padded signal; ceil(L/s) outputs.")
def test_blur_pool1d_matches_torch_for_every_filter_size_and_stride(submission, rng):
    for f, s in itertools.product(range(1, 8), (1, 2, 3)):
        n = int(rng.integers(f // 2 + 1, 16))
        x = rng.normal(size=n)
        np.testing.assert_allclose(torch_blur(x[None], f, s, ndim=1)[0],
                                   E.blur_pool1d(x[None], f, s)[0], atol=1e-10)  # two oracles
        check_blur(submission, x, f, s)


@pytest.mark.graded(EXERCISE, points=1, question="3.4 blur_pool1d",
                    hint="Raise ValueError for filter_size outside 1..7 or padding >= len(x).")
def test_blur_pool1d_rejects_what_the_reference_rejects(submission):
    expect.raises(lambda: submission.blur_pool1d(np.zeros(3), filter_size=7),
                  "blur_pool1d(zeros(3), filter_size=7)",
                  {"no_error": "Reflection needs padding < len(x): filter_size 7 pads 3, and a "
                               "3-sample signal cannot reflect 3; raise ValueError.",
                   "wrong_error": "Check padding < len(x) before np.pad fails on its own, and "
                                  "raise ValueError saying so."})
    expect.raises(lambda: submission.blur_pool1d(np.zeros(9), filter_size=8),
                  "blur_pool1d(zeros(9), filter_size=8)",
                  {"no_error": "Only filter sizes 1..7 are defined: raise ValueError for 8.",
                   "wrong_error": "Check 1 <= filter_size <= 7 first and raise ValueError."})
