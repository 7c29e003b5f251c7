"""The sandboxed side of grading: run one student's notebook, then answer calls of its functions.

This file is a standalone script (standard library and NumPy only): the grader starts it inside
the sandbox, where neither ``pooling_course`` nor torch can be imported. It also defines the wire
format, which the grader imports: frames of an 8-byte length and JSON, in which arrays travel as
``.npy`` bytes written and read with ``allow_pickle=False``, so nothing that crosses the boundary
can run code when it is read. Requests come on stdin, replies go to stdout; before the student's
code runs, both are moved to private descriptors and stdin/stdout/stderr point elsewhere.

Requests and replies (JSON objects):

- ``{"op": "load", "cells": [[number, source], ...], "cell_limit": s}`` -> one
  ``{"ev": "cell", "n": number}`` as each cell starts, then ``{"ev": "loaded", "notes": [...]}``;
- ``{"op": "call", "name": f, "args": ..., "kwargs": ..., "limit": s}`` ->
  ``{"ev": "result", "value": ...}``, ``{"ev": "error", ...}``, ``{"ev": "timeout"}``,
  ``{"ev": "missing"}`` or ``{"ev": "unsupported", "type": ...}``;
- for a call whose memory the grader measures from outside (it reads the worker's peak
  resident memory from ``/proc``, which the worker cannot reset): ``{"op": "stage", "args":
  ..., "kwargs": ...}`` -> ``{"ev": "staged"}`` (the arguments decoded beforehand), then
  ``{"op": "call", "name": f, "staged": true, "keep": true, "limit": s}`` -> ``{"ev":
  "done"}`` (the answer kept, not yet encoded) or an error as above, then ``{"op": "fetch"}``
  -> the kept answer as a ``result``;
- ``{"op": "define", "source": ...}`` -> ``{"ev": "defined"}``: the grader's reference code,
  run in a namespace of its own; ``"grader": true`` in a call calls a function of it.
"""

from __future__ import annotations

import base64
import builtins
import functools
import io
import json
import math
import os
import signal
import struct
import sys
import traceback

MAX_FRAME = 64 << 20
MAX_DEPTH = 32
MAX_ITEMS = 100_000  # JSON items (brackets and commas) in one frame, counted before decoding
_HEADER = struct.Struct(">Q")
TOO_LARGE = f"an answer of more than {MAX_FRAME >> 20} MiB"
TOO_MANY = f"an answer of more than {MAX_ITEMS} items (return an array, not nested lists)"


class WireError(ValueError):
    """Data that is not plain data, or a frame the wire format does not allow."""


# --- the wire format (shared with the grader) ----------------------------------------------

def encode(value: object, strict: bool = True, depth: int = 0) -> object:
    """``value`` as a JSON-able tree. Plain data only: None, bool, int, float, complex, str, NumPy
    arrays and scalars (no object dtype), and tuples, lists and dicts of them. ``strict`` also
    refuses subclasses (a student's ``int`` whose ``==`` is always true); the grader encodes its
    own arguments with ``strict=False``."""
    import numpy as np

    if depth > MAX_DEPTH:
        raise WireError(f"data nested more than {MAX_DEPTH} levels deep")
    kind = type(value)
    if kind is str and len(value) > MAX_FRAME:
        raise WireError(TOO_LARGE)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if kind is complex:
        return {"__complex__": [encode(value.real), encode(value.imag)]}
    if kind is tuple:
        return {"__tuple__": [encode(v, strict, depth + 1) for v in value]}
    if kind is list:
        return [encode(v, strict, depth + 1) for v in value]
    if kind is dict:
        return {"__dict__": [[encode(k, strict, depth + 1), encode(v, strict, depth + 1)]
                             for k, v in value.items()]}
    if kind is np.ndarray or (isinstance(value, np.generic) and kind.__module__ == "numpy"):
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise WireError("a NumPy array of Python objects (dtype=object)")
        if array.nbytes > MAX_FRAME * 3 // 4:  # base64 makes 4 bytes of 3
            raise WireError(TOO_LARGE)
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, allow_pickle=False)
        tag = "__ndarray__" if kind is np.ndarray else "__npscalar__"
        return {tag: base64.b64encode(buffer.getvalue()).decode("ascii")}
    if not strict and _numpy_name(value):
        return {"__numpy__": _numpy_name(value)}
    if not strict and isinstance(value, functools.partial) and _numpy_name(value.func):
        return {"__partial__": [encode(value.func, strict, depth + 1),
                                encode(value.args, strict, depth + 1),
                                encode(value.keywords, strict, depth + 1)]}
    if not strict:
        for base in (bool, int, float, complex, str, tuple, list, dict):
            if isinstance(value, base):
                return encode(base(value), strict, depth)
        if isinstance(value, np.ndarray):
            return encode(np.asarray(value), strict, depth)
    raise WireError(describe_type(value))


