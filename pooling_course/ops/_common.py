"""What the 2d variants share: input checks, the window view without padding and its adjoint,
and the softmax.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .._args import ntuple
from ..functional._core import pool_output_shape

IntOrTuple = int | Sequence[int]


def _planes(input: np.ndarray, op: str, *, non_negative: bool = False) -> np.ndarray:
    if not isinstance(input, np.ndarray):
        raise TypeError(f"{op}: input must be a numpy.ndarray, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a float array, got dtype {input.dtype}")
    if input.ndim not in (3, 4) or 0 in input.shape[-3:]:
        raise ValueError(f"{op}: input must have shape (N, C, H, W) or (C, H, W) with non-zero "
                         f"C, H, W, got {input.shape}")
    if non_negative and not (input >= 0).all():
        raise ValueError(f"{op}: input must be non-negative and free of NaN (the window's "
                         f"values are its sampling weights); apply a ReLU first")
    return input.reshape(-1, *input.shape[-2:])


def _windows(planes: np.ndarray, kernel_size: IntOrTuple,
             stride: IntOrTuple | None) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """``(B, H_out, W_out, kH * kW)`` view of every window (no padding), with k and s."""
    k = ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None else ntuple(stride, 2, "stride")
    out_h, out_w = pool_output_shape(planes.shape[-2:], k, s)
    view = np.lib.stride_tricks.sliding_window_view(planes, k, axis=(1, 2))
    view = view[:, ::s[0], ::s[1]][:, :out_h, :out_w]
    return view.reshape(*view.shape[:3], k[0] * k[1]), k, s


def _scatter_windows(per_cell: np.ndarray, plane_shape: tuple[int, ...], k: tuple[int, int],
                     s: tuple[int, int]) -> np.ndarray:
    """Add ``per_cell`` ``(B, H_out, W_out, kH * kW)`` back onto the input cells it came
    from: the adjoint of :func:`_windows` (overlapping windows add up)."""
    batch, out_h, out_w, _ = per_cell.shape
    grad = np.zeros(plane_shape, dtype=per_cell.dtype)
    cells = per_cell.reshape(batch, out_h, out_w, k[0], k[1])
    for a in range(k[0]):
        for b in range(k[1]):
            grad[:, a:a + s[0] * (out_h - 1) + 1:s[0],
                 b:b + s[1] * (out_w - 1) + 1:s[1]] += cells[..., a, b]
    return grad


def _flat_position(choice: np.ndarray, width: int, k: tuple[int, int],
                   s: tuple[int, int]) -> np.ndarray:
    """Row-major position ``h * W + w`` in the plane of window element ``choice``."""
    _, out_h, out_w = choice.shape
    rows = np.arange(out_h)[:, None] * s[0] + choice // k[1]
    cols = np.arange(out_w)[None, :] * s[1] + choice % k[1]
    return (rows * width + cols).astype(np.int64)


def _check_temperature(temperature: float) -> float:
    if not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return float(temperature)


def _softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = scores - scores.max(axis=axis, keepdims=True)  # exp never overflows
    weights = np.exp(shifted)
    return weights / weights.sum(axis=axis, keepdims=True)
