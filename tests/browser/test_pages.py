"""Every page of the built book, loaded once: offline, light, readable on a phone, accessible.

One page load per page checks, in order:

- at a 1280 px window: the page loads with no request off the machine, no failed request and
  no console error; every equation renders (no MathJax error); no code cell, output or figure
  is wider than the text column;
- the page with everything a reader who scrolls through it would load (the states of its
  figures one move away included) weighs at most :data:`MAX_PAGE_BYTES`: the HTML, scripts,
  stylesheets, fonts, images and figure states, as the browser counts them;
- at a 390 px window (a phone): the page does not scroll sideways, and every display equation
  either fits or scrolls inside its own box (which the keyboard can reach);
- axe-core (pinned in ``package.json``) finds no serious or critical violation of WCAG 2.1
  A/AA, except the theme's own findings listed in :data:`THEME_FINDINGS`, each with why it
  stays.

And, for every page, at a 390 px window: the text of every figure (every PNG a cell drew and
every state of every interactive figure, shown or not, and SVG text) is at least
:data:`MIN_FIGURE_TEXT_PX` CSS px tall as shown in the column.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from book_site import ROOT, book_pages

from pooling_course.figures import SMALLEST_TEXT_KEY, png_description

PAGES = book_pages()
TIMEOUT = 10_000  # ms
MAX_PAGE_BYTES = int(2.5 * 2**20)
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

#: axe findings in the theme's own markup that no configuration or stylesheet of the book can
#: change: (rule, CSS selector axe reports) -> why it stays. Empty while none remains.
THEME_FINDINGS: dict[tuple[str, str], str] = {}

#: Code and output blocks: none may be wider than the column it sits in.
BLOCKS = ("div.highlight pre, div.cell_output pre, div.output pre, .output_area pre, "
          "pre.literal-block, div.cell_output .pc-explorer, div.cell_output img")
COLUMN_CHECK = """els => els.map(e => {
    const box = e.closest('.bd-article') || document.body;
    const r = e.getBoundingClientRect(), b = box.getBoundingClientRect();
    const text = (e.innerText || e.getAttribute('alt') || '').split('\\n')
        .reduce((a, l) => l.length > a.length ? l : a, '');
    return {over: Math.max(e.scrollWidth - e.clientWidth, r.right - b.right),
            line: text.slice(0, 100)};
}).filter(o => o.over > 1)"""

#: Bytes the page loaded: the document and every resource (decoded sizes; data: URIs are
#: part of the document that holds them).
WEIGHT = """() => {
    const entries = [...performance.getEntriesByType('navigation'),
                     ...performance.getEntriesByType('resource')];
    return entries.map(e => [e.name, e.decodedBodySize || e.encodedBodySize || 0]);
}"""

#: What is wider than a phone's window: the page itself, an element of the article or of the
#: footer's previous/next links (the theme clips those rather than widen the page), and display
#: equations that neither fit nor scroll in a box of their own.
PHONE_CHECK = """() => {
    const page = document.scrollingElement.scrollWidth - window.innerWidth;
    const clipped = [...document.querySelectorAll("mjx-container[display='true']")]
        .filter(m => {
            const r = m.getBoundingClientRect();
            const style = getComputedStyle(m);
            const scrolls = ['auto', 'scroll'].includes(style.overflowX);
            const inside = r.left >= -1 && r.right <= window.innerWidth + 1;
            const fits = m.scrollWidth <= m.clientWidth + 1;
            return m.offsetParent !== null && !(inside && (fits || (scrolls
                && m.getAttribute('tabindex') === '0')));
        })
        .map(m => (m.closest('.math') || m).textContent.slice(0, 60));
    // inside a box that scrolls sideways (a wide table of a cell's output), width is fine
    const scrolls = e => {
        for (let a = e.parentElement; a && !a.matches('.bd-article, .prev-next-area');
             a = a.parentElement) {
            if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return true;
        }
        return false;
    };
    const wide = [...document.querySelectorAll('.bd-article *, .prev-next-area *')].filter(e => {
        const r = e.getBoundingClientRect();
        return e.offsetParent !== null && r.width > 0 && r.right > window.innerWidth + 1
            && !e.closest("mjx-container, .pc-controls, dl.py dt") && !scrolls(e);
    }).slice(0, 3).map(e => e.tagName + '.' + e.className + ': '
                        + (e.textContent || '').slice(0, 40));
    // the theme hides what overflows a footer link: a title cut inside its own box
    const cut = [...document.querySelectorAll('.prev-next-area a')]
        .filter(a => a.scrollWidth > a.clientWidth + 1)
        .map(a => 'footer link cut: ' + a.innerText.replace(/\\s+/g, ' ').slice(0, 50));
    wide.push(...cut);
    return {page, clipped, wide};
}"""


#: The smallest font size (CSS px) a figure's text may show at on a 390 px phone: a little
#: under the body's small print (14 px), and twice what a 6.8-inch figure with 9 pt tick
#: labels showed (5-6 px) before figures were drawn for phones.
MIN_FIGURE_TEXT_PX = 11

#: Every image in the article at the phone's width: where it comes from, the width it is shown
#: at and its own width in pixels; and the text of inline SVG figures at its shown size.
FIGURE_IMAGES = """() => [...document.querySelectorAll('.bd-article img')]
    .filter(i => i.offsetParent !== null && i.naturalWidth > 0)
    .map(i => ({src: i.currentSrc || i.src, shown: i.getBoundingClientRect().width,
                natural: i.naturalWidth, alt: (i.alt || '').slice(0, 60),
                figure: !!i.closest('.cell_output, .output, .pc-explorer')}))"""
SVG_TEXT = """() => [...document.querySelectorAll('.bd-article svg text')]
    .filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0)
    .map(t => ({px: parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a,
                text: t.textContent.trim().slice(0, 30)}))"""
#: The width a figure may take in the column (a probe element's width).
COLUMN = """() => { const a = document.querySelector('.bd-article') || document.body;
    const probe = document.createElement('div'); a.appendChild(probe);
    const width = probe.getBoundingClientRect().width; probe.remove(); return width; }"""
STATE_IMAGE = re.compile(r'<img class="pc-plot" src="data:image/png;base64,([^"]+)" '
                         r'width="(\d+)"')


def _png_text_px(data: bytes) -> float | None | str:
    """The smallest text in a course PNG, in its own pixels; None when it has no text; a
    message when the PNG was not drawn by :func:`pooling_course.figures.png_bytes`."""
    if png_description(data) is None:
        return "no description: not drawn by pooling_course.figures"
    size = png_description(data, SMALLEST_TEXT_KEY)
    return None if size is None else float(size)


def _small_figure_text(page, server: str, book_dir: Path, path: str) -> list[str]:
    """Figures of the page whose smallest text shows under :data:`MIN_FIGURE_TEXT_PX` at the
    page's current (phone) width, with where they are and what they show."""
    small = []
    for image in page.evaluate(FIGURE_IMAGES):
        if not image["figure"]:
            continue
        src = image["src"]
        if src.startswith("data:"):
            data = base64.b64decode(src.split(",", 1)[1])
        else:
            data = (book_dir / unquote(urlparse(src).path).lstrip("/")).read_bytes()
        size = _png_text_px(data)
        if isinstance(size, str):
            small.append(f"{image['alt'] or src[-40:]}: {size}")
        elif size is not None:
            px = size * image["shown"] / image["natural"]
            if px < MIN_FIGURE_TEXT_PX:
                small.append(f"{px:.1f} px: {image['alt']}")
    small += [f"{t['px']:.1f} px (SVG): {t['text']}" for t in page.evaluate(SVG_TEXT)
              if t["px"] < MIN_FIGURE_TEXT_PX]
    # The states of interactive figures that are not on screen: each is an image shown at its
    # width attribute, or narrower when the column is.
    column = page.evaluate(COLUMN)
    states = book_dir / "_static" / "pc-states" / path.removesuffix(".html").replace("/", "-")
    for state in sorted(states.rglob("*.js")):
        body = json.loads(state.read_text().split(", ", 2)[2].rstrip().rstrip(";").rstrip(")"))
        for encoded, width in STATE_IMAGE.findall(body):
            data = base64.b64decode(encoded)
            size = _png_text_px(data)
            natural = int.from_bytes(data[16:20], "big")
            if isinstance(size, str):
                small.append(f"{state.relative_to(book_dir)}: {size}")
            elif size is not None:
                px = size * min(int(width), column) / natural
                if px < MIN_FIGURE_TEXT_PX:
                    small.append(f"{px:.1f} px: {state.relative_to(book_dir)}")
    return small


