"""Chapter 2, filtering: the box filter, aliasing and dilation in ``pooling_course.filtering``
against PyTorch, SciPy and NumPy's FFT, the chapter's figures, and the graded tests of
exercise 02_filtering (marked ``graded``; they grade the notebook given by ``--submission``,
by default the reference solution)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import scipy.ndimage as ndimage
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from pooling_course import filtering
from pooling_course.grading import expect
from pooling_course.widgets import COLUMN_PX, state_html, to_html

matplotlib.use("Agg")

EXERCISE = "02_filtering"


def torch_avg(x: np.ndarray, k: int, s: int) -> np.ndarray:
    return F.avg_pool1d(torch.from_numpy(np.asarray(x, dtype=np.float64))[None], k, s)[0].numpy()


def torch_max(x: np.ndarray, k: int, s: int) -> np.ndarray:
    return F.max_pool1d(torch.from_numpy(np.asarray(x, dtype=np.float64))[None], k, s)[0].numpy()


def fft_response(k: int, n_fft: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(omega on [0, pi], H): the box's DTFT sampled by a zero-padded FFT of its taps."""
    h = np.fft.rfft(np.full(k, 1.0 / k), n_fft)
    return 2 * np.pi * np.arange(len(h)) / n_fft, h


# --- the package ---------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 16])
def test_box_frequency_response_is_the_fft_of_the_box_taps(k):
    omega, h = fft_response(k)
    np.testing.assert_allclose(filtering.box_frequency_response(omega, k), h, atol=1e-12)


def test_box_frequency_response_at_multiples_of_two_pi_is_the_direct_sum():
    # 0/0 in the closed form: the limit must match sum_n exp(-i w n) / K exactly.
    for k in range(1, 7):
        for w in 2 * np.pi * np.arange(-3, 4):
            direct = np.exp(-1j * w * np.arange(k)).mean()
            assert abs(filtering.box_frequency_response(w, k) - direct) < 1e-9, (k, w)


def test_box_response_has_its_zeros_at_multiples_of_two_pi_over_k():
    for k in range(2, 9):
        zeros = 2 * np.pi * np.arange(1, k // 2 + 1) / k
        assert np.all(filtering.box_response(zeros, k) < 1e-12)
        between = np.linspace(0, 2 * np.pi / k, 50)[1:-1]  # the main lobe has no zero
        assert np.all(filtering.box_response(between, k) > 0)


def test_box_phase_is_a_delay_of_half_the_window():
    omega = np.linspace(0.01, np.pi, 200)
    for k in range(1, 8):
        undelayed = filtering.box_frequency_response(omega, k) * np.exp(1j * omega * (k - 1) / 2)
        np.testing.assert_allclose(undelayed.imag, 0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 8), s=st.integers(1, 5), seed=st.integers(0, 99))
def test_average_pooling_is_box_convolution_then_subsampling(n, k, s, seed):
    x = np.random.default_rng(seed).normal(size=n)
    if n < k:
        with pytest.raises(ValueError):
            filtering.avg_pool_as_convolution(x, k, s)
        return
    want = torch_avg(x, k, s)
    np.testing.assert_allclose(filtering.avg_pool_as_convolution(x, k, s), want, atol=1e-12)
    np.testing.assert_allclose(filtering.avg_pool_as_convolution_loop(x, k, s), want,
                               atol=1e-12)


def test_2d_average_pooling_is_separable():
    x = np.random.default_rng(1).normal(size=(9, 12))
    for k, s in [(1, 1), (2, 2), (3, 2), (4, 3), (3, 1)]:
        want = F.avg_pool2d(torch.from_numpy(x)[None], k, s)[0].numpy()
        np.testing.assert_allclose(filtering.avg_pool2d_by_convolution(x, k, s), want,
                                   atol=1e-12)


def test_alias_frequency_is_where_the_subsampled_spectrum_peaks():
    # Independent of the folding rule: the peak of a long subsampled cosine's spectrum.
    n = 4096
    for s in (2, 3, 4):
        for w in np.pi * np.array([0.05, 0.3, 0.45, 0.55, 0.7, 0.9, 0.97]):
            y = np.cos(w * np.arange(n))[::s] * np.hanning(len(np.arange(n)[::s]))
            spectrum = np.abs(np.fft.rfft(y, 8 * len(y)))
            peak = np.pi * np.argmax(spectrum) / (len(spectrum) - 1)
            assert abs(peak - filtering.alias_frequency(w, s)) < 2e-3, (s, w / np.pi)


