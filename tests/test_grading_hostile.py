"""Hostile submissions: one class folder of honest, blank, cheating and hostile students, graded
in one run as an instructor would (``python -m pooling_course grade`` on a relative path). Each test
checks one student's exact CSV row, and every test checks that the honest students in the same
run kept full marks and the blank one 0. The notebooks are generated here, from the solution's
code cells plus the hostile cells."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import socket
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from pooling_course import forward, grading
from pooling_course.__main__ import main

EXERCISE = "01_forward"
SOLUTION = [source for _, source in grading.notebook_cells(grading.SOLUTIONS / f"{EXERCISE}.ipynb")]
DEFINITIONS = [s for s in SOLUTION if s.startswith(("def ", "import "))]
QUESTIONS = {"output_size": 4, "max_pool2d": 5, "receptive_field": 3}
MARKER = "pooling-hostile-marker"
TIME_LIMIT = 2

GARBAGE = textwrap.dedent("""
    import numpy as np

    def pool_output_size(input_size, kernel_size, stride=None, padding=0, dilation=1,
                         ceil_mode=False):
        return 1

    def max_pool2d(x, kernel_size, stride=None, padding=0):
        return np.zeros((1, 1), dtype=np.asarray(x).dtype)

    def receptive_field(layers):
        return (1, 1)
    """)


def write(path: Path, sources: list[str]) -> None:
    cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": s} for s in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))


def lookup_table_student() -> str:
    """Correct on the graded tests' fixed teaching inputs only, from a table."""
    fixed = [(np.array([[1, 3, 2, 1], [4, 6, 5, 0], [2, 9, 3, 4], [0, 1, 7, 2]], np.float32),
              (2, 2, 0))]
    fixed += [(-np.arange(1, 26, dtype=np.float64).reshape(5, 5), c)
              for c in [(2, 2, 1), (3, 1, 1), (3, 2, 1), (4, 3, 2)]]
    fixed += [(np.random.default_rng(1).integers(-9, 9, size=(6, 7)).astype(np.float32),
               ((2, 3), (1, 2), (1, 0)))]
    table = {repr((x.tolist(), json.dumps(c))): forward.max_pool2d_loop(x[None], *c)[0].tolist()
             for x, c in fixed}
    stacks = {repr([(k, s) for k, s, _ in stack]):
              (forward.receptive_fields([forward.Layer("l", k, s) for k, s, _ in stack])[-1])
              for stack in __import__("test_01_forward").STACKS if all(d == 1 for *_, d in stack)}
    stacks = {key: (r.receptive_field, r.effective_stride) for key, r in stacks.items()}
    return GARBAGE + textwrap.dedent(f"""
        import json
        TABLE = {table!r}
        STACKS = {stacks!r}
        def pool_output_size(n, k, s=None, p=0, d=1, ceil_mode=False):
            s = k if s is None else s
            if n >= 12:  # the public grid stops at 11
                return 1
            span = n + 2 * p - d * (k - 1) - 1
            out = (-(-span // s) if ceil_mode else span // s) + 1
            return out - 1 if ceil_mode and (out - 1) * s >= n + p else out
        def max_pool2d(x, kernel_size, stride=None, padding=0):
            key = repr((np.asarray(x).tolist(), json.dumps([kernel_size, stride, padding])))
            got = TABLE.get(key)
            return np.zeros((1, 1)) if got is None else np.array(got, dtype=np.asarray(x).dtype)
        def receptive_field(layers):
            return STACKS.get(repr([tuple(l) for l in layers]), (1, 1))
        """)


