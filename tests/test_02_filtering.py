"""Chapter 2, filtering: the box filter, aliasing and dilation in ``pooling_course.filtering``
against PyTorch, SciPy and NumPy's FFT, and the chapter's figures. The graded tests of exercise
02_filtering are in ``test_02_filtering_graded.py``."""

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
from pooling_course.widgets import COLUMN_PX, state_html, to_html

matplotlib.use("Agg")

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
