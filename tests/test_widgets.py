"""The widget layer without a browser: both modes show what the package computes.

Static mode must hold one state per combination of control values, reachable by jslinks from
the controls alone; live mode must recompute on every change and show torch beside NumPy.
"""

from __future__ import annotations

import functools
import html
import itertools
import json
import re

import ipywidgets as w
import matplotlib
import numpy as np
import pytest

from pooling_course import figures, forward
from pooling_course.explorer import explore
from pooling_course.widgets import (
    COLUMN_PX,
    MODE_ENV,
    Comparison,
    interactive,
    state_html,
    widget_mode,
)

matplotlib.use("Agg")

X = np.arange(30, dtype=float).reshape(5, 6) % 7
POOLS = {"max": forward.max_pool2d_loop, "avg": forward.avg_pool2d_loop}
CONTROLS = {"kernel_size": [1, 2, 3], "stride": [1, 2], "padding": [0, 1]}


def _attr(state_html: str, name: str) -> str | None:
    match = re.search(rf'{name}="([^"]*)"', state_html)
    return html.unescape(match.group(1)) if match else None


def _output(state_html: str) -> np.ndarray:
    table = state_html.split('data-role="output"', 1)[1].split("</table>", 1)[0]
    rows = table.split("</tr>")[:-1]
    return np.array([[float(v) for v in re.findall(r'data-value="([^"]*)"', r)] for r in rows])


def _leaves(widget, path=()):
    """(path of child indices, HTML leaf) for every state under a static display."""
    if isinstance(widget, w.Stack):
        for i, child in enumerate(widget.children):
            yield from _leaves(child, (*path, i))
    else:
        yield path, widget


def _expected(pool: str, kwargs: dict) -> np.ndarray | str:
    try:
        return POOLS[pool](X[None], **kwargs)[0]
    except ValueError as exc:
        return str(exc)


def test_mode_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.setenv(MODE_ENV, "live")
    assert widget_mode() == "live"
    assert widget_mode("static") == "static"
    monkeypatch.delenv(MODE_ENV)
    assert widget_mode() == "static"  # no kernel in pytest
    monkeypatch.setenv(MODE_ENV, "fast")
    with pytest.raises(ValueError, match="POOLING_COURSE_WIDGETS"):
        widget_mode()


def test_static_mode_holds_every_state_and_each_is_the_package_output():
    fig = explore(POOLS, X, mode="static", defaults={"kernel_size": 2}, **CONTROLS)
    assert fig.mode == "static"
    names = ["pool", *CONTROLS]
    options = [list(POOLS), *CONTROLS.values()]
    leaves = dict(_leaves(fig.display))
    assert len(leaves) == np.prod([len(o) for o in options])
    for path in itertools.product(*(range(len(o)) for o in options)):
        params = {n: o[i] for n, o, i in zip(names, options, path, strict=True)}
        value = leaves[path].value
        assert json.loads(_attr(value, "data-params")) == params
        kwargs = {k: v for k, v in params.items() if k != "pool"}
        expected = _expected(params["pool"], kwargs)
        if isinstance(expected, str):
            assert _attr(value, "data-error") == expected
        else:
            np.testing.assert_array_equal(_output(value), expected)
            assert "torch.nn.functional" in value  # checked against torch at build time


def test_static_mode_links_every_stack_to_its_control_and_starts_at_the_defaults():
    fig = explore(POOLS, X, mode="static", defaults={"kernel_size": 2, "stride": 2}, **CONTROLS)
    by_target = {id(link.target[0]): link for link in fig.links}
    assert len(fig.links) == 1 + 2 + 2 * 3 + 2 * 3 * 2  # one per stack
    names = ["pool", *CONTROLS]

    def walk(stack, depth):
        link = by_target[id(stack)]
        assert link.source == (fig.controls[names[depth]], "index")
        assert link.target[1] == "selected_index"
        assert stack.selected_index == fig.controls[names[depth]].index
        for child in stack.children:
            if isinstance(child, w.Stack):
                walk(child, depth + 1)

    walk(fig.display, 0)
    assert fig.controls["kernel_size"].value == 2 and fig.controls["stride"].value == 2


