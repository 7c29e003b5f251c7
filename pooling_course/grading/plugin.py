"""The pytest plugin behind graded tests: the ``submission`` and ``rng`` fixtures and the report.

A graded test is marked ``@pytest.mark.graded("NN_topic", points=n, question="name",
hint="...")`` and takes the ``submission`` fixture. Without options, ``submission`` is the
reference solution ``solutions/NN_topic.ipynb`` (so the plain test suite proves every graded test
passes on a correct answer); ``--submission=NOTEBOOK`` grades that notebook instead, and
``--submissions=FILE`` (written by ``python -m pooling_course grade``) grades many: each graded
test then runs once per submission, grouped by submission. Every notebook runs in its own
sandboxed worker (see :mod:`pooling_course.grading.sandbox`); ``--grade-report=FILE`` writes every
outcome, call log and event as JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from . import notebook_cells
from .proxy import Notebook, Submission
from .sandbox import Limits, require_sandbox

_notebooks: dict[str, Notebook] = {}
_items: dict[str, dict] = {}
_outcomes: dict[str, tuple[bool, str, str]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grading", "graded tests of exercise notebooks")
    group.addoption("--submission", default=None,
                    help="notebook whose answers graded tests check (default: the solution)")
    group.addoption("--submissions", default=None,
                    help="JSON file of many submissions (written by `python -m pooling_course "
                         "grade`)")
    group.addoption("--grade-report", default=None, help="write graded outcomes here as JSON")
    group.addoption("--grade-seed", default="0",
                    help="seed of the graded tests' random inputs (with the submission's name)")
    group.addoption("--time-limit", type=float, default=Limits.test_s,
                    help="seconds all of one graded test's calls may take together")
    group.addoption("--grade-limits", default=None,
                    help="all limits as JSON (fields of pooling_course.grading.Limits)")
    group.addoption("--unsandboxed", action="store_true",
                    help="run notebooks without the bubblewrap sandbox (trusted notebooks only)")


def _marker(node: pytest.Item | pytest.Function) -> pytest.Mark | None:
    return node.get_closest_marker("graded")


def _register(config: pytest.Config) -> None:
    """Read the submissions named by the options once per session."""
    if config.stash.get(_registered, False):
        return
    config.stash[_registered] = True
    limits = _limits(config)
    unsandboxed = config.getoption("--unsandboxed")
    listed = config.getoption("--submissions")
    if listed:
        for entry in json.loads(Path(listed).read_text(encoding="utf-8")):
            _notebooks[entry["key"]] = Notebook(
                entry["key"], entry["exercise"], [tuple(c) for c in entry.get("cells", [])],
                limits, unsandboxed, entry.get("status", "ok"), entry.get("reason", ""))
        config.stash[_listed] = True


def _limits(config: pytest.Config) -> Limits:
    given = config.getoption("--grade-limits")
    if given:
        return Limits(**json.loads(given))
    return Limits(test_s=config.getoption("--time-limit"))


_registered = pytest.StashKey[bool]()
_listed = pytest.StashKey[bool]()


def _single(config: pytest.Config, exercise: str) -> Notebook:
    """The one notebook graded without ``--submissions``: ``--submission`` or the solution."""
    from . import SOLUTIONS

    option = config.getoption("--submission")
    path = Path(option) if option else SOLUTIONS / f"{exercise}.ipynb"
    key = path.name if option else f"solution:{exercise}"
    if key not in _notebooks:
        limits = _limits(config)
        unsandboxed = config.getoption("--unsandboxed")
        try:
            cells, status, reason = notebook_cells(path), "ok", ""
        except ValueError as exc:
            cells, status, reason = [], "unreadable", str(exc)
        _notebooks[key] = Notebook(key, exercise, cells, limits, unsandboxed, status, reason)
    return _notebooks[key]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = _marker(metafunc.definition)
    if marker is None or "submission" not in metafunc.fixturenames:
        return
    config = metafunc.config
    _register(config)
    exercise = marker.args[0]
    if config.stash.get(_listed, False):
        keys = [k for k, n in _notebooks.items() if n.exercise == exercise]
    else:
        keys = [_single(config, exercise).key]
    metafunc.parametrize("submission", keys, ids=keys, indirect=True, scope="module")


@pytest.fixture
def submission(request: pytest.FixtureRequest) -> Submission:
    """The notebook graded by this test, as a proxy: ``submission.<function>(...)``."""
    if not hasattr(request, "param"):
        raise pytest.UsageError(f"{request.node.nodeid} uses `submission` but is not marked "
                                "graded")
    notebook = _notebooks[request.param]
    if not notebook.unsandboxed and notebook.status == "ok":
        require_sandbox()
    for other in _notebooks.values():  # tests run grouped by submission: one worker at a time
        if other is not notebook:
            other.close()
    return Submission(notebook)


def _key_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("submission") if callspec else None


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Random inputs for a graded test that a student cannot hard-code.

    Seeded by the submission (its file name, or student and exercise when grading a class), the
    test and ``--grade-seed``: a re-grade of the same notebook draws the same inputs (and so
    reproduces its score); another student, another test or another seed draws others.
    """
    key = _key_of(request.node) or "solution"
    test = f"{Path(str(request.node.path)).name}::{request.node.originalname}"
    text = f"{request.config.getoption('--grade-seed')}:{key}:{test}"
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8]))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = _marker(item)
        key = _key_of(item)
        if marker is None or key is None:
            continue
        _items[item.nodeid] = {
            "key": key, "exercise": marker.args[0], "test": item.originalname,
            "question": marker.kwargs.get("question", item.originalname),
            "points": float(marker.kwargs["points"]), "hint": marker.kwargs.get("hint", "")}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    notebook = _notebooks.get(_key_of(item) or "")
    if notebook is not None and item.nodeid in _items:
        notebook.begin_test(item.nodeid)
    try:
        yield
    finally:
        if notebook is not None:
            notebook.end_test()


