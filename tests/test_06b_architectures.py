"""Tests of pooling_course.architectures, the arithmetic of chapter 6b's classic networks."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pooling_course import architectures as A

matplotlib.use("Agg")


@pytest.mark.parametrize("k, count", [(3, 1), (3, 4), (5, 2), (5, 3), (7, 2)])
def test_chained_stride_1_pools_equal_one_torch_pool_of_the_summed_window(k, count):
    rng = np.random.default_rng(k * 10 + count)
    x = rng.normal(size=(2, 3, 9, 14)) - 1.5  # mostly negative: zero padding would show
    big = count * (k - 1) + 1
    theirs = F.max_pool2d(torch.from_numpy(x), big, 1, big // 2).numpy()
    assert np.array_equal(A.chained_max_pools(x, k, count)[-1], theirs)
    assert A.equivalent_kernel(k, count) == big


def test_the_equivalent_kernel_is_the_footprint_of_an_impulse():
    # measured, not computed from the formula: how far one peak spreads through the chain
    for k, count in [(3, 3), (5, 3), (7, 2)]:
        x = np.zeros((1, 41, 41))
        x[0, 20, 20] = 1.0
        spread = A.chained_max_pools(x, k, count)[-1][0]
        rows = np.nonzero(spread[:, 20])[0]
        assert rows[-1] - rows[0] + 1 == A.equivalent_kernel(k, count)


def test_comparisons_count_the_window_cells_but_one():
    assert A.comparisons_per_output(5) == 24
    assert A.comparisons_per_output(5, count=3) == 72
    assert sum(A.comparisons_per_output(k) for k in (5, 9, 13)) == 272


@pytest.mark.parametrize("bad, error", [(4, ValueError), (0, ValueError), (2.0, TypeError),
                                        (True, TypeError)])
def test_even_or_non_int_kernels_are_refused(bad, error):
    with pytest.raises(error, match="kernel_size"):
        A.same_max_pool2d(np.zeros((1, 4, 4)), bad)


def test_a_chain_needs_a_positive_count():
    with pytest.raises(ValueError, match="count"):
        A.chained_max_pools(np.zeros((1, 4, 4)), 3, 0)


def test_lenet_subsampling_is_a_depthwise_convolution_with_tied_weights():
    rng = np.random.default_rng(0)
    x, coef, bias = rng.normal(size=(4, 10, 10)), rng.normal(size=4), rng.normal(size=4)
    weight = torch.from_numpy(coef).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    theirs = F.conv2d(torch.from_numpy(x)[None], weight, torch.from_numpy(bias), stride=2,
                      groups=4)[0].numpy()
    np.testing.assert_allclose(A.lenet_subsample(x, coef, bias), theirs, rtol=1e-12)
    with pytest.raises(ValueError, match="coefficient"):
        A.lenet_subsample(x, coef[:3], bias)


def test_feature_sizes_equal_torch_layers_on_ssds_vgg_base():
    L = A.SizedLayer
    layers = [L("pool1", 2, 2), L("pool2", 2, 2), L("pool3", 2, 2, ceil_mode=True),
              L("conv4_3", 3, 1, 1), L("pool4", 2, 2), L("pool5", 3, 1, 1),
              L("fc6", 3, 1, 6, dilation=6), L("conv8_2", 3, 2, 1), L("conv10_2", 3)]
    x = torch.zeros(1, 1, 300, 300)
    for (name, size), layer in zip(A.feature_sizes(300, layers), layers, strict=True):
        if name.startswith("pool"):
            x = F.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding,
                             ceil_mode=layer.ceil_mode)
        else:
            x = F.conv2d(x, torch.zeros(1, 1, layer.kernel_size, layer.kernel_size),
                         stride=layer.stride, padding=layer.padding, dilation=layer.dilation)
        assert x.shape[-1] == size, name


def test_a_tone_peaks_at_its_bin_and_a_chirp_moves_through_the_bins():
    rate, n_fft = 8000, 256
    tone = A.spectrogram(A.synthesize([("tone", 1000.0, 0, 0.0, 1.0)], rate), n_fft)
    assert tone.shape == (n_fft // 2 + 1, (rate - n_fft) // 128 + 1)
    assert set(tone.argmax(0)) == {round(1000 / (rate / n_fft))}
    chirp = A.spectrogram(A.synthesize([("chirp", 500.0, 3000.0, 0.0, 1.0)], rate), n_fft)
    peaks = chirp.argmax(0)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] - peaks[0] > 60
    with pytest.raises(ValueError, match="kind"):
        A.synthesize([("noise", 1.0, 1.0, 0.0, 1.0)])


@pytest.mark.parametrize("k, count", [(k, c) for k in (3, 5, 7) for c in (1, 2, 3)])
def test_every_state_of_the_chain_figure_draws_and_torch_agrees(k, count):
    import matplotlib.pyplot as plt

    fig = A.chain_figure(k, count)
    assert fig.get_figwidth() <= 7
    plt.close(fig)
    comparison = A.chain_compare(k, count)
    assert np.array_equal(comparison.ours, comparison.theirs)
