"""What grading writes: the class's CSV (whole or one shard of it), merging shards, and the
report a student reads."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from .files import csv_cell

STATUSES = ("ok", "timeout", "memory", "crashed", "missing", "unreadable")
# the worst event names a row's status: a notebook that could not be read is worse than a
# missing one, a missing one worse than a crash, a crash worse than running out of memory, and
# running out of memory worse than running out of time
WORST_FIRST = ("unreadable", "missing", "crashed", "memory", "timeout")
META = ("total", "max_total", "status", "reason", "grade_seed")


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
    seed: str = ""

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


def worst(statuses: list[str]) -> str:
    return next((s for s in WORST_FIRST if s in statuses), "ok")


def write_csv(out: str | os.PathLike[str], graded: list[str], students: list[str],
              rows: list[list[Result]], notes: dict[str, list[str]], seed: str,
              shard: str = "") -> None:
    """One row per student: a column per question, the total, the most one can get, the worst
    status, the reasons and the grade seed (and, for one shard of a class, ``shard``)."""
    columns: dict[str, list[str]] = {e: [] for e in graded}
    maxima = {e: 0.0 for e in graded}  # the same for everyone: the most one can get
    for row in rows:
        for result in row:
            maxima[result.exercise] = max(maxima[result.exercise], result.total)
            for question in result.questions:
                if question not in columns[result.exercise]:
                    columns[result.exercise].append(question)
    header = ["student"] + [f"{e}:{q}" for e in graded for q in columns[e]] + list(META)
    header += ["shard"] if shard else []
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for student, row in zip(students, rows, strict=True):
            cells: list[str] = [csv_cell(student)]
            for result in row:
                scores = result.questions
                cells += [f"{scores.get(q, (0.0, 0.0))[0]:g}" for q in columns[result.exercise]]
            reasons = [f"{r.exercise}: {r.reason}" for r in row if r.reason]
            reasons += notes.get(student, [])
            reasons += [f"{r.exercise}: {note}" for r in row for note in r.notes]
            cells += [f"{sum(r.score for r in row):g}", f"{sum(maxima.values()):g}",
                      worst([r.status for r in row]), csv_cell("; ".join(reasons)[:1000]), seed]
            writer.writerow(cells + ([shard] if shard else []))


def merge(parts: list[str | os.PathLike[str]], out: str | os.PathLike[str]) -> int:
    """Join the partial CSVs of ``grade --shard K/N`` into one; the number of students.

    Raises ``ValueError`` when a shard is missing or repeated, or when two shards disagree on
    the columns (the graded exercises and questions), the grade seed or the most one can get."""
    header: list[str] | None = None
    seen: dict[int, str] = {}
    count: int | None = None
    rows: list[list[str]] = []
    for part in parts:
        with open(part, newline="", encoding="utf-8") as handle:
            table = list(csv.reader(handle))
        if not table or "shard" not in table[0]:
            raise ValueError(f"{part} is not the CSV of one shard (`grade --shard K/N`)")
        columns, body = table[0], table[1:]
        place = columns.index("shard")
        if header is None:
            header = columns
        elif columns != header:
            raise ValueError(f"{part} grades other exercises or questions than {parts[0]}: "
                             f"{columns[1:place - len(META)]} vs {header[1:place - len(META)]}")
        shards = {r[place] for r in body}
        if len(shards) != 1:
            raise ValueError(f"{part} holds no rows or rows of several shards: {sorted(shards)}")
        k, n = (int(v) for v in shards.pop().split("/"))
        if count not in (None, n):
            raise ValueError(f"{part} is one of {n} shards, another part one of {count}")
        if k in seen:
            raise ValueError(f"shard {k}/{n} is given twice: {seen[k]} and {part}")
        count, seen[k] = n, str(part)
        rows += [r[:place] for r in body]
    if header is None or count is None:
        raise ValueError("merge needs the CSV of every shard")
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if missing:
        raise ValueError(f"shard(s) {', '.join(f'{k}/{count}' for k in missing)} missing")
    header = header[:header.index("shard")]
    for name in ("grade_seed", "max_total"):
        values = {r[header.index(name)] for r in rows}
        if len(values) > 1:
            raise ValueError(f"the shards disagree on {name}: {sorted(values)}")
    rows.sort(key=lambda r: r[0].removeprefix("'"))
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def format_report(result: Result, cells: dict[int, str] | None = None) -> str:
    """The report a student reads: per question its score, and for each failed test the call,
    what came back, what was expected, where they first differ, and the hint."""
    lines = [f"exercise {result.exercise}: {Path(result.notebook).name or '(no notebook)'}",
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
    if result.seed:
        lines.append(f"grade seed: {result.seed}")
    return "\n".join(lines)


def _indent(text: str, width: int) -> str:
    return ("\n" + " " * width).join(text.splitlines() or [""])
