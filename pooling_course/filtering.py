r"""Chapter 2, filtering: the page's interactive figures and their torch comparisons.

The signal analysis they draw (average pooling as a box filter followed by subsampling, its
frequency response, aliasing, max pooling as a grey-scale dilation) is in
:mod:`pooling_course.filtering_signals`, imported here so the page reads every name as
``filtering.<name>``. :func:`response_figure`, :func:`signals_figure` and
:func:`photo_figure` are the chapter's interactive figures (see
:func:`pooling_course.widgets.interactive`); the ``*_compare`` functions measure the same
things with PyTorch.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from . import functional as PF
from .filtering_signals import (  # noqa: F401
    _check_int,
    alias_frequency,
    amplitude_spectrum,
    avg_pool2d_by_convolution,
    avg_pool_as_convolution,
    avg_pool_as_convolution_loop,
    box_frequency_response,
    box_kernel,
    box_response,
    dtft,
    grey_dilation1d,
    grey_dilation1d_loop,
    grey_erosion1d,
    max_pool_via_dilation,
)

#: Colours of the chapter's curves: input, plain subsampling, average pool, max pool.
COLOURS = {"input": "#777777", "subsampled": "#7570b3", "avg": "#1f77b4", "max": "#d95f02"}


# --- the interactive figures -------------------------------------------------------------------

PROBE_OMEGAS = np.pi * np.arange(5) / 4  # 0, pi/4, ..., pi


def aliased_bands(stride: int) -> list[tuple[float, float]]:
    """The bands of ``[0, pi]`` that fold onto ``[0, pi/s]``: ``[m pi/s, (m+1) pi/s]``, m >= 1."""
    s = _check_int(stride, "stride")
    return [(m * np.pi / s, (m + 1) * np.pi / s) for m in range(1, s)]


def worst_alias_gain(kernel_size: int, stride: int, n: int = 4001) -> float:
    """The largest gain ``|H|`` of a length-``K`` box anywhere above ``pi/s`` (0 for s = 1)."""
    if _check_int(stride, "stride") == 1:
        return 0.0
    w = np.linspace(np.pi / stride, np.pi, n)
    return float(box_response(w, kernel_size).max())


def response_figure(kernel_size: int, stride: int) -> Any:
    """|H(omega)| of a length-``K`` box, the band above ``pi/s`` shaded and folded back.

    The solid curve is the gain on ``[0, pi]``; after subsampling by ``s`` everything above
    the new Nyquist frequency ``pi/s`` (shaded) lands below it, at :func:`alias_frequency`,
    drawn dashed where it lands (scaled back to input frequencies, ``alias / s``).
    """
    import matplotlib.pyplot as plt

    from .figures import FIGURE_WIDTH, style

    k, s = _check_int(kernel_size, "kernel_size"), _check_int(stride, "stride")
    w = np.linspace(0, np.pi, 721)
    gain = box_response(w, k)
    with style():
        fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.4))
        ax.plot(w / np.pi, gain, color=COLOURS["avg"], lw=2, label=f"|H(ω)|, K={k}")
        for m, (lo, hi) in enumerate(aliased_bands(s)):
            ax.axvspan(lo / np.pi, hi / np.pi, color="#d95f02", alpha=0.08 + 0.04 * (m % 2),
                       lw=0)
            band = (w >= lo) & (w <= hi)
            ax.plot(alias_frequency(w[band], s) / s / np.pi, gain[band], ls="--",
                    color=COLOURS["max"], lw=1.3,
                    label="folded below π/s" if m == 0 else None)
        if s > 1:
            ax.axvline(1 / s, color="black", lw=0.8)
            ax.text(1 / s, 1.04, " π/s", va="bottom")
            leak = worst_alias_gain(k, s)
            ax.set_title(f"K={k}, s={s}: worst alias gain {leak:.2f} "
                         f"({20 * np.log10(max(leak, 1e-12)):.1f} dB)")
        else:
            ax.set_title(f"K={k}, s=1: no subsampling, nothing aliases")
        if 2 / k <= 1:
            ax.plot([2 / k], [0], "o", color=COLOURS["avg"], ms=5)
            ax.annotate("first zero 2π/K", (2 / k, 0), (min(2 / k, 0.7) + 0.015, 0.06))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.12)
        ax.set_xlabel("ω / π  (radians per input sample)")
        ax.set_ylabel("gain")
        ax.legend(loc="upper right", frameon=False)
        fig.tight_layout()
    return fig


def response_compare(kernel_size: int, stride: int) -> Any:
    """|H| at ``PROBE_OMEGAS`` from the closed form, and measured with torch's ``avg_pool1d``.

    Torch pools ``cos(omega n)`` and ``sin(omega n)`` with the same ``K`` and ``s``; pooling
    is a correlation, so its first output is ``conj(H(omega))`` times ``e^{0}``, and the
    magnitude of ``cos`` + i ``sin`` there is ``|H(omega)|``.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812 (torch's own alias)

    from .widgets import Comparison

    k, s = _check_int(kernel_size, "kernel_size"), _check_int(stride, "stride")
    n = np.arange(4 * k + s)
    probes = np.concatenate([np.cos(np.multiply.outer(PROBE_OMEGAS, n)),
                             np.sin(np.multiply.outer(PROBE_OMEGAS, n))])
    pooled = F.avg_pool1d(torch.from_numpy(probes)[:, None], k, s)[:, 0, 0].numpy()
    half = len(PROBE_OMEGAS)
    measured = np.abs(pooled[:half] + 1j * pooled[half:])
    return Comparison("torch.nn.functional.avg_pool1d (|H| at ω = 0, π/4, …, π)",
                      box_response(PROBE_OMEGAS, k), measured, rtol=1e-9, atol=1e-9)


SIGNAL_LENGTH = 96


def sinusoid(omega_over_pi: float, length: int = SIGNAL_LENGTH) -> np.ndarray:
    """The figure's test signal: ``cos(omega n)`` with ``omega = omega_over_pi * pi``."""
    return np.cos(np.pi * float(omega_over_pi) * np.arange(length))


def pooled_signals(omega_over_pi: float, stride: int) -> dict[str, np.ndarray]:
    """The test signal and what plain subsampling, average and max pooling (``K = s``) make."""
    x = sinusoid(omega_over_pi)
    s = _check_int(stride, "stride")
    return {"input": x, "subsampled": x[::s],
            "avg": PF.avg_pool1d(x[None], s, s)[0], "max": PF.max_pool1d(x[None], s, s)[0]}


def signals_figure(omega_over_pi: float, stride: int) -> Any:
    """A sinusoid, its subsampled, average-pooled and max-pooled versions and their spectra.

    Pools use ``kernel_size = stride = s``. Top: the first samples of each signal, outputs
    drawn at the centre of their window. Bottom: amplitude spectra, the input's against
    input frequency, the outputs' against output frequency; the dotted line marks where
    :func:`alias_frequency` says the sinusoid lands.
    """
    import matplotlib.pyplot as plt

    from .figures import FIGURE_WIDTH, style

    s = _check_int(stride, "stride")
    w0 = np.pi * float(omega_over_pi)
    signals = pooled_signals(omega_over_pi, s)
    lands = float(alias_frequency(w0, s))
    with style():
        fig, (top, left, right) = plt.subplots(
            3, 1, figsize=(FIGURE_WIDTH, 7.0), gridspec_kw={"height_ratios": [1.2, 1, 1]})
        shown = 32
        n = np.arange(shown)
        top.plot(n, signals["input"][:shown], "-", color=COLOURS["input"], lw=0.8,
                 marker=".", ms=3, label="input")
        for name in ("subsampled", "avg", "max"):
            y = signals[name]
            centre = 0 if name == "subsampled" else (s - 1) / 2
            m = np.arange(len(y)) * s + centre
            keep = m < shown
            top.plot(m[keep], y[keep], "-o", color=COLOURS[name], ms=3.5,
                     lw=2.4 if name == "avg" else 1.3, label=name)
        top.set_title(f"cos(ω n), ω = {omega_over_pi}π, first {shown} samples;\n"
                      f"pools with K = s = {s}")
        top.set_ylim(-1.25, 1.25)
        top.legend(loc="upper center", ncol=4, frameon=False, columnspacing=1.2,
                   bbox_to_anchor=(0.5, -0.1))
        w, amp = amplitude_spectrum(signals["input"])
        left.plot(w / np.pi, amp, color=COLOURS["input"], lw=1.3)
        left.axvspan(1 / s, 1, color="#d95f02", alpha=0.1, lw=0)
        left.axvline(1 / s, color="black", lw=0.8)
        left.set_title("input spectrum\n(shaded: above π/s, will alias)")
        left.set_xlabel("ω / π  (radians per input sample)")
        top_amp = 1.0
        for name in ("subsampled", "avg", "max"):
            w, amp = amplitude_spectrum(signals[name])
            right.plot(w / np.pi, amp, color=COLOURS[name], lw=2.4 if name == "avg" else 1.3,
                       label=name)
            top_amp = max(top_amp, float(amp.max()))
        right.axvline(lands / np.pi, color="black", ls=":", lw=1)
        right.text(0.005, 0.98 * top_amp, "mean", va="top")
        right.set_title(f"output spectra:\nthe sinusoid lands at {lands / np.pi:.2f}π")
        right.set_xlabel("ω / π  (radians per output sample)")
        for ax in (left, right):
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.12 * top_amp)
            ax.set_ylabel("amplitude")
        right.legend(loc="upper right", frameon=False)
        fig.tight_layout()
    return fig


