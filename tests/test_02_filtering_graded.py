"""The graded tests of exercise 02_filtering (marked ``graded``; they grade the notebook given
by ``--submission``, by default the reference solution), compared with torch, SciPy and NumPy's
FFT through :mod:`pooling_course.grading.expect`, with hints keyed to the failure found."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndimage
from test_02_filtering import fft_response, torch_avg, torch_max

from pooling_course.grading import expect

EXERCISE = "02_filtering"


def _array(value: object, want: np.ndarray, what: str, hints: dict[str, str] | None = None,
           atol: float = 1e-9) -> np.ndarray:
    """The answer (an array, or a list of numbers) compared with ``want``."""
    return expect.array(value, want, what, hints, dtype=False, atol=atol, lists=True)


def _call(name: str, x: np.ndarray, *args: object) -> str:
    rest = "".join(f", {a!r}" for a in args)
    return f"{name}(<{x.size} samples>{rest})" if x.size > 8 else f"{name}({x.tolist()}{rest})"


BOX_HINTS = {
    "nan": "0/0 at omega = 0 (and every multiple of 2*pi): the gain there is 1; use the "
           "closed form only where sin(omega/2) is not 0.",
    "sign": "Return the magnitude |H| (np.abs), not the signed ratio.",
    "values": "|H(omega)| = |sin(K*omega/2) / (K*sin(omega/2))|, and 1 where sin(omega/2) = 0.",
}


@pytest.mark.graded(EXERCISE, points=1, question="2.1 box_response",
                    hint="Use the closed form where sin(omega/2) is not 0 and 1 where it is.")
def test_box_response_equals_the_fft_of_the_taps(submission, rng):
    for k in [2, 3, 8, *rng.integers(1, 20, size=3).tolist()]:
        omega, h = fft_response(int(k), 256)
        got = submission.box_response(omega, int(k))
        negative = isinstance(got, np.ndarray) and got.dtype.kind == "f" and np.any(got < 0)
        _array(got, np.abs(h),
               f"box_response(<256 frequencies in [0, 2*pi)>, {k}) against |FFT| of the taps",
               {**BOX_HINTS, "values": BOX_HINTS["sign" if negative else "values"]})


@pytest.mark.graded(EXERCISE, points=1, question="2.1 box_response",
                    hint="At omega = 0 and every multiple of 2*pi the gain is 1; "
                         "at 2*pi*m/K (not a multiple of 2*pi) it is 0.")
def test_box_response_at_zero_and_its_zeros(submission, rng):
    for k in [1, 2, 5, int(rng.integers(3, 12))]:
        at = np.array([0.0, 2 * np.pi, -2 * np.pi, 4 * np.pi])
        _array(submission.box_response(at, k), np.ones(4),
               f"box_response([0, 2*pi, -2*pi, 4*pi], {k})", BOX_HINTS)
        if k > 1:
            zeros = 2 * np.pi * np.arange(1, k) / k
            _array(submission.box_response(zeros, k), np.zeros(k - 1),
                   f"box_response(2*pi*m/{k} for m = 1..{k - 1}, {k})",
                   {**BOX_HINTS, "values": "At omega = 2*pi*m/K the box's K taps cancel: "
                                           "the gain is 0 (sin(K*omega/2) = 0)."})


CONV_HINTS = {
    "off_by_one": "mode='valid' gives len(x) - kernel_size + 1 averages; keep every stride-th "
                  "of them starting at the first ([::stride]).",
    "shape": "np.convolve(x, box, mode='valid')[::stride]; stride=None means kernel_size.",
    "values": "The box is np.ones(kernel_size) / kernel_size (it sums to 1), and the result is "
              "subsampled with [::stride] starting at 0.",
}


@pytest.mark.graded(EXERCISE, points=2, question="2.2 avg_pool_as_convolution",
                    hint="np.convolve(x, box, mode='valid') then [::stride]; "
                         "stride defaults to kernel_size.")
def test_avg_pool_as_convolution_equals_torch(submission, rng):
    cases = [(np.arange(6.0), 2, None), (np.array([1, 0, 1, 0, 1, 0, 1, 0.0]), 3, 1)]
    cases += [(rng.normal(size=int(rng.integers(8, 40))), int(rng.integers(1, 6)),
               int(rng.integers(1, 5))) for _ in range(6)]
    for x, k, s in cases:
        want = torch_avg(x, k, s or k)
        got = (submission.avg_pool_as_convolution(x, k, s) if s else
               submission.avg_pool_as_convolution(x, k))
        call = _call("avg_pool_as_convolution", x, k, *([s] if s else []))
        _array(got, want, call, CONV_HINTS)


ALIAS_HINT = "Take stride * omega modulo 2*pi, then reflect values above pi to 2*pi minus them."


@pytest.mark.graded(EXERCISE, points=2, question="2.3 alias_frequency", hint=ALIAS_HINT)
def test_alias_frequency_gives_the_same_samples(submission, rng):
    omega = np.concatenate([np.pi * np.array([0.1, 0.4, 0.6, 0.9]), rng.uniform(0, np.pi, 8)])
    m = np.arange(50)
    for s in (2, 3, int(rng.integers(4, 9))):
        alias = np.abs((omega * s + np.pi) % (2 * np.pi) - np.pi)
        got = submission.alias_frequency(omega, s)
        call = f"alias_frequency(<{omega.size} frequencies in [0, pi]>, {s})"
        if not isinstance(got, np.ndarray) or got.shape != omega.shape:  # type, shape first
            got = expect.array(got, alias, call, {"shape": "Return one alias per frequency."},
                               dtype=False, atol=1e-6, lists=True)
        for w, a, want in zip(omega, got, alias, strict=True):
            # The defining property: the subsampled cosine is a cosine at the alias frequency.
            if not 0 <= a <= np.pi + 1e-12:
                expect.fail("values", f"alias_frequency(omega={w:.4f}, stride={s}) returned "
                            f"{a:.4f}, outside [0, pi]; expected {want:.4f}",
                            {"values": "Reflect: an alias above pi is 2*pi minus it; one "
                                       "below 0 is its negative."})
            if not np.allclose(np.cos(w * s * m), np.cos(a * m), atol=1e-6):
                expect.fail("values", f"alias_frequency(omega={w:.4f}, stride={s}) returned "
                            f"{a:.4f}; expected {want:.4f}. (Compared: not the frequencies "
                            f"but the samples cos(a*m) with the subsampled cosine "
                            f"cos(omega*stride*m), m = 0..49: they differ.)",
                            {"values": ALIAS_HINT})


DILATION_HINTS = {
    "off_by_one": "There are len(x) - size + 1 positions where the whole element fits: "
                  "n = 0 .. len(x) - size, inclusive.",
    "values": "out[n] = x[n:n + size].max(): the window starts at n (it is not centred).",
}


@pytest.mark.graded(EXERCISE, points=1, question="2.4 grey_dilation1d",
                    hint="out[n] = x[n:n + size].max() for n = 0 .. len(x) - size.")
def test_grey_dilation_equals_scipy_where_the_element_fits(submission, rng):
    for size in (1, 2, 3, int(rng.integers(4, 7))):
        x = rng.integers(-5, 6, size=20).astype(float)
        want = ndimage.grey_dilation(x, size=size)[(size - 1) // 2:][:len(x) - size + 1]
        _array(submission.grey_dilation1d(x, size), want,
               f"grey_dilation1d({x.astype(int).tolist()}, {size})", DILATION_HINTS, atol=0)


@pytest.mark.graded(EXERCISE, points=2, question="2.4 max_pool_via_dilation",
                    hint="Keep every stride-th sample of grey_dilation1d(x, kernel_size); "
                         "stride defaults to kernel_size.")
def test_max_pool_via_dilation_equals_torch(submission, rng):
    x_b = np.array([3, 1, 2, 2, 3, 1, 2, 2], dtype=float)
    cases = [(x_b, 2, None), (x_b, 3, 1)]
    cases += [(rng.normal(size=int(rng.integers(8, 30))), int(rng.integers(1, 6)),
               int(rng.integers(1, 4))) for _ in range(6)]
    hints = {"off_by_one": "Keep every stride-th sample of grey_dilation1d(x, kernel_size), "
                           "starting at 0: [::stride].",
             "values": "Use grey_dilation1d(x, kernel_size)[::stride]; stride=None means "
                       "kernel_size."}
    for x, k, s in cases:
        want = torch_max(x, k, s or k)
        got = (submission.max_pool_via_dilation(x, k, s) if s else
               submission.max_pool_via_dilation(x, k))
        _array(got, want, _call("max_pool_via_dilation", x, k, *([s] if s else [])), hints,
               atol=0)


@pytest.mark.graded(EXERCISE, points=1, question="2.5 dft_at_pi",
                    hint="Sum y[n] with sign + for even n and - for odd n.")
def test_dft_at_pi_equals_the_fft_component(submission, rng):
    x_a = np.array([1, 0, 1, 0, 1, 0, 1, 0], dtype=float)
    hints = {"sign": "The sign alternates starting with + at n = 0: sum((-1)**n * y[n]).",
             "values": "Y(pi) = sum over n of y[n] * (-1)**n: + for even n, - for odd n."}
    for y in [torch_avg(x_a, 3, 1), torch_max(x_a, 3, 1), rng.normal(size=10),
              rng.normal(size=2 * int(rng.integers(2, 20)))]:
        got = submission.dft_at_pi(y)
        if isinstance(got, complex | np.complexfloating):
            got = got.real
        expect.number(got, float(np.fft.fft(y)[len(y) // 2].real),
                      _call("dft_at_pi", np.asarray(y)) + " against np.fft.fft(y)[len(y)//2]",
                      hints, rtol=0, atol=1e-9)


MAX_NORMAL_HINTS = {
    "nan": "NaN: an integrand evaluated at +-inf gives inf*0; integrate over [-12, 12].",
    "sign": "The mean of the maximum is positive for n >= 2: integrate x times the density.",
    "values": "E[max] = integral of x * n * phi(x) * Phi(x)**(n - 1) dx, on a fine grid over "
              "[-12, 12].",
}


@pytest.mark.graded(EXERCISE, points=1, question="2.6 expected_max_of_normals",
                    hint="Integrate x * n * phi(x) * Phi(x)**(n - 1) over [-12, 12] on a fine "
                         "grid; Phi(x) = (1 + math.erf(x / sqrt(2))) / 2.")
def test_expected_max_of_normals_in_closed_form(submission):
    # Closed forms: E_1 = 0, E_2 = 1/sqrt(pi), E_3 = 3 / (2 sqrt(pi)); E_4 = 1.02938 (tables).
    for n, want in [(1, 0.0), (2, 1 / np.sqrt(np.pi)), (3, 1.5 / np.sqrt(np.pi)),
                    (4, 1.029375)]:
        expect.number(submission.expected_max_of_normals(n), want,
                      f"expected_max_of_normals({n})", MAX_NORMAL_HINTS, rtol=0, atol=1e-4)


@pytest.mark.graded(EXERCISE, points=1, question="2.6 expected_max_of_normals",
                    hint="The density of the maximum of n samples is n * phi(x) * "
                         "Phi(x)**(n - 1); its mean is the integral of x times it.")
def test_expected_max_of_normals_equals_scipy_integration(submission, rng):
    from scipy import integrate, stats

    for n in [9, 16, *rng.integers(5, 60, size=3).tolist()]:
        def density(x: float, n: int = int(n)) -> float:
            return x * n * stats.norm.pdf(x) * stats.norm.cdf(x) ** (n - 1)
        want = integrate.quad(density, -np.inf, np.inf)[0]
        expect.number(submission.expected_max_of_normals(int(n)), want,
                      f"expected_max_of_normals({n}) against scipy's integration",
                      MAX_NORMAL_HINTS, rtol=0, atol=1e-4)
