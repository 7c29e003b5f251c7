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

#: The colour map of every feature map in the course (light = small, dark = large).
CMAP = "Blues"
#: Accent colours: the window being looked at, the winner inside it, padding cells.
WINDOW = "#d95f02"
WINNER = "#1b9e77"
PADDING = "#e8e8e8"

#: matplotlib rcParams every course figure uses (see :func:`style`).
RC = {
    "figure.dpi": 110,
    "figure.figsize": (6.0, 3.0),
    "font.size": 10,
    "axes.titlesize": 11,
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

    >>> format_value(3.0), format_value(2.5), format_value(1 / 3), format_value(float("-inf"))
    ('3', '2.5', '0.33', '-∞')
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


def heatmap(
    ax: object,
    values: np.ndarray,
    *,
    title: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
    windows: Iterable[tuple[int, int, int, int]] = (),
) -> object:
    """Draw a 2d array on ``ax`` as an annotated heatmap in the course style.

    Args:
        ax: a matplotlib ``Axes``.
        values: 2d array; each cell is annotated with :func:`format_value`.
        title: axes title.
        vmin, vmax: colour scale; default the array's finite min and max, so pass the input's
            range when drawing an output that should be coloured like its input.
        windows: rectangles ``(row, col, height, width)`` to outline in :data:`WINDOW`.

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
        for r, c, h, w in windows:
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, lw=2.5,
                                   edgecolor=WINDOW))
        ax.set_xticks(range(values.shape[1]))
        ax.set_yticks(range(values.shape[0]))
        ax.tick_params(length=0, labelsize=8, colors="#777777")
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
) -> str:
    """A 2d array as an HTML table in the course style, each number as text in its cell.

    Every ``<td>`` carries ``data-value`` (the number with full precision, ``repr`` of a float)
    and ``data-pos="i,j"``; ``cell_attrs`` adds attributes (e.g. ``class``) per cell. NaN
    cells (used for padding) are drawn blank in :data:`PADDING` grey.
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
            if np.isnan(float(v)):
                style_ = f"background:{PADDING};color:#999"
                text = ""
                attrs["class"] = (attrs.get("class", "") + " pc-pad").strip()
            else:
                bg, fg = colour(float(v), lo, hi)
                style_ = f"background:{bg};color:{fg}"
                text = format_value(v)
                attrs["data-value"] = repr(v.item() if hasattr(v, "item") else v)
            attrs["data-pos"] = f"{i},{j}"
            attr_text = " ".join(f'{k}="{html.escape(str(a))}"' for k, a in attrs.items())
            cells.append(f'<td {attr_text} style="{style_}">{html.escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{html.escape(title)}</caption>" if title else ""
    role_attr = f' data-role="{html.escape(role)}"' if role else ""
    return f'<table class="pc-grid"{role_attr}>{caption}{"".join(rows)}</table>'


#: CSS for :func:`grid_html` tables; the widgets put it once in each figure.
GRID_CSS = f"""
.pc-figure {{ font-family: var(--pst-font-family-base, sans-serif); }}
.pc-figure .pc-panels {{ display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }}
.pc-grid {{ border-collapse: separate; border-spacing: 2px; margin: 0; width: auto; }}
.pc-grid caption {{ caption-side: top; font-weight: bold; padding: 0 0 .3em 0; text-align: left;
  color: inherit; }}
.pc-grid td {{ width: 2.4em; height: 2.4em; min-width: 2.4em; text-align: center;
  vertical-align: middle; border: 2px solid transparent; padding: 0; font-size: .9em;
  font-variant-numeric: tabular-nums; border-radius: 3px; }}
.pc-grid td.pc-pad {{ border: 2px dashed #c8c8c8; }}
.pc-grid td.pc-win {{ border-color: {WINDOW}; }}
.pc-grid td.pc-winner {{ font-weight: bold; text-decoration: underline; }}
.pc-figure .pc-note {{ font-size: .9em; color: #555; margin: .4em 0 0 0; }}
.pc-figure .pc-error {{ color: #b00020; }}
.pc-explorer .widget-toggle-buttons {{ display: flex; flex-flow: row nowrap; align-items: center; }}
.pc-explorer .widget-toggle-buttons .widget-label {{ flex: none; text-align: right; }}
"""


def _range(values: np.ndarray, vmin: float | None, vmax: float | None) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if vmin is None and finite.size else float(vmin or 0.0)
    hi = float(finite.max()) if vmax is None and finite.size else float(vmax or 1.0)
    return lo, hi
