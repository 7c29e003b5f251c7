"""Interactive figures that work in a live notebook and in the static book alike.

A page declares a figure once::

    explore({"max": max_pool2d_loop, "avg": avg_pool2d_loop}, x,
            kernel_size=[1, 2, 3], stride=[1, 2, 3], padding=[0, 1])

and gets one control per keyword (a slider for numbers, buttons for names and flags) and the
input feature map with its windows beside the pooled output. The same declaration builds one
of two widgets:

``live``
    Every change of a control calls the function again (the course's NumPy code) and shows,
    beside its output, what the matching ``torch.nn.functional`` op returns and whether the
    two agree. Needs a running kernel: callbacks are Python.

``static``
    Every combination of control values is computed once, when the cell runs, and each result
    becomes an HTML widget. They sit in nested ``ipywidgets.Stack`` s, one level per control,
    and every stack's ``selected_index`` is ``jslink`` ed to its control's ``index``. The links
    run in the browser, so once the widget state is saved with the page (myst-nb does this
    for executed notebooks) the controls work without any kernel. Each state also checks the
    NumPy output against torch at build time and raises if they differ, so the book never
    shows a figure torch disagrees with. Combinations the function rejects (e.g. padding
    larger than half the kernel) become a state that shows the package's error message.

Which one is built: the ``mode`` argument if given, else the environment variable
``POOLING_COURSE_WIDGETS`` (``static`` or ``live``), else ``live`` inside a Jupyter kernel and
``static`` anywhere else. The book build sets ``POOLING_COURSE_WIDGETS=static`` (the Sphinx
extension ``tools/offline_book.py`` does so before notebooks execute, and the kernels inherit
it), so a reader's notebook is live and the rendered book is static with no page doing
anything about it.

Every shown state is a ``<div class="pc-state">`` whose ``data-params`` (the control values),
``data-call`` (function and keyword arguments) and ``data-input`` (the input map) attributes,
and whose output table's ``data-value`` cells, let a browser test recompute and compare it.
"""

from __future__ import annotations

import html
import itertools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import figures
from .forward import pool_output_size

MODE_ENV = "POOLING_COURSE_WIDGETS"
MODES = ("live", "static")

PoolFn = Callable[..., np.ndarray]
_STATE_IDS = itertools.count()


def widget_mode(mode: str | None = None) -> str:
    """The mode a figure is built in: ``mode``, else ``$POOLING_COURSE_WIDGETS``, else by kernel.

    >>> widget_mode("static")
    'static'
    """
    mode = mode or os.environ.get(MODE_ENV) or ("live" if _in_kernel() else "static")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r} (check ${MODE_ENV})")
    return mode


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
    options: dict[str, list[Any]] = {}
    if isinstance(fn, Mapping):
        options["pool"] = list(fns)
    for name, values in controls.items():
        values = list(values) if isinstance(values, Sequence | range) else None
        if not values or name == "pool":
            raise ValueError(f"control {name!r} must be a non-empty list of values")
        options[name] = values
    defaults = dict(defaults or {})
    unknown = set(defaults) - set(options)
    if unknown:
        raise ValueError(f"defaults names no control: {sorted(unknown)}")
    for name, value in defaults.items():
        if value not in options[name]:
            raise ValueError(f"default {name}={value!r} is not one of {options[name]}")
    figure = _Figure(fns, x, options, reference or torch_reference)
    return _build(figure, widget_mode(mode), title, defaults)


def torch_reference(fn: PoolFn) -> Callable[..., Any] | None:
    """The ``torch.nn.functional`` op ``fn`` mirrors (``max_pool2d_loop`` -> ``max_pool2d``).

    None when torch is not installed or has no op of that name.
    """
    try:
        import torch.nn.functional as F  # noqa: N812 (torch's own alias)
    except ImportError:
        return None
    return getattr(F, getattr(fn, "__name__", "").removesuffix("_loop"), None)


def _build(figure: _Figure, mode: str, title: str, defaults: Mapping[str, Any]) -> Any:
    import ipywidgets as w

    controls = {name: _control(w, name, values, defaults.get(name, values[0]))
                for name, values in figure.options.items()}
    display, links = (_live_display(w, figure, controls) if mode == "live"
                      else _static_display(w, figure, controls))
    head = f"<style>{figures.GRID_CSS}</style>"
    if title:
        head += f'<p class="pc-title"><strong>{html.escape(title)}</strong></p>'
    box = w.VBox([w.HTML(head),
                  w.HBox(list(controls.values()), layout=w.Layout(flex_flow="row wrap")),
                  display])
    box.add_class("pc-explorer")
    # Plain attributes for tests and curious readers; they are not synced to the browser.
    box.mode, box.controls, box.display, box.links = mode, controls, display, links
    return box