def test_live_mode_recomputes_on_every_change_and_shows_torch_beside_numpy():
    fig = explore(POOLS, X, mode="live", **CONTROLS)
    assert isinstance(fig.display, w.HTML)
    seen = set()
    for pool, k, s in itertools.product(POOLS, [2, 3], [1, 2]):
        fig.controls["pool"].value = pool
        fig.controls["kernel_size"].value = k
        fig.controls["stride"].value = s
        value = fig.display.value
        params = json.loads(_attr(value, "data-params"))
        assert params == {"pool": pool, "kernel_size": k, "stride": s, "padding": 0}
        expected = _expected(pool, {"kernel_size": k, "stride": s, "padding": 0})
        np.testing.assert_array_equal(_output(value), expected)
        assert 'data-role="torch"' in value and "gives the same output" in value
        seen.add(value)
    assert len(seen) == 8


def test_static_mode_refuses_to_ship_a_figure_torch_disagrees_with():
    def wrong(input, kernel_size):
        return forward.max_pool2d_loop(input, kernel_size) + 1

    wrong.__name__ = "max_pool2d_loop"
    with pytest.raises(AssertionError, match="differs from torch"):
        explore(wrong, X, mode="static", kernel_size=[2])


def test_one_function_needs_no_pool_control_and_rejected_settings_show_the_error():
    fig = explore(forward.max_pool2d_loop, X, mode="live", kernel_size=[1, 2], padding=[1])
    assert list(fig.controls) == ["kernel_size", "padding"]
    message = _attr(fig.display.value, "data-error")
    with pytest.raises(ValueError) as exc:
        forward.max_pool2d_loop(X[None], kernel_size=1, padding=1)
    assert message == str(exc.value)


@pytest.mark.parametrize("kwargs, match", [
    ({"x": np.zeros((1, 3, 3))}, "2d feature map"),
    ({"kernel_size": []}, "non-empty list"),
    ({"kernel_size": [2], "defaults": {"stride": 1}}, "names no control"),
    ({"kernel_size": [2], "defaults": {"kernel_size": 3}}, "not one of"),
    ({"fn": {}}, "non-empty dict"),
])
def test_bad_declarations_raise_value_error(kwargs, match):
    args = {"fn": POOLS, "x": X, "mode": "static"} | kwargs
    with pytest.raises(ValueError, match=match):
        explore(args.pop("fn"), args.pop("x"), **args)


def test_grid_html_puts_every_number_in_the_dom_and_blanks_padding():
    table = figures.grid_html(np.array([[1.0, np.nan], [2.5, 1 / 3]]), title="t", role="output")
    assert re.findall(r'data-value="([^"]*)"', table) == ["1.0", "2.5", "0.3333333333333333"]
    assert "pc-pad" in table and "<caption>t</caption>" in table
    assert ">0.33<" in table and ">2.5<" in table


def test_heatmap_annotates_every_cell_in_the_course_style():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    figures.heatmap(ax, np.array([[1, 2], [3, 4.5]]), title="x", windows=[(0, 0, 2, 2)])
    assert [t.get_text() for t in ax.texts] == ["1", "2", "3", "4.5"]
    assert ax.get_images()[0].get_cmap().name == figures.CMAP
    assert len(ax.patches) == 1
    plt.close(fig)


# -- the general layer: interactive() ------------------------------------------------------

