"""Chapter 1, the forward pass: the package's shape arithmetic and loop references against
torch, and the graded tests of exercise 01_forward (marked ``graded``; they grade the notebook
given by ``--submission``, by default the reference solution)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from pooling_course import forward
from pooling_course.forward import Layer, pool_output_shape, pool_output_size, receptive_fields
from pooling_course.grading import EXERCISES, ROOT

EXERCISE = "01_forward"


def torch_output_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int | None:
    """Torch's answer, or None when torch rejects the configuration."""
    try:
        return F.max_pool1d(torch.zeros(1, 1, n), k, s, p, d, ceil_mode).shape[-1]
    except RuntimeError:
        return None


def accepted_configs(ceil_modes: tuple[bool, ...]) -> list[tuple[int, ...]]:
    grid = itertools.product(range(1, 12), range(1, 6), range(1, 5), range(0, 3), range(1, 4),
                             ceil_modes)
    return [c for c in grid if torch_output_size(*c) is not None]


ALL_CONFIGS = accepted_configs((False, True))


# --- the package ---------------------------------------------------------------------------

def test_output_size_agrees_with_torch_on_every_small_config():
    for n, k, s, p, d, ceil_mode in itertools.product(range(1, 12), range(1, 6), range(1, 5),
                                                      range(0, 4), range(1, 4), (False, True)):
        expected = torch_output_size(n, k, s, p, d, ceil_mode)
        if expected is None:
            with pytest.raises(ValueError):
                pool_output_size(n, k, s, p, d, ceil_mode)
        else:
            assert pool_output_size(n, k, s, p, d, ceil_mode) == expected, (n, k, s, p, d)


@pytest.mark.parametrize(("kwargs", "parameter"), [
    (dict(kernel_size=0), "kernel_size"),
    (dict(kernel_size=2, stride=0), "stride"),
    (dict(kernel_size=2, dilation=0), "dilation"),
    (dict(kernel_size=2, padding=-1), "padding"),
    (dict(kernel_size=2, padding=2), "padding"),
    (dict(kernel_size=9), "input_size"),
])
def test_rejected_configuration_names_the_parameter(kwargs, parameter):
    with pytest.raises(ValueError, match=parameter):
        pool_output_size(4, **kwargs)


@pytest.mark.parametrize("bad", [2.0, "2", True, (2, 2, 2), None])
def test_kernel_size_of_wrong_type_or_length_is_rejected(bad):
    with pytest.raises((TypeError, ValueError), match="kernel_size"):
        pool_output_shape((4, 4), bad)


def test_padding_rule_is_half_the_kernel_even_with_dilation():
    # Dilation widens the window, yet torch still caps padding at kernel_size // 2.
    assert torch_output_size(9, 2, 1, 2, 3, False) is None
    with pytest.raises(ValueError, match="padding"):
        pool_output_size(9, 2, 1, 2, 3)


