"""Chapter 3's network experiment: does anti-aliased pooling make a CNN's predictions
shift-consistent? A small CNN on scikit-learn's bundled 8×8 digits, trained in PyTorch with
max pooling or MaxBlurPool (torch is imported only inside the functions), and the torch form
of the chapter's pools that the interactive figure compares with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .ops.blur import binomial_filter

__all__ = ["DigitsResult", "digits_experiment"]


def _torch_blur_pool2d(x: Any, filter_size: int, stride: int) -> Any:
    """antialiased-cnns' BlurPool in torch: reflect pad, then the separable filter at every
    ``stride``-th position, as weighted sums of strided slices (the same numbers as the
    reference's grouped convolution, and much faster to train through on a CPU)."""
    import torch.nn.functional as F  # noqa: N812 (torch's own alias)

    before, after = (filter_size - 1) // 2, filter_size // 2  # as ops.blur pads
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
    raise ValueError(f"pool must be one of ['average', 'max', 'max-blur'], got {pool!r}")


@dataclass(frozen=True)
class DigitsResult:
    """One trained network: its pool, seed, test accuracy and shift consistency.

    ``consistency`` is the fraction of (test image, one-pixel shift) pairs, over the four
    shifts up, down, left and right, whose predicted class equals that of the unshifted image.
    """

    pool: str
    seed: int
    accuracy: float
    consistency: float


def _digits_data(canvas: int = 10) -> tuple[np.ndarray, ...]:
    """scikit-learn's 8×8 digits on a ``canvas``-sized zero background, scaled to 0..1, split
    into the first 1200 images for training and the other 597 for testing."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    border = (canvas - 8) // 2
    images = np.zeros((len(digits.images), 1, canvas, canvas), dtype=np.float32)
    images[:, 0, border:border + 8, border:border + 8] = digits.images / 16.0
    labels = digits.target.astype(np.int64)
    return images[:1200], labels[:1200], images[1200:], labels[1200:]


def digits_experiment(
    pools: Sequence[str] = ("max", "max-blur"),
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 12,
    filter_size: int = 3,
) -> list[DigitsResult]:
    """Train a small CNN on the bundled 8×8 digits once per pool and seed, on CPU.

    The network: conv 3×3 (1→8) - ReLU - pool - conv 3×3 (8→16) - ReLU - pool - linear
    (16·2·2→10), on each digit placed in the middle of a 10×10 zero canvas, so that a
    one-pixel shift moves no ink off the canvas. ``"max"`` pools with
    ``max_pool2d(2, 2)``; ``"max-blur"`` with ``max_pool2d(2, stride=1)`` then the blur pool
    of ``filter_size`` taps and stride 2. Adam (lr 0.01), batches of 100, ``epochs`` passes,
    one thread, ``torch.manual_seed(seed)``: the same call gives the same numbers.

    Returns:
        One :class:`DigitsResult` per (pool, seed), pools outermost.
    """
    import torch

    train_x, train_y, test_x, test_y = (torch.from_numpy(a) for a in _digits_data())
    shifts = [(0, 1), (0, -1), (1, 0), (-1, 0)]
    shifted = [torch.roll(test_x, s, dims=(2, 3)) for s in shifts]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    results = []
    try:
        for pool in pools:
            for seed in seeds:
                torch.manual_seed(seed)
                net = _DigitsNet(pool, filter_size)
                _train(net, train_x, train_y, epochs, seed)
                with torch.no_grad():
                    plain = net(test_x).argmax(1)
                    accuracy = float((plain == test_y).float().mean())
                    same = [float((net(x).argmax(1) == plain).float().mean()) for x in shifted]
                results.append(DigitsResult(pool, seed, accuracy, float(np.mean(same))))
    finally:
        torch.set_num_threads(threads)
    return results


def _train(net: Any, x: Any, y: Any, epochs: int, seed: int) -> None:
    import torch

    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 100):
            batch = order[start:start + 100]
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[batch]), y[batch])
            loss.backward()
            optimiser.step()


def _make_digits_net_class() -> type:
    import torch

    class DigitsNet(torch.nn.Module):
        def __init__(self, pool: str, filter_size: int) -> None:
            super().__init__()
            if pool not in ("max", "max-blur"):
                raise ValueError(f"pool must be 'max' or 'max-blur', got {pool!r}")
            self.pool, self.filter_size = pool, filter_size
            self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
            self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
            self.fc = torch.nn.Linear(16 * 2 * 2, 10)

        def down(self, x: Any) -> Any:
            return _torch_pool(self.pool, x, self.filter_size)

        def forward(self, x: Any) -> Any:
            x = self.down(torch.relu(self.conv1(x)))
            x = self.down(torch.relu(self.conv2(x)))
            return self.fc(x.flatten(1))

    return DigitsNet


def _DigitsNet(pool: str, filter_size: int) -> Any:  # noqa: N802 (reads like a class)
    return _make_digits_net_class()(pool, filter_size)
