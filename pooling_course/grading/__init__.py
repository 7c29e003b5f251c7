"""Grading: run an exercise's graded tests against students' notebooks, safely and in parallel.

A graded test is a pytest test in ``tests/test_<exercise>.py`` marked
``@pytest.mark.graded("<exercise>", points=n, question="name", hint="...")`` that takes the
``submission`` fixture and calls ``submission.<function>(...)``. The student's code never runs
in the process that judges it: each notebook runs in its own sandboxed worker
(:mod:`.sandbox`), the tests call its functions through a proxy (:mod:`.proxy`), and only plain
data comes back. Submissions are graded by several pytest processes at once (one per core),
each grading a few notebooks one after another.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .sandbox import Limits, SandboxUnavailable, require_sandbox

__all__ = ["ROOT", "EXERCISES", "SOLUTIONS", "TESTS", "Limits", "SandboxUnavailable", "Result",
           "Outcome", "exercise_names", "exercise_of", "notebook_cells", "grade", "check",
           "grade_folder", "format_report", "STATUSES"]

ROOT = Path(__file__).resolve().parent.parent.parent
EXERCISES = ROOT / "exercises"
SOLUTIONS = ROOT / "solutions"
TESTS = ROOT / "tests"
MAX_NOTEBOOK_BYTES = 20 << 20
STATUSES = ("ok", "timeout", "memory", "crashed", "unreadable", "missing")
_SEVERITY = ("timeout", "memory", "crashed", "unreadable", "missing")


def exercise_names() -> list[str]:
    """Names of the shipped exercises, e.g. ``['01_forward']``."""
    return sorted(p.stem for p in EXERCISES.glob("*.ipynb"))


def exercise_of(path: str | os.PathLike[str]) -> str:
    """The exercise a notebook answers, from its file name: ``alice_01_forward.ipynb`` ->
    ``01_forward``. Raises ``ValueError`` naming the known exercises if none matches."""
    name = Path(path).stem
    matches = sorted((e for e in exercise_names() if name == e or name.endswith(e)), key=len)
    if not matches:
        raise ValueError(f"cannot tell which exercise {Path(path).name!r} answers: its file name "
                         f"must end with one of {exercise_names()}")
    return matches[-1]


def notebook_cells(path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """The code cells of a notebook as ``(cell number, source)``, read here, in the grader, so
    the worker never opens a file. Raises ``ValueError`` saying why a notebook is unreadable."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
        data = json.loads(path.read_text(encoding="utf-8"))
        cells = []
        for number, cell in enumerate(data["cells"], start=1):
            if cell.get("cell_type") == "code":
                source = cell.get("source", "")
                source = "".join(source) if isinstance(source, list) else source
                if not isinstance(source, str):
                    raise TypeError(f"cell {number} has no text")
                cells.append((number, source))
    except (OSError, UnicodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a readable notebook ({type(exc).__name__}: {exc})"[:400]) from None
    return cells


@dataclass
class Outcome:
    """One graded test's outcome for one notebook."""

    test: str
    question: str
    points: float
    passed: bool
    message: str = ""
    hint: str = ""
    calls: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Result:
    """One notebook (or its absence) graded against one exercise's tests."""

    student: str
    exercise: str
    notebook: str
    status: str
    reason: str = ""
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def questions(self) -> dict[str, tuple[float, float]]:
        """``question -> (score, max)`` in the order of the tests."""
        scores: dict[str, tuple[float, float]] = {}
        for o in self.outcomes:
            got, most = scores.get(o.question, (0.0, 0.0))
            scores[o.question] = (got + (o.points if o.passed else 0.0), most + o.points)
        return scores

    @property
    def score(self) -> float:
        return sum(o.points for o in self.outcomes if o.passed)

    @property
    def total(self) -> float:
        return sum(o.points for o in self.outcomes)


def _tests_of(exercise: str, hidden: str | os.PathLike[str] | None) -> list[str]:
    test_file = TESTS / f"test_{exercise}.py"
    if not test_file.exists():
        raise ValueError(f"exercise {exercise!r} has no graded tests: {test_file} is missing")
    files = [str(test_file)]
    if hidden:
        folder = Path(hidden).resolve()
        if not folder.is_dir():
            raise ValueError(f"hidden must be a folder of test files, got {str(hidden)!r}")
        files += [str(p) for p in sorted(folder.glob(f"test_{exercise}*.py"))]
    return files


def _judge(exercise: str, entries: list[dict], seed: str, hidden: str | os.PathLike[str] | None,
           limits: Limits, unsandboxed: bool) -> dict:
    """Grade ``entries`` (one exercise) in one pytest process; its report."""
    with tempfile.TemporaryDirectory(prefix="pooling-grade-") as tmp:
        listing, report = Path(tmp) / "submissions.json", Path(tmp) / "report.json"
        listing.write_text(json.dumps(entries), encoding="utf-8")
        command = [sys.executable, "-m", "pytest", *_tests_of(exercise, hidden), "-m", "graded",
                   "-q", "-p", "no:cacheprovider", "-p", "pooling_course.grading.plugin",
                   "--no-header", "-o", "addopts=--strict-markers", f"--submissions={listing}",
                   f"--grade-report={report}", f"--grade-seed={seed}",
                   f"--grade-limits={json.dumps(dataclasses.asdict(limits))}"]
        command += ["--unsandboxed"] if unsandboxed else []
        budget = 120 + len(entries) * (limits.load_s + 60 * (limits.test_s + 3))
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": path}
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=budget,
                             env=env)
        if not report.exists():
            raise RuntimeError(f"grading {exercise} failed before any result:\n"
                               f"{(run.stdout + run.stderr)[-3000:]}")
        return json.loads(report.read_text(encoding="utf-8"))["submissions"]