def signals_compare(omega_over_pi: float, stride: int) -> Any:
    """The first outputs of the figure's average and max pools, ours and torch's."""
    import torch
    import torch.nn.functional as F  # noqa: N812 (torch's own alias)

    from .widgets import Comparison

    s = _check_int(stride, "stride")
    ours = pooled_signals(omega_over_pi, s)
    x = torch.from_numpy(sinusoid(omega_over_pi))[None]
    theirs = [F.avg_pool1d(x, s, s)[0].numpy(), F.max_pool1d(x, s, s)[0].numpy()]
    shown = 6
    return Comparison("torch avg_pool1d / max_pool1d (first outputs)",
                      np.stack([ours["avg"][:shown], ours["max"][:shown]]),
                      np.stack([t[:shown] for t in theirs]), rtol=1e-12, atol=1e-12)


@functools.lru_cache(maxsize=1)
def sample_photo() -> np.ndarray:
    """A 128×128 grey crop (0..255) of scikit-learn's bundled ``china.jpg`` (no download)."""
    from sklearn.datasets import load_sample_image

    grey = load_sample_image("china.jpg").astype(float).mean(axis=2)
    return grey[130:258, 230:358]


def screened_photo(period: float, amplitude: float = 40.0) -> np.ndarray:
    """:func:`sample_photo` plus a vertical grating ``amplitude * cos(2 pi x / period)``."""
    photo = sample_photo()
    x = np.arange(photo.shape[1])
    return photo + amplitude * np.cos(2 * np.pi * x / float(period))[None, :]


