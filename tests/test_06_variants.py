"""Chapter 6, pooling variants: every operation of ``pooling_course.variants`` against torch
(autograd on the same expression where torch has no such layer), its loop reference or a
statistical law, and the receptive fields against the published table and a torch measurement.
The graded tests of exercise 06_variants are in ``test_06_variants_graded.py``."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pooling_course import variants as V
from pooling_course.forward import receptive_fields

matplotlib.use("Agg")



def relu_map(rng: np.random.Generator, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    """A non-negative feature map with exact zeros (and whole zero windows) on purpose."""
    x = np.maximum(rng.normal(size=shape), 0).astype(dtype)
    x[..., :2, :2] = 0
    return x


def torch_windows(x: np.ndarray, k: tuple[int, int], s: tuple[int, int]) -> torch.Tensor:
    """(planes, L_out, kH * kW) windows by torch's unfold, requiring grad on the input."""
    t = torch.from_numpy(x.reshape(-1, 1, *x.shape[-2:])).requires_grad_(True)
    return t, F.unfold(t, k, stride=s).transpose(1, 2)


# --- stochastic pooling ----------------------------------------------------------------------

@pytest.mark.parametrize("shape, k, s", [((2, 3, 6, 6), 2, None), ((3, 7, 5), (3, 2), (2, 1)),
                                          ((1, 1, 4, 4), 3, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stochastic_kernel_equals_its_loop_reference_in_both_modes(shape, k, s, dtype):
    x = relu_map(np.random.default_rng(1), shape, dtype)
    for training in (True, False):
        got = V.stochastic_pool2d(x, k, s, training, np.random.default_rng(5))
        want = V.stochastic_pool2d_loop(x, k, s, training, np.random.default_rng(5))
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_stochastic_training_picks_an_element_of_the_window_and_zero_windows_give_zero():
    x = relu_map(np.random.default_rng(2), (2, 8, 8))
    out, idx = V.stochastic_pool2d(x, 2, generator=np.random.default_rng(0), return_indices=True)
    flat = x.reshape(2, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, idx.reshape(2, -1), 1),
                                  out.reshape(2, -1))
    rows, cols = idx // 8, idx % 8
    assert ((rows // 2 == np.arange(4)[:, None]) & (cols // 2 == np.arange(4))).all()
    assert (out[:, 0, 0] == 0).all() and (flat[np.arange(2)[:, None], idx.reshape(2, -1)]
                                           > 0)[:, 1:].any()


def test_stochastic_sampling_frequencies_match_the_probabilities():
    window = np.array([[0.0, 1.0], [3.0, 2.0]])
    n = 40_000
    _, idx = V.stochastic_pool2d(np.broadcast_to(window, (n, 2, 2)).copy(), 2,
                                 generator=np.random.default_rng(3), return_indices=True)
    freq = np.bincount(idx.ravel(), minlength=4) / n
    prob = window.ravel() / window.sum()
    sigma = np.sqrt(prob * (1 - prob) / n)
    assert freq[0] == 0  # a zero is never picked
    assert (np.abs(freq - prob) <= 5 * sigma + 1e-12).all(), (freq, prob)


def test_the_mean_of_training_outputs_converges_to_the_test_time_output():
    x = relu_map(np.random.default_rng(4), (1, 6, 6))
    draws = np.stack([V.stochastic_pool2d(x, 3, generator=np.random.default_rng(i))
                      for i in range(3000)])
    test_time = V.stochastic_pool2d(x, 3, training=False)
    # Each window's standard error, from the draws' own spread.
    sem = draws.std(axis=0) / np.sqrt(len(draws))
    assert (sem > 1e-9).sum() >= 2  # windows with a real choice exist
    assert (np.abs(draws.mean(axis=0) - test_time) <= 5 * sem + 1e-12).all()


def test_stochastic_test_time_value_and_backward_equal_torch_autograd():
    x = relu_map(np.random.default_rng(6), (2, 2, 7, 6))
    k, s = (3, 2), (2, 2)
    t, win = torch_windows(x, k, s)
    total = win.sum(-1)
    y = torch.where(total > 0, (win * win).sum(-1) / total.clamp_min(1e-300), 0.0)
    out = V.stochastic_pool2d(x, k, s, training=False)
    np.testing.assert_allclose(out.reshape(4, -1), y.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(7).normal(size=out.shape)
    y.backward(torch.from_numpy(g.reshape(4, -1)))
    got = V.stochastic_pool2d_backward(g, x, k, s, training=False)
    np.testing.assert_allclose(got, t.grad.numpy().reshape(x.shape), rtol=1e-10, atol=1e-12)


def test_stochastic_training_backward_routes_to_the_picked_element_as_autograd_does():
    x = relu_map(np.random.default_rng(8), (3, 6, 6))
    out, idx = V.stochastic_pool2d(x, 3, 1, generator=np.random.default_rng(0),
                                   return_indices=True)
    t = torch.from_numpy(x).requires_grad_(True)
    picked = t.flatten(1).gather(1, torch.from_numpy(idx.reshape(3, -1)))
    np.testing.assert_array_equal(picked.detach().numpy().reshape(out.shape), out)
    g = np.random.default_rng(9).normal(size=out.shape)
    picked.backward(torch.from_numpy(g.reshape(3, -1)))  # overlapping windows add up
    got = V.stochastic_pool2d_backward(g, x, 3, 1, training=True, indices=idx)
    np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("call, error, match", [
    (lambda: V.stochastic_pool2d(-np.ones((1, 2, 2)), 2), ValueError, "non-negative"),
    (lambda: V.stochastic_pool2d(np.full((1, 2, 2), np.nan), 2), ValueError, "NaN"),
    (lambda: V.stochastic_pool2d(np.ones((1, 2, 2), int), 2), TypeError, "float"),
    (lambda: V.stochastic_pool2d(np.ones((2, 2)), 2), ValueError, "shape"),
    (lambda: V.stochastic_pool2d(np.ones((1, 2, 2)), 3), ValueError, "kernel_size"),
    (lambda: V.stochastic_pool2d(np.ones((1, 2, 2)), 2, training=False, return_indices=True),
     ValueError, "return_indices"),
    (lambda: V.stochastic_pool2d_backward(np.ones((1, 1, 1)), np.ones((1, 2, 2)), 2),
     ValueError, "indices"),
    (lambda: V.stochastic_pool2d_backward(np.ones((1, 2, 1)), np.ones((1, 2, 2)), 2,
                                          training=False), ValueError, "grad_output"),
])
def test_stochastic_bad_input_names_the_problem(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- mixed, gated, min, softmax pooling ------------------------------------------------------

def test_mixed_pool_is_the_blend_of_torchs_max_and_average_and_so_is_its_gradient():
    x = np.random.default_rng(10).normal(size=(2, 3, 7, 7))
    for alpha in (0.0, 0.3, 1.0):
        t = torch.from_numpy(x).requires_grad_(True)
        y = alpha * F.max_pool2d(t, 3, 2) + (1 - alpha) * F.avg_pool2d(t, 3, 2)
        np.testing.assert_allclose(V.mixed_pool2d(x, 3, 2, alpha), y.detach().numpy(),
                                   rtol=1e-12)
        g = np.random.default_rng(11).normal(size=y.shape)
        y.backward(torch.from_numpy(g))
        np.testing.assert_allclose(V.mixed_pool2d_backward(g, x, 3, 2, alpha), t.grad.numpy(),
                                   rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="alpha"):
        V.mixed_pool2d(x, 2, alpha=1.5)


def test_gated_pool_equals_the_gate_formula_written_in_torch():
    x = np.random.default_rng(12).normal(size=(2, 3, 6, 6))
    gate = np.random.default_rng(13).normal(size=(2, 2))
    _, win = torch_windows(x, (2, 2), (2, 2))
    g = torch.sigmoid(win @ torch.from_numpy(gate.ravel()))
    want = g * win.amax(-1) + (1 - g) * win.mean(-1)
    got = V.gated_pool2d(x, gate, 2)
    np.testing.assert_allclose(got.reshape(6, -1), want.detach().numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="gate"):
        V.gated_pool2d(x, np.zeros((3, 3)), 2)


def test_gated_and_softmax_kernels_equal_the_loop_reference():
    x = np.random.default_rng(21).normal(size=(2, 2, 7, 6))
    gate = np.random.default_rng(22).normal(size=(3, 2))

    def gated(window):
        g = 1 / (1 + np.exp(-window @ gate.ravel()))
        return g * window.max() + (1 - g) * window.mean()

    np.testing.assert_allclose(V.gated_pool2d(x, gate, (3, 2), (2, 1)),
                               V.pool2d_loop(x, (3, 2), (2, 1), gated), rtol=1e-12)
    for temperature in (0.2, 3.0):
        def soft(window, t=temperature):
            e = np.exp((window - window.max()) / t)
            return (e / e.sum()) @ window

        np.testing.assert_allclose(V.softmax_pool2d(x, 3, 2, temperature),
                                   V.pool2d_loop(x, 3, 2, soft), rtol=1e-12)


def test_min_pool_equals_torchs_window_minimum_with_padding_never_winning():
    x = np.random.default_rng(14).normal(size=(2, 5, 5)) + 10  # all positive: a 0 pad would win
    padded = F.pad(torch.from_numpy(x)[:, None], (1, 1, 1, 1), value=float("inf"))
    want = F.unfold(padded, 3, stride=2).amin(1).reshape(2, 3, 3)
    np.testing.assert_array_equal(V.min_pool2d(x, 3, 2, 1), want.numpy())


def test_softmax_pool_equals_torch_and_moves_from_mean_to_max_with_temperature():
    x = np.random.default_rng(15).normal(size=(2, 6, 6))
    _, win = torch_windows(x, (2, 2), (2, 2))
    for temperature in (0.1, 1.0, 10.0):
        want = (torch.softmax(win / temperature, -1) * win).sum(-1)
        got = V.softmax_pool2d(x, 2, temperature=temperature)
        np.testing.assert_allclose(got.reshape(2, -1), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(V.softmax_pool2d(x, 2, temperature=1e-4),
                               F.max_pool2d(torch.from_numpy(x), 2).numpy(), atol=1e-9)
    np.testing.assert_allclose(V.softmax_pool2d(x, 2, temperature=1e7),
                               F.avg_pool2d(torch.from_numpy(x), 2).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        V.softmax_pool2d(x, 2, temperature=0)


# --- attention pooling -----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 6, 3)])
@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_attention_pool_and_its_gradients_equal_torch_autograd(shape, temperature):
    rng = np.random.default_rng(16)
    x, w = rng.normal(size=shape), rng.normal(size=shape[-1])
    tx = torch.from_numpy(x).requires_grad_(True)
    tw = torch.from_numpy(w).requires_grad_(True)
    a = torch.softmax(tx @ tw / temperature, -1)
    y = (a[..., None] * tx).sum(-2)
    out, weights = V.attention_pool(x, w, temperature)
    np.testing.assert_allclose(out, y.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(weights, a.detach().numpy(), rtol=1e-12)
    g = rng.normal(size=y.shape)
    y.backward(torch.from_numpy(g))
    gx, gw = V.attention_pool_backward(g, x, w, temperature)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_attention_pool_ignores_order_and_spans_mean_to_top_scored_vector():
    rng = np.random.default_rng(17)
    x, w = rng.normal(size=(6, 4)), rng.normal(size=4)
    out, _ = V.attention_pool(x, w)
    np.testing.assert_allclose(V.attention_pool(x[rng.permutation(6)], w)[0], out, rtol=1e-12)
    np.testing.assert_allclose(V.attention_pool(x, w, 1e8)[0], x.mean(0), atol=1e-7)
    np.testing.assert_allclose(V.attention_pool(x, w, 1e-6)[0], x[np.argmax(x @ w)], atol=1e-9)
    with pytest.raises(ValueError, match="w must"):
        V.attention_pool(x, np.ones(3))


# --- max over time and DNA -------------------------------------------------------------------

def test_max_over_time_equals_torch_on_every_sequence_up_to_its_length():
    rng = np.random.default_rng(18)
    x = rng.normal(size=(4, 3, 9)).astype(np.float32)
    lengths = np.array([9, 1, 5, 3])
    values, positions = V.max_over_time(x, lengths)
    for n, length in enumerate(lengths):
        v, i = torch.from_numpy(x[n, :, :length]).max(-1)
        np.testing.assert_array_equal(values[n], v.numpy())
        np.testing.assert_array_equal(positions[n], i.numpy())
    full = F.max_pool1d(torch.from_numpy(x), 9).squeeze(-1).numpy()
    np.testing.assert_array_equal(V.max_over_time(x)[0], full)
    t = torch.from_numpy(x).requires_grad_(True)
    g = rng.normal(size=values.shape).astype(np.float32)
    torch.stack([t[n, :, :length].amax(-1) for n, length in enumerate(lengths)]).backward(
        torch.from_numpy(g))
    np.testing.assert_array_equal(V.max_over_time_backward(g, positions, 9), t.grad.numpy())
    with pytest.raises(ValueError, match="lengths"):
        V.max_over_time(x, [9, 0, 5, 3])


def test_motif_scan_is_torchs_conv1d_and_pwm_is_the_log_odds_of_the_counts():
    rng = np.random.default_rng(19)
    onehot = V.one_hot_dna(V.random_dna(rng, 3, 30))
    assert onehot.shape == (3, 4, 30) and (onehot.sum(1) == 1).all()
    pwm = V.pwm_log_odds(["TATAAT", "TATAAT", "TACAAT", "GATAAT"])
    # Column 0 counts: T 3, G 1 of 4 sites; with pseudocount 0.5 over 6 total.
    np.testing.assert_allclose(pwm[:, 0], np.log2(np.array([0.5, 0.5, 1.5, 3.5]) / 6 / 0.25))
    want = F.conv1d(torch.from_numpy(onehot), torch.from_numpy(pwm)[None]).numpy()[:, 0]
    np.testing.assert_allclose(V.motif_scan(onehot, pwm), want, rtol=1e-12)


def test_global_max_of_the_scan_finds_a_planted_motif_wherever_it_sits():
    rng = np.random.default_rng(20)
    motif = "TATAAT"
    pwm = V.pwm_log_odds([motif])
    background = V.random_dna(rng, 1, 60)[0]
    best = pwm.max(axis=0).sum()
    assert motif not in background
    for position in range(0, 55, 6):
        sequence = V.plant(background, motif, position)
        values, at = V.max_over_time(V.motif_scan(V.one_hot_dna(sequence), pwm)[None, None])
        assert values[0, 0] == pytest.approx(best)  # the same score wherever it sits
        assert at[0, 0] == sequence.index(motif) == position


# --- receptive fields ------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(V.PUBLISHED_RECEPTIVE_FIELDS))
def test_receptive_fields_match_araujo_norris_sim_2019(name):
    last = receptive_fields(V.architecture_layers(name))[-1]
    # Published in Araujo, Norris & Sim (2019): AlexNet 195, VGG-16 212,
    # ResNet-50 483, effective stride 32 for all three.
    assert (last.receptive_field, last.effective_stride) == {
        "AlexNet": (195, 32), "VGG-16": (212, 32), "ResNet-50": (483, 32)}[name]


def _ones_conv(k: int, s: int, p: int) -> torch.nn.Conv1d:
    conv = torch.nn.Conv1d(1, 1, k, s, p, bias=False).double()
    torch.nn.init.ones_(conv.weight)
    return conv


class _Bottleneck(torch.nn.Module):
    def __init__(self, stride: int, on_3x3: bool):
        super().__init__()
        s1, s3 = (1, stride) if on_3x3 else (stride, 1)
        self.body = torch.nn.Sequential(_ones_conv(1, s1, 0), _ones_conv(3, s3, 1),
                                        _ones_conv(1, 1, 0))
        self.short = _ones_conv(1, stride, 0)

    def forward(self, x):
        return self.body(x) + self.short(x)


def measured_resnet50(on_3x3: bool) -> tuple[int, int]:
    """Receptive field and effective stride of a 1-d ResNet-50 with residual connections,
    measured as the input footprint of one output unit's gradient."""
    blocks = [_ones_conv(7, 2, 3), torch.nn.AvgPool1d(3, 2, 1)]
    for stage, count in enumerate((3, 4, 6, 3)):
        blocks += [_Bottleneck(2 if stage and not b else 1, on_3x3) for b in range(count)]
    net = torch.nn.Sequential(*blocks)
    footprints = []
    for shift in (0, 1):
        x = torch.ones(1, 1, 2048, dtype=torch.float64, requires_grad=True)
        y = net(x)
        y[0, 0, y.shape[-1] // 2 + shift].backward()
        footprints.append(torch.nonzero(x.grad[0, 0]).flatten())
    return int(footprints[0][-1] - footprints[0][0] + 1), int(footprints[1][0] - footprints[0][0])


@pytest.mark.parametrize("name, on_3x3", [("ResNet-50", False), ("ResNet-50 v1.5", True)])
def test_resnet_recurrence_equals_the_footprint_of_a_residual_network_in_torch(name, on_3x3):
    last = receptive_fields(V.architecture_layers(name))[-1]
    assert (last.receptive_field, last.effective_stride) == measured_resnet50(on_3x3)


def test_unknown_architecture_is_rejected():
    with pytest.raises(ValueError, match="name must be one of"):
        V.architecture_layers("LeNet")


# --- figures ---------------------------------------------------------------------------------

def test_figures_draw_and_torch_agrees_on_every_lp_state():
    for p in (1, 2, 4, 16, float("inf")):
        assert V.lp_window_compare(p).same
        V.lp_window_figure(p)
    fig = V.stochastic_frequencies_figure(100)
    assert fig.get_figwidth() <= 7
