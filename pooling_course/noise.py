r"""Chapter 2, noise: what max and average pooling do to zero-mean noise.

A window of ``n = k * k`` independent samples of :math:`\mathcal N(0, \sigma^2)` noise:

- average pooling returns their mean: still zero-mean, with variance :math:`\sigma^2 / n`;
- max pooling returns their maximum, whose distribution function is :math:`\Phi(x)^n`, so
  its mean is :math:`\sigma\,E_n` with

  .. math::

      E_n = \int_{-\infty}^{\infty} x\, n\, \varphi(x)\, \Phi(x)^{n-1}\, dx ,

  positive for every ``n >= 2``: the pooled noise floor rises.

:func:`expected_max_of_normals` and :func:`sd_max_of_normals` integrate these moments on a
fine grid (NumPy and :func:`math.erf` only); the chapter checks them against closed forms
and a simulation through the package's pooling.

>>> round(expected_max_of_normals(2), 6)  # 1 / sqrt(pi)
0.56419
>>> round(expected_max_of_normals(4), 4)  # a 2×2 window
1.0294
"""

from __future__ import annotations

import math

import numpy as np

# The integrands vanish (below 1e-30) outside [-12, 12] for every n the chapter uses.
_GRID = np.linspace(-12.0, 12.0, 48001)
_PHI = np.exp(-_GRID**2 / 2) / math.sqrt(2 * math.pi)
_CDF = 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2)) for v in _GRID]))


def _count(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"n must be an int, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return int(n)


def _moment(n: int, power: int) -> float:
    density = n * _PHI * _CDF ** (n - 1)  # the density of the maximum of n
    return float(np.trapezoid(_GRID**power * density, _GRID))


def expected_max_of_normals(n: int) -> float:
    r""":math:`E[\max(Z_1, \dots, Z_n)]` for independent standard normal :math:`Z_i`.

    Max pooling a ``k×k`` window of :math:`\mathcal N(0, \sigma^2)` noise gives on average
    ``sigma * expected_max_of_normals(k * k)``.

    Args:
        n: how many samples, at least 1.

    >>> abs(expected_max_of_normals(1)) < 1e-12  # one sample: its mean, 0
    True
    """
    return _moment(_count(n), 1)


def sd_max_of_normals(n: int) -> float:
    r"""The standard deviation of :math:`\max(Z_1, \dots, Z_n)`, ``Z_i`` standard normal.

    >>> round(sd_max_of_normals(1), 6)
    1.0
    """
    n = _count(n)
    mean = _moment(n, 1)
    return math.sqrt(_moment(n, 2) - mean**2)
