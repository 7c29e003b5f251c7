"""A student's path from the book to a checked exercise works as the book describes it.

The page *How to use this course* (``book/how_to_use.md``) and the README's Students section
give the same steps: get the course, ``make setup``, activate ``.venv``, ``jupyter lab``, do an
exercise, ``python -m pooling_course check``. These tests hold each step that can be checked
without the network: what ``make setup`` installs, that both texts give the same commands, and
that a fresh clone of the repository checks an exercise from its own folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "how_to_use.md"
STEPS = ["make setup", "source .venv/bin/activate", "jupyter lab",
         "python -m pooling_course check 01_forward", "--notebook"]


def _students_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## Students", 1)[1].split("\n## ", 1)[0]


def test_the_page_and_the_readme_give_the_same_steps_in_the_same_order():
    page = PAGE.read_text(encoding="utf-8")
    readme = _students_section()
    for text in (page, readme):
        positions = [text.find(step) for step in STEPS]
        assert -1 not in positions, [s for s, p in zip(STEPS, positions, strict=True) if p < 0]
        assert positions[:4] == sorted(positions[:4])  # setup, activate, lab, check


def test_the_book_links_the_page_from_the_intro_and_every_chapters_exercises():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert "book/how_to_use" in toc
    assert "(how_to_use.md)" in (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.md"))
    assert chapters
    for chapter in chapters:
        exercises = chapter.read_text(encoding="utf-8").split("\n## Exercises", 1)
        assert len(exercises) == 2, f"{chapter.name} has no Exercises section"
        assert "(how_to_use.md)" in exercises[1], f"{chapter.name} does not link the page"


def test_make_setup_installs_jupyterlab_and_the_notebook_tools():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^setup: \$\(STAMP\)", makefile, re.M)
    assert "-r requirements.txt" in makefile
    pins = {line.split("==")[0].strip().lower() for line in
            (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
            if "==" in line and not line.startswith("#")}
    assert {"jupyterlab", "jupyterlab-myst", "jupytext", "ipykernel", "numpy"} <= pins


def test_jupyter_lab_is_on_the_environments_path():
    """`source .venv/bin/activate` puts the environment's bin first; `jupyter lab` is there."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "jupyter-lab").exists() or shutil.which("jupyter-lab", path=str(bin_dir))


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_fresh_clone_checks_an_exercise_from_its_own_folder(tmp_path):
    """Clone the committed course, then run the page's check command inside the clone."""
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                      capture_output=True).returncode:
        pytest.skip("not a git checkout")
    clone = tmp_path / "pooling-course"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(clone)}  # the clone's package, not this one

    def check(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pooling_course", "check", "01_forward",
                               *args], cwd=clone, env=env, capture_output=True, text=True,
                              timeout=600)

    solved = check("--notebook", "solutions/01_forward.ipynb")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    untouched = check()  # the default: exercises/01_forward.ipynb of the clone
    assert untouched.returncode == 1, untouched.stdout + untouched.stderr
    assert re.search(r"\b0(\.0)?\s*/\s*\d+", untouched.stdout), untouched.stdout


def test_without_bubblewrap_check_uses_a_restricted_process_and_says_so(monkeypatch, capsys,
                                                                        tmp_path):
    """A student on macOS, Windows or a Linux without user namespaces: `check` still judges
    their own notebook as grading would, keeps torch and the course package out of reach, and
    says plainly what it does not protect. `grade` still refuses (tests/test_grading.py)."""

    from pooling_course import grading
    from pooling_course.__main__ import main

    monkeypatch.setattr(grading, "sandbox_problem", lambda: "bubblewrap (`bwrap`) is not "
                                                            "installed")
    solution = grading.SOLUTIONS / "01_forward.ipynb"
    assert main(["check", "01_forward", "--notebook", str(solution)]) == 0
    printed = capsys.readouterr()
    assert "score: 13 / 13" in printed.out
    note = " ".join(printed.err.split())
    assert "restricted process" in note and "This is NOT a sandbox" in note
    assert "no torch, no pooling_course" in note
    cheat = grading.write_code_notebook(tmp_path / "cheat.ipynb", [
        "import sys\nsys.path += [p for p in sys.modules['os'].environ.get("
        "'PYTHONPATH', '').split(':') if p]",
        "from pooling_course.forward import pool_output_size",
        "import torch"])
    assert main(["check", "01_forward", "--notebook", str(cheat)]) == 1
    report = capsys.readouterr().out
    assert "No module named 'pooling_course'" in report and "No module named 'torch'" in report
    assert "score: 0 / 13" in report
