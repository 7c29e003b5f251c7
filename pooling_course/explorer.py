"""The pooling-grid figure: an input feature map with its windows beside the pooled output.

Chapter 1's Explore figure, built on the widget layer of :mod:`pooling_course.widgets`::

    explore({"max": PF.max_pool2d, "avg": PF.avg_pool2d}, x,
            kernel_size=[2, 3], stride=[1, 2, 3], padding=[0, 1], dilation=[1, 2])

gives one control per keyword and, for every setting, the input with its padding and the
output computed by the chosen function, checked against the ``torch.nn.functional`` op of the
same name (live: shown beside it; static: at build time). Settings the function rejects show
its error message.

Each state links every output cell to its window: one output cell is chosen from the start
(the last one), its window is outlined in the input, and clicking (or hovering) another output
cell outlines that one's window instead; no script is needed (radio buttons and CSS
``:has()``). Cells outside the input are drawn in two styles, with a legend: padding (dashed
grey) and cells beyond the padded input that only a ``ceil_mode`` window reaches (dotted,
striped). The caption under the grids is :func:`size_caption`: the output-size formula with
the state's numbers, from the rule :func:`~pooling_course.forward.pool_output_size` applies,
saying when ``ceil_mode`` added a window and when the last-window rule dropped one.
"""

from __future__ import annotations

import html
import inspect
import itertools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import figures
from .functional import pool_output_size
from .widgets import _div, _options, build, widget_mode

PoolFn = Callable[..., np.ndarray]
_STATE_IDS = itertools.count()


def explore(
    fn: PoolFn | Mapping[str, PoolFn],
    x: np.ndarray,
    *,
    mode: str | None = None,
    title: str = "",
    defaults: Mapping[str, Any] | None = None,
    reference: Callable[[PoolFn], Callable[..., Any] | None] | None = None,
    **controls: Sequence[Any],
) -> Any:
    """An interactive figure of ``fn`` applied to the 2d feature map ``x``.

    Args:
        fn: a pooling function called as ``fn(x[None], **params)`` (``(C, H, W)`` in, out), or
            a dict ``{name: fn}``, which adds a first control ``pool`` choosing among them.
        x: the input feature map, a 2d array; converted to float64 so every pool accepts it.
        mode: ``"live"`` or ``"static"``; default from :func:`widget_mode`.
        title: a line shown above the controls.
        defaults: the value each control starts at; default its first value.
        reference: ``reference(fn)`` returns the torch function to compare ``fn`` with, or
            None; default :func:`torch_reference`.
        **controls: for each keyword argument of ``fn`` to vary, the values a reader can pick.

    Returns:
        An ``ipywidgets.VBox`` (display it by ending the cell with it) with the plain
        attributes ``mode``, ``controls`` (name -> control widget), ``display`` (the live
        ``HTML`` widget, or the outermost static ``Stack``) and ``links`` (the static mode's
        ``jslink`` s).
    """
    fns = dict(fn) if isinstance(fn, Mapping) else {getattr(fn, "__name__", "fn"): fn}
    if not fns:
        raise ValueError("fn must be a function or a non-empty dict of functions")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2d feature map, got shape {x.shape}")
    if "pool" in controls:
        raise ValueError("control 'pool' is reserved for choosing among the functions of fn")
    options = _options({**({"pool": list(fns)} if isinstance(fn, Mapping) else {}), **controls},
                       defaults)
    figure = _Figure(fns, x, options, reference or torch_reference)
    return build(options, figure.state_html, widget_mode(mode), title, defaults or {})


def torch_reference(fn: PoolFn) -> Callable[..., Any] | None:
    """The ``torch.nn.functional`` op ``fn`` mirrors (``max_pool2d_loop`` -> ``max_pool2d``).

    None when torch is not installed or has no op of that name.
    """
    try:
        import torch.nn.functional as F  # noqa: N812 (torch's own alias)
    except ImportError:
        return None
    return getattr(F, getattr(fn, "__name__", "").removesuffix("_loop"), None)



#: Parameters a function may lack, with the value at which lacking them changes nothing
#: (``avg_pool2d`` has no ``dilation``, in torch as here).
NEUTRAL = {"dilation": 1}


