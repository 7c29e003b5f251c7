"""Pooling a sequence or a set to one vector: max over time (Collobert et al., 2011; Kim, 2014)
and attention pooling (Ilse et al., 2018).

:func:`max_over_time` is the 1-d global max pooling of text CNNs, with padded positions masked
out; :func:`attention_pool` weights a set of vectors by a softmax of learned scores. Each has
its ``*_backward``. Chapter 6 teaches them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import functional as PF
from ._common import _check_temperature, _softmax

__all__ = ["attention_pool", "attention_pool_backward", "max_over_time",
           "max_over_time_backward"]


def _attention_args(x: np.ndarray, w: np.ndarray, temperature: float,
                    op: str) -> tuple[np.ndarray, np.ndarray, float]:
    if not isinstance(x, np.ndarray) or x.ndim < 2 or x.dtype.kind != "f":
        raise ValueError(f"{op}: x must be a float array of shape (..., n, d), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    w = np.asarray(w, dtype=x.dtype)
    if w.shape != x.shape[-1:]:
        raise ValueError(f"{op}: w must have shape (d,) = {x.shape[-1:]}, got {w.shape}")
    return x, w, _check_temperature(temperature)


def attention_pool(x: np.ndarray, w: np.ndarray,
                   temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Global attention pooling of a set of ``n`` vectors (Ilse et al., 2018).

    Scores :math:`s_i = x_i^\top w / T`, weights :math:`a = \mathrm{softmax}(s)` over the set,
    output :math:`\sum_i a_i x_i`. The weights do not depend on the order of the set, and
    ``T`` moves the output from the set's mean (``T -> inf``) to the vector with the highest
    score (``T -> 0``). Ilse et al. score ``tanh(V x_i)`` instead of ``x_i``; this is the
    simplest form.

    Args:
        x: ``(..., n, d)`` float: ``n`` vectors of ``d`` features (per leading index).
        w: ``(d,)`` learned scoring vector.
        temperature: ``T > 0``. Default: 1.

    Returns:
        ``(out, weights)``: ``(..., d)`` and ``(..., n)``.

    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> out, a = attention_pool(x, np.array([0.0, 0.0]))
    >>> out, a
    (array([0.5, 0.5]), array([0.5, 0.5]))
    """
    x, w, temperature = _attention_args(x, w, temperature, "attention_pool")
    weights = _softmax(x @ w / temperature)
    return (weights[..., None] * x).sum(axis=-2), weights


def attention_pool_backward(grad_output: np.ndarray, x: np.ndarray, w: np.ndarray,
                            temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Gradients of :func:`attention_pool`'s output with respect to ``x`` and ``w``.

    With :math:`g` the incoming gradient and :math:`c_i = g^\top x_i`, the scores receive
    :math:`\delta_i = a_i (c_i - \sum_j a_j c_j)` (the softmax's Jacobian), so

    .. math::

        \frac{\partial L}{\partial x_i} = a_i\, g + \frac{\delta_i}{T}\, w, \qquad
        \frac{\partial L}{\partial w} = \sum_i \frac{\delta_i}{T}\, x_i .

    ``grad_w`` is summed over any leading dimensions of ``x`` (``w`` is shared).

    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> gx, gw = attention_pool_backward(np.array([1.0, 0.0]), x,
    ...                                  np.zeros(2))
    >>> gx, gw
    (array([[0.5, 0. ],
           [0.5, 0. ]]), array([ 0.25, -0.25]))
    """
    x, w, temperature = _attention_args(x, w, temperature, "attention_pool_backward")
    g = np.asarray(grad_output, dtype=x.dtype)
    if g.shape != x.shape[:-2] + x.shape[-1:]:
        raise ValueError(f"attention_pool_backward: grad_output must have the output's shape "
                         f"{x.shape[:-2] + x.shape[-1:]}, got {g.shape}")
    a = _softmax(x @ w / temperature)
    c = (x * g[..., None, :]).sum(axis=-1)
    delta = a * (c - (a * c).sum(axis=-1, keepdims=True)) / temperature
    grad_x = a[..., None] * g[..., None, :] + delta[..., None] * w
    grad_w = (delta[..., None] * x).reshape(-1, x.shape[-1]).sum(axis=0)
    return grad_x, grad_w


def _time_args(input: np.ndarray, lengths: Sequence[int] | np.ndarray | None,
               op: str) -> np.ndarray:
    if not isinstance(input, np.ndarray) or input.ndim != 3 or 0 in input.shape:
        raise ValueError(f"{op}: input must be an (N, C, L) array with non-zero sizes, got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    if lengths is None:
        return np.full(input.shape[0], input.shape[-1])
    lengths = np.asarray(lengths)
    if lengths.shape != input.shape[:1] or lengths.dtype.kind not in "iu" or (
            (lengths < 1) | (lengths > input.shape[-1])).any():
        raise ValueError(f"{op}: lengths must be {input.shape[0]} ints in [1, "
                         f"{input.shape[-1]}], got {lengths!r}")
    return lengths


def max_over_time(input: np.ndarray, lengths: Sequence[int] | np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Max-over-time pooling: each feature's largest value along the sequence (Kim, 2014).

    Sequence ``n`` is real up to ``lengths[n]`` and padding after it; padding never wins.
    With every length equal to ``L`` this is
    ``torch.nn.functional.max_pool1d(input, L, return_indices=True)`` squeezed, and follows
    its rules (first of ties, NaN wins).

    Args:
        input: ``(N, C, L)`` float: ``C`` feature maps along ``L`` positions.
        lengths: ``N`` ints in ``[1, L]``. Default: every sequence has length ``L``.

    Returns:
        ``(values, positions)``, both ``(N, C)``; positions are int64 in ``[0, lengths[n])``.

    >>> max_over_time(np.array([[[1.0, 5.0, 9.0]]]), lengths=[2])
    (array([[5.]]), array([[1]]))
    """
    lengths = _time_args(input, lengths, "max_over_time")
    padding = np.arange(input.shape[-1]) >= lengths[:, None, None]
    masked = np.where(padding, -np.inf, input).astype(input.dtype)
    values, positions = PF.max_pool1d(masked, input.shape[-1], return_indices=True)
    return values[..., 0], positions[..., 0]


def max_over_time_backward(grad_output: np.ndarray, positions: np.ndarray,
                           length: int) -> np.ndarray:
    """Gradient of :func:`max_over_time`: each feature's gradient goes to the position that
    won; every other position of the ``(N, C, length)`` input gets 0.

    >>> max_over_time_backward(np.array([[2.0]]), np.array([[1]]), 3)
    array([[[0., 2., 0.]]])
    """
    grad_output, positions = np.asarray(grad_output), np.asarray(positions)
    if grad_output.ndim != 2 or positions.shape != grad_output.shape:
        raise ValueError(f"grad_output and positions must both be (N, C), got "
                         f"{grad_output.shape} and {positions.shape}")
    grad = np.zeros((*grad_output.shape, length), dtype=grad_output.dtype)
    np.put_along_axis(grad, positions[..., None], grad_output[..., None], axis=-1)
    return grad
