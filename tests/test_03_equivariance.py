"""Chapter 3, shifts: the shift operator, the change metric and the anti-aliased pools against
PyTorch (blur pooling written as antialiased-cnns writes it: ``F.pad(mode="reflect")`` and a
grouped ``F.conv2d``). The graded tests of exercise 03_equivariance are in
``test_03_equivariance_graded.py``."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _torch_oracle import pascal_row, torch_blur
from hypothesis import given, settings
from hypothesis import strategies as st

from pooling_course import equivariance as E
from pooling_course import robustness as R
from pooling_course import widgets

# --- the binomial filters ---------------------------------------------------------------------

@pytest.mark.parametrize("filter_size", range(1, 8))
def test_binomial_filter_is_the_normalised_row_of_pascals_triangle(filter_size):
    taps = E.binomial_filter(filter_size)
    np.testing.assert_allclose(taps, pascal_row(filter_size), rtol=0, atol=1e-15)
    assert taps.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("filter_size", range(1, 8))
def test_frequency_response_is_cos_to_the_power_f_minus_1(filter_size):
    # (1 + e^{-iw})^(f-1) / 2^(f-1) has magnitude |cos(w/2)|^(f-1), w = 2 pi frequency.
    freq, magnitude = E.filter_response(filter_size, n_fft=64)
    np.testing.assert_allclose(magnitude, np.abs(np.cos(np.pi * freq)) ** (filter_size - 1),
                               atol=1e-12)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (8, ValueError), (2.0, TypeError),
                                        (True, TypeError), ("3", TypeError)])
def test_filter_size_outside_1_to_7_is_rejected_by_name(bad, error):
    with pytest.raises(error, match="filter_size"):
        E.binomial_filter(bad)
    with pytest.raises(error, match="filter_size"):
        E.blur_pool2d(np.zeros((1, 8, 8)), filter_size=bad)


# --- blur pooling against torch --------------------------------------------------------------

@pytest.mark.parametrize("filter_size, stride", list(itertools.product(range(1, 8), (1, 2, 3))))
def test_blur_pool2d_and_its_loop_equal_reflect_pad_plus_grouped_conv2d(filter_size, stride):
    x = np.random.default_rng(filter_size * 10 + stride).normal(size=(2, 3, 9, 8))
    want = torch_blur(x, filter_size, stride, ndim=2)
    assert want.shape == (2, 3, math.ceil(9 / stride), math.ceil(8 / stride))
    np.testing.assert_allclose(E.blur_pool2d(x, filter_size, stride), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(E.blur_pool2d_loop(x, filter_size, stride), want, rtol=0,
                               atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_blur_pools_match_torch_on_random_shapes_and_dtypes(data):
    filter_size = data.draw(st.integers(1, 7))
    stride = data.draw(st.integers(1, 4))
    smallest = filter_size // 2 + 1  # reflection needs every axis longer than the padding
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    batched = data.draw(st.booleans())
    lead = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)))[2 - (1 + batched):]
    rng = np.random.default_rng(data.draw(st.integers(0, 999)))
    for ndim, fn in ((1, E.blur_pool1d), (2, E.blur_pool2d)):
        spatial = tuple(data.draw(st.integers(smallest, 12)) for _ in range(ndim))
        x = rng.normal(size=lead + spatial).astype(dtype)
        got = fn(x, filter_size=filter_size, stride=stride)
        want = torch_blur(x, filter_size, stride, ndim)
        assert got.dtype == x.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_filter_size_1_is_plain_subsampling():
    x = np.random.default_rng(0).normal(size=(2, 7, 5))
    np.testing.assert_array_equal(E.blur_pool2d(x, filter_size=1, stride=2), x[:, ::2, ::2])
    np.testing.assert_array_equal(E.blur_pool1d(x, filter_size=1, stride=3), x[..., ::3])


@pytest.mark.parametrize("kernel_size, filter_size, padding", [(2, 4, 0), (2, 3, 0),
                                                               (3, 5, 1), (2, 1, 0)])
def test_max_blur_pool_is_dense_max_then_blur_pool_in_torch(kernel_size, filter_size, padding):
    x = np.random.default_rng(1).normal(size=(2, 3, 10, 11)).astype(np.float32)
    dense = F.max_pool2d(torch.from_numpy(x), kernel_size, stride=1, padding=padding).numpy()
    want = torch_blur(dense, filter_size, 2, ndim=2)
    got = E.max_blur_pool2d(x, kernel_size, filter_size, 2, padding)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    dense1 = F.max_pool1d(torch.from_numpy(x[0]), kernel_size, 1, padding).numpy()
    np.testing.assert_allclose(E.max_blur_pool1d(x[0], kernel_size, filter_size, 2, padding),
                               torch_blur(dense1, filter_size, 2, ndim=1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("size, filter_size", [(3, 7), (2, 4), (1, 2), (3, 6)])
def test_too_small_an_axis_for_reflection_is_rejected_as_torch_rejects_it(size, filter_size):
    x = np.zeros((1, 1, size, 8))
    with pytest.raises(RuntimeError):
        torch_blur(x, filter_size, 2, ndim=2)
    with pytest.raises(ValueError, match="reflect"):
        E.blur_pool2d(x, filter_size)


@pytest.mark.parametrize("call, error, name", [
    (lambda: E.blur_pool2d(np.zeros((1, 8, 8)), stride=0), ValueError, "stride"),
    (lambda: E.blur_pool2d(np.zeros((1, 8, 8)), stride=1.5), TypeError, "stride"),
    (lambda: E.blur_pool2d(np.zeros((8, 8), dtype=np.int64)[None]), TypeError, "dtype"),
    (lambda: E.blur_pool2d(np.zeros((8, 8))), ValueError, "shape"),
    (lambda: E.blur_pool1d([1.0, 2.0, 3.0]), TypeError, "input"),
])
def test_bad_arguments_are_rejected_with_a_message_naming_them(call, error, name):
    with pytest.raises(error, match=name):
        call()


# --- shifts and the change metric -------------------------------------------------------------

def test_shift_moves_content_right_circularly_or_with_zeros():
    x = np.arange(1, 7).reshape(2, 3)
    np.testing.assert_array_equal(E.shift(x, 1), [[3, 1, 2], [6, 4, 5]])
    np.testing.assert_array_equal(E.shift(x, -1, mode="zero"), [[2, 3, 0], [5, 6, 0]])
    np.testing.assert_array_equal(E.shift(x, (1, 0)), [[4, 5, 6], [1, 2, 3]])
    np.testing.assert_array_equal(E.shift(x, (1, 2), mode="zero"), [[0, 0, 0], [0, 0, 1]])


@settings(max_examples=50, deadline=None)
@given(a=st.integers(-9, 9), b=st.integers(-9, 9), n=st.integers(1, 9))
def test_circular_shifts_compose_invert_and_keep_the_norm(a, b, n):
    x = np.random.default_rng(n).normal(size=(3, n))
    np.testing.assert_array_equal(E.shift(E.shift(x, a), b), E.shift(x, a + b))
    np.testing.assert_array_equal(E.shift(E.shift(x, a), -a), x)
    assert np.linalg.norm(E.shift(x, a)) == pytest.approx(np.linalg.norm(x))


def test_shift_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        E.shift(np.zeros(3), 1, mode="reflect")
    with pytest.raises(TypeError, match="delta"):
        E.shift(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="delta"):
        E.shift(np.zeros(3), (1, 1))


@settings(max_examples=40, deadline=None)
@given(s=st.integers(1, 4), n=st.integers(1, 5), m=st.integers(-6, 6))
def test_pooling_with_k_equal_s_is_equivariant_to_shifts_by_multiples_of_s(s, n, m):
    # torch pools the circularly shifted input; the output is the pooled input shifted by m.
    x = torch.from_numpy(np.random.default_rng(s * n).normal(size=(2, 1, s * n)))
    for pool in (F.max_pool1d, F.avg_pool1d):
        moved = pool(torch.roll(x, m * s, dims=-1), s, s).numpy()
        np.testing.assert_allclose(moved, E.shift(pool(x, s, s).numpy(), m), atol=1e-12)


def test_zhangs_signal_max_pool_is_not_invariant_to_a_one_sample_shift():
    x = np.array([0.0, 0, 1, 1, 0, 0, 1, 1])
    pooled = F.max_pool1d(torch.from_numpy(E.shift(x, 1))[None], 2).numpy()[0]
    np.testing.assert_array_equal(F.max_pool1d(torch.from_numpy(x)[None], 2)[0], [0, 1, 0, 1])
    np.testing.assert_array_equal(pooled, [1, 1, 1, 1])
    result = E.shift_change(lambda v: v.reshape(-1, 2).max(axis=1), x, 1, stride=2)
    # |(1,1,1,1) - (0,1,0,1)| / |(0,1,0,1)| = sqrt(2) / sqrt(2); shifting the output by 1 cell
    # instead gives (1,0,1,0), just as far.
    assert (result.raw, result.aligned) == (1.0, 1.0)


def test_normalized_change_is_the_relative_euclidean_distance():
    assert E.normalized_change(np.array([1.0, 1]), np.array([1.0, 1])) == 0.0
    assert E.normalized_change(np.array([0.0, 2]), np.array([2.0, 0])) == pytest.approx(
        math.sqrt(2))
    assert E.normalized_change(np.zeros(2), np.zeros(2)) == 0.0
    assert E.normalized_change(np.ones(2), np.zeros(2)) == math.inf
    with pytest.raises(ValueError, match="shape"):
        E.normalized_change(np.zeros(2), np.zeros(3))


@pytest.mark.parametrize("pool", sorted(E.POOLS))
def test_every_pool_is_equivariant_away_from_the_border_for_shifts_by_the_stride(pool):
    image = np.random.default_rng(3).random((16, 40))
    for delta in (2, 4, -2, 8, -6):
        result = E.shift_change(E.POOLS[pool], image, delta, stride=2, margin=3)
        assert result.output_shift == delta // 2
        assert result.aligned == pytest.approx(0, abs=1e-12)
        assert result.raw > 0.1  # the output moved: it is not invariant


def test_shift_change_raw_and_aligned_by_hand():
    # margin=1 and delta=1: the seam sits at output cell ceil(1/2) = 1, so cells 2..4 count.
    image = np.random.default_rng(4).random((6, 12))
    y, moved = E.max_pool(image), E.max_pool(E.shift(image, 1))
    norm = np.linalg.norm(y[:, 2:-1])
    raw = np.linalg.norm(moved[:, 2:-1] - y[:, 2:-1]) / norm
    by_one = np.linalg.norm(moved[:, 2:-1] - np.roll(y, 1, axis=1)[:, 2:-1]) / norm
    result = E.shift_change(E.max_pool, image, 1, stride=2, margin=1)
    assert result.raw == pytest.approx(raw)
    assert result.aligned == pytest.approx(min(raw, by_one))
    assert result.output_shift == (0 if raw <= by_one else 1)


def test_probe_images():
    images = E.probe_images(8)
    assert list(images) == ["impulse", "ramp", "checkerboard", "constant"]
    assert images["impulse"].sum() == 1 and images["impulse"][4, 4] == 1
    assert np.all(np.diff(images["ramp"], axis=1) > 0) and np.all(images["constant"] == 1)
    assert np.all(images["checkerboard"] + E.shift(images["checkerboard"], 1) == 1)


# --- the interactive figure and the network ---------------------------------------------------

@pytest.mark.parametrize("pool", sorted(E.POOLS))
def test_figure_states_agree_with_torch(pool):
    for shift_px in range(5):
        assert E.shift_figure_compare(shift_px, pool).same


def test_static_figure_holds_every_state_and_names_its_functions():
    fig = widgets.interactive(E.shift_figure, compare=E.shift_figure_compare, mode="static",
                              shift_px=[0, 1], pool=["max", "max-blur"])
    html = "".join(leaf.value for stack in fig.display.children for leaf in stack.children)
    assert html.count('class="pc-state"') == 4
    assert "pooling_course.equivariance.shift_figure" in html
    assert "gives the same output" in html and "DIFFERENT" not in html


def test_blur_matrix_is_the_blur_pool():
    x = np.random.default_rng(3).normal(size=(2, 9, 7))
    flat = x.reshape(2, -1) @ R.blur_matrix(9, 7)
    assert np.allclose(flat.reshape(2, 5, 4), torch_blur(x, R.FILTER_SIZE, 2, 2))


def test_the_networks_max_blur_layer_equals_the_torch_formulation():
    x = torch.randn(3, 4, 9, 8, dtype=torch.float32)
    ours = R._halve(x, "max-blur")
    dense = F.max_pool2d(x, 2, 1).double().numpy()
    assert np.allclose(ours.numpy(), torch_blur(dense, R.FILTER_SIZE, 2, 2), atol=1e-6)


def test_networks_differ_only_in_the_pool_and_training_is_seeded():
    first, again = R.train("max-blur", 0, epochs=2), R.train("max-blur", 0, epochs=2)
    assert np.array_equal(first.train_loss, again.train_loss)
    assert first.train_loss[1] < first.train_loss[0]
    shapes = {p: [tuple(t.shape) for t in R.make_net(p).parameters()] for p in R.POOLS}
    assert shapes["max"] == shapes["max-blur"]
    assert shapes["none"][:4] == shapes["max"][:4] and shapes["none"][4] == (10, 1600)
    with pytest.raises(ValueError, match="pool"):
        R.make_net("min")


def test_transform_rotates_counter_clockwise_and_scales_about_the_centre():
    image = np.zeros((6, 6))
    image[1, 4] = 1.0  # top right
    assert np.allclose(R.transform(image, angle=90), np.rot90(image))
    assert np.allclose(R.transform(image, angle=360), image, atol=1e-12)
    assert np.allclose(R.transform(image, scale=1.0), image)
    ring = np.zeros((9, 9))
    ring[4, 6] = 1.0  # 2 pixels right of the centre
    grown = R.transform(ring, scale=1.5)  # -> 3 pixels right of the centre
    assert grown[4, 7] == pytest.approx(1.0) and grown.sum() > 1
    with pytest.raises(ValueError, match="scale"):
        R.transform(image, scale=0)


def test_consistency_counts_unchanged_predictions():
    class Fixed(torch.nn.Module):
        def forward(self, x):  # class = is the top-left pixel bright
            return torch.stack([x[:, 0, 0, 0], 1 - x[:, 0, 0, 0]], dim=1)

    images = np.zeros((4, 1, 2, 2), dtype=np.float32)
    images[:2, 0, 0, 0] = 1.0
    moved = images.copy()
    moved[0, 0, 0, 0] = 0.0  # one of four predictions changes
    assert R.consistency(Fixed(), images, [moved]) == 0.75
    assert R.consistency(Fixed(), images, [images, moved]) == 0.875