class _Figure:
    """What a figure computes and draws, independent of how the widget shows it."""

    def __init__(self, fns: dict[str, PoolFn], x: np.ndarray, options: dict[str, list[Any]],
                 reference: Callable[[PoolFn], Callable[..., Any] | None]) -> None:
        self.fns, self.x, self.options, self.reference = fns, x, options, reference

    def split(self, params: Mapping[str, Any]) -> tuple[PoolFn, dict[str, Any]]:
        """The chosen function and its keyword arguments; a parameter the function lacks is
        left out when it has its :data:`NEUTRAL` value."""
        fn = self.fns[params.get("pool", next(iter(self.fns)))]
        accepted = _parameters(fn)
        kwargs = {k: v for k, v in params.items() if k != "pool"
                  and (accepted is None or k in accepted or NEUTRAL.get(k, object()) != v)}
        return fn, kwargs

    def compute(self, params: Mapping[str, Any]) -> np.ndarray:
        fn, kwargs = self.split(params)
        return np.asarray(fn(self.x[None], **kwargs))[0]

    def torch_compute(self, params: Mapping[str, Any]) -> tuple[str, np.ndarray] | None:
        fn, kwargs = self.split(params)
        ref = self.reference(fn)
        if ref is None:
            return None
        import torch
        import torch.nn.functional as F  # noqa: N812 (torch's own alias)

        name = (f"torch.nn.functional.{ref.__name__}" if getattr(F, ref.__name__, None) is ref
                else f"{ref.__module__}.{ref.__name__}")  # avg_pool2d lives in torch._C._nn
        return name, ref(torch.from_numpy(self.x[None]), **kwargs).numpy()[0]

    def state_html(self, params: Mapping[str, Any], live: bool = False) -> str:
        """One state: the input with its windows and the output, or the package's error.

        Live states show torch's output beside ours; static ones raise if torch disagrees.
        """
        torch_side, check_torch = live, not live
        fn, kwargs = self.split(params)
        uid = f"pc-s{next(_STATE_IDS)}-{os.getpid()}"  # unique on the page: the radio group
        attrs = {
            "id": uid,
            "class": "pc-state pc-figure",
            "data-params": json.dumps(dict(params)),
            "data-call": json.dumps({"fn": f"{fn.__module__}.{fn.__qualname__}",
                                     "kwargs": kwargs}),
            "data-input": json.dumps(self.x.tolist()),
        }
        try:
            out = self.compute(params)
        except (ValueError, TypeError) as exc:
            attrs["data-error"] = str(exc)
            accepted = _parameters(fn)
            lacking = [k for k in kwargs if accepted is not None and k not in accepted]
            why = (f" {fn.__name__} has no {lacking[0]} parameter, and neither has torch's"
                   f" {fn.__name__}: only max pooling is dilated." if lacking else "")
            return _div(attrs, f'<p class="pc-error">{html.escape(fn.__name__)}: '
                               f"{html.escape(str(exc))}</p>"
                               f'<p class="pc-note">{html.escape(why)}</p>' * bool(why))
        ref = self.torch_compute(params) if (torch_side or check_torch) else None
        last = (out.shape[0] - 1, out.shape[1] - 1)
        drawn_input, kinds = _input_html(self.x, out.shape, kwargs)
        panels = drawn_input + figures.grid_html(
            out, title=f"output {out.shape[0]}×{out.shape[1]}", role="output",
            vmin=float(self.x.min()), vmax=float(self.x.max()), pick=(uid, last),
            cell_attrs={(i, j): {"data-out": f"{i},{j}"} for i, j in np.ndindex(out.shape)})
        notes = [html.escape(size_caption(self.x.shape, out.shape, kwargs))]
        if ref is not None:
            name, expected = ref
            same = expected.shape == out.shape and np.allclose(expected, out, equal_nan=True)
            if check_torch and not same:
                raise AssertionError(f"{fn.__name__}{kwargs} differs from {name}: "
                                     f"{out.tolist()} != {expected.tolist()}")
            if torch_side:
                panels += figures.grid_html(expected, title=f"torch {out.shape[0]}×"
                                            f"{out.shape[1]}", role="torch",
                                            vmin=float(self.x.min()), vmax=float(self.x.max()))
            notes.append(f"{html.escape(name)} gives {'the same' if same else 'a DIFFERENT'} "
                         "output.")
        settings = ", ".join(f"{k} {v}" for k, v in kwargs.items())
        summary = (f"{fn.__name__}, {settings}: a {self.x.shape[0]}×{self.x.shape[1]} input "
                   f"and its {out.shape[0]}×{out.shape[1]} output; output cell row "
                   f"{last[0] + 1}, column {last[1] + 1} and its window are outlined.")
        body = (f'<p class="pc-sr">{html.escape(summary)}</p>'
                f'<div class="pc-panels">{panels}</div>' + _legend(kinds, fn.__name__)
                + "".join(f'<p class="pc-note">{n}</p>' for n in notes))
        return _div(attrs, body)


def _parameters(fn: PoolFn) -> set[str] | None:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


