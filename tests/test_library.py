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
# What a library module may import: itself, the argument checks, the standard library, NumPy.
ALLOWED_PACKAGE = {"functional", "ops", "_args"}
ALLOWED_THIRD_PARTY = {"numpy"}
# Packages the clean environment must not have imported.
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


def _offenders(path: Path) -> list[str]:
    bad = []
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "pooling_course":
            if len(parts) > 1 and parts[1] not in ALLOWED_PACKAGE:
                bad.append(name)
        elif parts[0] not in sys.stdlib_module_names and parts[0] not in ALLOWED_THIRD_PARTY:
            bad.append(name)
    return bad


def test_the_library_imports_only_itself_the_standard_library_and_numpy():
    offenders = [f"{path.relative_to(ROOT)} imports {name}" for folder in LIBRARY
                 for path in sorted(folder.rglob("*.py")) for name in _offenders(path)]
    assert not offenders, offenders


def test_the_import_check_sees_a_chapter_or_heavy_import():
    # The check above must be able to fail: a library file importing chapter 1 or matplotlib
    # is caught (the probe file lives only for the duration of the parse).
    bad = PACKAGE / "ops" / "_probe_for_test.py"
    assert not bad.exists()
    bad.write_text("import matplotlib.pyplot as plt\nfrom ..forward import receptive_fields\n"
                   "from ..functional import max_pool2d\nimport numpy as np\nimport math\n")
    try:
        found = _offenders(bad)
    finally:
        bad.unlink()
    assert sorted(found) == ["matplotlib.pyplot", "pooling_course.forward",
                             "pooling_course.forward.receptive_fields"]


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
