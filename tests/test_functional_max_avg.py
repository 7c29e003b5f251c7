"""Max and average pooling (1d/2d/3d): values, indices, gradients and refusals equal torch's."""

from __future__ import annotations

import sys
import threading
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
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
from pooling_course.functional import _kernels, avg_pool2d_loop, max_pool2d_loop

INT_DTYPES = (np.int8, np.uint8, np.int16, np.int32, np.int64)


@st.composite
def window_kwargs(draw, ndim: int, dilation: bool, valid_only: bool = False):
    """Window parameters, ints or tuples; unless ``valid_only``, sometimes out of range."""
    lo = 1 if valid_only else 0

    def param(low, high):
        values = [draw(st.integers(low, high)) for _ in range(ndim)]
        return values[0] if draw(st.booleans()) else tuple(values)

    kwargs = {"kernel_size": param(lo, 4),
              "stride": draw(st.none() | st.just(param(lo, 3))),
              "padding": param(0 if valid_only else -1, 2),
              "ceil_mode": draw(st.booleans())}
    if dilation:
        kwargs["dilation"] = param(lo, 3)
    return kwargs


def _no_empty_window(x, kwargs, ndim):
    """Torch's max-pool backward writes out of bounds for windows with no real element."""
    _, _, _, has_real = PF.max_pool._max_pool(x, ndim, "test", kwargs["kernel_size"],
                                              kwargs.get("stride"), kwargs["padding"],
                                              kwargs["dilation"], kwargs["ceil_mode"])
    return bool(has_real.all())


@pytest.mark.parametrize("ndim", [1, 2, 3])
@FAST
@given(data=st.data())
def test_max_pool_matches_torch(ndim, data):
    dtypes = FLOAT_DTYPES + INT_DTYPES
    x = data.draw(inputs(ndim, dtypes, max_side=6 if ndim < 3 else 4))
    kwargs = data.draw(window_kwargs(ndim, dilation=True))
    kwargs["return_indices"] = data.draw(st.booleans())
    result = run_both(f"max_pool{ndim}d", (x,), kwargs)
    if result is not None:
        assert_same(*result)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@FAST
@given(data=st.data())
def test_avg_pool_matches_torch(ndim, data):
    x = data.draw(inputs(ndim, FLOAT_DTYPES + (np.int64, np.int32),
                         max_side=6 if ndim < 3 else 4))
    kwargs = data.draw(window_kwargs(ndim, dilation=False))
    kwargs["count_include_pad"] = data.draw(st.booleans())
    if ndim > 1:
        kwargs["divisor_override"] = data.draw(st.none() | st.integers(-3, 5))
    result = run_both(f"avg_pool{ndim}d", (x,), kwargs)
    if result is not None:
        assert_same(*result)  # exact: we sum in torch's order


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
@FAST
@given(data=st.data())
def test_kernels_split_into_blocks_match_torch(op, ndim, data):
    """The kernels work on blocks of planes and reuse their buffers from one block to the
    next: with blocks of one or two planes (the last one short), results still equal
    torch's."""
    x = data.draw(inputs(ndim, FLOAT_DTYPES, max_side=6 if ndim < 3 else 4))
    kwargs = data.draw(window_kwargs(ndim, dilation=op == "max", valid_only=True))
    block = int(np.prod(x.shape[-ndim:])) * data.draw(st.integers(1, 2))
    name = f"{op}_pool{ndim}d"
    indices = op == "max" and data.draw(st.booleans())
    with mock.patch.object(_kernels, "BLOCK_ELEMENTS", block):
        result = run_both(name, (x,), {**kwargs, "return_indices": True} if indices else kwargs)
        if result is None:
            return
        assert_same(*result)
        # the backward pass reuses the forward's blocks, indices and all
        if op == "max" and not _no_empty_window(x, kwargs, ndim):
            return
        values = result[0][0] if indices else result[0]
        grad_out = make_input(data.draw(st.integers(0, 99)), values.shape, x.dtype, "random")
        ours = getattr(PF, name + "_backward")(grad_out, x, **kwargs)
    assert_same(ours, torch_grad(name, x, grad_out, kwargs=kwargs))


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
@FAST
@given(data=st.data())
def test_backward_matches_torch_autograd(op, ndim, data):
    x = data.draw(inputs(ndim, FLOAT_DTYPES, max_side=6 if ndim < 3 else 4,
                         min_side=4 if ndim == 3 else 1))
    kwargs = data.draw(window_kwargs(ndim, dilation=op == "max", valid_only=True))
    if op == "avg":
        kwargs["count_include_pad"] = data.draw(st.booleans())
        if ndim > 1:
            kwargs["divisor_override"] = data.draw(st.none() | st.integers(1, 5))
    name = f"{op}_pool{ndim}d"
    try:
        out = getattr(PF, name)(x, **kwargs)
    except (ValueError, TypeError):
        return  # the forward tests check refusals
    if op == "max" and not _no_empty_window(x, kwargs, ndim):
        return
    grad_out = make_input(data.draw(st.integers(0, 99)), out.shape, x.dtype, "random")
    ours = getattr(PF, name + "_backward")(grad_out, x, **kwargs)
    assert_same(ours, torch_grad(name, x, grad_out, kwargs=kwargs))