def _status(preset: str, events: list) -> str:
    if preset != "ok":
        return preset
    seen = {status for status, _ in events}
    return next((s for s in _SEVERITY if s in seen), "ok")


def grade(submissions: list[tuple[str, str, str | os.PathLike[str] | None]], *,
          seed: str = "0", hidden: str | os.PathLike[str] | None = None,
          limits: Limits | None = None, jobs: int | None = None, unsandboxed: bool = False,
          progress: bool = False) -> list[Result]:
    """Grade ``(student, exercise, notebook or None)`` triples; one :class:`Result` each.

    Raises :class:`SandboxUnavailable` (before running anything) when bubblewrap cannot run,
    unless ``unsandboxed``. ``jobs`` pytest processes run at once (default: one per core).
    """
    limits = limits or Limits()
    if not unsandboxed:
        require_sandbox()
    entries: dict[str, list[dict]] = {}
    for student, exercise, path in submissions:
        entry = {"key": f"{student}/{exercise}", "exercise": exercise, "cells": [],
                 "status": "ok", "reason": ""}
        if path is None:
            entry |= {"status": "missing", "reason": f"no notebook for {exercise}"}
        else:
            try:
                entry["cells"] = notebook_cells(path)
            except ValueError as exc:
                entry |= {"status": "unreadable", "reason": f"{Path(path).name}: {exc}"}
        entries.setdefault(exercise, []).append(entry)
    jobs = max(1, jobs or os.cpu_count() or 1)
    chunks = []
    for exercise, group in entries.items():
        _tests_of(exercise, hidden)  # fail early on an exercise without tests
        size = max(1, min(32, math.ceil(len(group) / (jobs * 2))))
        chunks += [(exercise, group[i:i + size]) for i in range(0, len(group), size)]
    reports: dict[str, dict] = {}
    done, count, started = 0, len(submissions), time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_judge, ex, group, seed, hidden, limits, unsandboxed): group
                   for ex, group in chunks}
        for future in as_completed(futures):
            reports.update(future.result())
            done += len(futures[future])
            if progress:
                _progress(done, count, time.monotonic() - started)
    results = []
    for student, exercise, path in submissions:
        data = reports.get(f"{student}/{exercise}", {})
        events = [tuple(e) for e in data.get("events", [])]
        preset = data.get("status", "ok")
        reasons = ([data["reason"]] if data.get("reason") else []) + [r for _, r in events]
        outcomes = [Outcome(**t) for t in data.get("tests", [])]
        results.append(Result(student, exercise, str(path or ""), _status(preset, events),
                              "; ".join(reasons), outcomes, data.get("notes", [])))
    return results


