"""The built book works offline: pages load, math renders, every interactive figure responds.

Each figure of :mod:`pooling_course.widgets` shows one state at a time, a ``.pc-state`` whose
``data-`` attributes name the function, its keyword arguments and the input. Moving a control
must bring up the state for the values the controls now show, and that state's numbers must be
what the package computes for them, recomputed here.
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
from book_site import HTML, book_pages

from pooling_course.figures import format_value

PAGES = book_pages()
TIMEOUT = 10_000  # ms


def _load(page, url: str) -> None:  # noqa: D103
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")


def _pages_with(marker: str) -> list[str]:
    """The built pages whose HTML contains ``marker``."""
    return [p for p in PAGES if marker in (HTML / p).read_text(encoding="utf-8")]


def _figure_pages() -> list[str]:
    return _pages_with("pc-explorer")


@pytest.mark.parametrize("path", _figure_pages() or ["<no page with a figure>"])
def test_every_control_of_every_figure_shows_the_package_output(offline_page, server, path):
    if path.startswith("<"):
        pytest.skip("the built book has no interactive figure")
    page, traffic = offline_page
    _load(page, server + path)
    page.wait_for_selector(".pc-explorer .pc-state", timeout=TIMEOUT)
    figures = page.locator(".pc-explorer")
    for f in range(figures.count()):
        figure = figures.nth(f)
        _check_state(figure)
        controls = figure.locator("[class*='pc-control-']")
        assert controls.count() > 0, f"{path}: figure {f} has no controls"
        # Every control is named (a label or a legend) for screen readers.
        names = figure.evaluate("""f => [...f.querySelectorAll('.pc-control')].map(c =>
            (c.querySelector('input[type=range]')?.labels?.[0]?.textContent
             || c.querySelector('legend')?.textContent || '').trim())""")
        assert all(names), f"{path}: figure {f} has an unnamed control: {names}"
        for c in range(controls.count()):
            control = controls.nth(c)
            name = _control_name(control)
            moves = _moves(control)
            for i, step in enumerate(moves):
                # Every value must bring up its own state; drawing the state again in
                # Python is what costs, so that is done for the last value of each
                # control (the first state was drawn above).
                _move_and_check(figure, step, f"{path}: moving {name}",
                                redraw=i == len(moves) - 1)
    assert traffic.problems() == []


def test_figure_works_from_disk(browser, book_dir):
    """Opened as a file (no server at all), a figure still responds and math still renders."""
    paths = _figure_pages()
    if not paths:
        pytest.skip("the built book has no interactive figure")
    context = browser.new_context()
    blocked = []
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:"))
                  else (blocked.append(r.request.url), r.abort()))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto((book_dir / paths[0]).as_uri())
    figure = page.locator(".pc-explorer").first
    figure.locator(".pc-state").first.wait_for(timeout=TIMEOUT)
    for step in _moves(figure.locator("[class*='pc-control-']").first):
        _move_and_check(figure, step, "from disk")
    if page.locator("span.math, div.math").count():
        page.wait_for_selector("mjx-container", timeout=TIMEOUT)
    context.close()
    assert blocked == [] and errors == []


def test_no_page_loads_anything_from_another_host(book_dir):
    """No script, stylesheet, image or font of any page points off the book (no browser needed).

    The one remote address allowed is the thebe launcher's, fetched only if a reader launches.
    """
    import re

    remote = re.compile(r'<(?:script|link|img|iframe)\b[^>]*(?:src|href)="(?:https?:)?//[^"]*"')
    offenders = {}
    for path in PAGES:
        text = (book_dir / path).read_text(encoding="utf-8")
        tags = [t for t in remote.findall(text) if 'rel="canonical"' not in t]
        if tags:
            offenders[path] = tags
    assert offenders == {}


def test_figure_text_is_at_least_14_px(offline_page, server):
    paths = _figure_pages()
    if not paths:
        pytest.skip("the built book has no interactive figure")
    page, _ = offline_page
    _load(page, server + paths[0])
    page.wait_for_selector(".pc-explorer .pc-state", timeout=TIMEOUT)
    sizes = page.eval_on_selector_all(
        ".pc-state:not([style*='none']) :is(td, caption, .pc-note, .pc-legend, .pc-error)",
        "els => els.filter(e => e.offsetParent !== null)"
        ".map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert sizes and min(sizes) >= 14, f"smallest figure text: {min(sizes or [0])} px"


def test_clicking_an_output_cell_outlines_its_window_and_only_it(offline_page, server):
    """The chosen output cell (the last one at first, then any clicked one) and the input
    cells of its window are outlined; no other cell is."""
    paths = _pages_with("pc-o0-0")
    if not paths:
        pytest.skip("the built book has no figure with selectable output cells")
    page, traffic = offline_page
    _load(page, server + paths[0])
    page.wait_for_selector(".pc-explorer .pc-state", timeout=TIMEOUT)
    state = _visible_state(page.locator(".pc-explorer").first)
    outlined = """st => [...st.querySelectorAll('td')].filter(td =>
        getComputedStyle(td).borderTopColor === 'rgb(217, 95, 2)').map(td =>
        (td.closest('table').dataset.role) + ':' + td.dataset.pos).sort()"""

    def expected(i: int, j: int) -> list[str]:
        cells = state.locator(f"table[data-role='input'] td.pc-w{i}-{j}")
        return sorted([f"input:{cells.nth(n).get_attribute('data-pos')}"
                       for n in range(cells.count())] + [f"output:{i},{j}"])

    rows = state.locator("table[data-role='output'] tr")
    last = (rows.count() - 1, rows.first.locator("td").count() - 1)
    assert state.evaluate(outlined) == expected(*last)
    state.locator("td.pc-o0-1").click()
    page.mouse.move(0, 0)  # hovering previews a cell; move away to see the chosen one
    assert state.evaluate(outlined) == expected(0, 1)
    # By keyboard alone: Tab reaches the chosen cell's radio button, whose name says which
    # cell it is; an arrow key chooses the next cell (row by row).
    chosen = state.locator("td.pc-o0-1 input[type=radio]")
    assert chosen.is_checked() and "row 1, column 2" in chosen.get_attribute("aria-label")
    chosen.focus()
    page.keyboard.press("ArrowRight")
    nxt = (0, 2) if last[1] >= 2 else (1, 0)
    assert state.locator(f"td.pc-o{nxt[0]}-{nxt[1]} input[type=radio]").is_checked()
    assert state.evaluate(outlined) == expected(*nxt)
    assert traffic.problems() == []


def test_search_finds_the_chapters(offline_page, server):
    page, traffic = offline_page
    _load(page, server + "search.html?q=pooling")
    page.wait_for_selector("#search-results li", timeout=TIMEOUT)
    assert page.locator("#search-results li").count() >= 1
    assert traffic.problems() == []


def test_notebook_pages_offer_their_ipynb(offline_page, server, book_dir):
    page, _ = offline_page
    for path in _figure_pages() or PAGES:
        _load(page, server + path)
        links = page.locator("a[href$='.ipynb']")
        if links.count():
            href = links.first.get_attribute("href")
            response = page.request.get(server + path.rsplit("/", 1)[0] + "/" + href
                                        if "/" in path else server + href)
            assert response.ok and '"cells"' in response.text()
            return
    pytest.fail("no page offers an .ipynb download")


# -- helpers -------------------------------------------------------------------------------


def _control_name(control) -> str:
    classes = control.get_attribute("class").split()
    return next(c.removeprefix("pc-control-") for c in classes if c.startswith("pc-control-"))


def _shown_value(control) -> str:
    """The value a control displays: a slider's readout or the chosen button's label."""
    readout = control.locator(".pc-readout")  # the book's static figure
    if readout.count():
        assert readout.inner_text().strip() == control.locator(
            "input[type=range]").get_attribute("aria-valuetext"), "slider announces another value"
        return readout.inner_text().strip()
    if control.locator("input[type=radio]").count():
        return control.locator("input[type=radio]:checked + span").inner_text().strip()
    readout = control.locator(".widget-readout")  # a live ipywidget in JupyterLab
    if readout.count():
        return readout.inner_text().strip()
    return control.locator("button.mod-active").inner_text().strip()


def _moves(control) -> list:
    """Key presses (the keyboard alone) that visit every value of the control once, each
    from the previous one."""
    slider = control.locator("input[type=range], .noUi-handle")
    if slider.count():
        handle = slider.first
        native = control.locator("input[type=range]").count() > 0
        steps = int(float(handle.get_attribute("max" if native else "aria-valuemax")))
        start = int(float(handle.get_attribute("value" if native else "aria-valuenow")))
        keys = ["Home"] * (start != 0) + ["ArrowRight"] * steps
        keys = keys[1:] if start == 0 else keys  # from the first value, Home changes nothing
        return [(lambda key=key: (handle.focus(), handle.press(key))) for key in keys] or []
    radios = control.locator("input[type=radio]")
    if radios.count():  # arrow keys move the choice through the group, wrapping round
        return [(lambda: (control.locator("input[type=radio]:checked").focus(),
                          control.locator("input[type=radio]:checked").press("ArrowRight")))
                for _ in range(radios.count() - 1)]
    buttons = control.locator("button")
    order = [i for i in range(buttons.count()) if "mod-active" not in
             (buttons.nth(i).get_attribute("class") or "")]
    return [(lambda i=i: buttons.nth(i).click()) for i in order]


def _move_and_check(figure, step, what: str, redraw: bool = True) -> None:
    """Make one move; another state must come up, and it must be the right one (its
    parameters are the controls' values; with ``redraw``, it is also what the package
    draws for them)."""
    before = _visible_state(figure).element_handle()
    step()
    try:  # a new state element, the display no longer waiting for a state file
        figure.page.wait_for_function(
            "([fig, before]) => { const s = [...fig.querySelectorAll('.pc-state')]"
            ".find(e => e.offsetParent !== null); return s && s !== before"
            " && !fig.querySelector('[aria-busy=true]'); }",
            arg=[figure.element_handle(), before], timeout=TIMEOUT)
    except Exception as exc:  # playwright's TimeoutError
        raise AssertionError(f"{what} did not change the figure") from exc
    _check_state(figure, redraw=redraw)


def _visible_state(figure):
    return figure.locator(".pc-state:visible").first


def _check_state(figure, live: bool = False, redraw: bool = True) -> dict:
    """The visible state shows the controls' values and the package's output for them
    (drawn again here, unless not ``redraw``); a ``live`` state (a running kernel) was
    drawn with ``live=True``. Returns the state's parameters."""
    state = _visible_state(figure)
    params = json.loads(state.get_attribute("data-params"))
    controls = figure.locator("[class*='pc-control-']")
    shown = {_control_name(controls.nth(i)): _shown_value(controls.nth(i))
             for i in range(controls.count())}
    assert {k: str(v) for k, v in params.items()} == shown

    if not redraw:
        return params
    if state.get_attribute("data-call"):
        _check_grid(state)
    elif state.get_attribute("data-render"):
        _check_render(state, params, live)
    return params


