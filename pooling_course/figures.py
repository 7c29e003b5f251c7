"""One figure style for the whole course: colours, fonts and the annotated grid of numbers.

Every chapter draws feature maps the same way, as a grid of numbers on a heatmap, either with
matplotlib (:func:`heatmap`, for static figures) or as an HTML table (:func:`grid_html`, used by
the interactive figures of :mod:`pooling_course.widgets`, where the numbers must be text a
reader can select and a test can read). Both take their colours from :data:`CMAP`, so a value
has the same colour in every figure of the book.

>>> import numpy as np
>>> 'data-value="3"' in grid_html(np.array([[1, 3]]))
True
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np

# The course's figure names in one place: figure_png's are re-exported here.
from .figure_png import (  # noqa: F401
    MIN_TEXT_PX,
    PHONE_COLUMN_PX,
    SMALLEST_TEXT_KEY,
    describe,
    install_display_hook,
    legible,
    png_bytes,
    png_description,
    smallest_font,
)

#: The colour map of every feature map in the course (light = small, dark = large).
CMAP = "Blues"
#: Accent colours: the window being looked at, the winner inside it, padding cells.
WINDOW = "#d95f02"
WINNER = "#1b9e77"
PADDING = "#e8e8e8"
#: One colour per window when a figure shows several windows and links each to its output.
WINDOW_COLOURS = ("#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")

#: The width of a course figure, in inches: its 11 pt text keeps :data:`MIN_TEXT_PX` on a
#: phone (11 pt at 72 pt per inch, scaled by ``PHONE_COLUMN_PX / (width * px per inch)``
#: allows 4.97 in), with room for a tight bounding box a little wider than the figure.
FIGURE_WIDTH = 4.8

#: matplotlib rcParams every course figure uses (see :func:`style`).
RC = {
    "figure.dpi": 110,
    "figure.figsize": (FIGURE_WIDTH, 3.0),
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "figure.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": CMAP,
    "savefig.bbox": "tight",
}


@contextmanager
def style() -> Iterator[None]:
    """Context manager that draws inside it in the course style.

    >>> import matplotlib.pyplot as plt
    >>> with style():
    ...     plt.rcParams["image.cmap"]
    'Blues'
    """
    import matplotlib.pyplot as plt

    with plt.rc_context(RC):
        yield


def format_value(value: float) -> str:
    """The text a grid shows for one number: integers plainly, others with up to 2 decimals.

    >>> [format_value(v) for v in (3.0, 2.5, 1 / 3, float("-inf"))]
    ['3', '2.5', '0.33', '-∞']
    """
    value = float(value)
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def colour(value: float, vmin: float, vmax: float) -> tuple[str, str]:
    """Background and text colour of ``value`` on :data:`CMAP` scaled to ``[vmin, vmax]``."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    t = 0.5 if vmax == vmin or not np.isfinite(value) else (value - vmin) / (vmax - vmin)
    t = 0.1 + 0.75 * float(np.clip(t, 0.0, 1.0))  # keep the lightest and darkest ends readable
    return to_hex(colormaps[CMAP](t)), ("white" if t > 0.55 else "black")


def _hex_at(t: float) -> str:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return to_hex(colormaps[CMAP](t))


