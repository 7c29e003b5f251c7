"""Max unpooling and fractional max pooling: values, indices, gradients, refusals = torch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F
from _torch_oracle import FAST, FLOAT_DTYPES, assert_same, inputs, make_input, run_both, torch_grad
from hypothesis import given
from hypothesis import strategies as st

from pooling_course import functional as PF


@st.composite
def unpool_case(draw, ndim):
    x = draw(inputs(ndim, FLOAT_DTYPES + (np.int64,), max_side=4))
    k = tuple(draw(st.integers(-1, 3)) for _ in range(ndim))
    s = draw(st.none() | st.just(tuple(draw(st.integers(0, 3)) for _ in range(ndim))))
    p = tuple(draw(st.integers(-1, 2)) for _ in range(ndim))
    stride = k if s is None else s
    default = [(n - 1) * si + ki - 2 * pi
               for n, ki, si, pi in zip(x.shape[-ndim:], k, stride, p, strict=True)]
    size = draw(st.sampled_from(["none", "jitter", "full"]))
    output_size = None
    if size != "none":
        output_size = tuple(d + draw(st.integers(-3, 3)) for d in default)
        if size == "full":
            output_size = (1, 1, *output_size)
    plane = int(np.prod([max(o, 0) for o in (output_size or default)[-ndim:]]))
    how = draw(st.sampled_from(["valid", "valid", "wild", "int32"]))
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    per_plane = int(np.prod(x.shape[-ndim:]))
    if how == "wild":
        indices = rng.integers(-1, plane + 2, x.shape)
    elif plane >= per_plane:  # distinct indices, as a max pool produces
        count = int(np.prod(x.shape[:-ndim]))
        rows = [rng.permutation(plane)[:per_plane] for _ in range(count)]
        indices = np.array(rows, dtype=np.int64).reshape(x.shape)
    else:
        indices = rng.integers(0, max(plane, 1), x.shape)
    if how == "int32":
        indices = indices.astype(np.int32)
    kwargs = {"kernel_size": k, "stride": s, "padding": p, "output_size": output_size}
    return x, indices, kwargs


@pytest.mark.parametrize("ndim", [1, 2, 3])
@FAST
@given(data=st.data())
def test_max_unpool_matches_torch(ndim, data):
    x, indices, kwargs = data.draw(unpool_case(ndim))
    result = run_both(f"max_unpool{ndim}d", (x, indices), kwargs)
    planes = indices.reshape(-1, int(np.prod(x.shape[-ndim:])))
    duplicates = any(len(set(row)) < len(row) for row in planes.tolist())
    # torch's kernel writes duplicates in parallel: which one lands is not defined there
    if result is not None and not duplicates:
        assert_same(*result)
        if x.dtype.kind == "f" and result[0].size and x.size:
            g = make_input(1, result[0].shape, x.dtype, "random")
            ours = getattr(PF, f"max_unpool{ndim}d_backward")(g, x, indices, **kwargs)
            assert_same(ours, torch_grad(f"max_unpool{ndim}d", x, g, (indices,), kwargs))


def test_unpool_inverts_pool_and_loop_agrees():
    x = np.abs(make_input(0, (2, 3, 6, 7), np.float64, "random")) + 1  # beats the zeros
    values, indices = PF.max_pool2d(x, 2, return_indices=True)
    up = PF.max_unpool2d(values, indices, 2, output_size=x.shape)
    np.testing.assert_array_equal(PF.max_pool2d(up, 2), values)
    np.testing.assert_array_equal(PF.max_unpool2d_loop(values, indices, 2, output_size=x.shape),
                                  up)
    dup = PF.max_unpool1d(np.array([[1.0, 2, 3, 4]]), np.array([[5, 5, 5, 0]]), 2)
    np.testing.assert_array_equal(dup, [[4, 0, 0, 0, 0, 3, 0, 0]])


@pytest.mark.parametrize("call, error, words", [
    (lambda: PF.max_unpool2d(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int32), 2),
     TypeError, "indices"),
    (lambda: PF.max_unpool2d(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16), 2),
     ValueError, "indices"),
    (lambda: PF.max_unpool2d(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 1), np.int64), 2),
     ValueError, "indices"),
    (lambda: PF.max_unpool2d(np.ones((1, 1, 1, 1)), np.zeros((1, 1, 1, 1), np.int64), 3, 2,
                             output_size=(1, 4, 2)), ValueError, "output_size"),
    (lambda: PF.max_unpool2d(np.ones((1, 1, 1, 1)), np.zeros((1, 1, 1, 1), np.int64), 1,
                             output_size=(0, 1)), ValueError, "output_size"),
    (lambda: PF.max_unpool1d(np.ones((1, 1, 1)), np.zeros((1, 1, 1), np.int64), 3, 2,
                             output_size=4), TypeError, "output_size"),
    (lambda: PF.max_unpool3d(np.ones((1, 1, 1, 1)), np.zeros((1, 1, 1, 1), np.int64), 2, 0),
     ValueError, "stride"),
    (lambda: PF.max_unpool2d(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), 2,
                             padding=3), ValueError, "non-negative"),
])
def test_unpool_refusals_name_the_parameter(call, error, words):
    with pytest.raises(error, match=words):
        call()


@st.composite
def fractional_case(draw, ndim):
    x = draw(inputs(ndim, FLOAT_DTYPES + (np.int64,), max_side=7 if ndim == 2 else 5))
    k = tuple(draw(st.integers(-1, 3)) for _ in range(ndim))
    kwargs = {"kernel_size": k[0] if draw(st.booleans()) else k}
    if draw(st.booleans()):
        sizes = tuple(draw(st.integers(-1, 5)) for _ in range(ndim))
        kwargs["output_size"] = sizes[0] if draw(st.booleans()) else sizes
    if draw(st.booleans()) or "output_size" not in kwargs:
        ratio = tuple(draw(st.sampled_from([0.0, 0.3, 0.5, 0.75, 1.0])) for _ in range(ndim))
        kwargs["output_ratio"] = draw(st.sampled_from([ratio, ratio[0], ratio[:1]]))
    batch = x.shape[0] if x.ndim == ndim + 2 else 1
    n = batch + draw(st.integers(-1 if batch else 0, 1))
    dtype = x.dtype if draw(st.integers(0, 9)) else np.float64
    lo, hi = (0.0, 1.0) if draw(st.integers(0, 4)) else (-0.5, 1.5)
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    kwargs["_random_samples"] = rng.uniform(lo, hi, (n, x.shape[-ndim - 1], ndim)).astype(dtype)
    kwargs["return_indices"] = draw(st.booleans())
    return x, kwargs


@pytest.mark.parametrize("ndim", [2, 3])
@FAST
@given(data=st.data())
def test_fractional_max_pool_matches_torch(ndim, data):
    x, kwargs = data.draw(fractional_case(ndim))
    result = run_both(f"fractional_max_pool{ndim}d", (x,), kwargs,
                      torch_fn=_torch_fractional(ndim))
    if result is None:
        return
    assert_same(*result)
    out = result[0][0] if kwargs["return_indices"] else result[0]
    indices = PF.__dict__[f"fractional_max_pool{ndim}d"](x, **{**kwargs, "return_indices": True})[1]
    plane = int(np.prod(x.shape[-ndim:]))
    if x.dtype.kind == "f" and out.size and ((indices >= 0) & (indices < plane)).all() and (
            np.min(kwargs["kernel_size"]) > 0):
        kwargs.pop("return_indices")
        g = make_input(2, out.shape, x.dtype, "random")
        ours = getattr(PF, f"fractional_max_pool{ndim}d_backward")(g, x, **kwargs)
        assert_same(ours, torch_grad(f"fractional_max_pool{ndim}d", x, g, (), kwargs,
                                     torch_fn=_torch_fractional(ndim)))


def _torch_fractional(ndim):
    """torch's function with ``_random_samples`` converted to a tensor."""
    import torch

    def call(x, *args, _random_samples=None, **kwargs):
        samples = None if _random_samples is None else torch.from_numpy(_random_samples)
        return getattr(F, f"fractional_max_pool{ndim}d")(x, *args, _random_samples=samples,
                                                          **kwargs)
    return call


