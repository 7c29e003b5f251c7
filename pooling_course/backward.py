"""Chapter 4, the backward pass: where pooling sends the gradient.

The vectorised kernels are ``pooling_course.functional``'s ``*_backward`` functions. This module
holds what the chapter reads and measures beside them:

* :func:`max_pool2d_backward_loop` and :func:`avg_pool2d_backward_loop`, the backward passes
  written window by window from their derivation (the local derivative of one window, times
  the gradient that arrives at its output);
* :func:`numerical_gradient`, a central-difference gradient checker;
* :func:`gradient_counts` and :func:`window_counts`, how many windows route gradient to each
  input element;
* :func:`routing_figure` and :func:`routing_comparison`, the chapter's interactive figure;
* :func:`~pooling_course.backward_digits.train_digits`, the learning-dynamics experiment
  (:mod:`pooling_course.backward_digits`; torch, imported when called).

>>> x = np.array([[[1.0, 4.0], [4.0, 2.0]]])
>>> max_pool2d_backward_loop(np.ones((1, 1, 1)), x, 2)
array([[[0., 1.],
        [0., 0.]]])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import functional as PF
from . import widgets
from .backward_digits import POOLINGS, DigitsRun, digits_cnn, train_digits  # noqa: F401
from .functional._core import IntOrTuple, loop_planes2d, window_cells

__all__ = [
    "max_pool2d_backward_loop", "avg_pool2d_backward_loop", "numerical_gradient",
    "gradient_counts", "window_counts", "PRESETS", "KERNEL_SIZE", "routing_figure",
    "routing_comparison", "DigitsRun", "train_digits", "POOLINGS",
]


def _grad_planes(grad_output: np.ndarray, planes: int, out_hw: tuple[int, int]) -> np.ndarray:
    grad = np.asarray(grad_output)
    if grad.size != planes * out_hw[0] * out_hw[1]:
        raise ValueError(f"grad_output must have the pooled output's shape (.., {out_hw[0]}, "
                         f"{out_hw[1]}) over {planes} planes, got {grad.shape}")
    return grad.reshape(planes, *out_hw)


def max_pool2d_backward_loop(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Gradient of ``max_pool2d`` with respect to ``input``, one window at a time.

    A window's output is one of its elements, so its derivative is 1 for that element and 0
    for the others: the window's ``grad_output`` goes whole to its winner. The winner is the
    first maximum in row-major window order, or the last NaN if the window holds one; padding
    is never a candidate. An element that wins several windows collects the sum. A window with
    no real element (within PyTorch's padding cap, possible only with dilation > 1) has nowhere
    to send its gradient and is skipped.

    Args:
        grad_output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, the gradient of the
            loss with respect to the pooled output.
        input: ``(N, C, H, W)`` or ``(C, H, W)``, the input of the forward pass.
        kernel_size, stride, padding, dilation, ceil_mode: as
            :func:`pooling_course.functional.max_pool2d`.

    Shape:
        The input's.

    >>> x = np.arange(9.0).reshape(1, 3, 3)
    >>> max_pool2d_backward_loop(np.ones((1, 2, 2)), x, 2, 1)
    array([[[0., 0., 0.],
            [0., 1., 1.],
            [0., 1., 1.]]])
    """
    planes, out_hw, (k, s, p, d) = loop_planes2d(input, kernel_size, stride, padding, dilation,
                                            ceil_mode)
    height, width = planes.shape[-2:]
    grads = _grad_planes(grad_output, planes.shape[0], out_hw)
    grad_input = np.zeros(planes.shape, dtype=np.result_type(planes.dtype, np.float32))
    for c, plane in enumerate(planes):
        for i in range(out_hw[0]):
            for j in range(out_hw[1]):
                winner, best = None, -np.inf
                for h, w in window_cells(i, j, k, s, p, d, height, width):
                    if winner is None or plane[h, w] > best or np.isnan(plane[h, w]):
                        winner, best = (h, w), plane[h, w]
                if winner is not None:
                    grad_input[c][winner] += grads[c, i, j]
    return grad_input.reshape(np.shape(input))


