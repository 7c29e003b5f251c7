"""Chapter 4's learning-dynamics experiment: the same small CNN on scikit-learn's 8x8 digits
with a 2x2 max pool, a 2x2 average pool or a stride-2 convolution as the layer that halves
the map, trained in PyTorch (imported only inside the functions).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["POOLINGS", "DigitsRun", "digits_cnn", "train_digits"]

#: The three arms of the experiment: the layer that halves the feature map.
POOLINGS = ("max", "avg", "strided conv")


@dataclass(frozen=True)
class DigitsRun:
    """One training run: losses and first-layer gradient norms per step, test accuracy per
    epoch."""

    pooling: str
    seed: int
    losses: np.ndarray
    grad_norms: np.ndarray
    test_accuracy: np.ndarray


def digits_cnn(pooling: str, channels: tuple[int, int] = (6, 12)) -> object:
    """conv3-ReLU-pool-conv3-ReLU-pool-linear for 8x8 digits; ``pooling`` picks the layer that
    halves the map (a 2x2 max pool, a 2x2 average pool or a 2x2 stride-2 convolution)."""
    import torch
    from torch import nn

    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")

    def halve(c: int) -> nn.Module:
        if pooling == "max":
            return nn.MaxPool2d(2)
        if pooling == "avg":
            return nn.AvgPool2d(2)
        return nn.Conv2d(c, c, 2, stride=2)

    c1, c2 = channels
    return torch.nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), halve(c1),
                               nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), halve(c2),
                               nn.Flatten(), nn.Linear(c2 * 4, 10))


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images[:, None] / 16.0).astype(np.float32), digits.target.astype(np.int64)


def train_digits(pooling: str, seed: int, epochs: int = 6, batch_size: int = 100,
                 lr: float = 0.1, n_train: int = 1200) -> DigitsRun:
    """Train :func:`digits_cnn` on scikit-learn's 8x8 digits with SGD (momentum 0.9).

    The split (first ``n_train`` of a fixed permutation for training, the rest for testing) is
    the same for every run; ``seed`` sets the initial weights and the batch order, so a run is
    reproducible. Torch runs on one thread.

    Returns:
        A :class:`DigitsRun`; ``grad_norms`` is the L2 norm of the first convolution's weight
        gradient at every step.
    """
    import torch

    images, labels = (torch.from_numpy(a) for a in _digits())
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    train, test = order[:n_train], order[n_train:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        model = digits_cnn(pooling)
        optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        batches = torch.Generator().manual_seed(seed)
        losses, norms, accuracy = [], [], []
        for _ in range(epochs):
            shuffled = train[torch.randperm(len(train), generator=batches)]
            for start in range(0, len(shuffled), batch_size):
                batch = shuffled[start:start + batch_size]
                optimiser.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(images[batch]), labels[batch])
                loss.backward()
                losses.append(loss.item())
                norms.append(model[0].weight.grad.norm().item())
                optimiser.step()
            with torch.no_grad():
                predicted = model(images[test]).argmax(dim=1)
            accuracy.append((predicted == labels[test]).float().mean().item())
    finally:
        torch.set_num_threads(threads)
    return DigitsRun(pooling, seed, np.array(losses), np.array(norms), np.array(accuracy))
