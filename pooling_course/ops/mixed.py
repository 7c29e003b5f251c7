"""Blends of max and average: mixed and gated pooling (Lee, Gallagher & Tu, 2016), softmax
pooling, and min pooling.

Mixed, gated and min pooling compose :mod:`pooling_course.functional` calls or reduce the
window view; :func:`pool2d_loop` is the loop reference of :func:`gated_pool2d` and
:func:`softmax_pool2d` (any reduction of each window, no padding). Chapter 6 teaches them.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from .. import functional as PF
from .._args import ntuple
from ..functional._core import pool_output_shape
from ._common import IntOrTuple, _check_temperature, _planes, _softmax, _windows

__all__ = ["mixed_pool2d", "mixed_pool2d_backward", "gated_pool2d", "min_pool2d",
           "softmax_pool2d", "pool2d_loop"]


def _check_alpha(alpha: float) -> float:
    if not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def mixed_pool2d(input: np.ndarray, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                 alpha: float = 0.5) -> np.ndarray:
    r"""Mixed max-average pooling (Lee, Gallagher & Tu, 2016):
    :math:`\alpha \max + (1 - \alpha)\,\mathrm{mean}` over each window.

    ``alpha=1`` is :func:`~pooling_course.functional.max_pool.max_pool2d`, ``alpha=0``
    :func:`~pooling_course.functional.avg_pool.avg_pool2d` (no padding).

    >>> mixed_pool2d(np.array([[[0.0, 4.0], [0.0, 0.0]]]), 2, alpha=0.25)
    array([[[1.75]]])
    """
    alpha = _check_alpha(alpha)
    _planes(input, "mixed_pool2d")
    return (alpha * PF.max_pool2d(input, kernel_size, stride)
            + (1 - alpha) * PF.avg_pool2d(input, kernel_size, stride)).astype(input.dtype)


def mixed_pool2d_backward(grad_output: np.ndarray, input: np.ndarray, kernel_size: IntOrTuple,
                          stride: IntOrTuple | None = None, alpha: float = 0.5) -> np.ndarray:
    """Gradient of :func:`mixed_pool2d`: ``alpha`` times max pooling's plus ``1 - alpha`` times
    average pooling's.

    >>> x = np.array([[[0.0, 4.0], [0.0, 0.0]]])
    >>> mixed_pool2d_backward(np.ones((1, 1, 1)), x, 2)
    array([[[0.125, 0.625],
            [0.125, 0.125]]])
    """
    alpha = _check_alpha(alpha)
    return (alpha * PF.max_pool2d_backward(grad_output, input, kernel_size, stride)
            + (1 - alpha) * PF.avg_pool2d_backward(grad_output, input, kernel_size, stride)
            ).astype(input.dtype)


def gated_pool2d(input: np.ndarray, gate: np.ndarray, kernel_size: IntOrTuple,
                 stride: IntOrTuple | None = None) -> np.ndarray:
    r"""Gated max-average pooling (Lee, Gallagher & Tu, 2016): each window's own blend.

    With the window's values :math:`x` (row-major) and the learned gating mask :math:`\omega`
    of the window's size, :math:`g = \sigma(\omega^\top x)` and the output is
    :math:`g \max(x) + (1 - g)\,\mathrm{mean}(x)`. One mask is shared by every channel and
    window (the paper's "one per layer" variant).

    Args:
        input: ``(N, C, H, W)`` or ``(C, H, W)``, float.
        gate: ``(kH, kW)`` gating mask.
        kernel_size, stride: as :func:`mixed_pool2d`.

    >>> x = np.array([[[0.0, 4.0], [0.0, 0.0]]])
    >>> gated_pool2d(x, np.zeros((2, 2)), 2)  # g = 1/2
    array([[[2.5]]])
    """
    planes = _planes(input, "gated_pool2d")
    view, k, _ = _windows(planes, kernel_size, stride)
    gate = np.asarray(gate, dtype=input.dtype)
    if gate.shape != k:
        raise ValueError(f"gate must have the window's shape {k}, got {gate.shape}")
    g = 1 / (1 + np.exp(-(view @ gate.ravel())))
    out = g * view.max(axis=-1) + (1 - g) * view.mean(axis=-1)
    return out.astype(input.dtype).reshape(*input.shape[:-2], *out.shape[1:])


def min_pool2d(input: np.ndarray, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0) -> np.ndarray:
    """Min pooling: ``-max_pool2d(-input)``, so padding never wins (it acts as ``+inf``).

    >>> min_pool2d(np.array([[[3.0, 1.0], [2.0, 5.0]]]), 2)
    array([[[1.]]])
    """
    _planes(input, "min_pool2d")
    return -PF.max_pool2d(-input, kernel_size, stride, padding)


def softmax_pool2d(input: np.ndarray, kernel_size: IntOrTuple,
                   stride: IntOrTuple | None = None, temperature: float = 1.0) -> np.ndarray:
    r"""Softmax pooling: each window's values weighted by their own softmax,
    :math:`\sum_i a_i\, e^{a_i / T} / \sum_j e^{a_j / T}`.

    ``T -> 0`` gives the window's maximum, ``T -> inf`` its mean (the weights become equal).

    >>> x = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    >>> softmax_pool2d(x, 2, temperature=1e6).round(4)
    array([[[1.5]]])
    >>> softmax_pool2d(x, 2, temperature=1e-3)
    array([[[3.]]])
    """
    temperature = _check_temperature(temperature)
    planes = _planes(input, "softmax_pool2d")
    view, _, _ = _windows(planes, kernel_size, stride)
    out = (_softmax(view / temperature) * view).sum(axis=-1)
    return out.astype(input.dtype).reshape(*input.shape[:-2], *out.shape[1:])


def pool2d_loop(input: np.ndarray, kernel_size: IntOrTuple, stride: IntOrTuple | None,
                reduce: Callable[[np.ndarray], float]) -> np.ndarray:
    """Any pooling with plain loops: ``reduce`` maps each window's values (a 1-d array in
    row-major order) to one number. The loop reference of :func:`gated_pool2d` and
    :func:`softmax_pool2d` (no padding).

    Shape: ``(N, C, H, W)`` or ``(C, H, W)`` in, ``(..., H_out, W_out)`` out.

    >>> pool2d_loop(np.arange(16.0).reshape(1, 4, 4), 2, 2, np.median)
    array([[[ 2.5,  4.5],
            [10.5, 12.5]]])
    """
    planes = _planes(input, "pool2d_loop")
    k = ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None else ntuple(stride, 2, "stride")
    out_h, out_w = pool_output_shape(planes.shape[-2:], k, s)
    out = np.empty((planes.shape[0], out_h, out_w), dtype=input.dtype)
    for c, plane in enumerate(planes):
        for i in range(out_h):
            for j in range(out_w):
                out[c, i, j] = reduce(plane[i * s[0]:i * s[0] + k[0],
                                            j * s[1]:j * s[1] + k[1]].ravel())
    return out.reshape(*input.shape[:-2], out_h, out_w)