def _progress(done: int, count: int, seconds: float) -> None:
    width = 30
    bar = "#" * round(width * done / max(count, 1))
    end = "\n" if done >= count else ""
    sys.stderr.write(f"\rgrading [{bar:<{width}}] {done}/{count} notebooks, {seconds:.0f} s{end}")
    sys.stderr.flush()


def check(exercise: str, notebook: str | os.PathLike[str] | None = None, *, seed: str = "0",
          hidden: str | os.PathLike[str] | None = None, limits: Limits | None = None,
          unsandboxed: bool = False) -> Result:
    """Grade the student's working copy ``exercises/<exercise>.ipynb`` (or ``notebook``) exactly
    as ``grade`` would."""
    if exercise not in exercise_names():
        raise ValueError(f"exercise must be one of {exercise_names()}, got {exercise!r}")
    path = Path(notebook or EXERCISES / f"{exercise}.ipynb").resolve()
    if not path.exists():
        raise ValueError(f"notebook {str(notebook)!r} does not exist")
    return grade([(path.stem, exercise, path)], seed=seed, hidden=hidden, limits=limits, jobs=1,
                 unsandboxed=unsandboxed)[0]


def find_submissions(root: str | os.PathLike[str]) -> tuple[dict[str, dict[str, Path]],
                                                             dict[str, list[str]]]:
    """``{student: {exercise: notebook}}`` below ``root``, and notes on files that answer no
    exercise. The student is the first folder below ``root`` (``alice/01_forward.ipynb``), or
    the file name before the exercise name (``alice_01_forward.ipynb``)."""
    root = Path(root).resolve()
    found: dict[str, dict[str, Path]] = {}
    notes: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.ipynb")):
        relative = path.relative_to(root)
        if ".ipynb_checkpoints" in relative.parts or any(p.startswith(".") for p in
                                                          relative.parts):
            continue
        try:
            exercise = exercise_of(path)
        except ValueError as exc:
            student = relative.parts[0] if len(relative.parts) > 1 else path.stem
            notes.setdefault(student, []).append(str(exc))
            found.setdefault(student, {})
            continue
        if len(relative.parts) > 1:
            student = relative.parts[0]
        else:
            student = path.stem.removesuffix(exercise).rstrip("_-. ") or path.stem
        if exercise in found.setdefault(student, {}):
            notes.setdefault(student, []).append(
                f"several notebooks answer {exercise}: graded {found[student][exercise].name}")
            continue
        found[student][exercise] = path
    return found, notes