def avg_pool2d_backward_loop(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Gradient of ``avg_pool2d`` with respect to ``input``, one window at a time.

    A window's output is ``sum / divisor``, so each real element of the window receives
    ``grad_output / divisor``. The divisor ``|window|`` is ``divisor_override`` if given; else,
    with ``count_include_pad=True``, the window's area clipped to the padded input (padding
    counts, but a ``ceil_mode`` window's part beyond the padding does not); else the number of
    real elements. Padding cells are not part of the input, so the share they are counted for
    is lost.

    Args:
        grad_output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``.
        input: ``(N, C, H, W)`` or ``(C, H, W)``; only its shape is used.
        kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override: as
            :func:`pooling_course.functional.avg_pool2d`.

    Shape:
        The input's.

    >>> avg_pool2d_backward_loop(np.ones((1, 1, 1)), np.zeros((1, 2, 2)), 2)
    array([[[0.25, 0.25],
            [0.25, 0.25]]])
    """
    if divisor_override is not None and (isinstance(divisor_override, bool)
                                         or not isinstance(divisor_override, int | np.integer)
                                         or divisor_override == 0):
        raise ValueError(f"divisor_override must be a non-zero int or None, got "
                         f"{divisor_override!r}")
    planes, out_hw, (k, s, p, d) = loop_planes2d(input, kernel_size, stride, padding, 1, ceil_mode)
    height, width = planes.shape[-2:]
    grads = _grad_planes(grad_output, planes.shape[0], out_hw)
    grad_input = np.zeros(planes.shape, dtype=np.result_type(planes.dtype, np.float32))
    for c in range(planes.shape[0]):
        for i in range(out_hw[0]):
            for j in range(out_hw[1]):
                cells = window_cells(i, j, k, s, p, d, height, width)
                top, left = i * s[0] - p[0], j * s[1] - p[1]
                if divisor_override is not None:
                    divisor = divisor_override
                elif count_include_pad:
                    divisor = ((min(top + k[0], height + p[0]) - top)
                               * (min(left + k[1], width + p[1]) - left))
                else:
                    divisor = len(cells)
                for h, w in cells:
                    grad_input[c, h, w] += grads[c, i, j] / divisor
    return grad_input.reshape(np.shape(input))


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    grad_output: np.ndarray | None = None,
    eps: float = 1e-6,
) -> np.ndarray:
    """Central-difference estimate of the gradient of ``L(x) = sum(grad_output * f(x))``.

    Each element of ``x`` in turn is moved by ``+eps`` and ``-eps`` (in float64) and
    ``(L(x + eps) - L(x - eps)) / (2 eps)`` is its estimate. The error is of order ``eps**2``
    where ``f`` is smooth, plus the rounding error of ``L`` divided by ``eps``; where ``f`` is
    not differentiable (a max at a tie) the estimate is an average of the one-sided slopes.

    Args:
        f: the function, array in, array out.
        x: the point; any real array.
        grad_output: the weights of ``f(x)`` in the loss, shaped like ``f(x)``. Default: ones.
        eps: the step, a positive float. Default: ``1e-6``.

    Shape:
        ``x``'s.

    >>> numerical_gradient(lambda v: v ** 2, np.array([1.0, 3.0])).round(6)
    array([2., 6.])
    """
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps > 0:
        raise ValueError(f"eps must be a positive float, got {eps!r}")
    x = np.array(x, dtype=np.float64)
    g = None if grad_output is None else np.asarray(grad_output, dtype=np.float64)

    def loss(v: np.ndarray) -> float:
        out = np.asarray(f(v), dtype=np.float64)
        if g is not None and g.shape != out.shape:
            raise ValueError(f"grad_output must have f(x)'s shape {out.shape}, got {g.shape}")
        return float(out.sum() if g is None else (g * out).sum())

    grad = np.zeros_like(x)
    for pos in np.ndindex(*x.shape):
        saved = x[pos]
        x[pos] = saved + eps
        up = loss(x)
        x[pos] = saved - eps
        down = loss(x)
        x[pos] = saved
        grad[pos] = (up - down) / (2 * eps)
    return grad


def gradient_counts(
    input: np.ndarray,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
) -> np.ndarray:
    """How many max-pooling windows each input element wins, so how many gradients it sums.

    It is the max-pool backward of a gradient of 1 at every output.

    Shape:
        The input's, dtype int64.

    >>> x = np.array([[[0.0, 1.0, 0.0], [0.0, 9.0, 0.0]]])
    >>> gradient_counts(x, 2, 1)
    array([[[0, 0, 0],
            [0, 2, 0]]])
    """
    input = np.asarray(input, dtype=np.float64)
    ones = np.ones(PF.max_pool2d(input, kernel_size, stride, padding).shape)
    return PF.max_pool2d_backward(ones, input, kernel_size, stride, padding).astype(np.int64)


def window_counts(
    shape: tuple[int, ...],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
) -> np.ndarray:
    """How many pooling windows hold each element of an input of ``shape`` (``(C, H, W)`` or
    ``(N, C, H, W)``): the average-pool backward of ones with divisor 1.

    >>> window_counts((1, 3, 3), 2, 1)
    array([[[1, 2, 1],
            [2, 4, 2],
            [1, 2, 1]]])
    """
    zeros = np.zeros(shape)
    ones = np.ones(PF.avg_pool2d(zeros, kernel_size, stride, padding).shape)
    return PF.avg_pool2d_backward(ones, zeros, kernel_size, stride, padding,
                                  divisor_override=1).astype(np.int64)


# --- the interactive figure ---------------------------------------------------------------

#: The window size of the interactive figure.
KERNEL_SIZE = 3
#: Inputs of the interactive figure, 6x6 each: the value patterns that decide routing.
PRESETS: dict[str, np.ndarray] = {
    "ramp": np.add.outer(np.arange(6.0), np.arange(6.0)),
    "one peak": np.where(np.add.outer(np.arange(6) * 6, np.arange(6)) == 2 * 6 + 3, 9.0, 1.0),
    "plateau": np.pad(np.full((2, 6), 5.0), ((2, 2), (0, 0))),
    "random": np.random.default_rng(4).integers(0, 10, size=(6, 6)).astype(np.float64),
}
POOLS = ("max", "avg")


def _check_figure_args(preset: str, pool: str, stride: int) -> np.ndarray:
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= 3:
        raise ValueError(f"stride must be 1, 2 or 3, got {stride!r}")
    return PRESETS[preset]


def routed_gradient(preset: str, pool: str, stride: int) -> np.ndarray:
    """The gradient each input of ``PRESETS[preset]`` receives when every output of a
    ``KERNEL_SIZE`` window with this ``stride`` sends back 1 (package kernels).

    >>> routed_gradient("one peak", "max", 1).sum()
    np.float64(16.0)
    """
    x = _check_figure_args(preset, pool, stride)[None]
    if pool == "max":
        ones = np.ones(PF.max_pool2d(x, KERNEL_SIZE, stride).shape)
        return PF.max_pool2d_backward(ones, x, KERNEL_SIZE, stride)[0]
    ones = np.ones(PF.avg_pool2d(x, KERNEL_SIZE, stride).shape)
    return PF.avg_pool2d_backward(ones, x, KERNEL_SIZE, stride)[0]


def routing_figure(preset: str = "random", pool: str = "max", stride: int = 1) -> str:
    """The interactive figure: an input, its windows and where their gradients go, as SVG.

    Left, the 6x6 input: for max pooling the winner of every window is ringed and an arrow
    runs from each window's centre to it; for average pooling every window is outlined. Right,
    the gradient each input receives when every output sends back 1 (each cell's number is
    also in its ``data-value``).

    Args:
        preset: a key of :data:`PRESETS`.
        pool: ``"max"`` or ``"avg"``.
        stride: 1, 2 or 3 (``kernel_size`` is :data:`KERNEL_SIZE`).

    Returns:
        An HTML string (two inline SVG panels).

    >>> routing_figure("one peak", "max", 1).count('class="pc-arrow"')
    16
    """
    from .figures import WINDOW, WINNER

    x = _check_figure_args(preset, pool, stride)
    grad = routed_gradient(preset, pool, stride)
    n_out = PF.max_pool2d(x[None], KERNEL_SIZE, stride).shape[-1]
    marks = []
    if pool == "max":
        _, idx = PF.max_pool2d(x[None], KERNEL_SIZE, stride, return_indices=True)
        winners = sorted({divmod(int(flat), x.shape[1]) for flat in idx.ravel()})
        for h, w in winners:
            marks.append(f'<rect class="pc-winner" x="{w * _CELL + 3}" y="{h * _CELL + 3}" '
                         f'width="{_CELL - 6}" height="{_CELL - 6}" fill="none" '
                         f'stroke="{WINNER}" stroke-width="3"/>')
        for (i, j), flat in np.ndenumerate(idx[0]):
            h, w = divmod(int(flat), x.shape[1])
            x0, y0 = (j * stride + 1.5) * _CELL, (i * stride + 1.5) * _CELL
            x1, y1 = (w + 0.5) * _CELL, (h + 0.5) * _CELL
            length = float(np.hypot(x1 - x0, y1 - y0))
            if length > 0:  # stop short of the winner's centre, so its number stays legible
                x1, y1 = x1 - (x1 - x0) * 11 / length, y1 - (y1 - y0) * 11 / length
            marks.append(f'<line class="pc-arrow" x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" '
                         f'y2="{y1:.1f}" stroke="{WINDOW}" stroke-width="1.6" '
                         f'marker-end="url(#pc-head)"/>')
    else:
        for i in range(n_out):
            for j in range(n_out):
                inset = 2 + 3 * ((i + j) % 3)
                marks.append(f'<rect class="pc-window" x="{j * stride * _CELL + inset}" '
                             f'y="{i * stride * _CELL + inset}" '
                             f'width="{KERNEL_SIZE * _CELL - 2 * inset}" '
                             f'height="{KERNEL_SIZE * _CELL - 2 * inset}" fill="none" '
                             f'stroke="{WINDOW}" stroke-width="1.5" stroke-opacity="0.8"/>')
    head = (f'<defs><marker id="pc-head" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
            f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{WINDOW}"/></marker></defs>')
    left = _svg_grid(x, f"input: {n_out}×{n_out} windows of {KERNEL_SIZE}×{KERNEL_SIZE}",
                     "input", head + "".join(marks))
    right = _svg_grid(grad, f"gradient received (sum {grad.sum():g})", "gradient", "",
                      vmin=0.0)
    return f'<div class="pc-figure"><div class="pc-panels">{left}{right}</div></div>'


_CELL = 36


def _svg_grid(values: np.ndarray, title: str, role: str, overlay: str,
              vmin: float | None = None) -> str:
    """A 2d array as an SVG grid of coloured cells with their numbers, in the course colours."""
    import html

    from .figures import colour, format_value

    lo = float(values.min()) if vmin is None else vmin
    hi = float(values.max())
    rows, cols = values.shape
    cells = []
    for (i, j), v in np.ndenumerate(values):
        bg, fg = colour(float(v), lo, hi)
        cells.append(f'<rect x="{j * _CELL}" y="{i * _CELL}" width="{_CELL - 2}" '
                     f'height="{_CELL - 2}" rx="3" fill="{bg}" data-pos="{i},{j}" '
                     f'data-value="{float(v)!r}"/>'
                     f'<text x="{(j + 0.5) * _CELL - 1}" y="{(i + 0.5) * _CELL + 4}" '
                     f'text-anchor="middle" font-size="12" fill="{fg}">'
                     f"{html.escape(format_value(v))}</text>")
    width, height = cols * _CELL, rows * _CELL
    return (f'<figure style="margin:0"><figcaption style="font-weight:bold;margin-bottom:.3em">'
            f"{html.escape(title)}</figcaption>"
            f'<svg class="pc-routing" data-role="{role}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" '
            f'font-family="sans-serif">{"".join(cells)}{overlay}</svg></figure>')


def routing_comparison(preset: str = "random", pool: str = "max",
                       stride: int = 1) -> widgets.Comparison:
    """The figure's gradient from the package and from torch autograd."""
    import torch

    x = _check_figure_args(preset, pool, stride)
    t = torch.tensor(x[None], requires_grad=True)
    op = torch.nn.functional.max_pool2d if pool == "max" else torch.nn.functional.avg_pool2d
    op(t, KERNEL_SIZE, stride).sum().backward()
    return widgets.Comparison("torch autograd", routed_gradient(preset, pool, stride),
                              t.grad[0].numpy())
