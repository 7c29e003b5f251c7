"""Interactive figures that work in a live notebook and in the static book alike.

A page declares a figure once, as a function of the control values and the values each control
can take::

    interactive(filtering.response_figure, kernel_size=[2, 3, 4], stride=[1, 2])

``response_figure(kernel_size=..., stride=...)`` returns a matplotlib ``Figure`` or an HTML
string. The page gets one control per keyword (a slider for numbers, buttons for names and
flags) above whatever the function draws. :func:`explore`, the pooling-grid figure of chapter 1,
is one use of it. The same declaration builds one of two widgets:

``live``
    Every change of a control calls the function again. Needs a running kernel: callbacks are
    Python.

``static``
    Every combination of control values is computed once, when the cell runs, and each result
    becomes an HTML widget. They sit in nested ``ipywidgets.Stack`` s, one level per control,
    and every stack's ``selected_index`` is ``jslink`` ed to its control's ``index``. The links
    run in the browser, so once the widget state is saved with the page (myst-nb does this
    for executed notebooks) the controls work without any kernel.

``compare(**params)``, if given, returns a :class:`Comparison` of the course's NumPy result
with PyTorch's for those values; every state shows it (live: both results, side by side), and
a static build raises if they disagree, so the book never ships a figure torch contradicts.

Which one is built: the ``mode`` argument if given, else the environment variable
``POOLING_COURSE_WIDGETS`` (``static`` or ``live``), else ``live`` inside a Jupyter kernel and
``static`` anywhere else. The book build sets ``POOLING_COURSE_WIDGETS=static`` (the Sphinx
extension ``tools/offline_book.py`` does so before notebooks execute, and the kernels inherit
it), so a reader's notebook is live and the rendered book is static with no page doing
anything about it.

Every shown state is a ``<div class="pc-state">`` with ``data-params`` (the control values as
JSON). When the figure function (and ``compare``) are importable (module-level functions of the
package), ``data-render`` (and ``data-compare``) name them and ``data-digest`` is a hash of what
the state shows, so a browser test can call them again and prove the state on screen is the
one for the values the controls show.
:func:`explore` states also carry ``data-call`` and ``data-input``, from which a test
recomputes every number of the grid.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import figures

MODE_ENV = "POOLING_COURSE_WIDGETS"
MODES = ("live", "static")
#: Widest image a figure function should draw: the book's text column, in CSS pixels.
COLUMN_PX = 680

Render = Callable[..., Any]


@dataclass(frozen=True)
class Comparison:
    """The course's result and PyTorch's for one state of a figure.

    ``name`` is the torch call shown to the reader (``"torch.nn.functional.avg_pool1d"``);
    ``ours`` and ``theirs`` are arrays of the same meaning; they agree when their shapes match
    and their values are within ``rtol``/``atol`` (NaN equal to NaN).
    """

    name: str
    ours: Any
    theirs: Any
    rtol: float = 1e-6
    atol: float = 1e-6

    @property
    def same(self) -> bool:
        import numpy as np

        ours, theirs = np.asarray(self.ours), np.asarray(self.theirs)
        return ours.shape == theirs.shape and bool(
            np.allclose(ours, theirs, rtol=self.rtol, atol=self.atol, equal_nan=True))

    def html(self, side_by_side: bool) -> str:
        """One line saying whether torch agrees; with ``side_by_side``, both results too."""
        import numpy as np

        verdict = "gives the same output" if self.same else "gives a DIFFERENT output"
        text = f'<p class="pc-note pc-compare">{html.escape(self.name)} {verdict}.</p>'
        if side_by_side:
            with np.printoptions(precision=4, threshold=12, edgeitems=3, linewidth=80):
                rows = [("pooling_course", np.asarray(self.ours)),
                        (self.name, np.asarray(self.theirs))]
                text += "".join(f'<pre class="pc-values" data-role="{"torch" if i else "ours"}">'
                                f"{html.escape(who)}: {html.escape(str(v))}</pre>"
                                for i, (who, v) in enumerate(rows))
        return text


def widget_mode(mode: str | None = None) -> str:
    """The mode a figure is built in: ``mode``, else ``$POOLING_COURSE_WIDGETS``, else by kernel.

    >>> widget_mode("static")
    'static'
    """
    mode = mode or os.environ.get(MODE_ENV) or ("live" if _in_kernel() else "static")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r} (check ${MODE_ENV})")
    return mode


def interactive(
    render: Render,
    *,
    mode: str | None = None,
    title: str = "",
    defaults: Mapping[str, Any] | None = None,
    compare: Callable[..., Comparison | None] | None = None,
    **controls: Sequence[Any],
) -> Any:
    """An interactive figure: ``render(**params)`` drawn for the values the controls show.

    Args:
        render: called with one keyword argument per control; returns a matplotlib
            ``Figure`` (drawn as a PNG at most :data:`COLUMN_PX` wide, then closed) or an HTML
            string. Make it a module-level function of the package, so a browser test can
            call it again.
        mode: ``"live"`` or ``"static"``; default from :func:`widget_mode`.
        title: a line shown above the controls.
        defaults: the value each control starts at; default its first value.
        compare: ``compare(**params)`` returns a :class:`Comparison` with PyTorch (or None);
            shown under every state, and a static build raises when torch disagrees.
        **controls: for each keyword argument of ``render``, the values a reader can pick.

    Returns:
        An ``ipywidgets.VBox`` (display it by ending the cell with it) with the plain
        attributes ``mode``, ``controls`` (name -> control widget), ``display`` (the live
        ``HTML`` widget, or the outermost static ``Stack``) and ``links`` (the static mode's
        ``jslink`` s).
    """
    options = _options(controls, defaults)

    def state(params: Mapping[str, Any], live: bool) -> str:
        return state_html(render, params, compare=compare, live=live)

    return build(options, state, widget_mode(mode), title, defaults or {})


def state_html(render: Render, params: Mapping[str, Any], *,
               compare: Callable[..., Comparison | None] | None = None,
               live: bool = False) -> str:
    """One state of an :func:`interactive` figure: what ``render`` draws, wrapped for the page.

    Static states (``live=False``) raise ``AssertionError`` when ``compare`` finds that torch
    disagrees.
    """
    body = to_html(render(**params))
    if compare is not None:
        comparison = compare(**params)
        if comparison is not None:
            if not live and not comparison.same:
                raise AssertionError(f"{_qualname(render)}{dict(params)}: {comparison.name} "
                                     f"differs: {comparison.ours!r} != {comparison.theirs!r}")
            body += comparison.html(side_by_side=live)
    attrs = {"class": "pc-state", "data-params": json.dumps(dict(params))}
    if _importable(render) and (compare is None or _importable(compare)):
        attrs["data-render"] = _qualname(render)
        if compare is not None:
            attrs["data-compare"] = _qualname(compare)
        attrs["data-digest"] = digest(body)
    return _div(attrs, body)


def to_html(drawn: Any) -> str:
    """HTML for what a figure function returned: a matplotlib figure as an inline PNG."""
    if isinstance(drawn, str):
        return drawn
    if hasattr(drawn, "savefig"):
        import matplotlib.pyplot as plt

        alt = figures.describe(drawn)
        dpi = 2 * 96  # sharp on high-density screens, shown at half size
        width_in = min(drawn.get_figwidth(), COLUMN_PX / 96)
        drawn.set_size_inches(width_in, drawn.get_figheight() * width_in / drawn.get_figwidth())
        png = figures.png_bytes(drawn, dpi)
        plt.close(drawn)
        width = round(width_in * 96)
        data = base64.b64encode(png).decode("ascii")
        return (f'<img class="pc-plot" src="data:image/png;base64,{data}" width="{width}" '
                f'style="max-width:100%;height:auto" alt="{html.escape(alt, quote=True)}">')
    raise TypeError(f"a figure function must return a matplotlib Figure or an HTML string, "
                    f"got {type(drawn).__name__}")


def digest(body: str) -> str:
    """A short hash of a state's HTML; equal bodies give equal digests."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def build(options: dict[str, list[Any]], state: Callable[[Mapping[str, Any], bool], str],
          mode: str, title: str, defaults: Mapping[str, Any]) -> Any:
    """The widget for ``options`` (control -> values) whose states ``state(params, live)``
    draws; shared by :func:`interactive` and :func:`pooling_course.explorer.explore`."""
    import ipywidgets as w

    controls = {name: _control(w, name, values, defaults.get(name, values[0]))
                for name, values in options.items()}
    display, links = (_live_display(w, state, controls) if mode == "live"
                      else _static_display(w, state, options, controls))
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


