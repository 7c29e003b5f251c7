"""The sandbox's walls: the bubblewrap command line of a worker, its environment, the limits of
one submission, and whether bubblewrap can run here (see :mod:`.sandbox` for what it holds)."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import worker as wire

WORKER = Path(wire.__file__).resolve()
CONFINE = WORKER.with_name("confine.py")
INSIDE_WORKER = "/opt/grader/worker.py"
INSIDE_SITE = "/opt/site"
SANDBOX_ID = 65534  # the worker's uid and gid inside its user namespace ("nobody")

REFUSAL = ("grading runs each notebook in a bubblewrap sandbox, and {problem}. Install it "
           "(Debian/Ubuntu: `make bubblewrap`, or `apt-get install bubblewrap`) and make sure "
           "user namespaces are allowed. Student code is never run unsandboxed unless you ask for "
           "it with --unsandboxed (only for notebooks you trust).")


RESTRICTED = ("note: {problem}, so your notebook was checked in a restricted process instead "
              "of the sandbox: a separate Python that sees only the standard library and NumPy "
              "(no torch, no pooling_course, no site-packages), with memory, CPU-time and "
              "file-size limits{seccomp}. This is NOT a sandbox: code in the notebook can still "
              "read and change your files, so check only notebooks you wrote yourself. Honest "
              "code gets the same judgement as in the sandbox; your instructor's `grade` runs "
              "in bubblewrap only.")


class SandboxUnavailable(RuntimeError):
    """Raised instead of running student code when the sandbox cannot be used."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Times in seconds, sizes in bytes."""

    test_s: float = 5.0       # all calls of one graded test together
    cell_s: float = 10.0      # one notebook cell while the notebook loads
    load_s: float = 60.0      # the whole notebook
    memory: int = 1 << 30     # address space of the worker
    total_s: float = 300.0    # everything of one notebook: starting, (re)loading, every call
    cpu_s: int = 300          # CPU time of the worker over its life
    scratch: int = 64 << 20   # its scratch directory (tmpfs)
    file_size: int = 16 << 20
    open_files: int = 64


def numpy_dirs() -> list[Path]:
    """NumPy's package folder and its bundled libraries (``numpy.libs``), if any."""
    import numpy

    package = Path(numpy.__file__).resolve().parent
    return [p for p in (package, package.parent / "numpy.libs") if p.is_dir()]


def _python() -> Path:
    return Path(getattr(sys, "_base_executable", sys.executable)).resolve()


def _hidden_site_dirs(prefixes: list[str]) -> list[str]:
    found = set()
    for prefix in prefixes:
        for pattern in ("lib/python3*/site-packages", "lib/python3*/dist-packages",
                        "lib/python3/dist-packages", "local/lib/python3*/site-packages",
                        "local/lib/python3*/dist-packages"):
            found.update(p for p in glob.glob(os.path.join(prefix, pattern)) if os.path.isdir(p))
    return sorted(found)


def bwrap_command(limits: Limits) -> list[str]:
    """The bubblewrap command line of one worker."""
    command = ["bwrap", "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_ID), "--gid",
               str(SANDBOX_ID), "--disable-userns", "--cap-drop", "ALL", "--die-with-parent",
               "--new-session", "--clearenv", "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    prefixes = ["/usr"]
    base = os.path.realpath(sys.base_prefix)
    if not base.startswith("/usr/"):
        command += ["--ro-bind", base, base]
        prefixes.append(base)
    for hidden in _hidden_site_dirs(prefixes):
        command += ["--tmpfs", hidden]
    for folder in numpy_dirs():
        command += ["--ro-bind", str(folder), f"{INSIDE_SITE}/{folder.name}"]
    command += ["--ro-bind", str(WORKER), INSIDE_WORKER,
                "--ro-bind", str(CONFINE), str(Path(INSIDE_WORKER).with_name(CONFINE.name)),
                "--proc", "/proc", "--remount-ro", "/proc",  # no clear_refs: peaks stay true
                "--dev", "/dev", "--size", str(1 << 20), "--tmpfs", "/dev/shm",
                "--remount-ro", "/dev",
                "--size", str(limits.scratch), "--tmpfs", "/scratch",
                "--size", str(1 << 20), "--tmpfs", "/tmp",
                "--remount-ro", "/", "--chdir", "/scratch"]
    for key, value in _environment("/scratch").items():
        command += ["--setenv", key, value]
    return command


def _environment(home: str) -> dict[str, str]:
    return {"HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg",
            # fixed thresholds: big arrays get pages of their own and give them back when
            # freed, so the peak resident memory the grader reads is the peak a call held
            "MALLOC_MMAP_THRESHOLD_": str(1 << 16), "MALLOC_TRIM_THRESHOLD_": str(1 << 16)}


@functools.cache
def sandbox_problem() -> str | None:
    """Why the sandbox cannot run here, or None when it can (checked once per process)."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (`bwrap`) is not installed"
    try:
        run = subprocess.run(["bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
                              "--cap-drop", "ALL", "--die-with-parent", "--ro-bind", "/",
                              "/", "--proc", "/proc", "--dev", "/dev", "true"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    if run.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {run.stderr.strip()[:300]}"
    return None


def require_sandbox() -> None:
    """Raise :class:`SandboxUnavailable` with the refusal message when bwrap cannot run."""
    problem = sandbox_problem()
    if problem:
        raise SandboxUnavailable(REFUSAL.format(problem=problem))