@FAST
@given(data=st.data())
def test_loop_references_match_vectorised(data):
    x = data.draw(inputs(2, FLOAT_DTYPES + (np.int64,)))
    kwargs = data.draw(window_kwargs(2, dilation=True, valid_only=True))
    try:
        expected = PF.max_pool2d(x, **kwargs, return_indices=True)
    except ValueError:
        return
    assert_same(max_pool2d_loop(x, **kwargs, return_indices=True), expected)
    kwargs.pop("dilation")
    avg = PF.avg_pool2d(x, **kwargs)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in the loop's sum
        loop = avg_pool2d_loop(x, **kwargs)
    assert_same(loop, avg)
    if np.issubdtype(x.dtype, np.floating):
        grad_out = make_input(1, avg.shape, x.dtype, "random")
        np.testing.assert_array_equal(PF.avg_pool2d_backward_loop(grad_out, x, **kwargs),
                                      PF.avg_pool2d_backward(grad_out, x, **kwargs))


def test_max_pool_backward_loop_matches_vectorised():
    x = make_input(3, (2, 3, 7, 6), np.float64, "ties")
    for kwargs in [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                   dict(kernel_size=(2, 3), stride=2, dilation=2, ceil_mode=True)]:
        g = make_input(4, PF.max_pool2d(x, **kwargs).shape, np.float64, "random")
        np.testing.assert_array_equal(PF.max_pool2d_backward_loop(g, x, **kwargs),
                                      PF.max_pool2d_backward(g, x, **kwargs))


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_avg_pool_gradient_by_finite_differences(ndim):
    x = make_input(ndim, (2, *(5,) * ndim), np.float64, "random")
    kwargs = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    f = getattr(PF, f"avg_pool{ndim}d")
    g = make_input(7, f(x, **kwargs).shape, np.float64, "random")
    np.testing.assert_allclose(getattr(PF, f"avg_pool{ndim}d_backward")(g, x, **kwargs),
                               numeric_grad(lambda v: f(v, **kwargs), x, g), atol=1e-7)


def test_max_pool_gradient_by_finite_differences():
    x = make_input(5, (2, 6, 5), np.float64, "random")  # distinct values: max is smooth
    g = make_input(6, PF.max_pool2d(x, 3, 2, 1).shape, np.float64, "random")
    np.testing.assert_allclose(PF.max_pool2d_backward(g, x, 3, 2, 1),
                               numeric_grad(lambda v: PF.max_pool2d(v, 3, 2, 1), x, g),
                               atol=1e-7)


# --- the documented rules, one small case each -------------------------------------------

def test_last_nan_wins_and_first_tie_wins():
    x = np.array([[2.0, 5.0, 5.0, np.nan, 1.0, np.nan, 5.0]])
    values, indices = PF.max_pool1d(x, 7, return_indices=True)
    assert np.isnan(values[0, 0]) and indices[0, 0] == 5
    values, indices = PF.max_pool1d(np.array([[2.0, 5.0, 5.0]]), 3, return_indices=True)
    assert values[0, 0] == 5 and indices[0, 0] == 1


