r"""Chapter 2, filtering: average pooling as a low-pass filter, max pooling as dilation.

The signal analysis of the chapter; :mod:`pooling_course.filtering` draws its figures.

Two readings of the same two operations:

- **Average pooling is a box filter followed by subsampling.** A window of ``K`` samples with
  weight ``1/K`` each is a linear, shift-invariant filter; its frequency response is

  .. math::

      H(\\omega) = \frac{1}{K}\\sum_{n=0}^{K-1} e^{-i\\omega n}
                = e^{-i\\omega (K-1)/2}\\,\frac{\\sin(\\omega K/2)}{K \\sin(\\omega/2)} ,

  a low-pass filter with its first zero at :math:`2\\pi/K`. Keeping every ``s``-th output
  (the stride) folds every frequency above the new Nyquist frequency :math:`\\pi/s` back below
  it (:func:`alias_frequency`).
- **Max pooling is a grey-scale dilation with a flat structuring element followed by
  subsampling** (:func:`grey_dilation1d`); it is not linear, so it has no frequency response.

Every function works on plain NumPy arrays and is checked against ``torch.nn.functional`` by
the tests.

>>> import numpy as np
>>> x = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
>>> avg_pool_as_convolution(x, kernel_size=3, stride=1).round(3)
array([0.667, 0.333, 0.667, 0.333])
>>> max_pool_via_dilation(x, kernel_size=3, stride=1)
array([1., 1., 1., 1.])
"""

from __future__ import annotations

import numpy as np

from .functional import pool_output_size


