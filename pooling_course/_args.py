"""Argument checking shared by every pooling function.

Torch accepts an int or a tuple for each window parameter; these helpers turn either into a
tuple of ``ndim`` ints and reject anything else with a message that names the parameter.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np


def ntuple(
    value: int | Sequence[int], ndim: int, name: str, *, allow_single: bool = True
) -> tuple[int, ...]:
    """Return ``value`` as a tuple of ``ndim`` Python ints.

    An int is repeated ``ndim`` times; a sequence must have length 1 or ``ndim`` (only
    ``ndim`` with ``allow_single=False``, as some torch functions require).
    Floats, bools and strings raise ``TypeError`` naming ``name``.
    """
    if type(value) is int:  # the common case, without the slower abstract-class checks
        return (value,) * ndim
    if type(value) is tuple and len(value) == ndim and all(type(v) is int for v in value):
        return value
    if _is_int(value):
        return (int(value),) * ndim
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = tuple(value)
        if items and all(_is_int(v) for v in items):
            if len(items) == ndim:
                return tuple(int(v) for v in items)
            if len(items) == 1 and allow_single:
                return (int(items[0]),) * ndim
            raise ValueError(
                f"{name} must be an int or a tuple of {ndim} ints, got {len(items)} values: "
                f"{value!r}"
            )
    raise TypeError(f"{name} must be an int or a tuple of {ndim} ints, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def check_positive(values: tuple[int, ...], name: str) -> None:
    """Raise ``ValueError`` unless every entry of ``values`` is at least 1."""
    if any(v < 1 for v in values):
        raise ValueError(f"{name} must be greater than zero, got {values}")


def check_non_negative(values: tuple[int, ...], name: str) -> None:
    """Raise ``ValueError`` unless every entry of ``values`` is at least 0."""
    if any(v < 0 for v in values):
        raise ValueError(f"{name} must be non-negative, got {values}")
