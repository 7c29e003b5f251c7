"""Shared helpers for the functional tests: run the same call through torch and through
``pooling_course.functional`` and compare everything, including whether both refuse it."""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from pooling_course import functional as PF

# Hypothesis settings for every differential test: enough examples to hit ties, NaN, ceil_mode
# and padding corners, few enough that the whole suite stays well under a minute. For a deep
# search set POOLING_EXAMPLES (e.g. 5000).
FAST = settings(max_examples=int(os.environ.get("POOLING_EXAMPLES", 150)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FLOAT_DTYPES = (np.float16, np.float32, np.float64)


def make_input(seed: int, shape: tuple[int, ...], dtype: type, mode: str) -> np.ndarray:
    """An input whose values exercise the rules: ``ties`` (small integers, many equal),
    ``special`` (ties plus NaN and +-inf), or ``random`` (continuous values)."""
    rng = np.random.default_rng(seed)
    if mode == "random" and np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    low, high = (0, 4) if dtype == np.uint8 else (-3, 4)
    x = rng.integers(low, high, shape).astype(dtype)
    if mode == "special" and np.issubdtype(dtype, np.floating):
        u = rng.random(shape)
        x[u < 0.1] = np.nan
        x[(u >= 0.1) & (u < 0.2)] = -np.inf
        x[(u >= 0.2) & (u < 0.25)] = np.inf
    return x


@st.composite
def inputs(draw, ndim: int, dtypes=FLOAT_DTYPES, max_side: int = 7, min_side: int = 1):
    """A random ``(N, C, *spatial)`` or ``(C, *spatial)`` array for an ``ndim``-d pool."""
    batched = draw(st.booleans())
    lead = (draw(st.integers(0 if batched else 1, 2)),) if batched else ()
    shape = (*lead, draw(st.integers(1, 3)),
             *(draw(st.integers(min_side, max_side)) for _ in range(ndim)))
    dtype = draw(st.sampled_from(dtypes))
    mode = draw(st.sampled_from(["ties", "special", "random"]))
    return make_input(draw(st.integers(0, 2**32 - 1)), shape, dtype, mode)


def to_torch(value):
    """A tensor for an array (torch refuses negative strides, so those are copied first)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value if min(value.strides, default=0) >= 0 else value.copy())
    return value


def to_numpy(result):
    if isinstance(result, tuple):
        return tuple(to_numpy(r) for r in result)
    return result.detach().numpy()


def run_both(name: str, args: tuple, kwargs: dict, torch_fn=None):
    """Call ``F.<name>`` and ``PF.<name>``; assert they agree on accepting the call.

    Torch's refusal may be any exception; ours must be ``ValueError`` or ``TypeError``.
    Returns ``(ours, theirs)`` as numpy, or ``None`` when both refused.
    """
    torch_fn = torch_fn or getattr(F, name)
    targs = tuple(to_torch(a) for a in args)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs, refused = to_numpy(torch_fn(*targs, **kwargs)), None
    except Exception as error:  # noqa: BLE001 - torch raises many types; any means "refused"
        theirs, refused = None, error
    try:
        ours = getattr(PF, name)(*args, **kwargs)
    except (ValueError, TypeError) as error:
        assert refused is not None, f"torch accepts {name}{kwargs} but we raise {error!r}"
        return None
    assert refused is None, f"torch refuses {name}{kwargs} ({refused!r}) but we return a result"
    return ours, theirs


def assert_same(ours, theirs, rtol: float = 0.0) -> None:
    """Equal shapes, dtypes and values (NaN where NaN); exact unless ``rtol`` is given."""
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs, strict=True):
            assert_same(o, t, rtol)
        return
    assert isinstance(ours, np.ndarray), type(ours)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    if rtol:
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol, equal_nan=True)
    else:
        np.testing.assert_array_equal(ours, theirs)


def torch_grad(name: str, x: np.ndarray, grad_output: np.ndarray, args: tuple = (),
               kwargs: dict | None = None, torch_fn=None) -> np.ndarray:
    """Gradient of ``F.<name>(x, *args, **kwargs)`` with respect to ``x`` by torch autograd."""
    torch_fn = torch_fn or getattr(F, name)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    targs = tuple(to_torch(a) for a in args)
    out = torch_fn(xt, *targs, **(kwargs or {}))
    if isinstance(out, tuple):
        out = out[0]
    out.backward(torch.from_numpy(grad_output))
    return xt.grad.numpy()


def numeric_grad(f, x: np.ndarray, grad_output: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of ``sum(f(x) * grad_output)`` in float64."""
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        up = np.sum(f(x) * grad_output)
        flat[i] = saved - eps
        down = np.sum(f(x) * grad_output)
        flat[i] = saved
        grad.reshape(-1)[i] = (up - down) / (2 * eps)
    return grad


def pascal_row(filter_size: int) -> np.ndarray:
    """The binomial taps by repeated convolution with (1, 1), normalised: no math.comb."""
    row = np.array([1.0])
    for _ in range(filter_size - 1):
        row = np.convolve(row, [1.0, 1.0])
    return row / row.sum()


def torch_blur(x: np.ndarray, filter_size: int, stride: int, ndim: int) -> np.ndarray:
    """antialiased-cnns' BlurPool in torch: reflect pad floor/ceil((f-1)/2), grouped conv."""
    t = torch.from_numpy(x)
    unbatched = t.dim() == ndim + 1
    if unbatched:
        t = t[None]
    taps = torch.from_numpy(pascal_row(filter_size)).to(t.dtype)
    before, after = int((filter_size - 1) / 2), int(np.ceil((filter_size - 1) / 2))
    channels = t.shape[1]
    if ndim == 1:
        kernel = taps[None, None, :].repeat(channels, 1, 1)
        out = F.conv1d(F.pad(t, (before, after), mode="reflect"), kernel, stride=stride,
                       groups=channels)
    else:
        kernel = (taps[:, None] * taps[None, :])[None, None].repeat(channels, 1, 1, 1)
        out = F.conv2d(F.pad(t, (before, after, before, after), mode="reflect"), kernel,
                       stride=stride, groups=channels)
    return (out[0] if unbatched else out).numpy()