_REMOTE = re.compile(r"<function Submission\.__getattr__\.<locals>\.remote at 0x[0-9a-f]+>")
# the class of the grader's own exceptions (a student's appears after "raised")
_PREFIX = re.compile(r"^(Mismatch|Submission\w*|WrongType|MissingFunction|[A-Z]\w*Error): "
                     r"(?=\w+ (raised|returned|was not run|did not)|.*: (must|expected))")
_NOISE = re.compile(r"^\s*(Use -v to get|Full diff:|\.\.\.Full output|Omitting \d+ identical)")


def clean_message(text: str) -> tuple[str, str]:
    """A failure as a student reads it, and the hint it carries (``hint: ...``, from
    :mod:`.expect`), without pytest's internals: no ``assert ...`` rewriting when the test gave
    a message, no ``where ... = <function ...remote at 0x...>``, no ``Use -v``."""
    text = text.replace("pooling_course.grading.proxy.", "").replace(
        "pooling_course.grading.expect.", "")
    text = text.removeprefix("AssertionError: ").removeprefix("Mismatch: ")
    text = _PREFIX.sub("", text, count=1)
    raised = re.match(r"Failed: DID NOT RAISE <class '(\w+)'>", text)
    if raised:
        return (f"expected your function to raise {raised.group(1)} for this bad input; it "
                f"returned normally", f"Check the input and raise {raised.group(1)}(...) "
                "saying what is wrong.")
    text = _REMOTE.sub("your function", text)
    text = text.replace("pooling_course.grading.proxy.Submission", "").replace(
        "pooling_course.grading.proxy.", "").replace("pooling_course.grading.expect.", "")
    lines = [ln for ln in text.splitlines() if not _NOISE.match(ln)]
    rewritten = next((i for i, ln in enumerate(lines) if ln.startswith("assert ")), None)
    if rewritten:  # the test's own message came first: pytest's expansion adds nothing
        lines = lines[:rewritten]
    hint = ""
    for i, line in enumerate(lines):
        if line.startswith("hint: "):
            hint, lines = line.removeprefix("hint: "), lines[:i] + lines[i + 1:]
            break
    if len(lines) > 30:
        lines = [*lines[:30], f"... ({len(lines) - 30} more lines)"]
    return "\n".join(lines).strip()[:3000], hint


def _message(report: pytest.TestReport) -> tuple[str, str]:
    crash = getattr(report.longrepr, "reprcrash", None)
    return clean_message(crash.message if crash else str(report.longrepr))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _items:
        return
    passed, message, hint = _outcomes.get(report.nodeid, (True, "", ""))
    if report.failed:
        passed = False
        if not message:
            message, hint = _message(report)
    elif report.skipped:
        passed, message = False, message or "skipped"
    _outcomes[report.nodeid] = (passed, message, hint)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for notebook in _notebooks.values():
        notebook.close()
    out = session.config.getoption("--grade-report")
    if not out:
        return
    submissions: dict[str, dict] = {}
    for key, notebook in _notebooks.items():
        submissions[key] = {"exercise": notebook.exercise, "status": notebook.status,
                            "reason": notebook.reason, "events": notebook.events,
                            "notes": notebook.notes, "tests": []}
    for nodeid, info in _items.items():
        notebook = _notebooks.get(info["key"])
        if notebook is None:
            continue
        passed, message, hint = _outcomes.get(nodeid, (False, "not run", ""))
        submissions[info["key"]]["tests"].append({
            **{k: info[k] for k in ("test", "question", "points")}, "hint": hint or info["hint"],
            "passed": passed, "message": message, "calls": notebook.calls.get(nodeid, [])})
    Path(out).write_text(json.dumps({"submissions": submissions}, indent=1), encoding="utf-8")
