"""Chapter 6b, the classic architectures: the pooling arithmetic each one teaches.

* :func:`same_max_pool2d`, :func:`chained_max_pools` and :func:`equivalent_kernel`: YOLOv5's
  SPPF chains stride-1 max pools; ``count`` pools of ``k`` equal one pool of
  ``count * (k - 1) + 1`` when the padding is -inf (grey-scale dilations compose by adding
  their structuring elements). :func:`chain_figure` and :func:`chain_compare` are the page's
  interactive figure.
* :func:`lenet_subsample`: LeNet-5's subsampling layer, a 2x2 sum with a trainable coefficient
  and bias per map.
* :func:`feature_sizes`: the map size after each layer of a list of convolutions and pools,
  for SSD's VGG-16 base and DeepLab.
* :func:`synthesize`, :func:`spectrogram`: tones and chirps, and the magnitude of their
  short-time Fourier transform, for pooling over frequency or over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import functional as PF
from .forward import pool_output_size

__all__ = [
    "same_max_pool2d", "chained_max_pools", "equivalent_kernel", "comparisons_per_output",
    "chain_figure", "chain_compare", "lenet_subsample", "SizedLayer", "feature_sizes",
    "synthesize", "spectrogram", "CHAIN_INPUT_SHAPE",
]


def _odd_kernel(kernel_size: int) -> int:
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)):
        raise TypeError(f"kernel_size must be an int, got {type(kernel_size).__name__}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int (a centred window), "
                         f"got {kernel_size}")
    return int(kernel_size)


def same_max_pool2d(input: np.ndarray, kernel_size: int) -> np.ndarray:
    """Max pool with stride 1 and padding ``kernel_size // 2``: the output has the input's
    size. Padding is -inf, as in ``torch.nn.functional.max_pool2d``, so it never wins.

    >>> same_max_pool2d(np.array([[[1.0, 5.0, 2.0, 0.0]]]), 3).tolist()
    [[[5.0, 5.0, 5.0, 2.0]]]
    """
    k = _odd_kernel(kernel_size)
    return PF.max_pool2d(input, k, stride=1, padding=k // 2)


def chained_max_pools(input: np.ndarray, kernel_size: int, count: int) -> list[np.ndarray]:
    """The outputs of ``count`` chained :func:`same_max_pool2d` calls, first to last.

    YOLOv5's SPPF concatenates the input with the three outputs of a chain of 5x5 pools.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive int, got {count!r}")
    outputs, x = [], input
    for _ in range(count):
        x = same_max_pool2d(x, kernel_size)
        outputs.append(x)
    return outputs


def equivalent_kernel(kernel_size: int, count: int) -> int:
    """The side of the one pool that ``count`` chained stride-1 pools of ``kernel_size`` equal:
    each pool widens the window by ``kernel_size - 1``.

    >>> equivalent_kernel(5, 2), equivalent_kernel(5, 3)
    (9, 13)
    """
    return count * (_odd_kernel(kernel_size) - 1) + 1


def comparisons_per_output(kernel_size: int, count: int = 1) -> int:
    """Comparisons a direct (not separable) max pool makes per output cell, ``count`` times:
    a ``k x k`` window needs ``k * k - 1``."""
    return count * (kernel_size * kernel_size - 1)


#: The map the chain figure pools: small enough to see every cell.
CHAIN_INPUT_SHAPE = (15, 15)


def _chain_input() -> np.ndarray:
    # a few isolated peaks on a negative background: each pool's window shows as a square,
    # and a zero padding would visibly win at the border
    x = np.full(CHAIN_INPUT_SHAPE, -1.0)
    for (r, c), v in zip([(2, 3), (7, 11), (12, 5), (10, 1)], [4.0, 3.0, 2.0, 1.0], strict=True):
        x[r, c] = v
    return x[None]


def chain_figure(kernel_size: int, count: int) -> object:
    """Input, ``count`` chained stride-1 ``kernel_size`` max pools, and the one pool of the
    equivalent kernel, with the comparisons each makes per output cell."""
    import matplotlib.pyplot as plt

    from .figures import FIGURE_WIDTH, style

    x = _chain_input()
    big = equivalent_kernel(kernel_size, count)
    chained = chained_max_pools(x, kernel_size, count)[-1]
    single = same_max_pool2d(x, big)
    same = np.array_equal(chained, single)
    with style():
        fig, axes = plt.subplots(1, 3, figsize=(FIGURE_WIDTH, 2.6))
        titles = ("input", f"{count} × max {kernel_size}×{kernel_size}",
                  f"one max {big}×{big}")
        for ax, img, title in zip(axes, (x, chained, single), titles, strict=True):
            ax.imshow(img[0], cmap="Blues", vmin=-1.5, vmax=4.5)
            ax.set_title(title, fontsize=11)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"identical: {'yes' if same else 'NO'}; comparisons per cell:\n"
                     f"{comparisons_per_output(kernel_size, count)} chained, "
                     f"{comparisons_per_output(big)} in one pool", fontsize=11)
        fig.tight_layout()
    return fig


