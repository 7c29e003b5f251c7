"""The grading path: reading notebooks, the wire format, the command line, and the meta test
that every exercise's graded tests give its solution full marks and its untouched stub 0.

The hostile submissions are in ``test_grading_hostile.py``."""

from __future__ import annotations

import functools
import json
import re

import numpy as np
import pytest

from pooling_course import grading
from pooling_course.__main__ import main
from pooling_course.grading import worker as wire
from pooling_course.grading.proxy import show

EXERCISES = grading.exercise_names()


def notebook(path, *sources):
    return grading.write_code_notebook(path, list(sources))


# --- reading, naming, the wire ---------------------------------------------------------------

def test_notebook_cells_are_numbered_as_in_the_notebook(tmp_path):
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": "# title"},
        {"cell_type": "code", "source": ["a = 1\n", "b = 2"]}]}))
    assert grading.notebook_cells(path) == [(2, "a = 1\nb = 2")]
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable notebook"):
        grading.notebook_cells(path)


def test_exercise_of_reads_the_file_name():
    assert grading.exercise_of("x/alice_01_forward.ipynb") == "01_forward"
    with pytest.raises(ValueError, match="01_forward"):
        grading.exercise_of("x/alice.ipynb")


def test_find_submissions_takes_the_folder_or_the_file_prefix_as_the_student(tmp_path):
    (tmp_path / "bob").mkdir()
    for path in ("bob/01_forward.ipynb", "alice_01_forward.ipynb", "carol.ipynb"):
        notebook(tmp_path / path, "x = 1")
    found, notes = grading.find_submissions(tmp_path)
    assert {s: sorted(e) for s, e in found.items()} == {
        "alice": ["01_forward"], "bob": ["01_forward"], "carol": []}
    assert "carol.ipynb" in notes["carol"][0]


PLAIN = [None, True, 3, -2**70, 2.5, float("nan"), float("-inf"), 1 + 2j, "s", (1, [2, (3,)]),
         {"k": (1, 2)}, np.arange(6, dtype=np.int16).reshape(2, 3), np.float32(1.5),
         np.array(["a", "b"]), np.zeros((0, 3)), np.bool_(True)]


@pytest.mark.parametrize("value", PLAIN, ids=lambda v: type(v).__name__)
def test_plain_data_crosses_the_wire_unchanged(value):
    back = wire.decode(json.loads(json.dumps(wire.encode(value))))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray | np.generic):
        assert back.dtype == value.dtype
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, float) and np.isnan(value):
        assert np.isnan(back)
    else:
        assert back == value


class Always(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


@pytest.mark.parametrize(("value", "named"), [
    (Always(3), "(a subclass of int)"), (np.array([object()]), "dtype=object"),
    (lambda: 0, "function"), (np.ma.masked_array([1]), "MaskedArray"), ({1, 2}, "set")])
def test_anything_but_plain_data_is_refused_with_its_type(value, named):
    with pytest.raises(wire.WireError, match=re.escape(named)):
        wire.encode(value)


@pytest.mark.parametrize("tree", [
    {"__ndarray__": "bm90IGFuIGFycmF5"}, {"__tuple__": 3}, {"a": 1, "b": 2}, {"__evil__": 1},
    {"__float__": "1e400"}])
def test_the_decoder_refuses_anything_it_did_not_write(tree):
    with pytest.raises(wire.WireError):
        wire.decode(tree)


def test_numpy_functions_reach_the_worker_by_name_and_only_from_the_grader():
    # A graded test may hand a student's gradient checker np.square or partial(np.max, axis=1).
    for function in (np.square, functools.partial(np.max, axis=1)):
        rebuilt = wire.decode(wire.encode(function, strict=False), functions=True)
        x = np.arange(6.0).reshape(2, 3)
        np.testing.assert_array_equal(rebuilt(x), function(x))
    with pytest.raises(wire.WireError, match="ufunc"):
        wire.encode(np.square)  # a student's answer is never a function
    with pytest.raises(wire.WireError):
        wire.decode({"__numpy__": "square"})  # nor is anything the grader decodes
    for tree in ({"__numpy__": "__import__"}, {"__numpy__": "os"}, {"__numpy__": "random"},
                 {"__partial__": [{"__numpy__": "max"}, [], {"__dict__": []}]}):
        with pytest.raises(wire.WireError):
            wire.decode(tree, functions=True)
    with pytest.raises(wire.WireError):
        wire.encode(lambda v: v, strict=False)


def test_an_object_array_in_npy_form_is_refused_not_unpickled():
    import base64
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError, match="unreadable array"):
        wire.decode({"__ndarray__": base64.b64encode(buffer.getvalue()).decode()})


def test_show_prints_small_arrays_in_full_and_big_ones_by_shape():
    assert show(np.array([[1.0, 2.0]])) == "array([[1., 2.]], dtype=float64)"
    assert show(np.zeros((20, 20), np.float32)) == "array(shape=(20, 20), dtype=float32)"
    assert show((1, [2])) == "(1, [2])"


