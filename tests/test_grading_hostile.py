"""Hostile submissions: one class folder of honest, blank, cheating and hostile students, graded
in one run as an instructor would (``python -m pooling_course grade`` on a relative path). Each test
checks one student's exact CSV row, and every test checks that the honest students in the same
run kept full marks and the blank one 0. The notebooks are generated in the test, from the
solution's code cells plus the hostile cells of ``_hostile_students.py``. The attacks that need a
run of their own (a worker that stops reading, a hidden window copy) are in
``test_grading_hostile_channel.py``."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import socket
import time
from pathlib import Path

import pytest
from _hostile_students import (
    EXERCISE,
    MARKER,
    NAMES,
    QUESTIONS,
    SOLUTION,
    TIME_LIMIT,
    hostile_files,
    hostile_students,
    write,
)

from pooling_course import grading
from pooling_course.__main__ import main

SIZE, MAX, FIELD = QUESTIONS


# Expected rows: per-question scores, status, and phrases the reason must contain.
FULL = dict(QUESTIONS)
ZERO = {q: 0 for q in QUESTIONS}
EXPECTED = {
    "honest": (FULL, "ok", []),
    "honest_bare": (FULL, "ok", []),
    "honest_flat": (FULL, "ok", []),
    "blank": (ZERO, "ok", ["NotImplementedError"]),
    "torch": (ZERO, "missing", ["No module named 'torch'",
                                "function receptive_field is not defined"]),
    "package": (ZERO, "missing", ["No module named 'pooling_course'",
                                  "function pool_output_size is not defined"]),
    "solution_exec": (ZERO, "ok", []),
    # it breaks its own worker (json needs isinstance): a crash, of its own notebook only
    "monkeypatch": (ZERO, "crashed", ["cell 2", "exited with code 1"]),
    "report_rewriter": (ZERO, "ok", []),
    "detacher": (ZERO, "ok", ["Operation not permitted"]),
    "always_equal": (ZERO, "ok", []),
    "lookup_table": ({**ZERO, MAX: 1}, "ok", []),  # the worked example is a fixed input
    "overwriter": (ZERO, "ok", []),
    "memory_cell": (FULL, "memory", ["MemoryError", "limit"]),
    "memory_call": ({**FULL, MAX: 0}, "memory", ["max_pool2d", "out of memory"]),
    "forker": (FULL, "ok", ["Operation not permitted"]),
    "tmp_deleter": (FULL, "ok", ["FileNotFoundError"]),
    "network": (FULL, "ok", ["Connection refused"]),
    # a cell that kills its worker costs nothing defined before it
    "os_exit": (FULL, "crashed", ["exit", "code 3", "graded the functions defined before"]),
    "segfault": (FULL, "crashed", ["SIGSEGV", "graded the functions defined before"]),
    "sys_exit": (FULL, "ok", ["sys.exit('bye')"]),
    "endless_cell": (FULL, "timeout", ["time limit of 10 s"]),
    "endless_call": ({**FULL, MAX: 0}, "timeout", ["max_pool2d", "time limit of 2 s"]),
    "unbreakable": ({**FULL, FIELD: 0}, "timeout", ["receptive_field",
                                                                "time limit of 2 s"]),
    "missing_function": ({**FULL, FIELD: 0}, "missing",
                         ["receptive_field is not defined"]),
    "huge_answer": ({**FULL, FIELD: 0}, "ok", []),
    "unreadable": (ZERO, "unreadable", ["not a readable notebook"]),
    "no_exercise": (ZERO, "missing", ["no notebook for 01_forward", "cannot tell which"]),
    "privileged": (FULL, "ok", ["RuntimeError: contained"]),
    "filler": (FULL, "ok", ["RuntimeError: contained"]),
    "nested_answer": ({**FULL, FIELD: 0}, "ok", []),
    "liar": (FULL, "crashed", ["more than 100000 items", "graded the functions defined before"]),
    "deaf": (ZERO, "timeout", ["did not return within the time limit"]),
    "slow_cells": (ZERO, "timeout", ["total time of 20 s"]),
    **{name: (FULL, "ok", []) for name in NAMES},
    # --- the submission file (hole 2), an empty folder and a stray notebook (hole 7) ---
    "link_solution": (ZERO, "unreadable", ["symbolic link"]),
    "link_zero": (ZERO, "unreadable", ["symbolic link"]),
    "link_folder": (ZERO, "unreadable", ["folder is a symbolic link"]),
    "fifo": (ZERO, "unreadable", ["not a regular file"]),
    "deep_json": (ZERO, "unreadable", ["not a readable notebook"]),
    "many_items": (ZERO, "unreadable", ["JSON items"]),
    "big_file": (ZERO, "unreadable", ["larger than 20 MiB"]),
    "empty": (ZERO, "missing", ["no notebook for 01_forward"]),
    "stray": (FULL, "ok", ["02_filtering.ipynb answers 02_filtering, which was not graded"]),
}
HONEST = ["honest", "honest_bare", "honest_flat", *NAMES, "stray", "privileged", "filler"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the class once: the CSV rows by student, and what the tests check afterwards."""
    base = tmp_path_factory.mktemp("hostile")
    classroom = base / "class"
    canary = base / "canary.txt"
    canary.write_text("still here")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    students = hostile_students(grading.ROOT, classroom, canary, listener.getsockname()[1])
    for name, cells in students.items():
        if cells is None:
            (classroom / name).mkdir(parents=True)
            (classroom / name / f"{EXERCISE}.ipynb").write_bytes(
                (grading.EXERCISES / f"{EXERCISE}.ipynb").read_bytes())
        else:
            write(classroom / name / f"{EXERCISE}.ipynb", cells)
    write(classroom / f"honest_flat_{EXERCISE}.ipynb", SOLUTION)
    (classroom / "unreadable").mkdir()
    (classroom / "unreadable" / f"{EXERCISE}.ipynb").write_text("{not json")
    write(classroom / "no_exercise" / "notes.ipynb", ["x = 1"])
    hostile_files(classroom)
    protected = list(grading.TESTS.glob("*.py")) + [
        p for p in classroom.rglob("*.ipynb") if p.is_file() and not p.is_symlink()]
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in protected}
    out, feedback = base / "grades.csv", base / "feedback"
    cwd = os.getcwd()
    os.chdir(base)
    try:  # the command an instructor types, with a relative path to the class folder
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            code = main(["grade", "class", "--out", "grades.csv", "--feedback", "feedback",
                         "--jobs", "2", "--time-limit", str(TIME_LIMIT), "--total-time", "20",
                         "--grade-seed", "hostile"])
    finally:
        os.chdir(cwd)
    assert code == 0
    time.sleep(1.5)  # give a detached process the time to strike after the grader is done
    try:
        connection = listener.accept()
    except BlockingIOError:
        connection = None
    listener.close()
    rows = {unquote(r["student"]): r for r in csv.DictReader(out.open(encoding="utf-8"))}
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in protected}
    return {"rows": rows, "changed": [str(p) for p in protected if before[p] != after[p]],
            "canary": canary, "connection": connection, "feedback": feedback,
            "csv": out.read_text(encoding="utf-8"), "printed": printed.getvalue()}