@FAST
@given(data=st.data())
def test_fractional_loop_matches_vectorised(data):
    x = data.draw(inputs(2, FLOAT_DTYPES, max_side=7, min_side=4))
    k, o = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    samples = np.random.default_rng(data.draw(st.integers(0, 9))).random(
        (x.shape[0] if x.ndim == 4 else 1, x.shape[-3], 2)).astype(x.dtype)
    assert_same(PF.fractional_max_pool2d_loop(x, k, o, samples, return_indices=True),
                PF.fractional_max_pool2d(x, k, o, return_indices=True, _random_samples=samples))


@pytest.mark.parametrize("call, error, words", [
    (lambda: PF.fractional_max_pool2d(np.ones((1, 1, 5, 5)), 2), ValueError, "output_ratio"),
    (lambda: PF.fractional_max_pool2d(np.ones((1, 1, 5, 5)), 2, output_ratio=0.5), TypeError,
     "output_ratio"),
    (lambda: PF.fractional_max_pool2d(np.ones((1, 1, 5, 5)), 2, output_size=5), ValueError,
     "too large"),
    (lambda: PF.fractional_max_pool2d(np.ones((1, 1, 5, 5)), 2, output_size=2,
                                      _random_samples=np.zeros((1, 1, 2), np.float32)),
     TypeError, "_random_samples"),
    (lambda: PF.fractional_max_pool2d(np.ones((2, 1, 5, 5)), 2, output_size=2,
                                      _random_samples=np.zeros((1, 1, 2))),
     ValueError, "_random_samples"),
    (lambda: PF.fractional_max_pool2d(np.ones((1, 1, 5, 5)), (2,), output_size=2), ValueError,
     "kernel_size"),
    (lambda: PF.fractional_max_pool2d_backward(np.ones((1, 1, 2, 2)), np.ones((1, 1, 5, 5)), 2,
                                               2), ValueError, "_random_samples"),
])
def test_fractional_refusals_name_the_parameter(call, error, words):
    with pytest.raises(error, match=words):
        call()


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_max_unpool_backward_of_an_empty_batch_is_an_empty_gradient(ndim):
    """A zero-size batch: torch returns an empty gradient (this used to fail to reshape)."""
    x = np.zeros((0, 2, *(4,) * ndim), np.float32)
    values, indices = getattr(PF, f"max_pool{ndim}d")(x, 2, return_indices=True)
    up = getattr(PF, f"max_unpool{ndim}d")(values, indices, 2)
    g = np.zeros(up.shape, np.float32)
    ours = getattr(PF, f"max_unpool{ndim}d_backward")(g, values, indices, 2)
    assert_same(ours, torch_grad(f"max_unpool{ndim}d", values, g, (indices,), {"kernel_size": 2}))
    assert ours.shape == values.shape == (0, 2, *(2,) * ndim)
