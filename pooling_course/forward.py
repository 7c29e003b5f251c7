"""Chapter 1, the forward pass: windows, strides, output size and receptive field.

The chapter teaches the library's rules by importing them, as any user would:
``pool_output_size`` / ``pool_output_shape`` (the one output-size rule every op, widget,
exercise test and chapter calls) and ``max_pool2d_loop`` / ``avg_pool2d_loop`` (the loop
references of the two basic pools: plain Python loops over output positions that give exactly
what ``torch.nn.functional`` gives) live in :mod:`pooling_course.functional`. What is the
chapter's own is the receptive-field arithmetic below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._args import check_positive

# The page reads these as forward.<name>: the library's rules, imported like a user would.
from .functional import (  # noqa: F401
    avg_pool2d_loop,
    max_pool2d_loop,
    pool_output_shape,
    pool_output_size,
)


@dataclass(frozen=True)
class Layer:
    """One windowed layer (convolution or pool) as receptive-field arithmetic sees it."""

    name: str
    kernel_size: int
    stride: int = 1
    dilation: int = 1


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field and effective stride after a layer, along one axis."""

    layer: str
    kernel_size: int
    stride: int
    receptive_field: int
    effective_stride: int


def receptive_fields(layers: Sequence[Layer]) -> list[ReceptiveField]:
    r"""Receptive field and effective stride after each layer, along one axis.

    Starting from one input pixel (:math:`RF_0 = 1`, :math:`S_0 = 1`):

    .. math::

        RF_i = RF_{i-1} + (k_i - 1)\, d_i\, S_{i-1}, \qquad S_i = S_{i-1}\, s_i

    A window of :math:`k_i` cells spaced :math:`d_i` apart, whose neighbouring cells are
    :math:`S_{i-1}` input pixels apart, adds :math:`(k_i - 1)\, d_i\, S_{i-1}` pixels to what
    one cell already sees. Padding does not enter. (Araujo et al., *Computing Receptive Fields
    of Convolutional Neural Networks*, Distill 2019.)

    >>> rows = receptive_fields([Layer("conv", 3), Layer("pool", 2, 2)])
    >>> [r.receptive_field for r in rows]
    [3, 4]
    """
    rows, rf, jump = [], 1, 1
    for layer in layers:
        check_positive((layer.kernel_size,), "kernel_size")
        check_positive((layer.stride,), "stride")
        check_positive((layer.dilation,), "dilation")
        rf += (layer.kernel_size - 1) * layer.dilation * jump
        jump *= layer.stride
        rows.append(ReceptiveField(layer.name, layer.kernel_size, layer.stride, rf, jump))
    return rows