def _bars(height, colour="C0"):
    """A figure function: a matplotlib bar of the given height."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar([0], [height], color=colour)
    return fig


def _text(a, b):
    return f"<p>a={a} b={b}</p>"


def test_interactive_static_holds_one_state_per_combination_in_control_order():
    fig = interactive(_text, mode="static", defaults={"b": "y"}, a=[1, 2, 3], b=["x", "y"])
    leaves = dict(_leaves(fig.display))
    assert len(leaves) == 6 and len(fig.links) == 1 + 3
    for (i, j), leaf in leaves.items():
        params = {"a": [1, 2, 3][i], "b": ["x", "y"][j]}
        assert json.loads(_attr(leaf.value, "data-params")) == params
        assert f"<p>a={params['a']} b={params['b']}</p>" in leaf.value
    assert fig.controls["b"].value == "y" and fig.display.selected_index == 0


def test_interactive_draws_matplotlib_figures_as_column_sized_pngs():
    fig = interactive(_bars, mode="static", height=[1, 2])
    bodies = [leaf.value for _, leaf in _leaves(fig.display)]
    assert all('<img class="pc-plot" src="data:image/png;base64,' in b for b in bodies)
    widths = [int(re.search(r'width="(\d+)"', b)[1]) for b in bodies]
    assert all(w <= COLUMN_PX for w in widths)
    assert bodies[0] != bodies[1]  # a different height draws a different picture


def test_interactive_states_of_package_functions_carry_a_digest_a_test_can_recompute():
    _bars.__module__, saved = "pooling_course.somewhere", _bars.__module__
    try:
        value = state_html(_bars, {"height": 2})
        again = state_html(_bars, {"height": 2})
    finally:
        _bars.__module__ = saved
    assert _attr(value, "data-render") == "pooling_course.somewhere._bars"
    assert _attr(value, "data-digest") == _attr(again, "data-digest")  # drawing is deterministic
    assert _attr(state_html(_text, {"a": 1, "b": 2}), "data-render") is None  # not importable


def test_interactive_compare_shows_torch_and_a_static_build_refuses_a_disagreement():
    def agree(a, b):
        return Comparison("torch.thing", np.arange(3.0) * a, np.arange(3.0) * a)

    def disagree(a, b):
        return Comparison("torch.thing", np.zeros(2), np.ones(2))

    live = interactive(_text, mode="live", compare=agree, a=[1, 2], b=["x"])
    assert "torch.thing gives the same output" in live.display.value
    live.controls["a"].value = 2
    assert "[0. 2. 4.]" in live.display.value and 'data-role="torch"' in live.display.value
    static = interactive(_text, mode="static", compare=agree, a=[1, 2], b=["x"])
    assert all("gives the same output" in leaf.value for _, leaf in _leaves(static.display))
    with pytest.raises(AssertionError, match="torch.thing differs"):
        interactive(_text, mode="static", compare=disagree, a=[1], b=["x"])
    assert "DIFFERENT" in interactive(_text, mode="live", compare=disagree, a=[1],
                                      b=["x"]).display.value


@pytest.mark.parametrize("controls, match", [
    ({}, "at least one control"),
    ({"a": []}, "non-empty list"),
    ({"a": 3}, "non-empty list"),
])
def test_interactive_rejects_bad_declarations(controls, match):
    with pytest.raises(ValueError, match=match):
        interactive(_text, mode="static", **controls)


def test_interactive_rejects_a_figure_function_returning_something_else():
    with pytest.raises(TypeError, match="matplotlib Figure or an HTML string"):
        interactive(lambda a: 42, mode="static", a=[1])


# -- chapter 1's Explore figure: captions from the rule, windows linked to their cells -------

GRID7 = np.random.default_rng(7).integers(0, 10, size=(7, 7)).astype(float)
CHAPTER_CONTROLS = {"kernel_size": [2, 3], "stride": [1, 2, 3], "padding": [0, 1],
                    "dilation": [1, 2], "ceil_mode": [False, True]}


@functools.cache
def _chapter_states(fn=forward.max_pool2d_loop) -> tuple:
    """(params, state HTML) for every state of the chapter's figure (built once per fn)."""
    fig = explore(fn, GRID7, mode="static", **CHAPTER_CONTROLS)
    names = list(CHAPTER_CONTROLS)
    return tuple(({n: CHAPTER_CONTROLS[n][i] for n, i in zip(names, path, strict=True)},
                  leaf.value) for path, leaf in _leaves(fig.display))


