"""Power-average (Lp) pooling in 1d, 2d and 3d, equal to ``torch.nn.functional.lp_pool*``.

.. math::

    f(X) = \\Big(\\sum_{x \\in X} x^{p}\\Big)^{1/p}

Torch computes it, and so do we, from average pooling without padding:

``out = avg_pool(x ** p, kernel_size, stride, 0, ceil_mode)``;
``result = (sign(out) * relu(|out|) * prod(kernel_size)) ** (1 / p)``.

Consequences worth knowing (all reproduced):

* Signs are not handled as a norm would: ``x ** p`` of a negative ``x`` is negative for odd
  ``p`` and NaN for fractional ``p``, and a negative window sum is raised to ``1 / p`` with
  its sign, which gives NaN unless ``p = 1`` (``lp_pool1d`` of ``[-2, -1]`` with window 2:
  ``-3`` for ``p = 1``, NaN for ``p = 3``).
* With ``ceil_mode`` the last window's average divides by its clipped size, and is then
  multiplied by the *full* kernel size: the result is not that window's own Lp norm.
* ``p = inf`` is ``max_pool(|x|)``; ``p = -inf`` is ``-max_pool(-|x|)``, the smallest ``|x|``.
* ``p = 0`` is refused (torch fails dividing by it); negative ``p`` is accepted.
* Integer input with an int ``p`` stays integer through ``avg_pool`` (int64 only, truncating
  division) and becomes float32 at the final power; a float ``p`` makes it float32 first.
* The gradient is zero where the window sum is zero (torch's ``relu`` cuts it there) or NaN
  (``torch.sign(nan)`` is 0).
* ``lp_pool1d`` takes an int ``kernel_size`` only; ``lp_pool2d``/``3d`` an int or a full
  tuple.

Powers use torch's special cases (``x * x`` for ``p = 2``, ``1 / x`` for ``-1``, ...); other
exponents go through ``pow``, which may differ from torch's vectorised ``pow`` in the last bit.

The sign rule on one window, ``[-2, -1]``, for p = 1, 2, 3:

>>> import numpy as np
>>> x = np.array([[[-2.0, -1.0]]])
>>> [float(lp_pool1d(x, p, 2)[0, 0, 0]) for p in (1, 2, 3)]
[-3.0, 2.23606797749979, nan]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .._args import _is_int, ntuple
from ._core import FLOATS, IntOrTuple, check_dtype, check_grad_output
from .avg_pool import (
    avg_pool1d,
    avg_pool1d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool3d,
    avg_pool3d_backward,
)
from .max_pool import (
    max_pool1d,
    max_pool1d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_pool3d,
    max_pool3d_backward,
)

__all__ = ["lp_pool1d", "lp_pool2d", "lp_pool3d",
           "lp_pool1d_backward", "lp_pool2d_backward", "lp_pool3d_backward"]

_AVG = {1: avg_pool1d, 2: avg_pool2d, 3: avg_pool3d}
_AVG_BACKWARD = {1: avg_pool1d_backward, 2: avg_pool2d_backward, 3: avg_pool3d_backward}
_MAX = {1: max_pool1d, 2: max_pool2d, 3: max_pool3d}
_MAX_BACKWARD = {1: max_pool1d_backward, 2: max_pool2d_backward, 3: max_pool3d_backward}


def _sign(x: np.ndarray) -> np.ndarray:
    """torch.sign: like np.sign, but 0 for NaN (which zeroes NaN windows' gradients)."""
    return np.where(np.isnan(x), x.dtype.type(0), np.sign(x)) if x.dtype.kind == "f" else np.sign(x)


def _pow(x: np.ndarray, exponent: float) -> np.ndarray:
    """``x ** exponent`` with torch's special cases, in ``x``'s dtype."""
    with np.errstate(all="ignore"):
        if exponent == 1:
            return x.copy()
        if exponent == 2:
            return x * x
        if exponent == 3:
            return x * x * x
        if np.issubdtype(x.dtype, np.floating):
            one = x.dtype.type(1)
            if exponent == -0.5 and x.dtype != np.float16:
                return one / np.sqrt(x)  # torch's rsqrt: NaN at -inf where pow gives 0
            if exponent == -1:
                return one / x
            if exponent == -2:
                return one / (x * x)
            return np.power(x, x.dtype.type(exponent))
        return np.power(x, int(exponent))


def _check(input: np.ndarray, ndim: int, op: str, norm_type: float,
           kernel_size: IntOrTuple) -> tuple[np.ndarray, float, int]:
    if not isinstance(input, np.ndarray):
        raise TypeError(f"{op}: input must be a numpy.ndarray, got {type(input).__name__}")
    if not isinstance(norm_type, numbers.Real):
        raise TypeError(f"{op}: norm_type must be a real number, got {norm_type!r}")
    if norm_type == 0:
        raise ValueError(f"{op}: norm_type must be non-zero (the result is a 1/norm_type power)")
    if ndim == 1 and not _is_int(kernel_size):
        raise TypeError(f"{op}: kernel_size must be an int, got {kernel_size!r}")
    k = ntuple(kernel_size, ndim, "kernel_size", allow_single=False)
    x = input
    if np.issubdtype(x.dtype, np.integer) and not np.isinf(norm_type):
        if not _is_int(norm_type):
            x = x.astype(np.float32)  # torch: int tensor ** float scalar is float32
        elif norm_type < 0:
            raise ValueError(f"{op}: an integer input needs norm_type > 0, got {norm_type}")
    return x, float(norm_type), math.prod(k)


def _lp_pool(input: np.ndarray, ndim: int, op: str, norm_type: float, kernel_size: IntOrTuple,
             stride: IntOrTuple | None, ceil_mode: bool) -> np.ndarray:
    x, p, size = _check(input, ndim, op, norm_type, kernel_size)
    if p == np.inf:
        return _MAX[ndim](np.abs(x), kernel_size, stride, 0, 1, ceil_mode)
    if p == -np.inf:
        return -_MAX[ndim](-np.abs(x), kernel_size, stride, 0, 1, ceil_mode)
    out = _AVG[ndim](_pow(x, p), kernel_size, stride, 0, ceil_mode)
    with np.errstate(all="ignore"):
        scaled = _sign(out) * np.maximum(np.abs(out), 0) * out.dtype.type(size)
        if np.issubdtype(scaled.dtype, np.integer):
            scaled = scaled.astype(np.float32)
        return _pow(scaled, 1.0 / p)


def _lp_pool_backward(grad_output: np.ndarray, input: np.ndarray, ndim: int, op: str,
                      norm_type: float, kernel_size: IntOrTuple, stride: IntOrTuple | None,
                      ceil_mode: bool) -> np.ndarray:
    check_dtype(np.asarray(input).dtype, op, FLOATS)
    x, p, size = _check(input, ndim, op, norm_type, kernel_size)
    expected = _lp_pool(input, ndim, op, norm_type, kernel_size, stride, ceil_mode).shape
    g = check_grad_output(grad_output, expected, op).astype(x.dtype, copy=False)
    one = x.dtype.type(1)
    with np.errstate(all="ignore"):
        if p == np.inf:
            return _MAX_BACKWARD[ndim](g, np.abs(x), kernel_size, stride, 0, 1,
                                       ceil_mode) * _sign(x)
        if p == -np.inf:
            g_neg_abs = _MAX_BACKWARD[ndim](-g, -np.abs(x), kernel_size, stride, 0, 1, ceil_mode)
            return -g_neg_abs * _sign(x)
        powered = _pow(x, p)
        out = _AVG[ndim](powered, kernel_size, stride, 0, ceil_mode)
        sign = _sign(out)
        kept = np.maximum(np.abs(out), 0)
        scaled = sign * kept * x.dtype.type(size)
        # The chain rule, one torch op at a time, in the order autograd runs it.
        q = x.dtype.type(1.0 / p)
        g_scaled = g * (q * _pow(scaled, 1.0 / p - 1))
        g_kept = g_scaled * x.dtype.type(size) * sign
        g_abs = np.where(kept <= 0, x.dtype.type(0), g_kept)  # NaN passes, as in torch
        g_out = g_abs * sign
        g_powered = _AVG_BACKWARD[ndim](g_out, powered, kernel_size, stride, 0, ceil_mode)
        return g_powered * (x.dtype.type(p) * _pow(x, p - 1)) if p != 1 else g_powered * one


def lp_pool1d(
    input: np.ndarray,
    norm_type: float,
    kernel_size: int,
    stride: IntOrTuple | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """1d power-average pooling, equal to ``torch.nn.functional.lp_pool1d``.

    Args:
        input: ``(N, C, L)`` or ``(C, L)``, float16/32/64 or int64 (see the module rules).
        norm_type: the power ``p``: any non-zero real, ``inf`` and ``-inf`` included.
        kernel_size: window length, an int.
        stride: step between windows. Default: ``kernel_size``.
        ceil_mode: round the output length up.

    Shape: as :func:`~pooling_course.functional.avg_pool.avg_pool1d` with ``padding=0``.

    >>> lp_pool1d(np.array([[3.0, 4.0, -1.0, -2.0]]), 2, 2)
    array([[5.        , 2.23606798]])
    """
    return _lp_pool(input, 1, "lp_pool1d", norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(
    input: np.ndarray,
    norm_type: float,
    kernel_size: int | Sequence[int],
    stride: IntOrTuple | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """2d power-average pooling, equal to ``torch.nn.functional.lp_pool2d``.

    ``kernel_size`` is an int or ``(kH, kW)``; otherwise as :func:`lp_pool1d`.

    >>> lp_pool2d(np.ones((1, 2, 2)), 1, 2)
    array([[[4.]]])
    """
    return _lp_pool(input, 2, "lp_pool2d", norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(
    input: np.ndarray,
    norm_type: float,
    kernel_size: int | Sequence[int],
    stride: IntOrTuple | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """3d power-average pooling, equal to ``torch.nn.functional.lp_pool3d``.

    >>> lp_pool3d(np.ones((1, 2, 2, 2)), 2, 2)
    array([[[[2.82842712]]]])
    """
    return _lp_pool(input, 3, "lp_pool3d", norm_type, kernel_size, stride, ceil_mode)


def lp_pool1d_backward(grad_output: np.ndarray, input: np.ndarray, norm_type: float,
                       kernel_size: int, stride: IntOrTuple | None = None,
                       ceil_mode: bool = False) -> np.ndarray:
    """Gradient of :func:`lp_pool1d` with respect to ``input`` (zero where a window's sum is
    zero).

    >>> lp_pool1d_backward(np.ones((1, 1)), np.array([[3.0, 4.0]]), 2, 2)
    array([[0.6, 0.8]])
    """
    return _lp_pool_backward(grad_output, input, 1, "lp_pool1d_backward", norm_type,
                             kernel_size, stride, ceil_mode)


def lp_pool2d_backward(grad_output: np.ndarray, input: np.ndarray, norm_type: float,
                       kernel_size: int | Sequence[int], stride: IntOrTuple | None = None,
                       ceil_mode: bool = False) -> np.ndarray:
    """Gradient of :func:`lp_pool2d`; see :func:`lp_pool1d_backward`."""
    return _lp_pool_backward(grad_output, input, 2, "lp_pool2d_backward", norm_type,
                             kernel_size, stride, ceil_mode)


def lp_pool3d_backward(grad_output: np.ndarray, input: np.ndarray, norm_type: float,
                       kernel_size: int | Sequence[int], stride: IntOrTuple | None = None,
                       ceil_mode: bool = False) -> np.ndarray:
    """Gradient of :func:`lp_pool3d`; see :func:`lp_pool1d_backward`."""
    return _lp_pool_backward(grad_output, input, 3, "lp_pool3d_backward", norm_type,
                             kernel_size, stride, ceil_mode)