def _numpy_name(value: object) -> str:
    """The name under which ``numpy`` holds ``value`` (``np.sin`` -> ``"sin"``), or ``""``.

    Graded tests may pass such functions (and ``functools.partial`` of them) to a student's
    function, e.g. a gradient checker; the worker rebuilds them by name, so no code crosses."""
    import numpy as np

    name = getattr(value, "__name__", "")
    if not isinstance(name, str) or not name.isidentifier():
        return ""
    return name if getattr(np, name, None) is value and callable(value) else ""


def describe_type(value: object) -> str:
    """What a value is, for a student: ``a MyInt (a subclass of int)``."""
    kind = type(value)
    module = "" if kind.__module__ in ("builtins", "__main__") else f"{kind.__module__}."
    name = f"{module}{kind.__qualname__}"
    text = f"{'an' if name[:1] in 'AEIOUaeiou' else 'a'} {name}"
    for base in kind.__mro__[1:]:
        if base is not object and base.__module__ in ("builtins", "numpy"):
            prefix = "" if base.__module__ == "builtins" else "numpy."
            return f"{text} (a subclass of {prefix}{base.__qualname__})"
    return text


def decode(tree: object, depth: int = 0, functions: bool = False) -> object:
    """The value a tree from :func:`encode` stands for; raises :class:`WireError` on anything
    else. Arrays are read with ``allow_pickle=False``. NumPy functions (and partials of them)
    are rebuilt by name only with ``functions=True``: the worker's side, for the grader's
    arguments; a student's answer is never a function."""
    import numpy as np

    if depth > MAX_DEPTH + 2:
        raise WireError("data nested too deep")
    if tree is None or type(tree) in (bool, int, float, str):
        return tree
    if type(tree) is list:
        return [decode(v, depth + 1, functions) for v in tree]
    if type(tree) is not dict or len(tree) != 1:
        raise WireError(f"unexpected {type(tree).__name__} in the data")
    (tag, content), = tree.items()
    if tag == "__tuple__" and type(content) is list:
        return tuple(decode(v, depth + 1, functions) for v in content)
    if functions and tag == "__numpy__" and type(content) is str:
        function = getattr(np, content, None) if content.isidentifier() else None
        if function is None or _numpy_name(function) != content:
            raise WireError(f"no NumPy function {content[:40]!r}")
        return function
    if functions and tag == "__partial__" and type(content) is list and len(content) == 3:
        function, args, keywords = (decode(c, depth + 1, functions) for c in content)
        if not (_numpy_name(function) and type(args) is tuple and type(keywords) is dict):
            raise WireError("malformed partial")
        return functools.partial(function, *args, **keywords)
    if tag == "__dict__" and type(content) is list:
        pairs = [decode(p, depth + 1, functions) for p in content]
        if not all(type(p) is list and len(p) == 2 for p in pairs):
            raise WireError("malformed dict")
        return {k: v for k, v in pairs}
    if tag == "__float__" and content in ("nan", "inf", "-inf"):
        return float(content)
    if tag == "__complex__" and type(content) is list and len(content) == 2:
        return complex(*(float(decode(c)) for c in content))
    if tag in ("__ndarray__", "__npscalar__") and type(content) is str:
        try:
            array = np.lib.format.read_array(io.BytesIO(base64.b64decode(content, validate=True)),
                                             allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any malformed array is a wire error
            raise WireError(f"unreadable array: {exc}") from None
        if type(array) is not np.ndarray or array.dtype.hasobject:
            raise WireError("unreadable array")
        return array if tag == "__ndarray__" else array[()]
    raise WireError(f"unexpected tag {str(tag)[:40]!r}")


def write_frame(fd: int, message: dict) -> None:
    data = json.dumps(message).encode("utf-8")
    if len(data) > MAX_FRAME:
        raise WireError(TOO_LARGE)
    if data.count(b",") + data.count(b"[") + data.count(b"{") > MAX_ITEMS:
        raise WireError(TOO_MANY)
    data = _HEADER.pack(len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def read_frame(stream: io.BufferedReader) -> dict | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise WireError("frame too large")
    return json.loads(stream.read(size).decode("utf-8"))


# --- the worker ----------------------------------------------------------------------------

class TimeLimit(BaseException):
    """Raised in the student's code when its time is up."""


def _on_alarm(signum: int, frame: object) -> None:
    raise TimeLimit


def _builtin_base(exc: BaseException) -> str:
    for base in type(exc).__mro__:
        if getattr(builtins, base.__name__, None) is base:
            return base.__name__
    return "Exception"


def _student_traceback(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith("cell ")]
    lines = traceback.format_list(frames[-4:])
    return "".join(lines)[-1500:]


class Worker:
    def __init__(self, requests: io.BufferedReader, replies: int) -> None:
        self.requests, self.replies = requests, replies
        self.scope: dict[str, object] = {"__name__": "__main__", "__builtins__": builtins,
                                         "display": lambda *args, **kwargs: None}
        self.staged: tuple | None = None
        self.grader: dict[str, object] = {"__name__": "grader", "__builtins__": builtins}
        self.kept: object = None

    def reply(self, message: dict) -> None:
        write_frame(self.replies, message)

    def timed(self, limit: float, run: object) -> object:
        signal.setitimer(signal.ITIMER_REAL, max(float(limit), 0.01))
        try:
            return run()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def load(self, cells: list, cell_limit: float) -> None:
        notes = []
        for number, source in cells:
            self.reply({"ev": "cell", "n": number})
            source = "\n".join(line for line in str(source).splitlines()
                               if not line.lstrip().startswith(("%", "!")))
            try:
                code = compile(source, f"cell {number}", "exec")
                self.timed(cell_limit, lambda code=code: exec(code, self.scope))
            except TimeLimit:
                notes.append(f"cell {number}: stopped after the time limit of {cell_limit:g} s")
            except SystemExit as exc:
                notes.append(f"cell {number}: called sys.exit({exc.code!r})")
            except MemoryError:
                notes.append(f"cell {number}: MemoryError (out of memory)")
            except BaseException as exc:  # noqa: BLE001 - any failure of student code is noted
                notes.append(f"cell {number}: {type(exc).__name__}: {str(exc)[:300]}")
        self.reply({"ev": "loaded", "notes": notes})

    def call(self, name: str, args: object, kwargs: object, limit: float,
             keep: bool = False, grader: bool = False) -> None:
        function = (self.grader if grader else self.scope).get(name)
        if not callable(function):
            self.reply({"ev": "missing", "what": "not defined" if function is None else
                        f"not a function but {describe_type(function)}"})
            return
        try:
            if args is None:  # staged beforehand
                args, kwargs = self.staged
            else:
                args, kwargs = decode(args, functions=True), decode(kwargs, functions=True)
            self.staged = None
            if keep:
                self.kept = self.timed(limit, lambda: function(*args, **kwargs))
                self.reply({"ev": "done"})
                return
            value = self.timed(limit, lambda: encode(function(*args, **kwargs)))
        except TimeLimit:
            self.reply({"ev": "timeout"})
        except WireError as exc:
            self.reply({"ev": "unsupported", "type": str(exc)[:300]})
        except BaseException as exc:  # noqa: BLE001 - reported to the grader as data
            self.reply_error(exc)
        else:
            self.send_value(value)

    def reply_error(self, exc: BaseException) -> None:
        try:
            message = str(exc)[:2000]
        except BaseException:  # noqa: BLE001 - a str() that raises
            message = "(its message could not be shown)"
        self.reply({"ev": "error", "type": type(exc).__name__[:100],
                    "builtin": _builtin_base(exc), "message": message,
                    "traceback": _student_traceback(exc)})

    def send_value(self, value: object) -> None:
        try:
            self.reply({"ev": "result", "value": value})
        except WireError as exc:
            self.reply({"ev": "unsupported", "type": str(exc)})

    def fetch(self, limit: float) -> None:
        answer, self.kept = self.kept, None
        try:
            value = self.timed(limit, lambda: encode(answer))
        except TimeLimit:
            self.reply({"ev": "timeout"})
        except WireError as exc:
            self.reply({"ev": "unsupported", "type": str(exc)[:300]})
        except BaseException as exc:  # noqa: BLE001 - a __len__ that raises, say
            self.reply_error(exc)
        else:
            self.send_value(value)

    def define(self, source: str) -> None:
        """Run the grader's reference code (a function to time the student's against) in a
        namespace of its own."""
        try:
            exec(compile(source, "grader reference", "exec"), self.grader)
        except BaseException as exc:  # noqa: BLE001 - reported to the grader as data
            self.reply_error(exc)
        else:
            self.reply({"ev": "defined"})

    def stage(self, args: object, kwargs: object) -> None:
        try:
            self.staged = (decode(args, functions=True), decode(kwargs, functions=True))
        except BaseException as exc:  # noqa: BLE001 - reported to the grader as data
            self.reply_error(exc)
        else:
            self.reply({"ev": "staged"})

    def serve(self) -> None:
        while True:
            try:
                request = read_frame(self.requests)
            except TimeLimit:
                continue
            if request is None:
                return
            if request.get("op") == "load":
                self.load(request["cells"], request["cell_limit"])
            elif request.get("op") == "call":
                self.call(request["name"], request.get("args"), request.get("kwargs"),
                          request["limit"], bool(request.get("keep")),
                          bool(request.get("grader")))
            elif request.get("op") == "stage":
                self.stage(request["args"], request["kwargs"])
            elif request.get("op") == "fetch":
                self.fetch(request["limit"])
            elif request.get("op") == "define":
                self.define(str(request["source"]))


def main() -> None:
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    for path in config.get("path", []):
        sys.path.append(path)
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    output = os.open(config.get("output", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(null)
    os.close(output)
    import numpy  # noqa: F401 - imported before the limits, as every notebook needs it

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import confine  # beside this file, in the sandbox too

    sys.path.pop(0)
    signal.signal(signal.SIGALRM, _on_alarm)
    confine.limit_resources(config)
    if config.get("seccomp") and not confine.deny_new_processes():
        write_frame(replies, {"ev": "fatal", "message": "could not install the seccomp filter"})
        return
    write_frame(replies, {"ev": "ready"})
    Worker(requests, replies).serve()


if __name__ == "__main__":
    main()
