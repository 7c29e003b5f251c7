"""Chapter 3, shifts: equivariance, invariance and anti-aliased pooling.

The shift operator :func:`shift` (circular or zero-filled), the normalised change of a pooled
output under a shift (:func:`normalized_change`, :func:`shift_change`,
:func:`phase_averaged_change`), the frequency response of the blur filters
(:func:`filter_response`) and the chapter's interactive figure.

The anti-aliased pools of Zhang (2019) are the library's, :mod:`pooling_course.ops.blur`
(``blur_pool1d/2d``, ``max_blur_pool1d/2d``, their rules), imported here like a user would.
The chapter's network experiments live in :mod:`pooling_course.robustness`; torch is imported
here only in the functions that compare with it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import functional as PF
from ._args import ntuple

# The page calls the chapter's ops as E.<name>: the library's, imported like a user would.
from .ops.blur import (  # noqa: F401
    _blur_pads,
    binomial_filter,
    blur_pool1d,
    blur_pool2d,
    blur_pool2d_loop,
    max_blur_pool1d,
    max_blur_pool2d,
)

__all__ = [
    "filter_response", "shift", "normalized_change", "ShiftChange",
    "shift_change", "phase_averaged_change", "POOLS", "max_pool", "avg_pool", "max_blur_pool",
    "probe_images", "shift_figure", "shift_figure_compare",
]


# --- the blur filters' frequency response -------------------------------------------------------


def filter_response(filter_size: int, n_fft: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude of the frequency response of :func:`binomial_filter`, from 0 to Nyquist.

    The filter is zero-padded to ``n_fft`` samples and transformed with ``np.fft.rfft``.

    Returns:
        ``(frequency, magnitude)``: frequencies in cycles per sample (0 to 0.5) and
        ``|H|`` there; ``|H(0)| = 1`` because the filter sums to 1.

    >>> f, h = filter_response(3, n_fft=8)
    >>> f.tolist(), np.round(h, 3).tolist()
    ([0.0, 0.125, 0.25, 0.375, 0.5], [1.0, 0.854, 0.5, 0.146, 0.0])
    """
    taps = binomial_filter(filter_size)  # checks filter_size
    if not isinstance(n_fft, int) or n_fft < filter_size:
        raise ValueError(f"n_fft must be an int of at least filter_size={filter_size}, "
                         f"got {n_fft!r}")
    return np.fft.rfftfreq(n_fft), np.abs(np.fft.rfft(taps, n_fft))


# --- shifts and the change metric -------------------------------------------------------------

def shift(input: np.ndarray, delta: int | Sequence[int], mode: str = "circular") -> np.ndarray:
    r"""The shift operator :math:`T_\delta`: ``(T_δ x)[n] = x[n - δ]`` (content moves right).

    An int ``delta`` shifts the last axis; a tuple shifts the last ``len(delta)`` axes, e.g.
    ``(dy, dx)`` for an image.

    Args:
        input: array of any shape.
        delta: the shift, negative to move content left (or up).
        mode: ``"circular"`` (what leaves one edge comes back at the other: nothing is lost,
            and ``T_a T_b = T_{a+b}``) or ``"zero"`` (what leaves is dropped, zeros come in).

    >>> x = np.array([1, 2, 3, 4])
    >>> shift(x, 1), shift(x, 1, mode="zero")
    (array([4, 1, 2, 3]), array([0, 1, 2, 3]))
    """
    input = np.asarray(input)
    deltas = ((delta,) if isinstance(delta, int | np.integer)
              else tuple(delta) if isinstance(delta, Sequence) else ())
    if not deltas or not all(isinstance(d, int | np.integer) and not isinstance(d, bool)
                             for d in deltas):
        raise TypeError(f"delta must be an int or a tuple of ints, got {delta!r}")
    if len(deltas) > input.ndim:
        raise ValueError(f"delta has {len(deltas)} entries but input has only {input.ndim} "
                         f"axes")
    if mode not in ("circular", "zero"):
        raise ValueError(f"mode must be 'circular' or 'zero', got {mode!r}")
    axes = tuple(range(input.ndim - len(deltas), input.ndim))
    out = np.roll(input, deltas, axis=axes)
    if mode == "zero":
        for axis, d in zip(axes, deltas, strict=True):
            index = [slice(None)] * input.ndim
            index[axis] = slice(0, d) if d >= 0 else slice(d, None)
            out[tuple(index)] = 0
    return out


