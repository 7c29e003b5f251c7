"""Chapter 6, beyond max and average: what the page computes and draws.

The operations are the library's, imported like a user would (:mod:`pooling_course.ops`):
stochastic pooling (:mod:`~pooling_course.ops.stochastic`), mixed, gated, softmax and min
pooling (:mod:`~pooling_course.ops.mixed`), max over time and attention pooling
(:mod:`~pooling_course.ops.sequence`). This module keeps the chapter's own data and figures:

* :func:`motif_scan` scans DNA with a position weight matrix (Stormo, 2000), the layer global
  max pooling follows in DeepBind; :func:`one_hot_dna`, :func:`pwm_log_odds`,
  :func:`random_dna` and :func:`plant` make the experiment's sequences;
* :func:`text_corpus`, the toy sentences of the text-CNN experiment;
* :func:`architecture_layers`: the windowed layers of AlexNet, VGG-16 and ResNet-50 for
  :func:`pooling_course.forward.receptive_fields`;
* the interactive figures (see :mod:`pooling_course.widgets`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import functional as PF
from .forward import Layer

# The page calls the chapter's ops as V.<name>: the library's, imported like a user would.
from .ops.mixed import (  # noqa: F401
    gated_pool2d,
    min_pool2d,
    mixed_pool2d,
    mixed_pool2d_backward,
    pool2d_loop,
    softmax_pool2d,
)
from .ops.sequence import (  # noqa: F401
    attention_pool,
    attention_pool_backward,
    max_over_time,
    max_over_time_backward,
)
from .ops.stochastic import (  # noqa: F401
    stochastic_pool2d,
    stochastic_pool2d_backward,
    stochastic_pool2d_loop,
)

__all__ = [
    "one_hot_dna", "pwm_log_odds", "motif_scan", "random_dna", "plant",
    "text_corpus", "architecture_layers", "PUBLISHED_RECEPTIVE_FIELDS",
    "stochastic_frequencies_figure", "lp_window_figure", "lp_window_compare",
]


# --- DNA: a position weight matrix scanned, then max pooled ----------------------------------

BASES = "ACGT"


def one_hot_dna(sequences: str | Sequence[str]) -> np.ndarray:
    """One-hot encoding: ``(4, L)`` for one sequence, ``(N, 4, L)`` for equal-length ones;
    rows are A, C, G, T.

    >>> one_hot_dna("GAT")
    array([[0., 1., 0.],
           [0., 0., 0.],
           [1., 0., 0.],
           [0., 0., 1.]])
    """
    single = isinstance(sequences, str)
    seqs = [sequences] if single else list(sequences)
    if not seqs or len({len(s) for s in seqs}) != 1 or any(set(s) - set(BASES) for s in seqs):
        raise ValueError("sequences must be non-empty strings of A, C, G, T of one length")
    codes = np.array([[BASES.index(b) for b in s] for s in seqs])
    out = (codes[:, None, :] == np.arange(4)[None, :, None]).astype(np.float64)
    return out[0] if single else out


def pwm_log_odds(sites: Sequence[str], pseudocount: float = 0.5,
                 background: float = 0.25) -> np.ndarray:
    r"""Position weight matrix of aligned binding sites, as log-odds (Stormo, 2000):
    ``W[b, j] = log2(f[b, j] / background)`` with ``f`` the base frequencies at position ``j``
    after adding ``pseudocount`` to every count.

    Returns:
        ``(4, k)``: rows A, C, G, T; ``k`` the sites' length.

    >>> pwm_log_odds(["AC", "AC"], pseudocount=0).round(2)[:, 0]
    array([  2., -inf, -inf, -inf])
    """
    counts = one_hot_dna(list(sites)).sum(axis=0)
    freqs = (counts + pseudocount) / (counts.sum(axis=0) + 4 * pseudocount)
    with np.errstate(divide="ignore"):
        return np.log2(freqs / background)


def motif_scan(onehot: np.ndarray, pwm: np.ndarray) -> np.ndarray:
    """Score of the motif at every offset: the valid cross-correlation of a one-hot sequence
    with the PWM, ``score[i] = sum_{b, j} pwm[b, j] * onehot[b, i + j]``, as
    ``torch.nn.functional.conv1d(onehot, pwm[None])`` computes it.

    Args:
        onehot: ``(4, L)`` or ``(N, 4, L)`` from :func:`one_hot_dna`.
        pwm: ``(4, k)`` with ``k <= L``.

    Returns:
        ``(L - k + 1,)`` or ``(N, L - k + 1)``.

    >>> pwm = np.array([[1.0, 0], [0, 0], [0, 0], [0, 2]])
    >>> motif_scan(one_hot_dna("AAC"), pwm)
    array([1., 1.])
    """
    onehot, pwm = np.asarray(onehot, dtype=float), np.asarray(pwm, dtype=float)
    if onehot.shape[-2:-1] != (4,) or pwm.ndim != 2 or pwm.shape[0] != 4 or (
            pwm.shape[1] > onehot.shape[-1]):
        raise ValueError(f"onehot must be (4, L) or (N, 4, L) and pwm (4, k) with k <= L, got "
                         f"{onehot.shape} and {pwm.shape}")
    view = np.lib.stride_tricks.sliding_window_view(onehot, pwm.shape[1], axis=-1)
    return np.einsum("...bij,bj->...i", view, pwm)


def random_dna(rng: np.random.Generator, n: int, length: int) -> list[str]:
    """``n`` uniformly random sequences of ``length`` bases.

    >>> random_dna(np.random.default_rng(0), 2, 5)
    ['TGGCC', 'AAAAT']
    """
    return ["".join(BASES[i] for i in row) for row in rng.integers(0, 4, size=(n, length))]


def plant(sequence: str, motif: str, position: int) -> str:
    """``sequence`` with ``motif`` written over it from ``position`` on.

    >>> plant("AAAAAA", "CG", 2)
    'AACGAA'
    """
    if not 0 <= position <= len(sequence) - len(motif):
        raise ValueError(f"position must be in [0, {len(sequence) - len(motif)}], got {position}")
    return sequence[:position] + motif + sequence[position + len(motif):]


# --- text: a generated corpus for max-over-time ----------------------------------------------

#: The corpus's cue phrases: a label-1 or label-0 phrase is planted in filler words.
POSITIVE = ("really good", "loved it", "great fun")
NEGATIVE = ("not good", "waste of time", "boring plot")
FILLER = ("the", "a", "film", "movie", "actor", "scene", "was", "and", "then", "we", "saw",
          "it", "story", "music", "end", "of", "this", "that", "one", "two")


def text_corpus(rng: np.random.Generator, n: int, min_len: int,
                max_len: int) -> tuple[list[list[str]], np.ndarray]:
    """``n`` sentences of random filler words with one cue phrase at a random place.

    Label 1 for a phrase of :data:`POSITIVE`, 0 for one of :data:`NEGATIVE`. "good" alone
    says nothing: "really good" and "not good" both hold it, so a model must read word pairs.
    Lengths (filler words + phrase) are uniform in ``[min_len, max_len]``.

    >>> sentences, labels = text_corpus(np.random.default_rng(0), 2, 4, 6)
    >>> [" ".join(s) for s in sentences], labels
    (['loved it was the', 'this story really good'], array([1, 1]))
    """
    sentences, labels = [], rng.integers(0, 2, size=n)
    for label in labels:
        phrases = POSITIVE if label else NEGATIVE
        phrase = phrases[rng.integers(len(phrases))].split()
        length = int(rng.integers(min_len, max_len + 1))
        filler = [FILLER[i] for i in rng.integers(len(FILLER), size=max(length - len(phrase), 0))]
        at = int(rng.integers(len(filler) + 1))
        sentences.append(filler[:at] + phrase + filler[at:])
    return sentences, labels


# --- the classic architectures' windowed layers ----------------------------------------------

#: Receptive field and effective stride of the last layer before the classifier, as published
#: by Araujo, Norris & Sim (2019) (``araujo2019computing``).
PUBLISHED_RECEPTIVE_FIELDS = {"AlexNet": (195, 32), "VGG-16": (212, 32), "ResNet-50": (483, 32)}


def architecture_layers(name: str) -> list[Layer]:
    """The convolutions and pools of one path through a classic network, input side first.

    ``"AlexNet"`` (Krizhevsky et al., 2012): conv 11/4, pool 3/2, conv 5, pool 3/2, three
    convs 3, pool 3/2. ``"VGG-16"`` (Simonyan & Zisserman, 2015): 2, 2, 3, 3, 3 convs 3 in five
    stages, each followed by pool 2/2. ``"ResNet-50"`` (He et al., 2016): stem conv 7/2 and pool
    3/2, then 3, 4, 6, 3 bottlenecks (1x1, 3x3, 1x1) whose first 1x1 strides by 2 in the first
    block of stages 3-5, as in the paper; ``"ResNet-50 v1.5"`` moves that stride to the 3x3, as
    torchvision does. The residual path's longest chain is the one through every 3x3, so it
    sets the receptive field. Layers stop at the last convolution or pool before global
    pooling and the classifier.

    >>> [layer.name for layer in architecture_layers("AlexNet")][:3]
    ['conv1', 'pool1', 'conv2']
    """
    if name == "AlexNet":
        return [Layer("conv1", 11, 4), Layer("pool1", 3, 2), Layer("conv2", 5),
                Layer("pool2", 3, 2), Layer("conv3", 3), Layer("conv4", 3), Layer("conv5", 3),
                Layer("pool5", 3, 2)]
    if name == "VGG-16":
        layers = []
        for stage, convs in enumerate((2, 2, 3, 3, 3), start=1):
            layers += [Layer(f"conv{stage}_{i}", 3) for i in range(1, convs + 1)]
            layers.append(Layer(f"pool{stage}", 2, 2))
        return layers
    if name in ("ResNet-50", "ResNet-50 v1.5"):
        on_3x3 = name.endswith("v1.5")
        layers = [Layer("conv1", 7, 2), Layer("pool1", 3, 2)]
        for stage, blocks in enumerate((3, 4, 6, 3), start=2):
            for block in range(1, blocks + 1):
                s = 2 if stage > 2 and block == 1 else 1
                tag = f"conv{stage}_{block}"
                layers += [Layer(f"{tag}a", 1, 1 if on_3x3 else s),
                           Layer(f"{tag}b", 3, s if on_3x3 else 1), Layer(f"{tag}c", 1)]
        return layers
    raise ValueError(f"name must be one of 'AlexNet', 'VGG-16', 'ResNet-50', "
                     f"'ResNet-50 v1.5', got {name!r}")


# --- interactive figures ---------------------------------------------------------------------

#: The window the stochastic-pooling figure samples from (non-negative, after a ReLU).
SAMPLED_WINDOW = np.array([[0.0, 1.0], [3.0, 2.0]])
#: The window the Lp figure pools.
LP_WINDOW = np.array([1.0, 2.0, 3.0, 6.0])


def stochastic_frequencies_figure(samples: int) -> object:
    """How often stochastic pooling picks each element of :data:`SAMPLED_WINDOW` in
    ``samples`` draws (seeded), beside the probabilities ``a_i / S`` it should converge to,
    and the running mean of the outputs beside the test-time value."""
    import matplotlib.pyplot as plt

    from .figures import FIGURE_WIDTH, WINDOW, style

    x = np.broadcast_to(SAMPLED_WINDOW, (samples, *SAMPLED_WINDOW.shape)).copy()
    out, idx = stochastic_pool2d(x, 2, generator=np.random.default_rng(0), return_indices=True)
    freq = np.bincount(idx.ravel(), minlength=4) / samples
    prob = SAMPLED_WINDOW.ravel() / SAMPLED_WINDOW.sum()
    expected = float(stochastic_pool2d(SAMPLED_WINDOW[None], 2, training=False)[0, 0, 0])
    with style():
        fig, (left, right) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 5.6))
        pos = np.arange(4)
        left.bar(pos - 0.2, prob, 0.4, color="#bbbbbb", label="probability $a_i/S$")
        left.bar(pos + 0.2, freq, 0.4, color=WINDOW, label=f"frequency, {samples} draws")
        left.set_xticks(pos, [f"a={v:g}" for v in SAMPLED_WINDOW.ravel()])
        left.set_ylim(0, 0.7)
        left.legend(loc="upper left")
        left.set_title("which element is picked")
        running = np.cumsum(out.ravel()) / np.arange(1, samples + 1)
        right.plot(np.arange(1, samples + 1), running, color=WINDOW, label="mean of draws")
        right.axhline(expected, color="#555555", ls="--", label=f"test time {expected:.4g}")
        right.set_xscale("log")
        right.set_xlim(1, 10_000)
        right.set_ylim(0, 3.2)
        right.set_xlabel("draws")
        right.legend(loc="lower right")
        right.set_title(f"mean after {samples}: {running[-1]:.3f}")
        fig.tight_layout()
    return fig


def lp_window_figure(p: float) -> object:
    """Lp pooling of :data:`LP_WINDOW` for ``p``, on the line from the window's mean (its
    sum at p = 1 divided by its size) to its maximum (p = inf)."""
    import matplotlib.pyplot as plt

    from .figures import FIGURE_WIDTH, WINDOW, style

    value = float(PF.lp_pool1d(LP_WINDOW[None], p, LP_WINDOW.size)[0, 0])
    ps = np.geomspace(1, 64, 200)
    curve = [float(PF.lp_pool1d(LP_WINDOW[None], q, LP_WINDOW.size)[0, 0]) for q in ps]
    with style():
        fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.6))
        ax.plot(ps, curve, color="#999999", label=r"$(\sum_i x_i^p)^{1/p}$")
        ax.axhline(LP_WINDOW.max(), color="#555555", ls="--", label="max = 6")
        ax.axhline(LP_WINDOW.sum(), color="#555555", ls=":", label="sum = mean × 4 = 12")
        shown = 64 if np.isinf(p) else p
        ax.plot([shown], [value], "o", color=WINDOW, ms=9, label=f"p = {p:g}: {value:.3f}")
        ax.set_xscale("log", base=2)
        ticks = [1, 2, 4, 8, 16, 32, 64]
        ax.set_xticks(ticks, [str(t) for t in ticks[:-1]] + ["inf"])
        ax.set_xlabel("p (log scale)")
        ax.set_ylim(0, 13)
        ax.set_title(f"window {LP_WINDOW.astype(int).tolist()}, p = {p:g}")
        ax.legend(loc="lower left", ncol=2, columnspacing=1.0)
        fig.tight_layout()
    return fig


def lp_window_compare(p: float) -> object:
    """The Lp figure's value against ``torch.nn.functional.lp_pool1d``."""
    import torch

    from .widgets import Comparison

    ours = PF.lp_pool1d(LP_WINDOW[None], p, LP_WINDOW.size)
    theirs = torch.nn.functional.lp_pool1d(torch.from_numpy(LP_WINDOW[None]), p,
                                           LP_WINDOW.size).numpy()
    return Comparison("torch.nn.functional.lp_pool1d", ours, theirs)
