"""``python -m pooling_course assign``: the student notebooks are generated from the marked
solutions, and the committed ``exercises/`` are exactly what it generates."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from pooling_course.__main__ import main
from pooling_course.assign import (
    MarkerError,
    adopt_markdown,
    assign,
    stub_source,
    student_notebook,
)

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"


def test_committed_exercises_are_what_assign_generates(capsys):
    assert sorted(p.name for p in EXERCISES.glob("*.ipynb")) == sorted(
        p.name for p in SOLUTIONS.glob("*.ipynb"))
    code = main(["assign", "--check"])
    assert code == 0, capsys.readouterr().err


def test_no_marker_and_no_answer_reaches_the_student_copy():
    for path in sorted(EXERCISES.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        assert "SOLUTION" not in text and "solution-only" not in text, path.name
        nb = nbformat.read(path, as_version=4)
        stubs = [c for c in nb.cells if c.cell_type == "code"
                 and "raise NotImplementedError(" in c.source]
        assert stubs, f"{path.name} has no stub"
        assert all(not c.outputs and c.execution_count is None
                   for c in nb.cells if c.cell_type == "code"), path.name


def test_the_check_fails_when_an_exercise_is_out_of_date(tmp_path, capsys):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    shutil.copytree(SOLUTIONS, solutions)
    shutil.copytree(EXERCISES, exercises)
    assert assign(solutions, exercises, check=True) == []
    nb = nbformat.read(solutions / "04_backward.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "# BEGIN SOLUTION" in c.source)
    cell.source = cell.source.replace("# BEGIN SOLUTION \"part 4.1:", "# BEGIN SOLUTION \"4.1:")
    nbformat.write(nb, solutions / "04_backward.ipynb")
    assert main(["assign", "--check", "--solutions", str(solutions), "--exercises",
                 str(exercises)]) == 1
    assert "04_backward" in capsys.readouterr().err
    assert main(["assign", "--solutions", str(solutions), "--exercises", str(exercises)]) == 0
    assert 'raise NotImplementedError(\\"4.1:' in (exercises / "04_backward.ipynb").read_text()
    assert assign(solutions, exercises, check=True) == []


def test_markers_become_a_stub_at_their_indentation_with_their_hint():
    source = ("def f(x):\n    \"\"\"Doc.\"\"\"\n    y = x\n"
              "    # BEGIN SOLUTION 'part 2: it\\'s y'\n    return 2 * y\n    # END SOLUTION\n")
    out, stubs = stub_source(source)
    assert stubs == 1
    assert out == ("def f(x):\n    \"\"\"Doc.\"\"\"\n    y = x\n"
                   "    raise NotImplementedError('part 2: it\\'s y')\n")
    assert stub_source("# BEGIN SOLUTION\npass\n# END SOLUTION")[0] == (
        "raise NotImplementedError()")


@pytest.mark.parametrize("source", [
    "# BEGIN SOLUTION 'a'\nx = 1",
    "x = 1\n# END SOLUTION",
    "# BEGIN SOLUTION 'a'\n# BEGIN SOLUTION 'b'\n# END SOLUTION\n# END SOLUTION",
    "# BEGIN SOLUTION not a string\n# END SOLUTION",
    "# BEGIN SOLUTION 42\n# END SOLUTION",
])
def test_malformed_markers_are_refused(source):
    with pytest.raises(MarkerError):
        stub_source(source)


def test_cells_tagged_solution_only_stay_out_and_later_checks_may_raise():
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                  "language": "python"}, "language_info": {"name": "python"}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Solution", metadata={"tags": ["solution-only"]}),
        nbformat.v4.new_markdown_cell("# Exercise", metadata={"tags": ["exercise-only"]}),
        nbformat.v4.new_code_cell("import numpy as np"),
        nbformat.v4.new_code_cell("def f():\n    # BEGIN SOLUTION 'p1'\n    return 1\n"
                                  "    # END SOLUTION"),
        nbformat.v4.new_code_cell("assert f() == 1", metadata={"tags": ["solution-only"]}),
        nbformat.v4.new_code_cell("f()", execution_count=3, outputs=[
            nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=3)]),
    ]
    out = student_notebook(nb)
    assert [c.source for c in out.cells] == [
        "# Exercise", "import numpy as np", "def f():\n    raise NotImplementedError('p1')",
        "f()"]
    assert [c.metadata for c in out.cells] == [{}, {}, {}, {"tags": ["raises-exception"]}]
    assert out.cells[-1].outputs == [] and out.cells[-1].execution_count is None
    with pytest.raises(MarkerError):
        student_notebook(nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_markdown_cell("# BEGIN SOLUTION\nanswer\n# END SOLUTION")]))


def test_markdown_edited_in_a_student_notebook_can_be_carried_back(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    shutil.copytree(SOLUTIONS, solutions)
    shutil.copytree(EXERCISES, exercises)
    nb = nbformat.read(exercises / "01_forward.ipynb", as_version=4)
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    first, last = markdown[0], markdown[-1]
    first.source += "\n\nEdited intro."
    last.source = "## Edited heading"
    nbformat.write(nb, exercises / "01_forward.ipynb")
    assert assign(solutions, exercises, check=True) == ["01_forward"]
    report = adopt_markdown(solutions, exercises)
    assert report["01_forward"] == "adopted 2 cells"
    assert set(report.values()) == {"adopted 2 cells", "unchanged"}
    solution = nbformat.read(solutions / "01_forward.ipynb", as_version=4)
    assert solution.cells[0].source.startswith("# Solution")  # solution-only: untouched
    assert solution.cells[1].source.endswith("Edited intro.")
    assert assign(solutions, exercises, check=True) == []
