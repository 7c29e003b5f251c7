"""Adaptive max and average pooling: values, indices, gradients and refusals equal torch's."""

from __future__ import annotations

import numpy as np
import pytest
from _torch_oracle import (
    FAST,
    FLOAT_DTYPES,
    assert_same,
    inputs,
    make_input,
    numeric_grad,
    run_both,
    torch_grad,
)
from hypothesis import given
from hypothesis import strategies as st

from pooling_course import functional as PF


@st.composite
def output_sizes(draw, ndim: int, valid_only: bool = False):
    low = 0 if valid_only else -1
    if ndim == 1 or draw(st.booleans()):
        return draw(st.integers(low, 9))
    entry = st.integers(low, 9) | st.none()
    return tuple(draw(entry) for _ in range(ndim))


def _all_ones(out):
    return all(s == 1 for s in out.shape[-1:] if out.ndim)


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
@FAST
@given(data=st.data())
def test_adaptive_matches_torch(op, ndim, data):
    x = data.draw(inputs(ndim, FLOAT_DTYPES + (np.int64,), max_side=9 if ndim < 3 else 5))
    kwargs = {"output_size": data.draw(output_sizes(ndim))}
    if op == "max":
        kwargs["return_indices"] = data.draw(st.booleans())
    result = run_both(f"adaptive_{op}_pool{ndim}d", (x,), kwargs)
    if result is not None:
        ours, theirs = result
        out = ours[0] if isinstance(ours, tuple) else ours
        # torch computes a 1x1 (or length-1) average as mean(): its own summation order
        exact = op == "max" or any(s != 1 for s in out.shape[-ndim:])
        tol = {np.float16: 2e-3, np.float32: 1e-6}.get(out.dtype.type, 1e-14)
        assert_same(ours, theirs, rtol=0 if exact else tol)


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
@FAST
@given(data=st.data())
def test_adaptive_backward_matches_torch_autograd(op, ndim, data):
    x = data.draw(inputs(ndim, FLOAT_DTYPES, max_side=9 if ndim < 3 else 5))
    size = data.draw(output_sizes(ndim, valid_only=True))
    name = f"adaptive_{op}_pool{ndim}d"
    out = getattr(PF, name)(x, size)
    grad_out = make_input(data.draw(st.integers(0, 99)), out.shape, x.dtype, "random")
    try:
        expected = torch_grad(name, x, grad_out, (size,))
    except RuntimeError:
        with pytest.raises(ValueError, match="output_size"):
            getattr(PF, name + "_backward")(grad_out, x, size)
        return
    assert_same(getattr(PF, name + "_backward")(grad_out, x, size), expected)


@FAST
@given(data=st.data())
def test_loop_references_match_vectorised(data):
    x = data.draw(inputs(2, FLOAT_DTYPES))
    size = data.draw(output_sizes(2, valid_only=True))
    assert_same(PF.adaptive_max_pool2d_loop(x, size, return_indices=True),
                PF.adaptive_max_pool2d(x, size, return_indices=True))
    with np.errstate(invalid="ignore", over="ignore"):
        assert_same(PF.adaptive_avg_pool2d_loop(x, size), PF.adaptive_avg_pool2d(x, size))


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_adaptive_avg_gradient_by_finite_differences(ndim):
    x = make_input(ndim, (2, *(5,) * ndim), np.float64, "random")
    f = getattr(PF, f"adaptive_avg_pool{ndim}d")
    g = make_input(8, f(x, 3).shape, np.float64, "random")
    np.testing.assert_allclose(getattr(PF, f"adaptive_avg_pool{ndim}d_backward")(g, x, 3),
                               numeric_grad(lambda v: f(v, 3), x, g), atol=1e-7)


def test_windows_overlap_and_repeat():
    np.testing.assert_array_equal(PF.adaptive_bounds(5, 3)[0], [0, 1, 3])
    np.testing.assert_array_equal(PF.adaptive_bounds(2, 4)[0], [0, 0, 1, 1])


X = np.zeros((1, 2, 4, 4))


@pytest.mark.parametrize("call, error, words", [
    (lambda: PF.adaptive_avg_pool2d(X, -1), ValueError, "output_size"),
    (lambda: PF.adaptive_max_pool2d(X, (2, -1)), ValueError, "output_size"),
    (lambda: PF.adaptive_max_pool2d(X, (2, 2, 2)), ValueError, "output_size"),
    (lambda: PF.adaptive_avg_pool1d(X[0], None), TypeError, "output_size"),
    (lambda: PF.adaptive_avg_pool2d(X, 2.0), TypeError, "output_size"),
    (lambda: PF.adaptive_max_pool2d(np.zeros((1, 0, 4, 4)), 2), ValueError, "non-zero"),
    (lambda: PF.adaptive_avg_pool2d(X.astype(np.int64), 2), TypeError, "dtype"),
    (lambda: PF.adaptive_avg_pool2d(X[0, 0], 2), ValueError, "shape"),
])
def test_refusals_name_the_parameter(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_empty_channels_and_outputs():
    assert_same(*run_both("adaptive_avg_pool2d", (np.zeros((1, 0, 4, 4)), 2), {}))
    assert_same(*run_both("adaptive_max_pool2d", (np.zeros((1, 1, 4, 4)), 0),
                          {"return_indices": True}))
    assert_same(*run_both("adaptive_avg_pool3d", (np.zeros((0, 1, 4, 4, 4)), 2), {}))


@pytest.mark.parametrize("size", [(5,), [5], (0,)])
@pytest.mark.parametrize("op", ["max", "avg"])
def test_1d_output_size_may_be_a_one_int_tuple_or_list(op, size):
    """torch's 1d adaptive pools take ``(5,)`` or ``[5]`` as well as ``5``; so do ours, and
    their backward too."""
    x = make_input(7, (2, 3, 11), np.float32, "special")
    name = f"adaptive_{op}_pool1d"
    assert_same(*run_both(name, (x, size), {}))
    if size[0] == 0:
        return  # the backward of an empty output is refused (see _check_backward_grad)
    out = getattr(PF, name)(x, size)
    g = make_input(8, out.shape, np.float32, "random")
    assert_same(getattr(PF, name + "_backward")(g, x, size), torch_grad(name, x, g, (size,)))


@pytest.mark.parametrize("size", [(5, 5), (), (None,), [None]])
def test_1d_output_size_refuses_what_torch_refuses(size):
    assert run_both("adaptive_avg_pool1d", (np.zeros((1, 4), np.float32), size), {}) is None
    assert run_both("adaptive_max_pool1d", (np.zeros((1, 4), np.float32), size), {}) is None
