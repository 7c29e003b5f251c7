"""RoI pooling (Fast R-CNN), equal to ``torchvision.ops.roi_pool`` on CPU, and the box format
both region ops share.

The op follows torchvision's CPU kernel (``roi_pool_kernel.cpp``) rule for rule and, for
float32 inputs, operation for operation in float32, so it gives torchvision's bits:

* box corners are scaled by ``spatial_scale`` (in the input's dtype) and rounded **half
  away from zero** (C's ``round``: 2.5 -> 3, where Python's ``round`` gives 2); the box is
  ``x2 - x1 + 1`` cells wide (both corners inclusive), at least 1;
* the bins are cut from that **unclipped** box: bin ``i`` covers
  ``[floor(i * h / out_h), ceil((i + 1) * h / out_h))`` rows after the box's first row, and
  only then is it clipped to the map; a bin wholly outside the map outputs 0;
* the max starts at ``-FLT_MAX`` and takes a cell only if it is strictly larger: ties go to
  the first cell in row-major order, NaN never wins, and a bin of NaN (or of values below
  ``-FLT_MAX``) outputs ``-FLT_MAX`` and passes no gradient.

Boxes are a ``(K, 5)`` array of ``(batch_index, x1, y1, x2, y2)`` or a list with one
``(L, 4)`` array of ``(x1, y1, x2, y2)`` per image, as torchvision takes them (:func:`as_rois`);
they are cast to the input's dtype (torchvision requires the two to match). Chapter 5 teaches
the op; :func:`roi_pool_loop` is its line-by-line reference and :func:`roi_pool_backward` its
gradient.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .._args import check_positive, ntuple
from ..functional._core import check_grad_output

__all__ = ["FLT_MAX", "as_rois", "round_half_away", "roi_pool_bins", "roi_pool", "roi_pool_loop",
           "roi_pool_backward"]

#: The start value of a bin's max (C's ``FLT_MAX``, also for float64 input).
FLT_MAX = float(np.finfo(np.float32).max)
_DTYPES = (np.float32, np.float64)
Boxes = np.ndarray | Sequence[np.ndarray]


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
    unclipped box, empty bins 0, ``-FLT_MAX`` for a bin without a usable value) are in
    :mod:`pooling_course.ops.roi`.

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

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> roi_pool_loop(x, np.array([[0, 1, 1, 2, 2]]), 1)[0]
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
    >>> boxes = np.array([[0, 0, 0, 1, 1]])
    >>> roi_pool_backward(np.ones((1, 1, 1, 1)), x, boxes, 1)[0, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 0., 0.],
           [0., 0., 0., 0.],
           [0., 0., 0., 0.]])
    """
    _check_input(input, "roi_pool_backward")
    size = _output_size(output_size, "roi_pool_backward")
    rois = as_rois(boxes, input.dtype, len(input), "roi_pool_backward")
    _, argmax = _roi_pool_forward(input, rois, size, _check_scale(spatial_scale, "roi_pool"))
    grad = check_grad_output(grad_output, argmax.shape, "roi_pool_backward").astype(input.dtype)
    n, c, h, w = input.shape
    grad_input = np.zeros(input.shape, dtype=input.dtype)
    plane = (rois[:, 0].astype(np.int64)[:, None] * c + np.arange(c)).reshape(len(rois), c, 1, 1)
    taken = argmax >= 0
    flat = (np.broadcast_to(plane, argmax.shape) * h * w + argmax)[taken]
    np.add.at(grad_input.reshape(-1), flat, grad[taken])
    return grad_input
