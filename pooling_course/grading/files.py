"""Reading what students hand in, as an archive or a ``git clone`` delivers it: safely.

Submissions may hold symbolic links (to the solutions, to another student's notebook, to
``/dev/zero``), FIFOs, huge or deeply nested JSON, and folder names chosen to break things. The
grader opens only regular files, never follows a link, caps a notebook's size and the number of
JSON items it may hold before decoding, and turns every failure into a reason (the student's
``unreadable`` row), never an exception that stops the class's grading. Names become unique, safe
file names, CSV cells that no spreadsheet runs as a formula, and escaped terminal text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 20 << 20
MAX_JSON_ITEMS = 500_000  # brackets and commas: caps the objects json.loads could build


def read_regular_file(path: str | os.PathLike[str], limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes and not a
    symbolic link; ``ValueError`` saying why not otherwise (a FIFO never blocks the reader)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        if os.path.islink(path):
            raise ValueError("it is a symbolic link; hand in the notebook file itself")
        fd = os.open(path, flags)
    except OSError as exc:
        raise ValueError(f"it cannot be opened ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a regular file")
        if info.st_size > limit:
            raise ValueError(f"it is larger than {limit >> 20} MiB")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ValueError(f"it is larger than {limit >> 20} MiB")
        return b"".join(chunks)
    except OSError as exc:
        raise ValueError(f"it cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def parse_notebook(data: bytes) -> list[tuple[int, str]]:
    """The code cells of a notebook's JSON bytes as ``(cell number, source)``."""
    items = data.count(b",") + data.count(b"[") + data.count(b"{")
    if items > MAX_JSON_ITEMS:
        raise ValueError(f"it holds more than {MAX_JSON_ITEMS} JSON items")
    notebook = json.loads(data.decode("utf-8"))
    cells = []
    for number, cell in enumerate(notebook["cells"], start=1):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            if not isinstance(source, str):
                raise TypeError(f"cell {number} has no text")
            cells.append((number, source))
    return cells


def write_code_notebook(path: str | os.PathLike[str], sources: list[str]) -> Path:
    """Write a notebook of code cells holding ``sources``, as a student's editor would save it
    (tests and tools make submissions with it); returns the path."""
    path = Path(path)
    cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": s} for s in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