def _check_int(value: object, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    return int(value)


def _signal(x: object, name: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1d array, got shape {x.shape}")
    return x


# --- average pooling = box filter + subsampling -----------------------------------------------

def box_kernel(kernel_size: int) -> np.ndarray:
    """The length-``K`` box filter of average pooling: ``K`` taps of height ``1/K``.

    >>> box_kernel(4)
    array([0.25, 0.25, 0.25, 0.25])
    """
    k = _check_int(kernel_size, "kernel_size")
    return np.full(k, 1.0 / k)


def box_frequency_response(omega: object, kernel_size: int) -> np.ndarray:
    r"""The DTFT of :func:`box_kernel`, in closed form: a complex array shaped like ``omega``.

    .. math::

        H(\omega) = e^{-i\omega (K-1)/2}\,\frac{\sin(\omega K/2)}{K\sin(\omega/2)},
        \qquad H(2\pi m) = 1 .

    The magnitude is the Dirichlet kernel divided by ``K``; the phase is linear, a delay of
    ``(K-1)/2`` samples (plus a jump of ``pi`` where the sine ratio changes sign).

    Args:
        omega: angular frequencies in radians per sample (any shape).
        kernel_size: ``K``, at least 1.

    >>> omega = np.array([0.0, np.pi / 2, np.pi])
    >>> np.abs(box_frequency_response(omega, 2)).round(4)
    array([1.    , 0.7071, 0.    ])
    """
    k = _check_int(kernel_size, "kernel_size")
    w = np.asarray(omega, dtype=float)
    half = np.sin(w / 2)
    at_dc = np.isclose(half, 0.0, atol=1e-12)
    safe = np.where(at_dc, 1.0, half)
    # At w = 2*pi*m the ratio sin(wK/2) / (K sin(w/2)) tends to cos(pi m (K - 1)) = +-1.
    limit = np.cos(np.pi * np.round(w / (2 * np.pi)) * (k - 1))
    ratio = np.where(at_dc, limit, np.sin(w * k / 2) / (k * safe))
    return np.exp(-1j * w * (k - 1) / 2) * ratio


def box_response(omega: object, kernel_size: int) -> np.ndarray:
    r"""``|H(omega)| = |sin(omega K/2) / (K sin(omega/2))|``, the gain of a length-``K`` box.

    >>> float(box_response(2 * np.pi / 3, 3))  # the first zero: 2*pi/K
    0.0
    """
    return np.abs(box_frequency_response(omega, kernel_size)).round(15)


def avg_pool_as_convolution(x: object, kernel_size: int, stride: int | None = None
                              ) -> np.ndarray:
    """Average pooling of a 1d signal as a convolution with the box, then every ``s``-th sample.

    Equal to ``torch.nn.functional.avg_pool1d(x[None], kernel_size, stride)[0]`` (no padding,
    floor mode).

    Args:
        x: a 1d signal of length at least ``kernel_size``.
        kernel_size: box length ``K``.
        stride: keep every ``stride``-th filtered sample. Default: ``kernel_size``.

    Shape:
        ``(L,)`` -> ``(floor((L - K) / s) + 1,)``.

    >>> avg_pool_as_convolution(np.arange(6.0), 2)
    array([0.5, 2.5, 4.5])
    """
    x = _signal(x)
    k = _check_int(kernel_size, "kernel_size")
    s = k if stride is None else _check_int(stride, "stride")
    pool_output_size(len(x), k, s)  # the same rejections as the pools
    # "valid": only the positions where the whole box lies inside the signal.
    filtered = np.convolve(x, box_kernel(k), mode="valid")
    return filtered[::s]


def avg_pool_as_convolution_loop(x: object, kernel_size: int, stride: int | None = None
                                   ) -> np.ndarray:
    """The loop reference of :func:`avg_pool_as_convolution`: filter every position, keep some.

    >>> avg_pool_as_convolution_loop(np.arange(6.0), 2)
    array([0.5, 2.5, 4.5])
    """
    x = _signal(x)
    k = _check_int(kernel_size, "kernel_size")
    s = k if stride is None else _check_int(stride, "stride")
    pool_output_size(len(x), k, s)
    h = box_kernel(k)
    filtered = [sum(h[j] * x[n + k - 1 - j] for j in range(k)) for n in range(len(x) - k + 1)]
    return np.array([filtered[n] for n in range(0, len(filtered), s)])


def avg_pool2d_by_convolution(x: object, kernel_size: int, stride: int | None = None
                              ) -> np.ndarray:
    """2d average pooling of an ``(H, W)`` array as two 1d box filters (rows, then columns).

    The 2d box is separable, ``box(K) outer box(K)``, so filtering rows and then columns and
    keeping every ``s``-th row and column equals ``avg_pool2d(x, K, s)``.

    >>> avg_pool2d_by_convolution(np.arange(16.0).reshape(4, 4), 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2d array, got shape {x.shape}")
    rows = np.stack([avg_pool_as_convolution(r, kernel_size, stride) for r in x])
    return np.stack([avg_pool_as_convolution(c, kernel_size, stride) for c in rows.T]).T


def alias_frequency(omega: object, stride: int) -> np.ndarray:
    r"""Where a sinusoid of frequency ``omega`` lands after keeping every ``s``-th sample.

    ``cos(omega n)`` sampled at ``n = s m`` is ``cos(s omega m)``; a frequency is only defined
    modulo :math:`2\pi` and up to its sign, so the output frequency (radians per *output*
    sample) is ``s*omega`` folded into ``[0, pi]``. Frequencies below ``pi/s`` just scale;
    the others alias.

    Args:
        omega: input frequencies in radians per input sample (any shape).
        stride: the subsampling factor ``s``.

    >>> omega = np.pi * np.array([0.1, 0.4, 0.6, 0.9])
    >>> (alias_frequency(omega, 2) / np.pi).round(3)
    array([0.2, 0.8, 0.8, 0.2])
    """
    s = _check_int(stride, "stride")
    w = np.mod(s * np.asarray(omega, dtype=float), 2 * np.pi)
    return np.where(w > np.pi, 2 * np.pi - w, w)


def dtft(x: object, omega: object) -> np.ndarray:
    r"""``X(omega) = sum_n x[n] exp(-i omega n)`` of a finite signal, at the given frequencies.

    ``dtft(y, np.pi)`` is the alternating sum ``y[0] - y[1] + y[2] - ...``, the DFT component
    at :math:`\pi` when ``len(y)`` is even.

    >>> complex(dtft([3.0, 2.0, 3.0, 2.0], np.pi)).real
    2.0
    """
    x = _signal(x)
    w = np.asarray(omega, dtype=float)
    n = np.arange(len(x))
    return np.exp(-1j * np.multiply.outer(w, n)) @ x


def amplitude_spectrum(x: object, n_fft: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """``(omega, amplitude)``: the Hann-windowed spectrum of ``x`` on ``[0, pi]``.

    Scaled so that a sinusoid of amplitude ``a`` shows a peak of height about ``a``; the mean
    is removed first and reported alone at ``omega = 0`` (its absolute value), so the DC
    term does not leak into the low frequencies. The window keeps a sinusoid's leakage low.
    """
    x = _signal(x)
    window = np.hanning(len(x)) if len(x) > 1 else np.ones(1)
    mean = x.mean()
    spectrum = 2 * np.abs(np.fft.rfft((x - mean) * window, n_fft)) / window.sum()
    spectrum[0] = abs(mean)
    return np.linspace(0, np.pi, len(spectrum)), spectrum


# --- max pooling = dilation + subsampling -----------------------------------------------------

def _signal_and_size(x: object, size: object) -> tuple[np.ndarray, int]:
    """``x`` as a 1-d signal and ``size`` as a structuring element that fits in it."""
    x = _signal(x)
    k = _check_int(size, "size")
    if k > len(x):
        raise ValueError(f"size must be at most len(x) = {len(x)}, got {k}")
    return x, k


def grey_dilation1d(x: object, size: int) -> np.ndarray:
    """Grey-scale dilation by a flat structuring element of ``size`` samples, where it fits.

    ``out[n] = max(x[n], ..., x[n + size - 1])`` for the ``len(x) - size + 1`` positions
    where the element lies inside the signal. It is ``scipy.ndimage.grey_dilation(x, size)``
    without the border (scipy centres the element: its ``n`` is this ``n + (size - 1) // 2``).

    >>> grey_dilation1d(np.array([0.0, 3.0, 1.0, 0.0, 2.0]), 2)
    array([3., 3., 1., 2.])
    """
    x, k = _signal_and_size(x, size)
    return np.lib.stride_tricks.sliding_window_view(x, k).max(axis=-1)


def grey_dilation1d_loop(x: object, size: int) -> np.ndarray:
    """The loop reference of :func:`grey_dilation1d`.

    >>> grey_dilation1d_loop(np.array([0.0, 3.0, 1.0, 0.0, 2.0]), 2)
    array([3., 3., 1., 2.])
    """
    x, k = _signal_and_size(x, size)
    out = []
    for n in range(len(x) - k + 1):
        best = x[n]
        for j in range(1, k):
            best = max(best, x[n + j])
        out.append(best)
    return np.array(out)


def grey_erosion1d(x: object, size: int) -> np.ndarray:
    """Grey-scale erosion by a flat element: the dual of dilation, ``-dilation(-x)`` = min pool.

    >>> grey_erosion1d(np.array([0.0, 3.0, 1.0, 0.0, 2.0]), 2)
    array([0., 1., 0., 0.])
    """
    return -grey_dilation1d(-_signal(x), size)


def max_pool_via_dilation(x: object, kernel_size: int, stride: int | None = None
                           ) -> np.ndarray:
    """Max pooling of a 1d signal as a flat dilation, then every ``s``-th sample.

    Equal to ``torch.nn.functional.max_pool1d(x[None], kernel_size, stride)[0]`` (no padding).

    >>> x = np.array([3.0, 1.0, 2.0, 2.0, 3.0, 1.0, 2.0, 2.0])
    >>> max_pool_via_dilation(x, 2)
    array([3., 2., 3., 2.])
    """
    x = _signal(x)
    k = _check_int(kernel_size, "kernel_size")
    s = k if stride is None else _check_int(stride, "stride")
    pool_output_size(len(x), k, s)
    return grey_dilation1d(x, k)[::s]
