"""Time `python -m pooling_course grade` on a generated class: how long a class of N takes.

    PYTHONPATH=$PWD .venv/bin/python tools/grade_class_benchmark.py --students 100 --endless 5

The class is N notebooks of one exercise in ``<student>/<exercise>.ipynb`` folders: copies of
the reference solution (every code cell, as a student would hand it in), of which ``--endless``
have one function replaced by an endless loop and ``--blank`` are the untouched exercise. It
prints the wall time, the CPU time of the grading processes, the machine's load and core count,
and checks the grades: every honest notebook full marks, the blank ones 0, the endless ones
``timeout`` with the other questions' marks kept.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pooling_course import grading  # noqa: E402

LOOP = "def {name}(*args, **kwargs):\n    while True:\n        pass\n"


def write(path: Path, sources: list[str]) -> None:
    grading.write_code_notebook(path, sources)


def make_class(folder: Path, exercise: str, students: int, endless: int, blank: int) -> dict:
    """Write the class; ``{student: kind}``."""
    solution = [s for _, s in grading.notebook_cells(grading.SOLUTIONS / f"{exercise}.ipynb")]
    functions = [s.split("(")[0].removeprefix("def ") for s in solution if s.startswith("def ")]
    kinds = {}
    for i in range(students):
        name = f"student{i:03d}"
        if i < endless:
            kinds[name] = "endless"
            victim = functions[i % len(functions)]
            write(folder / name / f"{exercise}.ipynb", [*solution, LOOP.format(name=victim)])
        elif i < endless + blank:
            kinds[name] = "blank"
            (folder / name).mkdir(parents=True)
            (folder / name / f"{exercise}.ipynb").write_bytes(
                (grading.EXERCISES / f"{exercise}.ipynb").read_bytes())
        else:
            kinds[name] = "honest"
            write(folder / name / f"{exercise}.ipynb", solution)
    return kinds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercise", default="01_forward")
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--endless", type=int, default=5, help="notebooks with an endless loop")
    parser.add_argument("--blank", type=int, default=5, help="untouched exercise notebooks")
    parser.add_argument("--jobs", type=int, default=None, help="default: one per core")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grade-benchmark-") as tmp:
        folder, out = Path(tmp) / "class", Path(tmp) / "grades.csv"
        kinds = make_class(folder, args.exercise, args.students, args.endless, args.blank)
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        grading.grade_folder(folder, out, jobs=args.jobs, progress=True, seed="benchmark")
        seconds = time.monotonic() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows = {r["student"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    wrong = []
    for student, kind in kinds.items():
        row = rows[student]
        total, most = float(row["total"]), float(row["max_total"])
        ok = {"honest": total == most and row["status"] == "ok",
              "blank": total == 0 and row["status"] == "ok",
              "endless": 0 < total < most and row["status"] == "timeout"}[kind]
        if not ok:
            wrong.append(f"{student} ({kind}): {total:g}/{most:g} {row['status']}")
    print(f"{args.students} notebooks of {args.exercise} ({args.endless} endless, {args.blank} "
          f"blank) graded in {seconds:.0f} s wall, {usage.ru_utime + usage.ru_stime:.0f} s CPU, "
          f"on {os.cpu_count()} cores (load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after)")
    cpu = usage.ru_utime + usage.ru_stime
    print(f"throughput: {60 * args.students / cpu:.0f} notebooks per CPU-minute (one core busy "
          f"for a minute), {args.students / seconds * 60:.0f} per minute of wall time here")
    print("every grade as expected" if not wrong else "unexpected grades:\n" + "\n".join(wrong))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
