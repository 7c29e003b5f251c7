"""Hostile submissions: one class folder of honest, blank, cheating and hostile students, graded
in one run as an instructor would (``python -m pooling_course grade`` on a relative path). Each test
checks one student's exact CSV row, and every test checks that the honest students in the same
run kept full marks and the blank one 0. The notebooks are generated here, from the solution's
code cells plus the hostile cells."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
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
QUESTIONS = {"1.1 pool_output_size": 4, "1.2 max_pool2d": 6, "1.3 receptive_field": 3}
SIZE, MAX, FIELD = QUESTIONS
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
        # --- privileges, file systems, the channel (issue 20, holes 1, 3, 4, 7) ---
        "privileged": [*DEFINITIONS, PRIVILEGED],
        "filler": [*DEFINITIONS, FILLER],
        "nested_answer": [*DEFINITIONS, "def receptive_field(layers):\n"
                                        "    return [[] for _ in range(300_000)]"],
        "liar": [*DEFINITIONS, LIAR],
        "deaf": [*DEFINITIONS, "import sys, time\n"
                               "sys.modules['__main__'].read_frame = lambda s: time.sleep(1e6)"],
        "slow_cells": [*DEFINITIONS, *["import time\ntime.sleep(8)"] * 4],
        **{name: DEFINITIONS for name in NAMES},
    }


NAMES = ["a b", "a,b", "a_b", "=HYPERLINK(1)", "\x1b[2Jwiped"]
# Each of these cells raises "contained" when every attempt failed, "ESCAPED: ..." otherwise.
PRIVILEGED = textwrap.dedent("""
    import ctypes, glob, os
    libc = ctypes.CDLL(None, use_errno=True)
    escaped = []
    status = open("/proc/self/status").read()
    if os.getuid() == 0 or "CapEff:\t0000000000000000" not in status:
        escaped.append("privileges")
    for target in ("/usr", "/", "/opt/site/numpy", "/proc"):
        if libc.mount(None, target.encode(), None, 32 | 4096, None) == 0:  # MS_REMOUNT|MS_BIND
            escaped.append(f"remount {target}")
    for target in glob.glob("/usr/lib/python3*/site-packages") + ["/tmp", "/scratch"]:
        if libc.umount2(target.encode(), 2) == 0:
            escaped.append(f"umount {target}")
    if libc.unshare(0x10000000 | 0x00020000) == 0:  # CLONE_NEWUSER | CLONE_NEWNS
        escaped.append("unshare")
    if libc.ptrace(16, 1, None, None) == 0:  # PTRACE_ATTACH to the sandbox's init
        escaped.append("ptrace")
    try:
        open(os.path.dirname(__import__("numpy").__file__) + "/__init__.py", "a")
        escaped.append("numpy writable")
    except OSError:
        pass
    try:
        open("/proc/self/clear_refs", "w").write("5")
        escaped.append("clear_refs")
    except OSError:
        pass
    raise RuntimeError(("ESCAPED: " + ", ".join(escaped)) if escaped else "contained")
    """)
FILLER = textwrap.dedent("""
    written = {}
    for folder in ("/", "/dev", "/dev/shm", "/tmp", "/scratch"):
        count = 0
        try:
            with open(folder.rstrip("/") + "/fill", "wb") as handle:
                for _ in range(256):
                    handle.write(b"x" * (1 << 20))
                    handle.flush()
                    count += 1
        except OSError:
            pass
        written[folder] = count
    big = {k: v for k, v in written.items() if v > 64}
    raise RuntimeError(f"ESCAPED: {big}" if big else "contained")
    """)
# a frame of more than MAX_ITEMS empty lists, written on every descriptor the worker holds
LIAR = textwrap.dedent("""
    import json, os, struct
    body = json.dumps({"ev": "cell", "n": [[]] * 2_000_000}).encode()
    for fd in range(3, 12):
        try:
            os.write(fd, struct.pack(">Q", len(body)) + body)
        except OSError:
            pass
    """)


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


def hostile_files(classroom: Path) -> None:
    """Submission files as an archive or a clone can deliver them."""
    solution = grading.SOLUTIONS / f"{EXERCISE}.ipynb"
    for name, target in (("link_solution", solution), ("link_zero", Path("/dev/zero"))):
        (classroom / name).mkdir()
        (classroom / name / f"{EXERCISE}.ipynb").symlink_to(target)
    (classroom / "link_folder").symlink_to(classroom / "honest")
    (classroom / "fifo").mkdir()
    os.mkfifo(classroom / "fifo" / f"{EXERCISE}.ipynb")
    (classroom / "deep_json").mkdir()
    (classroom / "deep_json" / f"{EXERCISE}.ipynb").write_text("[" * 100_000 + "]" * 100_000)
    (classroom / "many_items").mkdir()
    (classroom / "many_items" / f"{EXERCISE}.ipynb").write_text(
        '{"cells": [' + "[]," * 600_000 + "[]]}")
    (classroom / "big_file").mkdir()
    with open(classroom / "big_file" / f"{EXERCISE}.ipynb", "wb") as handle:
        handle.truncate(21 << 20)
    (classroom / "empty").mkdir()
    write(classroom / "stray" / f"{EXERCISE}.ipynb", DEFINITIONS)
    write(classroom / "stray" / "02_filtering.ipynb", ["x = 1"])


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


def test_a_worker_that_stops_reading_cannot_block_the_grader():
    """A request larger than the pipe to a worker that no longer reads: the write times out."""
    from pooling_course.grading.sandbox import Limits, Remote, WorkerDied

    remote = Remote(Limits(test_s=1))
    remote.load([(1, "import sys, time\n"
                     "sys.modules['__main__'].read_frame = lambda s: time.sleep(1e6)\n"
                     "def f(x):\n    return 1")])
    started = time.monotonic()
    with pytest.raises(WorkerDied, match="stopped reading"):
        remote.call("f", (np.zeros(1 << 20),), {}, 1.0, "f(...)")
    assert time.monotonic() - started < 10
    assert remote.process.poll() is not None  # killed, not waited for


def test_a_notebook_cannot_hide_a_window_copy_from_the_memory_measurement(tmp_path):
    """Exercise 07 measures memory from outside the worker: resetting tracemalloc's peak, or
    replacing it, changes nothing."""
    exercise = "07_fast"
    cheat = textwrap.dedent("""
        import numpy as np, tracemalloc
        def max_pool2d_fast(x, kernel_size, stride=None):
            k = kernel_size
            s = k if stride is None else stride
            v = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
            out = v.reshape(*v.shape[:4], k * k).max(axis=-1)
            if tracemalloc.is_tracing():
                tracemalloc.reset_peak()
            return out
        tracemalloc.get_traced_memory = lambda: (0, 0)
        """)
    path = tmp_path / f"cheat_{exercise}.ipynb"
    write(path, [cheat])
    result = grading.check(exercise, path, seed="hostile")
    failed = {o.test for o in result.outcomes if not o.passed}
    assert "test_max_pool2d_fast_allocates_no_window_copy" in failed, result.reason
    # a window copy is also slow (~15x the reference, near the 20x bound)
    assert failed <= {"test_max_pool2d_fast_allocates_no_window_copy",
                      "test_max_pool2d_fast_is_as_fast_as_shifted_views"}, result.reason