def _load(page, url: str) -> None:
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("path", PAGES or ["<no built book>"])
def test_page_offline_light_phone_ready_and_accessible(offline_page, server, book_dir, path,
                                                       capsys):
    if path.startswith("<"):
        pytest.skip("no built book")
    page, traffic = offline_page
    page.set_viewport_size({"width": 1280, "height": 900})
    _load(page, server + path)
    math = page.locator("span.math, div.math").count()
    if math:
        page.wait_for_function(
            "n => document.querySelectorAll('mjx-container').length >= n", arg=math,
            timeout=TIMEOUT)
    assert page.locator("mjx-merror").count() == 0, f"{path}: MathJax reported a TeX error"
    wide = page.eval_on_selector_all(BLOCKS, COLUMN_CHECK)
    assert wide == [], f"{path}: {len(wide)} block(s) overflow at 1280 px, e.g. {wide[:3]}"

    # A reader scrolling through: figures coming into view load their neighbouring states.
    page.evaluate("async () => { for (let y = 0; y < document.body.scrollHeight; y += 600)"
                  " { window.scrollTo(0, y); await new Promise(r => setTimeout(r, 20)); } }")
    page.wait_for_load_state("networkidle")
    loaded = page.evaluate(WEIGHT)
    weight = sum(size for _, size in loaded)
    with capsys.disabled():
        print(f"\n{path}: {weight / 2**20:.2f} MB in {len(loaded)} files")
    assert weight <= MAX_PAGE_BYTES, (
        f"{path} loads {weight / 2**20:.2f} MB; largest: "
        f"{sorted(loaded, key=lambda e: -e[1])[:5]}")

    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("() => new Promise(r => setTimeout(r, 300))")  # the resize handler's pause
    phone = page.evaluate(PHONE_CHECK)
    assert phone["page"] <= 0, (f"{path} scrolls sideways by {phone['page']} px at 390 px: "
                                f"{phone['wide']}")
    assert phone["clipped"] == [], f"{path}: equations clipped at 390 px: {phone['clipped']}"
    assert phone["wide"] == [], f"{path}: wider than a 390 px screen: {phone['wide']}"
    small = _small_figure_text(page, server, book_dir, path)
    assert small == [], (f"{path}: {len(small)} figure(s) with text under "
                         f"{MIN_FIGURE_TEXT_PX} px at 390 px, e.g. {small[:4]}")

    serious = _axe(page)
    assert serious == [], f"{path}: axe-core (WCAG 2.1 A/AA) finds {serious}"
    if page.locator(".pc-explorer").count():  # figures stay readable in dark mode
        page.emulate_media(color_scheme="dark")
        page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'",
                               timeout=TIMEOUT)
        dark = _axe(page, context="{include: [['.pc-explorer']]}", rules=["color-contrast"])
        assert dark == [], f"{path}: in dark mode, axe-core finds {dark}"
    assert traffic.problems() == [], f"{path}: {traffic.problems()}"


def _axe(page, context: str = "document", rules: list[str] | None = None) -> list[str]:
    """axe-core's serious and critical violations on the page (WCAG 2.1 A/AA, or only
    ``rules``), minus :data:`THEME_FINDINGS`."""
    if not AXE.exists():
        pytest.fail(f"no {AXE}: run `npm ci` (package.json pins axe-core)")
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    run_only = ({"type": "rule", "values": rules} if rules
                else {"type": "tag", "values": AXE_TAGS})
    result = page.evaluate(f"runOnly => axe.run({context}, {{runOnly,"
                           " resultTypes: ['violations']})", run_only)
    found = []
    for violation in result["violations"]:
        if violation["impact"] not in ("serious", "critical"):
            continue
        for node in violation["nodes"]:
            target = " ".join(map(str, node["target"]))
            if (violation["id"], target) in THEME_FINDINGS:
                continue
            found.append(f"{violation['id']} ({violation['impact']}) at {target}: "
                         f"{node.get('failureSummary', '')[:160]}")
    return found