def test_window_wholly_in_padding_gives_lowest_and_first_grid_index():
    x = np.array([[1.0, 2.0, 3.0]])
    values, indices = PF.max_pool1d(x, 2, padding=1, dilation=4, return_indices=True)
    assert values[0, 0] == -np.inf and indices[0, 0] == 3
    xi = np.array([[-5, -3, -7]])
    values, indices = PF.max_pool2d(xi[None], (1, 2), padding=(0, 1), dilation=(1, 4),
                                    return_indices=True)
    assert values[0, 0, 0] == np.iinfo(np.int64).min and indices[0, 0, 0] == 3


def test_padding_never_wins_against_real_minus_inf():
    x = np.array([[-np.inf, -np.inf]])
    values, indices = PF.max_pool1d(x, 2, stride=1, padding=1, return_indices=True)
    np.testing.assert_array_equal(indices, [[0, 0, 1]])


def test_ceil_mode_divisor_counts_only_the_padded_input():
    # windows [1, 2], [3, 4], [5]: the last divides by 1, not 2
    np.testing.assert_array_equal(PF.avg_pool1d(np.array([[1.0, 2, 3, 4, 5]]), 2,
                                                ceil_mode=True), [[1.5, 3.5, 5.0]])


def test_integer_average_truncates_toward_zero():
    np.testing.assert_array_equal(PF.avg_pool1d(np.array([[-7, 0, 7, 0]]), 2), [[-3, 3]])


# --- refusals ------------------------------------------------------------------------------

X2 = np.zeros((1, 2, 5, 5), dtype=np.float32)