def notebook_cells(path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """The code cells of a notebook as ``(cell number, source)``, read here, in the grader, so
    the worker never opens a file. Raises ``ValueError`` saying why a notebook is unreadable."""
    try:
        return parse_notebook(read_regular_file(path))
    except (ValueError, UnicodeError, KeyError, TypeError, AttributeError, RecursionError,
            MemoryError) as exc:
        text = str(exc) if isinstance(exc, ValueError) and str(exc).startswith("it ") else (
            f"{type(exc).__name__}: {exc}")
        raise ValueError(f"not a readable notebook ({text})"[:400]) from None


def notebook_headings(path: str | os.PathLike[str]) -> dict[int, str]:
    """``cell number -> a name a student finds it by``: its first line and the heading above."""
    try:
        data = json.loads(read_regular_file(path).decode("utf-8"))
        heading, names = "", {}
        for number, cell in enumerate(data["cells"], start=1):
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            if cell.get("cell_type") == "markdown":
                titles = [ln.lstrip("#").strip() for ln in source.splitlines()
                          if ln.startswith("#")]
                heading = titles[-1] if titles else heading
            elif cell.get("cell_type") == "code":
                first = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
                name = f"the cell starting `{first[:60]}`"
                names[number] = name + (f" (under \u201c{heading[:60]}\u201d)" if heading else "")
        return names
    except Exception:  # noqa: BLE001 - a name is a courtesy; the cell number still stands
        return {}


# --- the class folder --------------------------------------------------------------------------

@dataclass
class Found:
    """What a class folder holds: ``notebooks[student][exercise]``, notes per student, and the
    reason a whole student is unreadable (a folder that is a symbolic link)."""

    notebooks: dict[str, dict[str, Path]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)

    def note(self, student: str, text: str) -> None:
        self.notes.setdefault(student, []).append(text)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__"


def find_submissions(root: str | os.PathLike[str], exercise_of: object) -> Found:
    """Every student below ``root``: each folder of ``root`` (even an empty one) is a student,
    and a notebook ``<student>_<exercise>.ipynb`` directly in ``root`` is one too. Links are
    listed, never followed: a linked notebook or folder becomes an ``unreadable`` row."""
    root = Path(root)
    found = Found()
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if _hidden(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            student = entry.name
            found.notebooks.setdefault(student, {})
            for folder, dirs, files in os.walk(entry.path, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not _hidden(d))
                for name in sorted(files):
                    if name.endswith(".ipynb") and not _hidden(name):
                        _add(found, student, Path(folder) / name, exercise_of)
        elif entry.is_symlink() and not entry.name.endswith(".ipynb"):
            found.notebooks.setdefault(entry.name, {})
            found.unreadable[entry.name] = "the folder is a symbolic link (not followed)"
        elif entry.name.endswith(".ipynb"):
            try:
                exercise = exercise_of(entry.name)
            except ValueError as exc:
                found.notebooks.setdefault(Path(entry.name).stem, {})
                found.note(Path(entry.name).stem, str(exc))
                continue
            stem = Path(entry.name).stem
            student = stem.removesuffix(exercise).rstrip("_-. ") or stem
            found.notebooks.setdefault(student, {})
            _add(found, student, Path(entry.path), exercise_of)
    return found


def _add(found: Found, student: str, path: Path, exercise_of: object) -> None:
    try:
        exercise = exercise_of(path.name)
    except ValueError as exc:
        found.note(student, str(exc))
        return
    if exercise in found.notebooks[student]:
        found.note(student, f"several notebooks answer {exercise}: graded "
                            f"{found.notebooks[student][exercise].name}")
        return
    found.notebooks[student][exercise] = path


def choose_exercises(found: Found) -> tuple[list[str], str]:
    """The exercises to grade when the instructor names none: those that at least half of the
    students handed in (at least the most handed-in one), and a sentence saying so."""
    counts = Counter(e for by_exercise in found.notebooks.values() for e in by_exercise)
    if not counts:
        return [], "no student handed in a notebook of a known exercise"
    students = len(found.notebooks)
    most = max(counts.values())
    graded = sorted(e for e, n in counts.items() if 2 * n >= students or n == most)
    skipped = sorted(set(counts) - set(graded))
    text = ("grading " + ", ".join(f"{e} ({counts[e]} of {students} students)" for e in graded)
            + ": the exercises at least half the students handed in")
    if skipped:
        text += ("; not graded: " + ", ".join(f"{e} ({counts[e]})" for e in skipped)
                 + " (name them with --exercise to grade them)")
    return graded, text


# --- names ---------------------------------------------------------------------------------

def file_names(students: list[str]) -> dict[str, str]:
    """``student -> a file name`` that is safe and unique: a name that is already safe keeps
    itself (unless it differs from another only in case); any other gets a hash of the name."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for student in sorted(students, key=lambda s: (not _is_safe(s), s)):
        safe = (re.sub(r"[^\w.-]+", "_", student, flags=re.ASCII).strip("._") or "student")[:80]
        if not _is_safe(student) or safe.casefold() in used:
            safe = f"{safe}-{hashlib.sha256(student.encode('utf-8', 'replace')).hexdigest()[:10]}"
        used.add(safe.casefold())
        names[student] = safe
    return names


def _is_safe(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}", name) is not None


def csv_cell(text: str) -> str:
    """A text cell no spreadsheet evaluates: a leading ``= + - @`` (or tab, CR) gets a ``'``."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def printable(text: str) -> str:
    """``text`` with control and format characters escaped, safe to print to a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)
