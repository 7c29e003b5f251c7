"""Command line: ``python -m pooling_course check|grade|assign|bench``."""

from __future__ import annotations

import argparse
import sys

from . import grading


def _add_grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hidden", metavar="DIR",
                        help="folder of extra graded tests (test_<exercise>*.py) to run too")
    parser.add_argument("--grade-seed", default="0",
                        help="seed of the random inputs (instructors: keep yours secret)")
    parser.add_argument("--time-limit", type=float, default=grading.Limits.test_s,
                        help="seconds one graded test's calls may take together "
                             f"(default: {grading.Limits.test_s:g})")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="run notebooks WITHOUT the bubblewrap sandbox (trusted notebooks "
                             "only: their code can then read and change anything you can)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pooling_course")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="run one exercise's graded tests on your notebook")
    check.add_argument("exercise", help=f"one of {grading.exercise_names()}")
    check.add_argument("--notebook", help="notebook to check (default: exercises/<exercise>.ipynb)")
    _add_grading_options(check)

    grade = commands.add_parser("grade", help="grade a folder of submitted notebooks")
    grade.add_argument("submissions", help="folder with <student>/<exercise>.ipynb or "
                                           "<student>_<exercise>.ipynb files")
    grade.add_argument("--out", default="grades.csv", help="CSV to write (default: grades.csv)")
    grade.add_argument("--feedback", metavar="DIR",
                       help="write one report per student to DIR/<student>.txt")
    grade.add_argument("--exercise", action="append", dest="exercises",
                       help="grade this exercise (repeatable; default: every exercise found)")
    grade.add_argument("--jobs", type=int, default=None,
                       help="notebooks graded at once (default: one per core)")
    _add_grading_options(grade)

    assign = commands.add_parser("assign", help="write exercises/*.ipynb from the marked "
                                                 "solutions/*.ipynb (instructors)")
    from . import assign as assigner

    assigner.add_arguments(assign)

    bench = commands.add_parser("bench", help="time the pooling kernels against torch's")
    from . import bench as benchmark

    benchmark.add_arguments(bench)

    args = parser.parse_args(argv)
    if args.command == "bench":
        return benchmark.command(args)
    if args.command == "assign":
        return assigner.command(args)
    options = {"seed": args.grade_seed, "hidden": args.hidden,
               "limits": grading.Limits(test_s=args.time_limit), "unsandboxed": args.unsandboxed}
    if args.unsandboxed:
        print("warning: --unsandboxed: notebooks run with your rights, outside any sandbox",
              file=sys.stderr)
    try:
        if args.command == "check":
            result = grading.check(args.exercise, args.notebook, **options)
            print(grading.format_report(result))
            return 0 if result.outcomes and result.score == result.total else 1
        rows = grading.grade_folder(args.submissions, args.out, feedback=args.feedback,
                                    exercises=args.exercises, jobs=args.jobs,
                                    progress=sys.stderr.isatty(), **options)
    except grading.SandboxUnavailable as exc:
        print(f"refusing to grade: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        parser.error(str(exc))
    for row in rows:
        score, total = sum(r.score for r in row), sum(r.total for r in row)
        status = next((r.status for r in row if r.status != "ok"), "ok")
        print(f"{score:g}/{total:g}  {row[0].student}  {status}")
    print(f"wrote {args.out}" + (f" and feedback in {args.feedback}/" if args.feedback else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