def photo_figure(period: float, stride: int) -> Any:
    """A photograph behind a fine grating, subsampled, average- and max-pooled (``K = s``).

    The title says where :func:`alias_frequency` puts the grating after the stride, as a
    period in output pixels: the false stripes the pooled images show.
    """
    import matplotlib.pyplot as plt

    from .figures import FIGURE_WIDTH, style

    s = _check_int(stride, "stride")
    screened = screened_photo(period)
    omega = 2 * np.pi / float(period)
    lands = float(alias_frequency(omega, s))
    panels = [("input", screened), ("subsampled", screened[::s, ::s]),
              ("avg_pool2d", PF.avg_pool2d(screened[None], s)[0]),
              ("max_pool2d", PF.max_pool2d(screened[None], s)[0])]
    if omega <= np.pi / s:
        where = "below π/s, no aliasing"
    elif lands > 1e-9:
        where = f"aliases to a period of {2 * np.pi / lands:.1f} output px"
    else:
        where = "aliases to a constant"
    with style():
        fig, axes = plt.subplots(2, 2, figsize=(FIGURE_WIDTH, 5.0))  # 2×2: large on a phone
        for ax, (name, image) in zip(axes.ravel(), panels, strict=True):
            ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(name.replace("_pool2d", " pool").replace("avg", "average"),
                         fontsize=11)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"grating period {period} px, stride {s}:\n{where}")
        fig.tight_layout()
    return fig


def photo_compare(period: float, stride: int) -> Any:
    """The first row of the figure's average- and max-pooled images, ours and torch's."""
    import torch
    import torch.nn.functional as F  # noqa: N812 (torch's own alias)

    from .widgets import Comparison

    s = _check_int(stride, "stride")
    x = screened_photo(period)[None]
    ours = [PF.avg_pool2d(x, s)[0, 0, :4], PF.max_pool2d(x, s)[0, 0, :4]]
    t = torch.from_numpy(x)
    theirs = [F.avg_pool2d(t, s)[0, 0, :4].numpy(), F.max_pool2d(t, s)[0, 0, :4].numpy()]
    return Comparison("torch avg_pool2d / max_pool2d (first row)", np.stack(ours),
                      np.stack(theirs), rtol=1e-12, atol=1e-9)