class _Figure:
    """What a figure computes and draws, independent of how the widget shows it."""

    def __init__(self, fns: dict[str, PoolFn], x: np.ndarray, options: dict[str, list[Any]],
                 reference: Callable[[PoolFn], Callable[..., Any] | None]) -> None:
        self.fns, self.x, self.options, self.reference = fns, x, options, reference

    def split(self, params: Mapping[str, Any]) -> tuple[PoolFn, dict[str, Any]]:
        kwargs = {k: v for k, v in params.items() if k != "pool"}
        return self.fns[params.get("pool", next(iter(self.fns)))], kwargs

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

    def state_html(self, params: Mapping[str, Any], torch_side: bool = False,
                   check_torch: bool = False) -> str:
        """One state: the input with its windows and the output, or the package's error."""
        fn, kwargs = self.split(params)
        uid = f"pc-s{next(_STATE_IDS)}-{os.getpid()}"  # unique on the page, for its CSS
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
            return _div(attrs, f'<p class="pc-error">{html.escape(fn.__name__)}: '
                               f"{html.escape(str(exc))}</p>")
        ref = self.torch_compute(params) if (torch_side or check_torch) else None
        panels = _input_html(self.x, out.shape, kwargs, uid) + figures.grid_html(
            out, title=f"output {out.shape[0]}×{out.shape[1]}", role="output",
            vmin=float(self.x.min()), vmax=float(self.x.max()),
            cell_attrs={(i, j): {"data-out": f"{i},{j}"} for i, j in np.ndindex(out.shape)})
        notes = [_size_note(self.x.shape, out.shape, kwargs)]
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
        body = (f'<div class="pc-panels">{panels}</div>'
                + "".join(f'<p class="pc-note">{n}</p>' for n in notes))
        return _div(attrs, body)


def _control(w: Any, name: str, values: list[Any], value: Any) -> Any:
    labels = [(_label(v), v) for v in values]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        control = w.SelectionSlider(options=labels, value=value, description=name,
                                    continuous_update=True, layout=w.Layout(width="300px"),
                                    style={"description_width": "6.5em"})
    else:
        control = w.ToggleButtons(options=labels, value=value, description=name,
                                  layout=w.Layout(width="300px"),
                                  style={"description_width": "6.5em", "button_width": "4.5em"})
    control.add_class(f"pc-control-{name}")
    return control


def _label(value: Any) -> str:
    return str(value)


def _live_display(w: Any, figure: _Figure, controls: dict[str, Any]) -> Any:
    out = w.HTML()

    def update(_: object = None) -> None:
        params = {name: c.value for name, c in controls.items()}
        out.value = figure.state_html(params, torch_side=True)

    for control in controls.values():
        control.observe(update, names="value")
    update()
    return out, []


def _static_display(w: Any, figure: _Figure, controls: dict[str, Any]) -> Any:
    names = list(controls)

    def level(depth: int, params: dict[str, Any]) -> Any:
        if depth == len(names):
            return w.HTML(figure.state_html(params, check_torch=True))
        name = names[depth]
        stack = w.Stack([level(depth + 1, {**params, name: v}) for v in figure.options[name]],
                        selected_index=controls[name].index)
        links.append(w.jslink((controls[name], "index"), (stack, "selected_index")))
        return stack

    links: list[Any] = []
    return level(0, {}), links


def _input_html(x: np.ndarray, out_shape: tuple[int, ...], kwargs: Mapping[str, Any],
                uid: str) -> str:
    """The input with its padding ring; hovering an output cell outlines that cell's window."""
    k = _pair(kwargs.get("kernel_size", 1))
    s = _pair(kwargs.get("stride") or k)
    p = _pair(kwargs.get("padding", 0))
    d = _pair(kwargs.get("dilation", 1))
    # Rows/columns of the drawing: padding both sides, plus any window overhang (ceil_mode).
    reach = [max((out_shape[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1, x.shape[a] + 2 * p[a])
             for a in (0, 1)]
    grid = np.full(reach, np.nan)
    grid[p[0]:p[0] + x.shape[0], p[1]:p[1] + x.shape[1]] = x
    members: dict[tuple[int, int], list[str]] = {}
    for i, j in np.ndindex(out_shape):
        for a in range(k[0]):
            for b in range(k[1]):
                members.setdefault((i * s[0] + a * d[0], j * s[1] + b * d[1]), []).append(
                    f"pc-w{i}-{j}")
    cell_attrs = {pos: {"class": " ".join(c)} for pos, c in members.items()}
    rules = [f"#{uid}:not(:has([data-out]:hover)) td.pc-w0-0"]
    rules += [f"#{uid}:has([data-out='{i},{j}']:hover) td.pc-w{i}-{j}"
              for i, j in np.ndindex(out_shape)]
    style = ",\n".join(rules) + f" {{ border-color: {figures.WINDOW}; }}"
    style += f"\n#{uid} [data-out]:hover {{ border-color: {figures.WINDOW}; cursor: default; }}"
    title = f"input {x.shape[0]}×{x.shape[1]}" + (f", padding {p[0]}" if any(p) else "")
    return f"<style>{style}</style>" + figures.grid_html(
        grid, title=title, role="input", cell_attrs=cell_attrs,
        vmin=float(x.min()), vmax=float(x.max()))


def _size_note(in_shape: tuple[int, ...], out_shape: tuple[int, ...],
               kwargs: Mapping[str, Any]) -> str:
    """The output-size formula with this state's numbers, for the first axis."""
    k = _pair(kwargs.get("kernel_size", 1))[0]
    s = _pair(kwargs.get("stride") or k)[0]
    p = _pair(kwargs.get("padding", 0))[0]
    d = _pair(kwargs.get("dilation", 1))[0]
    ceil = bool(kwargs.get("ceil_mode", False))
    n = in_shape[0]
    size = pool_output_size(n, k, s, p, d, ceil)
    rounding = "⌈ ⌉" if ceil else "⌊ ⌋"
    dk = f"{d}·({k}−1)" if d != 1 else f"({k}−1)"
    return (f"Windows of {k}×{k}, stride {s}: output height = {rounding[0]}({n} + 2·{p} − {dk} "
            f"− 1) / {s}{rounding[2]} + 1 = {size}. Hover an output cell to see its window.")


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _div(attrs: Mapping[str, str], body: str) -> str:
    text = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    return f"<div {text}>{body}</div>"


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})
