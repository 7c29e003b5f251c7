"""Command line: ``python -m pooling_course check|grade|bench``."""

from __future__ import annotations

import argparse
import sys

from . import grading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pooling_course")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="run one exercise's graded tests on your notebook")
    check.add_argument("exercise", help=f"one of {grading.exercise_names()}")
    check.add_argument("--notebook", help="notebook to check (default: exercises/<exercise>.ipynb)")

    grade = commands.add_parser("grade", help="grade a folder of submitted notebooks")
    grade.add_argument("submissions", help="folder with <student>/<exercise>.ipynb or "
                                           "<student>_<exercise>.ipynb files")
    grade.add_argument("--out", default="grades.csv", help="CSV to write (default: grades.csv)")

    bench = commands.add_parser("bench", help="time the pooling kernels against torch's")
    from . import bench as benchmark

    benchmark.add_arguments(bench)

    args = parser.parse_args(argv)
    if args.command == "bench":
        return benchmark.command(args)
    try:
        if args.command == "check":
            result = grading.check(args.exercise, args.notebook)
            print(grading.format_grade(result))
            return 0 if result.results and result.score == result.total else 1
        grades = grading.grade_folder(args.submissions, args.out)
    except ValueError as exc:
        parser.error(str(exc))
    for g in grades:
        print(f"{g.score:g}/{g.total:g}  {g.notebook}" + (f"  ({g.error})" if g.error else ""))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
