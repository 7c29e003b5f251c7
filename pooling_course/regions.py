"""Pooling whole maps and regions: global pooling, spatial pyramid pooling, RoI Pool, RoIAlign.

Chapter 5's module. Global and pyramid pooling are adaptive pooling
(:mod:`pooling_course.functional`) with fixed output sizes. RoI pooling and RoIAlign follow
the CPU kernels of ``torchvision.ops`` (``roi_pool_kernel.cpp``, ``roi_align_kernel.cpp``
and ``roi_align_common.h``) rule for rule and, for float32 inputs, operation for operation in
float32, so they give torchvision's bits:

RoI pool (Fast R-CNN):

* box corners are scaled by ``spatial_scale`` (in the input's dtype) and rounded **half
  away from zero** (C's ``round``: 2.5 -> 3, where Python's ``round`` gives 2); the box is
  ``x2 - x1 + 1`` cells wide (both corners inclusive), at least 1;
* the bins are cut from that **unclipped** box: bin ``i`` covers
  ``[floor(i * h / out_h), ceil((i + 1) * h / out_h))`` rows after the box's first row, and
  only then is it clipped to the map; a bin wholly outside the map outputs 0;
* the max starts at ``-FLT_MAX`` and takes a cell only if it is strictly larger: ties go to
  the first cell in row-major order, NaN never wins, and a bin of NaN (or of values below
  ``-FLT_MAX``) outputs ``-FLT_MAX`` and passes no gradient.

RoIAlign (Mask R-CNN):

* no rounding: corners are scaled, minus 0.5 when ``aligned=True``; with ``aligned=False`` a
  box narrower than 1 is widened to 1;
* each bin averages a ``grid_h x grid_w`` grid of bilinear samples at the centres of equal
  sub-cells; ``sampling_ratio <= 0`` picks ``ceil(roi_h / out_h)`` per axis (so a box may
  have bins with no samples, which output 0);
* a sample with ``y < -1`` or ``y > H`` (likewise ``x``) contributes 0 but still counts in
  the average's divisor; one in ``[-1, 0]`` is moved to 0 and one in ``[H - 1, H]`` to
  ``H - 1``, so samples just outside the map take the border's value at full weight.

Boxes are a ``(K, 5)`` array of ``(batch_index, x1, y1, x2, y2)`` or a list with one
``(L, 4)`` array of ``(x1, y1, x2, y2)`` per image, as torchvision takes them; they are cast
to the input's dtype (torchvision requires the two to match). Every op has a ``*_loop``
reference, a transliteration of the C++ loops, and a ``*_backward``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import functional as PF
from ._args import check_positive, ntuple

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .widgets import Comparison

FLT_MAX = float(np.finfo(np.float32).max)
_DTYPES = (np.float32, np.float64)
Boxes = np.ndarray | Sequence[np.ndarray]


# --- arguments --------------------------------------------------------------------------------

def _check_input(input: np.ndarray, op: str) -> np.ndarray:
    if not isinstance(input, np.ndarray):
        raise TypeError(f"{op}: input must be a numpy.ndarray, got {type(input).__name__}")
    if input.ndim != 4:
        raise ValueError(f"{op}: input must have shape (N, C, H, W), got shape {input.shape}")
    if input.dtype.type not in _DTYPES:
        raise TypeError(f"{op}: input dtype must be float32 or float64 (as torchvision's CPU "
                        f"kernel), got {input.dtype}")
    return input


def as_rois(boxes: Boxes, dtype: np.dtype | type = np.float64, batch: int | None = None,
            op: str = "boxes") -> np.ndarray:
    """Boxes in torchvision's ``(K, 5)`` form ``(batch_index, x1, y1, x2, y2)``.

    Args:
        boxes: a ``(K, 5)`` array, or a list of ``(L_i, 4)`` arrays, the ``i``-th holding
            image ``i``'s boxes (torchvision's ``convert_boxes_to_roi_format``).
        dtype: the dtype of the result (the input's: torchvision requires them equal).
        batch: the batch size ``N``; batch indices (truncated toward zero, as C's
            ``(int)``) must lie in ``[0, N)``.

    >>> as_rois([np.array([[0.0, 1, 2, 3]]), np.array([[4.0, 5, 6, 7]])])
    array([[0., 0., 1., 2., 3.],
           [1., 4., 5., 6., 7.]])
    """
    if isinstance(boxes, np.ndarray):
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"{op}: a boxes array must have shape (K, 5), got {boxes.shape}")
        rois = boxes
    elif isinstance(boxes, Sequence) and not isinstance(boxes, str):
        parts = []
        for i, b in enumerate(boxes):
            b = np.asarray(b)
            if b.ndim != 2 or b.shape[1] != 4:
                raise ValueError(f"{op}: each array in a boxes list must have shape (L, 4), "
                                 f"got {b.shape} at position {i}")
            parts.append(np.concatenate([np.full((len(b), 1), i), b], axis=1))
        rois = np.concatenate(parts) if parts else np.zeros((0, 5))
    else:
        raise TypeError(f"{op}: boxes must be a (K, 5) numpy array or a list of (L, 4) arrays, "
                        f"got {type(boxes).__name__}")
    if not np.issubdtype(rois.dtype, np.number) or np.issubdtype(rois.dtype, np.complexfloating):
        raise TypeError(f"{op}: boxes must hold real numbers, got dtype {rois.dtype}")
    rois = rois.astype(dtype)
    if batch is not None and len(rois):
        index = np.trunc(rois[:, 0])
        if not (np.all(np.isfinite(index)) and np.all((index >= 0) & (index < batch))):
            raise ValueError(f"{op}: batch indices must lie in [0, {batch}), got "
                             f"{rois[:, 0].tolist()}")
    return rois


def _output_size(output_size: int | Sequence[int], op: str) -> tuple[int, int]:
    size = ntuple(output_size, 2, f"{op}: output_size")
    check_positive(size, f"{op}: output_size")
    return size


def _check_scale(spatial_scale: float, op: str) -> float:
    if isinstance(spatial_scale, bool) or not isinstance(spatial_scale, numbers.Real):
        raise TypeError(f"{op}: spatial_scale must be a real number, got {spatial_scale!r}")
    return float(spatial_scale)


def _check_sampling(sampling_ratio: int, aligned: bool, op: str) -> None:
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, numbers.Integral):
        raise TypeError(f"{op}: sampling_ratio must be an int, got {sampling_ratio!r}")
    if not isinstance(aligned, bool | np.bool_):
        raise TypeError(f"{op}: aligned must be a bool, got {aligned!r}")


# --- global pooling ---------------------------------------------------------------------------

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


def linear_parameters(in_features: int, out_features: int, bias: bool = True) -> int:
    """Weights (and biases) of a fully connected layer: ``in * out (+ out)``.

    >>> linear_parameters(512 * 7 * 7, 4096)
    102764544
    """
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    return in_features * out_features + (out_features if bias else 0)


# --- adaptive windows and spatial pyramid pooling ---------------------------------------------

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


def spp_paper_windows(length: int, level: int) -> list[tuple[int, int]]:
    """The SPP paper's bins along one axis: window ``ceil(a / n)``, stride ``floor(a / n)``.

    He et al. (2014) pool an ``a x a`` map into ``n x n`` bins with a sliding-window pool of
    that size and stride. The number of windows is ``floor((a - win) / stride) + 1``, which
    is ``n`` only for some ``(a, n)``: this returns what the formula gives, not ``n`` bins.
    A stride of 0 (``a < n``) raises ``ValueError``.

    >>> spp_paper_windows(13, 3)
    [(0, 5), (4, 9), (8, 13)]
    >>> spp_paper_windows(7, 4)   # six windows, not four
    [(0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7)]
    """
    if length < 1 or level < 1:
        raise ValueError(f"length and level must be positive, got {length}, {level}")
    window, stride = -(-length // level), length // level
    if stride == 0:
        raise ValueError(f"the paper's stride floor({length}/{level}) is 0: no pyramid level "
                         f"{level} on a map of {length}")
    count = (length - window) // stride + 1
    return [(i * stride, i * stride + window) for i in range(count)]


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

    >>> spatial_pyramid_pool(np.arange(16.0).reshape(1, 1, 4, 4), levels=(1, 2)).tolist()
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

    >>> spatial_pyramid_pool_loop(np.arange(16.0).reshape(1, 1, 4, 4), levels=(1, 2)).tolist()
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

    >>> spatial_pyramid_pool_backward(np.ones((1, 5)), np.arange(4.0).reshape(1, 1, 2, 2),
    ...                               levels=(1, 2))
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


# --- RoI pooling ------------------------------------------------------------------------------

def round_half_away(value: float) -> int:
    """C's ``round``: halves go away from zero (``2.5 -> 3``, ``-2.5 -> -3``).

    Python's ``round`` and ``np.round`` send halves to the even neighbour instead.

    >>> round_half_away(2.5), round(2.5)
    (3, 2)
    """
    # floor(|v| + 0.5) would round 0.49999999999999994 up: the sum rounds to 1.0.
    whole = math.floor(abs(value))
    return int(math.copysign(whole + (abs(value) - whole >= 0.5), value))


def _round_half_away(values: np.ndarray) -> np.ndarray:
    # As round_half_away: decide on the fractional part, which is exact.
    a = np.abs(values)
    fl = np.floor(a)
    return np.sign(values) * (fl + (a - fl >= 0.5))


def roi_pool_bins(box: Sequence[float], output_size: int | Sequence[int],
                  spatial_scale: float = 1.0, height: int | None = None,
                  width: int | None = None, dtype: type = np.float32
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cells of each RoI-pool bin of one box ``(x1, y1, x2, y2)``, as the kernel cuts them.

    Returns ``hstart, hend, wstart, wend`` (int arrays of ``out_h`` and ``out_w`` entries);
    bin ``(i, j)`` covers rows ``hstart[i]:hend[i]`` and columns ``wstart[j]:wend[j]``. With
    ``height``/``width`` they are clipped to the map, as the kernel does after cutting.
    Arithmetic is in ``dtype`` (the input's), as the kernel's.

    >>> [b.tolist() for b in roi_pool_bins((0, 0, 4, 4), 2)]
    [[0, 2], [3, 5], [0, 2], [3, 5]]
    """
    out_h, out_w = _output_size(output_size, "roi_pool_bins")
    t = np.dtype(dtype).type
    scale = t(spatial_scale)
    x1, y1, x2, y2 = (int(_round_half_away(np.asarray(t(v) * scale))) for v in box)
    roi_h, roi_w = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
    result = []
    for start, size, out, limit in ((y1, roi_h, out_h, height), (x1, roi_w, out_w, width)):
        bin_size = t(size) / t(out)
        i = np.arange(out + 1).astype(t)
        lo = np.floor(i[:-1] * bin_size).astype(np.int64) + start
        hi = np.ceil(i[1:] * bin_size).astype(np.int64) + start
        if limit is not None:
            lo, hi = np.clip(lo, 0, limit), np.clip(hi, 0, limit)
        result += [lo, hi]
    return result[0], result[1], result[2], result[3]


def _roi_pool_forward(input: np.ndarray, rois: np.ndarray, size: tuple[int, int],
                      spatial_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised over channels: the values and argmax (-1 for none) of every bin."""
    n, c, h, w = input.shape
    out = np.zeros((len(rois), c, *size), dtype=input.dtype)
    argmax = np.full(out.shape, -1, dtype=np.int64)
    floor = input.dtype.type(-FLT_MAX)
    for k, roi in enumerate(rois):
        plane = input[int(roi[0])]
        hs, he, ws, we = roi_pool_bins(roi[1:], size, spatial_scale, h, w, input.dtype.type)
        for i in range(size[0]):
            for j in range(size[1]):
                if he[i] <= hs[i] or we[j] <= ws[j]:
                    continue  # empty bin: 0, no gradient
                cells = plane[:, hs[i]:he[i], ws[j]:we[j]].reshape(c, -1)
                # Only a value > -FLT_MAX can replace the start value; NaN never can.
                usable = np.where(cells > floor, cells, -np.inf)
                best = np.argmax(usable, axis=1)
                found = usable[np.arange(c), best] > -np.inf
                rows, cols = np.divmod(best, we[j] - ws[j])
                index = (rows + hs[i]) * w + cols + ws[j]
                out[k, :, i, j] = np.where(found, cells[np.arange(c), best], floor)
                argmax[k, :, i, j] = np.where(found, index, -1)
    return out, argmax


def roi_pool(input: np.ndarray, boxes: Boxes, output_size: int | Sequence[int],
             spatial_scale: float = 1.0) -> np.ndarray:
    """RoI max pooling (Girshick, 2015), equal to ``torchvision.ops.roi_pool`` on CPU.

    Args:
        input: ``(N, C, H, W)``, float32 or float64.
        boxes: ``(K, 5)`` array of ``(batch_index, x1, y1, x2, y2)``, or a list of ``(L, 4)``
            arrays, one per image; cast to ``input``'s dtype.
        output_size: ``out_h`` and ``out_w``, an int or a pair.
        spatial_scale: multiplies the box coordinates (``1/16`` for a stride-16 feature map).
            Default: 1.0.

    Shape: ``(K, C, out_h, out_w)``. The rules (rounding half away from zero, bins cut from the
    unclipped box, empty bins 0, ``-FLT_MAX`` for a bin without a usable value) are in the
    module docstring.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> roi_pool(x, np.array([[0, 0, 0, 3, 3]]), 2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    _check_input(input, "roi_pool")
    size = _output_size(output_size, "roi_pool")
    scale = _check_scale(spatial_scale, "roi_pool")
    rois = as_rois(boxes, input.dtype, len(input), "roi_pool")
    return _roi_pool_forward(input, rois, size, scale)[0]


def roi_pool_loop(input: np.ndarray, boxes: Boxes, output_size: int | Sequence[int],
                  spatial_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Loop reference of :func:`roi_pool`, line by line the C++ kernel; returns the output and
    the argmax (flat ``h * W + w``, -1 where no cell was taken).

    >>> roi_pool_loop(np.arange(16.0).reshape(1, 1, 4, 4), np.array([[0, 1, 1, 2, 2]]), 1)[0]
    array([[[[10.]]]])
    """
    _check_input(input, "roi_pool_loop")
    pooled_h, pooled_w = _output_size(output_size, "roi_pool_loop")
    rois = as_rois(boxes, input.dtype, len(input), "roi_pool_loop")
    t = input.dtype.type
    scale = t(spatial_scale)
    _, channels, height, width = input.shape
    out = np.zeros((len(rois), channels, pooled_h, pooled_w), dtype=t)
    argmax = np.full(out.shape, -1, dtype=np.int64)
    for n, roi in enumerate(rois):
        batch = int(roi[0])
        start_w, start_h, end_w, end_h = (round_half_away(float(v * scale)) for v in roi[1:])
        roi_w = max(end_w - start_w + 1, 1)  # malformed boxes become 1x1
        roi_h = max(end_h - start_h + 1, 1)
        bin_h, bin_w = t(roi_h) / t(pooled_h), t(roi_w) / t(pooled_w)
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                hstart = int(np.floor(t(ph) * bin_h)) + start_h
                hend = int(np.ceil(t(ph + 1) * bin_h)) + start_h
                wstart = int(np.floor(t(pw) * bin_w)) + start_w
                wend = int(np.ceil(t(pw + 1) * bin_w)) + start_w
                hstart, hend = min(max(hstart, 0), height), min(max(hend, 0), height)
                wstart, wend = min(max(wstart, 0), width), min(max(wend, 0), width)
                empty = hend <= hstart or wend <= wstart
                for c in range(channels):
                    best, best_at = (t(0) if empty else t(-FLT_MAX)), -1
                    for hh in range(hstart, hend):
                        for ww in range(wstart, wend):
                            if input[batch, c, hh, ww] > best:
                                best, best_at = input[batch, c, hh, ww], hh * width + ww
                    out[n, c, ph, pw], argmax[n, c, ph, pw] = best, best_at
    return out, argmax


def roi_pool_backward(grad_output: np.ndarray, input: np.ndarray, boxes: Boxes,
                      output_size: int | Sequence[int], spatial_scale: float = 1.0
                      ) -> np.ndarray:
    """Gradient of :func:`roi_pool`: each bin's gradient goes to its argmax cell, added up in
    torchvision's order (box, channel, row, column).

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> roi_pool_backward(np.ones((1, 1, 1, 1)), x, np.array([[0, 0, 0, 1, 1]]), 1)[0, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 0., 0.],
           [0., 0., 0., 0.],
           [0., 0., 0., 0.]])
    """
    _check_input(input, "roi_pool_backward")
    size = _output_size(output_size, "roi_pool_backward")
    rois = as_rois(boxes, input.dtype, len(input), "roi_pool_backward")
    _, argmax = _roi_pool_forward(input, rois, size, _check_scale(spatial_scale, "roi_pool"))
    grad = _check_grad(grad_output, argmax.shape, "roi_pool_backward").astype(input.dtype)
    n, c, h, w = input.shape
    grad_input = np.zeros(input.shape, dtype=input.dtype)
    plane = (rois[:, 0].astype(np.int64)[:, None] * c + np.arange(c)).reshape(len(rois), c, 1, 1)
    taken = argmax >= 0
    flat = (np.broadcast_to(plane, argmax.shape) * h * w + argmax)[taken]
    np.add.at(grad_input.reshape(-1), flat, grad[taken])
    return grad_input


def _check_grad(grad_output: np.ndarray, shape: tuple[int, ...], op: str) -> np.ndarray:
    """``grad_output`` checked: a numpy array of the output's shape."""
    if not isinstance(grad_output, np.ndarray):
        raise TypeError(f"{op}: grad_output must be a numpy.ndarray, got "
                        f"{type(grad_output).__name__}")
    if grad_output.shape != tuple(shape):
        raise ValueError(f"{op}: grad_output must have the output's shape {tuple(shape)}, got "
                         f"{grad_output.shape}")
    return grad_output


# --- RoIAlign ---------------------------------------------------------------------------------

def bilinear_weights(y: float, x: float, height: int, width: int
                     ) -> tuple[list[tuple[int, int]], list[float]] | None:
    """The four cells and weights RoIAlign's kernel reads for a sample at ``(y, x)``.

    ``None`` when the sample is ignored (``y < -1``, ``y > height``, likewise ``x``, or NaN).
    A coordinate in ``[-1, 0]`` is moved to 0 and one at or past the last cell to it, so such
    samples read the border at full weight. Python floats (float64) throughout.

    >>> bilinear_weights(0.25, -0.5, 3, 3)
    ([(0, 0), (0, 1), (1, 0), (1, 1)], [0.75, 0.0, 0.25, 0.0])
    """
    if not (-1.0 <= y <= height and -1.0 <= x <= width):
        return None
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    cells = [(y_low, x_low), (y_low, x_high), (y_high, x_low), (y_high, x_high)]
    return cells, [hy * hx, hy * lx, ly * hx, ly * lx]


def _align_geometry(roi: np.ndarray, size: tuple[int, int], t: type, spatial_scale: float,
                    sampling_ratio: int, aligned: bool) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Sample coordinates ``ys (out_h, grid_h)`` and ``xs (out_w, grid_w)`` of one box, in the
    kernel's dtype and order of operations, and the grid sizes."""
    scale, offset = t(spatial_scale), t(0.5 if aligned else 0.0)
    start_w, start_h, end_w, end_h = (t(v) * scale - offset for v in roi[1:])
    roi_w, roi_h = end_w - start_w, end_h - start_h
    if not aligned:  # widen malformed boxes to 1
        roi_w, roi_h = max(roi_w, t(1)), max(roi_h, t(1))
    coords, grids = [], []
    for start, extent, pooled in ((start_h, roi_h, size[0]), (start_w, roi_w, size[1])):
        bin_size = t(extent) / t(pooled)
        grid = sampling_ratio if sampling_ratio > 0 else int(np.ceil(extent / t(pooled)))
        grid = max(grid, 0)
        p = np.arange(pooled).astype(t)[:, None]
        i = (np.arange(grid) + 0.5).astype(t)[None, :]
        coords.append((start + p * bin_size) + i * bin_size / t(max(grid, 1)))
        grids.append(grid)
    return coords[0], coords[1], grids[0], grids[1]


def _align_corners(y: np.ndarray, x: np.ndarray, height: int, width: int, t: type):
    """The kernel's ``pre_calc``: cells ``(y_low, y_high, x_low, x_high)``, weights ``w1..w4``
    and a mask of used samples, for broadcastable sample coordinates ``y`` and ``x``."""
    used = (y >= -1.0) & (y <= height) & (x >= -1.0) & (x <= width)
    y, x = np.where(y <= 0, t(0), y), np.where(x <= 0, t(0), x)
    y_low = np.where(used, y, 0).astype(np.int64)
    x_low = np.where(used, x, 0).astype(np.int64)
    top, right = y_low >= height - 1, x_low >= width - 1
    y_low, x_low = np.where(top, height - 1, y_low), np.where(right, width - 1, x_low)
    y_high, x_high = np.where(top, y_low, y_low + 1), np.where(right, x_low, x_low + 1)
    y, x = np.where(top, y_low.astype(t), y), np.where(right, x_low.astype(t), x)
    ly, lx = (y - y_low.astype(t)).astype(t), (x - x_low.astype(t)).astype(t)
    # `T hy = 1. - ly` is computed in double and stored in T.
    hy, hx = (1.0 - ly.astype(np.float64)).astype(t), (1.0 - lx.astype(np.float64)).astype(t)
    w = [hy * hx, hy * lx, ly * hx, ly * lx]
    w = [np.where(used, wi, t(0)) for wi in w]
    cells = [np.where(used, c, 0) for c in (y_low, y_high, x_low, x_high)]
    return cells, w, used


def _check_align_args(input: np.ndarray, boxes: Boxes, output_size: int | Sequence[int],
                      spatial_scale: float, sampling_ratio: int, aligned: bool, op: str):
    _check_input(input, op)
    size = _output_size(output_size, op)
    scale = _check_scale(spatial_scale, op)
    _check_sampling(sampling_ratio, aligned, op)
    return size, scale, as_rois(boxes, input.dtype, len(input), op)


def roi_align(input: np.ndarray, boxes: Boxes, output_size: int | Sequence[int],
              spatial_scale: float = 1.0, sampling_ratio: int = -1,
              aligned: bool = False) -> np.ndarray:
    """RoIAlign (He et al., 2017), equal to ``torchvision.ops.roi_align`` on CPU.

    Args:
        input: ``(N, C, H, W)``, float32 or float64.
        boxes: ``(K, 5)`` array of ``(batch_index, x1, y1, x2, y2)``, or a list of ``(L, 4)``
            arrays, one per image; cast to ``input``'s dtype.
        output_size: ``out_h`` and ``out_w``, an int or a pair.
        spatial_scale: multiplies the box coordinates. Default: 1.0.
        sampling_ratio: samples per bin along each axis; ``<= 0`` uses
            ``ceil(roi_h / out_h)`` (and likewise for the width). Default: -1.
        aligned: shift the box by -0.5 so that pixel centres sit at integer coordinates
            (Detectron2's convention); ``False`` is the legacy behaviour. Default: False.

    Shape: ``(K, C, out_h, out_w)``. Each bin is the mean of its samples' bilinear
    interpolations (:func:`bilinear_weights`); rules in the module docstring.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> roi_align(x, np.array([[0, 0, 0, 2, 2]]), 1, sampling_ratio=1)
    array([[[[5.]]]])
    """
    size, scale, rois = _check_align_args(input, boxes, output_size, spatial_scale,
                                          sampling_ratio, aligned, "roi_align")
    _, c, h, w = input.shape
    t = input.dtype.type
    out = np.zeros((len(rois), c, *size), dtype=t)
    for k, roi in enumerate(rois):
        ys, xs, gh, gw = _align_geometry(roi, size, t, scale, sampling_ratio, aligned)
        # samples (out_h, out_w, grid_h, grid_w), in the kernel's order ph, pw, iy, ix
        y, x = ys[:, None, :, None], xs[None, :, None, :]
        (y0, y1, x0, x1), (w1, w2, w3, w4), _ = _align_corners(y, x, h, w, t)
        plane = input[int(roi[0])]
        with np.errstate(invalid="ignore", over="ignore"):
            value = (((w1 * plane[:, y0, x0] + w2 * plane[:, y0, x1])
                      + w3 * plane[:, y1, x0]) + w4 * plane[:, y1, x1])
            total = np.zeros((c, *size), dtype=t)
            for iy in range(gh):
                for ix in range(gw):
                    total = total + value[..., iy, ix]
            out[k] = total / t(max(gh * gw, 1))
    return out


def roi_align_loop(input: np.ndarray, boxes: Boxes, output_size: int | Sequence[int],
                   spatial_scale: float = 1.0, sampling_ratio: int = -1,
                   aligned: bool = False) -> np.ndarray:
    """Loop reference of :func:`roi_align`: the C++ kernel's loops, one sample at a time, in
    the input's dtype (``bilinear_weights`` repeated inline so the arithmetic stays in it).

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> roi_align_loop(x, np.array([[0, 0, 0, 2, 2]]), 1, sampling_ratio=1)
    array([[[[5.]]]])
    """
    size, scale, rois = _check_align_args(input, boxes, output_size, spatial_scale,
                                          sampling_ratio, aligned, "roi_align_loop")
    _, channels, height, width = input.shape
    t = input.dtype.type
    pooled_h, pooled_w = size
    out = np.zeros((len(rois), channels, pooled_h, pooled_w), dtype=t)
    for n, roi in enumerate(rois):
        offset = t(0.5) if aligned else t(0.0)
        start_w, start_h = roi[1] * t(scale) - offset, roi[2] * t(scale) - offset
        end_w, end_h = roi[3] * t(scale) - offset, roi[4] * t(scale) - offset
        roi_w, roi_h = end_w - start_w, end_h - start_h
        if not aligned:
            roi_w, roi_h = max(roi_w, t(1)), max(roi_h, t(1))
        bin_h, bin_w = roi_h / t(pooled_h), roi_w / t(pooled_w)
        grid_h = sampling_ratio if sampling_ratio > 0 else int(np.ceil(roi_h / t(pooled_h)))
        grid_w = sampling_ratio if sampling_ratio > 0 else int(np.ceil(roi_w / t(pooled_w)))
        count = t(max(grid_h * grid_w, 1))
        for c in range(channels):
            data = input[int(roi[0]), c]
            for ph in range(pooled_h):
                for pw in range(pooled_w):
                    total = t(0)
                    for iy in range(grid_h):
                        y = start_h + t(ph) * bin_h + t(iy + 0.5) * bin_h / t(grid_h)
                        for ix in range(grid_w):
                            x = start_w + t(pw) * bin_w + t(ix + 0.5) * bin_w / t(grid_w)
                            if not (-1.0 <= y <= height and -1.0 <= x <= width):
                                total = total + t(0) * data[0, 0]  # the kernel reads pos 0
                                continue
                            yy, xx = max(y, t(0)), max(x, t(0))
                            y_low, x_low = int(yy), int(xx)
                            if y_low >= height - 1:
                                y_low = y_high = height - 1
                                yy = t(y_low)
                            else:
                                y_high = y_low + 1
                            if x_low >= width - 1:
                                x_low = x_high = width - 1
                                xx = t(x_low)
                            else:
                                x_high = x_low + 1
                            ly, lx = yy - t(y_low), xx - t(x_low)
                            hy, hx = t(1.0 - float(ly)), t(1.0 - float(lx))
                            total = total + (hy * hx * data[y_low, x_low]
                                             + hy * lx * data[y_low, x_high]
                                             + ly * hx * data[y_high, x_low]
                                             + ly * lx * data[y_high, x_high])
                    out[n, c, ph, pw] = total / count
    return out


def roi_align_backward(grad_output: np.ndarray, input: np.ndarray, boxes: Boxes,
                       output_size: int | Sequence[int], spatial_scale: float = 1.0,
                       sampling_ratio: int = -1, aligned: bool = False) -> np.ndarray:
    """Gradient of :func:`roi_align` with respect to ``input`` (only its shape and dtype are
    read): each sample sends ``grad * w / count`` to its four cells, in torchvision's order.

    >>> x = np.zeros((1, 1, 3, 3))
    >>> roi_align_backward(np.ones((1, 1, 1, 1)), x, np.array([[0, 0, 0, 1, 1]]), 1,
    ...                    sampling_ratio=1)[0, 0]
    array([[0.25, 0.25, 0.  ],
           [0.25, 0.25, 0.  ],
           [0.  , 0.  , 0.  ]])
    """
    size, scale, rois = _check_align_args(input, boxes, output_size, spatial_scale,
                                          sampling_ratio, aligned, "roi_align_backward")
    n, c, h, w = input.shape
    t = input.dtype.type
    grad = _check_grad(grad_output, (len(rois), c, *size), "roi_align_backward").astype(t)
    grad_input = np.zeros(input.shape, dtype=t)
    flat_input = grad_input.reshape(-1)
    for k, roi in enumerate(rois):
        ys, xs, gh, gw = _align_geometry(roi, size, t, scale, sampling_ratio, aligned)
        if gh * gw == 0:
            continue
        y, x = ys[:, None, :, None], xs[None, :, None, :]
        (y0, y1, x0, x1), weights, used = _align_corners(y, x, h, w, t)
        count = t(gh * gw)
        g = grad[k][:, :, :, None, None]  # (C, out_h, out_w, 1, 1)
        shares = [(g * wi) / count for wi in weights]  # each (C, out_h, out_w, gh, gw)
        cells = [y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1]
        base = ((int(roi[0]) * c + np.arange(c)) * h * w).reshape(c, 1, 1, 1, 1)
        index = np.stack([np.broadcast_to(base + cell, shares[0].shape) for cell in cells], -1)
        value = np.stack(shares, -1)
        mask = np.broadcast_to(used[None, ..., None], value.shape)
        np.add.at(flat_input, index[mask], value[mask])  # row-major: the kernel's order
    return grad_input


# --- figures ----------------------------------------------------------------------------------

def demo_map(height: int, width: int) -> np.ndarray:
    """The smooth ``(height, width)`` float32 feature map the chapter's figures pool.

    >>> demo_map(2, 3).shape
    (2, 3)
    """
    h, w = np.mgrid[0:height, 0:width].astype(np.float64)
    values = 5 + 3 * np.sin(w / 1.6 + 0.4) + 2 * np.cos(h / 1.9) + 0.25 * h
    return np.round(values, 1).astype(np.float32)


def adaptive_figure(length: int, output_size: int) -> Figure:
    """Adaptive pooling's windows along one axis of ``length`` cells, as bars under the cells,
    each labelled with its average."""
    import matplotlib.pyplot as plt

    from .figures import CMAP, WINDOW, style

    x = demo_map(1, length)[0]
    means = PF.adaptive_avg_pool1d(x[None], output_size)[0]
    with style():
        fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.42 * output_size))
        ax.imshow(x[None], cmap=CMAP, extent=(0, length, 0.5, -0.5), aspect="auto")
        for i, v in enumerate(x):
            ax.text(i + 0.5, 0, f"{v:g}", ha="center", va="center", fontsize=9)
        for i, (start, end) in enumerate(adaptive_windows(length, output_size)):
            y = 1 + 0.8 * i
            ax.add_patch(plt.Rectangle((start + 0.05, y - 0.3), end - start - 0.1, 0.6,
                                       color=WINDOW, alpha=0.25))
            ax.text((start + end) / 2, y, f"out[{i}]: cells {start}..{end - 1}, "
                    f"mean {means[i]:.3g}", ha="center", va="center", fontsize=8.5)
        ax.set_xlim(0, length)
        ax.set_ylim(0.8 * output_size + 0.6, -0.5)
        ax.set_xticks(np.arange(length) + 0.5, [str(i) for i in range(length)])
        ax.set_yticks([])
        ax.set_title(f"{length} cells -> {output_size}: start = floor(i·{length}/{output_size}),"
                     f" end = ceil((i+1)·{length}/{output_size})", fontsize=10)
    return fig


