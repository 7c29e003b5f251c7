"""The grader's side of the sandbox: start a worker in bubblewrap (its walls are in :mod:`.bwrap`),
talk to it, end it.

Each worker is ``worker.py`` run by the base Python interpreter (``-I -S``: no site-packages)
inside ``bwrap`` with every namespace unshared (no network, its own users, PIDs, IPC and hostname),
as the unprivileged user ``nobody`` of its user namespace with every capability dropped and no
further user namespaces allowed (so it can neither remount nor unmount anything, even when the
grader runs as root), a read-only root, ``/dev`` and ``/proc``, a read-only view of ``/usr`` and
the interpreter only (their site-packages hidden), NumPy bound in alone, and private size-limited
``tmpfs`` mounts as its only writable places (its scratch directory, ``/tmp`` and ``/dev/shm``):
the repository, ``solutions/``, ``tests/``, other submissions and the grader's files are not in its
view at all. Inside, the worker limits its memory (address space), CPU time, file size and open
files, and a seccomp filter forbids ``fork``, ``exec``, ``ptrace`` and every mount and namespace
call (threads stay allowed). When the worker ends, bubblewrap's PID namespace ends with it, so
nothing it started outlives it, and ``--die-with-parent`` ends it if the grader dies first.
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import worker as wire
from .bwrap import (
    INSIDE_SITE,
    INSIDE_WORKER,
    RESTRICTED,
    WORKER,
    Limits,
    SandboxUnavailable,
    _environment,
    _python,
    bwrap_command,
    numpy_dirs,
    require_sandbox,
    sandbox_problem,
)

__all__ = ["RESTRICTED", "Limits", "SandboxUnavailable", "WorkerDied", "Remote",
           "bwrap_command", "require_sandbox", "sandbox_problem"]


class WorkerDied(Exception):
    """The worker is gone: ``status`` (timeout, crashed, memory) and a reason for the student."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _unmeasured(reply: dict) -> dict:
    """A worker's reply without a ``peak`` or ``seconds`` of its own making: only the grader
    measures."""
    reply.pop("peak", None)
    reply.pop("seconds", None)
    return reply


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak(pid: int) -> int | None:
    """Reset a process's peak resident memory to its current one (kB), which it returns."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return None
    return _status_kb(pid, "VmRSS")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Remote:
    """One running worker holding one notebook's namespace."""

    def __init__(self, limits: Limits, unsandboxed: bool = False,
                 budget_end: float | None = None) -> None:
        self.limits = limits
        config = {"memory": limits.memory, "cpu": limits.cpu_s, "fsize": limits.file_size,
                  "nofile": limits.open_files, "seccomp": sys.platform == "linux"}
        if unsandboxed:
            self._scratch = __import__("tempfile").TemporaryDirectory(prefix="pooling-worker-")
            site = Path(self._scratch.name) / "site"
            site.mkdir()
            for folder in numpy_dirs():
                (site / folder.name).symlink_to(folder)
            config |= {"path": [str(site)], "output": str(Path(self._scratch.name) / "out")}
            command = [str(_python()), "-I", "-S", str(WORKER), json.dumps(config)]
            env, cwd = _environment(self._scratch.name), self._scratch.name
        else:
            require_sandbox()
            self._scratch = None
            config |= {"path": [INSIDE_SITE], "output": "/scratch/.output"}
            command = [*bwrap_command(limits), str(_python()), "-I", "-S", INSIDE_WORKER,
                       json.dumps(config)]
            env, cwd = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, "/"
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=env, cwd=cwd,
                                        start_new_session=True)
        self._buffer = b""
        self.cell: int | None = None
        self.budget_end = budget_end if budget_end is not None else math.inf
        ready = self._receive(time.monotonic() + 30, "starting")
        if ready.get("ev") != "ready":
            self.close()
            raise WorkerDied("crashed", f"the sandbox did not start: {ready}")

    # -- frames --------------------------------------------------------------------------
    def _deadline(self, deadline: float) -> float:
        return min(deadline, self.budget_end)

    def _timed_out(self, doing: str, deadline: float) -> WorkerDied:
        self.close()
        if deadline >= self.budget_end:
            return WorkerDied("timeout", f"{doing}: the notebook used up its total time of "
                                         f"{self.limits.total_s:g} s")
        return WorkerDied("timeout", f"{doing}: {self._time_limit_text}")

    def _send(self, message: dict, deadline: float, doing: str) -> None:
        """Write one request, never blocking past ``deadline`` (a worker may stop reading)."""
        deadline = self._deadline(deadline)
        data = json.dumps(message).encode("utf-8")
        data = wire._HEADER.pack(len(data)) + data
        fd = self.process.stdin.fileno()
        os.set_blocking(fd, False)
        while data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise self._timed_out(f"{doing} (it stopped reading the grader's requests)",
                                      deadline)
            try:
                data = data[os.write(fd, data[:1 << 16]):]
            except BlockingIOError:
                continue
            except OSError:
                raise self._death(doing) from None

    def _read(self, size: int, deadline: float, doing: str) -> bytes:
        fd = self.process.stdout.fileno()
        while len(self._buffer) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise self._timed_out(doing, deadline)
            chunk = os.read(fd, max(size - len(self._buffer), 1 << 16))
            if not chunk:
                raise self._death(doing)
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    _time_limit_text = "did not finish within the time limit"

    def _receive(self, deadline: float, doing: str) -> dict:
        deadline = self._deadline(deadline)
        (size,) = wire._HEADER.unpack(self._read(wire._HEADER.size, deadline, doing))
        if size > wire.MAX_FRAME:
            self.close()
            raise WorkerDied("crashed", f"{doing}: sent more than {wire.MAX_FRAME >> 20} MiB")
        data = self._read(size, deadline, doing)
        # JSON items cost the judge ~100 bytes each once decoded: count them first
        if data.count(b",") + data.count(b"[") + data.count(b"{") > wire.MAX_ITEMS:
            self.close()
            raise WorkerDied("crashed", f"{doing}: sent more than {wire.MAX_ITEMS} items "
                                        "(answers must be arrays, numbers or short tuples)")
        try:
            message = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError):
            self.close()
            raise WorkerDied("crashed", f"{doing}: sent data the grader cannot read") from None
        if not isinstance(message, dict):
            self.close()
            raise WorkerDied("crashed", f"{doing}: sent data the grader cannot read")
        return message

    def _death(self, doing: str) -> WorkerDied:
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        code = self.close()
        if code is not None and code > 128:
            number = code - 128
            name = _signal_name(number)
            if number == signal.SIGXCPU:
                return WorkerDied("timeout", f"{doing}: used up its CPU time limit of "
                                             f"{self.limits.cpu_s} s")
            if number == signal.SIGKILL:
                return WorkerDied("crashed", f"{doing}: the Python process was killed "
                                             f"({name}; out of memory?)")
            return WorkerDied("crashed", f"{doing}: the Python process crashed with {name}")
        return WorkerDied("crashed", f"{doing}: the Python process exited with code {code} "
                                     "(os._exit or a fatal error)")

    # -- requests ------------------------------------------------------------------------
    def load(self, cells: list[tuple[int, str]]) -> list[str]:
        """Run the notebook's cells; the notes of the cells that raised."""
        deadline = time.monotonic() + self.limits.load_s
        self._send({"op": "load", "cells": cells, "cell_limit": self.limits.cell_s}, deadline,
                   "while loading")
        self._time_limit_text = (f"the notebook did not finish running within the time limit of "
                                 f"{self.limits.load_s:g} s")
        while True:
            where = f"in cell {self.cell}" if self.cell is not None else "while loading"
            message = self._receive(deadline, where)
            if message.get("ev") == "cell" and isinstance(message.get("n"), int):
                self.cell = message["n"]
            elif message.get("ev") == "loaded":
                self.cell = None
                return [str(n)[:400] for n in message.get("notes", [])][:50]
            else:
                self.close()
                raise WorkerDied("crashed", f"{where}: sent an unexpected message")

    def call(self, name: str, args: object, kwargs: object, limit: float,
             doing: str) -> dict:
        """Run ``name(*args, **kwargs)`` in the worker; its reply (see ``worker.py``)."""
        deadline = time.monotonic() + limit + 2.0
        self._time_limit_text = f"did not return within the time limit of {self.limits.test_s:g} s"
        self._send({"op": "call", "name": name, "args": wire.encode(args, strict=False),
                    "kwargs": wire.encode(kwargs, strict=False), "limit": limit}, deadline, doing)
        return _unmeasured(self._receive(deadline, doing))

    def define(self, source: str, limit: float) -> dict:
        """Run the grader's reference ``source`` in the worker (its own namespace)."""
        deadline = time.monotonic() + limit
        self._send({"op": "define", "source": source}, deadline, "defining the reference")
        return _unmeasured(self._receive(deadline, "defining the reference"))

    def measured_call(self, name: str, args: object, kwargs: object, limit: float,
                      doing: str, grader: bool = False) -> dict:
        """:meth:`call`, and ``peak``: the most resident memory the call itself held beyond
        what the worker held before it, in bytes, read by the grader from the worker's
        ``/proc`` entry (``None`` when it cannot be read). The arguments are decoded before
        and the answer encoded after the measured span; the worker cannot reset the peak
        (its ``/proc`` is read-only)."""
        deadline = time.monotonic() + limit + 4.0
        self._time_limit_text = f"did not return within the time limit of {self.limits.test_s:g} s"
        self._send({"op": "stage", "args": wire.encode(args, strict=False),
                    "kwargs": wire.encode(kwargs, strict=False)}, deadline, doing)
        reply = self._receive(deadline, doing)
        if reply.get("ev") != "staged":
            return _unmeasured(reply)
        pid = self.worker_pid()
        before = _reset_peak(pid) if pid else None
        started = time.perf_counter()
        self._send({"op": "call", "name": name, "staged": True, "keep": True, "limit": limit,
                    "grader": grader}, deadline, doing)
        reply = self._receive(deadline, doing)
        seconds = time.perf_counter() - started  # the call alone, as the grader sees it
        if reply.get("ev") != "done":
            return _unmeasured(reply)
        after = None
        if before is not None:  # the kernel updates VmHWM lazily: the answer may be in VmRSS
            after = max(_status_kb(pid, "VmHWM") or 0, _status_kb(pid, "VmRSS") or 0)
        self._send({"op": "fetch", "limit": limit}, deadline, doing)
        reply = _unmeasured(self._receive(deadline, doing))
        if reply.get("ev") == "result":
            reply["seconds"] = seconds
            reply["peak"] = None if after is None else max(after - before, 0) * 1024
        return reply

    def worker_pid(self) -> int | None:
        """The worker's process id as the grader sees it (bubblewrap's youngest descendant)."""
        pid = self.process.pid
        for _ in range(4):
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                return None
            if not children:
                return pid
            pid = int(children[-1])
        return pid

    def close(self) -> int | None:
        """End the worker and everything it started; its exit code."""
        process = self.process
        if process.poll() is None:  # end of input: a well-behaved worker exits by itself
            try:
                process.stdin.close()
                process.wait(timeout=0.5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        for stream in (process.stdin, process.stdout, process.stderr):
            try:
                stream.close()
            except OSError:
                pass
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
        return code
