"""RoIAlign (Mask R-CNN), equal to ``torchvision.ops.roi_align`` on CPU.

The op follows torchvision's CPU kernel (``roi_align_kernel.cpp``, ``roi_align_common.h``)
rule for rule and, for float32 inputs, operation for operation in float32:

* no rounding: corners are scaled, minus 0.5 when ``aligned=True``; with ``aligned=False`` a
  box narrower than 1 is widened to 1;
* each bin averages a ``grid_h x grid_w`` grid of bilinear samples at the centres of equal
  sub-cells; ``sampling_ratio <= 0`` picks ``ceil(roi_h / out_h)`` per axis (so a box may
  have bins with no samples, which output 0);
* a sample with ``y < -1`` or ``y > H`` (likewise ``x``) contributes 0 but still counts in
  the average's divisor; one in ``[-1, 0]`` is moved to 0 and one in ``[H - 1, H]`` to
  ``H - 1``, so samples just outside the map take the border's value at full weight.

Boxes as for :func:`~pooling_course.ops.roi.roi_pool` (:func:`~pooling_course.ops.roi.as_rois`).
Chapter 5 teaches the op; :func:`roi_align_loop` transliterates the C++ loops and
:func:`roi_align_backward` is the gradient.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..functional._core import check_grad_output
from .roi import Boxes, _check_input, _check_sampling, _check_scale, _output_size, as_rois

__all__ = ["bilinear_weights", "roi_align_samples", "roi_align", "roi_align_loop",
           "roi_align_backward"]

def _sample_corners(y: float, x: float, height: int, width: int, t: type
             ) -> tuple[int, int, int, int, float, float, float, float]:
    """The kernel's bilinear rule for an in-range sample, in the scalar type ``t``: the cells
    ``y_low, y_high, x_low, x_high`` and the weights ``ly, lx, hy, hx``. A coordinate in
    ``[-1, 0]`` is moved to 0, one at or past the last cell to it."""
    y, x = max(y, t(0)), max(x, t(0))
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = t(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = t(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - t(y_low), x - t(x_low)
    return y_low, y_high, x_low, x_high, ly, lx, t(1.0 - float(ly)), t(1.0 - float(lx))


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
    y_low, y_high, x_low, x_high, ly, lx, hy, hx = _sample_corners(y, x, height, width, float)
    cells = [(y_low, x_low), (y_low, x_high), (y_high, x_low), (y_high, x_high)]
    return cells, [hy * hx, hy * lx, ly * hx, ly * lx]


def roi_align_samples(box: Sequence[float], output_size: int | Sequence[int],
                      spatial_scale: float = 1.0, sampling_ratio: int = -1,
                      aligned: bool = False, dtype: type = np.float32
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Where RoIAlign samples one box ``(x1, y1, x2, y2)``: ``ys (out_h, grid_h)`` and
    ``xs (out_w, grid_w)``, bin ``(i, j)`` sampling every ``(ys[i, a], xs[j, b])``.

    Computed in ``dtype`` (the input's) and the kernel's order of operations; the pendant of
    :func:`~pooling_course.ops.roi.roi_pool_bins`.

    >>> ys, xs = roi_align_samples((0, 0, 4, 4), 2, sampling_ratio=2,
    ...                            dtype=np.float64)
    >>> ys.tolist()
    [[0.5, 1.5], [2.5, 3.5]]
    """
    size = _output_size(output_size, "roi_align_samples")
    _check_sampling(sampling_ratio, aligned, "roi_align_samples")
    t = np.dtype(dtype).type
    roi = np.array([0, *box], dtype=t)
    ys, xs, _, _ = _align_geometry(roi, size, t, _check_scale(spatial_scale,
                                   "roi_align_samples"), sampling_ratio, aligned)
    return ys, xs


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
    interpolations (:func:`bilinear_weights`); rules in :mod:`pooling_course.ops.roi_align`.

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
                            y_low, y_high, x_low, x_high, ly, lx, hy, hx = _sample_corners(
                                y, x, height, width, t)
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
    >>> boxes = np.array([[0, 0, 0, 1, 1]])
    >>> roi_align_backward(np.ones((1, 1, 1, 1)), x, boxes, 1,
    ...                    sampling_ratio=1)[0, 0]
    array([[0.25, 0.25, 0.  ],
           [0.25, 0.25, 0.  ],
           [0.  , 0.  , 0.  ]])
    """
    size, scale, rois = _check_align_args(input, boxes, output_size, spatial_scale,
                                          sampling_ratio, aligned, "roi_align_backward")
    n, c, h, w = input.shape
    t = input.dtype.type
    grad = check_grad_output(grad_output, (len(rois), c, *size), "roi_align_backward").astype(t)
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
