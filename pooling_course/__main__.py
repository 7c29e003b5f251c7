"""Command line: ``python -m pooling_course check|grade|assign|bench``."""

from __future__ import annotations

import argparse
import sys
import textwrap

from . import grading


def _add_grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hidden", metavar="DIR",
                        help="folder of extra graded tests (test_<exercise>*.py) to run too")
    parser.add_argument("--grade-seed", default=None,
                        help="seed of the random inputs (default: a fresh random one, printed "
                             "and recorded; give it again to reproduce a grading)")
    parser.add_argument("--time-limit", type=float, default=grading.Limits.test_s,
                        help="seconds one graded test's calls may take together "
                             f"(default: {grading.Limits.test_s:g})")
    parser.add_argument("--total-time", type=float, default=grading.Limits.total_s,
                        help="seconds one notebook may take in all: starting, running its "
                             f"cells, every call (default: {grading.Limits.total_s:g})")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="run notebooks WITHOUT the bubblewrap sandbox (trusted notebooks "
                             "only: their code can then read and change anything you can)")


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shard must be K/N, e.g. 2/4, got {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"shard K/N needs 1 <= K <= N, got {text!r}")
    return k, n


def merge_main(argv: list[str]) -> int:
    """``grade merge PARTS... --out grades.csv``: join the CSVs of all shards."""
    parser = argparse.ArgumentParser(prog="python -m pooling_course grade merge",
                                     description="join the partial CSVs of `grade --shard K/N`")
    parser.add_argument("parts", nargs="+", help="the CSV of every shard")
    parser.add_argument("--out", default="grades.csv", help="CSV to write (default: grades.csv)")
    args = parser.parse_args(argv)
    try:
        count = grading.merge(args.parts, args.out)
    except (ValueError, OSError) as exc:
        print(f"refusing to merge: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {count} students from {len(args.parts)} shards")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["grade", "merge"]:
        return merge_main(argv[2:])
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
    grade.add_argument("--shard", metavar="K/N", type=_shard, default=None,
                       help="grade only the K-th of N slices of the students (join the parts "
                            "with `grade merge PARTS... --out grades.csv`)")
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
    seed = args.grade_seed if args.grade_seed is not None else grading.new_seed()
    limits = grading.Limits(test_s=args.time_limit, total_s=args.total_time)
    options = {"seed": seed, "hidden": args.hidden, "limits": limits,
               "unsandboxed": args.unsandboxed}
    if args.unsandboxed:
        print("warning: --unsandboxed: notebooks run with your rights, outside any sandbox",
              file=sys.stderr)
    try:
        if args.command == "check":
            result = grading.check(args.exercise, args.notebook, **options)
            print(grading.format_report(result))
            note = "" if args.unsandboxed else grading.restricted_note()
            if note:
                print(textwrap.fill(note, 96), file=sys.stderr)
            if args.grade_seed is None:
                print(f"(random inputs drawn with a fresh seed; --grade-seed {seed} repeats "
                      "them)")
            return 0 if result.outcomes and result.score == result.total else 1
        rows = grading.grade_folder(args.submissions, args.out, feedback=args.feedback,
                                    exercises=args.exercises, jobs=args.jobs, shard=args.shard,
                                    progress=sys.stderr.isatty(), say=_say, **options)
    except grading.SandboxUnavailable as exc:
        print(f"refusing to grade: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        parser.error(str(exc))
    for row in rows:
        print(grading.describe_row(row))
    print(f"wrote {args.out}" + (f" and feedback in {args.feedback}/" if args.feedback else ""))
    return 0


def _say(text: str) -> None:
    print(text, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
