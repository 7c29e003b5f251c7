"""The book's sources, checked before a build: what the browser tests would find minutes later."""

from __future__ import annotations

from pathlib import Path

BOOK = Path(__file__).resolve().parents[1] / "book"

#: Characters of code that fit the article column at 1280 px in the theme's code font; a longer
#: line scrolls sideways even in a folded cell (tests/browser/test_pages.py measures the pixels).
CODE_COLUMNS = 76


def _code_lines(text: str):
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```{code-cell}"):
            inside = True
        elif inside and line.startswith("```"):
            inside = False
        elif inside and not line.startswith(":"):
            yield number, line


def test_every_code_line_fits_the_column_at_1280_px():
    long = [f"{page.name}:{number} ({len(line)} chars)"
            for page in sorted(BOOK.glob("*.md")) for number, line in _code_lines(page.read_text())
            if len(line) > CODE_COLUMNS]
    assert long == [], f"code lines over {CODE_COLUMNS} characters: {long}"


def test_the_line_check_sees_a_long_line():
    cell = "```{code-cell} ipython3\n:tags: [hide-input]\n\n" + "x = 1  " + "#" * 80 + "\n```\n"
    assert [number for number, _ in _code_lines(cell)] == [3, 4]
    assert any(len(line) > CODE_COLUMNS for _, line in _code_lines(cell))
