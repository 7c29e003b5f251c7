"""The graded tests of exercise 04_backward (marked ``graded``; they grade the notebook given by
``--submission``, by default the reference solution). Gradients are compared with torch autograd
through :mod:`pooling_course.grading.expect`; a wrong answer that equals what a known mistake
computes (``=`` for ``+=``, a zero padding, the last maximum on a tie, a one-sided difference)
gets the hint naming that mistake."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pooling_course.grading import expect

EXERCISE = "04_backward"


def torch_pool_grad(op, x: np.ndarray, g: np.ndarray, k, s=None, p=0) -> np.ndarray:
    """Autograd's gradient for an (H, W) map."""
    t = torch.tensor(x[None], requires_grad=True)
    op(t, k, s, p).backward(torch.tensor(g[None], dtype=t.dtype))
    return t.grad.numpy()[0]


def _pair(v: object) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def mistaken_backward(kind: str, g: np.ndarray, x: np.ndarray, k, s=None, p=0, *,
                      assign: bool = False, pad: float = -np.inf, last: bool = False,
                      divide_by_real: bool = False) -> np.ndarray:
    """What a backward pass with one known mistake returns: ``assign`` (``=`` for ``+=``),
    ``pad`` 0 for -inf, the ``last`` maximum on a tie, average divided by the real cells."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(k), _pair(s if s is not None else k), _pair(p)
    padded = np.pad(x, ((ph, ph), (pw, pw)), constant_values=pad)
    real = np.pad(np.ones_like(x), ((ph, ph), (pw, pw)))
    grad = np.zeros_like(padded)
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
            if kind == "max":
                flat = padded[rows, cols].ravel()
                at = len(flat) - 1 - int(np.argmax(flat[::-1])) if last else int(np.argmax(flat))
                a, b = divmod(at, kw)
                share = np.zeros((kh, kw))
                share[a, b] = g[i, j]
            else:
                share = np.full((kh, kw), g[i, j] / (real[rows, cols].sum() if divide_by_real
                                                     else kh * kw))
            if assign:
                grad[rows, cols][share != 0] = share[share != 0]
            else:
                grad[rows, cols] += share
    return grad[ph:ph + x.shape[0], pw:pw + x.shape[1]]


ASSIGN_HINT = ("Some gradient was lost: where windows overlap an element gets gradient from "
               "several windows; add into grad_x (+=), never assign (=).")
MAX_HINTS = {
    "shape": "The gradient has the input's shape: return an array like x (np.zeros_like(x)).",
    "values": "Each window's gradient goes whole to the position of its maximum.",
    "dtype": "Keep x's dtype (np.zeros_like(x)).",
}


def check_max(submission, g: np.ndarray, x: np.ndarray, k, s=None, p=0,
              values_hint: str = "") -> None:
    want = torch_pool_grad(F.max_pool2d, x, g, k, s, p)
    got = (submission.max_pool2d_backward(g, x, k, s, p) if p else
           submission.max_pool2d_backward(g, x, k, s) if s is not None else
           submission.max_pool2d_backward(g, x, k))
    mistakes = [
        (mistaken_backward("max", g, x, k, s, p, assign=True), ASSIGN_HINT),
        (mistaken_backward("max", g, x, k, s, p, last=True),
         "On a tie the FIRST maximum in row-major window order gets it all (np.argmax does); "
         "yours picks a later one."),
        (mistaken_backward("max", g, x, k, s, p, pad=0.0),
         "Padding is never a candidate: pad with -inf (or take the argmax among real elements "
         "only); with 0 the padding wins windows of negative values and their gradient is "
         "lost."),
    ]
    call = (f"max_pool2d_backward(<grad_output {g.shape}>, <x {x.shape}>, {k}"
            + (f", {s}" if s is not None or p else "") + (f", {p}" if p else "") + ")")
    hints = {**MAX_HINTS, "values": values_hint or MAX_HINTS["values"]}
    expect.array(got, want, call, hints, dtype=False, atol=1e-12, mistakes=mistakes)


CHAPTER_X = np.array([[1, 3, 2, 1], [4, 6, 5, 0], [2, 9, 3, 4], [0, 1, 7, 2]], dtype=np.float64)
CHAPTER_G = np.array([[1.0, 2.0], [3.0, 4.0]])


def out_shape(op, x: np.ndarray, k, s=None, p=0) -> tuple[int, ...]:
    return tuple(op(torch.tensor(x[None]), k, s, p).shape[1:])


@pytest.mark.graded(EXERCISE, points=1, question="4.1 max_pool2d_backward",
                    hint="Each window's gradient goes whole to the position of its maximum.")
def test_max_backward_on_the_chapter_example(submission):
    check_max(submission, CHAPTER_G, CHAPTER_X, 2, 2)


@pytest.mark.graded(EXERCISE, points=2, question="4.1 max_pool2d_backward",
                    hint="Overlapping windows: add (+=) each window's gradient, don't assign.")
def test_max_backward_overlapping_windows_random(submission, rng):
    for h, w, k, s in [(5, 6, 2, 1), (7, 7, 3, 2), (6, 5, 3, 1), (8, 8, (2, 3), (1, 2))]:
        x = rng.normal(size=(h, w))
        g = rng.normal(size=out_shape(F.max_pool2d, x, k, s))
        check_max(submission, g, x, k, s, values_hint="Overlapping windows: add (+=) each "
                  "window's gradient at its maximum; output (i, j)'s window starts at "
                  "(i*stride, j*stride).")


@pytest.mark.graded(EXERCISE, points=2, question="4.1 max_pool2d_backward",
                    hint="On a tie the first maximum in row-major window order gets it all.")
def test_max_backward_routes_ties_to_the_first_maximum(submission, rng):
    cases = [np.zeros((4, 4)), rng.integers(0, 2, size=(6, 7)).astype(np.float64)]
    for x in cases:
        for k, s in [(2, 2), (3, 1), (2, 1)]:
            g = np.ones(out_shape(F.max_pool2d, x, k, s))
            check_max(submission, g, x, k, s, values_hint="On a tie the first maximum in "
                      "row-major window order gets it all (np.argmax of the flattened window).")


@pytest.mark.graded(EXERCISE, points=1, question="4.1 max_pool2d_backward",
                    hint="Padding is never a candidate, and the gradient has the input's shape.")
def test_max_backward_with_padding_and_default_stride(submission, rng):
    x = -np.abs(rng.normal(size=(5, 6))) - 1  # negative: a zero padding would win
    for k, s, p in [(2, None, 1), (3, 2, 1), (3, 1, 1)]:
        g = rng.normal(size=out_shape(F.max_pool2d, x, k, s, p))
        check_max(submission, g, x, k, s, p, values_hint="Padding is never a candidate, and "
                  "the gradient of the padded input is cropped back to x's shape.")


AVG_HINTS = {
    "shape": "The gradient has the input's shape: return an array like x (np.zeros_like(x)).",
    "values": "Every element of a k×k window receives g / k²; elements in several windows "
              "sum one share from each.",
    "dtype": "Keep x's dtype (np.zeros_like(x)).",
}


def check_avg(submission, g: np.ndarray, x: np.ndarray, k, s, p=0) -> None:
    want = torch_pool_grad(F.avg_pool2d, x, g, k, s, p)
    got = (submission.avg_pool2d_backward(g, x, k, s, p) if p else
           submission.avg_pool2d_backward(g, x, k, s))
    mistakes = [
        (mistaken_backward("avg", g, x, k, s, p, assign=True), ASSIGN_HINT),
        (mistaken_backward("avg", g, x, k, s, p, divide_by_real=True),
         "Divide by k² also where a window overlaps the padding: torch counts padding in the "
         "divisor (count_include_pad=True), though padding cells receive nothing."),
        (want * _pair(k)[0] * _pair(k)[1], "Divide each window's gradient by k² (the number "
                                           "of cells in a window) before spreading it."),
    ]
    call = (f"avg_pool2d_backward(<grad_output {g.shape}>, <x {x.shape}>, {k}, {s}"
            + (f", {p}" if p else "") + ")")
    expect.array(got, want, call, AVG_HINTS, dtype=False, atol=1e-12, mistakes=mistakes)


@pytest.mark.graded(EXERCISE, points=1, question="4.2 avg_pool2d_backward",
                    hint="Every element of a k×k window receives g / k².")
def test_avg_backward_on_the_chapter_example(submission):
    check_avg(submission, CHAPTER_G, CHAPTER_X, 2, 2)


@pytest.mark.graded(EXERCISE, points=2, question="4.2 avg_pool2d_backward",
                    hint="Elements in several windows sum one share from each.")
def test_avg_backward_overlapping_windows_random(submission, rng):
    for h, w, k, s in [(5, 6, 2, 1), (7, 7, 3, 2), (9, 6, (3, 2), (2, 1))]:
        x = rng.normal(size=(h, w))
        check_avg(submission, rng.normal(size=out_shape(F.avg_pool2d, x, k, s)), x, k, s)


@pytest.mark.graded(EXERCISE, points=1, question="4.2 avg_pool2d_backward",
                    hint="With padding the divisor is still k² (padding counts), but padding "
                         "cells receive nothing.")
def test_avg_backward_with_padding(submission, rng):
    x = rng.normal(size=(5, 5))
    for k, s, p in [(2, 2, 1), (3, 2, 1), (3, 1, 1)]:
        check_avg(submission, rng.normal(size=out_shape(F.avg_pool2d, x, k, s, p)), x, k, s, p)


NUMERICAL_HINTS = {
    "shape": "Return one derivative per element of x: an array of x's shape.",
    "values": "For each element: (L(x + eps) - L(x - eps)) / (2 eps), with L = "
              "sum(grad_output * f(x)).",
    "dtype": "Return a float array of x's shape (np.zeros_like(x, dtype=float)).",
}


def one_sided(f, x: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    grad = np.zeros_like(x)
    base = np.sum(g * f(x))
    for index in np.ndindex(x.shape):
        moved = x.copy()
        moved[index] += eps
        grad[index] = (np.sum(g * f(moved)) - base) / eps
    return grad


def numerical_mistakes(f, x: np.ndarray, g: np.ndarray, eps: float,
                       want: np.ndarray) -> list[tuple[np.ndarray, str]]:
    return [(one_sided(f, x, g, eps), "A one-sided difference (L(x + eps) - L(x)) / eps is "
             "off by about eps/2 * f''; use both sides: (L(x + eps) - L(x - eps)) / (2 eps)."),
            (want / np.where(g == 0, 1, g) if g.shape == x.shape else want,
             "Weight f by grad_output: L = sum(grad_output * f(x)), not sum(f(x)).")]


@pytest.mark.graded(EXERCISE, points=1, question="4.3 numerical_gradient",
                    hint="Use (L(x + eps) - L(x - eps)) / (2 eps) with L = sum(grad_output * f).")
def test_numerical_gradient_on_a_smooth_function(submission, rng):
    x = rng.normal(size=(3, 4))
    g = rng.normal(size=(3, 4))
    want = g * np.cos(x)
    expect.array(submission.numerical_gradient(np.sin, x, g), want,
                 "numerical_gradient(np.sin, <x (3, 4)>, <grad_output (3, 4)>) against "
                 "grad_output * cos(x)", NUMERICAL_HINTS, dtype=False, atol=1e-7,
                 mistakes=numerical_mistakes(np.sin, x, g, 1e-6, want))


@pytest.mark.graded(EXERCISE, points=1, question="4.3 numerical_gradient",
                    hint="A one-sided difference is off by eps/2 * f''; use both sides.")
def test_numerical_gradient_is_a_central_difference(submission):
    x = np.array([[0.5, -1.0, 2.0]])
    g = np.ones_like(x)
    expect.array(submission.numerical_gradient(np.square, x, g, eps=0.1), 2 * x,
                 "numerical_gradient(np.square, [[0.5, -1.0, 2.0]], ones, eps=0.1) against "
                 "2x (a central difference is exact for a square)",
                 {**NUMERICAL_HINTS, "values": "A one-sided difference is off by eps/2 * f''; "
                                               "use both sides."}, dtype=False, atol=1e-9,
                 mistakes=numerical_mistakes(np.square, x, g, 0.1, 2 * x)[:1])


@pytest.mark.graded(EXERCISE, points=1, question="4.3 numerical_gradient",
                    hint="f may change the shape: grad_output has f(x)'s shape, not x's.")
def test_numerical_gradient_of_pooling_matches_autograd(submission, rng):
    # Global max pooling of each row: f changes the shape and, like every max pool, sends
    # the gradient to the winner. The function crosses to the sandbox as NumPy's own.
    x = rng.normal(size=(6, 6))
    g = rng.normal(size=6)
    t = torch.tensor(x, requires_grad=True)
    torch.amax(t, dim=1).backward(torch.tensor(g))
    f = functools.partial(np.max, axis=1)
    expect.array(submission.numerical_gradient(f, x, g), t.grad.numpy(),
                 "numerical_gradient(partial(np.max, axis=1), <x (6, 6)>, <grad_output (6,)>) "
                 "against torch autograd", {**NUMERICAL_HINTS, "values": "f may change the "
                 "shape: grad_output has f(x)'s shape, not x's; L = sum(grad_output * f(x))."},
                 dtype=False, atol=1e-6)


def torch_norm_ratio(x: np.ndarray, k, s) -> float:
    ones = np.ones(out_shape(F.max_pool2d, x, k, s))
    return float(np.linalg.norm(torch_pool_grad(F.max_pool2d, x, ones, k, s))
                 / np.linalg.norm(torch_pool_grad(F.avg_pool2d, x, ones, k, s)))


@pytest.mark.graded(EXERCISE, points=2, question="4.4 gradient_norm_ratio",
                    hint="Send a gradient of 1 from every output through both of your "
                         "backward functions and divide the two norms.")
def test_gradient_norm_ratio(submission, rng):
    for shape, k, s in [((8, 8), 2, 2), ((9, 9), 3, 3), ((9, 11), 3, 2), ((7, 7), 3, 1)]:
        x = rng.normal(size=shape)
        want = torch_norm_ratio(x, k, s)
        got = submission.gradient_norm_ratio(x, k, s)
        hints = {"values": "Send a gradient of 1 from every output through both of your "
                           "backward functions and divide the two norms: ||max|| / ||avg||."}
        if isinstance(got, float | np.floating) and np.isclose(got * want, 1.0, rtol=1e-9):
            hints["values"] = "Upside down: divide the max pool's norm by the average pool's."
        expect.number(got, want, f"gradient_norm_ratio(<x {shape}>, {k}, {s}) against the "
                                 "norms of torch's two gradients", hints)