@pytest.mark.parametrize("call, error, words", [
    (lambda: PF.max_pool2d(X2, 0), ValueError, "kernel_size"),
    (lambda: PF.max_pool2d(X2, 2, stride=0), ValueError, "stride"),
    (lambda: PF.max_pool2d(X2, 2, padding=-1), ValueError, "padding"),
    (lambda: PF.max_pool2d(X2, 2, padding=2), ValueError, "padding"),
    (lambda: PF.max_pool2d(X2, 2, dilation=0), ValueError, "dilation"),
    (lambda: PF.max_pool2d(X2, 6), ValueError, "too small"),
    (lambda: PF.max_pool2d(X2, (2, 2, 2)), ValueError, "kernel_size"),
    (lambda: PF.max_pool2d(X2, 2.0), TypeError, "kernel_size"),
    (lambda: PF.max_pool2d(X2[0, 0], 2), ValueError, "shape"),
    (lambda: PF.max_pool2d(X2[None], 2), ValueError, "shape"),
    (lambda: PF.max_pool2d(np.zeros((1, 0, 4, 4)), 2), ValueError, "non-zero"),
    (lambda: PF.max_pool2d(X2.astype(bool), 2), TypeError, "dtype"),
    (lambda: PF.max_pool2d(X2.astype(np.uint16), 2), TypeError, "dtype"),
    (lambda: PF.max_pool2d(X2.astype(np.complex64), 2), TypeError, "dtype"),
    (lambda: PF.max_pool2d(X2.tolist(), 2), TypeError, "numpy"),
    (lambda: PF.max_pool1d(X2[0].astype(np.int64), 2), TypeError, "dtype"),
    (lambda: PF.avg_pool2d(X2, 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda: PF.avg_pool2d(X2, 2, divisor_override=2.0), TypeError, "divisor_override"),
    (lambda: PF.avg_pool2d(X2, 2, divisor_override=True), TypeError, "divisor_override"),
    (lambda: PF.avg_pool2d(X2.astype(np.int32), 2), TypeError, "dtype"),
    (lambda: PF.avg_pool3d(X2.astype(np.float16), 2), TypeError, "dtype"),
    (lambda: PF.avg_pool3d(np.zeros((1, 2, 2, 2)), 3, padding=1), ValueError, "kernel_size"),
    (lambda: PF.max_pool2d_backward(np.zeros((1, 2, 3, 3)), X2, 2), ValueError, "grad_output"),
    (lambda: PF.avg_pool2d_backward(np.zeros((1, 2, 2, 2)), X2.astype(np.int64), 2), TypeError,
     "dtype"),
])
def test_refusals_name_the_parameter(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_dtype_acceptance_matches_torch():
    for dtype in (*FLOAT_DTYPES, *INT_DTYPES, np.uint16, np.uint32, np.uint64, np.bool_):
        for name in ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d",
                     "avg_pool3d"]:
            ndim = int(name[-2])
            x = np.ones((1, 1) + (4,) * ndim, dtype=dtype)
            result = run_both(name, (x, 2), {})
            if result is not None:
                assert_same(*result)
        result = run_both("max_pool1d", (np.ones((1, 4), dtype=dtype), 2),
                          {"return_indices": True})
        if result is not None:
            assert_same(*result)


def test_non_contiguous_and_empty_batch():
    x = make_input(0, (2, 3, 8, 9), np.float32, "special")[:, ::2, 1:, 1::2]
    assert not x.flags.c_contiguous
    for name in ["max_pool2d", "avg_pool2d"]:
        assert_same(*run_both(name, (x, 3, 1, 1), {}))
        empty = np.zeros((0, 3, 5, 5), dtype=np.float64)
        assert_same(*run_both(name, (empty, 2), {}))
    g = np.ones((0, 3, 2, 2))
    assert PF.max_pool2d_backward(g, np.zeros((0, 3, 5, 5)), 2).shape == (0, 3, 5, 5)


def test_results_do_not_alias_the_input():
    x = np.arange(16.0).reshape(1, 4, 4)
    out = PF.avg_pool2d(x, 1)
    out[...] = -1
    assert x[0, 0, 0] == 0
    assert torch.equal(F.max_pool2d(torch.from_numpy(x), 1), torch.from_numpy(x))


@pytest.mark.parametrize("name, kwargs", [
    ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1)),  # stride phases
    ("avg_pool2d", dict(kernel_size=3, stride=2)),  # float32 even/odd split
    ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, return_indices=True)),
    ("max_pool1d", dict(kernel_size=3, stride=2)),  # running maxima of every start
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_reuse_scratch_buffers_safely(name, kwargs, dtype):
    """The kernels keep their scratch buffers from call to call, one set per thread: an
    earlier result must not change when a later call reuses them, and threads pooling at
    the same time must not write into each other's buffers."""
    shape = (2, 3, 15, 15) if name.endswith("2d") else (2, 3, 40)
    inputs_ = [make_input(seed, shape, dtype, "random") for seed in range(6)]
    pool = getattr(PF, name)
    first = pool(inputs_[0], **kwargs)
    kept = [np.copy(a) for a in (first if isinstance(first, tuple) else (first,))]
    pool(inputs_[1], **kwargs)
    for a, b in zip(first if isinstance(first, tuple) else (first,), kept, strict=True):
        assert_same(a, b)
    results = {}

    def work(i: int) -> None:
        for _ in range(50):
            results[i] = pool(inputs_[i], **kwargs)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2, 6)]
    # small blocks and a short switch interval: threads take turns within calls
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with mock.patch.object(_kernels, "BLOCK_ELEMENTS", shape[-1] * 4):
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        sys.setswitchinterval(interval)
    for i in range(2, 6):
        ours = results[i][0] if isinstance(results[i], tuple) else results[i]
        theirs = getattr(F, name)(torch.from_numpy(inputs_[i]), **kwargs)
        theirs = theirs[0] if isinstance(theirs, tuple) else theirs
        assert_same(ours, theirs.numpy())


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1),
                                    dict(kernel_size=2, stride=1)])
def test_max_backward_routes_inf_and_nan_gradients_only_to_the_maxima(kwargs):
    """Infinite and NaN gradients reach only their windows' maxima (a kernel that masked
    gradients by multiplying with 0/1 would spread NaN, inf * 0, everywhere else)."""
    x = make_input(5, (2, 3, 7, 8), np.float32, "random")
    g = make_input(6, PF.max_pool2d(x, **kwargs).shape, np.float32, "random")
    g[0, 0, 0, 0], g[1, 2, -1, -1], g[0, 1, 1, 1] = np.inf, -np.inf, np.nan
    assert_same(PF.max_pool2d_backward(g, x, **kwargs), torch_grad("max_pool2d", x, g,
                                                                   kwargs=kwargs))