def _options(controls: Mapping[str, Sequence[Any]],
             defaults: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """Check a declaration: every control a non-empty list, every default one of its values."""
    options: dict[str, list[Any]] = {}
    for name, values in controls.items():
        values = list(values) if isinstance(values, Sequence | range) else None
        if not values:
            raise ValueError(f"control {name!r} must be a non-empty list of values")
        options[name] = values
    if not options:
        raise ValueError("a figure needs at least one control")
    unknown = set(defaults or {}) - set(options)
    if unknown:
        raise ValueError(f"defaults names no control: {sorted(unknown)}")
    for name, value in (defaults or {}).items():
        if value not in options[name]:
            raise ValueError(f"default {name}={value!r} is not one of {options[name]}")
    return options


def _control(w: Any, name: str, values: list[Any], value: Any) -> Any:
    labels = [(_label(v), v) for v in values]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        control = w.SelectionSlider(options=labels, value=value, description=name,
                                    continuous_update=True, layout=w.Layout(width="320px"),
                                    style={"description_width": "7.5em"})
    else:
        control = w.ToggleButtons(options=labels, value=value, description=name,
                                  layout=w.Layout(width="auto"),
                                  style={"description_width": "7.5em", "button_width": "auto"})
    control.add_class(f"pc-control-{name}")
    return control


def _label(value: Any) -> str:
    return str(value)


def _live_display(w: Any, state: Callable[[Mapping[str, Any], bool], str],
                  controls: dict[str, Any]) -> Any:
    out = w.HTML()

    def update(_: object = None) -> None:
        out.value = state({name: c.value for name, c in controls.items()}, True)

    for control in controls.values():
        control.observe(update, names="value")
    update()
    return out, []


def _static_display(w: Any, state: Callable[[Mapping[str, Any], bool], str],
                    options: dict[str, list[Any]], controls: dict[str, Any]) -> Any:
    names = list(controls)

    def level(depth: int, params: dict[str, Any]) -> Any:
        if depth == len(names):
            return w.HTML(state(params, False))
        name = names[depth]
        stack = w.Stack([level(depth + 1, {**params, name: v}) for v in options[name]],
                        selected_index=controls[name].index)
        links.append(w.jslink((controls[name], "index"), (stack, "selected_index")))
        return stack

    links: list[Any] = []
    return level(0, {}), links


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _importable(fn: Callable[..., Any]) -> bool:
    """True for a module-level function of the package, which a test can import and call."""
    module, qualname = getattr(fn, "__module__", ""), getattr(fn, "__qualname__", "")
    return (module or "").startswith("pooling_course.") and "<" not in qualname \
        and "." not in qualname


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