def _check_render(state, params: dict, live: bool = False) -> None:
    """An interactive() state: the figure function, called again, draws exactly this state."""
    from pooling_course.widgets import state_html

    def load(qualname: str):
        module, _, name = qualname.rpartition(".")
        assert module.startswith("pooling_course"), qualname
        return getattr(importlib.import_module(module), name)

    compare = state.get_attribute("data-compare")
    assert compare or not live, "a live figure must compare with torch"
    again = state_html(load(state.get_attribute("data-render")), params,
                       compare=load(compare) if compare else None, live=live)
    assert f'data-digest="{state.get_attribute("data-digest")}"' in again


def _check_grid(state) -> None:
    """An explore() state: every number of the grid is what the package computes."""
    call = json.loads(state.get_attribute("data-call"))
    module, _, name = call["fn"].rpartition(".")
    assert module.startswith("pooling_course"), call["fn"]
    fn = getattr(importlib.import_module(module), name)
    x = np.asarray(json.loads(state.get_attribute("data-input")), dtype=np.float64)
    shown_input = _table(state.locator("table[data-role='input']"))
    assert np.array_equal(shown_input[~np.isnan(shown_input)], x.ravel())
    try:
        expected = np.asarray(fn(x[None], **call["kwargs"]))[0]
    except (ValueError, TypeError) as exc:
        assert state.get_attribute("data-error") == str(exc)
        assert str(exc) in state.inner_text()
        return
    assert state.get_attribute("data-error") is None
    output = state.locator("table[data-role='output']")
    np.testing.assert_allclose(_table(output), expected)
    texts = [[td.inner_text().strip() for td in row.locator("td").all()]
             for row in output.locator("tr").all()]
    assert texts == [[format_value(v) for v in row] for row in expected]


def _table(table) -> np.ndarray:
    """A grid table's numbers from its ``data-value`` cells (padding cells are NaN)."""
    return np.array([[float(td.get_attribute("data-value") or "nan")
                      for td in row.locator("td").all()] for row in table.locator("tr").all()])
