"""Chapter 3, in a network: do a trained classifier's predictions survive a shift, a rotation
or a rescaling of its input, with max pooling, with max-blur pooling and without pooling?

The networks are small enough to train to convergence on a CPU in about a second each:
conv 3×3 (1→8) - ReLU - pool - conv 3×3 (8→16) - ReLU - pool - linear, on scikit-learn's
bundled 8×8 digits placed in the middle of a 10×10 blank canvas (so that a one-pixel shift
moves no ink off it). The three arms differ only in the pool:

* ``"max"``: ``max_pool2d(2, 2)``;
* ``"max-blur"``: the MaxBlurPool of Zhang (2019), ``max_pool2d(2, stride=1)`` then the
  binomial blur pool of 3 taps with stride 2 (reflect padding), computed as one matrix
  product per plane: the blur pool is linear, and :func:`blur_matrix` is its matrix, built
  from :func:`pooling_course.equivariance.blur_pool2d` itself;
* ``"none"``: no pooling at all; the linear head then reads the whole 10×10 map.

torch is imported only inside the functions that need it.

>>> blur_matrix(4, 4).shape
(16, 4)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import equivariance as E

__all__ = ["POOLS", "CANVAS", "digits_canvas", "transform", "blur_matrix", "make_net",
           "TrainedNet", "train", "predict", "consistency"]

#: The three arms of the experiment.
POOLS = ("max", "max-blur", "none")
#: Side of the blank canvas each 8×8 digit is centred on.
CANVAS = 10
#: Taps of the blur of the max-blur arm (Zhang's reference default is 4; 3 keeps the 10×10
#: maps' sizes the same as max pooling's: 10 → 5 → 2 for max, 10 → 9 → 5 → 4 → 2 for max-blur).
FILTER_SIZE = 3


@functools.cache
def digits_canvas(canvas: int = CANVAS) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits on a ``canvas``-sized blank background, scaled to 0..1.

    Returns:
        ``(train_x, train_y, test_x, test_y)``: the first 1200 images (``(1200, 1, canvas,
        canvas)`` float32) and labels for training, the other 597 for testing.
    """
    from sklearn.datasets import load_digits

    if not isinstance(canvas, int) or canvas < 8 or canvas % 2:
        raise ValueError(f"canvas must be an even int of at least 8, got {canvas!r}")
    digits = load_digits()
    border = (canvas - 8) // 2
    images = np.zeros((len(digits.images), 1, canvas, canvas), dtype=np.float32)
    images[:, 0, border:border + 8, border:border + 8] = digits.images / 16.0
    labels = digits.target.astype(np.int64)
    return images[:1200], labels[:1200], images[1200:], labels[1200:]