def test_kernels_allocate_no_k2_temporary():
    """Forward max and average pooling allocate at most about the output again (tracemalloc
    sees NumPy's buffers): no (…, k*k) copy of the windows, no padded copy of the input."""
    import tracemalloc

    x = make_input(9, (16, 16, 64, 64), np.float32, "random")  # several blocks of planes
    for f, kwargs in [(PF.max_pool2d, dict(kernel_size=3, stride=1, padding=1)),
                      (PF.avg_pool2d, dict(kernel_size=3, stride=1, padding=1))]:
        tracemalloc.start()
        out = f(x, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak - out.nbytes <= out.nbytes, (f.__name__, peak / out.nbytes)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_avg_pool_quotients_of_minus_zero_come_out_plus_zero(dtype, ndim):
    """Torch adds each window's quotient to an output it set to zero, so a quotient of -0.0
    (a zero sum over a negative divisor, or a tiny negative sum that underflows) is +0.0."""
    if ndim == 3 and dtype == np.float16:
        pytest.skip("torch's avg_pool3d takes no float16")
    x = np.zeros((2,) + (4,) * ndim, dtype=dtype)
    x.reshape(2, -1)[:, 0] = -np.finfo(dtype).smallest_subnormal
    for divisor in [None, -2] if ndim > 1 else [None]:
        kwargs = {"kernel_size": 3, "stride": 1, "padding": 1}
        if divisor is not None:
            kwargs["divisor_override"] = divisor
        ours = getattr(PF, f"avg_pool{ndim}d")(x, **kwargs)
        theirs = getattr(F, f"avg_pool{ndim}d")(torch.from_numpy(x), **kwargs).numpy()
        assert_same(ours, theirs)
        assert np.array_equal(np.signbit(ours), np.signbit(theirs)), divisor
        if ndim == 2:
            assert np.array_equal(np.signbit(avg_pool2d_loop(x, **kwargs)), np.signbit(theirs))


@FAST
@given(data=st.data())
def test_avg_pool2d_stride2_float32_matches_torch(data):
    """Float32 average pooling with stride 2 and no padding splits each plane's values by
    the parity of their flat position (odd and even plane sizes, blocks of one to three
    planes, the last one short): results equal torch's, NaN where NaN, signed zeros too
    (which NaN bit pattern inf - inf makes is the CPU's choice, not torch's)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    shape = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4)),
             data.draw(st.integers(3, 12)), data.draw(st.integers(3, 12)))
    special = np.array([-0.0, 0.0, 1.5, -1.5, np.nan, np.inf, -np.inf, 3e38, 1e-45])
    values = rng.standard_normal(shape) if data.draw(st.booleans()) else rng.choice(special,
                                                                                   shape)
    x = values.astype(np.float32)
    k = (data.draw(st.integers(2, min(5, shape[2]))), data.draw(st.integers(2, min(5, shape[3]))))
    kwargs = {"kernel_size": k, "stride": 2,
              "divisor_override": data.draw(st.none() | st.sampled_from([-3, 1, 7]))}
    planes = data.draw(st.integers(1, 3))
    with mock.patch.object(_kernels, "BLOCK_ELEMENTS", shape[2] * shape[3] * planes):
        ours = PF.avg_pool2d(x, **kwargs)
    theirs = F.avg_pool2d(torch.from_numpy(x), **kwargs).numpy()
    assert_same(ours, theirs)
    numbers = ~np.isnan(theirs)
    assert np.array_equal(np.signbit(ours[numbers]), np.signbit(theirs[numbers]))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@FAST
@given(data=st.data())
def test_max_pool1d_without_indices_matches_torch_on_long_rows(dtype, data):
    """Torch's 1-d max pool without indices runs its own kernel, and ours for it picks every
    second window start by a cast: rows long enough for several blocks, stride 2, signed
    zeros tied with each other (the first must win) and NaN."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n = data.draw(st.integers(8, 40))
    x = rng.choice(np.array([-0.0, 0.0, 1.0, -1.0, np.nan, -np.inf]), (3, 5, n)).astype(dtype)
    k = data.draw(st.integers(2, 4))
    kwargs = {"kernel_size": k, "stride": data.draw(st.sampled_from([2, 2, 1, 3])),
              "dilation": data.draw(st.integers(1, 2)), "ceil_mode": data.draw(st.booleans())}
    with mock.patch.object(_kernels, "BLOCK_ELEMENTS", n * data.draw(st.integers(1, 4))):
        result = run_both("max_pool1d", (x,), kwargs)
    if result is not None:
        ours, theirs = result
        assert_same(ours, theirs)
        # the signs of zeros must agree too
        assert np.array_equal(np.signbit(ours), np.signbit(theirs))