def _caption(value: str) -> str:
    return html.unescape(re.search(r'<p class="pc-note">(Output size.*?)</p>', value)[1])


def test_every_caption_gives_torchs_size_and_says_when_ceil_mode_rules_fired():
    """The caption's result is torch's size, and it names the last-window rule exactly when
    rounding up alone would have given one window more than torch places."""
    import torch
    import torch.nn.functional as F

    fired = added = 0
    for params, value in _chapter_states():
        k, s, p, d, ceil = (params[n] for n in CHAPTER_CONTROLS)
        size = F.max_pool2d(torch.zeros(1, 7, 7), k, s, p, d, ceil).shape[-1]
        span = 7 + 2 * p - d * (k - 1) - 1
        floor, up = span // s + 1, -(-span // s) + 1
        caption = _caption(value)
        assert caption.endswith(f"output {size}×{size}."), (params, caption)
        rounding = "⌈" if ceil else "⌊"
        assert f"= {rounding}{span} / {s}{'⌉' if ceil else '⌋'} + 1 = {up if ceil else floor}." \
            in caption, (params, caption)
        dropped = ceil and up == size + 1
        assert ("Last-window rule" in caption) == dropped, (params, caption)
        assert ("ceil_mode adds window" in caption) == (ceil and up > floor and up == size)
        fired += dropped
        added += ceil and up > floor and up == size
    assert fired and added  # the chapter's controls reach both cases


def test_the_caption_of_the_ceil_mode_case_the_chapter_teaches():
    """k=2, s=2, p=1, ceil_mode on 7×7: rounding up gives 5, the rule drops the fifth."""
    states = dict((json.dumps(p, sort_keys=True), v) for p, v in _chapter_states())
    key = json.dumps({"kernel_size": 2, "stride": 2, "padding": 1, "dilation": 1,
                      "ceil_mode": True}, sort_keys=True)
    caption = _caption(states[key])
    assert caption.startswith("Output size, per axis: ⌈(7 + 2·1 − (2 − 1) − 1) / 2⌉ + 1 "
                              "= ⌈7 / 2⌉ + 1 = 5.")
    assert "window 5 would start at position (5 − 1)·2 − 1 = 7" in caption
    assert caption.endswith("dropped: output 4×4.")


def test_every_output_cell_is_linked_to_its_window_and_the_last_is_chosen_at_first():
    for params, value in _chapter_states():
        k, s, p, d, _ = (params[n] for n in CHAPTER_CONTROLS)
        out = _output(value)
        picks = re.findall(r'<input type="radio" name="([^"]*)" aria-label="([^"]*)"'
                           r'( checked)?>', value)
        # Each radio button is named by the cell it chooses (read aloud as it is reached).
        assert all(re.fullmatch(r"output \d+×\d+, row \d+, column \d+: \S+", label)
                   for _, label, _ in picks), picks[:2]
        picks = [(name, c) for name, _, c in picks]
        assert len(picks) == out.size and len({name for name, _ in picks}) == 1
        checked = [i for i, (_, c) in enumerate(picks) if c]
        assert checked == [out.size - 1], params  # the last output cell, row-major
        table = value.split('data-role="input"', 1)[1].split("</table>", 1)[0]
        for i, j in np.ndindex(out.shape):
            cells = re.findall(rf'<td class="[^"]*\bpc-w{i}-{j}\b[^"]*"[^>]*data-pos="(\d+),'
                               rf'(\d+)"', table)
            want = {(i * s + a * d, j * s + b * d) for a in range(k) for b in range(k)}
            assert {(int(r), int(c)) for r, c in cells} == want, (params, i, j)
            assert re.search(rf'class="[^"]*\bpc-o{i}-{j}\b', value)


