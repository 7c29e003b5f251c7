"""Lp pooling: values, gradients and refusals agree with torch (to rounding: pow differs)."""

from __future__ import annotations

import numpy as np
import pytest
from _torch_oracle import FAST, FLOAT_DTYPES, inputs, make_input, numeric_grad, run_both, torch_grad
from hypothesis import given
from hypothesis import strategies as st

from pooling_course import functional as PF

NORMS = [1, 2, 3, 0.5, 1.5, -1, -2, 4.0, np.inf, -np.inf, 0]
TOL = {np.float16: 1e-2, np.float32: 1e-5, np.float64: 1e-12}


def _close(ours, theirs, dtype):
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    tol = TOL.get(np.dtype(dtype).type, 1e-5)
    np.testing.assert_allclose(ours.astype(np.float64), theirs.astype(np.float64), rtol=tol,
                               atol=tol, equal_nan=True)


@st.composite
def lp_kwargs(draw, ndim):
    k = [draw(st.integers(0, 3)) for _ in range(ndim)]
    kernel = k[0] if ndim == 1 or draw(st.booleans()) else tuple(k)
    return {"norm_type": draw(st.sampled_from(NORMS)), "kernel_size": kernel,
            "stride": draw(st.none() | st.integers(0, 3)), "ceil_mode": draw(st.booleans())}


@pytest.mark.parametrize("ndim", [1, 2, 3])
@FAST
@given(data=st.data())
def test_lp_pool_matches_torch(ndim, data):
    x = data.draw(inputs(ndim, FLOAT_DTYPES + (np.int64,), max_side=6 if ndim < 3 else 4))
    kwargs = data.draw(lp_kwargs(ndim))
    result = run_both(f"lp_pool{ndim}d", (x,), kwargs)
    if result is not None:
        _close(*result, x.dtype)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@FAST
@given(data=st.data())
def test_lp_pool_backward_matches_torch_autograd(ndim, data):
    x = data.draw(inputs(ndim, (np.float32, np.float64), max_side=6 if ndim < 3 else 4,
                         min_side=3 if ndim == 3 else 1))
    kwargs = data.draw(lp_kwargs(ndim))
    name = f"lp_pool{ndim}d"
    try:
        out = getattr(PF, name)(x, **kwargs)
    except (ValueError, TypeError):
        return
    if np.isinf(kwargs["norm_type"]) and np.isneginf(out).any():
        return  # a max-pool window in padding: torch's backward writes out of bounds
    g = make_input(data.draw(st.integers(0, 99)), out.shape, x.dtype, "random")
    norm = kwargs.pop("norm_type")
    ours = getattr(PF, name + "_backward")(g, x, norm, **kwargs)
    _close(ours, torch_grad(name, x, g, (norm,), kwargs), x.dtype)


@pytest.mark.parametrize("norm", [1, 2, 3, 1.5])
def test_lp_pool_gradient_by_finite_differences(norm):
    x = np.abs(make_input(2, (2, 5, 6), np.float64, "random")) + 0.5
    g = make_input(3, PF.lp_pool2d(x, norm, 2, 1).shape, np.float64, "random")
    np.testing.assert_allclose(PF.lp_pool2d_backward(g, x, norm, 2, 1),
                               numeric_grad(lambda v: PF.lp_pool2d(v, norm, 2, 1), x, g),
                               atol=1e-6)


def test_sign_handling_follows_torch():
    x = np.array([[-1.0, -2.0, 3.0, -4.0]])
    np.testing.assert_allclose(PF.lp_pool1d(x, 1, 2), [[-3.0, -1.0]])
    assert np.isnan(PF.lp_pool1d(x, 3, 2)).all()


@pytest.mark.parametrize("call, error, words", [
    (lambda: PF.lp_pool1d(np.ones((1, 4)), 0, 2), ValueError, "norm_type"),
    (lambda: PF.lp_pool1d(np.ones((1, 4)), "2", 2), TypeError, "norm_type"),
    (lambda: PF.lp_pool1d(np.ones((1, 4)), 2, (2,)), TypeError, "kernel_size"),
    (lambda: PF.lp_pool2d(np.ones((1, 4, 4)), 2, (2,)), ValueError, "kernel_size"),
    (lambda: PF.lp_pool2d(np.ones((1, 4, 4), dtype=np.int64), -1, 2), ValueError, "norm_type"),
])
def test_refusals_name_the_parameter(call, error, words):
    with pytest.raises(error, match=words):
        call()