def heatmap(
    ax: object,
    values: np.ndarray,
    *,
    title: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
    windows: Iterable[tuple[int, int, int, int] | tuple[int, int, int, int, str]] = (),
) -> object:
    """Draw a 2d array on ``ax`` as an annotated heatmap in the course style.

    Args:
        ax: a matplotlib ``Axes``.
        values: 2d array; each cell is annotated with :func:`format_value`.
        title: axes title.
        vmin, vmax: colour scale; default the array's finite min and max, so pass the input's
            range when drawing an output that should be coloured like its input.
        windows: rectangles ``(row, col, height, width)`` to outline in :data:`WINDOW`, or
            ``(row, col, height, width, colour)`` to outline in ``colour`` (give a window and
            its output cell the same colour to link them).

    Returns:
        The ``AxesImage``.
    """
    from matplotlib.patches import Rectangle

    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2d array, got shape {values.shape}")
    lo, hi = _range(values, vmin, vmax)
    with style():
        # The same value -> colour map as grid_html: CMAP's range 0.1..0.85 spans [lo, hi].
        span = (hi - lo) or 1.0
        image = ax.imshow(values, cmap=CMAP, vmin=lo - span * 0.1 / 0.75,
                          vmax=lo + span * 0.9 / 0.75)
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, format_value(v), ha="center", va="center",
                    color=colour(v, lo, hi)[1], fontsize=RC["font.size"])
        for r, c, h, w, *edge in windows:
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, lw=2.5,
                                   edgecolor=edge[0] if edge else WINDOW))
        ax.set_xticks(range(values.shape[1]))
        ax.set_yticks(range(values.shape[0]))
        ax.tick_params(length=0, colors="#666666")
        for spine in ax.spines.values():
            spine.set_visible(False)
        if title:
            ax.set_title(title)
    return image


