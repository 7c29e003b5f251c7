"""Chapter 8, one pooling across frameworks: the chapter's module (its runtimes, the port, the
custom layers, the figure) and the graded tests of exercise 08_frameworks (marked ``graded``;
they grade the notebook given by ``--submission``, by default the reference solution).

The library itself (``pooling_course.ops.frameworks``) is tested in ``test_ops_frameworks.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from pooling_course import frameworks as FW  # noqa: E402
from pooling_course.grading import expect  # noqa: E402
from pooling_course.ops.frameworks import same_pads, tf_avg_pool, to_torch  # noqa: E402

jax = pytest.importorskip("jax")
from jax import lax  # noqa: E402

EXERCISE = "08_frameworks"


def jax_same_avg(x: np.ndarray, k: tuple[int, int], s: tuple[int, int]) -> np.ndarray:
    """XLA's SAME average of an NHWC array: a window sum over a window count."""
    xj = jax.numpy.asarray(x)
    dims, steps = (1, *k, 1), (1, *s, 1)
    total = lax.reduce_window(xj, 0.0, lax.add, dims, steps, "SAME")
    count = lax.reduce_window(jax.numpy.ones_like(xj), 0.0, lax.add, dims, steps, "SAME")
    return np.asarray(total / count)


def jax_same_max_via_pads(x: np.ndarray, k: tuple[int, ...], s: tuple[int, ...],
                          pads: list) -> tuple[np.ndarray, np.ndarray]:
    """XLA's SAME max pool, and the VALID max pool of x padded by ``pads`` with -inf."""
    dims, steps = (1, *k, 1), (1, *s, 1)
    xj = jax.numpy.asarray(x)
    same = lax.reduce_window(xj, -jax.numpy.inf, lax.max, dims, steps, "SAME")
    explicit = lax.reduce_window(xj, -jax.numpy.inf, lax.max, dims, steps,
                                 [(0, 0), *[tuple(p) for p in pads], (0, 0)])
    return np.asarray(same), np.asarray(explicit)


# --- the chapter's module ---------------------------------------------------------------------

def test_planned_pool_reproduces_tf_same_in_torch():
    rng = np.random.default_rng(0)
    for kind in ("max", "avg"):
        for length, k, s in [(8, 3, 2), (7, 2, 2), (6, 3, 1), (5, 4, 3)]:
            x = rng.standard_normal((2, 3, length, length + 1)).astype(np.float32)
            plan = to_torch(kind, (length, length + 1), k, s, "same")
            got = FW.PlannedPool(plan)(torch.from_numpy(x)).numpy()
            nhwc = x.transpose(0, 2, 3, 1)
            if kind == "avg":
                expected = jax_same_avg(nhwc, (k, k), (s, s))
            else:
                expected, _ = jax_same_max_via_pads(nhwc, (k, k), (s, s), [(0, 0), (0, 0)])
            np.testing.assert_allclose(got, expected.transpose(0, 3, 1, 2), rtol=1e-6,
                                       atol=1e-6)


def test_same_max_pool_function_gradcheck_and_torch_where_they_coincide():
    x = torch.randn(2, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: FW.SameMaxPoolFunction.apply(t, 3, 2), (x,))
    # 2x2 on even sizes pads nothing: values and gradients are nn.MaxPool2d's, ties included
    x = torch.randint(0, 3, (2, 3, 8, 8)).double().requires_grad_()
    g = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    FW.SameMaxPool2d(2)(x).backward(g)
    ours = x.grad.clone()
    x.grad = None
    torch.nn.MaxPool2d(2)(x).backward(g)
    assert torch.equal(ours, x.grad)


