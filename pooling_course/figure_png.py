"""A course figure as the book shows it: a PNG with alt text, sharp, and legible on a phone.

:func:`png_bytes` draws a matplotlib figure at twice its resolution in 256 colours, stores
:func:`describe`'s text (what the figure shows) as the PNG's ``Description``, which the book
build makes the image's alt text, and first raises any text that would show under
:data:`MIN_TEXT_PX` on a phone (:func:`legible`). :func:`install_display_hook` makes every
figure a notebook shows go through it. :mod:`pooling_course.figures` re-exports these names.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

#: Text in a figure is at least this large (CSS px) on a phone: the book's column is
#: :data:`PHONE_COLUMN_PX` wide there, and a wider figure is scaled down to fit it.
MIN_TEXT_PX = 11
#: The text column of a 390 px wide phone screen, in CSS px (Chromium measures 358).
PHONE_COLUMN_PX = 358

def smallest_font(width: float, px_per_inch: float) -> float:
    """The font size (pt) of the smallest text a figure ``width`` inches wide may have, shown
    at ``px_per_inch`` CSS px per inch: :data:`MIN_TEXT_PX` once scaled to a phone's column.

    >>> round(smallest_font(4.8, 110), 1), round(smallest_font(2.0, 110), 1)
    (10.6, 7.2)
    """
    shown = min(1.0, PHONE_COLUMN_PX / (width * px_per_inch))  # what a phone scales it by
    return MIN_TEXT_PX * 72 / (px_per_inch * shown)


def legible(fig: object, px_per_inch: float) -> object:
    """Raise every text of ``fig`` smaller than :func:`smallest_font` to it; return ``fig``.

    The last resort of every figure the course draws (:func:`png_bytes` calls it): a figure
    drawn for the course's width (:data:`~pooling_course.figures.FIGURE_WIDTH`, panels
    stacked rather than side by side) with the course's fonts has nothing to raise. When a
    text grew, the figure's layout is redone, so that it has room.
    """
    import warnings

    from matplotlib.text import Text

    # A tight bounding box can be a little wider than the figure, and shows it smaller.
    floor = 1.06 * smallest_font(float(fig.get_figwidth()), px_per_inch)
    grew = False
    for text in fig.findobj(Text):
        if text.get_text().strip() and text.get_fontsize() < floor - 0.05:
            text.set_fontsize(floor)
            grew = True
    for axis in (axis for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)):
        # Ticks made at the next draw take their size from the axis, not from a text.
        ticks = axis.get_major_ticks() + axis.get_minor_ticks()
        if ticks and min(t.label1.get_fontsize() for t in ticks) < floor - 0.05:
            axis.set_tick_params(which="both", labelsize=floor)
            grew = True
    if grew and fig.get_layout_engine() is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a layout that cannot improve keeps the old one
            fig.tight_layout()
    return fig


def describe(fig: object) -> str:
    """Alt text for a matplotlib figure, from what it shows: titles, axis labels, legends.

    Each panel (``Axes``) is described by its title, what it draws (an image of a given size,
    lines, bars, points) with the legend's labels, and its axis labels; a colour bar by its
    label. Mathtext (``$...$``) is kept as its TeX source, which screen readers spell out.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([0, 1], label="max"); _ = ax.set_title("gain")
    >>> _ = ax.set_xlabel("ω"); _ = ax.legend()
    >>> describe(fig)
    'Figure: gain: lines max; horizontal axis ω.'
    >>> plt.close(fig)
    """
    from .figures import format_value

    parts = []
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        parts.append(_clean(suptitle.get_text()))
    axes = [ax for ax in getattr(fig, "axes", []) if ax.get_visible()]
    bars = [ax for ax in axes if _is_colorbar(ax)]
    panels = [ax for ax in axes if ax not in bars]
    texts = [_clean(t.get_text()) for t in getattr(fig, "texts", [])
             if t.get_visible() and t.get_text().strip() and t is not suptitle]
    described = [_describe_axes(ax) for ax in panels]
    if len(described) > 1:
        parts.append(f"{len(described)} panels")
        described = [f"panel {i}, {d}" for i, d in enumerate(described, 1)]
    parts += described
    for bar in bars:
        label = _clean(bar.get_ylabel() or bar.get_xlabel())
        lo, hi = (bar.get_ylim() if bar.get_ylabel() or not bar.get_xlabel()
                  else bar.get_xlim())
        parts.append(f"colour bar{' ' + label if label else ''} from {format_value(lo)} to "
                     f"{format_value(hi)}")
    parts += texts
    return "Figure: " + "; ".join(p for p in parts if p) + "."


def _clean(text: str) -> str:
    return " ".join(text.replace("$", "").split())


def _is_colorbar(ax: object) -> bool:
    return getattr(ax, "_colorbar", None) is not None or ax.get_label() == "<colorbar>"


def _describe_axes(ax: object) -> str:
    what = []
    for image in ax.get_images():
        shape = image.get_array().shape[:2]
        numbers = [t.get_text() for t in ax.texts if t.get_visible()]
        if len(numbers) == shape[0] * shape[1] and len(numbers) <= 64:
            rows = ("; ".join(" ".join(numbers[r * shape[1]:(r + 1) * shape[1]])
                              for r in range(shape[0])))
            what.append(f"a {shape[0]}×{shape[1]} grid of numbers, by rows: {rows}")
        else:
            what.append(f"a {shape[0]}×{shape[1]} image")
    legend = ax.get_legend()
    labels = [_clean(t.get_text()) for t in legend.get_texts()] if legend else []
    lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    if ax.get_lines() and not ax.get_images():
        what.append("lines " + ", ".join(labels) if labels else
                    f"{len(ax.get_lines())} line{'s' * (len(ax.get_lines()) > 1)}")
    elif labels and not lines:
        what.append("legend " + ", ".join(labels))
    if ax.patches and not ax.get_images() and not ax.get_lines():
        what.append("bars" if len(ax.patches) > 1 else "a shape")
    if ax.collections and not what:
        what.append("points")
    axes_labels = []
    for name, label in (("horizontal", ax.get_xlabel()), ("vertical", ax.get_ylabel())):
        if label.strip():
            axes_labels.append(f"{name} axis {_clean(label)}")
    title = _clean(ax.get_title() or ax.get_title("left") or ax.get_title("right"))
    head = f"{title}: " if title else ""
    return head + "; ".join(what + axes_labels) if what or axes_labels or title else "a plot"


def install_display_hook(shell: object = None) -> bool:
    """Show matplotlib figures in a notebook at twice the resolution, with alt text.

    Registers an ``image/png`` formatter for matplotlib figures in the running IPython
    ``shell``: the PNG is drawn at twice the figure's dpi (sharp on high-density screens and
    when zoomed), its display size stays the figure's size (``width``/``height`` metadata),
    and :func:`describe`'s text is stored in the PNG as its ``Description``, where the book
    build (``tools/offline_book.py``) finds it and makes it the image's alt text. Returns
    False outside IPython.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    # Load the inline backend now, so that its own formatter (registered when the backend
    # is first loaded) does not replace this one later.
    plt.switch_backend(matplotlib.get_backend())

    def png(fig: Figure) -> tuple[str, dict[str, int]] | None:
        import base64

        if not fig.axes and not fig.texts:
            return None
        data = png_bytes(fig, 2 * fig.dpi, bbox_inches="tight")
        width, height = _png_size(data)
        return (base64.b64encode(data).decode("ascii"),
                {"width": width // 2, "height": height // 2})

    shell.display_formatter.formatters["image/png"].for_type(Figure, png)
    return True


def png_bytes(fig: object, dpi: float, **savefig: object) -> bytes:
    """``fig`` as a PNG of at most 256 colours, with :func:`describe`'s text as its
    ``Description``, and the size of its smallest text under :data:`SMALLEST_TEXT_KEY`.

    ``dpi`` is twice the CSS px per inch the figure is shown at (sharp on high-density
    screens); :func:`legible` raises text that would be too small on a phone first.
    A figure's flat colours and anti-aliased text survive the palette; the file is about a
    quarter of the full-colour one, which keeps the book's pages light at twice the
    resolution.
    """
    from PIL import Image, PngImagePlugin

    legible(fig, dpi / 2)
    buffer = io.BytesIO()
    with _drawn_font_sizes() as sizes:
        fig.savefig(buffer, format="png", dpi=dpi, facecolor="white", **savefig)
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Description", describe(fig))
    if sizes:  # the smallest text drawn, in pixels of this PNG: how legible it can be shown
        info.add_text(SMALLEST_TEXT_KEY, f"{min(sizes) * dpi / 72:.2f}")
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
        out, format="PNG", pnginfo=info, optimize=True)  # optimize: 8% smaller, same pixels
    return out.getvalue()


#: The PNG text key under which :func:`png_bytes` stores the font size of the smallest text
#: drawn, in the PNG's own pixels (shown at ``w`` CSS px, a PNG ``W`` px wide shows that text
#: at ``size * w / W`` px).
SMALLEST_TEXT_KEY = "Smallest text px"


@contextmanager
def _drawn_font_sizes() -> Iterator[list[float]]:
    """The font sizes (points) of every non-empty text matplotlib draws inside the block.

    Only what is drawn counts: the tick labels of a hidden axis or beyond the view limits
    do not.
    """
    from matplotlib.text import Text

    sizes: list[float] = []
    original = Text.draw

    def draw(self: Text, renderer: object) -> None:
        if self.get_visible() and self.get_text().strip():
            sizes.append(float(self.get_fontsize()))
        return original(self, renderer)

    draw._supports_rasterization = getattr(original, "_supports_rasterization", False)
    Text.draw = draw
    try:
        yield sizes
    finally:
        Text.draw = original


def png_description(data: bytes, key: str = "Description") -> str | None:
    """The text stored under ``key`` in a PNG (as :func:`install_display_hook` stores the
    ``Description``, and :func:`png_bytes` the :data:`SMALLEST_TEXT_KEY`)."""
    import struct
    import zlib

    tag = key.encode("latin-1") + b"\0"
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"tEXt" and body.startswith(tag):
            return body.split(b"\0", 1)[1].decode("latin-1")
        if kind == b"iTXt" and body.startswith(tag):
            _, rest = body.split(b"\0", 1)
            compressed, _method = rest[0], rest[1]
            _lang, _key, text = rest[2:].split(b"\0", 2)
            return (zlib.decompress(text) if compressed else text).decode("utf-8")
        if kind == b"IEND":
            break
        pos += 12 + length
    return None


def _png_size(data: bytes) -> tuple[int, int]:
    import struct

    return struct.unpack(">II", data[16:24])
