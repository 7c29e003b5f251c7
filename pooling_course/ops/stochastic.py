r"""Stochastic pooling (Zeiler & Fergus, 2013).

Training samples one element per window with probability proportional to it; test time takes
the probability-weighted average. Chapter 6 teaches it; :func:`stochastic_pool2d_loop` is the
loop reference and :func:`stochastic_pool2d_backward` the gradient.
"""

from __future__ import annotations

import numpy as np

from .._args import ntuple
from ..functional._core import pool_output_shape
from ._common import IntOrTuple, _flat_position, _planes, _scatter_windows, _windows

__all__ = ["stochastic_pool2d", "stochastic_pool2d_loop", "stochastic_pool2d_backward"]


def stochastic_pool2d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    training: bool = True,
    generator: np.random.Generator | None = None,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    r"""2d stochastic pooling (Zeiler & Fergus, 2013).

    In a window with non-negative values :math:`a_1, \dots, a_n` and sum :math:`S`, element
    :math:`i` has probability :math:`p_i = a_i / S`.

    * ``training=True``: one element is drawn per window with probabilities :math:`p_i`.
      The draw is inverse-CDF sampling: ``u = generator.random((N * C, H_out, W_out))`` is
      drawn once, and each window picks the first element, in row-major order, whose
      cumulative sum exceeds ``u * S``. The same generator state gives the same picks.
    * ``training=False``: the expected value, :math:`\sum_i p_i a_i = \sum_i a_i^2 / S`.

    A window of zeros gives 0 (and, in training, its first element).

    Args:
        input: ``(N, C, H, W)`` or ``(C, H, W)``, float, non-negative (after a ReLU).
        kernel_size: an int or ``(kH, kW)``.
        stride: an int or ``(sH, sW)``. Default: ``kernel_size``. No padding.
        training: sample (True) or take the expectation (False).
        generator: NumPy generator for the draws. Default: a fresh, unseeded one.
        return_indices: also return the int64 position ``h * W + w`` of each picked element
            (training only).

    Shape: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, sizes from
    :func:`~pooling_course.functional.pool_output_shape` with ``padding=0``.

    >>> x = np.array([[[1.0, 3.0], [0.0, 0.0]]])
    >>> stochastic_pool2d(x, 2, training=False)  # (1 + 9) / 4
    array([[[2.5]]])
    >>> rng = np.random.default_rng(0)
    >>> stochastic_pool2d(x, 2, generator=rng, return_indices=True)
    (array([[[3.]]]), array([[[1]]]))
    """
    planes = _planes(input, "stochastic_pool2d", non_negative=True)
    view, k, s = _windows(planes, kernel_size, stride)
    lead = input.shape[:-2]
    if not training:
        if return_indices:
            raise ValueError("stochastic_pool2d: return_indices needs training=True (test "
                             "time picks no element)")
        total = view.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(total > 0, (view * view).sum(axis=-1) / total, 0)
        return out.astype(input.dtype).reshape(*lead, *out.shape[1:])
    generator = np.random.default_rng() if generator is None else generator
    u = generator.random(view.shape[:3]).astype(input.dtype)
    cumulative = np.cumsum(view, axis=-1)
    total = cumulative[..., -1]
    hit = cumulative > (u * total)[..., None]
    # u * S can round up to S itself: then the last positive element is the one drawn.
    last_positive = view.shape[-1] - 1 - np.argmax(view[..., ::-1] > 0, axis=-1)
    choice = np.where(hit.any(axis=-1), hit.argmax(axis=-1),
                      np.where(total > 0, last_positive, 0))
    out = np.take_along_axis(view, choice[..., None], axis=-1)[..., 0]
    out = out.reshape(*lead, *out.shape[1:])
    if not return_indices:
        return out
    index = _flat_position(choice, planes.shape[-1], k, s)
    return out, index.reshape(*lead, *index.shape[1:])


def stochastic_pool2d_loop(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    training: bool = True,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    """:func:`stochastic_pool2d` with plain loops: the reference the kernel is tested against.

    >>> x = np.array([[[1.0, 3.0], [0.0, 0.0]]])
    >>> stochastic_pool2d_loop(x, 2, training=False)
    array([[[2.5]]])
    """
    planes = _planes(input, "stochastic_pool2d_loop", non_negative=True)
    k = ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None else ntuple(stride, 2, "stride")
    out_h, out_w = pool_output_shape(planes.shape[-2:], k, s)
    if training:
        generator = np.random.default_rng() if generator is None else generator
        u = generator.random((planes.shape[0], out_h, out_w)).astype(input.dtype)
    out = np.zeros((planes.shape[0], out_h, out_w), dtype=input.dtype)
    for c, plane in enumerate(planes):
        for i in range(out_h):
            for j in range(out_w):
                window = plane[i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].ravel()
                total = np.cumsum(window)[-1]
                if total == 0:
                    continue  # a window of zeros pools to 0
                if not training:
                    out[c, i, j] = (window * window).sum() / total
                    continue
                running, threshold = window.dtype.type(0), u[c, i, j] * total
                picked = window[window > 0][-1]
                for value in window:
                    running += value
                    if running > threshold:
                        picked = value
                        break
                out[c, i, j] = picked
    return out.reshape(*input.shape[:-2], out_h, out_w)


def stochastic_pool2d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    training: bool = True,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    r"""Gradient of :func:`stochastic_pool2d` with respect to ``input``.

    Training: the picked element passes the gradient on, as in max pooling; pass the
    ``indices`` the forward pass returned. Test time: the output
    :math:`y = \sum_i a_i^2 / S` has :math:`\partial y / \partial a_j = (2 a_j - y) / S`
    (0 for a window of zeros). Overlapping windows add up.

    >>> x = np.array([[[1.0, 3.0], [0.0, 0.0]]])
    >>> stochastic_pool2d_backward(np.ones((1, 1, 1)), x, 2, training=False)
    array([[[-0.125,  0.875],
            [-0.625, -0.625]]])
    """
    op = "stochastic_pool2d_backward"
    planes = _planes(input, op, non_negative=True)
    view, k, s = _windows(planes, kernel_size, stride)
    expected = (*input.shape[:-2], *view.shape[1:3])
    if not isinstance(grad_output, np.ndarray) or grad_output.shape != expected:
        raise ValueError(f"{op}: grad_output must be an array of the output's shape {expected}, "
                         f"got {getattr(grad_output, 'shape', type(grad_output).__name__)}")
    g = grad_output.reshape(-1, *view.shape[1:3]).astype(input.dtype)
    if training:
        if not isinstance(indices, np.ndarray) or indices.shape != expected:
            raise ValueError(f"{op}: training=True needs the forward pass's indices, an array "
                             f"of shape {expected}")
        grad = np.zeros_like(planes)
        flat = grad.reshape(planes.shape[0], -1)
        rows = np.arange(planes.shape[0])[:, None]
        np.add.at(flat, (rows, indices.reshape(planes.shape[0], -1)), g.reshape(len(g), -1))
        return grad.reshape(input.shape)
    total = view.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = (view * view).sum(axis=-1) / total
        local = np.where(total[..., None] > 0, (2 * view - y[..., None]) / total[..., None], 0)
    grad = _scatter_windows(local * g[..., None], planes.shape, k, s)
    return grad.astype(input.dtype).reshape(input.shape)
