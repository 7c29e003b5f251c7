"""``python -m pooling_course assign``: write each student notebook from its solution.

One source per exercise: ``solutions/NN_topic.ipynb`` holds the answers, marked, and
``exercises/NN_topic.ipynb`` is generated from it (in the spirit of nbgrader's and
otter-grader's assign steps). The rules, all of them:

* **Solution code** sits between two comment lines in a code cell::

      # BEGIN SOLUTION "part 1: route each window's gradient to its first maximum"
      ...the answer...
      # END SOLUTION

  In the student copy the lines from ``BEGIN`` to ``END`` become one line at the marker's
  indentation, ``raise NotImplementedError("part 1: ...")``: the hint is a Python string
  literal, copied verbatim (a bare ``# BEGIN SOLUTION`` gives ``raise NotImplementedError()``).
  Code before and after the markers (signature, docstring, the first unpacking lines) is kept.
* **Cells tagged** ``solution-only`` (the solution's own introduction, hidden tests, extra
  checks) are left out of the student copy; cells tagged ``exercise-only`` (markdown meant for
  students only) are left out of nothing but lose the tag. Other tags are kept.
* A code cell of the student copy that comes after a stub and has no stub of its own calls
  the student's unfinished code, so it is tagged ``raises-exception`` (Jupyter and nbval then
  run past its error).
* Outputs, execution counts and execution metadata are cleared; the notebook's metadata keeps
  the kernel and ``language_info = {"name": "python"}``; cell ids are the solution's.

The markers are comments, so a solution executes (and nbval checks its stored outputs) as if
they were not there. ``--check`` writes nothing and fails when ``exercises/`` differs from
what would be written, which is what the test suite runs.

``--adopt-markdown`` goes the other way, for merges: where someone edited the markdown of a
student notebook instead of its solution, it copies each student markdown cell's text into the
solution cell it came from (matched in order; a notebook whose markdown cells do not pair up is
reported and left alone). Run it, review the solutions' diff, then run ``assign``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when used: `check` and `grade` share this command line
    from nbformat import NotebookNode

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?:[ \t]+(?P<hint>\S.*?))?[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
SOLUTION_ONLY, EXERCISE_ONLY, RAISES = "solution-only", "exercise-only", "raises-exception"
ROOT = Path(__file__).resolve().parent.parent


class MarkerError(ValueError):
    """A solution notebook's markers are malformed (unbalanced, nested, or a bad hint)."""


