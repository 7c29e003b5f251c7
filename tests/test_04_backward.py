"""Chapter 4, the backward pass: the loop references, the gradient checker, the routing counts
and the figure against torch autograd. The graded tests of exercise 04_backward are in
``test_04_backward_graded.py``."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from pooling_course import backward
from pooling_course import functional as PF
from pooling_course.widgets import state_html


def torch_grad(op, x: np.ndarray, g: np.ndarray, *args, **kwargs) -> np.ndarray:
    """What torch autograd sends back to ``x`` when ``op(x, ...)`` receives ``g``."""
    t = torch.tensor(x, requires_grad=True)
    op(t, *args, **kwargs).backward(torch.tensor(g, dtype=t.dtype))
    return t.grad.numpy()


# --- the package ---------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_loop_references_equal_torch_autograd_with_ties_nan_and_padding(data):
    h, w = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    k = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    s = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    p = (data.draw(st.integers(0, k[0] // 2)), data.draw(st.integers(0, k[1] // 2)))
    d = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    ceil_mode = data.draw(st.booleans())
    seed = data.draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=(2, h, w)).astype(np.float64)  # ties on purpose
    if data.draw(st.booleans()):
        x[rng.random(x.shape) < 0.15] = np.nan
    try:
        out = F.max_pool2d(torch.tensor(x), k, s, p, d, ceil_mode)
    except RuntimeError:
        with pytest.raises(ValueError):
            backward.max_pool2d_backward_loop(np.ones(1), x, k, s, p, d, ceil_mode)
        return
    g = rng.normal(size=tuple(out.shape))
    ours = backward.max_pool2d_backward_loop(g, x, k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(ours, PF.max_pool2d_backward(g, x, k, s, p, d, ceil_mode))
    if not np.isneginf(out.numpy()).any():  # torch writes out of bounds for empty windows
        np.testing.assert_allclose(ours, torch_grad(F.max_pool2d, x, g, k, s, p, d, ceil_mode),
                                   rtol=1e-12, atol=1e-12)
    for count_include_pad, divisor in [(True, None), (False, None), (True, -3)]:
        args = (k, s, p, ceil_mode, count_include_pad, divisor)
        g = rng.normal(size=tuple(F.avg_pool2d(torch.tensor(x), *args).shape))
        ours = backward.avg_pool2d_backward_loop(g, x, *args)
        np.testing.assert_allclose(ours, torch_grad(F.avg_pool2d, x, g, *args), rtol=1e-12,
                                   atol=1e-12)


def test_loop_references_take_batches_and_keep_float32():
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 5)).astype(np.float32)
    g = np.ones((2, 3, 2, 2), dtype=np.float32)
    for loop, op in [(backward.max_pool2d_backward_loop, F.max_pool2d),
                     (backward.avg_pool2d_backward_loop, F.avg_pool2d)]:
        got = loop(g, x, 2)
        assert got.shape == x.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, torch_grad(op, x, g, 2), rtol=1e-6)


def test_loop_references_reject_bad_arguments():
    x = np.zeros((1, 4, 4))
    with pytest.raises(ValueError, match="grad_output"):
        backward.max_pool2d_backward_loop(np.ones((1, 3, 3)), x, 2)
    with pytest.raises(ValueError, match="divisor_override"):
        backward.avg_pool2d_backward_loop(np.ones((1, 2, 2)), x, 2, divisor_override=0)
    with pytest.raises(ValueError, match="padding"):
        backward.avg_pool2d_backward_loop(np.ones((1, 2, 2)), x, 2, padding=2)


def test_empty_windows_send_no_gradient():
    line = np.arange(3.0).reshape(1, 1, 3)
    args = ((2, 1), 1, (1, 0), (2, 1))
    out = F.max_pool2d(torch.tensor(line), *args).numpy()
    assert out.shape == (1, 1, 3) and np.isneginf(out).all()
    assert not backward.max_pool2d_backward_loop(np.ones(out.shape), line, *args).any()


@pytest.mark.parametrize("op", ["max", "avg"])
def test_numerical_gradient_agrees_with_autograd_away_from_ties(op):
    rng = np.random.default_rng(1)
    x, g = rng.normal(size=(2, 7, 7)), rng.normal(size=(2, 3, 3))
    ours = {"max": PF.max_pool2d, "avg": PF.avg_pool2d}[op]
    theirs = {"max": F.max_pool2d, "avg": F.avg_pool2d}[op]
    fd = backward.numerical_gradient(lambda v: ours(v, 3, 2), x, g)
    np.testing.assert_allclose(fd, torch_grad(theirs, x, g, 3, 2), atol=1e-8)


def test_numerical_gradient_is_central_and_defaults_to_ones():
    x = np.array([0.3, -1.2, 2.0])
    # a central difference of a cubic is exact up to eps**2 * f''' / 6 = eps**2
    got = backward.numerical_gradient(lambda v: v ** 3, x, eps=1e-3)
    np.testing.assert_allclose(got, 3 * x ** 2 + 1e-6, rtol=0, atol=1e-9)


def test_numerical_gradient_averages_the_slopes_at_a_tie():
    tie = np.array([[[5.0, 5.0], [1.0, 2.0]]])
    fd = backward.numerical_gradient(lambda v: PF.max_pool2d(v, 2), tie)
    np.testing.assert_allclose(fd, [[[0.5, 0.5], [0, 0]]], atol=1e-9)
    assert torch_grad(F.max_pool2d, tie, np.ones((1, 1, 1)), 2).tolist() == [[[1, 0], [0, 0]]]


@pytest.mark.parametrize("eps", [0, -1e-3, "1e-3", True])
def test_numerical_gradient_rejects_bad_steps(eps):
    with pytest.raises(ValueError, match="eps"):
        backward.numerical_gradient(np.sin, np.zeros(2), eps=eps)


def test_numerical_gradient_rejects_a_misshapen_grad_output():
    with pytest.raises(ValueError, match="grad_output"):
        backward.numerical_gradient(np.sin, np.zeros(2), np.ones(3))


@pytest.mark.parametrize(("k", "s", "p"), [(2, 2, 0), (3, 2, 1), (3, 1, 0), (4, 3, 2)])
def test_counts_equal_torch_autograd_of_ones(k, s, p):
    x = np.random.default_rng(2).integers(0, 5, size=(2, 11, 9)).astype(np.float64)
    ones = np.ones(F.max_pool2d(torch.tensor(x), k, s, p).shape)
    assert np.array_equal(backward.gradient_counts(x, k, s, p),
                          torch_grad(F.max_pool2d, x, ones, k, s, p))
    expected = torch_grad(F.avg_pool2d, x, ones, k, s, p, divisor_override=1)
    got = backward.window_counts(x.shape, k, s, p)
    assert got.dtype == np.int64 and np.array_equal(got, expected)


def test_the_overlap_bound_holds_and_is_reached():
    for k, s in itertools.product((2, 3, 4), (1, 2, 3)):
        counts = backward.window_counts((1, 13, 13), k, s)
        assert counts.max() == int(np.ceil(k / s)) ** 2, (k, s)


# --- the interactive figure ----------------------------------------------------------------

STATES = list(itertools.product(backward.PRESETS, backward.POOLS, (1, 2, 3)))


@pytest.mark.parametrize(("preset", "pool", "stride"), STATES)
def test_every_figure_state_agrees_with_torch_and_draws_its_routing(preset, pool, stride):
    comparison = backward.routing_comparison(preset, pool, stride)
    assert comparison.same
    x = backward.PRESETS[preset][None]
    op = F.max_pool2d if pool == "max" else F.avg_pool2d
    n_windows = op(torch.tensor(x), backward.KERNEL_SIZE, stride).numel()
    svg = backward.routing_figure(preset, pool, stride)
    shape = "pc-arrow" if pool == "max" else "pc-window"
    assert svg.count(f'class="{shape}"') == n_windows
    gradient_panel = svg.split('data-role="gradient"', 1)[1]
    shown = [float(v) for v in re.findall(r'data-value="([^"]*)"', gradient_panel)]
    np.testing.assert_allclose(shown, comparison.theirs.ravel())


def test_figure_is_deterministic_and_importable():
    params = dict(preset="random", pool="max", stride=2)
    first = state_html(backward.routing_figure, params, compare=backward.routing_comparison)
    again = state_html(backward.routing_figure, params, compare=backward.routing_comparison)
    assert first == again
    assert 'data-render="pooling_course.backward.routing_figure"' in first


def test_live_figure_redraws_when_a_control_moves():
    from pooling_course.widgets import interactive

    box = interactive(backward.routing_figure, compare=backward.routing_comparison,
                      mode="live", preset=list(backward.PRESETS), pool=["max", "avg"],
                      stride=[1, 2, 3])
    before = box.display.value
    assert 'class="pc-arrow"' in before and "torch autograd gives the same output" in before
    box.controls["pool"].value = "avg"
    assert box.display.value != before and 'class="pc-window"' in box.display.value
    assert box.display.value.startswith("<div") and "data-role" in box.display.value


@pytest.mark.parametrize("kwargs", [dict(preset="nope"), dict(pool="min"), dict(stride=4),
                                    dict(stride=True)])
def test_figure_rejects_unknown_values(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        backward.routing_figure(**kwargs)


def test_with_dilation_1_no_window_allowed_by_torch_is_all_padding():
    """Within torch's cap p <= k/2, a dilation-1 window always holds a real element (the
    chapter's claim); with dilation 2 some windows hold padding only."""
    empty = {1: 0, 2: 0}
    for length, k, s, d, ceil in itertools.product(range(1, 13), range(1, 7), range(1, 7),
                                                   (1, 2), (False, True)):
        for p in range(k // 2 + 1):
            try:
                out = F.max_pool1d(torch.zeros(1, 1, length), k, s, p, d, ceil_mode=ceil)
            except RuntimeError:
                continue
            empty[d] += bool(torch.isinf(out).any())
    assert empty[1] == 0 and empty[2] > 0


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_transposed_convolution_is_the_adjoint_not_the_inverse(stride):
    rng = np.random.default_rng(stride)
    x = torch.tensor(rng.normal(size=(1, 2, 9, 9)))
    w = torch.tensor(rng.normal(size=(3, 2, 3, 3)))
    z = F.conv2d(x, w, stride=stride)
    y = torch.tensor(rng.normal(size=z.shape))
    extra = (9 - 3) % stride
    back = F.conv_transpose2d(y, w, stride=stride, output_padding=extra)
    assert back.shape == x.shape
    assert torch.isclose((z * y).sum(), (x * back).sum())
    round_trip = F.conv_transpose2d(z, w, stride=stride, output_padding=extra)
    assert not torch.allclose(round_trip, x)


def test_max_unpool_is_the_adjoint_of_max_pool_routing():
    rng = np.random.default_rng(8)
    x, g, v = rng.normal(size=(3, 8, 8)), rng.normal(size=(3, 4, 4)), rng.normal(size=(3, 8, 8))
    _, idx = PF.max_pool2d(x, 2, return_indices=True)
    unpooled = PF.max_unpool2d(g, idx, 2, output_size=(8, 8))
    assert np.array_equal(unpooled, PF.max_pool2d_backward(g, x, 2))
    routed = np.take_along_axis(v.reshape(3, -1), idx.reshape(3, -1), axis=1)
    assert np.isclose((unpooled * v).sum(), (g.reshape(3, -1) * routed).sum())


# --- learning dynamics ---------------------------------------------------------------------

def test_training_is_seeded_and_records_every_step():
    a = backward.train_digits("avg", 3, epochs=1)
    b = backward.train_digits("avg", 3, epochs=1)
    c = backward.train_digits("avg", 4, epochs=1)
    assert np.array_equal(a.losses, b.losses) and np.array_equal(a.grad_norms, b.grad_norms)
    assert not np.array_equal(a.losses, c.losses)
    assert a.losses.shape == a.grad_norms.shape == (12,) and a.test_accuracy.shape == (1,)
    assert torch.get_num_threads() >= 1


def test_the_three_networks_differ_only_in_the_halving_layer():
    layers = {p: [type(m).__name__ for m in backward.digits_cnn(p)] for p in backward.POOLINGS}
    assert layers["max"][2] == "MaxPool2d" and layers["avg"][2] == "AvgPool2d"
    assert layers["strided conv"][2] == "Conv2d"
    for a, b in itertools.combinations(layers.values(), 2):
        assert [x for i, x in enumerate(a) if i not in (2, 5)] == [
            x for i, x in enumerate(b) if i not in (2, 5)]
    with pytest.raises(ValueError, match="pooling"):
        backward.digits_cnn("min")