def measured_receptive_field(layers: list[tuple[int, int, int]]) -> tuple[int, int]:
    """(receptive field, effective stride) of the last layer, measured in torch: the input
    pixels a unit's gradient reaches, and how far the next unit's footprint is shifted."""
    modules = []
    for k, s, d in layers:
        conv = torch.nn.Conv1d(1, 1, k, s, dilation=d, bias=False)
        torch.nn.init.ones_(conv.weight)  # all-ones weights: no gradient vanishes by accident
        modules.append(conv)
    net = torch.nn.Sequential(*modules).double()
    footprints = []
    for shift in (0, 1):
        x = torch.ones(1, 1, 600, dtype=torch.float64, requires_grad=True)
        y = net(x)
        y[0, 0, y.shape[-1] // 2 + shift].backward()
        footprints.append(torch.nonzero(x.grad[0, 0]).flatten())
    first = footprints[0]
    return int(first[-1] - first[0] + 1), int(footprints[1][0] - first[0])


STACKS = [[(3, 1, 1), (2, 2, 1), (5, 1, 1), (3, 2, 1), (3, 1, 2)],
          [(3, 1, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1), (3, 1, 1), (2, 2, 1), (5, 1, 1)],
          [(7, 2, 1), (3, 2, 1), (1, 1, 1), (3, 3, 1)], [(4, 4, 1)], [(1, 1, 1)]]


@pytest.mark.parametrize("stack", STACKS)
def test_receptive_fields_match_the_gradient_footprint_in_torch(stack):
    rows = receptive_fields([Layer(f"layer{i}", k, s, d) for i, (k, s, d) in enumerate(stack)])
    assert (rows[-1].receptive_field, rows[-1].effective_stride) == measured_receptive_field(
        stack)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_loop_references_match_torch(data):
    n, c = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    h, w = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    k = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    s = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    p = (data.draw(st.integers(0, k[0] // 2)), data.draw(st.integers(0, k[1] // 2)))
    d = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2)))
    ceil_mode = data.draw(st.booleans())
    batched = data.draw(st.booleans())
    shape = (n, c, h, w) if batched else (c, h, w)
    x = data.draw(st.sampled_from([np.float32, np.float64]))(
        np.random.default_rng(data.draw(st.integers(0, 99))).integers(-2, 3, shape))
    x[np.random.default_rng(1).random(shape) < 0.1] = np.nan  # ties and NaNs on purpose
    t = torch.from_numpy(x)
    try:
        want, want_idx = F.max_pool2d(t, k, s, p, d, ceil_mode, return_indices=True)
    except RuntimeError:
        with pytest.raises(ValueError):
            forward.max_pool2d_loop(x, k, s, p, d, ceil_mode)
        return
    got, got_idx = forward.max_pool2d_loop(x, k, s, p, d, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(got_idx, want_idx.numpy())
    assert got.dtype == x.dtype
    for count_include_pad in (True, False):
        want = F.avg_pool2d(t, k, s, p, ceil_mode, count_include_pad)
        got = forward.avg_pool2d_loop(x, k, s, p, ceil_mode, count_include_pad)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-6)


def test_max_pool_of_a_window_wholly_in_padding_is_torchs_lowest_and_index():
    x = np.arange(3.0).reshape(1, 1, 3)
    want, want_idx = F.max_pool2d(torch.from_numpy(x), (2, 1), 1, (1, 0), (2, 1),
                                  return_indices=True)
    got, got_idx = forward.max_pool2d_loop(x, (2, 1), 1, (1, 0), (2, 1), return_indices=True)
    assert np.isneginf(got).all()
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(got_idx, want_idx.numpy())


# --- graded: exercise 01_forward ---------------------------------------------------------

@pytest.mark.graded(EXERCISE, points=1)
def test_output_size_without_padding(submission):
    for n, k, s in itertools.product(range(1, 12), range(1, 6), range(1, 5)):
        if n >= k:
            assert submission.pool_output_size(n, k, s) == torch_output_size(n, k, s, 0, 1, False)


@pytest.mark.graded(EXERCISE, points=1)
def test_output_size_defaults_stride_to_kernel_size(submission):
    assert [submission.pool_output_size(n, 2) for n in (4, 5, 6)] == [
        torch_output_size(n, 2, 2, 0, 1, False) for n in (4, 5, 6)]


@pytest.mark.graded(EXERCISE, points=1)
def test_output_size_with_padding_and_dilation(submission):
    for n, k, s, p, d, ceil_mode in accepted_configs((False,)):
        assert submission.pool_output_size(n, k, s, p, d, ceil_mode) == torch_output_size(
            n, k, s, p, d, ceil_mode), f"input_size={n} kernel={k} stride={s} pad={p} dil={d}"


@pytest.mark.graded(EXERCISE, points=1)
def test_output_size_ceil_mode_and_the_last_window_rule(submission):
    for n, k, s, p, d, ceil_mode in accepted_configs((True,)):
        assert submission.pool_output_size(n, k, s, p, d, ceil_mode) == torch_output_size(
            n, k, s, p, d, ceil_mode), f"input_size={n} kernel={k} stride={s} pad={p} dil={d}"


def torch_max_pool2d(x: np.ndarray, k: object, s: object = None, p: object = 0) -> np.ndarray:
    return F.max_pool2d(torch.from_numpy(x)[None], k, s, p)[0].numpy()


@pytest.mark.graded(EXERCISE, points=1)
def test_max_pool2d_on_the_worked_example(submission):
    x = np.array([[1, 3, 2, 1], [4, 6, 5, 0], [2, 9, 3, 4], [0, 1, 7, 2]], dtype=np.float32)
    np.testing.assert_array_equal(submission.max_pool2d(x, 2, 2), torch_max_pool2d(x, 2, 2))


@pytest.mark.graded(EXERCISE, points=2)
def test_max_pool2d_overlapping_and_strided_windows(submission):
    rng = np.random.default_rng(0)
    for h, w, k, s in itertools.product((5, 6, 7), (4, 7), (2, 3), (1, 2, 3)):
        x = rng.normal(size=(h, w)).astype(np.float32)
        got = np.asarray(submission.max_pool2d(x, k, s))
        np.testing.assert_array_equal(got, torch_max_pool2d(x, k, s), f"{h}x{w} k={k} s={s}")


@pytest.mark.graded(EXERCISE, points=2)
def test_max_pool2d_padding_never_wins(submission):
    x = -np.arange(1, 26, dtype=np.float64).reshape(5, 5)
    for k, s, p in [(2, 2, 1), (3, 1, 1), (3, 2, 1), (4, 3, 2)]:
        got = np.asarray(submission.max_pool2d(x, k, s, p))
        np.testing.assert_array_equal(got, torch_max_pool2d(x, k, s, p), f"k={k} s={s} p={p}")


@pytest.mark.graded(EXERCISE, points=1)
def test_max_pool2d_rectangular_windows_and_dtype(submission):
    x = np.random.default_rng(1).integers(-9, 9, size=(6, 7)).astype(np.float32)
    got = np.asarray(submission.max_pool2d(x, (2, 3), (1, 2), (1, 0)))
    np.testing.assert_array_equal(got, torch_max_pool2d(x, (2, 3), (1, 2), (1, 0)))
    assert got.dtype == x.dtype


@pytest.mark.graded(EXERCISE, points=3)
def test_receptive_field_matches_the_network_measured_in_torch(submission):
    for stack in [s for s in STACKS if all(d == 1 for _, _, d in s)]:
        got = submission.receptive_field([(k, s) for k, s, _ in stack])
        assert tuple(got) == measured_receptive_field(stack), f"layers {stack}"


def test_every_graded_test_fails_on_the_untouched_stub(tmp_path):
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pytest", __file__, "-m", "graded", "-q",
                    "-p", "no:cacheprovider", f"--submission={EXERCISES / f'{EXERCISE}.ipynb'}",
                    f"--grade-report={report}"], cwd=ROOT, capture_output=True, check=False)
    results = json.loads(report.read_text())["results"]
    assert len(results) == 9
    assert [r["name"] for r in results if r["passed"]] == []