def test_keras_custom_layer_equals_keras_max_pooling():
    keras = FW.import_keras()
    layer = FW.keras_same_max_pool_layer()(3, 2)
    x = np.random.default_rng(1).standard_normal((2, 7, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(layer(x)),
                                  np.asarray(keras.layers.MaxPooling2D(3, 2, "same")(x)))


def test_onnxruntime_runner_runs_a_node():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    y, idx = FW.run_onnxruntime("MaxPool", x, n_outputs=2, kernel_shape=[2, 2],
                                strides=[2, 2])
    np.testing.assert_array_equal(y.ravel(), [5, 7, 13, 15])
    np.testing.assert_array_equal(idx.ravel(), [5, 7, 13, 15])


@pytest.mark.parametrize("framework", FW.FRAMEWORKS)
def test_windows_figure_agrees_with_torch_in_every_state(framework):
    for length in (5, 6, 7, 8):
        for kernel in (2, 3):
            for stride in (1, 2, 3):
                assert FW.windows_compare(length, kernel, stride, framework).same
    svg = FW.windows_figure(6, 3, 2, framework)
    assert "output size" in svg and "one PyTorch call" in svg


def test_windows_figure_marks_padding_and_says_when_no_single_call_exists():
    svg = FW.windows_figure(6, 3, 2, "Keras 'same'")
    assert svg.count(">pad<") == 1 and "asymmetric" in svg  # (0, 1)
    assert svg.count('class="pc-window"') == 3
    assert "yes" in FW.windows_figure(7, 3, 2, "Keras 'same'")
    with pytest.raises(ValueError, match="framework"):
        FW.window_rules(5, 2, 2, "Caffe")


# --- graded: exercise 08_frameworks ------------------------------------------------------------

PAD_HINTS = {
    "type": "Return a list with one (begin, end) pair of ints per axis.",
    "off_by_one": "n = ceil(L / s) windows need P = max((n - 1) * s + k - L, 0) padded cells; "
                  "begin = P // 2 and end = P - begin (TensorFlow puts the odd cell at the end).",
    "values": "n = ceil(L / s); P = max((n - 1) * s + k - L, 0) (never negative: a window "
              "smaller than the stride needs none); begin = P // 2, end = P - begin.",
    "int": "Return whole numbers: use integer arithmetic (-(-L // s) for ceil(L / s)).",
}


def check_pairs(got: object, expected: list, what: str) -> None:
    """A list of (begin, end) pairs, one per axis, equal to ``expected``."""
    call = f"same_padding({what})"
    if not isinstance(got, list | tuple):
        expect.fail("type", f"{call}: expected a list of (begin, end) pairs, got "
                            f"{type(got).__name__} {got!r:.200}", PAD_HINTS)
    expect.that(len(got) == len(expected), "type", f"{call}: expected {len(expected)} "
                f"(begin, end) pairs, one per axis, got {len(got)}: {got!r:.200}", PAD_HINTS)
    for axis, (pair, (begin, end)) in enumerate(zip(got, expected, strict=True)):
        part = f"{call}, axis {axis}"
        first, last = expect.parts(pair, ("begin", "end"), part, PAD_HINTS)
        hints = dict(PAD_HINTS)
        if isinstance(first, int | np.integer) and isinstance(last, int | np.integer) and (
                (first, last) == (end, begin) != (begin, end)):
            hints["values"] = hints["off_by_one"] = (
                "begin and end are swapped: the odd cell goes at the end (begin = P // 2).")
        elif isinstance(first, int | np.integer) and first + last < 0:
            hints["values"] = hints["off_by_one"] = (
                "Padding is never negative: P = max((n - 1) * s + k - L, 0).")
        expect.integer(first, begin, f"{part}, its begin", hints)
        expect.integer(last, end, f"{part}, its end", hints)


@pytest.mark.graded(EXERCISE, points=1, question="8.1 same_padding",
                    hint="Five cells, window 2, stride 2: ceil(5/2) = 3 windows need "
                         "(3-1)*2 + 2 - 5 = 1 padded cell, at the end: [(0, 1)].")
def test_same_padding_teaching_examples(submission):
    check_pairs(submission.same_padding((5,), 2, 2), [(0, 1)], "(5,), 2, 2")
    check_pairs(submission.same_padding((6, 5), 3, 2), [(0, 1), (1, 1)], "(6, 5), 3, 2")


@pytest.mark.graded(EXERCISE, points=2, question="8.1 same_padding",
                    hint="n = ceil(L / s); P = max((n - 1) * s + k - L, 0) (never negative: "
                         "a window smaller than the stride needs none); begin = P // 2.")
def test_same_padding_random_against_the_package_and_xla(submission, rng):
    for _ in range(12):
        ndim = int(rng.integers(1, 4))
        shape = tuple(int(v) for v in rng.integers(1, 12, ndim))
        k = tuple(int(v) for v in rng.integers(1, 6, ndim))
        s = tuple(int(v) for v in rng.integers(1, 5, ndim))
        kernel, stride = (k[0], s[0]) if ndim == 1 and rng.integers(2) else (k, s)
        ks = (k[0],) * ndim if isinstance(kernel, int) else k
        ss = (s[0],) * ndim if isinstance(stride, int) else s
        expected = [same_pads(L, kk, st) for L, kk, st in zip(shape, ks, ss, strict=True)]
        what = f"{shape}, {kernel}, {stride}"
        # the oracle: XLA's SAME equals a VALID pool of the input padded by these pairs
        x = rng.standard_normal((1, *shape, 2)).astype(np.float32)
        same, explicit = jax_same_max_via_pads(x, ks, ss, expected)
        np.testing.assert_array_equal(explicit, same, err_msg=what)
        check_pairs(submission.same_padding(shape, kernel, stride), expected, what)


AVG_HINTS = {
    "shape": "SAME gives ceil(H / s) x ceil(W / s) outputs, in NHWC layout: (N, H_out, W_out, "
             "C).",
    "off_by_one": "SAME gives ceil(H / s) outputs per axis (-(-H // s)), not (H - k) // s + 1.",
    "dtype": "Keep x's dtype: a float32 input gives a float32 output.",
    "values": "Divide each window's sum by its cells inside the input (pool a padded array of "
              "ones the same way), not by k*k.",
}


def check_array(got: object, expected: np.ndarray, what: str, x: np.ndarray | None = None,
                k: tuple[int, int] | None = None, s: tuple[int, int] | None = None) -> None:
    mistakes = []
    if x is not None:  # padding counted in the divisor: the average over all k*k cells
        counted = tf_avg_pool(np.ones_like(x), k, s, "SAME", "NHWC") * k[0] * k[1]
        mistakes.append((expected * counted / (k[0] * k[1]), "Padding is not counted: divide "
                         "each window's sum by its cells inside the input, not by k*k."))
    expect.array(got, expected, f"same_avg_pool2d({what})", AVG_HINTS, rtol=1e-5, atol=1e-6,
                 mistakes=mistakes)


@pytest.mark.graded(EXERCISE, points=1, question="8.2 same_avg_pool2d",
                    hint="The last window of 1..5 (k=2, s=2) holds 5 and one padded cell: "
                         "it divides by 1, so the answer is [1.5, 3.5, 5.0].")
def test_same_avg_pool2d_teaching_examples(submission):
    row = np.arange(1.0, 6.0).reshape(1, 1, 5, 1)
    check_array(submission.same_avg_pool2d(row, (1, 2), (1, 2)),
                np.array([1.5, 3.5, 5.0]).reshape(1, 1, 3, 1),
                "<1..5 as (1, 1, 5, 1)>, (1, 2), (1, 2)", row, (1, 2), (1, 2))
    ones = np.ones((1, 4, 4, 1))
    check_array(submission.same_avg_pool2d(ones, 3, 2), np.ones((1, 2, 2, 1)),
                "<ones (1, 4, 4, 1)>, 3, 2", ones, (3, 3), (2, 2))


@pytest.mark.graded(EXERCISE, points=3, question="8.2 same_avg_pool2d",
                    hint="Divide each window's sum by its cells inside the input (pool a "
                         "padded array of ones the same way); output ceil(H/s) x ceil(W/s); "
                         "keep x's dtype; NHWC layout.")
def test_same_avg_pool2d_random_against_the_package_and_xla(submission, rng):
    for _ in range(8):
        k = tuple(int(v) for v in rng.integers(1, 5, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 10)), int(rng.integers(1, 10)),
                 int(rng.integers(1, 4)))
        dtype = [np.float32, np.float64][int(rng.integers(0, 2))]
        x = rng.standard_normal(shape).astype(dtype)
        kernel, stride = (k[0], s[0]) if k[0] == k[1] and s[0] == s[1] else (k, s)
        what = f"<x {shape} {np.dtype(dtype).name}>, {kernel}, {stride}"
        want = tf_avg_pool(x, k, s, "SAME", "NHWC")
        np.testing.assert_allclose(want, jax_same_avg(x, k, s), rtol=1e-5, atol=1e-6)  # oracles
        check_array(submission.same_avg_pool2d(x, kernel, stride), want, what, x, k, s)
