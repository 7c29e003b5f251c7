"""Chapter 5, pooling whole maps and regions: what the page computes and draws.

The operations are the library's, imported like a user would: global pooling and spatial
pyramid pooling from :mod:`pooling_course.ops.spp`, RoI pool from :mod:`pooling_course.ops.roi`,
RoIAlign from :mod:`pooling_course.ops.roi_align` (their rules are in those modules). This
module keeps the chapter's own teaching code: the SPP paper's window rule beside torch's
(:func:`spp_paper_windows`), the parameter count of a fully connected head
(:func:`linear_parameters`) and the interactive figures.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from . import functional as PF

# The page calls the chapter's ops as regions.<name>: the library's, imported like a user would.
from .ops.roi import (  # noqa: F401
    FLT_MAX,
    as_rois,
    roi_pool,
    roi_pool_backward,
    roi_pool_bins,
    roi_pool_loop,
    round_half_away,
)
from .ops.roi_align import (  # noqa: F401
    bilinear_weights,
    roi_align,
    roi_align_backward,
    roi_align_loop,
    roi_align_samples,
)
from .ops.spp import (  # noqa: F401
    adaptive_windows,
    global_avg_pool2d,
    global_max_pool2d,
    spatial_pyramid_pool,
    spatial_pyramid_pool_backward,
    spatial_pyramid_pool_loop,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .widgets import Comparison


# --- the head of a classifier, the paper's pyramid ----------------------------------------------

def linear_parameters(in_features: int, out_features: int, bias: bool = True) -> int:
    """Weights (and biases) of a fully connected layer: ``in * out (+ out)``.

    >>> linear_parameters(512 * 7 * 7, 4096)
    102764544
    """
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    return in_features * out_features + (out_features if bias else 0)


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

    from .figures import CMAP, FIGURE_WIDTH, WINDOW, style

    x = demo_map(1, length)[0]
    means = PF.adaptive_avg_pool1d(x[None], output_size)[0]
    with style():
        fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 1.2 + 0.45 * output_size))
        ax.imshow(x[None], cmap=CMAP, extent=(0, length, 0.5, -0.5), aspect="auto")
        for i, v in enumerate(x):
            ax.text(i + 0.5, 0, f"{v:g}", ha="center", va="center")
        for i, (start, end) in enumerate(adaptive_windows(length, output_size)):
            y = 1 + 0.8 * i
            ax.add_patch(plt.Rectangle((start + 0.05, y - 0.3), end - start - 0.1, 0.6,
                                       color=WINDOW, alpha=0.25))
            # The label beside its bar, on the side with room (it is wider than a bar).
            left = (start + end) / 2 < length / 2
            ax.text(end + 0.1 if left else start - 0.1, y, f"out[{i}]: cells "
                    f"{start}..{end - 1}, mean {means[i]:.3g}", ha="left" if left else "right",
                    va="center")
        ax.set_xlim(0, length)
        ax.set_ylim(0.8 * output_size + 0.6, -0.5)
        ax.set_xticks(np.arange(length) + 0.5, [str(i) for i in range(length)])
        ax.set_yticks([])
        ax.set_title(f"{length} cells -> {output_size}: start = floor(i·{length}/{output_size}),"
                     f"\nend = ceil((i+1)·{length}/{output_size})", fontsize=11)
        fig.tight_layout()
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

    from .figures import CMAP, FIGURE_WIDTH, WINDOW, style

    x = demo_map(height, width)
    with style():
        # Levels 1 and 2 side by side, level 4 below at full width: room for 16 numbers
        # (cells stretched to the panel, so a tall map has room too).
        fig, panels = plt.subplot_mosaic("AB;CC", figsize=(FIGURE_WIDTH, 5.0))
        for ax, level in zip(panels.values(), SPP_LEVELS, strict=True):
            out = PF.adaptive_max_pool2d(x[None], level)[0]
            ax.imshow(x, cmap=CMAP, vmin=x.min() - 1, vmax=x.max() + 1,
                      extent=(0, width, height, 0), aspect="auto")
            for i, (r0, r1) in enumerate(adaptive_windows(height, level)):
                for j, (c0, c1) in enumerate(adaptive_windows(width, level)):
                    inset = 0.06 * ((i + j) % 2)  # overlapping bins stay distinguishable
                    ax.add_patch(plt.Rectangle((c0 + inset, r0 + inset), c1 - c0 - 2 * inset,
                                               r1 - r0 - 2 * inset, fill=False, lw=1.6,
                                               edgecolor=WINDOW))
                    ax.text((c0 + c1) / 2, (r0 + r1) / 2, f"{out[i, j]:g}", ha="center",
                            va="center")
            ax.set_title(f"level {level}:\n{level * level} bin{'s' * (level > 1)}", fontsize=11)
            ax.set_xticks([])
            ax.set_yticks([])
        total = sum(level * level for level in SPP_LEVELS)
        fig.suptitle(f"{height}×{width} map -> {' + '.join(str(v * v) for v in SPP_LEVELS)}"
                     f" = {total} numbers per channel", fontsize=11)
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

    from .figures import CMAP, FIGURE_WIDTH, WINDOW, WINNER, style

    height, width = ROI_MAP
    x = ramp_map(height, width)
    x1, y1, x2, y2 = ROI_BOX
    box = (x1 + shift, y1, x2 + shift, y2)
    hs, he, ws, we = roi_pool_bins(box, 2, height=height, width=width)
    ys, xs = roi_align_samples(box, 2, sampling_ratio=2)
    shifts = np.round(np.arange(0, 1.0001, 0.02), 2)
    pooled, aligned = roi_outputs(shifts)
    now_pool, now_align = roi_outputs(np.array([shift]))
    with style():
        fig, (ax, bx) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 6.4),
                                     gridspec_kw={"height_ratios": [1.15, 1]})
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
        ax.set_title("RoI pool bins (orange),\nRoIAlign samples (green)", fontsize=11)
        ax.set_xticks(range(width))
        ax.set_yticks(range(height))
        ax.tick_params(length=0)
        bx.step(shifts, pooled, where="post", color=WINDOW, label="RoI pool")
        bx.plot(shifts, aligned, color=WINNER, label="RoIAlign")
        bx.plot([shift, shift], [now_pool[0], now_align[0]], "o", color="black", ms=4)
        bx.axvline(shift, color="#999999", lw=0.8)
        bx.set_xlabel("box shifted right by (cells)")
        bx.set_title("output cell (0, 0)", fontsize=11)
        bx.legend(loc="best")
        fig.tight_layout()
    return fig