def stub_source(source: str, where: str = "cell") -> tuple[str, int]:
    """``source`` with every marked solution replaced by its stub, and the number of stubs.

    >>> source = ('def f(x):\\n'
    ...           '    # BEGIN SOLUTION "part 1: double x"\\n'
    ...           '    return 2 * x\\n'
    ...           '    # END SOLUTION')
    >>> print(stub_source(source)[0])
    def f(x):
        raise NotImplementedError("part 1: double x")
    """
    out, stubs, inside = [], 0, False
    for number, line in enumerate(source.split("\n"), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if inside:
                raise MarkerError(f"{where}, line {number}: BEGIN SOLUTION inside a solution")
            hint = begin.group("hint") or ""
            if hint:
                try:
                    value = ast.literal_eval(hint)
                except (ValueError, SyntaxError) as exc:
                    raise MarkerError(f"{where}, line {number}: the hint must be a Python "
                                      f"string literal, got {hint!r}") from exc
                if not isinstance(value, str):
                    raise MarkerError(f"{where}, line {number}: the hint must be a string, "
                                      f"got {hint!r}")
            out.append(f"{begin.group('indent')}raise NotImplementedError({hint})")
            inside, stubs = True, stubs + 1
        elif end:
            if not inside:
                raise MarkerError(f"{where}, line {number}: END SOLUTION without BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out), stubs


def student_notebook(solution: NotebookNode, name: str = "notebook"
                     ) -> NotebookNode:
    """The student copy of a solution notebook (see the module's rules)."""
    nb = copy.deepcopy(solution)
    cells, after_stub = [], False
    for index, cell in enumerate(nb.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        if SOLUTION_ONLY in tags:
            continue
        tags = [t for t in tags if t not in (EXERCISE_ONLY, RAISES)]
        if cell.cell_type == "code":
            cell.source, stubs = stub_source(cell.source, f"{name}, cell {index}")
            cell.outputs, cell.execution_count = [], None
            if after_stub and not stubs:
                tags.append(RAISES)
            after_stub = after_stub or stubs > 0
        elif BEGIN.search(cell.source) or "# END SOLUTION" in cell.source:
            raise MarkerError(f"{name}, cell {index}: solution markers in a {cell.cell_type} "
                              f"cell (tag the cell solution-only instead)")
        cell.metadata = {"tags": tags} if tags else {}
        cells.append(cell)
    nb.cells = cells
    nb.metadata = {"kernelspec": solution.metadata.get("kernelspec", {
        "display_name": "Python 3", "language": "python", "name": "python3"}),
        "language_info": {"name": "python"}}
    return nb


def render(solution_path: Path) -> str:
    """The student notebook of ``solution_path`` as the text ``nbformat.write`` writes."""
    import nbformat

    solution = nbformat.read(solution_path, as_version=4)
    nb = student_notebook(solution, solution_path.name)
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def assign(solutions: Path, exercises: Path, names: list[str] | None = None,
           check: bool = False) -> list[str]:
    """Write (or, with ``check``, compare) ``exercises/<name>.ipynb`` for every solution.

    Returns the names whose student notebook differs from the file on disk (before writing).
    """
    paths = sorted(solutions.glob("[0-9]*.ipynb"))
    if names:
        wanted = {n.removesuffix(".ipynb") for n in names}
        unknown = wanted - {p.stem for p in paths}
        if unknown:
            raise ValueError(f"no solution notebook for {sorted(unknown)} in {solutions}")
        paths = [p for p in paths if p.stem in wanted]
    if not paths:
        raise ValueError(f"no solution notebooks (NN_*.ipynb) in {solutions}")
    changed = []
    for path in paths:
        text = render(path)
        target = exercises / path.name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            changed.append(path.stem)
            if not check:
                exercises.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    return changed


def adopt_markdown(solutions: Path, exercises: Path, names: list[str] | None = None
                   ) -> dict[str, str]:
    """Copy markdown edited in ``exercises/`` back into the solutions it is generated from.

    Returns, per notebook looked at, what happened (``"adopted N cells"``, ``"unchanged"`` or
    why it was skipped).
    """
    import nbformat

    report = {}
    for path in sorted(solutions.glob("[0-9]*.ipynb")):
        if names and path.stem not in {n.removesuffix(".ipynb") for n in names}:
            continue
        target = exercises / path.name
        if not target.exists():
            report[path.stem] = "skipped: no student notebook"
            continue
        solution = nbformat.read(path, as_version=4)
        kept = [c for c in solution.cells if c.cell_type == "markdown"
                and SOLUTION_ONLY not in c.get("metadata", {}).get("tags", [])]
        theirs = [c for c in nbformat.read(target, as_version=4).cells
                  if c.cell_type == "markdown"]
        if len(kept) != len(theirs):
            report[path.stem] = (f"skipped: {len(theirs)} markdown cells in the student "
                                 f"notebook, {len(kept)} in the solution")
            continue
        changed = 0
        for ours, edited in zip(kept, theirs, strict=True):
            if ours.source != edited.source:
                ours.source, changed = edited.source, changed + 1
        if changed:
            nbformat.write(solution, path)
        report[path.stem] = f"adopted {changed} cells" if changed else "unchanged"
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="exercises to write (default: every one)")
    parser.add_argument("--solutions", default=str(ROOT / "solutions"),
                        help="folder of marked solution notebooks (default: solutions/)")
    parser.add_argument("--exercises", default=str(ROOT / "exercises"),
                        help="folder to write the student notebooks to (default: exercises/)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a student notebook is out of date")
    parser.add_argument("--adopt-markdown", action="store_true",
                        help="copy markdown edited in the student notebooks into the "
                             "solutions (for merges), then stop")


def command(args: argparse.Namespace) -> int:
    if args.adopt_markdown:
        for name, what in adopt_markdown(Path(args.solutions), Path(args.exercises),
                                         args.names).items():
            print(f"{name}: {what}")
        return 0
    try:
        changed = assign(Path(args.solutions), Path(args.exercises), args.names, args.check)
    except MarkerError as exc:
        print(f"assign: {exc}", file=sys.stderr)
        return 2
    if args.check:
        for name in changed:
            print(f"out of date: {Path(args.exercises) / name}.ipynb (run `python -m "
                  f"pooling_course assign`)", file=sys.stderr)
        return 1 if changed else 0
    for name in changed:
        print(f"wrote {Path(args.exercises) / name}.ipynb")
    return 0
