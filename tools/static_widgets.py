"""The book's interactive figures as plain HTML, without the ipywidgets manager.

An executed page saves its widgets as JSON (the ``widget-state`` script myst-nb puts into the
page) and marks where each figure goes with a ``widget-view`` script. The ipywidgets HTML
manager (3.6 MB) would rebuild the widgets from that JSON in the reader's browser; every
figure of :mod:`pooling_course.widgets` is a ``VBox`` of a heading, a row of controls and
nested ``Stack`` s of precomputed states, so this module draws it once, at build time:

- the controls as native form controls (a slider is ``<input type="range">`` whose
  ``aria-valuetext`` is the value shown, with a read-only readout; buttons are a group of
  radio buttons), each named by its label, all operable by keyboard;
- the state the controls start at, inline, so the figure shows without any script;
- every other state as a small script file, ``_static/pc-states/<page>/<figure>/<key>.js``,
  which the course's own ``_static/pooling-course.js`` loads when a control asks for it
  (and the states one move away once a reader reaches for the controls). A ``<script>`` file, not
  JSON, so that the book also works opened from disk (``file://``), where ``fetch`` fails.

``<key>`` is the control indices joined by ``-`` in the order of the controls.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import shutil
from pathlib import Path
from typing import Any

STATE_MIME = "application/vnd.jupyter.widget-state+json"
VIEW = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.S)


class WidgetError(ValueError):
    """A widget the static renderer does not know how to draw."""


def _ref(value: str) -> str:
    return value.removeprefix("IPY_MODEL_")


class _Figure:
    def __init__(self, models: dict[str, Any], root: str) -> None:
        self.models = models
        box = models[root]
        if box["model_name"] != "VBoxModel" or "pc-explorer" not in box["state"].get(
                "_dom_classes", []):
            raise WidgetError(f"widget {root} is a {box['model_name']}, not a course figure "
                              "(pooling_course.widgets.interactive)")
        head, row, display = (_ref(c) for c in box["state"]["children"])
        self.head = self._html(head)
        self.controls = [_ref(c) for c in models[row]["state"]["children"]]
        self.display = display
        # Which control drives which stack: the jslinks (control.index -> stack.selected_index).
        self.driver = {}
        for model in models.values():
            if model["model_name"] == "LinkModel":
                source, target = model["state"]["source"], model["state"]["target"]
                if source[1] == "index" and target[1] == "selected_index":
                    self.driver[_ref(target[0])] = _ref(source[0])

    def _html(self, model_id: str) -> str:
        model = self.models[model_id]
        if model["model_name"] != "HTMLModel":
            raise WidgetError(f"expected an HTML widget, got {model['model_name']}")
        return model["state"]["value"]

    def states(self) -> dict[tuple[int, ...], str]:
        """Every state's HTML by its control indices (in the order of the controls)."""
        found: dict[tuple[int, ...], str] = {}

        def walk(model_id: str, chosen: dict[str, int]) -> None:
            model = self.models[model_id]
            if model["model_name"] == "StackModel":
                control = self.driver.get(model_id)
                if control is None:
                    raise WidgetError(f"stack {model_id} is linked to no control")
                for i, child in enumerate(model["state"]["children"]):
                    walk(_ref(child), {**chosen, control: i})
            else:
                found[tuple(chosen.get(c, 0) for c in self.controls)] = self._html(model_id)

        walk(self.display, {})
        return found

    def start(self) -> tuple[int, ...]:
        return tuple(self.models[c]["state"]["index"] or 0 for c in self.controls)

    def controls_html(self, fig_id: str) -> str:
        parts = []
        for model_id in self.controls:
            model = self.models[model_id]
            state = model["state"]
            name = state["description"]
            labels = state["_options_labels"]
            index = state["index"] or 0
            cls = " ".join(state.get("_dom_classes", []))
            control_id = f"{fig_id}-{name}"
            if model["model_name"] == "SelectionSliderModel":
                parts.append(
                    f'<div class="pc-control pc-slider {cls}">'
                    f'<label for="{control_id}">{html.escape(name)}</label>'
                    f'<input type="range" id="{control_id}" min="0" max="{len(labels) - 1}" '
                    f'step="1" value="{index}" '
                    f'aria-valuetext="{html.escape(labels[index], quote=True)}" '
                    f"data-labels='{html.escape(json.dumps(labels), quote=True)}'>"
                    f'<output class="pc-readout" for="{control_id}" aria-hidden="true">'
                    f"{html.escape(labels[index])}</output></div>")
            elif model["model_name"] == "ToggleButtonsModel":
                buttons = "".join(
                    f'<label class="pc-option"><input type="radio" name="{control_id}" '
                    f'value="{i}"{" checked" if i == index else ""}>'
                    f"<span>{html.escape(label)}</span></label>"
                    for i, label in enumerate(labels))
                parts.append(f'<fieldset class="pc-control pc-choice {cls}">'
                             f"<legend>{html.escape(name)}</legend>{buttons}</fieldset>")
            else:
                raise WidgetError(f"no static control for a {model['model_name']}")
        return f'<div class="pc-controls">{"".join(parts)}</div>'


def slug(page: str) -> str:
    """A page name as one path segment: ``book/01_forward`` -> ``book-01_forward``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", page)


def render_page(body: str, state_json: str, page: str, outdir: Path,
                base_url: str) -> str:
    """``body`` with every widget view replaced by its static figure; writes the states.

    ``page`` names the page (used in file names), ``outdir`` is the built book's folder and
    ``base_url`` the URL of ``_static/pc-states/<page>/`` relative to the page.
    """
    models = json.loads(state_json)["state"]
    folder = outdir / "_static" / "pc-states" / slug(page)
    if folder.exists():
        shutil.rmtree(folder)  # states of an earlier build
    counter = itertools.count()

    def replace(match: re.Match[str]) -> str:
        n = next(counter)
        fig_id = f"pc-fig-{slug(page)}-{n}"
        figure = _Figure(models, json.loads(match.group(1))["model_id"])
        states = figure.states()
        start = figure.start()
        target = folder / str(n)
        target.mkdir(parents=True, exist_ok=True)
        for key, body_html in states.items():
            name = "-".join(map(str, key))
            (target / f"{name}.js").write_text(
                f"pcStates.add({json.dumps(fig_id)}, {json.dumps(name)}, "
                f"{json.dumps(body_html)});\n", encoding="utf-8")
        shape = [len(figure.models[c]["state"]["_options_labels"]) for c in figure.controls]
        title = re.search(r'class="pc-title"><strong>(.*?)</strong>', figure.head)
        label = html.unescape(title.group(1)) if title else "interactive figure"
        return (f'<div class="pc-explorer pc-static" id="{fig_id}" role="group" '
                f'aria-label="{html.escape(label, quote=True)}" '
                f'data-states="{html.escape(base_url, quote=True)}{n}/" '
                f'data-shape="{json.dumps(shape)}">'
                f'{figure.head}{figure.controls_html(fig_id)}'
                f'<div class="pc-display">{states[start]}</div></div>')

    return VIEW.sub(replace, body)