def normalized_change(output: np.ndarray, reference: np.ndarray) -> float:
    """The normalised Euclidean change ``‖output - reference‖ / ‖reference‖``.

    0 means identical; 1 means a change as large as the reference itself. A zero reference
    gives 0 when ``output`` is zero too, and ``inf`` otherwise.

    >>> normalized_change(np.array([3.0, 4.0]), np.array([3.0, 0.0]))
    1.3333333333333333
    """
    output, reference = np.asarray(output, float), np.asarray(reference, float)
    if output.shape != reference.shape:
        raise ValueError(f"output and reference must have the same shape, got {output.shape} "
                         f"and {reference.shape}")
    diff, norm = float(np.linalg.norm(output - reference)), float(np.linalg.norm(reference))
    if norm == 0:
        return 0.0 if diff == 0 else math.inf
    return diff / norm


@dataclass(frozen=True)
class ShiftChange:
    """How much a pooled output changed when its input was shifted.

    ``raw``: the change against the unshifted output (0 means invariance);
    ``aligned``: against the unshifted output shifted by ``output_shift`` cells, the whole
    number of output cells closest to ``delta / stride`` that fits best (0 means
    equivariance); ``output_shift`` is that number.
    """

    raw: float
    aligned: float
    output_shift: int


def shift_change(
    pool: Callable[[np.ndarray], np.ndarray],
    input: np.ndarray,
    delta: int,
    stride: int,
    margin: int = 0,
    mode: str = "circular",
) -> ShiftChange:
    r"""Raw and shift-aligned change of ``pool``'s output when the input's last axis moves by
    ``delta``.

    With :math:`y = ` ``pool``, :math:`m \in \{\lfloor\delta/s\rfloor, \lceil\delta/s\rceil\}`
    and :math:`\lVert\cdot\rVert` taken over the output cells at least ``margin`` cells from
    either end of the last axis and from the seam where the circular shift joined the input's
    two ends (output cell :math:`\lceil\delta/s\rceil` for :math:`\delta > 0`),

    .. math::

        \text{raw} = \frac{\lVert y(T_\delta x) - y(x)\rVert}{\lVert y(x)\rVert}, \qquad
        \text{aligned} = \min_m \frac{\lVert y(T_\delta x) - T_m\, y(x)\rVert}{\lVert y(x)\rVert}.

    When ``delta`` is a multiple of ``stride`` the two candidates coincide and ``aligned`` is
    the equivariance error. The margin leaves out the cells whose windows reach the border or
    the seam, where a pool that pads (or whose windows do not tile the input) cannot be
    equivariant to a circular shift.

    Args:
        pool: maps an array to its pooled output (the last axis pooled with ``stride``).
        input: the input, shifted along its last axis.
        delta: the shift in input cells.
        stride: the pool's stride along the last axis, at least 1.
        margin: output cells to leave out at each end of the last axis and after the seam,
            at least 0; with 0 every cell is compared.
        mode: the shift's border rule, see :func:`shift`.

    >>> x = np.array([0., 0, 1, 1, 0, 0, 1, 1])
    >>> pool = lambda v: v.reshape(-1, 2).max(axis=1)
    >>> shift_change(pool, x, 1, stride=2)
    ShiftChange(raw=1.0, aligned=1.0, output_shift=0)
    """
    stride = ntuple(stride, 1, "stride")[0]
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if not isinstance(margin, int | np.integer) or margin < 0:
        raise ValueError(f"margin must be a non-negative int, got {margin!r}")
    y = np.asarray(pool(input))
    moved = np.asarray(pool(shift(input, delta, mode)))
    seam = -(-abs(delta) // stride) if margin else 0  # margin=0 compares every cell
    start = margin + (seam if delta > 0 else 0)
    stop = y.shape[-1] - margin - (seam if delta < 0 else 0)
    if stop <= start:
        raise ValueError(f"margin={margin} and delta={delta} leave no output cell of the "
                         f"{y.shape[-1]}")

    def inner(a: np.ndarray) -> np.ndarray:
        return a[..., start:stop]

    def change(reference: np.ndarray) -> float:
        norm = float(np.linalg.norm(inner(y)))
        diff = float(np.linalg.norm(inner(moved) - inner(reference)))
        return 0.0 if diff == 0 else (math.inf if norm == 0 else diff / norm)

    candidates = sorted({delta // stride, -(-delta // stride)}, key=lambda m: abs(m))
    aligned = [(change(shift(y, m)), m) for m in candidates]
    best, best_m = min(aligned, key=lambda pair: pair[0])
    return ShiftChange(raw=change(y), aligned=best, output_shift=best_m)


def phase_averaged_change(
    pool: Callable[[np.ndarray], np.ndarray],
    input: np.ndarray,
    delta: int,
    stride: int,
    margin: int = 0,
) -> tuple[float, float]:
    """:func:`shift_change` averaged over the ``stride`` positions of the input on the grid.

    Where an image falls relative to the pooling grid is an accident, and the change under a
    one-pixel shift depends on it (a peak may or may not cross into the next window). This
    returns the mean ``(raw, aligned)`` of ``shift_change(pool, T_p x, delta, stride,
    margin)`` over ``p = 0 .. stride - 1`` (circular shifts).

    >>> pool = lambda v: v.reshape(-1, 2).max(axis=1)
    >>> x = np.array([0., 0, 0, 1, 0, 0, 0, 0])
    >>> phase_averaged_change(pool, x, 1, stride=2)
    (0.7071067811865476, 0.0)
    """
    stride = ntuple(stride, 1, "stride")[0]
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    results = [shift_change(pool, shift(input, p), delta, stride, margin)
               for p in range(stride)]
    return (float(np.mean([r.raw for r in results])),
            float(np.mean([r.aligned for r in results])))


# --- the pools of the chapter's experiments ---------------------------------------------------

def max_pool(image: np.ndarray, kernel_size: int = 2, stride: int = 2) -> np.ndarray:
    """Max pooling of an ``(H, W)`` image (``functional.max_pool2d`` on one channel)."""
    return PF.max_pool2d(np.asarray(image, np.float64)[None], kernel_size, stride)[0]


def avg_pool(image: np.ndarray, kernel_size: int = 2, stride: int = 2) -> np.ndarray:
    """Average pooling of an ``(H, W)`` image (``functional.avg_pool2d`` on one channel)."""
    return PF.avg_pool2d(np.asarray(image, np.float64)[None], kernel_size, stride)[0]


def max_blur_pool(image: np.ndarray, filter_size: int = 4, stride: int = 2) -> np.ndarray:
    """:func:`max_blur_pool2d` (``kernel_size=2``) of an ``(H, W)`` image."""
    return max_blur_pool2d(np.asarray(image, np.float64)[None], 2, filter_size, stride)[0]


#: The three pools of the interactive figure, each ``(H, W) -> (H/2, W/2)``.
POOLS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "max": max_pool, "average": avg_pool, "max-blur": max_blur_pool}


def probe_images(size: int = 32) -> dict[str, np.ndarray]:
    """The four images of the robustness experiment, ``(size, size)`` float64 arrays.

    ``impulse`` (one bright pixel at ``(size // 2, size // 2)``), ``ramp`` (a horizontal
    gradient from 0 to 1), ``checkerboard`` (alternating 0 and 1) and ``constant`` (all 1).

    >>> {name: round(float(image.sum()), 6)
    ...  for name, image in probe_images(4).items()}
    {'impulse': 1.0, 'ramp': 8.0, 'checkerboard': 8.0, 'constant': 16.0}
    """
    if not isinstance(size, int) or size < 4 or size % 2:
        raise ValueError(f"size must be an even int of at least 4, got {size!r}")
    rows, cols = np.indices((size, size))
    impulse = np.zeros((size, size))
    impulse[size // 2, size // 2] = 1.0
    return {"impulse": impulse,
            "ramp": np.broadcast_to(np.linspace(0, 1, size), (size, size)).copy(),
            "checkerboard": ((rows + cols) % 2).astype(np.float64),
            "constant": np.ones((size, size))}


# --- the interactive figure -------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _figure_image() -> np.ndarray:
    """A handwritten 3 from scikit-learn's bundled digits, on a 16×16 canvas, scaled to 0..1."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    three = digits.images[np.flatnonzero(digits.target == 3)[0]] / 16.0
    canvas = np.zeros((16, 16))
    canvas[4:12, 3:11] = three
    return canvas


def shift_figure(shift_px: int = 0, pool: str = "max") -> Any:
    """The interactive figure: the input shifted by ``shift_px`` pixels to the right, its
    pooled output, and how far that output is from the unshifted one.

    Args:
        shift_px: circular shift of the input along its width, in pixels.
        pool: ``"max"``, ``"average"`` or ``"max-blur"`` (all with stride 2).

    Returns:
        A matplotlib ``Figure`` of three panels: the shifted input, its pooled output, and the
        difference of that output from the unshifted output moved by the best whole number of
        output cells (the aligned change).
    """
    import matplotlib.pyplot as plt

    from .figures import FIGURE_WIDTH, style

    if pool not in POOLS:
        raise ValueError(f"pool must be one of {sorted(POOLS)}, got {pool!r}")
    image = _figure_image()
    moved = shift(image, shift_px)
    fn = POOLS[pool]
    result = shift_change(fn, image, shift_px, stride=2, margin=1)
    out, ref = fn(moved), shift(fn(image), result.output_shift)
    with style():
        fig, axes = plt.subplots(1, 3, figsize=(FIGURE_WIDTH, 2.5))
        axes[0].imshow(moved, vmin=0, vmax=1)
        axes[0].set_title(f"input,\nshifted {shift_px} px")
        axes[1].imshow(out, vmin=0, vmax=1)
        axes[1].set_title(f"{pool}\npool")
        diff = axes[2].imshow(out - ref, cmap="RdBu_r", vmin=-1, vmax=1)
        # Red and blue carry the sign: the bar says which is which (and that white is 0).
        fig.colorbar(diff, ax=axes[2], fraction=0.046, pad=0.03, ticks=[-1, 0, 1],
                     label="change")
        axes[2].set_title(f"$y(T_{{{shift_px}}}x) - T_{{{result.output_shift}}}\\,y(x)$")
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.text(0.5, 0.02, f"raw change {result.raw:.3f}, aligned change "
                 f"{result.aligned:.3f}\n(output moved {result.output_shift} cells)",
                 ha="center", fontsize=11)
        fig.subplots_adjust(left=0.02, right=0.88, top=0.82, bottom=0.2, wspace=0.12)
    return fig


def shift_figure_compare(shift_px: int = 0, pool: str = "max") -> Any:
    """The pooled output of :func:`shift_figure`, by the package and by PyTorch."""
    import torch

    from .widgets import Comparison

    moved = shift(_figure_image(), shift_px)
    theirs = _torch_pool(pool, torch.from_numpy(moved)[None, None])[0, 0].numpy()
    names = {"max": "torch.nn.functional.max_pool2d",
             "average": "torch.nn.functional.avg_pool2d",
             "max-blur": "torch max_pool2d(stride=1) + pad(reflect) + conv2d(groups=C)"}
    return Comparison(names[pool], POOLS[pool](moved), theirs)


def _torch_blur_pool2d(x: Any, filter_size: int, stride: int) -> Any:
    """antialiased-cnns' BlurPool in torch: reflect pad, then the separable filter at every
    ``stride``-th position, as weighted sums of strided slices (the same numbers as the
    reference's grouped convolution, and much faster to train through on a CPU)."""
    import torch.nn.functional as F  # noqa: N812 (torch's own alias)

    before, after = _blur_pads(filter_size)
    taps = binomial_filter(filter_size).tolist()
    if filter_size > 1:
        x = F.pad(x, (before, after, before, after), mode="reflect")
    out_h = (x.shape[-2] - filter_size) // stride + 1
    out_w = (x.shape[-1] - filter_size) // stride + 1
    rows = sum(w * x[..., a:a + stride * (out_h - 1) + 1:stride, :]
               for a, w in enumerate(taps))
    return sum(w * rows[..., b:b + stride * (out_w - 1) + 1:stride]
               for b, w in enumerate(taps))


def _torch_pool(pool: str, x: Any, filter_size: int = 4) -> Any:
    import torch.nn.functional as F  # noqa: N812 (torch's own alias)

    if pool == "max":
        return F.max_pool2d(x, 2, 2)
    if pool == "average":
        return F.avg_pool2d(x, 2, 2)
    if pool == "max-blur":
        return _torch_blur_pool2d(F.max_pool2d(x, 2, 1), filter_size, 2)
    raise ValueError(f"pool must be one of {sorted(POOLS)}, got {pool!r}")
