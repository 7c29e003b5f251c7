"""The book's sources, checked before a build: what the browser tests would find minutes later.

The sources are the pages under book/ and the package's docstrings, which autodoc renders on the
reference pages."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

BOOK = Path(__file__).resolve().parents[1] / "book"
PACKAGE = Path(__file__).resolve().parents[1] / "pooling_course"

#: Characters of code that fit the article column at 1280 px in the theme's code font; a longer
#: line scrolls sideways even in a folded cell (tests/browser/test_pages.py measures the pixels).
CODE_COLUMNS = 76

#: Characters of a docstring example that fit the reference page's column at 1280 px: autodoc
#: shows the docstring without its indentation in a narrower box, and a longer line wraps
#: mid-expression (``padding=(0,`` on one line, ``0),`` on the next).
DOCTEST_COLUMNS = 72


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


def _doctest_lines(source: str):
    """(line in the file, line as the reader sees it) of every doctest line of every module,
    class and function docstring in ``source``: each ``>>>`` and ``...`` line and the expected
    output after it, up to a blank line."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        docstring = ast.get_docstring(node, clean=False)
        if docstring is None:
            continue
        # cleandoc drops the blank lines before the text; the first line left is the first one
        # with text, which starts the count from the opening quotes.
        skipped = next(i for i, line in enumerate(docstring.splitlines()) if line.strip())
        first = node.body[0].value.lineno + skipped
        inside = False
        for offset, line in enumerate(inspect.cleandoc(docstring).splitlines()):
            text = line.strip()
            if text == ">>>" or text.startswith(">>> "):
                inside = True
            elif not text:
                inside = False
            if inside:
                yield first + offset, line


def test_every_docstring_example_fits_the_reference_column_at_1280_px():
    long = [f"{path.relative_to(PACKAGE.parent)}:{number} ({len(line)} chars)"
            for path in sorted(PACKAGE.rglob("*.py"))
            for number, line in _doctest_lines(path.read_text())
            if len(line) > DOCTEST_COLUMNS]
    assert long == [], f"docstring example lines over {DOCTEST_COLUMNS} characters: {long}"


def test_the_docstring_check_sees_a_long_line():
    # Long prose is no example; a docstring that opens on a blank line counts from its quotes.
    source = ('"""\n'
              '>>> 1\n'
              '1\n'
              '"""\n'
              '\n'
              'def f():\n'
              '    """Prose that runs on and ' + "on " * 30 + '\n'
              '\n'
              '    >>> f(1,\n'
              '    ...   2)\n'
              '    ' + "1" * 80 + '\n'
              '\n'
              '    More prose.\n'
              '    """\n')
    lines = list(_doctest_lines(source))
    assert [(number, len(line)) for number, line in lines] == [(2, 5), (3, 1), (9, 8), (10, 8),
                                                               (11, 80)]
    assert [number for number, line in lines if len(line) > DOCTEST_COLUMNS] == [11]
