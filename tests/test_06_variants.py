"""Chapter 6, pooling variants: every operation of ``pooling_course.variants`` against torch
(autograd on the same expression where torch has no such layer), its loop reference or a
statistical law, the receptive fields against the published table and a torch measurement, and
the graded tests of exercise 06_variants."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pooling_course import variants as V
from pooling_course.forward import receptive_fields
from pooling_course.grading import expect

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


# --- graded: exercise 06_variants ------------------------------------------------------------

EXERCISE = "06_variants"


def _array(value, shape, name):
    """A submission's return value as an array of the expected shape, or a failed test."""
    arr = np.asarray(value)
    assert arr.shape == shape, f"{name} should have shape {shape}, got {arr.shape}"
    assert np.issubdtype(arr.dtype, np.number), f"{name} should hold numbers, got {arr.dtype}"
    return arr


def _stochastic_reference(x, k, training, seed=None):
    """The package on one (H, W) map, cropped to whole windows; with ``seed`` it draws the
    same uniforms as ``np.random.default_rng(seed).random((H_out, W_out))``."""
    h, w = (x.shape[0] // k) * k, (x.shape[1] // k) * k
    gen = None if seed is None else np.random.default_rng(seed)
    return V.stochastic_pool2d(x[None, :h, :w], k, training=training, generator=gen)[0]


@pytest.mark.graded(EXERCISE, points=1, question="6.1 stochastic_pool2d",
                    hint="At test time return sum(a**2) / sum(a) per window, and 0 for a window "
                         "of zeros.")
def test_stochastic_test_time_on_the_chapter_window_and_zero_windows(submission):
    window = np.array([[0.0, 1.0], [3.0, 2.0]])
    got = _array(submission.stochastic_pool2d(window, 2, False), (1, 1), "the output")
    assert got[0, 0] == pytest.approx(14 / 6)
    zeros = _array(submission.stochastic_pool2d(np.zeros((4, 4)), 2, False), (2, 2), "output")
    assert (zeros == 0).all(), "a window of zeros must pool to 0"


@pytest.mark.graded(EXERCISE, points=1, question="6.1 stochastic_pool2d",
                    hint="Windows are disjoint k x k blocks; rows and columns that do not fill "
                         "a window are dropped.")
def test_stochastic_test_time_on_random_maps(submission, rng):
    for h, w, k in [(6, 6, 2), (7, 5, 2), (9, 9, 3)]:
        x = relu_map(rng, (h, w))
        got = _array(submission.stochastic_pool2d(x, k, False), (h // k, w // k), "the output")
        np.testing.assert_allclose(got, _stochastic_reference(x, k, False), rtol=1e-10,
                                   err_msg=f"{h}x{w} map, kernel_size={k}")


@pytest.mark.graded(EXERCISE, points=2, question="6.1 stochastic_pool2d",
                    hint="Pick the first element (row-major) whose running sum exceeds u * S; "
                         "np.cumsum gives the running sums.")
def test_stochastic_training_picks_what_inverse_cdf_sampling_picks(submission, rng):
    window = np.array([[0.0, 1.0], [3.0, 2.0]])
    for u, want in [(0.0, 1.0), (0.1, 1.0), (0.2, 3.0), (0.6, 3.0), (0.7, 2.0), (0.99, 2.0)]:
        got = _array(submission.stochastic_pool2d(window, 2, True, np.array([[u]])), (1, 1),
                     "the output")
        assert got[0, 0] == want, f"u={u}: running sums 0, 1, 4, 6 exceed {u * 6} first at {want}"
    for h, w, k in [(6, 8, 2), (9, 6, 3), (5, 5, 2)]:
        x = relu_map(rng, (h, w))
        seed = int(rng.integers(2 ** 32))
        u = np.random.default_rng(seed).random((h // k, w // k))
        got = _array(submission.stochastic_pool2d(x, k, True, u), u.shape, "the output")
        np.testing.assert_array_equal(got, _stochastic_reference(x, k, True, seed),
                                      err_msg=f"{h}x{w} map, kernel_size={k}")


@pytest.mark.graded(EXERCISE, points=2, question="6.2 attention_pool",
                    hint="weights = softmax(x @ w / T) with the largest score subtracted first; "
                         "out = weights @ x.")
def test_attention_pool_forward_matches_torch(submission, rng):
    out, weights = submission.attention_pool(np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2))
    np.testing.assert_allclose(_array(out, (2,), "out"), [0.5, 0.5])
    np.testing.assert_allclose(_array(weights, (2,), "weights"), [0.5, 0.5])
    for n, d, temperature in [(5, 3, 1.0), (8, 4, 0.3), (3, 6, 5.0)]:
        x, w = rng.normal(size=(n, d)), rng.normal(size=d)
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        a = torch.softmax(tx @ tw / temperature, 0)
        out, weights = submission.attention_pool(x, w, temperature)
        np.testing.assert_allclose(_array(weights, (n,), "weights"), a.numpy(), rtol=1e-8)
        np.testing.assert_allclose(_array(out, (d,), "out"), (a[:, None] * tx).sum(0).numpy(),
                                   rtol=1e-8, atol=1e-12)
    big = np.array([[1000.0, 0.0], [0.0, 1.0]])
    out, _ = submission.attention_pool(big, np.array([1.0, 0.0]))
    assert np.isfinite(_array(out, (2,), "out")).all(), "large scores overflow: subtract the max"


@pytest.mark.graded(EXERCISE, points=3, question="6.2 attention_pool_backward",
                    hint="grad_x = a_i g + (delta_i / T) w and grad_w = sum_i (delta_i / T) x_i "
                         "with delta_i = a_i (c_i - sum_j a_j c_j), c_i = g . x_i.")
def test_attention_pool_backward_matches_torch_autograd(submission, rng):
    for n, d, temperature in [(4, 3, 1.0), (7, 5, 0.4), (3, 2, 3.0)]:
        x, w, g = rng.normal(size=(n, d)), rng.normal(size=d), rng.normal(size=d)
        tx = torch.from_numpy(x).requires_grad_(True)
        tw = torch.from_numpy(w).requires_grad_(True)
        (torch.softmax(tx @ tw / temperature, 0)[:, None] * tx).sum(0).backward(
            torch.from_numpy(g))
        grad_x, grad_w = submission.attention_pool_backward(g, x, w, temperature)
        np.testing.assert_allclose(_array(grad_x, (n, d), "grad_x"), tx.grad.numpy(),
                                   rtol=1e-7, atol=1e-10, err_msg=f"grad_x, T={temperature}")
        np.testing.assert_allclose(_array(grad_w, (d,), "grad_w"), tw.grad.numpy(),
                                   rtol=1e-7, atol=1e-10, err_msg=f"grad_w, T={temperature}")


OVER_TIME_HINT = ("Use the first position on ties (np.argmax does) and return integer "
                  "positions.")


@pytest.mark.graded(EXERCISE, points=1, question="6.3 max_over_time",
                    hint="Only positions below lengths[n] count; the padding after them never "
                         "wins, even when it holds the largest value.")
def test_max_over_time_on_the_notebook_example(submission):
    values, positions = submission.max_over_time(
        np.array([[[1.0, 5.0, 2.0]], [[4.0, 3.0, 9.0]]]), [3, 2])
    np.testing.assert_array_equal(_array(values, (2, 1), "values"), [[5.0], [4.0]])
    np.testing.assert_array_equal(_array(positions, (2, 1), "positions"), [[1], [0]])


@pytest.mark.graded(EXERCISE, points=2, question="6.3 max_over_time",
                    hint="Use the first position on ties (np.argmax does) and return integer "
                         "positions.")
def test_max_over_time_matches_torch_on_random_batches_with_ties(submission, rng):
    for n, c, length in [(4, 3, 9), (6, 2, 5)]:
        x = rng.integers(-3, 4, size=(n, c, length)).astype(np.float64)  # ties on purpose
        x[1, :, :] = -np.abs(x[1]) - 1  # all negative: a padding of 0 would win
        lengths = rng.integers(1, length + 1, size=n)
        x[0, :, -1] = 100.0  # padding that would win if it were not masked
        lengths[0] = length - 1
        values, positions = submission.max_over_time(x, lengths)
        values = _array(values, (n, c), "values")
        positions = _array(positions, (n, c), "positions")
        assert np.issubdtype(positions.dtype, np.integer), "positions must be integers"
        for i, real in enumerate(lengths):
            v, p = torch.from_numpy(x[i, :, :real]).max(-1)
            what = f"sequence {i} (length {real} of {length})"
            hints = {"values": OVER_TIME_HINT}
            if real < length and (np.any(positions[i] >= real) or np.any(values[i] == 0)):
                hints["values"] = ("A position is in the padding, where nothing may win: a "
                                   "padding masked with 0 beats sequences of negative values; "
                                   "mask with -inf, or take the argmax of x[n, :, :lengths[n]] "
                                   "only.")
            expect.array(values[i], v.numpy(), f"values of {what}", hints, dtype=False)
            expect.array(positions[i].astype(np.int64), p.numpy(), f"positions of {what}",
                         {"values": OVER_TIME_HINT, "off_by_one": OVER_TIME_HINT}, dtype=False)


def _torch_pool(x: np.ndarray, size: int) -> np.ndarray:
    """One stride-1 max pool of ``size`` with padding ``size // 2`` (torch pads with -inf)."""
    return F.max_pool2d(torch.from_numpy(x)[None], size, 1, size // 2)[0].numpy()


SPPF_ZERO_PAD_HINT = ("Pad with -inf, not 0: on a map of negative values a zero padding wins "
                      "at the border.")


@pytest.mark.graded(EXERCISE, points=1, question="6.4 sppf",
                    hint="Entry 0 is x itself; each pool pads k // 2 cells of -inf on every "
                         "side, so its output keeps the map's size.")
def test_sppf_on_the_notebook_impulse(submission):
    x = np.full((11, 11), -1.0)
    x[5, 5] = 1.0
    got = _array(submission.sppf(x), (4, 11, 11), "sppf(x)")
    expect.array(got[0], x, "sppf(x)[0], which must be the input itself", dtype=False)
    ones = [int((level == 1).sum()) for level in got]
    if ones != [1, 25, 81, 121]:
        expect.fail("values", f"counting the 1s in each entry of sppf(x): expected "
                              f"[1, 25, 81, 121] (one 1 on -1s spreads to a 5x5, a 9x9 and the "
                              f"whole 11x11 square), got {ones}",
                    {"values": "Pool the previous entry, not the input, each time."})


@pytest.mark.graded(EXERCISE, points=2, question="6.4 sppf",
                    hint="Pad with -inf, not 0: on a map of negative values a zero padding "
                         "wins at the border. Pool the previous output, not the input.")
def test_sppf_chain_equals_one_pool_of_the_summed_window(submission, rng):
    for height, width, k, count in [(7, 9, 5, 3), (12, 5, 3, 2), (6, 6, 7, 1), (10, 13, 3, 4)]:
        x = rng.normal(size=(height, width)) - 2.0  # mostly negative: padding must never win
        got = _array(submission.sppf(x, k, count), (count + 1, height, width), "sppf(x)")
        for j in range(1, count + 1):
            size = j * (k - 1) + 1
            want = _torch_pool(x, size)
            hints = {"values": SPPF_ZERO_PAD_HINT if np.any(got[j] == 0) else
                     "Entry j is the max pool of entry j - 1 (kernel_size k, stride 1, "
                     "padding k // 2): chained, it equals one pool of j * (k - 1) + 1."}
            expect.array(got[j], want, f"sppf(x, {k}, {count})[{j}] on a {height}x{width} "
                                       f"map (one {size}x{size} max pool)", hints, dtype=False)