def _input_html(x: np.ndarray, out_shape: tuple[int, ...],
                kwargs: Mapping[str, Any]) -> tuple[str, set[str]]:
    """The input with its padding ring and any ceil_mode overhang; every cell of output cell
    ``(i, j)``'s window has the class ``pc-w{i}-{j}``. Also returns the kinds of cells drawn
    outside the input (``"pad"``, ``"over"``)."""
    k = _pair(kwargs.get("kernel_size", 1))
    s = _pair(kwargs.get("stride") or k)
    p = _pair(kwargs.get("padding", 0))
    d = _pair(kwargs.get("dilation", 1))
    # Rows/columns of the drawing: padding both sides, plus any window overhang (ceil_mode).
    padded = [x.shape[a] + 2 * p[a] for a in (0, 1)]
    reach = [max((out_shape[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1, padded[a]) for a in (0, 1)]
    grid = np.full(reach, np.nan)
    grid[p[0]:p[0] + x.shape[0], p[1]:p[1] + x.shape[1]] = x
    classes: dict[tuple[int, int], list[str]] = {}
    for i, j in np.ndindex(out_shape):
        for a in range(k[0]):
            for b in range(k[1]):
                classes.setdefault((i * s[0] + a * d[0], j * s[1] + b * d[1]), []).append(
                    f"pc-w{i}-{j}")
    kinds = {"pad"} if any(p) else set()
    for r, c in np.ndindex(*reach):
        if r >= padded[0] or c >= padded[1]:
            classes.setdefault((r, c), []).append("pc-over")
            kinds.add("over")
    cell_attrs = {pos: {"class": " ".join(c)} for pos, c in classes.items()}
    title = f"input {x.shape[0]}×{x.shape[1]}" + (f", padding {p[0]}" if any(p) else "")
    return figures.grid_html(grid, title=title, role="input", cell_attrs=cell_attrs,
                             vmin=float(x.min()), vmax=float(x.max())), kinds


def _legend(kinds: set[str], fn_name: str) -> str:
    """What the outlines and the blank cells mean, for the kinds of cells this state draws."""
    pad = ("padding: never a candidate for the maximum" if "max" in fn_name
           else "padding: adds 0 to the sum and counts in the divisor")
    items = [("pc-sel", "the chosen output cell and its window (click another cell, or "
                        "use the arrow keys)")]
    if "pad" in kinds:
        items.append(("pc-pad", pad))
    if "over" in kinds:
        items.append(("pc-over", "beyond the padded input, reached only by a ceil_mode window: "
                                  "never counted"))
    return '<p class="pc-legend">' + "<br>".join(
        f'<span class="pc-key {cls}"></span>{html.escape(text)}' for cls, text in items) + "</p>"


def size_caption(in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                 kwargs: Mapping[str, Any]) -> str:
    """The output-size formula with a state's numbers (first axis), and what ``ceil_mode`` did.

    The result is :func:`~pooling_course.forward.pool_output_size`, the rule every op applies;
    the caption shows the rounded formula and, when the two differ, that the last-window rule
    dropped a window that would have started in the right padding.

    >>> import textwrap
    >>> settings = {"kernel_size": 2, "stride": 2, "padding": 1,
    ...             "ceil_mode": True}
    >>> caption = size_caption((7, 7), (4, 4), settings)
    >>> print(textwrap.fill(caption, 60))
    Output size, per axis: ⌈(7 + 2·1 − (2 − 1) − 1) / 2⌉ + 1 =
    ⌈7 / 2⌉ + 1 = 5. Last-window rule: window 5 would start at
    position (5 − 1)·2 − 1 = 7, past the input's last cell 6 (in
    the right padding), so it is dropped: output 4×4.
    """
    k = _pair(kwargs.get("kernel_size", 1))[0]
    s = _pair(kwargs.get("stride") or k)[0]
    p = _pair(kwargs.get("padding", 0))[0]
    d = _pair(kwargs.get("dilation", 1))[0]
    ceil = bool(kwargs.get("ceil_mode", False))
    n = in_shape[0]
    size = pool_output_size(n, k, s, p, d, ceil)  # the package's rule, last-window rule included
    if size != out_shape[0]:
        raise AssertionError(f"output has {out_shape[0]} rows, pool_output_size says {size}")
    span = n + 2 * p - d * (k - 1) - 1
    floor = span // s + 1
    rounded = -(-span // s) + 1 if ceil else floor
    left, right = ("⌈", "⌉") if ceil else ("⌊", "⌋")
    dk = f"{d}·({k} − 1)" if d != 1 else f"({k} − 1)"
    text = (f"Output size, per axis: {left}({n} + 2·{p} − {dk} − 1) / {s}{right} + 1 = "
            f"{left}{span} / {s}{right} + 1 = {rounded}.")
    shape = f"output {out_shape[0]}×{out_shape[1]}"
    start = (rounded - 1) * s - p  # the last rounded window's first position (0 = first cell)
    if not ceil:
        return f"{text} Result: {shape}."
    if rounded == floor:
        return f"{text} ceil_mode changes nothing ({span} is a multiple of {s}): {shape}."
    if size == rounded - 1:
        return (f"{text} Last-window rule: window {rounded} would start at position "
                f"({rounded} − 1)·{s} − {p} = {start}, past the input's last cell {n - 1} "
                f"(in the right padding), so it is dropped: {shape}.")
    return (f"{text} ceil_mode adds window {rounded} (floor gives {floor}); it starts at "
            f"position {start}, inside the input, and runs past the padded input: {shape}.")


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)