def grade_folder(submissions: str | os.PathLike[str], out: str | os.PathLike[str], *,
                 feedback: str | os.PathLike[str] | None = None,
                 exercises: list[str] | None = None, **options: object) -> list[list[Result]]:
    """Grade every student below ``submissions``; write one CSV row per student to ``out`` and,
    with ``feedback``, one report per student (``<feedback>/<student>.txt``).

    The CSV has a column per question of every exercise graded (``<exercise>:<question>``),
    ``total``, ``max_total``, ``status`` (one of :data:`STATUSES`) and ``reason``. The exercises
    graded are ``exercises``, or every exercise some student answered. Other ``options`` go to
    :func:`grade`.
    """
    root = Path(submissions)
    if not root.is_dir():
        raise ValueError(f"submissions must be a folder of notebooks, got {str(root)!r}")
    found, notes = find_submissions(root)
    if not found:
        raise ValueError(f"no notebooks (*.ipynb) below {str(root)!r}")
    graded = exercises or sorted({e for by_exercise in found.values() for e in by_exercise})
    for exercise in graded:
        if exercise not in exercise_names():
            raise ValueError(f"exercise must be one of {exercise_names()}, got {exercise!r}")
    students = sorted(found)
    triples = [(s, e, found[s].get(e)) for s in students for e in graded]
    results = grade(triples, **options)
    rows = [results[i * len(graded):(i + 1) * len(graded)] for i in range(len(students))]
    _write_csv(out, graded, students, rows, notes)
    if feedback is not None:
        folder = Path(feedback)
        folder.mkdir(parents=True, exist_ok=True)
        for student, row in zip(students, rows, strict=True):
            text = "\n\n".join(format_report(r) for r in row)
            if notes.get(student):
                text = "\n".join(f"note: {n}" for n in notes[student]) + "\n\n" + text
            (folder / f"{_safe(student)}.txt").write_text(text + "\n", encoding="utf-8")
    return rows


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip(".") or "student"


def _write_csv(out: str | os.PathLike[str], graded: list[str], students: list[str],
               rows: list[list[Result]], notes: dict[str, list[str]]) -> None:
    columns: dict[str, list[str]] = {e: [] for e in graded}
    for row in rows:
        for result in row:
            for question in result.questions:
                if question not in columns[result.exercise]:
                    columns[result.exercise].append(question)
    header = ["student"] + [f"{e}:{q}" for e in graded for q in columns[e]] + [
        "total", "max_total", "status", "reason"]
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        maxima = {e: 0.0 for e in graded}  # the same for everyone: the most one can get
        for row in rows:
            for result in row:
                maxima[result.exercise] = max(maxima[result.exercise], result.total)
        for student, row in zip(students, rows, strict=True):
            cells: list[str] = [student]
            for result in row:
                scores = result.questions
                cells += [f"{scores.get(q, (0.0, 0.0))[0]:g}" for q in columns[result.exercise]]
            status = next((s for s in _SEVERITY if any(r.status == s for r in row)), "ok")
            reasons = [f"{r.exercise}: {r.reason}" for r in row if r.reason]
            reasons += notes.get(student, [])
            reasons += [f"{r.exercise}: {note}" for r in row for note in r.notes]
            cells += [f"{sum(r.score for r in row):g}", f"{sum(maxima.values()):g}", status,
                      "; ".join(reasons)[:1000]]
            writer.writerow(cells)


def format_report(result: Result) -> str:
    """The report a student reads: per question its score, and for each failed test what was
    called, what came back, the failure (with what was expected) and the hint."""
    lines = [f"exercise {result.exercise}: {result.notebook or '(no notebook)'}",
             f"status: {result.status}" + (f" ({result.reason})" if result.reason else "")]
    if result.notes:
        lines.append("running your notebook:")
        lines += [f"  {note}" for note in result.notes]
    by_question: dict[str, list[Outcome]] = {}
    for o in result.outcomes:
        by_question.setdefault(o.question, []).append(o)
    for question, outcomes in by_question.items():
        got, most = result.questions[question]
        lines.append(f"question {question}: {got:g} / {most:g}")
        for o in outcomes:
            lines.append(f"  {'PASS' if o.passed else 'FAIL'} {o.test} ({o.points:g} pt)")
            if o.passed:
                continue
            if o.calls:
                last = o.calls[-1]
                lines.append(f"    called:   {_indent(last['call'], 14)}")
                if not last.get("raised"):
                    lines.append(f"    returned: {_indent(last['returned'], 14)}")
            if o.message:
                lines.append(f"    failure:  {_indent(o.message, 14)}")
            if o.hint:
                lines.append(f"    hint:     {_indent(o.hint, 14)}")
    lines.append(f"score: {result.score:g} / {result.total:g}")
    return "\n".join(lines)


def _indent(text: str, width: int) -> str:
    return ("\n" + " " * width).join(text.splitlines() or [""])
