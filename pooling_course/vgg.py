"""Chapter 1, why networks pool: VGG-16's cost, memory and parameters, with and without pools.

VGG-16 (configuration D of Simonyan and Zisserman) stacks thirteen 3×3 convolutions
(padding 1, stride 1) in five stages and ends each stage with a 2×2 max pool of stride 2.
:func:`features` builds that part in PyTorch, with or without its pools; :func:`head` adds
either the published classifier (flatten, then fully connected layers of 4096, 4096 and
1000 units) or a global-average head (average each of the 512 maps to one number, then one
fully connected layer of 1000 units). Everything is built on PyTorch's ``meta`` device,
which computes shapes but allocates no values, so a head with a hundred billion weights
costs nothing to count.

>>> sum(p.numel() for p in features().parameters())
14714688
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Configuration D: the output channels of each 3×3 convolution, "M" a 2×2 max pool, stride 2.
VGG16: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                          512, 512, 512, "M", 512, 512, 512, "M"]


def features(config: list[int | str] = VGG16, pool: bool = True) -> Any:
    """VGG's convolutional part on the meta device; ``pool=False`` leaves out every pool."""
    import torch

    layers: list[Any] = []
    channels = 3
    with torch.device("meta"):
        for v in config:
            if v == "M":
                if pool:
                    layers.append(torch.nn.MaxPool2d(2, 2))
                continue
            layers += [torch.nn.Conv2d(channels, int(v), 3, padding=1), torch.nn.ReLU()]
            channels = int(v)
        return torch.nn.Sequential(*layers)


@dataclass(frozen=True)
class Costs:
    """What :func:`costs` counts for one image through VGG's convolutional part."""

    macs: int  #: multiply-adds of the convolutions
    activations: int  #: values every convolution and pool keeps for the backward pass
    last_map: tuple[int, int, int]  #: (channels, height, width) of the last feature map
    comparisons: int  #: the pools' comparisons: 3 per output value of a 2×2 window


def costs(net: Any, size: int = 224) -> Costs:
    """Run a ``size``×``size`` RGB image's shape through ``net`` and count (see :class:`Costs`)."""
    import torch

    x = torch.empty(1, 3, size, size, device="meta")
    macs = activations = comparisons = 0
    for layer in net:
        y = layer(x)
        if isinstance(layer, torch.nn.Conv2d):
            kh, kw = layer.kernel_size
            macs += y.numel() * layer.in_channels * kh * kw
        if isinstance(layer, torch.nn.MaxPool2d):
            comparisons += y.numel() * 3
        if not isinstance(layer, torch.nn.ReLU):
            activations += y.numel()
        x = y
    channels, height, width = x.shape[1:]
    return Costs(macs, activations, (int(channels), int(height), int(width)), comparisons)


def head(kind: str, last_map: tuple[int, int, int], classes: int = 1000) -> Any:
    """The classifier on top of a ``last_map`` = (C, H, W) feature map.

    Args:
        kind: ``"flatten"`` (VGG's own: flatten, FC 4096, FC 4096, FC ``classes``) or
            ``"global average"`` (average each map to one value, then FC ``classes``).
    """
    import torch

    channels, height, width = last_map
    with torch.device("meta"):
        if kind == "flatten":
            return torch.nn.Sequential(
                torch.nn.Flatten(), torch.nn.Linear(channels * height * width, 4096),
                torch.nn.ReLU(), torch.nn.Linear(4096, 4096), torch.nn.ReLU(),
                torch.nn.Linear(4096, classes))
        if kind == "global average":
            return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                       torch.nn.Linear(channels, classes))
    raise ValueError(f"kind must be 'flatten' or 'global average', got {kind!r}")


def parameter_count(module: Any) -> int:
    """The number of learnable values (weights and biases) of a torch module."""
    return sum(p.numel() for p in module.parameters())