def transform(images: np.ndarray, angle: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """Rotate every image by ``angle`` degrees (counter-clockwise) and rescale it by ``scale``
    about its centre, with bilinear interpolation and zeros outside.

    Args:
        images: ``(..., H, W)``.
        angle: degrees.
        scale: a positive factor; above 1 the content grows.

    Shape:
        ``images``'s.

    >>> transform(np.arange(16.0).reshape(4, 4), angle=90).round(6)[0]
    array([ 3.,  7., 11., 15.])
    """
    from scipy import ndimage

    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    images = np.asarray(images)
    height, width = images.shape[-2:]
    theta = np.deg2rad(angle)
    # output pixel o comes from input pixel centre + A (o - centre), A = R(-angle) / scale
    inverse = np.array([[np.cos(theta), np.sin(theta)],
                        [-np.sin(theta), np.cos(theta)]]) / scale
    centre = np.array([(height - 1) / 2, (width - 1) / 2])
    offset = centre - inverse @ centre
    flat = images.reshape(-1, height, width)
    out = np.stack([ndimage.affine_transform(plane.astype(np.float64), inverse, offset,
                                             order=1, mode="constant", cval=0.0)
                    for plane in flat])
    return out.reshape(images.shape).astype(images.dtype)


@functools.cache
def blur_matrix(height: int, width: int, filter_size: int = FILTER_SIZE,
                stride: int = 2) -> np.ndarray:
    """The blur pool of an ``(height, width)`` plane as a matrix ``M``: for a plane ``x``,
    ``x.ravel() @ M == blur_pool2d(x).ravel()``.

    Row ``n`` is the blur pool of the ``n``-th unit image (the pool is linear, so its images
    of the unit images are its matrix).
    """
    units = np.eye(height * width).reshape(height * width, height, width)
    return E.blur_pool2d(units, filter_size, stride).reshape(height * width, -1)


def _halve(x: Any, pool: str) -> Any:
    import torch
    import torch.nn.functional as F  # noqa: N812 (torch's own alias)

    if pool == "max":
        return F.max_pool2d(x, 2, 2)
    if pool == "max-blur":
        dense = F.max_pool2d(x, 2, 1)
        n, c, h, w = dense.shape
        matrix = torch.from_numpy(blur_matrix(h, w).astype(np.float32))
        side = E.blur_pool2d(np.zeros((1, h, w)), FILTER_SIZE, 2).shape[1:]
        return (dense.reshape(n, c, h * w) @ matrix).reshape(n, c, *side)
    return x


def make_net(pool: str) -> Any:
    """The chapter's network with the pool ``pool`` (one of :data:`POOLS`), freshly
    initialised from torch's global generator."""
    import torch
    from torch import nn

    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")

    class DigitsNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = pool
            self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            side = CANVAS if pool == "none" else 2
            self.fc = nn.Linear(16 * side * side, 10)

        def features(self, x: Any) -> Any:
            """The first layer's feature maps, before pooling."""
            return torch.relu(self.conv1(x))

        def forward(self, x: Any) -> Any:
            x = _halve(self.features(x), self.pool)
            x = _halve(torch.relu(self.conv2(x)), self.pool)
            return self.fc(x.flatten(1))

    return DigitsNet()


@dataclass(frozen=True, eq=False)
class TrainedNet:
    """One trained network: its pool and seed, the network, and per epoch the mean training
    loss and the test accuracy."""

    pool: str
    seed: int
    net: Any
    train_loss: np.ndarray
    test_accuracy: np.ndarray


def train(pool: str, seed: int, epochs: int = 40, lr: float = 0.01,
          batch_size: int = 100) -> TrainedNet:
    """Train :func:`make_net` with Adam on :func:`digits_canvas`, on one thread.

    ``seed`` sets the initial weights and the batch order, so the same call gives the same
    network.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812 (torch's own alias)

    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    train_x, train_y, test_x, test_y = (torch.from_numpy(a) for a in digits_canvas())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        net = make_net(pool)
        optimiser = torch.optim.Adam(net.parameters(), lr=lr)
        order = torch.Generator().manual_seed(seed)
        losses, accuracy = [], []
        for _ in range(epochs):
            total = 0.0
            for batch in torch.randperm(len(train_x), generator=order).split(batch_size):
                optimiser.zero_grad()
                loss = F.cross_entropy(net(train_x[batch]), train_y[batch])
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            losses.append(total / len(train_x))
            with torch.no_grad():
                accuracy.append((net(test_x).argmax(1) == test_y).float().mean().item())
    finally:
        torch.set_num_threads(threads)
    net.eval()
    return TrainedNet(pool, seed, net, np.array(losses), np.array(accuracy))


def predict(net: Any, images: np.ndarray) -> np.ndarray:
    """The predicted class of every image, ``(N, 1, H, W)`` -> ``(N,)``."""
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(images, np.float32))).argmax(1).numpy()


def consistency(net: Any, images: np.ndarray, moved: Sequence[np.ndarray]) -> float:
    """Zhang's consistency: the fraction of (image, transformation) pairs whose predicted class
    equals the untransformed image's, over the transformed copies ``moved``."""
    plain = predict(net, images)
    return float(np.mean([np.mean(predict(net, m) == plain) for m in moved]))