def chain_compare(kernel_size: int, count: int) -> object:
    """The chain figure's chained pools against one ``torch.nn.functional.max_pool2d`` of the
    equivalent kernel."""
    import torch

    from .widgets import Comparison

    x = _chain_input()
    big = equivalent_kernel(kernel_size, count)
    theirs = torch.nn.functional.max_pool2d(torch.from_numpy(x), big, 1, big // 2).numpy()
    return Comparison(f"torch.nn.functional.max_pool2d(x, {big}, 1, {big // 2})",
                      chained_max_pools(x, kernel_size, count)[-1], theirs)


def lenet_subsample(input: np.ndarray, coefficient: np.ndarray,
                    bias: np.ndarray) -> np.ndarray:
    """LeNet-5's subsampling before its squashing function (LeCun et al., 1998): each map's
    disjoint 2x2 sums, times that map's trainable ``coefficient``, plus its ``bias``.

    Args:
        input: ``(C, H, W)``.
        coefficient, bias: ``(C,)``, one pair per map.
    """
    x = np.asarray(input, dtype=np.float64)
    coefficient, bias = np.asarray(coefficient, float), np.asarray(bias, float)
    if x.ndim != 3 or coefficient.shape != (x.shape[0],) or bias.shape != coefficient.shape:
        raise ValueError(f"input must be (C, H, W) and coefficient, bias (C,); got "
                         f"{x.shape}, {coefficient.shape}, {bias.shape}")
    sums = 4 * PF.avg_pool2d(x, 2)
    return coefficient[:, None, None] * sums + bias[:, None, None]


@dataclass(frozen=True)
class SizedLayer:
    """A convolution or pool (``name`` starting with ``"pool"``) as output-size arithmetic
    sees it."""

    name: str
    kernel_size: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    ceil_mode: bool = False


def feature_sizes(size: int, layers: Sequence[SizedLayer]) -> list[tuple[str, int]]:
    """``(name, size)`` after each layer, by the output-size formula of chapter 1 (PyTorch's,
    with its rule that a ``ceil_mode`` window must start inside the input or left padding).
    Pools go through :func:`~pooling_course.forward.pool_output_size`; convolutions, whose
    padding torch does not cap, through the same formula written out.

    >>> feature_sizes(75, [SizedLayer("pool3", 2, 2, ceil_mode=True),
    ...                    SizedLayer("pool4", 2, 2)])
    [('pool3', 38), ('pool4', 19)]
    """
    out = []
    for layer in layers:
        k, s, p, d = layer.kernel_size, layer.stride, layer.padding, layer.dilation
        if layer.name.startswith("pool"):
            size = pool_output_size(size, k, s, p, d, layer.ceil_mode)
        else:
            size = (size + 2 * p - d * (k - 1) - 1) // s + 1
        out.append((layer.name, size))
    return out


def synthesize(parts: Sequence[tuple[str, float, float, float, float]], rate: int = 8000,
               duration: float = 1.0) -> np.ndarray:
    """A signal of tones and linear chirps.

    Each part is ``(kind, f_start, f_end, t_start, t_end)``: ``"tone"`` at ``f_start`` Hz
    (``f_end`` ignored) or ``"chirp"`` sweeping linearly from ``f_start`` to ``f_end`` Hz,
    sounding from ``t_start`` to ``t_end`` seconds.
    """
    t = np.arange(int(rate * duration)) / rate
    signal = np.zeros_like(t)
    for kind, f0, f1, start, end in parts:
        if kind not in ("tone", "chirp"):
            raise ValueError(f"kind must be 'tone' or 'chirp', got {kind!r}")
        on = (t >= start) & (t < end)
        tau = t - start
        slope = 0.0 if kind == "tone" else (f1 - f0) / (end - start)
        signal += on * np.sin(2 * np.pi * (f0 * tau + slope * tau ** 2 / 2))
    return signal


def spectrogram(signal: np.ndarray, n_fft: int = 256, hop: int = 128) -> np.ndarray:
    """Magnitude of the short-time Fourier transform with a Hann window: ``(frequency bins,
    frames)``, bin ``f`` at ``f * rate / n_fft`` Hz, frame ``t`` starting at sample
    ``t * hop``."""
    frames = np.lib.stride_tricks.sliding_window_view(signal, n_fft)[::hop]
    return np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)).T
