"""Shared pytest plumbing: the ``submission`` fixture that graded tests grade.

``pytest tests/test_01_forward.py -m graded --submission=path/to/notebook.ipynb`` grades that
notebook; without ``--submission`` the graded tests grade the reference solution in
``solutions/``, so the plain test suite proves every graded test passes on a correct answer.
``--grade-report=FILE`` writes the per-test outcome and points as JSON for
``python -m pooling_course check|grade``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from pooling_course.grading import SOLUTIONS, load_notebook

# CI replays the same hypothesis examples on every run, so a red CI means the code changed, not
# the dice; local runs keep drawing new examples (POOLING_EXAMPLES=5000 searches deeper).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

_loaded: dict[Path, object] = {}
_points: dict[str, float] = {}
_outcomes: dict[str, tuple[bool, str]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--submission", default=None,
                     help="notebook whose answers graded tests check (default: the solution)")
    parser.addoption("--grade-report", default=None, help="write graded outcomes here as JSON")
    parser.addoption("--grade-seed", default="0",
                     help="seed of the graded tests' random inputs (with the submission's name)")


def _graded_marker(item: pytest.Item) -> pytest.Mark | None:
    return item.get_closest_marker("graded")


@pytest.fixture
def submission(request: pytest.FixtureRequest) -> object:
    marker = _graded_marker(request.node)
    if marker is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses `submission` but is not graded")
    exercise = marker.args[0]
    option = request.config.getoption("--submission")
    path = Path(option) if option else SOLUTIONS / f"{exercise}.ipynb"
    path = path.resolve()
    if path not in _loaded:
        _loaded[path] = load_notebook(path)
    return _loaded[path].namespace


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Random inputs for a graded test that a student cannot hard-code.

    Seeded by the submission's file name, the test and ``--grade-seed``: a re-grade of the same
    notebook draws the same inputs (and so reproduces its score); another student, another test
    or another seed draws others.
    """
    option = request.config.getoption("--submission") or "solution"
    key = f"{request.config.getoption('--grade-seed')}:{Path(option).name}:{request.node.nodeid}"
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8]))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = _graded_marker(item)
        if marker is not None:
            _points[item.nodeid] = float(marker.kwargs["points"])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _points:
        return
    passed, message = _outcomes.get(report.nodeid, (True, ""))
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        passed, message = False, crash.message if crash else str(report.longrepr)[-300:]
    elif report.skipped:
        passed, message = False, "skipped"
    _outcomes[report.nodeid] = (passed, message)


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = session.config.getoption("--grade-report")
    if not out:
        return
    results = []
    for nodeid, points in _points.items():
        passed, message = _outcomes.get(nodeid, (False, "not run"))
        first_line = message.splitlines()[0][:300] if message else ""
        results.append({"name": nodeid.split("::")[-1], "points": points, "passed": passed,
                        "message": first_line})
    errors = [e for loaded in _loaded.values() for e in loaded.errors]
    Path(out).write_text(json.dumps({"results": results, "load_errors": errors}, indent=1))