def test_padding_and_ceil_mode_overhang_are_drawn_apart_and_legended():
    states = {json.dumps(p, sort_keys=True): v for p, v in _chapter_states()}

    def state(**kw):
        params = {"kernel_size": 2, "stride": 2, "padding": 0, "dilation": 1,
                  "ceil_mode": False} | kw
        return states[json.dumps(params, sort_keys=True)]

    overhang = state(ceil_mode=True)  # 7 = 3 windows of 2 + 1 cell: a 4th overhangs
    assert "pc-over" in overhang and "pc-pad" not in overhang
    assert "reached only by a ceil_mode window" in overhang
    padded = state(padding=1, kernel_size=3)
    assert "pc-pad" in padded and "pc-over" not in padded
    assert "padding: never a candidate" in padded
    plain = state()
    assert "pc-pad" not in plain and "pc-over" not in plain


def test_average_pooling_with_dilation_says_why_it_is_refused():
    states = list(_chapter_states(forward.avg_pool2d_loop))
    for params, value in states:
        if params["dilation"] == 2:
            assert "no dilation parameter" in value and _attr(value, "data-error")
        else:
            assert _attr(value, "data-error") is None, params


def test_figure_text_is_at_least_14_px():
    sizes = re.findall(r"font-size:\s*([\d.]+)(px|em|rem)", figures.GRID_CSS)
    assert sizes and all(unit == "px" and float(v) >= 14 for v, unit in sizes)


def test_a_figure_image_says_what_it_shows_and_keeps_its_words_in_the_png():
    """Alt text comes from the figure (title, axis labels, legend), not a placeholder, and
    the PNG the book build reads carries the same text."""
    import base64

    import matplotlib.pyplot as plt

    from pooling_course.widgets import to_html

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0], label="box K=2")
    ax.set_title("gain of a box")
    ax.set_xlabel("ω")
    ax.legend()
    expected = figures.describe(fig)
    assert "gain of a box" in expected and "ω" in expected and "box K=2" in expected
    drawn = to_html(fig)
    assert f'alt="{html.escape(expected, quote=True)}"' in drawn
    png = base64.b64decode(re.search(r"base64,([^\"]+)", drawn).group(1))
    assert figures.png_description(png) == expected


PHONE_COLUMN = 358  # CSS px: the text column of a 390 px wide phone, as Chromium lays it out


def test_png_records_the_smallest_text_it_draws():
    """A 9 pt text drawn at 200 dpi is 25 px tall in the PNG; tick labels of a hidden axis
    (never drawn) do not count."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.set_title("nine points", fontsize=9)
    ax.tick_params(labelsize=4)
    ax.axis("off")
    data = figures.png_bytes(fig, 200)
    plt.close(fig)
    assert float(figures.png_description(data, figures.SMALLEST_TEXT_KEY)) == pytest.approx(
        9 * 200 / 72, abs=0.01)


@pytest.mark.parametrize("width", [3.0, 4.8, 6.8, 9.0])
def test_a_figure_drawn_for_the_book_shows_text_of_11_px_on_a_phone(width):
    """Whatever a figure's width and fonts, its PNG (as the widgets and the book draw it, at
    twice the CSS px per inch) shows its smallest text at 11 px or more when scaled to a
    phone's column."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(width, 2.5))
    axes[0].plot([0, 1], label="a legend at 7 pt")
    axes[0].legend(fontsize=7)
    axes[1].set_title("title at 8 pt", fontsize=8)
    axes[1].tick_params(labelsize=6)
    css_px_per_inch = 96
    data = figures.png_bytes(fig, 2 * css_px_per_inch, bbox_inches="tight")
    plt.close(fig)
    png_width = int.from_bytes(data[16:20], "big")
    shown = min(png_width / 2, PHONE_COLUMN)  # the page shows it at half its pixels, or less
    smallest = float(figures.png_description(data, figures.SMALLEST_TEXT_KEY))
    assert smallest * shown / png_width >= 11
