"""Grading: run an exercise's graded tests against a student's notebook.

A graded test is a pytest test in ``tests/test_<exercise>.py`` marked
``@pytest.mark.graded("<exercise>", points=n)`` that takes the ``submission`` fixture: the
namespace left behind by running the notebook's code cells. Each submission is graded in its
own pytest process with a time limit, so a notebook that loops forever or crashes the
interpreter costs its author the points and nobody else anything.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
SOLUTIONS = ROOT / "solutions"
TESTS = ROOT / "tests"
TIME_LIMIT_S = 300


def exercise_names() -> list[str]:
    """Names of the shipped exercises, e.g. ``['01_forward']``."""
    return sorted(p.stem for p in EXERCISES.glob("*.ipynb"))


def exercise_of(path: str | os.PathLike[str]) -> str:
    """The exercise a notebook answers, from its file name: ``alice_01_forward.ipynb`` ->
    ``01_forward``. Raises ``ValueError`` naming the known exercises if none matches."""
    name = Path(path).stem
    matches = [e for e in exercise_names() if name == e or name.endswith(e)]
    if len(matches) != 1:
        raise ValueError(f"cannot tell which exercise {str(path)!r} answers: its file name must "
                         f"end with one of {exercise_names()}")
    return matches[0]


@dataclass
class LoadedNotebook:
    """The namespace a notebook's code cells leave behind, and which cells raised."""

    namespace: types.SimpleNamespace
    errors: list[str] = field(default_factory=list)


def load_notebook(path: str | os.PathLike[str]) -> LoadedNotebook:
    """Run the code cells of the notebook at ``path`` in order, in one fresh namespace.

    A cell that raises does not stop the rest: the exercise notebooks call the stubs to show
    what they return, and an unfinished answer must still let the finished ones be graded.
    IPython magics and shell escapes (lines starting with ``%`` or ``!``) are skipped.
    """
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    scope: dict[str, object] = {"__name__": "submission"}
    errors = []
    for number, cell in enumerate(cells, start=1):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        source = "\n".join(line for line in source.splitlines()
                           if not line.lstrip().startswith(("%", "!")))
        try:
            exec(compile(source, f"{Path(path).name} cell {number}", "exec"), scope)
        except Exception as exc:  # noqa: BLE001 - any failure of student code is reported
            errors.append(f"cell {number}: {type(exc).__name__}: {exc}")
        except SystemExit:
            errors.append(f"cell {number}: called exit()")
    scope.pop("__builtins__", None)
    return LoadedNotebook(types.SimpleNamespace(**scope), errors)


@dataclass
class CheckResult:
    """One graded test's outcome."""

    name: str
    points: float
    passed: bool
    message: str = ""


@dataclass
class Grade:
    """All graded tests of one exercise for one notebook."""

    notebook: str
    exercise: str
    results: list[CheckResult]
    error: str = ""

    @property
    def score(self) -> float:
        return sum(r.points for r in self.results if r.passed)

    @property
    def total(self) -> float:
        return sum(r.points for r in self.results)


def grade_notebook(
    notebook: str | os.PathLike[str], exercise: str | None = None,
    time_limit_s: float = TIME_LIMIT_S,
) -> Grade:
    """Run ``exercise``'s graded tests against ``notebook`` in a separate pytest process."""
    exercise = exercise or exercise_of(notebook)
    test_file = TESTS / f"test_{exercise}.py"
    if not test_file.exists():
        raise ValueError(f"exercise {exercise!r} has no graded tests: {test_file} is missing")
    try:
        json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Grade(str(notebook), exercise, [], f"not a readable notebook: {exc}")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pytest", str(test_file), "-m", "graded", "-q",
                   "-p", "no:cacheprovider", "--no-header", f"--submission={Path(notebook)}",
                   f"--grade-report={report}"]
        try:
            run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                 timeout=time_limit_s)
        except subprocess.TimeoutExpired:
            return Grade(str(notebook), exercise, [], f"timed out after {time_limit_s} s")
        if not report.exists():
            return Grade(str(notebook), exercise, [], (run.stdout + run.stderr)[-2000:])
        data = json.loads(report.read_text())
    results = [CheckResult(**r) for r in data["results"]]
    return Grade(str(notebook), exercise, results, "; ".join(data["load_errors"]))


def check(exercise: str, notebook: str | os.PathLike[str] | None = None) -> Grade:
    """Grade the student's working copy ``exercises/<exercise>.ipynb`` (or ``notebook``)."""
    if exercise not in exercise_names():
        raise ValueError(f"exercise must be one of {exercise_names()}, got {exercise!r}")
    return grade_notebook(notebook or EXERCISES / f"{exercise}.ipynb", exercise)


def grade_folder(submissions: str | os.PathLike[str], out: str | os.PathLike[str]) -> list[Grade]:
    """Grade every ``*.ipynb`` below ``submissions`` and write one CSV row per notebook.

    The student is the first folder below ``submissions`` (``alice/01_forward.ipynb``), or
    the file name before the exercise name (``alice_01_forward.ipynb``).
    """
    root = Path(submissions)
    if not root.is_dir():
        raise ValueError(f"submissions must be a folder of .ipynb files, got {str(root)!r}")
    notebooks = sorted(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    grades = []
    for path in notebooks:
        try:
            grades.append(grade_notebook(path))
        except ValueError as exc:
            grades.append(Grade(str(path), "", [], str(exc)))
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "exercise", "notebook", "score", "total", "failed", "error"])
        for path, g in zip(notebooks, grades, strict=True):
            writer.writerow([_student(root, path, g.exercise), g.exercise,
                             path.relative_to(root), f"{g.score:g}", f"{g.total:g}",
                             " ".join(r.name for r in g.results if not r.passed), g.error])
    return grades


def _student(root: Path, path: Path, exercise: str) -> str:
    relative = path.relative_to(root)
    if len(relative.parts) > 1:
        return relative.parts[0]
    return path.stem.removesuffix(exercise).rstrip("_-. ") or path.stem


def format_grade(grade: Grade) -> str:
    """A student-readable report: one line per test, the failures' first message, the score."""
    lines = [f"{grade.exercise}: {grade.notebook}"]
    if grade.error:
        lines.append(f"  note: {grade.error}")
    for r in grade.results:
        mark = "PASS" if r.passed else "FAIL"
        lines.append(f"  {mark} {r.name} ({r.points:g} pt)")
        if not r.passed and r.message:
            lines.append(f"       {r.message}")
    lines.append(f"  score: {grade.score:g} / {grade.total:g}")
    return "\n".join(lines)