def unquote(cell: str) -> str:
    """A CSV cell as written before it was neutralised against formula injection."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in "=+-@\t\r" else cell


def question_scores(row: dict) -> dict[str, float]:
    return {q: float(row[f"{EXERCISE}:{q}"]) for q in QUESTIONS}


def test_every_student_has_exactly_one_row(graded):
    assert sorted(graded["rows"]) == sorted(EXPECTED)


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_the_row_is_exact_and_honest_students_keep_full_marks(graded, student):
    rows = graded["rows"]
    scores, status, phrases = EXPECTED[student]
    row = rows[student]
    assert question_scores(row) == {q: float(v) for q, v in scores.items()}, row
    assert row["status"] == status, row
    for phrase in phrases:
        assert phrase in row["reason"], (phrase, row["reason"])
    others = sum(float(v) for k, v in row.items() if k.startswith(f"{EXERCISE}:")
                 and k.removeprefix(f"{EXERCISE}:") not in QUESTIONS)
    assert float(row["total"]) == sum(scores.values()) + others
    assert float(row["max_total"]) == float(rows["honest"]["total"]) > 0
    if scores == ZERO and student != "lookup_table":
        assert float(row["total"]) == 0
    for name in HONEST:
        assert rows[name]["total"] == rows[name]["max_total"] and rows[name]["status"] == "ok"
    assert float(rows["blank"]["total"]) == 0


def test_nothing_outside_the_sandbox_changed(graded):
    assert graded["changed"] == []
    assert graded["canary"].read_text() == "still here"
    assert graded["connection"] is None
    assert "hacked" not in graded["csv"] and "DETACHED" not in graded["csv"]


def test_no_process_outlives_the_grading(graded):
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        assert MARKER.encode() not in command, proc


def test_the_feedback_says_what_was_called_returned_and_expected(graded):
    text = (graded["feedback"] / "always_equal.txt").read_text()
    assert "called:   pool_output_size(" in text
    assert "an Anything (a subclass of int)" in text and "must be plain data" in text
    text = (graded["feedback"] / "blank.txt").read_text()
    assert "hint:" in text and "NotImplementedError" in text and "score: 0 /" in text
    text = (graded["feedback"] / "endless_call.txt").read_text()
    assert "did not return within the time limit of 2 s" in text
    text = (graded["feedback"] / "huge_answer.txt").read_text()
    assert "receptive_field returned an answer of more than 64 MiB" in text


def test_names_are_unique_safe_files_neutral_cells_and_escaped_text(graded):
    files = sorted(p.name for p in graded["feedback"].iterdir())
    assert len(files) == len(set(files)) == len(EXPECTED)  # "a b", "a,b", "a_b": three files
    assert "a_b.txt" in files
    assert all(re.fullmatch(r"[\w.-]+\.txt", name, re.ASCII) for name in files)
    assert "\n'=HYPERLINK(1)," in graded["csv"] and "\n=HYPERLINK" not in graded["csv"]
    assert "\x1b" not in graded["printed"] and "\\x1b[2Jwiped" in graded["printed"]


def test_the_seed_is_recorded_in_every_row(graded):
    assert {row["grade_seed"] for row in graded["rows"].values()} == {"hostile"}


def test_without_a_seed_a_random_one_is_drawn_said_and_recorded(tmp_path, capsys):
    write(tmp_path / "class" / "ann" / f"{EXERCISE}.ipynb", ["def receptive_field(l):\n  1/0"])
    seeds = []
    for run in ("a", "b"):
        out = tmp_path / f"{run}.csv"
        assert main(["grade", str(tmp_path / "class"), "--out", str(out), "--jobs", "1"]) == 0
        seeds.append(next(csv.DictReader(out.open(encoding="utf-8")))["grade_seed"])
        assert f"grade seed: {seeds[-1]}" in capsys.readouterr().err
    assert all(re.fullmatch(r"[0-9a-f]{16}", seed) for seed in seeds) and seeds[0] != seeds[1]