# --- every exercise: the solution gets full marks, the untouched stub 0 ----------------------

HIDDEN = '''
import pytest

@pytest.mark.graded("01_forward", points=2, question="hidden", hint="read the hidden test")
def test_hidden_output_size(submission, rng):
    n = int(rng.integers(50, 100))
    assert submission.pool_output_size(n, 3) == (n - 3) // 3 + 1
'''


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """Every exercise's solution and untouched stub, graded in one parallel run, with an
    instructor's hidden test for exercise 01."""
    hidden = tmp_path_factory.mktemp("hidden")
    (hidden / "test_01_forward_hidden.py").write_text(HIDDEN)
    triples = [(f"{kind}-{e}", e, folder / f"{e}.ipynb") for e in EXERCISES
               for kind, folder in (("solution", grading.SOLUTIONS),
                                    ("stub", grading.EXERCISES))]
    return {r.student: r for r in grading.grade(triples, hidden=hidden)}


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_gets_full_marks(shipped, exercise):
    result = shipped[f"solution-{exercise}"]
    failed = {o.test: o.message for o in result.outcomes if not o.passed}
    assert failed == {} and result.status == "ok"
    assert result.total > 0 and result.score == result.total


@pytest.mark.parametrize("exercise", EXERCISES)
def test_every_graded_test_fails_on_the_untouched_stub(shipped, exercise):
    result = shipped[f"stub-{exercise}"]
    assert len(result.outcomes) == len(shipped[f"solution-{exercise}"].outcomes) > 0
    assert [o.test for o in result.outcomes if o.passed] == []
    assert result.score == 0 and result.status == "ok"


def test_hidden_tests_are_graded_beside_the_public_ones(shipped):
    solution, stub = shipped["solution-01_forward"], shipped["stub-01_forward"]
    assert solution.questions["hidden"] == (2, 2) and stub.questions["hidden"] == (0, 2)


# --- the command line ----------------------------------------------------------------------

def test_check_prints_the_report_and_exits_0_only_on_full_marks(capsys):
    assert main(["check", "01_forward", "--notebook",
                 str(grading.SOLUTIONS / "01_forward.ipynb")]) == 0
    score = re.search(r"score: (\S+) / (\S+)", capsys.readouterr().out)
    assert score and score[1] == score[2] != "0"
    assert main(["check", "01_forward", "--notebook",
                 str(grading.EXERCISES / "01_forward.ipynb")]) == 1
    report = capsys.readouterr().out
    assert "called:   pool_output_size(" in report and "hint:" in report


def test_check_rejects_an_unknown_exercise(capsys):
    with pytest.raises(SystemExit):
        main(["check", "99_nothing"])
    assert "exercise must be one of" in capsys.readouterr().err


def test_without_bubblewrap_grading_refuses_and_says_why(monkeypatch, tmp_path, capsys):
    from pooling_course.grading import bwrap as sandbox

    notebook(tmp_path / "alice_01_forward.ipynb", "x = 1")
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.sandbox_problem.cache_clear()
    try:
        assert main(["grade", str(tmp_path), "--out", str(tmp_path / "g.csv")]) == 2
    finally:
        sandbox.sandbox_problem.cache_clear()
    err = capsys.readouterr().err
    assert "refusing to grade" in err and "bubblewrap" in err and "--unsandboxed" in err
    assert not (tmp_path / "g.csv").exists()


# --- a class larger than one machine: shards ------------------------------------------------

def test_sharded_grading_in_parallel_processes_equals_unsharded_grading(tmp_path):
    """Three shards graded by three processes at once, merged: the same CSV as one run."""
    import csv
    import os
    import subprocess
    import sys

    sources = [s for _, s in grading.notebook_cells(grading.SOLUTIONS / "01_forward.ipynb")]
    definitions = [s for s in sources if s.startswith(("def ", "import "))]
    folder = tmp_path / "class"
    for student, cells in {"ann": definitions, "bob": definitions[:-1], "cy": ["x = 1"],
                           "dee": definitions, "eve": ["def pool_output_size(*a):\n  return 1"]
                           }.items():
        (folder / student).mkdir(parents=True)
        notebook(folder / student / "01_forward.ipynb", *cells)
    (folder / "fay").mkdir()  # an empty folder: a missing row in its shard
    common = ["--grade-seed", "shards", "--jobs", "1"]
    whole = tmp_path / "whole.csv"
    assert main(["grade", str(folder), "--out", str(whole), *common]) == 0
    env = {**os.environ, "PYTHONPATH": str(grading.ROOT)}
    runs = [subprocess.Popen([sys.executable, "-m", "pooling_course", "grade", str(folder),
                              "--shard", f"{k}/3", "--out", str(tmp_path / f"part{k}.csv"),
                              *common], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True) for k in (1, 2, 3)]
    for run in runs:
        assert run.wait(timeout=600) == 0, run.stderr.read()
    parts = [str(tmp_path / f"part{k}.csv") for k in (3, 1, 2)]
    merged = tmp_path / "merged.csv"
    assert main(["grade", "merge", *parts, "--out", str(merged)]) == 0
    assert merged.read_text() == whole.read_text()
    rows = list(csv.DictReader(whole.open()))
    assert [r["student"] for r in rows] == ["ann", "bob", "cy", "dee", "eve", "fay"]
    assert rows[-1]["status"] == "missing" and rows[0]["total"] == rows[0]["max_total"]
    # refusals: a missing shard, two shards that graded different questions
    with pytest.raises(ValueError, match="2/3 missing"):
        grading.merge(parts[:2], tmp_path / "x.csv")
    other = tmp_path / "other.csv"
    other.write_text(open(parts[2]).read().replace("01_forward:1.2 max_pool2d",
                                                          "01_forward:x", 1))
    with pytest.raises(ValueError, match="other exercises or questions"):
        grading.merge([parts[0], parts[1], str(other)], tmp_path / "x.csv")