def test_frequencies_below_the_new_nyquist_only_change_units():
    w = np.linspace(0, np.pi / 3, 20, endpoint=False)
    np.testing.assert_allclose(filtering.alias_frequency(w, 3), 3 * w)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 30), k=st.integers(1, 6), s=st.integers(1, 4), seed=st.integers(0, 99))
def test_max_pooling_is_dilation_then_subsampling(n, k, s, seed):
    x = np.random.default_rng(seed).integers(-3, 4, size=n).astype(float)  # ties on purpose
    if n < k:
        with pytest.raises(ValueError):
            filtering.max_pool_via_dilation(x, k, s)
        return
    dilated = filtering.grey_dilation1d(x, k)
    np.testing.assert_array_equal(dilated, filtering.grey_dilation1d_loop(x, k))
    # scipy centres its element: its sample n + (k - 1) // 2 is our sample n.
    scipy = ndimage.grey_dilation(x, size=k)[(k - 1) // 2:][:n - k + 1]
    np.testing.assert_array_equal(dilated, scipy)
    np.testing.assert_array_equal(filtering.max_pool_via_dilation(x, k, s), torch_max(x, k, s))


def test_erosion_is_min_pooling_and_matches_scipy():
    x = np.random.default_rng(2).normal(size=20)
    for k in range(1, 6):
        eroded = filtering.grey_erosion1d(x, k)
        np.testing.assert_array_equal(eroded, -torch_max(-x, k, 1))
        np.testing.assert_array_equal(eroded, ndimage.grey_erosion(x, size=k)[k // 2:][:21 - k])


def test_dtft_matches_the_fft_at_its_bins():
    x = np.random.default_rng(3).normal(size=16)
    omega = 2 * np.pi * np.arange(16) / 16
    np.testing.assert_allclose(filtering.dtft(x, omega), np.fft.fft(x), atol=1e-12)


def test_periodic_examples_measured_in_torch():
    """The chapter's two examples, with torch's outputs and an independent alternating sum."""
    def at_pi(y):
        return float(np.sum(y * (-1.0) ** np.arange(len(y))))

    x_a = np.array([1, 0, 1, 0, 1, 0, 1, 0], dtype=float)
    x_b = np.array([3, 1, 2, 2, 3, 1, 2, 2], dtype=float)
    assert at_pi(torch_avg(x_a, 3, 1)) == pytest.approx(1.0)
    assert at_pi(torch_max(x_a, 3, 1)) == 0
    assert at_pi(torch_max(x_b, 2, 2)) == 2 and at_pi(torch_avg(x_b, 2, 2)) == 0
    assert at_pi(torch_avg(np.roll(x_b, -1), 2, 2)) != 0  # the phase of the stride decides
    for y in (torch_avg(x_a, 3, 1), torch_max(x_b, 2, 2)):
        assert filtering.dtft(y, np.pi).real == pytest.approx(at_pi(y))


@pytest.mark.parametrize(("call", "match", "error"), [
    (lambda: filtering.box_kernel(0), "kernel_size", ValueError),
    (lambda: filtering.box_frequency_response(1.0, 2.0), "kernel_size", TypeError),
    (lambda: filtering.alias_frequency(1.0, 0), "stride", ValueError),
    (lambda: filtering.avg_pool_as_convolution(np.ones((2, 3)), 2), "x", ValueError),
    (lambda: filtering.avg_pool_as_convolution(np.ones(5), 2, 0), "stride", ValueError),
    (lambda: filtering.grey_dilation1d(np.ones(3), 4), "size", ValueError),
    (lambda: filtering.max_pool_via_dilation(np.ones(3), True), "kernel_size", TypeError),
])
def test_bad_input_names_the_parameter(call, match, error):
    with pytest.raises(error, match=match):
        call()


# --- the figures ---------------------------------------------------------------------------

RESPONSE = [dict(kernel_size=k, stride=s) for k in (2, 3, 5) for s in (1, 2, 3)]
SIGNALS = [dict(omega_over_pi=w, stride=s) for w in (0.2, 0.45, 0.9) for s in (2, 3)]


@pytest.mark.parametrize("params", RESPONSE)
def test_response_figure_agrees_with_torch(params):
    comparison = filtering.response_compare(**params)
    assert comparison.same, comparison
    # torch's measured gains are the closed form's, which is the FFT of the taps.
    omega, h = fft_response(params["kernel_size"], 8)
    np.testing.assert_allclose(comparison.theirs, np.abs(h), atol=1e-9)


@pytest.mark.parametrize("params", SIGNALS)
def test_signals_figure_agrees_with_torch(params):
    comparison = filtering.signals_compare(**params)
    assert comparison.same, comparison


@pytest.mark.parametrize("params", [dict(period=p, stride=s) for p in (2.2, 16) for s in (2, 4)])
def test_photo_figure_agrees_with_torch(params):
    comparison = filtering.photo_compare(**params)
    assert comparison.same, comparison
    assert comparison.ours.shape == (2, 4)


def test_the_grating_is_what_average_pooling_attenuates_by_the_box_gain():
    # Averaging is linear: pooled(photo + grating) - pooled(photo) = pooled grating, whose
    # amplitude is the grating's times |H| of a K = s box at its frequency (rows) and 1
    # (columns, where the grating is constant).
    s, period = 4, 2.5
    diff = (F.avg_pool2d(torch.from_numpy(filtering.screened_photo(period))[None], s)
            - F.avg_pool2d(torch.from_numpy(filtering.sample_photo())[None], s))[0].numpy()
    gain = np.abs(np.exp(-1j * 2 * np.pi / period * np.arange(s)).mean())
    assert np.max(np.abs(diff)) == pytest.approx(40 * gain, rel=0.05)


def test_worst_alias_gain_is_the_band_edge_gain_when_the_kernel_is_the_stride():
    for k in range(2, 9):
        edge = 1 / (k * np.sin(np.pi / (2 * k)))
        assert filtering.worst_alias_gain(k, k) == pytest.approx(edge, abs=1e-6)
    assert filtering.worst_alias_gain(3, 1) == 0.0


def test_figures_are_deterministic_and_fit_the_column():
    for render, compare, params in [
            (filtering.response_figure, filtering.response_compare, RESPONSE[4]),
            (filtering.signals_figure, filtering.signals_compare, SIGNALS[5])]:
        first = state_html(render, params, compare=compare)
        assert first == state_html(render, params, compare=compare)
        assert "data-digest" in first and "data-compare" in first
        width = int(to_html(render(**params)).split('width="')[1].split('"')[0])
        assert width <= COLUMN_PX


# --- graded: exercise 02_filtering -----------------------------------------------------------

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


def test_noise_module_matches_closed_forms_and_simulation():
    from pooling_course import noise

    assert noise.expected_max_of_normals(2) == pytest.approx(1 / np.sqrt(np.pi), abs=1e-9)
    assert noise.expected_max_of_normals(3) == pytest.approx(1.5 / np.sqrt(np.pi), abs=1e-9)
    assert noise.sd_max_of_normals(2) == pytest.approx(np.sqrt(1 - 1 / np.pi), abs=1e-9)
    sample = np.random.default_rng(0).normal(size=(200_000, 9)).max(axis=1)
    assert sample.mean() == pytest.approx(noise.expected_max_of_normals(9), abs=0.01)
    assert sample.std() == pytest.approx(noise.sd_max_of_normals(9), abs=0.01)
    with pytest.raises(ValueError, match="n"):
        noise.expected_max_of_normals(0)
    with pytest.raises(TypeError, match="n"):
        noise.expected_max_of_normals(2.0)


def test_vgg16_counts_match_the_published_network():
    from pooling_course import vgg

    convs = vgg.parameter_count(vgg.features())
    with_pools = vgg.costs(vgg.features())
    assert with_pools.last_map == (512, 7, 7)
    # 138,357,544: torchvision's VGG-16 (and the paper's "138 million").
    assert convs + vgg.parameter_count(vgg.head("flatten", with_pools.last_map)) == 138_357_544
    # torchvision's table gives VGG-16 15.47 GFLOPS: the multiply-adds of the convolutions and
    # of the three fully connected layers.
    fc_macs = 25088 * 4096 + 4096 * 4096 + 4096 * 1000
    assert with_pools.macs + fc_macs == pytest.approx(15.47e9, abs=0.005e9)
    assert vgg.costs(vgg.features(pool=False)).last_map == (512, 224, 224)
    with pytest.raises(ValueError, match="kind"):
        vgg.head("dense", (512, 7, 7))
