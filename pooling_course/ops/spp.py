"""Pooling a whole map: global pooling and spatial pyramid pooling (He et al., 2014).

Both are adaptive pooling (:mod:`pooling_course.functional`) with fixed output sizes: global
pooling is one ``1 x 1`` bin per channel (the head of Network in Network, ResNet and most
classifiers since); a spatial pyramid concatenates several levels of ``l x l`` bins, so that
a map of any size gives a vector of one length. Bins are torch's adaptive windows
(:func:`adaptive_windows`). Chapter 5 teaches them; :func:`spatial_pyramid_pool_loop` is the
loop reference and :func:`spatial_pyramid_pool_backward` the gradient.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .. import functional as PF
from .._args import check_positive, ntuple

__all__ = ["global_avg_pool2d", "global_max_pool2d", "adaptive_windows", "spatial_pyramid_pool",
           "spatial_pyramid_pool_loop", "spatial_pyramid_pool_backward"]


def global_avg_pool2d(input: np.ndarray) -> np.ndarray:
    """Mean of each channel's whole map: ``(N, C, H, W)`` -> ``(N, C)``.

    Equal to ``torch.nn.functional.adaptive_avg_pool2d(input, 1).flatten(1)`` (the head of
    Network in Network, ResNet and most classifiers since).

    >>> global_avg_pool2d(np.arange(8.0).reshape(1, 2, 2, 2))
    array([[1.5, 5.5]])
    """
    out = PF.adaptive_avg_pool2d(input, 1)
    return out.reshape(out.shape[:-2])


def global_max_pool2d(input: np.ndarray) -> np.ndarray:
    """Largest value of each channel's whole map: ``(N, C, H, W)`` -> ``(N, C)``.

    >>> global_max_pool2d(np.arange(8.0).reshape(1, 2, 2, 2))
    array([[3., 7.]])
    """
    out = PF.adaptive_max_pool2d(input, 1)
    return out.reshape(out.shape[:-2])


def adaptive_windows(length: int, output_size: int) -> list[tuple[int, int]]:
    """torch's adaptive windows along one axis: ``[floor(i L / O), ceil((i + 1) L / O))``.

    >>> adaptive_windows(7, 3)
    [(0, 3), (2, 5), (4, 7)]
    """
    if length < 1 or output_size < 1:
        raise ValueError(f"length and output_size must be positive, got {length}, "
                         f"{output_size}")
    return [(i * length // output_size, -(-(i + 1) * length // output_size))
            for i in range(output_size)]


def _levels(levels: Sequence[int], op: str) -> tuple[int, ...]:
    if isinstance(levels, numbers.Integral) or not isinstance(levels, Sequence) or not levels:
        raise TypeError(f"{op}: levels must be a non-empty sequence of ints, got {levels!r}")
    out = ntuple(levels, len(levels), f"{op}: levels")
    check_positive(out, f"{op}: levels")
    return out


def _check_mode(mode: str, op: str) -> None:
    if mode not in ("max", "avg"):
        raise ValueError(f"{op}: mode must be 'max' or 'avg', got {mode!r}")


def spatial_pyramid_pool(input: np.ndarray, levels: Sequence[int] = (1, 2, 4),
                         mode: str = "max") -> np.ndarray:
    """Spatial pyramid pooling (He et al., 2014): a fixed-length vector from any map size.

    Each level ``l`` pools every channel into ``l x l`` adaptive bins (torch's windows,
    :func:`adaptive_windows`); the levels are flattened channel by channel and concatenated
    in order.

    Args:
        input: ``(N, C, H, W)`` float array.
        levels: bins per side of each pyramid level. Default: ``(1, 2, 4)``.
        mode: ``"max"`` (the paper's) or ``"avg"``.

    Shape: ``(N, C * sum(l * l for l in levels))``, whatever ``H`` and ``W`` are.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> spatial_pyramid_pool(x, levels=(1, 2)).tolist()
    [[15.0, 5.0, 7.0, 13.0, 15.0]]
    """
    op = "spatial_pyramid_pool"
    levels = _levels(levels, op)
    _check_mode(mode, op)
    if not isinstance(input, np.ndarray) or input.ndim != 4:
        raise ValueError(f"{op}: input must be a (N, C, H, W) numpy array")
    pool = PF.adaptive_max_pool2d if mode == "max" else PF.adaptive_avg_pool2d
    return np.concatenate([pool(input, level).reshape(len(input), -1) for level in levels],
                          axis=1)


def spatial_pyramid_pool_loop(input: np.ndarray, levels: Sequence[int] = (1, 2, 4),
                              mode: str = "max") -> np.ndarray:
    """Loop reference of :func:`spatial_pyramid_pool`: every bin of every level, one by one.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> spatial_pyramid_pool_loop(x, levels=(1, 2)).tolist()
    [[15.0, 5.0, 7.0, 13.0, 15.0]]
    """
    levels = _levels(levels, "spatial_pyramid_pool_loop")
    _check_mode(mode, "spatial_pyramid_pool_loop")
    n, c, h, w = input.shape
    out = []
    for b in range(n):
        row = []
        for level in levels:
            for ch in range(c):
                for r0, r1 in adaptive_windows(h, level):
                    for c0, c1 in adaptive_windows(w, level):
                        cells = input[b, ch, r0:r1, c0:c1]
                        if mode == "max":
                            row.append(np.max(cells) if not np.isnan(cells).any() else np.nan)
                        else:
                            row.append(cells.sum() / (r1 - r0) / (c1 - c0))
        out.append(row)
    return np.array(out, dtype=input.dtype)


def spatial_pyramid_pool_backward(grad_output: np.ndarray, input: np.ndarray,
                                  levels: Sequence[int] = (1, 2, 4),
                                  mode: str = "max") -> np.ndarray:
    """Gradient of :func:`spatial_pyramid_pool`: each level's adaptive-pool gradient, summed.

    >>> x = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> spatial_pyramid_pool_backward(np.ones((1, 5)), x, levels=(1, 2))
    array([[[[1., 1.],
             [1., 2.]]]])
    """
    levels = _levels(levels, "spatial_pyramid_pool_backward")
    _check_mode(mode, "spatial_pyramid_pool_backward")
    n, c = input.shape[:2]
    expected = (n, c * sum(level * level for level in levels))
    if not isinstance(grad_output, np.ndarray) or grad_output.shape != expected:
        raise ValueError(f"spatial_pyramid_pool_backward: grad_output must have shape "
                         f"{expected}, got {getattr(grad_output, 'shape', grad_output)}")
    backward = (PF.adaptive_max_pool2d_backward if mode == "max"
                else PF.adaptive_avg_pool2d_backward)
    grad_input = np.zeros_like(input)
    start = 0
    for level in levels:
        size = c * level * level
        part = grad_output[:, start:start + size].reshape(n, c, level, level)
        grad_input += backward(np.ascontiguousarray(part), input, level)
        start += size
    return grad_input