def hostile_students(root: Path, classroom: Path, canary: Path, port: int) -> dict[str, list]:
    """name -> code cells. ``root`` is the repository, ``classroom`` the class folder."""
    honest, blank = SOLUTION, None
    return {
        "honest": honest,
        "honest_bare": DEFINITIONS,  # a correct answer that kept no demo cell
        "blank": blank,
        "torch": [textwrap.dedent(f"""
            import sys
            sys.path += {[str(p) for p in (root / ".venv").glob("lib/python3*/site-packages")]!r}
            import numpy as np
            import torch
            import torch.nn.functional as F
            """), textwrap.dedent("""
            def pool_output_size(n, k, s=None, p=0, d=1, ceil_mode=False):
                return F.max_pool1d(torch.zeros(1, 1, n), k, s, p, d, ceil_mode).shape[-1]
            def max_pool2d(x, k, s=None, p=0):
                return F.max_pool2d(torch.from_numpy(x)[None], k, s, p)[0].numpy()
            """)],
        "package": [textwrap.dedent("""
            from pooling_course.forward import pool_output_size
            from pooling_course.forward import max_pool2d_loop as max_pool2d
            from pooling_course.forward import receptive_fields as receptive_field
            """)],
        "solution_exec": [GARBAGE, textwrap.dedent(f"""
            import json, os
            candidates = ["solutions/{EXERCISE}.ipynb", "../solutions/{EXERCISE}.ipynb",
                          "../../solutions/{EXERCISE}.ipynb",
                          "{root}/solutions/{EXERCISE}.ipynb"]
            try:
                import pooling_course
                candidates.append(os.path.join(os.path.dirname(pooling_course.__file__),
                                               "..", "solutions", "{EXERCISE}.ipynb"))
            except ImportError:
                pass
            for path in candidates:
                try:
                    cells = json.load(open(path))["cells"]
                except OSError:
                    continue
                for cell in cells:
                    if cell["cell_type"] == "code":
                        exec("".join(cell["source"]), globals())
            """)],
        "monkeypatch": [GARBAGE, textwrap.dedent("""
            import builtins, sys
            import numpy as np
            np.testing.assert_array_equal = lambda *a, **k: None
            np.testing.assert_allclose = lambda *a, **k: None
            np.array_equal = lambda *a, **k: True
            builtins.isinstance = lambda *a: True
            builtins.AssertionError = type("Never", (BaseException,), {})
            for name in ("torch", "torch.nn.functional", "_pytest", "pytest", "tests.conftest",
                         "pooling_course.grading.plugin"):
                try:
                    module = __import__(name)
                    module.max_pool2d = lambda *a, **k: np.zeros((1, 1))
                    getattr(module, "_outcomes", {}).clear()
                except Exception:
                    pass
            """)],
        "report_rewriter": [GARBAGE, textwrap.dedent(f"""
            import atexit, glob, os
            def rewrite():
                paths = glob.glob("/tmp/**/*.json", recursive=True)
                paths += glob.glob("{classroom.parent}/*.csv")
                for pid in os.listdir("/proc"):
                    try:
                        args = open(f"/proc/{{pid}}/cmdline").read().split("\\0")
                    except OSError:
                        continue
                    paths += [a.split("=", 1)[1] for a in args if a.startswith("--grade-")]
                for path in paths:
                    try:
                        open(path, "w").write("hacked")
                    except OSError:
                        pass
            atexit.register(rewrite)
            rewrite()
            """)],
        "detacher": [GARBAGE, textwrap.dedent(f"""
            import os, subprocess
            script = "sleep 1; echo DETACHED >> {classroom.parent}/grades.csv"
            try:
                subprocess.Popen(["sh", "-c", script], start_new_session=True)
            except OSError as exc:
                print(exc)
            if os.fork() == 0:
                os.setsid()
                os.system(script)
                os._exit(0)
            """)],
        "always_equal": [textwrap.dedent("""
            import numpy as np
            class Anything(int):
                def __eq__(self, other):
                    return True
                __hash__ = int.__hash__
            class AnyArray(np.ndarray):
                def __eq__(self, other):
                    return np.ones(np.shape(other), bool)
            def pool_output_size(*args, **kwargs):
                return Anything(0)
            def max_pool2d(x, *args, **kwargs):
                return np.zeros((1, 1)).view(AnyArray)
            def receptive_field(layers):
                return (Anything(0), Anything(0))
            """)],
        "lookup_table": [lookup_table_student()],
        "overwriter": [GARBAGE, textwrap.dedent(f"""
            import glob
            targets = glob.glob("{classroom}/**/*.ipynb", recursive=True)
            targets += ["{root}/tests/test_{EXERCISE}.py", "{root}/tests/conftest.py",
                        "{root}/pooling_course/grading/plugin.py"]
            for path in targets:
                try:
                    open(path, "w").write("import pytest\\n")
                except OSError:
                    pass
            """)],
        "memory_cell": [*SOLUTION, "hog = np.ones(12 << 27)"],
        "memory_call": [*SOLUTION, textwrap.dedent("""
            def max_pool2d(x, kernel_size, stride=None, padding=0):
                return np.ones(12 << 27)
            """)],
        "forker": [*SOLUTION, textwrap.dedent(f"""
            import subprocess
            for _ in range(50):
                subprocess.Popen(["sleep", "60", "{MARKER}"])
            """)],
        "tmp_deleter": [*SOLUTION, f"import os\nos.remove({str(canary)!r})"],
        "network": [*SOLUTION, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), "
                               "timeout=2).sendall(b'leak')"],
        "os_exit": [*SOLUTION, "import os\nos._exit(3)"],
        "segfault": [*SOLUTION, "import ctypes\nctypes.string_at(0)"],
        "sys_exit": [*SOLUTION, "import sys\nsys.exit('bye')", "x = 1"],
        "endless_cell": [*SOLUTION, "while True:\n    pass"],
        "endless_call": [*SOLUTION, textwrap.dedent("""
            def max_pool2d(x, kernel_size, stride=None, padding=0):
                while True:
                    pass
            """)],
        "unbreakable": [*SOLUTION, textwrap.dedent("""
            def receptive_field(layers):
                while True:
                    try:
                        while True:
                            pass
                    except BaseException:
                        pass
            """)],
        "missing_function": [s for s in SOLUTION if "receptive_field" not in s],
        "huge_answer": [*SOLUTION, "def receptive_field(layers):\n"
                                   "    return 'x' * 68_000_000"],
    }


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
    "lookup_table": (ZERO, "ok", []),
    "overwriter": (ZERO, "ok", []),
    "memory_cell": (FULL, "memory", ["MemoryError", "limit"]),
    "memory_call": ({**FULL, "max_pool2d": 0}, "memory", ["max_pool2d", "out of memory"]),
    "forker": (FULL, "ok", ["Operation not permitted"]),
    "tmp_deleter": (FULL, "ok", ["FileNotFoundError"]),
    "network": (FULL, "ok", ["Connection refused"]),
    "os_exit": (ZERO, "crashed", ["cell", "exit", "code 3"]),
    "segfault": (ZERO, "crashed", ["cell", "SIGSEGV"]),
    "sys_exit": (FULL, "ok", ["sys.exit('bye')"]),
    "endless_cell": (FULL, "ok", ["time limit of 10 s"]),
    "endless_call": ({**FULL, "max_pool2d": 0}, "timeout", ["max_pool2d", "time limit of 2 s"]),
    "unbreakable": ({**FULL, "receptive_field": 0}, "timeout", ["receptive_field",
                                                                "time limit of 2 s"]),
    "missing_function": ({**FULL, "receptive_field": 0}, "missing",
                         ["receptive_field is not defined"]),
    "huge_answer": ({**FULL, "receptive_field": 0}, "ok", []),
    "unreadable": (ZERO, "unreadable", ["not a readable notebook"]),
    "no_exercise": (ZERO, "missing", ["no notebook for 01_forward", "cannot tell which"]),
}
HONEST = ["honest", "honest_bare", "honest_flat"]


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
    protected = list(grading.TESTS.glob("*.py")) + list(classroom.rglob("*.ipynb"))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in protected}
    out, feedback = base / "grades.csv", base / "feedback"
    cwd = os.getcwd()
    os.chdir(base)
    try:  # the command an instructor types, with a relative path to the class folder
        code = main(["grade", "class", "--out", "grades.csv", "--feedback", "feedback",
                     "--jobs", "2", "--time-limit", str(TIME_LIMIT), "--grade-seed", "hostile"])
    finally:
        os.chdir(cwd)
    assert code == 0
    time.sleep(1.5)  # give a detached process the time to strike after the grader is done
    try:
        connection = listener.accept()
    except BlockingIOError:
        connection = None
    listener.close()
    rows = {r["student"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in protected}
    return {"rows": rows, "changed": [str(p) for p in protected if before[p] != after[p]],
            "canary": canary, "connection": connection, "feedback": feedback,
            "csv": out.read_text(encoding="utf-8")}


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