def adaptive_compare(length: int, output_size: int) -> Comparison:
    """torch's ``adaptive_avg_pool1d`` of :func:`adaptive_figure`'s cells, beside ours."""
    import torch

    from .widgets import Comparison

    x = demo_map(1, length)
    theirs = torch.nn.functional.adaptive_avg_pool1d(torch.from_numpy(x), output_size)
    return Comparison("torch.nn.functional.adaptive_avg_pool1d",
                      PF.adaptive_avg_pool1d(x, output_size), theirs.numpy())


SPP_LEVELS = (1, 2, 4)


def spp_figure(height: int, width: int) -> Figure:
    """Spatial pyramid pooling of a ``height x width`` map: the bins of levels 1, 2 and 4,
    each labelled with its maximum, and the fixed length of the result."""
    import matplotlib.pyplot as plt

    from .figures import CMAP, WINDOW, style

    x = demo_map(height, width)
    with style():
        fig, axes = plt.subplots(1, len(SPP_LEVELS), figsize=(6.8, 2.3))
        for ax, level in zip(axes, SPP_LEVELS, strict=True):
            out = PF.adaptive_max_pool2d(x[None], level)[0]
            ax.imshow(x, cmap=CMAP, vmin=x.min() - 1, vmax=x.max() + 1,
                      extent=(0, width, height, 0))
            for i, (r0, r1) in enumerate(adaptive_windows(height, level)):
                for j, (c0, c1) in enumerate(adaptive_windows(width, level)):
                    inset = 0.06 * ((i + j) % 2)  # overlapping bins stay distinguishable
                    ax.add_patch(plt.Rectangle((c0 + inset, r0 + inset), c1 - c0 - 2 * inset,
                                               r1 - r0 - 2 * inset, fill=False, lw=1.6,
                                               edgecolor=WINDOW))
                    ax.text((c0 + c1) / 2, (r0 + r1) / 2, f"{out[i, j]:g}", ha="center",
                            va="center", fontsize=8 if level < 4 else 6.5)
            ax.set_title(f"level {level}: {level * level} bin{'s' * (level > 1)}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
        total = sum(level * level for level in SPP_LEVELS)
        fig.suptitle(f"{height}×{width} map -> {' + '.join(str(v * v) for v in SPP_LEVELS)}"
                     f" = {total} numbers per channel", fontsize=10)
        fig.tight_layout()
    return fig


def spp_compare(height: int, width: int) -> Comparison:
    """:func:`spatial_pyramid_pool` of :func:`spp_figure`'s map against torch's adaptive max
    pools, concatenated."""
    import torch

    from .widgets import Comparison

    x = demo_map(height, width)[None, None]
    t = torch.from_numpy(x)
    theirs = torch.cat([torch.nn.functional.adaptive_max_pool2d(t, v).flatten(1)
                        for v in SPP_LEVELS], 1)
    return Comparison("torch.nn.functional.adaptive_max_pool2d, levels (1, 2, 4)",
                      spatial_pyramid_pool(x, SPP_LEVELS)[0], theirs[0].numpy())


#: The box of :func:`roi_figure` before its shift: (x1, y1, x2, y2) on a 7×9 map.
ROI_BOX = (1.2, 1.3, 4.6, 4.4)
ROI_MAP = (7, 9)


def ramp_map(height: int, width: int) -> np.ndarray:
    """A float32 map that grows by 1 per column (and 0.25 per row): a window's maximum is its
    rightmost column, so RoI pool's output shows where its bins end.

    >>> ramp_map(2, 3).tolist()
    [[0.0, 1.0, 2.0], [0.25, 1.25, 2.25]]
    """
    h, w = np.mgrid[0:height, 0:width]
    return (w + 0.25 * h).astype(np.float32)


def roi_outputs(shifts: np.ndarray, output_size: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """RoI pool's and RoIAlign's output cell ``(0, 0)`` for :data:`ROI_BOX` moved right by
    each shift (float32, ``sampling_ratio=2``)."""
    x = ramp_map(*ROI_MAP)[None, None]
    x1, y1, x2, y2 = ROI_BOX
    rois = np.array([[0, x1 + s, y1, x2 + s, y2] for s in shifts], dtype=np.float32)
    return (roi_pool(x, rois, output_size)[:, 0, 0, 0],
            roi_align(x, rois, output_size, sampling_ratio=2)[:, 0, 0, 0])


def roi_figure(shift: float) -> Figure:
    """A box moved right by ``shift`` cells: RoI pool's snapped bins and RoIAlign's samples
    on the map (left), and both ops' first output cell as the box slides (right)."""
    import matplotlib.pyplot as plt

    from .figures import CMAP, WINDOW, WINNER, style

    height, width = ROI_MAP
    x = ramp_map(height, width)
    x1, y1, x2, y2 = ROI_BOX
    box = (x1 + shift, y1, x2 + shift, y2)
    hs, he, ws, we = roi_pool_bins(box, 2, height=height, width=width)
    ys, xs, gh, gw = _align_geometry(np.array([0, *box], np.float32), (2, 2), np.float32,
                                     1.0, 2, False)
    shifts = np.round(np.arange(0, 1.0001, 0.02), 2)
    pooled, aligned = roi_outputs(shifts)
    now_pool, now_align = roi_outputs(np.array([shift]))
    with style():
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(6.8, 2.9),
                                     gridspec_kw={"width_ratios": [1.15, 1]})
        # Cell (r, c) is the unit square centred on (c, r): RoIAlign's coordinate system.
        ax.imshow(x, cmap=CMAP, vmin=x.min() - 2, vmax=x.max() + 1)
        ax.add_patch(plt.Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1],
                                   fill=False, ls="--", lw=1.2, edgecolor="black"))
        for i in range(2):
            for j in range(2):
                ax.add_patch(plt.Rectangle((ws[j] - 0.5, hs[i] - 0.5), we[j] - ws[j],
                                           he[i] - hs[i], fill=False, lw=2 if i + j else 3,
                                           edgecolor=WINDOW, alpha=1 if i + j == 0 else 0.6))
        yy, xx = np.meshgrid(ys.ravel(), xs.ravel(), indexing="ij")
        ax.plot(xx.ravel(), yy.ravel(), "o", ms=3.5, color=WINNER)
        ax.set_title("RoI pool bins (orange), RoIAlign samples (green)", fontsize=9)
        ax.set_xticks(range(width))
        ax.set_yticks(range(height))
        ax.tick_params(length=0, labelsize=7)
        bx.step(shifts, pooled, where="post", color=WINDOW, label="RoI pool")
        bx.plot(shifts, aligned, color=WINNER, label="RoIAlign")
        bx.plot([shift, shift], [now_pool[0], now_align[0]], "o", color="black", ms=4)
        bx.axvline(shift, color="#999999", lw=0.8)
        bx.set_xlabel("box shifted right by (cells)")
        bx.set_title("output cell (0, 0)", fontsize=9)
        bx.legend(fontsize=8, loc="best")
        fig.tight_layout()
    return fig
