"""Chapter 6, beyond max and average: pooling variants, pooling outside images, and choosing.

The operations torch does not have, written from scratch in NumPy on top of
:mod:`pooling_course.functional` (which has max, average, Lp, unpooling and fractional max
pooling):

* :func:`stochastic_pool2d` (Zeiler & Fergus, 2013): training samples one element per window
  with probability proportional to it; test time takes the probability-weighted average.
* :func:`mixed_pool2d` and :func:`gated_pool2d` (Lee, Gallagher & Tu, 2016): a fixed or learned
  blend of max and average; :func:`min_pool2d`.
* :func:`softmax_pool2d` and :func:`attention_pool`: softmax-weighted pooling whose
  temperature moves it between average (``T -> inf``) and max (``T -> 0``).
* :func:`max_over_time`: the 1-d global max pooling of text CNNs (Collobert et al., 2011;
  Kim, 2014), with padded positions masked out; :func:`motif_scan` scans DNA with a position
  weight matrix (Stormo, 2000), the layer global max pooling follows in DeepBind.
* :func:`architecture_layers`: the windowed layers of AlexNet, VGG-16 and ResNet-50 for
  :func:`pooling_course.forward.receptive_fields`.

Each vectorised kernel has a loop reference (``*_loop``) beside it or is a composition of
:mod:`~pooling_course.functional` calls, and each ``*_backward`` returns the gradient that
autograd would compute for the same expression written in torch. The figure functions at the
end are the chapter's interactive figures (see :mod:`pooling_course.widgets`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import numpy as np

from . import functional as PF
from ._args import ntuple
from .forward import Layer, pool_output_shape

IntOrTuple = int | Sequence[int]

__all__ = [
    "stochastic_pool2d", "stochastic_pool2d_loop", "stochastic_pool2d_backward",
    "mixed_pool2d", "mixed_pool2d_backward", "gated_pool2d", "min_pool2d",
    "softmax_pool2d", "pool2d_loop", "attention_pool", "attention_pool_backward",
    "max_over_time", "max_over_time_backward",
    "one_hot_dna", "pwm_log_odds", "motif_scan", "random_dna", "plant",
    "text_corpus", "architecture_layers", "PUBLISHED_RECEPTIVE_FIELDS",
    "stochastic_frequencies_figure", "lp_window_figure", "lp_window_compare",
]


# --- shared: non-overlapping or overlapping windows without padding ----------------------

def _planes(input: np.ndarray, op: str, *, non_negative: bool = False) -> np.ndarray:
    if not isinstance(input, np.ndarray):
        raise TypeError(f"{op}: input must be a numpy.ndarray, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a float array, got dtype {input.dtype}")
    if input.ndim not in (3, 4) or 0 in input.shape[-3:]:
        raise ValueError(f"{op}: input must have shape (N, C, H, W) or (C, H, W) with non-zero "
                         f"C, H, W, got {input.shape}")
    if non_negative and not (input >= 0).all():
        raise ValueError(f"{op}: input must be non-negative and free of NaN (the window's "
                         f"values are its sampling weights); apply a ReLU first")
    return input.reshape(-1, *input.shape[-2:])


def _windows(planes: np.ndarray, kernel_size: IntOrTuple,
             stride: IntOrTuple | None) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """``(B, H_out, W_out, kH * kW)`` view of every window (no padding), with k and s."""
    k = ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None else ntuple(stride, 2, "stride")
    out_h, out_w = pool_output_shape(planes.shape[-2:], k, s)
    view = np.lib.stride_tricks.sliding_window_view(planes, k, axis=(1, 2))
    view = view[:, ::s[0], ::s[1]][:, :out_h, :out_w]
    return view.reshape(*view.shape[:3], k[0] * k[1]), k, s


def _scatter_windows(per_cell: np.ndarray, plane_shape: tuple[int, ...], k: tuple[int, int],
                     s: tuple[int, int]) -> np.ndarray:
    """Add ``per_cell`` ``(B, H_out, W_out, kH * kW)`` back onto the input cells it came
    from: the adjoint of :func:`_windows` (overlapping windows add up)."""
    batch, out_h, out_w, _ = per_cell.shape
    grad = np.zeros(plane_shape, dtype=per_cell.dtype)
    cells = per_cell.reshape(batch, out_h, out_w, k[0], k[1])
    for a in range(k[0]):
        for b in range(k[1]):
            grad[:, a:a + s[0] * (out_h - 1) + 1:s[0],
                 b:b + s[1] * (out_w - 1) + 1:s[1]] += cells[..., a, b]
    return grad


def pool2d_loop(input: np.ndarray, kernel_size: IntOrTuple, stride: IntOrTuple | None,
                reduce: Callable[[np.ndarray], float]) -> np.ndarray:
    """Any pooling with plain loops: ``reduce`` maps each window's values (a 1-d array in
    row-major order) to one number. The loop reference of :func:`gated_pool2d` and
    :func:`softmax_pool2d` (no padding).

    Shape: ``(N, C, H, W)`` or ``(C, H, W)`` in, ``(..., H_out, W_out)`` out.

    >>> pool2d_loop(np.arange(16.0).reshape(1, 4, 4), 2, 2, np.median)
    array([[[ 2.5,  4.5],
            [10.5, 12.5]]])
    """
    planes = _planes(input, "pool2d_loop")
    k = ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None else ntuple(stride, 2, "stride")
    out_h, out_w = pool_output_shape(planes.shape[-2:], k, s)
    out = np.empty((planes.shape[0], out_h, out_w), dtype=input.dtype)
    for c, plane in enumerate(planes):
        for i in range(out_h):
            for j in range(out_w):
                out[c, i, j] = reduce(plane[i * s[0]:i * s[0] + k[0],
                                            j * s[1]:j * s[1] + k[1]].ravel())
    return out.reshape(*input.shape[:-2], out_h, out_w)


def _flat_position(choice: np.ndarray, width: int, k: tuple[int, int],
                   s: tuple[int, int]) -> np.ndarray:
    """Row-major position ``h * W + w`` in the plane of window element ``choice``."""
    _, out_h, out_w = choice.shape
    rows = np.arange(out_h)[:, None] * s[0] + choice // k[1]
    cols = np.arange(out_w)[None, :] * s[1] + choice % k[1]
    return (rows * width + cols).astype(np.int64)


# --- stochastic pooling ----------------------------------------------------------------------

def stochastic_pool2d(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    training: bool = True,
    generator: np.random.Generator | None = None,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    r"""2d stochastic pooling (Zeiler & Fergus, 2013).

    In a window with non-negative values :math:`a_1, \dots, a_n` and sum :math:`S`, element
    :math:`i` has probability :math:`p_i = a_i / S`.

    * ``training=True``: one element is drawn per window with probabilities :math:`p_i`.
      The draw is inverse-CDF sampling: ``u = generator.random((N * C, H_out, W_out))`` is
      drawn once, and each window picks the first element, in row-major order, whose
      cumulative sum exceeds ``u * S``. The same generator state gives the same picks.
    * ``training=False``: the expected value, :math:`\sum_i p_i a_i = \sum_i a_i^2 / S`.

    A window of zeros gives 0 (and, in training, its first element).

    Args:
        input: ``(N, C, H, W)`` or ``(C, H, W)``, float, non-negative (after a ReLU).
        kernel_size: an int or ``(kH, kW)``.
        stride: an int or ``(sH, sW)``. Default: ``kernel_size``. No padding.
        training: sample (True) or take the expectation (False).
        generator: NumPy generator for the draws. Default: a fresh, unseeded one.
        return_indices: also return the int64 position ``h * W + w`` of each picked element
            (training only).

    Shape: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, sizes from
    :func:`~pooling_course.forward.pool_output_shape` with ``padding=0``.

    >>> x = np.array([[[1.0, 3.0], [0.0, 0.0]]])
    >>> stochastic_pool2d(x, 2, training=False)  # (1 + 9) / 4
    array([[[2.5]]])
    >>> stochastic_pool2d(x, 2, generator=np.random.default_rng(0), return_indices=True)
    (array([[[3.]]]), array([[[1]]]))
    """
    planes = _planes(input, "stochastic_pool2d", non_negative=True)
    view, k, s = _windows(planes, kernel_size, stride)
    lead = input.shape[:-2]
    if not training:
        if return_indices:
            raise ValueError("stochastic_pool2d: return_indices needs training=True (test "
                             "time picks no element)")
        total = view.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(total > 0, (view * view).sum(axis=-1) / total, 0)
        return out.astype(input.dtype).reshape(*lead, *out.shape[1:])
    generator = np.random.default_rng() if generator is None else generator
    u = generator.random(view.shape[:3]).astype(input.dtype)
    cumulative = np.cumsum(view, axis=-1)
    total = cumulative[..., -1]
    hit = cumulative > (u * total)[..., None]
    # u * S can round up to S itself: then the last positive element is the one drawn.
    last_positive = view.shape[-1] - 1 - np.argmax(view[..., ::-1] > 0, axis=-1)
    choice = np.where(hit.any(axis=-1), hit.argmax(axis=-1),
                      np.where(total > 0, last_positive, 0))
    out = np.take_along_axis(view, choice[..., None], axis=-1)[..., 0]
    out = out.reshape(*lead, *out.shape[1:])
    if not return_indices:
        return out
    index = _flat_position(choice, planes.shape[-1], k, s)
    return out, index.reshape(*lead, *index.shape[1:])


def stochastic_pool2d_loop(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    training: bool = True,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    """:func:`stochastic_pool2d` with plain loops: the reference the kernel is tested against.

    >>> stochastic_pool2d_loop(np.array([[[1.0, 3.0], [0.0, 0.0]]]), 2, training=False)
    array([[[2.5]]])
    """
    planes = _planes(input, "stochastic_pool2d_loop", non_negative=True)
    k = ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None else ntuple(stride, 2, "stride")
    out_h, out_w = pool_output_shape(planes.shape[-2:], k, s)
    if training:
        generator = np.random.default_rng() if generator is None else generator
        u = generator.random((planes.shape[0], out_h, out_w)).astype(input.dtype)
    out = np.zeros((planes.shape[0], out_h, out_w), dtype=input.dtype)
    for c, plane in enumerate(planes):
        for i in range(out_h):
            for j in range(out_w):
                window = plane[i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].ravel()
                total = np.cumsum(window)[-1]
                if total == 0:
                    continue  # a window of zeros pools to 0
                if not training:
                    out[c, i, j] = (window * window).sum() / total
                    continue
                running, threshold = window.dtype.type(0), u[c, i, j] * total
                picked = window[window > 0][-1]
                for value in window:
                    running += value
                    if running > threshold:
                        picked = value
                        break
                out[c, i, j] = picked
    return out.reshape(*input.shape[:-2], out_h, out_w)


def stochastic_pool2d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    training: bool = True,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    r"""Gradient of :func:`stochastic_pool2d` with respect to ``input``.

    Training: the picked element passes the gradient on, as in max pooling; pass the
    ``indices`` the forward pass returned. Test time: the output
    :math:`y = \sum_i a_i^2 / S` has :math:`\partial y / \partial a_j = (2 a_j - y) / S`
    (0 for a window of zeros). Overlapping windows add up.

    >>> x = np.array([[[1.0, 3.0], [0.0, 0.0]]])
    >>> stochastic_pool2d_backward(np.ones((1, 1, 1)), x, 2, training=False)
    array([[[-0.125,  0.875],
            [-0.625, -0.625]]])
    """
    op = "stochastic_pool2d_backward"
    planes = _planes(input, op, non_negative=True)
    view, k, s = _windows(planes, kernel_size, stride)
    expected = (*input.shape[:-2], *view.shape[1:3])
    if not isinstance(grad_output, np.ndarray) or grad_output.shape != expected:
        raise ValueError(f"{op}: grad_output must be an array of the output's shape {expected}, "
                         f"got {getattr(grad_output, 'shape', type(grad_output).__name__)}")
    g = grad_output.reshape(-1, *view.shape[1:3]).astype(input.dtype)
    if training:
        if not isinstance(indices, np.ndarray) or indices.shape != expected:
            raise ValueError(f"{op}: training=True needs the forward pass's indices, an array "
                             f"of shape {expected}")
        grad = np.zeros_like(planes)
        flat = grad.reshape(planes.shape[0], -1)
        rows = np.arange(planes.shape[0])[:, None]
        np.add.at(flat, (rows, indices.reshape(planes.shape[0], -1)), g.reshape(len(g), -1))
        return grad.reshape(input.shape)
    total = view.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = (view * view).sum(axis=-1) / total
        local = np.where(total[..., None] > 0, (2 * view - y[..., None]) / total[..., None], 0)
    grad = _scatter_windows(local * g[..., None], planes.shape, k, s)
    return grad.astype(input.dtype).reshape(input.shape)


# --- mixed, gated and min pooling ------------------------------------------------------------

def _check_alpha(alpha: float) -> float:
    if not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def mixed_pool2d(input: np.ndarray, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                 alpha: float = 0.5) -> np.ndarray:
    r"""Mixed max-average pooling (Lee, Gallagher & Tu, 2016):
    :math:`\alpha \max + (1 - \alpha)\,\mathrm{mean}` over each window.

    ``alpha=1`` is :func:`~pooling_course.functional.max_pool2d`, ``alpha=0``
    :func:`~pooling_course.functional.avg_pool2d` (no padding).

    >>> mixed_pool2d(np.array([[[0.0, 4.0], [0.0, 0.0]]]), 2, alpha=0.25)
    array([[[1.75]]])
    """
    alpha = _check_alpha(alpha)
    _planes(input, "mixed_pool2d")
    return (alpha * PF.max_pool2d(input, kernel_size, stride)
            + (1 - alpha) * PF.avg_pool2d(input, kernel_size, stride)).astype(input.dtype)


def mixed_pool2d_backward(grad_output: np.ndarray, input: np.ndarray, kernel_size: IntOrTuple,
                          stride: IntOrTuple | None = None, alpha: float = 0.5) -> np.ndarray:
    """Gradient of :func:`mixed_pool2d`: ``alpha`` times max pooling's plus ``1 - alpha`` times
    average pooling's.

    >>> mixed_pool2d_backward(np.ones((1, 1, 1)), np.array([[[0.0, 4.0], [0.0, 0.0]]]), 2)
    array([[[0.125, 0.625],
            [0.125, 0.125]]])
    """
    alpha = _check_alpha(alpha)
    return (alpha * PF.max_pool2d_backward(grad_output, input, kernel_size, stride)
            + (1 - alpha) * PF.avg_pool2d_backward(grad_output, input, kernel_size, stride)
            ).astype(input.dtype)


def gated_pool2d(input: np.ndarray, gate: np.ndarray, kernel_size: IntOrTuple,
                 stride: IntOrTuple | None = None) -> np.ndarray:
    r"""Gated max-average pooling (Lee, Gallagher & Tu, 2016): each window's own blend.

    With the window's values :math:`x` (row-major) and the learned gating mask :math:`\omega`
    of the window's size, :math:`g = \sigma(\omega^\top x)` and the output is
    :math:`g \max(x) + (1 - g)\,\mathrm{mean}(x)`. One mask is shared by every channel and
    window (the paper's "one per layer" variant).

    Args:
        input: ``(N, C, H, W)`` or ``(C, H, W)``, float.
        gate: ``(kH, kW)`` gating mask.
        kernel_size, stride: as :func:`mixed_pool2d`.

    >>> gated_pool2d(np.array([[[0.0, 4.0], [0.0, 0.0]]]), np.zeros((2, 2)), 2)  # g = 1/2
    array([[[2.5]]])
    """
    planes = _planes(input, "gated_pool2d")
    view, k, _ = _windows(planes, kernel_size, stride)
    gate = np.asarray(gate, dtype=input.dtype)
    if gate.shape != k:
        raise ValueError(f"gate must have the window's shape {k}, got {gate.shape}")
    g = 1 / (1 + np.exp(-(view @ gate.ravel())))
    out = g * view.max(axis=-1) + (1 - g) * view.mean(axis=-1)
    return out.astype(input.dtype).reshape(*input.shape[:-2], *out.shape[1:])


def min_pool2d(input: np.ndarray, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0) -> np.ndarray:
    """Min pooling: ``-max_pool2d(-input)``, so padding never wins (it acts as ``+inf``).

    >>> min_pool2d(np.array([[[3.0, 1.0], [2.0, 5.0]]]), 2)
    array([[[1.]]])
    """
    _planes(input, "min_pool2d")
    return -PF.max_pool2d(-input, kernel_size, stride, padding)


# --- softmax and attention pooling -----------------------------------------------------------

def _check_temperature(temperature: float) -> float:
    if not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return float(temperature)


def _softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = scores - scores.max(axis=axis, keepdims=True)  # exp never overflows
    weights = np.exp(shifted)
    return weights / weights.sum(axis=axis, keepdims=True)


def softmax_pool2d(input: np.ndarray, kernel_size: IntOrTuple,
                   stride: IntOrTuple | None = None, temperature: float = 1.0) -> np.ndarray:
    r"""Softmax pooling: each window's values weighted by their own softmax,
    :math:`\sum_i a_i\, e^{a_i / T} / \sum_j e^{a_j / T}`.

    ``T -> 0`` gives the window's maximum, ``T -> inf`` its mean (the weights become equal).

    >>> softmax_pool2d(np.array([[[0.0, 1.0], [2.0, 3.0]]]), 2, temperature=1e6).round(4)
    array([[[1.5]]])
    >>> softmax_pool2d(np.array([[[0.0, 1.0], [2.0, 3.0]]]), 2, temperature=1e-3)
    array([[[3.]]])
    """
    temperature = _check_temperature(temperature)
    planes = _planes(input, "softmax_pool2d")
    view, _, _ = _windows(planes, kernel_size, stride)
    out = (_softmax(view / temperature) * view).sum(axis=-1)
    return out.astype(input.dtype).reshape(*input.shape[:-2], *out.shape[1:])


def _attention_args(x: np.ndarray, w: np.ndarray, temperature: float,
                    op: str) -> tuple[np.ndarray, np.ndarray, float]:
    if not isinstance(x, np.ndarray) or x.ndim < 2 or x.dtype.kind != "f":
        raise ValueError(f"{op}: x must be a float array of shape (..., n, d), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    w = np.asarray(w, dtype=x.dtype)
    if w.shape != x.shape[-1:]:
        raise ValueError(f"{op}: w must have shape (d,) = {x.shape[-1:]}, got {w.shape}")
    return x, w, _check_temperature(temperature)


def attention_pool(x: np.ndarray, w: np.ndarray,
                   temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Global attention pooling of a set of ``n`` vectors (Ilse et al., 2018).

    Scores :math:`s_i = x_i^\top w / T`, weights :math:`a = \mathrm{softmax}(s)` over the set,
    output :math:`\sum_i a_i x_i`. The weights do not depend on the order of the set, and
    ``T`` moves the output from the set's mean (``T -> inf``) to the vector with the highest
    score (``T -> 0``). Ilse et al. score ``tanh(V x_i)`` instead of ``x_i``; this is the
    simplest form.

    Args:
        x: ``(..., n, d)`` float: ``n`` vectors of ``d`` features (per leading index).
        w: ``(d,)`` learned scoring vector.
        temperature: ``T > 0``. Default: 1.

    Returns:
        ``(out, weights)``: ``(..., d)`` and ``(..., n)``.

    >>> out, a = attention_pool(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.0, 0.0]))
    >>> out, a
    (array([0.5, 0.5]), array([0.5, 0.5]))
    """
    x, w, temperature = _attention_args(x, w, temperature, "attention_pool")
    weights = _softmax(x @ w / temperature)
    return (weights[..., None] * x).sum(axis=-2), weights


def attention_pool_backward(grad_output: np.ndarray, x: np.ndarray, w: np.ndarray,
                            temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Gradients of :func:`attention_pool`'s output with respect to ``x`` and ``w``.

    With :math:`g` the incoming gradient and :math:`c_i = g^\top x_i`, the scores receive
    :math:`\delta_i = a_i (c_i - \sum_j a_j c_j)` (the softmax's Jacobian), so

    .. math::

        \frac{\partial L}{\partial x_i} = a_i\, g + \frac{\delta_i}{T}\, w, \qquad
        \frac{\partial L}{\partial w} = \sum_i \frac{\delta_i}{T}\, x_i .

    ``grad_w`` is summed over any leading dimensions of ``x`` (``w`` is shared).

    >>> gx, gw = attention_pool_backward(np.array([1.0, 0.0]),
    ...                                  np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2))
    >>> gx, gw
    (array([[0.5, 0. ],
           [0.5, 0. ]]), array([ 0.25, -0.25]))
    """
    x, w, temperature = _attention_args(x, w, temperature, "attention_pool_backward")
    g = np.asarray(grad_output, dtype=x.dtype)
    if g.shape != x.shape[:-2] + x.shape[-1:]:
        raise ValueError(f"attention_pool_backward: grad_output must have the output's shape "
                         f"{x.shape[:-2] + x.shape[-1:]}, got {g.shape}")
    a = _softmax(x @ w / temperature)
    c = (x * g[..., None, :]).sum(axis=-1)
    delta = a * (c - (a * c).sum(axis=-1, keepdims=True)) / temperature
    grad_x = a[..., None] * g[..., None, :] + delta[..., None] * w
    grad_w = (delta[..., None] * x).reshape(-1, x.shape[-1]).sum(axis=0)
    return grad_x, grad_w


# --- max over time (text) --------------------------------------------------------------------

def _time_args(input: np.ndarray, lengths: Sequence[int] | np.ndarray | None,
               op: str) -> np.ndarray:
    if not isinstance(input, np.ndarray) or input.ndim != 3 or 0 in input.shape:
        raise ValueError(f"{op}: input must be an (N, C, L) array with non-zero sizes, got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    if lengths is None:
        return np.full(input.shape[0], input.shape[-1])
    lengths = np.asarray(lengths)
    if lengths.shape != input.shape[:1] or lengths.dtype.kind not in "iu" or (
            (lengths < 1) | (lengths > input.shape[-1])).any():
        raise ValueError(f"{op}: lengths must be {input.shape[0]} ints in [1, "
                         f"{input.shape[-1]}], got {lengths!r}")
    return lengths


def max_over_time(input: np.ndarray, lengths: Sequence[int] | np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Max-over-time pooling: each feature's largest value along the sequence (Kim, 2014).

    Sequence ``n`` is real up to ``lengths[n]`` and padding after it; padding never wins.
    With every length equal to ``L`` this is
    ``torch.nn.functional.max_pool1d(input, L, return_indices=True)`` squeezed, and follows
    its rules (first of ties, NaN wins).

    Args:
        input: ``(N, C, L)`` float: ``C`` feature maps along ``L`` positions.
        lengths: ``N`` ints in ``[1, L]``. Default: every sequence has length ``L``.

    Returns:
        ``(values, positions)``, both ``(N, C)``; positions are int64 in ``[0, lengths[n])``.

    >>> max_over_time(np.array([[[1.0, 5.0, 9.0]]]), lengths=[2])
    (array([[5.]]), array([[1]]))
    """
    lengths = _time_args(input, lengths, "max_over_time")
    padding = np.arange(input.shape[-1]) >= lengths[:, None, None]
    masked = np.where(padding, -np.inf, input).astype(input.dtype)
    values, positions = PF.max_pool1d(masked, input.shape[-1], return_indices=True)
    return values[..., 0], positions[..., 0]


def max_over_time_backward(grad_output: np.ndarray, positions: np.ndarray,
                           length: int) -> np.ndarray:
    """Gradient of :func:`max_over_time`: each feature's gradient goes to the position that
    won; every other position of the ``(N, C, length)`` input gets 0.

    >>> max_over_time_backward(np.array([[2.0]]), np.array([[1]]), 3)
    array([[[0., 2., 0.]]])
    """
    grad_output, positions = np.asarray(grad_output), np.asarray(positions)
    if grad_output.ndim != 2 or positions.shape != grad_output.shape:
        raise ValueError(f"grad_output and positions must both be (N, C), got "
                         f"{grad_output.shape} and {positions.shape}")
    grad = np.zeros((*grad_output.shape, length), dtype=grad_output.dtype)
    np.put_along_axis(grad, positions[..., None], grad_output[..., None], axis=-1)
    return grad


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

    >>> motif_scan(one_hot_dna("AAC"), np.array([[1.0, 0], [0, 0], [0, 0], [0, 2]]))
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

    from .figures import WINDOW, style

    x = np.broadcast_to(SAMPLED_WINDOW, (samples, *SAMPLED_WINDOW.shape)).copy()
    out, idx = stochastic_pool2d(x, 2, generator=np.random.default_rng(0), return_indices=True)
    freq = np.bincount(idx.ravel(), minlength=4) / samples
    prob = SAMPLED_WINDOW.ravel() / SAMPLED_WINDOW.sum()
    expected = float(stochastic_pool2d(SAMPLED_WINDOW[None], 2, training=False)[0, 0, 0])
    with style():
        fig, (left, right) = plt.subplots(1, 2, figsize=(6.8, 2.8))
        pos = np.arange(4)
        left.bar(pos - 0.2, prob, 0.4, color="#bbbbbb", label="probability $a_i/S$")
        left.bar(pos + 0.2, freq, 0.4, color=WINDOW, label=f"frequency, {samples} draws")
        left.set_xticks(pos, [f"a={v:g}" for v in SAMPLED_WINDOW.ravel()])
        left.set_ylim(0, 0.7)
        left.legend(fontsize=8, loc="upper left")
        left.set_title("which element is picked")
        running = np.cumsum(out.ravel()) / np.arange(1, samples + 1)
        right.plot(np.arange(1, samples + 1), running, color=WINDOW, label="mean of draws")
        right.axhline(expected, color="#555555", ls="--", label=f"test time {expected:.4g}")
        right.set_xscale("log")
        right.set_xlim(1, 10_000)
        right.set_ylim(0, 3.2)
        right.set_xlabel("draws")
        right.legend(fontsize=8, loc="lower right")
        right.set_title(f"mean after {samples}: {running[-1]:.3f}")
        fig.tight_layout()
    return fig


def lp_window_figure(p: float) -> object:
    """Lp pooling of :data:`LP_WINDOW` for ``p``, on the line from the window's mean (its
    sum at p = 1 divided by its size) to its maximum (p = inf)."""
    import matplotlib.pyplot as plt

    from .figures import WINDOW, style

    value = float(PF.lp_pool1d(LP_WINDOW[None], p, LP_WINDOW.size)[0, 0])
    ps = np.geomspace(1, 64, 200)
    curve = [float(PF.lp_pool1d(LP_WINDOW[None], q, LP_WINDOW.size)[0, 0]) for q in ps]
    with style():
        fig, ax = plt.subplots(figsize=(6.8, 2.6))
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
        ax.legend(fontsize=8, loc="lower left", ncol=2)
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