# --- feedback a student can act on ---------------------------------------------------------

def _mutated(exercise: str, old: str, new: str) -> list[str]:
    """The solution's code cells with one typical mistake made."""
    cells = [s for _, s in grading.notebook_cells(grading.SOLUTIONS / f"{exercise}.ipynb")]
    assert sum(old in s for s in cells) == 1, old
    return [s.replace(old, new) for s in cells]


MISTAKES = {  # student -> (exercise, solution text, mistake, phrases of the report)
    "float_size": ("01_forward", "        out = span // stride + 1\n    return out",
                   "        out = span // stride + 1\n    return np.float64(out)",
                   ["must be an int", "question 1.1 pool_output_size: 3 / 4"]),
    "end_off_by_one": ("05_regions", "ends = -((-(i + 1) * length) // output_size)",
                       "ends = ((i + 1) * length) // output_size",
                       ["adaptive_bounds(7, 3), its ends", "Ends round up"]),
    "exclusive_end": ("05_regions", "ends = -((-(i + 1) * length) // output_size)",
                      "ends = -((-(i + 1) * length) // output_size) - 1",
                      ["Ends are exclusive: ceil((i+1)*L/O) itself, not one less"]),
    "padding_zero": ("06_variants", "        positions[i] = np.argmax(x[i, :, :real], axis=-1)",
                     "        padded = np.where(np.arange(length) < real, x[i], 0)\n"
                     "        positions[i] = np.argmax(padded, axis=-1)",
                     ["masked with 0 beats sequences of negative values"]),
    "nan_change": ("03_equivariance", "        return 0.0 if diff == 0 else float(np.inf)\n",
                   "        return diff / norm\n",
                   ["0/0 gave NaN"]),
    "no_error": ("03_equivariance", '        raise ValueError(f"shapes differ: '
                 '{y.shape} and {reference.shape}")', '        return float("nan")',
                 ["expected ValueError for this bad input; it returned nan",
                  "raise ValueError naming both"]),
    "assign": ("04_backward", "grad[winner] += grad_output[i, j]",
               "grad[winner] = grad_output[i, j]", ["add into grad_x (+=)"]),
    "zero_padding": ("01_forward", "-np.inf)", "0.0)",
                     ["Pad with -inf, never with 0", "first difference at [0, 0]"]),
    "nan_response": ("02_filtering", "    return np.where(at_zero, 1.0, np.abs(ratio))",
                     "    return np.abs(np.sin(omega * kernel_size / 2) / (kernel_size * half))",
                     ["NaN at [0], where", "0/0 at omega = 0"]),
    "wrong_way": ("03_equivariance", "(np.arange(length) - delta)",
                  "(np.arange(length) + delta)", ["Shifted the wrong way"]),
    "dtype_slip": ("07_fast", "out = view(0, 0).copy()", "out = view(0, 0).astype(np.float64)",
                   ["expected dtype float32, got dtype float64", "question 7.1 max_pool2d_fast:"
                    " 1 / 3", "question 7.1 max_pool2d_fast (memory): 1 / 1"]),
    "negative_pad": ("08_frameworks", "max((n - 1) * s + k - length, 0)",
                     "(n - 1) * s + k - length", ["its begin: expected 0, got -1",
                                                  "Padding is never negative"]),
}


@pytest.fixture(scope="module")
def mistaken(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mistakes")
    triples = []
    for student, (exercise, old, new, _) in MISTAKES.items():
        path = notebook(folder / f"{student}_{exercise}.ipynb", *_mutated(exercise, old, new))
        triples.append((student, exercise, path))
    return {r.student: r for r in grading.grade(triples, seed="feedback")}


@pytest.mark.parametrize("student", sorted(MISTAKES))
def test_the_feedback_names_the_real_bug_and_nothing_of_pytest(mistaken, student):
    result = mistaken[student]
    report = grading.format_report(result)
    assert result.status == "ok" and 0 < result.score < result.total, report
    for phrase in MISTAKES[student][3]:
        assert phrase in report, (phrase, report)
    for noise in ("Use -v", "<function", "+  where", "Submission.__getattr__", "assert ",
                  "Mismatch", " at 0x", "AssertionError", "pooling_course.grading"):
        assert noise not in report, (noise, report)