def grid_html(
    values: np.ndarray,
    *,
    title: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
    cell_attrs: dict[tuple[int, int], dict[str, str]] | None = None,
    role: str = "",
    pick: tuple[str, tuple[int, int]] | None = None,
) -> str:
    """A 2d array as an HTML table in the course style, each number as text in its cell.

    Every ``<td>`` carries ``data-value`` (the number with full precision, ``repr`` of a float)
    and ``data-pos="i,j"``; ``cell_attrs`` adds attributes (e.g. ``class``) per cell. NaN
    cells are drawn blank: as padding (class ``pc-pad``, dashed grey) or, if ``cell_attrs``
    gives them the class ``pc-over``, as cells beyond the padded input (dotted, striped).

    ``pick=(group, (i, j))`` makes every cell selectable without any script: each holds a
    radio button of the group ``group`` (cell ``(i, j)`` checked at first; invisible but
    focusable, so the arrow keys choose a cell and its name says which) and gets
    the classes ``pc-out pc-o{i}-{j}``; :data:`GRID_CSS` then outlines the chosen cell and
    every cell with the class ``pc-w{i}-{j}`` (its window) in the same figure state.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2d array, got shape {values.shape}")
    lo, hi = _range(values.astype(float), vmin, vmax)
    rows = []
    for i in range(values.shape[0]):
        cells = []
        for j in range(values.shape[1]):
            v = values[i, j]
            attrs = dict((cell_attrs or {}).get((i, j), {}))
            classes = attrs.get("class", "").split()
            if np.isnan(float(v)):
                style_, text = "", ""
                if "pc-over" not in classes:
                    classes.append("pc-pad")
            else:
                bg, fg = colour(float(v), lo, hi)
                style_ = f' style="background:{bg};color:{fg}"'
                text = html.escape(format_value(v))
                attrs["data-value"] = repr(v.item() if hasattr(v, "item") else v)
            if pick is not None:
                classes += ["pc-out", f"pc-o{i}-{j}"]
                checked = " checked" if pick[1] == (i, j) else ""
                what = f"row {i + 1}, column {j + 1}: {text or 'blank'}"
                text = (f'<label><input type="radio" name="{html.escape(pick[0])}"'
                        f' aria-label="{html.escape(title)}, {what}"{checked}>{text}</label>')
            if classes:
                attrs["class"] = " ".join(classes)
            attrs["data-pos"] = f"{i},{j}"
            attr_text = " ".join(f'{k}="{html.escape(str(a))}"' for k, a in attrs.items())
            cells.append(f"<td {attr_text}{style_}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{html.escape(title)}</caption>" if title else ""
    role_attr = f' data-role="{html.escape(role)}"' if role else ""
    return f'<table class="pc-grid"{role_attr}>{caption}{"".join(rows)}</table>'


#: The largest output grid whose cells :data:`GRID_CSS` can link to their windows.
PICK_MAX = 10


def _pick_css(n: int = PICK_MAX) -> str:
    """Outline the chosen (or hovered) output cell and its window; hovering wins."""
    rules = []
    for i in range(n):
        for j in range(n):
            cells = f":is(td.pc-w{i}-{j},td.pc-o{i}-{j})"
            rules.append(f".pc-state:not(:has(td.pc-out:hover)):has(td.pc-o{i}-{j} "
                         f"input:checked) {cells}")
            rules.append(f".pc-state:has(td.pc-o{i}-{j}:hover) {cells}")
    return ",\n".join(rules) + f" {{ border-color: {WINDOW}; }}\n"


#: CSS for :func:`grid_html` tables; the widgets put it once in each figure. Text is at least
#: 14 px, as everywhere in the course's figures.
GRID_CSS = f"""
.pc-figure {{ font-family: var(--pst-font-family-base, sans-serif); font-size: 15px;
  color: #222; }}
.pc-figure .pc-panels {{ display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }}
.pc-grid {{ border-collapse: separate; border-spacing: 2px; margin: 0; width: auto; }}
.pc-grid caption {{ caption-side: top; font-weight: bold; padding: 0 0 .3em 0; text-align: left;
  color: inherit; font-size: 15px; }}
.pc-grid td {{ width: 2.3em; height: 2.3em; min-width: 2.3em; text-align: center;
  vertical-align: middle; border: 3px solid transparent; padding: 0; font-size: 15px;
  font-variant-numeric: tabular-nums; border-radius: 3px; }}
.pc-grid td.pc-pad, .pc-key.pc-pad {{ background: {PADDING}; border: 3px dashed #8c8c8c; }}
.pc-grid td.pc-over, .pc-key.pc-over {{ border: 3px dotted #555;
  background: repeating-linear-gradient(45deg, #fff 0 4px, #cfcfcf 4px 7px); }}
.pc-grid td.pc-win {{ border-color: {WINDOW}; }}
.pc-grid td.pc-winner {{ font-weight: bold; text-decoration: underline; }}
.pc-grid td label {{ display: block; cursor: pointer; }}
.pc-grid td {{ position: relative; }}
.pc-grid td input[type=radio] {{ position: absolute; opacity: 0; width: 1px; height: 1px;
  margin: 0; pointer-events: none; }}
.pc-grid td:has(input:focus-visible) {{ outline: 3px solid #1a5fb4; outline-offset: 2px; }}
.pc-sr {{ position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }}
.pc-key {{ display: inline-block; width: 1.1em; height: 1.1em; vertical-align: -.2em;
  margin: 0 .3em 0 .8em; border-radius: 3px; }}
.pc-key.pc-in {{ background: {_hex_at(0.45)}; border: 3px solid transparent; }}
.pc-key.pc-sel {{ border: 3px solid {WINDOW}; }}
.pc-figure .pc-legend, .pc-figure .pc-note {{ font-size: 15px; color: #222; margin: .4em 0 0 0;
  line-height: 1.45; }}
.pc-figure .pc-error {{ color: #b00020; font-size: 15px; }}
.pc-explorer .widget-label, .pc-explorer .widget-readout, .pc-explorer button {{
  font-size: 14px; }}
.pc-explorer .widget-toggle-buttons {{ display: flex; flex-flow: row nowrap; align-items: center; }}
.pc-explorer .widget-toggle-buttons .widget-label {{ flex: none; text-align: right; }}
""" + _pick_css()


def _range(values: np.ndarray, vmin: float | None, vmax: float | None) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if vmin is None and finite.size else float(vmin or 0.0)
    hi = float(finite.max()) if vmax is None and finite.size else float(vmax or 1.0)
    return lo, hi
