"""What a graded test's ``submission`` fixture is: a proxy for a notebook running in a worker.

``submission.max_pool2d(x, 2)`` sends the arguments to the worker, runs the student's function
there, and returns what came back, decoded as plain data. Whatever went wrong becomes an
exception the test fails with (an ``AssertionError`` subclass, so the report shows its message),
and a student function that raised a built-in exception raises a subclass of the same built-in
here, so ``pytest.raises(ValueError)`` works for tests of input checking. Every call is logged
for the feedback report: what was called, and what came back.
"""

from __future__ import annotations

import builtins
import time
from dataclasses import dataclass, field

import numpy as np

from . import worker as wire
from .sandbox import Limits, Remote, WorkerDied

MAX_RESTARTS = 5
STRIKES = 2  # a function that ran out of time this many times is not called again


class SubmissionError(AssertionError):
    """A graded call that did not give a usable answer."""


class SubmissionTimeout(SubmissionError):
    """The student's function did not return within the time limit."""


class MissingFunction(SubmissionError):
    """The notebook defines no function of that name."""


class WrongType(SubmissionError):
    """The function returned something other than plain data."""


_raised_types: dict[str, type] = {}


def _raised_type(builtin: str) -> type:
    """A subclass of the built-in exception ``builtin`` and of :class:`SubmissionError`."""
    base = getattr(builtins, builtin, None)
    if not (isinstance(base, type) and issubclass(base, Exception)) or issubclass(
            base, AssertionError):
        base = None
    if builtin not in _raised_types:
        bases = (base, SubmissionError) if base is not None else (SubmissionError,)
        try:
            _raised_types[builtin] = type(f"Submission{builtin}", bases, {})
        except TypeError:  # a layout conflict between the two bases
            _raised_types[builtin] = SubmissionError
    return _raised_types[builtin]


def show(value: object, limit: int = 600) -> str:
    """A short readable repr of plain data: small arrays in full, big ones by shape."""
    if isinstance(value, np.ndarray):
        body = np.array2string(value, separator=", ", threshold=64, max_line_width=88)
        if value.size <= 64 and body.count("\n") < 12:  # in full where it stays readable
            text = f"array({body}, dtype={value.dtype})"
        else:
            text = f"array(shape={value.shape}, dtype={value.dtype})"
    elif isinstance(value, tuple | list):
        inner = ", ".join(show(v, limit) for v in value)
        text = f"({inner},)" if isinstance(value, tuple) and len(value) == 1 else (
            f"({inner})" if isinstance(value, tuple) else f"[{inner}]")
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{show(k)}: {show(v)}" for k, v in value.items()) + "}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


