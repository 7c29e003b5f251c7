"""Grading: run an exercise's graded tests against students' notebooks, safely and in parallel.

A graded test is a pytest test in ``tests/test_<exercise>.py`` (or, where the chapter's tests
need more than one module, ``tests/test_<exercise>_graded.py``) marked
``@pytest.mark.graded("<exercise>", points=n, question="name", hint="...")`` that takes the
``submission`` fixture and calls ``submission.<function>(...)``. The student's code never runs
in the process that judges it: each notebook runs in its own sandboxed worker
(:mod:`.sandbox`), the tests call its functions through a proxy (:mod:`.proxy`), and only plain
data comes back. Submissions are graded by several pytest processes at once (one per core),
each grading a few notebooks one after another.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .files import (
    choose_exercises,
    file_names,
    notebook_cells,
    notebook_headings,
    printable,
    write_code_notebook,
)
from .files import find_submissions as _find
from .sandbox import RESTRICTED, Limits, SandboxUnavailable, require_sandbox, sandbox_problem
from .table import STATUSES, Outcome, Result, format_report, merge, worst, write_csv

__all__ = ["ROOT", "EXERCISES", "SOLUTIONS", "TESTS", "Limits", "SandboxUnavailable", "Result",
           "Outcome", "exercise_names", "exercise_of", "notebook_cells", "grade", "check",
           "grade_folder", "format_report", "merge", "new_seed", "STATUSES", "write_code_notebook"]

ROOT = Path(__file__).resolve().parent.parent.parent
EXERCISES = ROOT / "exercises"
SOLUTIONS = ROOT / "solutions"
TESTS = ROOT / "tests"


def new_seed() -> str:
    """A fresh random grade seed (used when none is given; recorded in every output)."""
    return secrets.token_hex(8)


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


def _tests_of(exercise: str, hidden: str | os.PathLike[str] | None) -> list[str]:
    # the chapter's tests, and its graded tests where they have a module of their own
    files = [str(p) for p in (TESTS / f"test_{exercise}.py", TESTS / f"test_{exercise}_graded.py")
             if p.exists()]
    if not files:
        raise ValueError(f"exercise {exercise!r} has no graded tests: "
                         f"{TESTS / f'test_{exercise}.py'} is missing")
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
    return preset if preset != "ok" else worst([status for status, _ in events])


def _run_judge(exercise: str, group: list[dict], *args: object) -> dict:
    """:func:`_judge`, but a grading process that fails costs its notebooks a ``crashed`` row
    each, never the class's CSV."""
    try:
        return _judge(exercise, group, *args)
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
        reason = f"the grader could not grade this notebook ({type(exc).__name__})"
        print(f"grading {exercise}: {str(exc)[-2000:]}", file=sys.stderr)
        return {e["key"]: {"status": e["status"] if e["status"] != "ok" else "crashed",
                           "reason": e["reason"] or reason} for e in group}


