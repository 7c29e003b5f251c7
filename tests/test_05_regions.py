"""Chapter 5, whole maps and regions: global pooling, SPP, RoI pool and RoIAlign.

torchvision does not load beside the pinned torch, so RoI pool and RoIAlign are checked
against (a) their loop references, transliterations of torchvision's CPU kernels, to the bit;
(b) worked examples computed by hand from the kernels' rules; (c) torch ops they equal in
special cases (a whole-map box is adaptive max pooling; an aligned whole-map box sampled at
pixel centres is average pooling); (d) properties (constant maps, linearity, adjointness and
finite differences of the gradients). The graded tests of exercise 05_regions are in
``test_05_regions_graded.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pooling_course import regions
from pooling_course.ops import (
    FLT_MAX,
    as_rois,
    roi_align,
    roi_align_backward,
    roi_align_loop,
    roi_pool,
    roi_pool_backward,
    roi_pool_loop,
    spatial_pyramid_pool,
)

DTYPES = (np.float32, np.float64)


def random_rois(rng: np.random.Generator, k: int, n: int, h: int, w: int,
                dtype=np.float64) -> np.ndarray:
    """Boxes of every kind: inside, across the border, outside, reversed, sub-pixel."""
    x1 = rng.uniform(-3, w + 1, k)
    y1 = rng.uniform(-3, h + 1, k)
    x2 = x1 + rng.uniform(-1, w, k)
    y2 = y1 + rng.uniform(-1, h, k)
    boxes = np.stack([rng.integers(0, n, k), x1, y1, x2, y2], axis=1)
    # Some corners on half-integers, where rounding rules matter.
    boxes[: k // 3, 1:] = np.round(boxes[: k // 3, 1:] * 2) / 2
    return boxes.astype(dtype)


# --- global pooling and SPP --------------------------------------------------------------------

def test_global_pools_equal_torch_adaptive_pooling_to_one_cell():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype(np.float32)
    t = torch.from_numpy(x)
    assert np.allclose(regions.global_avg_pool2d(x), t.mean((2, 3)).numpy(), atol=1e-6)
    assert np.array_equal(regions.global_max_pool2d(x), t.amax((2, 3)).numpy())


def test_linear_parameters_match_torch_linear():
    for n_in, n_out in [(25088, 4096), (2048, 1000), (3, 1)]:
        assert regions.linear_parameters(n_in, n_out) == sum(
            p.numel() for p in torch.nn.Linear(n_in, n_out).parameters())
    with pytest.raises(ValueError, match="in_features"):
        regions.linear_parameters(0, 3)


def test_adaptive_windows_are_torchs_and_tile_the_axis():
    for length in range(1, 15):
        for out in range(1, 15):
            windows = regions.adaptive_windows(length, out)
            x = torch.arange(length, dtype=torch.float64)[None, None]
            torch_max = F.adaptive_max_pool1d(x, out)[0, 0].numpy()
            assert [e - 1 for _, e in windows] == torch_max.tolist()  # the last cell of each
            covered = set().union(*(range(s, e) for s, e in windows))
            assert covered == set(range(length))


def test_spp_paper_formula_gives_other_bin_counts_and_leaves_cells_out():
    assert regions.spp_paper_windows(13, 3) == [(0, 5), (4, 9), (8, 13)]  # the paper's case
    assert len(regions.spp_paper_windows(7, 4)) == 6  # 4 asked
    assert regions.spp_paper_windows(10, 4)[-1][1] == 9  # cell 9 is never pooled
    with pytest.raises(ValueError, match="stride"):
        regions.spp_paper_windows(3, 4)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spp_equals_concatenated_torch_adaptive_pools_for_any_size(mode):
    rng = np.random.default_rng(1)
    levels = (1, 2, 4)
    for h, w in [(4, 4), (5, 7), (13, 9), (3, 2)]:
        x = rng.standard_normal((2, 3, h, w))
        ours = spatial_pyramid_pool(x, levels, mode)
        assert ours.shape == (2, 3 * 21)
        t = torch.from_numpy(x).requires_grad_()
        pool = F.adaptive_max_pool2d if mode == "max" else F.adaptive_avg_pool2d
        theirs = torch.cat([pool(t, lv).flatten(1) for lv in levels], 1)
        assert np.allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
        assert np.allclose(regions.spatial_pyramid_pool_loop(x, levels, mode), ours,
                           rtol=1e-12, atol=1e-12)
        g = rng.standard_normal(ours.shape)
        theirs.backward(torch.from_numpy(g))
        assert np.allclose(regions.spatial_pyramid_pool_backward(g, x, levels, mode),
                           t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_spp_rejects_bad_levels_and_mode():
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="levels"):
        spatial_pyramid_pool(x, (1, 0))
    with pytest.raises(TypeError, match="levels"):
        spatial_pyramid_pool(x, 2)
    with pytest.raises(ValueError, match="mode"):
        spatial_pyramid_pool(x, mode="min")


# --- RoI pool ----------------------------------------------------------------------------------

def test_round_half_away_from_zero_unlike_python():
    cases = {2.5: 3, 3.5: 4, -2.5: -3, 0.49999999999999994: 0, 1.4999999: 1, -0.5: -1}
    for value, expected in cases.items():
        assert regions.round_half_away(value) == expected, value
    assert round(2.5) == 2 and round(3.5) == 4  # Python's banker's rounding


@pytest.mark.parametrize("dtype", DTYPES)
def test_roi_pool_equals_its_loop_reference_bit_for_bit(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 7)).astype(dtype)
    x[0, 0, 2, 3] = np.nan
    x[1, 1, :2, :2] = x[1, 1, 0, 0]  # ties
    for scale in (1.0, 0.5, 0.3):
        rois = random_rois(rng, 30, 2, int(6 / scale), int(7 / scale), dtype)
        for size in [(2, 2), (3, 1), (4, 5)]:
            out = roi_pool(x, rois, size, scale)
            ref, _ = roi_pool_loop(x, rois, size, scale)
            assert out.dtype == dtype
            np.testing.assert_array_equal(out, ref)


def test_roi_pool_rounds_halves_away_from_zero():
    x = np.arange(8.0).reshape(1, 1, 1, 8)
    # x1 = x2 = 5 * 0.5 = 2.5 -> column 3 (Python's round would give column 2)
    assert roi_pool(x, np.array([[0, 5, 0, 5, 0]]), 1, spatial_scale=0.5).item() == 3.0


def test_roi_pool_cuts_bins_from_the_unclipped_box():
    x = np.arange(8.0).reshape(1, 1, 1, 8)
    # box columns -4..3 (8 wide): bins [-4, 0) (outside: 0) and [0, 4) -> max 3
    out = roi_pool(x + 10, np.array([[0, -4, 0, 3, 0]]), (1, 2))
    np.testing.assert_array_equal(out[0, 0, 0], [0.0, 13.0])


def test_roi_pool_empty_and_nan_bins():
    x = np.full((1, 1, 3, 3), np.nan)
    out = roi_pool(x, np.array([[0, 0, 0, 2, 2], [0, 5, 5, 6, 6]]), 1)
    assert out[0].item() == np.float32(-FLT_MAX).astype(np.float64)  # NaN never wins
    assert out[1].item() == 0.0  # a box off the map pools nothing
    g = roi_pool_backward(np.ones((2, 1, 1, 1)), x, np.array([[0, 0, 0, 2, 2],
                                                               [0, 5, 5, 6, 6]]), 1)
    assert not g.any()


def test_roi_pool_float32_and_float64_cut_different_bins():
    # 26 rows into 22 bins: bin 11 starts at floor(11 * fl(26/22)), 12 in float32, 13 exactly
    x = np.arange(30.0)[::-1].reshape(1, 1, 30, 1).copy()
    box = np.array([[0, 0, 0, 0, 25]])
    out32 = roi_pool(x.astype(np.float32), box, (22, 1))[0, 0, 11, 0]
    out64 = roi_pool(x, box, (22, 1))[0, 0, 11, 0]
    assert (out32, out64) == (x[0, 0, 12, 0], x[0, 0, 13, 0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_whole_map_roi_pool_is_adaptive_max_pooling(dtype):
    rng = np.random.default_rng(3)
    for h, w in [(5, 7), (13, 4), (8, 8)]:
        x = rng.standard_normal((2, 2, h, w)).astype(dtype)
        boxes = [np.array([[0, 0, w - 1, h - 1]], dtype), np.array([[0, 0, w - 1, h - 1]], dtype)]
        for size in [(1, 1), (2, 3), (h, w), (3, 2)]:
            t = torch.from_numpy(x).requires_grad_()
            theirs = F.adaptive_max_pool2d(t, size)
            np.testing.assert_array_equal(roi_pool(x, boxes, size), theirs.detach().numpy())
            g = rng.standard_normal(theirs.shape).astype(dtype)
            theirs.backward(torch.from_numpy(g))
            np.testing.assert_allclose(roi_pool_backward(g, x, boxes, size), t.grad.numpy(),
                                       rtol=1e-6)


def test_roi_pool_gradient_by_finite_differences():
    rng = np.random.default_rng(4)
    x = rng.permutation(5 * 6).reshape(1, 1, 5, 6).astype(np.float64)  # no ties
    rois = np.array([[0, 0.4, 1.2, 4.6, 3.9], [0, -1, -1, 2, 2], [0, 1, 1, 1, 1]])
    g = rng.standard_normal((3, 1, 2, 2))
    grad = roi_pool_backward(g, x, rois, 2)
    eps = 1e-3
    for idx in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[idx] = eps
        fd = ((roi_pool(x + d, rois, 2) - roi_pool(x - d, rois, 2)) * g).sum() / (2 * eps)
        assert abs(fd - grad[idx]) < 1e-9


def test_roi_pool_backward_adds_overlapping_bins_in_float32_order():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    rois = random_rois(rng, 20, 2, 5, 5, np.float32)
    g = rng.standard_normal((20, 2, 3, 3)).astype(np.float32)
    _, argmax = roi_pool_loop(x, rois, 3)
    expected = np.zeros_like(x)
    for k, c, i, j in np.ndindex(argmax.shape):  # the kernel's loop
        if argmax[k, c, i, j] >= 0:
            b = int(rois[k, 0])
            expected[b, c].reshape(-1)[argmax[k, c, i, j]] += g[k, c, i, j]
    np.testing.assert_array_equal(roi_pool_backward(g, x, rois, 3), expected)


# --- RoIAlign ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_equals_its_loop_reference_bit_for_bit(dtype, aligned):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 2, 5, 6)).astype(dtype)
    for scale, ratio in [(1.0, -1), (0.5, 0), (0.3, 2), (1.0, 1)]:
        rois = random_rois(rng, 12, 2, int(5 / scale), int(6 / scale), dtype)
        for size in [(2, 2), (3, 1)]:
            out = roi_align(x, rois, size, scale, ratio, aligned)
            assert out.dtype == dtype
            np.testing.assert_array_equal(
                out, roi_align_loop(x, rois, size, scale, ratio, aligned))


def test_roi_align_counts_samples_at_minus_one_at_full_weight():
    x = np.array([[1.0], [2.0], [4.0]]).reshape(1, 1, 3, 1) * np.ones((1, 1, 3, 4))
    # one sample per bin at y = y1 + 0.5
    def sample(y1: float) -> float:
        return roi_align(x, np.array([[0, 1, y1, 2, y1 + 1]]), 1, sampling_ratio=1).item()
    assert sample(-1.5) == 1.0   # y = -1: moved to row 0, full weight
    assert sample(-1.6) == 0.0   # y = -1.1: ignored
    assert sample(-1.0) == 1.0   # y = -0.5: row 0
    assert sample(1.5) == 4.0    # y = 2 = H - 1: the last row
    assert sample(2.5) == 4.0    # y = 3 = H: still the last row, full weight
    assert sample(2.6) == 0.0    # y = 3.1 > H: ignored
    assert sample(0.0) == 1.5    # y = 0.5: halfway between rows 0 and 1


def test_roi_align_divides_by_all_samples_even_ignored_ones():
    x = np.ones((1, 1, 4, 4))
    # two rows of samples at y = -2 + 0.25 * 2 ... : box y from -3 to 1, grid 2 -> y = -2, 0
    out = roi_align(x, np.array([[0, 0, -3, 2, 1]]), 1, sampling_ratio=2)
    assert out.item() == 0.5


def test_roi_align_empty_grid_outputs_zero():
    x = np.ones((1, 1, 4, 4))
    # aligned box of zero height: ceil(0 / 2) = 0 samples per bin
    out = roi_align(x, np.array([[0, 1, 2, 3, 2]]), 2, aligned=True)
    assert not out.any()
    # aligned=False widens it to 1 instead
    assert (roi_align(x, np.array([[0, 1, 2, 3, 2]]), 2) == 1).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_aligned_whole_map_at_pixel_centres_is_average_pooling(dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 6, 8)).astype(dtype)
    boxes = [np.array([[0, 0, 8, 6]], dtype)] * 2
    for k in (1, 2):
        out = roi_align(x, boxes, (6 // k, 8 // k), sampling_ratio=k, aligned=True)
        theirs = F.avg_pool2d(torch.from_numpy(x), k).numpy()
        np.testing.assert_allclose(out, theirs, rtol=1e-6 if dtype == np.float32 else 1e-12)


def test_roi_align_of_a_constant_map_is_the_constant_inside_the_map():
    rng = np.random.default_rng(8)
    x = np.full((1, 2, 5, 6), 3.25)
    x1, y1 = rng.uniform(-0.9, 3, 20), rng.uniform(-0.9, 2, 20)
    rois = np.stack([np.zeros(20), x1, y1, x1 + rng.uniform(1, 2, 20),
                     y1 + rng.uniform(1, 2, 20)], 1)
    np.testing.assert_allclose(roi_align(x, rois, 3), 3.25, rtol=1e-15)
    # RoI pool: the same, once the rounded box lies in the map (a row at -1 would give 0)
    assert (roi_pool(x, np.maximum(rois, 0), 3) == 3.25).all()
    assert (roi_pool(x, np.array([[0, 0, -0.75, 2, 1]]), 3)[0, 0, 0] == 0).all()


def test_roi_align_is_linear_and_its_backward_is_its_adjoint():
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((2, 2, 2, 5, 6))
    rois = random_rois(rng, 10, 2, 5, 6)
    for aligned in (False, True):
        def f(z, aligned=aligned):
            return roi_align(z, rois, (2, 3), 1.0, -1, aligned)
        np.testing.assert_allclose(f(2 * x - 3 * y), 2 * f(x) - 3 * f(y), atol=1e-12)
        g = rng.standard_normal(f(x).shape)
        grad = roi_align_backward(g, x, rois, (2, 3), 1.0, -1, aligned)
        assert np.isclose((f(y) * g).sum(), (grad * y).sum(), rtol=1e-12)
        # finite differences along a random direction
        eps = 1e-6
        fd = ((f(x + eps * y) - f(x - eps * y)) * g).sum() / (2 * eps)
        assert np.isclose(fd, (grad * y).sum(), rtol=1e-7)


def test_roi_align_backward_float32_matches_the_kernel_loop():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((1, 1, 4, 5)).astype(np.float32)
    rois = random_rois(rng, 8, 1, 4, 5, np.float32)
    g = rng.standard_normal((8, 1, 2, 2)).astype(np.float32)
    expected = np.zeros_like(x)
    t = np.float32
    for k, roi in enumerate(rois):
        sw, sh, ew, eh = roi[1:] * t(1)
        rw, rh = max(ew - sw, t(1)), max(eh - sh, t(1))
        bh, bw = rh / t(2), rw / t(2)
        gh, gw = int(np.ceil(rh / t(2))), int(np.ceil(rw / t(2)))
        for ph in range(2):
            for pw in range(2):
                for iy in range(gh):
                    yy = sh + t(ph) * bh + t(iy + 0.5) * bh / t(gh)
                    for ix in range(gw):
                        xx = sw + t(pw) * bw + t(ix + 0.5) * bw / t(gw)
                        found = regions.bilinear_weights(float(yy), float(xx), 4, 5)
                        if found is None:
                            continue
                        for (r, c), wt in zip(*found, strict=True):
                            expected[0, 0, r, c] += g[k, 0, ph, pw] * t(wt) / t(gh * gw)
    np.testing.assert_allclose(roi_align_backward(g, x, rois, 2), expected, rtol=1e-5,
                               atol=1e-6)


def test_boxes_as_a_list_equal_the_k5_form():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 1, 5, 5))
    per_image = [np.array([[0, 0, 3, 3.5], [1, 1, 2, 4]]), np.array([[0.5, 0, 4, 4]])]
    k5 = np.array([[0, 0, 0, 3, 3.5], [0, 1, 1, 2, 4], [1, 0.5, 0, 4, 4]])
    np.testing.assert_array_equal(as_rois(per_image), k5)
    np.testing.assert_array_equal(roi_align(x, per_image, 2), roi_align(x, k5, 2))
    np.testing.assert_array_equal(roi_pool(x, per_image, 2), roi_pool(x, k5, 2))


@pytest.mark.parametrize(("call", "match"), [
    (lambda x: roi_pool(x, np.zeros((1, 4)), 2), "shape"),
    (lambda x: roi_pool(x, np.array([[3, 0, 0, 1, 1]]), 2), "batch"),
    (lambda x: roi_pool(x, np.zeros((1, 5)), 0), "output_size"),
    (lambda x: roi_pool(x, "boxes", 2), "boxes"),
    (lambda x: roi_align(x, np.zeros((1, 5)), 2, sampling_ratio=1.5), "sampling_ratio"),
    (lambda x: roi_align(x, np.zeros((1, 5)), 2, spatial_scale="1"), "spatial_scale"),
    (lambda x: roi_align(x.astype(np.int64), np.zeros((1, 5)), 2), "dtype"),
    (lambda x: roi_align(x[0], np.zeros((1, 5)), 2), "shape"),
    (lambda x: roi_align_backward(np.zeros((1, 1, 3, 3)), x, np.zeros((1, 5)), 2),
     "grad_output"),
])
def test_bad_arguments_are_rejected_by_name(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(np.zeros((1, 1, 4, 4)))