def call_text(name: str, args: tuple, kwargs: dict) -> str:
    parts = [show(a, 300) for a in args] + [f"{k}={show(v, 300)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


@dataclass
class Notebook:
    """One submission, as the grading plugin keeps it: its cells, its worker, what happened."""

    key: str
    exercise: str
    cells: list[tuple[int, str]]
    limits: Limits = field(default_factory=Limits)
    unsandboxed: bool = False
    status: str = "ok"  # preset by the grader for unreadable and missing notebooks
    reason: str = ""
    remote: Remote | None = None
    broken: SubmissionError | None = None
    events: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calls: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    restarts: int = 0
    loaded: bool = False
    test: str = ""
    used: float = 0.0  # seconds this test has waited for the worker
    strikes: dict[str, int] = field(default_factory=dict)  # time-outs per function
    last_peak: int | None = None  # bytes the last measured call held at most
    last_seconds: float | None = None  # how long the last measured call took
    budget_end: float | None = None  # when this notebook's total time is up

    def event(self, status: str, reason: str) -> None:
        if (status, reason) not in self.events:
            self.events.append((status, reason))

    def begin_test(self, nodeid: str) -> None:
        self.test, self.used = nodeid, 0.0
        self.calls.setdefault(nodeid, [])

    def end_test(self) -> None:
        self.test, self.used = "", 0.0

    def close(self) -> None:
        if self.remote is not None:
            self.remote.close()
            self.remote = None

    def _remote(self) -> Remote:
        if self.status != "ok":
            raise SubmissionError(self.reason)
        if self.broken is not None:
            raise type(self.broken)(str(self.broken))
        if self.budget_end is None:
            self.budget_end = time.monotonic() + self.limits.total_s
        if time.monotonic() >= self.budget_end:
            self._break(SubmissionTimeout, "timeout", f"the notebook used up its total time of "
                                                      f"{self.limits.total_s:g} s")
        if self.remote is None:
            self.remote = self._start()
        return self.remote

    def _break(self, kind: type, status: str, reason: str) -> None:
        self.event(status, reason)
        self.broken = kind(reason)
        raise kind(reason) from None

    def _start(self) -> Remote:
        """A worker that ran the notebook. When a cell kills the worker (``os._exit``, a
        segfault, the notebook's time limit), the functions defined before that cell are still
        graded: a new worker runs the notebook up to that cell, and later restarts do too."""
        for _attempt in range(2):
            remote = None
            try:
                remote = Remote(self.limits, self.unsandboxed, self.budget_end)
                notes = remote.load(self.cells)
            except WorkerDied as died:
                self.restarts += 1
                cell = remote.cell if remote is not None else None
                kind = SubmissionTimeout if died.status == "timeout" else SubmissionError
                total = "total time" in died.reason
                if cell is None or total or not any(n < cell for n, _ in self.cells):
                    self._break(kind, died.status, f"the notebook {died.reason}")
                self.event(died.status, f"the notebook {died.reason}; graded the functions "
                                        f"defined before cell {cell}")
                self.cells = [(n, source) for n, source in self.cells if n < cell]
                continue
            if not self.loaded:
                self.notes, self.loaded = notes, True
                for note in notes:
                    if "MemoryError" in note:
                        self.event("memory", f"{note} (limit {self.limits.memory >> 20} MiB)")
                    elif "stopped after the time limit" in note:
                        self.event("timeout", note)
            return remote
        self._break(SubmissionError, "crashed", "the notebook could not be run")
        raise AssertionError("unreachable")

    def call(self, name: str, args: tuple, kwargs: dict, measure: bool = False,
             reference: str = "") -> object:
        text = call_text(name, args, kwargs)
        log = self.calls.setdefault(self.test, [])
        entry = {"call": text, "returned": "", "raised": ""}
        log.append(entry)
        if len(log) > 3:
            del log[0]
        try:
            value = self._call(name, args, kwargs, text, measure, reference)
        except SubmissionError:
            entry["raised"] = "yes"
            raise
        entry["returned"] = show(value)
        return value

    def _call(self, name: str, args: tuple, kwargs: dict, text: str, measure: bool,
              reference: str) -> object:
        remote = self._remote()
        left = self.limits.test_s - self.used
        limit_text = f"the time limit of {self.limits.test_s:g} s per test"
        if left <= 0:
            raise SubmissionTimeout(f"{text} was not run: this test used up {limit_text}")
        if self.strikes.get(name, 0) >= STRIKES:
            raise SubmissionTimeout(f"{text} was not run: {name} already ran out of time "
                                    f"{STRIKES} times (the time limit is {self.limits.test_s:g} "
                                    "s per test)")
        started = time.monotonic()
        try:
            if reference:  # the grader's own function, run and timed in the same worker
                reply = remote.define(reference, left + 2.0)
                if reply.get("ev") == "defined":
                    reply = remote.measured_call(name, args, kwargs, left, "the reference",
                                                 grader=True)
            elif measure:
                reply = remote.measured_call(name, args, kwargs, left, f"{name}(...)")
            else:
                reply = remote.call(name, args, kwargs, left, f"{name}(...)")
        except WorkerDied as died:
            self.used += time.monotonic() - started
            self.remote = None
            if died.status == "timeout":
                self.strikes[name] = self.strikes.get(name, 0) + 1
            self.restarts += 1
            reason = died.reason if died.status != "timeout" or "total time" in died.reason else (
                f"{name}(...) did not return within {limit_text}")
            self.event(died.status, reason)
            error = (SubmissionTimeout if died.status == "timeout" else SubmissionError)(
                f"{text}: {reason}")
            if self.restarts > MAX_RESTARTS or "total time" in died.reason:
                self.broken = type(error)(f"stopped after {self.restarts} restarts: {reason}"
                                          if self.restarts > MAX_RESTARTS else reason)
            raise error from None
        self.used += time.monotonic() - started
        kind = reply.get("ev")
        if kind == "result":
            peak, seconds = reply.get("peak"), reply.get("seconds")
            self.last_peak = peak if type(peak) is int else None
            self.last_seconds = seconds if type(seconds) is float else None
            try:
                return wire.decode(reply.get("value"))
            except (wire.WireError, RecursionError, ValueError) as exc:
                raise WrongType(f"{name} returned data the grader cannot read ({exc})") from None
        if kind == "timeout":
            self.strikes[name] = self.strikes.get(name, 0) + 1
            self.event("timeout", f"{name}(...) did not return within {limit_text}")
            raise SubmissionTimeout(f"{text} did not return within {limit_text}")
        if kind == "missing":
            what = str(reply.get("what", "not defined"))[:200]
            if name not in self.missing:
                self.missing.add(name)
                self.event("missing", f"function {name} is {what} in the notebook")
            raise MissingFunction(f"your notebook's `{name}` is {what}: define `def {name}"
                                  "(...)` in a code cell")
        if kind == "unsupported":
            raise WrongType(f"{name} returned {str(reply.get('type'))[:300]}; answers must be "
                            "plain data: a NumPy array, a number, a string, or a tuple/list of "
                            f"them, at most {wire.MAX_FRAME >> 20} MiB")
        if kind == "error":
            builtin = str(reply.get("builtin", "Exception"))
            raised = str(reply.get("type", builtin))[:100]
            message = str(reply.get("message", ""))[:2000]
            where = str(reply.get("traceback", ""))[:1500]
            if builtin == "MemoryError":
                self.event("memory", f"{name}(...) ran out of memory (limit "
                                     f"{self.limits.memory >> 20} MiB)")
            if builtin == "SystemExit":
                message = f"called sys.exit({message})"
            error = _raised_type(builtin)(f"{name} raised {raised}: {message}" +
                                          (f"\n{where}" if where else ""))
            raise error
        raise SubmissionError(f"{name}: the worker sent an unexpected reply")


def peak_memory(submission: Submission, name: str, *args: object,
                **kwargs: object) -> tuple[object, int]:
    """``submission.<name>(*args, **kwargs)`` and the most memory it held at once, in bytes.

    Measured by the grader from outside the student's reach: the worker's peak resident memory
    during the call (not its decoding or encoding), reset by the grader just before it and read
    just after, through ``/proc``, which the worker cannot write. A measurement that cannot be
    taken makes the test fail.
    """
    notebook = object.__getattribute__(submission, "_notebook")
    notebook.last_peak = None
    value = notebook.call(name, args, kwargs, measure=True)
    if notebook.last_peak is None:
        raise SubmissionError(f"{name}: the grader could not measure its memory")
    return value, notebook.last_peak


def timed(submission: Submission, name: str, *args: object,
          reference: str = "") -> tuple[object, float]:
    """``submission.<name>(*args)`` (or, with ``reference`` source code, the grader's function
    ``name`` defined by it, in the same worker) and its time in seconds, measured by the grader
    from the request to the reply (the arguments decoded before, the answer encoded after)."""
    notebook = object.__getattribute__(submission, "_notebook")
    notebook.last_seconds = None
    value = notebook.call(name, args, {}, measure=True, reference=reference)
    if notebook.last_seconds is None:
        raise SubmissionError(f"{name}: the grader could not time it")
    return value, notebook.last_seconds


class Submission:
    """The ``submission`` fixture: ``submission.<function>(...)`` runs in the worker."""

    def __init__(self, notebook: Notebook) -> None:
        object.__setattr__(self, "_notebook", notebook)

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        notebook = object.__getattribute__(self, "_notebook")

        def remote(*args: object, **kwargs: object) -> object:
            return notebook.call(name, args, kwargs)

        remote.__name__ = name
        return remote

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a submission is read-only")

    def __repr__(self) -> str:
        return f"<submission {object.__getattribute__(self, '_notebook').key}>"
