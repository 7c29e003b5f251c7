"""The library layer (``pooling_course.functional``, ``pooling_course.ops``) stands alone: it
never imports a chapter module, and ``pip install .`` beside NumPy alone gives a working
library (no matplotlib, torch, ipywidgets, scikit-learn or Jupyter)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pooling_course"
LIBRARY = [PACKAGE / "functional", PACKAGE / "ops"]
# Everything in pooling_course that is not the library (the chapters and their tools).
CHAPTER_MODULES = {
    "forward", "filtering", "filtering_signals", "equivariance", "equivariance_digits",
    "backward", "backward_digits", "regions", "variants", "fast", "explorer", "widgets",
    "figures", "bench", "grading", "assign", "__main__",
}
# Packages the library must not need (checked in the clean environment too).
HEAVY = ("matplotlib", "torch", "ipywidgets", "sklearn", "scipy", "IPython", "nbformat")


def _imports(path: Path) -> set[str]:
    """Absolute module names ``path`` imports, relative imports resolved in the package."""
    tree = ast.parse(path.read_text())
    here = path.relative_to(ROOT).with_suffix("").parts
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(here[:-node.level]) if path.name != "__init__.py" else list(
                    here[:len(here) - node.level])
                module = ".".join(base + ([node.module] if node.module else []))
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return names


def test_the_library_imports_no_chapter_module_and_no_heavy_package():
    offenders = []
    for folder in LIBRARY:
        for path in sorted(folder.rglob("*.py")):
            for name in _imports(path):
                parts = name.split(".")
                chapter = parts[0] == "pooling_course" and len(parts) > 1 and (
                    parts[1] in CHAPTER_MODULES)
                if chapter or parts[0] in HEAVY:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, offenders


def test_the_import_check_sees_a_chapter_import(tmp_path):
    # The check above must be able to fail: a library file importing chapter 1 is caught.
    bad = PACKAGE / "ops" / "_probe_for_test.py"
    assert not bad.exists()
    bad.write_text("from ..forward import receptive_fields\n")
    try:
        names = _imports(bad)
    finally:
        bad.unlink()
    assert "pooling_course.forward" in names


def test_no_module_is_over_about_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 430}
    assert not long, long


SMOKE = """
import sys
import numpy as np
from pooling_course.ops import roi_align
from pooling_course import functional
import pooling_course
assert pooling_course.__file__.startswith(sys.prefix), pooling_course.__file__
x = np.arange(16.0).reshape(1, 1, 4, 4)
assert roi_align(x, np.array([[0, 0, 0, 2, 2]]), 1, sampling_ratio=1).item() == 5.0
assert functional.max_pool2d(x, 2).ravel().tolist() == [5.0, 7.0, 13.0, 15.0]
heavy = [m for m in sys.modules if m.split(".")[0] in {heavy}]
assert not heavy, heavy
print("ok")
"""


def _numpy_pin() -> str:
    pins = re.findall(r"^numpy==\S+", (ROOT / "requirements.txt").read_text(), re.M)
    assert pins, "requirements.txt pins numpy"
    return pins[0]


def _clean_install(tmp_path: Path, source: Path) -> Path:
    """A new virtual environment with the pinned NumPy and ``source`` installed (no deps)."""
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    quiet = {"env": {k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
             "capture_output": True, "text": True}
    for args in ([_numpy_pin()], ["--no-deps", str(source)]):
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", *args], **quiet)
        assert done.returncode == 0, done.stderr[-2000:]
    return python


def _copy_source(target: Path) -> Path:
    # Build from a copy: an in-tree build would leave build/ and *.egg-info in the worktree.
    target.mkdir()
    shutil.copy(ROOT / "pyproject.toml", target)
    shutil.copytree(PACKAGE, target / "pooling_course",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _smoke(python: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(python), "-I", "-c", SMOKE.replace("{heavy}", repr(set(HEAVY)))],
                          cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout")
def test_pip_install_beside_numpy_alone_gives_a_working_library(tmp_path):
    source = _copy_source(tmp_path / "src")
    python = _clean_install(tmp_path, source)
    done = _smoke(python, tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
    # The same environment fails when the library needs a package it does not have: a probe
    # import of matplotlib in ops/__init__.py (no reinstall needed to see it fail: the probe
    # goes into the installed copy).
    site = subprocess.run([str(python), "-I", "-c", "import pooling_course.ops as o; "
                           "print(o.__file__)"], cwd=tmp_path, capture_output=True,
                          text=True).stdout.strip()
    init = Path(site)
    init.write_text("import matplotlib  # probe\n" + init.read_text())
    failed = _smoke(python, tmp_path)
    assert failed.returncode != 0 and "matplotlib" in failed.stderr