def grade(submissions: list[tuple[str, str, str | os.PathLike[str] | None]], *,
          seed: str | None = None, hidden: str | os.PathLike[str] | None = None,
          limits: Limits | None = None, jobs: int | None = None, unsandboxed: bool = False,
          progress: bool = False, unreadable: dict[str, str] | None = None) -> list[Result]:
    """Grade ``(student, exercise, notebook or None)`` triples; one :class:`Result` each.

    Raises :class:`SandboxUnavailable` (before running anything) when bubblewrap cannot run,
    unless ``unsandboxed``. ``jobs`` pytest processes run at once (default: one per core).
    ``seed`` (default: a fresh random one) draws the random inputs; each result records it.
    ``unreadable`` maps students whose every notebook is unreadable to the reason.
    """
    limits = limits or Limits()
    seed = seed if seed is not None else new_seed()
    if not unsandboxed:
        require_sandbox()
    entries: dict[str, list[dict]] = {}
    headings: dict[str, dict[int, str]] = {}
    for student, exercise, path in submissions:
        key = f"{student}/{exercise}"
        entry = {"key": key, "exercise": exercise, "cells": [], "status": "ok", "reason": ""}
        headings[key] = {}
        if student in (unreadable or {}):
            entry |= {"status": "unreadable", "reason": unreadable[student]}
        elif path is None:
            entry |= {"status": "missing", "reason": f"no notebook for {exercise}"}
        else:
            try:
                entry["cells"] = notebook_cells(path)
                headings[key] = notebook_headings(path)
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
        futures = {pool.submit(_run_judge, ex, group, seed, hidden, limits, unsandboxed): group
                   for ex, group in chunks}
        for future in as_completed(futures):
            reports.update(future.result())
            done += len(futures[future])
            if progress:
                _progress(done, count, time.monotonic() - started)
    results = []
    for student, exercise, path in submissions:
        key = f"{student}/{exercise}"
        data = reports.get(key, {})
        events = [tuple(e) for e in data.get("events", [])]
        preset = data.get("status", "ok")
        reasons = ([data["reason"]] if data.get("reason") else []) + [r for _, r in events]
        outcomes = [Outcome(**t) for t in data.get("tests", [])]
        name = functools.partial(_name_cells, names=headings[key])
        for o in outcomes:
            o.message = name(o.message)
        results.append(Result(student, exercise, str(path or ""), _status(preset, events),
                              name("; ".join(reasons)), outcomes,
                              [name(n) for n in data.get("notes", [])], seed))
    return results


def _name_cells(text: str, names: dict[int, str]) -> str:
    """``cell 7`` -> ``cell 7, the cell starting `def f(x):` (under "1.2 Max pooling")``: a
    notebook app shows no cell numbers, so the report names each cell by what a student sees."""
    def named(match: re.Match) -> str:
        number = int(match.group(1))
        return f"{match.group(0)}, {names[number]}" if number in names else match.group(0)

    return re.sub(r"\bcell (\d+)\b", named, text) if names else text


def _progress(done: int, count: int, seconds: float) -> None:
    width = 30
    bar = "#" * round(width * done / max(count, 1))
    end = "\n" if done >= count else ""
    sys.stderr.write(f"\rgrading [{bar:<{width}}] {done}/{count} notebooks, {seconds:.0f} s{end}")
    sys.stderr.flush()


def check(exercise: str, notebook: str | os.PathLike[str] | None = None, *,
          seed: str | None = None, hidden: str | os.PathLike[str] | None = None,
          limits: Limits | None = None, unsandboxed: bool = False,
          restricted: bool = True) -> Result:
    """Grade the student's working copy ``exercises/<exercise>.ipynb`` (or ``notebook``) exactly
    as ``grade`` would. Where bubblewrap cannot run (macOS, Windows, Linux without user
    namespaces) and ``restricted`` is true, the notebook runs in the restricted process of
    ``--unsandboxed`` instead (see :func:`restricted_note`); ``grade`` never falls back."""
    if not unsandboxed and restricted and sandbox_problem():
        unsandboxed = True
    if exercise not in exercise_names():
        raise ValueError(f"exercise must be one of {exercise_names()}, got {exercise!r}")
    path = Path(os.path.abspath(notebook or EXERCISES / f"{exercise}.ipynb"))
    if not os.path.lexists(path):
        raise ValueError(f"notebook {str(notebook)!r} does not exist")
    return grade([(path.stem, exercise, path)], seed=seed, hidden=hidden, limits=limits, jobs=1,
                 unsandboxed=unsandboxed)[0]


def restricted_note() -> str:
    """What ``check`` says when it ran without the sandbox, or ``""`` when the sandbox ran."""
    problem = sandbox_problem()
    if not problem:
        return ""
    seccomp = ", and a filter against starting programs" if sys.platform == "linux" else ""
    return RESTRICTED.format(problem=problem, seccomp=seccomp)


def find_submissions(root: str | os.PathLike[str]) -> tuple[dict[str, dict[str, Path]],
                                                             dict[str, list[str]]]:
    """``{student: {exercise: notebook}}`` below ``root``, and notes on files that answer no
    exercise (see :func:`.files.find_submissions`)."""
    found = _find(root, exercise_of)
    return found.notebooks, found.notes


