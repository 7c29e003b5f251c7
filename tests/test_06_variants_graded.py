"""The graded tests of exercise 06_variants (marked ``graded``; they grade the notebook given by
``--submission``, by default the reference solution), compared with torch and the package
through :mod:`pooling_course.grading.expect`; a wrong answer that equals what a known mistake
computes gets the hint naming that mistake."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_06_variants import relu_map

from pooling_course import variants as V
from pooling_course.grading import expect

EXERCISE = "06_variants"


def _stochastic_reference(x, k, training, seed=None):
    """The package on one (H, W) map, cropped to whole windows; with ``seed`` it draws the
    same uniforms as ``np.random.default_rng(seed).random((H_out, W_out))``."""
    h, w = (x.shape[0] // k) * k, (x.shape[1] // k) * k
    gen = None if seed is None else np.random.default_rng(seed)
    return V.stochastic_pool2d(x[None, :h, :w], k, training=training, generator=gen)[0]


def _windows(x: np.ndarray, k: int) -> np.ndarray:
    h, w = x.shape[0] // k, x.shape[1] // k
    return x[:h * k, :w * k].reshape(h, k, w, k).swapaxes(1, 2).reshape(h, w, k * k)


STOCHASTIC_HINTS = {
    "nan": "0/0: a window of zeros pools to 0; divide only where sum(a) > 0 (np.where, or "
           "np.divide(..., where=...)).",
    "off_by_one": "Windows are disjoint k x k blocks: H // k rows and W // k columns; rows and "
                  "columns that do not fill a window are dropped.",
    "shape": "The output has H // k rows and W // k columns.",
    "values": "At test time each window gives sum(a**2) / sum(a), the mean of a under the "
              "probabilities a / sum(a).",
    "dtype": "Keep x's dtype.",
}


def check_test_time(submission, x: np.ndarray, k: int) -> None:
    want = _stochastic_reference(x, k, False)
    mistakes = [(_windows(x, k).mean(-1), "At test time weight each element by its "
                 "probability a / sum(a): sum(a**2) / sum(a), not the plain mean."),
                (_windows(x, k).max(-1), "At test time take the probability-weighted mean "
                 "sum(a**2) / sum(a), not the maximum.")]
    expect.array(submission.stochastic_pool2d(x, k, False), want,
                 f"stochastic_pool2d(<{x.shape[0]}x{x.shape[1]} map>, {k}, False)",
                 STOCHASTIC_HINTS, dtype=False, rtol=1e-10, mistakes=mistakes)


@pytest.mark.graded(EXERCISE, points=1, question="6.1 stochastic_pool2d",
                    hint="At test time return sum(a**2) / sum(a) per window, and 0 for a window "
                         "of zeros.")
def test_stochastic_test_time_on_the_chapter_window_and_zero_windows(submission):
    expect.array(submission.stochastic_pool2d(np.array([[0.0, 1.0], [3.0, 2.0]]), 2, False),
                 np.array([[14 / 6]]), "stochastic_pool2d([[0, 1], [3, 2]], 2, False)",
                 STOCHASTIC_HINTS, dtype=False, rtol=1e-12)
    expect.array(submission.stochastic_pool2d(np.zeros((4, 4)), 2, False), np.zeros((2, 2)),
                 "stochastic_pool2d(zeros((4, 4)), 2, False)", STOCHASTIC_HINTS, dtype=False)


@pytest.mark.graded(EXERCISE, points=1, question="6.1 stochastic_pool2d",
                    hint="Windows are disjoint k x k blocks; rows and columns that do not fill "
                         "a window are dropped.")
def test_stochastic_test_time_on_random_maps(submission, rng):
    for h, w, k in [(6, 6, 2), (7, 5, 2), (9, 9, 3)]:
        check_test_time(submission, relu_map(rng, (h, w)), k)


TRAINING_HINTS = {
    **STOCHASTIC_HINTS,
    "values": "Pick the first element (row-major) whose running sum exceeds u * S, where S is "
              "the window's sum: np.cumsum gives the running sums, np.argmax(cumsum > u * S) "
              "the first.",
}


@pytest.mark.graded(EXERCISE, points=2, question="6.1 stochastic_pool2d",
                    hint="Pick the first element (row-major) whose running sum exceeds u * S; "
                         "np.cumsum gives the running sums.")
def test_stochastic_training_picks_what_inverse_cdf_sampling_picks(submission, rng):
    window = np.array([[0.0, 1.0], [3.0, 2.0]])
    for u, want in [(0.0, 1.0), (0.1, 1.0), (0.2, 3.0), (0.6, 3.0), (0.7, 2.0), (0.99, 2.0)]:
        expect.array(submission.stochastic_pool2d(window, 2, True, np.array([[u]])),
                     np.array([[want]]), f"stochastic_pool2d([[0, 1], [3, 2]], 2, True, "
                     f"[[{u}]]) (running sums 0, 1, 4, 6 first exceed {u * 6:g} at {want:g})",
                     TRAINING_HINTS, dtype=False)
    for h, w, k in [(6, 8, 2), (9, 6, 3), (5, 5, 2)]:
        x = relu_map(rng, (h, w))
        seed = int(rng.integers(2 ** 32))
        u = np.random.default_rng(seed).random((h // k, w // k))
        expect.array(submission.stochastic_pool2d(x, k, True, u),
                     _stochastic_reference(x, k, True, seed),
                     f"stochastic_pool2d(<{h}x{w} map>, {k}, True, <u {u.shape}>)",
                     TRAINING_HINTS, dtype=False)


ATTENTION_HINTS = {
    "type": "Return the pair (out, weights).",
    "nan": "exp overflowed (inf / inf): subtract the largest score before np.exp; the softmax "
           "does not change.",
    "values": "weights = softmax(x @ w / temperature), out = weights @ x.",
    "shape": "weights has one entry per row of x (n,); out one per column (d,).",
}


def check_attention(submission, x: np.ndarray, w: np.ndarray, temperature: float | None,
                    call: str) -> None:
    t = 1.0 if temperature is None else temperature
    a = torch.softmax(torch.from_numpy(x) @ torch.from_numpy(w) / t, 0).numpy()
    got = (submission.attention_pool(x, w) if temperature is None else
           submission.attention_pool(x, w, temperature))
    out, weights = expect.parts(got, ("out", "weights"), call, ATTENTION_HINTS)
    untempered = torch.softmax(torch.from_numpy(x) @ torch.from_numpy(w), 0).numpy()
    expect.array(weights, a, f"{call}, its weights", ATTENTION_HINTS, dtype=False, rtol=1e-8,
                 atol=1e-15, lists=True, mistakes=[(untempered, "Divide the scores by the "
                                                    "temperature before the softmax.")])
    expect.array(out, a @ x, f"{call}, its out", {**ATTENTION_HINTS, "values": "out is the "
                 "weighted sum of x's rows: weights @ x (one value per column)."},
                 dtype=False, rtol=1e-8, atol=1e-12, lists=True)


@pytest.mark.graded(EXERCISE, points=2, question="6.2 attention_pool",
                    hint="weights = softmax(x @ w / T) with the largest score subtracted first; "
                         "out = weights @ x.")
def test_attention_pool_forward_matches_torch(submission, rng):
    check_attention(submission, np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2), None,
                    "attention_pool([[1, 0], [0, 1]], [0, 0])")
    for n, d, temperature in [(5, 3, 1.0), (8, 4, 0.3), (3, 6, 5.0)]:
        x, w = rng.normal(size=(n, d)), rng.normal(size=d)
        check_attention(submission, x, w, temperature,
                        f"attention_pool(<x ({n}, {d})>, <w ({d},)>, {temperature})")
    check_attention(submission, np.array([[1000.0, 0.0], [0.0, 1.0]]), np.array([1.0, 0.0]),
                    None, "attention_pool([[1000, 0], [0, 1]], [1, 0]) (scores of 1000)")


BACKWARD_HINTS = {
    "type": "Return the pair (grad_x, grad_w).",
    "shape": "grad_x has x's shape (n, d), grad_w has w's shape (d,).",
    "sign": "The sign is flipped: delta_i = a_i (c_i - sum_j a_j c_j), c_i = g . x_i.",
    "values": "grad_x = a_i g + (delta_i / T) w and grad_w = sum_i (delta_i / T) x_i with "
              "delta_i = a_i (c_i - sum_j a_j c_j), c_i = g . x_i.",
}


@pytest.mark.graded(EXERCISE, points=3, question="6.2 attention_pool_backward",
                    hint="grad_x = a_i g + (delta_i / T) w and grad_w = sum_i (delta_i / T) x_i "
                         "with delta_i = a_i (c_i - sum_j a_j c_j), c_i = g . x_i.")
def test_attention_pool_backward_matches_torch_autograd(submission, rng):
    for n, d, temperature in [(4, 3, 1.0), (7, 5, 0.4), (3, 2, 3.0)]:
        x, w, g = rng.normal(size=(n, d)), rng.normal(size=d), rng.normal(size=d)
        tx = torch.from_numpy(x).requires_grad_(True)
        tw = torch.from_numpy(w).requires_grad_(True)
        a = torch.softmax(tx @ tw / temperature, 0)
        (a[:, None] * tx).sum(0).backward(torch.from_numpy(g))
        call = (f"attention_pool_backward(<grad_output ({d},)>, <x ({n}, {d})>, <w ({d},)>, "
                f"{temperature})")
        grad_x, grad_w = expect.parts(submission.attention_pool_backward(g, x, w, temperature),
                                      ("grad_x", "grad_w"), call, BACKWARD_HINTS)
        only_direct = a.detach().numpy()[:, None] * g[None, :]
        expect.array(grad_x, tx.grad.numpy(), f"{call}, its grad_x (against torch autograd)",
                     BACKWARD_HINTS, dtype=False, rtol=1e-7, atol=1e-10, lists=True,
                     mistakes=[(only_direct, "grad_x has two terms: a_i g, and (delta_i / T) w "
                                "because x_i also changes the scores.")])
        expect.array(grad_w, tw.grad.numpy(), f"{call}, its grad_w (against torch autograd)",
                     BACKWARD_HINTS, dtype=False, rtol=1e-7, atol=1e-10, lists=True,
                     mistakes=[(tw.grad.numpy() * temperature, "Divide by the temperature: "
                                "grad_w = sum_i (delta_i / T) x_i.")])


OVER_TIME_HINTS = {
    "type": "Return the pair (values, positions).",
    "shape": "values and positions have shape (N, C): one maximum per sequence and channel.",
    "values": "Use the first position on ties (np.argmax does).",
    "off_by_one": "Use the first position on ties (np.argmax does).",
    "dtype": "Return integer positions (np.argmax gives int64), not floats.",
}
PADDING_WINS_HINT = ("A position is in the padding, where nothing may win: a padding masked "
                     "with 0 beats sequences of negative values, and an unmasked one wins "
                     "when it holds the largest value; mask with -inf, or take the argmax of "
                     "x[n, :, :lengths[n]] only.")


def check_over_time(submission, x: np.ndarray, lengths: list[int], call: str) -> None:
    got = expect.parts(submission.max_over_time(x, lengths), ("values", "positions"), call,
                       OVER_TIME_HINTS)
    values, positions = (np.asarray(v) if isinstance(v, list | tuple) else v for v in got)
    n, c, length = x.shape
    want_v, want_p = np.empty((n, c)), np.empty((n, c), dtype=np.int64)
    for i, real in enumerate(lengths):
        v, p = torch.from_numpy(x[i, :, :real]).max(-1)
        want_v[i], want_p[i] = v.numpy(), p.numpy()
    real = np.asarray(lengths)[:, None]
    padding_won = False  # a position in the padding, or a 0 where the real maximum is < 0
    if isinstance(positions, np.ndarray) and positions.shape == want_p.shape and (
            positions.dtype.kind in "iuf"):
        padding_won = bool(np.any(positions >= real))
    if isinstance(values, np.ndarray) and values.shape == want_v.shape and (
            values.dtype.kind in "iuf"):
        padding_won |= bool(np.any((values == 0) & (want_v < 0) & (real < length)))
    hints = {**OVER_TIME_HINTS, **({"values": PADDING_WINS_HINT, "off_by_one": PADDING_WINS_HINT}
                                   if padding_won else {})}
    expect.array(values, want_v, f"{call}, its values", hints, dtype=False)
    expect.array(positions, want_p, f"{call}, its positions", hints, dtype=False)
    expect.that(positions.dtype.kind in "iu", "dtype",
                f"{call}, its positions: expected integers, got dtype {positions.dtype}",
                OVER_TIME_HINTS)


@pytest.mark.graded(EXERCISE, points=1, question="6.3 max_over_time",
                    hint="Only positions below lengths[n] count; the padding after them never "
                         "wins, even when it holds the largest value.")
def test_max_over_time_on_the_notebook_example(submission):
    check_over_time(submission, np.array([[[1.0, 5.0, 2.0]], [[4.0, 3.0, 9.0]]]), [3, 2],
                    "max_over_time([[[1, 5, 2]], [[4, 3, 9]]], [3, 2])")


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
        check_over_time(submission, x, [int(v) for v in lengths],
                        f"max_over_time(<x ({n}, {c}, {length}) with ties>, "
                        f"{[int(v) for v in lengths]})")


def _torch_pool(x: np.ndarray, size: int) -> np.ndarray:
    """One stride-1 max pool of ``size`` with padding ``size // 2`` (torch pads with -inf)."""
    return F.max_pool2d(torch.from_numpy(x)[None], size, 1, size // 2)[0].numpy()


SPPF_HINTS = {
    "type": "Return one array of shape (count + 1, H, W): x, then each pooled map "
            "(np.stack).",
    "shape": "Return count + 1 maps of x's size: x itself, then count pools; each pool pads "
             "k // 2 on every side, so its output keeps the map's size.",
    "off_by_one": "Return count + 1 maps (x itself first), each of x's size: pad k // 2 on "
                  "every side.",
}
SPPF_ZERO_PAD_HINT = ("Pad with -inf, not 0: on a map of negative values a zero padding wins "
                      "at the border.")


@pytest.mark.graded(EXERCISE, points=1, question="6.4 sppf",
                    hint="Entry 0 is x itself; each pool pads k // 2 cells of -inf on every "
                         "side, so its output keeps the map's size.")
def test_sppf_on_the_notebook_impulse(submission):
    x = np.full((11, 11), -1.0)
    x[5, 5] = 1.0
    got = submission.sppf(x)
    if not isinstance(got, np.ndarray) or got.shape != (4, 11, 11):
        expect.array(got, np.zeros((4, 11, 11)), "sppf(x) of an 11x11 map", SPPF_HINTS,
                     dtype=False, lists=True)
    expect.array(got[0], x, "sppf(x)[0], which must be the input itself", dtype=False)
    ones = [int((level == 1).sum()) for level in got]
    if ones != [1, 25, 81, 121]:
        expect.fail("values", f"compared: the number of 1s in each entry of sppf(x) (one 1 "
                              f"among -1s spreads to a 5x5, a 9x9 and the whole 11x11 "
                              f"square): expected [1, 25, 81, 121], got {ones}",
                    {"values": SPPF_ZERO_PAD_HINT if np.any(got == 0) else
                     "Pool the previous entry, not the input, each time."})


@pytest.mark.graded(EXERCISE, points=2, question="6.4 sppf",
                    hint="Pad with -inf, not 0: on a map of negative values a zero padding "
                         "wins at the border. Pool the previous output, not the input.")
def test_sppf_chain_equals_one_pool_of_the_summed_window(submission, rng):
    for height, width, k, count in [(7, 9, 5, 3), (12, 5, 3, 2), (6, 6, 7, 1), (10, 13, 3, 4)]:
        x = rng.normal(size=(height, width)) - 2.0  # mostly negative: padding must never win
        got = submission.sppf(x, k, count)
        if not isinstance(got, np.ndarray) or got.shape != (count + 1, height, width):
            expect.array(got, np.zeros((count + 1, height, width)),
                         f"sppf(<{height}x{width} map>, {k}, {count})", SPPF_HINTS,
                         dtype=False, lists=True)
        for j in range(1, count + 1):
            size = j * (k - 1) + 1
            hints = {"values": SPPF_ZERO_PAD_HINT if np.any(got[j] == 0) else
                     "Entry j is the max pool of entry j - 1 (kernel_size k, stride 1, "
                     "padding k // 2): chained, it equals one pool of j * (k - 1) + 1."}
            expect.array(got[j], _torch_pool(x, size),
                         f"sppf(<{height}x{width} map>, {k}, {count})[{j}], compared with one "
                         f"{size}x{size} max pool of x", hints, dtype=False,
                         mistakes=[(_torch_pool(x, k), "Pool the previous entry, not the "
                                    "input, each time.")] if j > 1 else [])
