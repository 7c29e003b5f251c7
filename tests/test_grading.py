"""The grading path: loading notebooks, grading folders, and the command line."""

from __future__ import annotations

import csv
import json
import re
import shutil

import pytest

from pooling_course import grading
from pooling_course.__main__ import main


def notebook(path, *sources):
    cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": s} for s in sources]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


def test_load_notebook_keeps_going_after_a_failing_cell(tmp_path):
    nb = notebook(tmp_path / "n.ipynb", "a = 1", "1 / 0", "%matplotlib inline\nb = a + 1")
    loaded = grading.load_notebook(nb)
    assert (loaded.namespace.a, loaded.namespace.b) == (1, 2)
    assert loaded.errors == ["cell 2: ZeroDivisionError: division by zero"]


def test_exercise_of_reads_the_file_name():
    assert grading.exercise_of("x/alice_01_forward.ipynb") == "01_forward"
    with pytest.raises(ValueError, match="01_forward"):
        grading.exercise_of("x/alice.ipynb")


def test_grade_folder_scores_each_student(tmp_path):
    subs = tmp_path / "subs"
    (subs / "bob").mkdir(parents=True)
    shutil.copy(grading.SOLUTIONS / "01_forward.ipynb", subs / "bob" / "01_forward.ipynb")
    shutil.copy(grading.EXERCISES / "01_forward.ipynb", subs / "alice_01_forward.ipynb")
    (subs / "carol_01_forward.ipynb").write_text("{not json")
    out = tmp_path / "grades.csv"
    grading.grade_folder(subs, out)
    rows = {r["student"]: r for r in csv.DictReader(out.open())}
    assert set(rows) == {"alice", "bob", "carol"}
    assert rows["bob"]["score"] == rows["bob"]["total"] != "0"
    assert rows["alice"]["score"] == "0" and "NotImplementedError" in rows["alice"]["error"]
    assert rows["carol"]["score"] == "0" and "not a readable notebook" in rows["carol"]["error"]


def test_a_notebook_that_never_ends_is_stopped(tmp_path):
    nb = notebook(tmp_path / "loop_01_forward.ipynb", "while True:\n    pass")
    result = grading.grade_notebook(nb, time_limit_s=6)
    assert result.score == 0 and "timed out" in result.error


def test_check_command_exit_code_says_whether_everything_passed(capsys):
    assert main(["check", "01_forward", "--notebook",
                 str(grading.SOLUTIONS / "01_forward.ipynb")]) == 0
    score = re.search(r"score: (\S+) / (\S+)", capsys.readouterr().out)
    assert score and score[1] == score[2] != "0"
    stub = str(grading.EXERCISES / "01_forward.ipynb")
    assert main(["check", "01_forward", "--notebook", stub]) == 1


def test_check_rejects_an_unknown_exercise(capsys):
    with pytest.raises(SystemExit):
        main(["check", "99_nothing"])
    assert "exercise must be one of" in capsys.readouterr().err