def shard_of(students: list[str], shard: tuple[int, int] | None) -> list[str]:
    """The ``k``-th of ``n`` deterministic slices of the sorted students (every ``n``-th)."""
    if shard is None:
        return students
    k, n = shard
    if not 1 <= k <= n:
        raise ValueError(f"shard must be K/N with 1 <= K <= N, got {k}/{n}")
    return sorted(students)[k - 1::n]


def grade_folder(submissions: str | os.PathLike[str], out: str | os.PathLike[str], *,
                 feedback: str | os.PathLike[str] | None = None,
                 exercises: list[str] | None = None, shard: tuple[int, int] | None = None,
                 seed: str | None = None, say: object = None,
                 **options: object) -> list[list[Result]]:
    """Grade every student below ``submissions``; write one CSV row per student to ``out`` and,
    with ``feedback``, one report per student (``<feedback>/<student>.txt``, names made safe
    and unique).

    Every folder of ``submissions`` is a student, even an empty one (then ``missing``). The CSV
    has a column per question of every exercise graded (``<exercise>:<question>``), ``total``,
    ``max_total``, ``status`` (the worst of :data:`STATUSES` met), ``reason`` and ``grade_seed``
    (random unless ``seed`` is given). The exercises graded are ``exercises``, or those at least
    half of the students handed in. With ``shard=(k, n)`` only the ``k``-th of ``n`` slices of
    the students is graded and the CSV gets a ``shard`` column (join the parts with
    :func:`merge`). ``say(text)`` hears which exercises are graded and the seed. Other
    ``options`` go to :func:`grade`.
    """
    say = say or (lambda text: None)
    root = Path(submissions)
    if not root.is_dir():
        raise ValueError(f"submissions must be a folder of notebooks, got {str(root)!r}")
    found = _find(root, exercise_of)
    if not found.notebooks:
        raise ValueError(f"no student folders or notebooks (*.ipynb) in {str(root)!r}")
    if exercises:
        for exercise in exercises:
            if exercise not in exercise_names():
                raise ValueError(f"exercise must be one of {exercise_names()}, got {exercise!r}")
        graded = list(dict.fromkeys(exercises))
        say(f"grading {', '.join(graded)}: the exercises named with --exercise")
    else:
        graded, text = choose_exercises(found)
        if not graded:
            raise ValueError(f"{text} in {str(root)!r}; name one with --exercise")
        say(text)
    for student, by_exercise in found.notebooks.items():
        for exercise, path in by_exercise.items():
            if exercise not in graded:
                found.note(student, f"{path.name} answers {exercise}, which was not graded")
    seed = seed if seed is not None else new_seed()
    say(f"grade seed: {seed} (recorded in the CSV; grade again with --grade-seed {seed} to "
        "reproduce these grades)")
    students = shard_of(sorted(found.notebooks), shard)
    triples = [(s, e, found.notebooks[s].get(e)) for s in students for e in graded]
    results = grade(triples, seed=seed, unreadable=found.unreadable, **options)
    rows = [results[i * len(graded):(i + 1) * len(graded)] for i in range(len(students))]
    write_csv(out, graded, students, rows, found.notes, seed,
              f"{shard[0]}/{shard[1]}" if shard else "")
    if feedback is not None:
        folder = Path(feedback)
        folder.mkdir(parents=True, exist_ok=True)
        names = file_names(sorted(found.notebooks))  # over the class: shards agree
        for student, row in zip(students, rows, strict=True):
            text = "\n\n".join(format_report(r) for r in row)
            if found.notes.get(student):
                text = "\n".join(f"note: {n}" for n in found.notes[student]) + "\n\n" + text
            (folder / f"{names[student]}.txt").write_text(text + "\n", encoding="utf-8")
    return rows


def describe_row(row: list[Result]) -> str:
    """One line of the progress summary, the student's name escaped for the terminal."""
    score, total = sum(r.score for r in row), sum(r.total for r in row)
    return f"{score:g}/{total:g}  {printable(row[0].student)}  {worst([r.status for r in row])}"
