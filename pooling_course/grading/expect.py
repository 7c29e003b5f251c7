"""Checks for graded tests whose failure messages a student can act on.

Each check compares what a student's function returned with what was expected, in the order a
student would debug it (the type, then the shape, the dtype, NaN, then the values), and fails
with three things only: what was expected, where the answer first differs, and a hint keyed to
the failure found (``hints`` maps a kind of failure to a sentence; the report shows that hint
instead of the test's general one). Kinds: ``type``, ``shape``, ``off_by_one`` (a shape or a
number one too big or too small), ``dtype``, ``nan``, ``sign``, ``values``, ``int``,
``no_error`` (bad input accepted), ``wrong_error`` (another error than the one asked for).

What was called goes first in ``what``; when a test compares something derived from the answer
(its sum, the 1s it holds, a cosine sampled at it) ``what`` says so, so that the expected value
shown is recognisably not the function's own output.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .proxy import SubmissionError, show

GENERAL = {
    "type": "Return a NumPy array (np.asarray / np.empty), not a list or a scalar.",
    "shape": "The output's shape is wrong: check how many windows fit along each axis.",
    "off_by_one": "One window (or one element) too many or too few: check where the last "
                  "window starts and whether a range's end is included.",
    "dtype": "Keep the input's dtype: create the output with dtype=x.dtype.",
    "nan": "A NaN appeared where a number was expected: look for 0/0 or inf - inf.",
    "sign": "The values have the wrong sign.",
    "values": "Compare your answer with the expected one at the first difference shown.",
    "no_error": "Bad input must raise an error (raise ValueError(...)), not return a value.",
    "int": "Return a Python int (int(...)), not a float or a NumPy scalar.",
    "wrong_error": "Check the input first and raise the error asked for, before any "
                   "computation fails on its own.",
}


class Mismatch(AssertionError):
    """A graded comparison that failed; its message ends with a ``hint:`` line."""


def fail(kind: str, text: str, hints: dict[str, str] | None = None) -> None:
    hint = (hints or {}).get(kind) or GENERAL.get(kind, "")
    raise Mismatch(f"{text}\nhint: {hint}" if hint else text)


def that(ok: object, kind: str, text: str, hints: dict[str, str] | None = None) -> None:
    """Fail with ``text`` and the hint for ``kind`` unless ``ok``."""
    if not ok:
        fail(kind, text, hints)


def parts(got: object, names: tuple[str, ...], what: str = "",
          hints: dict[str, str] | None = None) -> tuple:
    """``got`` must be a tuple (or list) of ``len(names)`` parts, e.g. ``(starts, ends)``."""
    prefix = f"{what}: " if what else ""
    wanted = f"({', '.join(names)})"
    if not isinstance(got, tuple | list):
        fail("type", f"{prefix}expected a tuple {wanted}, got {type(got).__name__} "
                     f"{show(got, 200)}", hints)
    if len(got) != len(names):
        fail("type", f"{prefix}expected a tuple {wanted} of {len(names)} parts, got "
                     f"{len(got)}: {show(got, 200)}", hints)
    return tuple(got)


def _builtin_of(error: BaseException) -> type | None:
    """The built-in exception a student's function raised (the proxy re-raises it as a
    subclass of that built-in and of ``SubmissionError``), or None for the grader's own."""
    for base in type(error).__mro__[1:]:
        if base.__module__ == "builtins" and base not in (AssertionError, Exception,
                                                          BaseException, object):
            return base
    return None


def raises(call: Callable[[], object], what: str, hints: dict[str, str] | None = None,
           errors: tuple[type[BaseException], ...] = (ValueError,)) -> None:
    """``call()`` (a student's function on bad input) must raise one of ``errors``."""
    names = " or ".join(e.__name__ for e in errors)
    try:
        got = call()
    except errors:
        return
    except SubmissionError as exc:
        builtin = _builtin_of(exc)
        if builtin is None:  # a timeout, a missing function: the grader's own failure
            raise
        first = str(exc).splitlines()[0] if str(exc) else builtin.__name__
        fail("wrong_error", f"{what}: expected {names} for this bad input; instead it raised "
                            f"{first.split(' raised ', 1)[-1]}", hints)
    fail("no_error", f"{what}: expected {names} for this bad input; it returned "
                     f"{show(got, 200)}", hints)


def first_difference(got: np.ndarray, want: np.ndarray, rtol: float = 0.0,
                     atol: float = 0.0) -> str:
    """``at [1, 0]: got 3.0, expected 4.0`` for the first element where two arrays differ
    (by more than ``rtol``/``atol``)."""
    same = got == want
    if got.dtype.kind in "fc" and want.dtype.kind in "fc":
        same = same | (np.isnan(got) & np.isnan(want))
    if rtol or atol:
        same = same | np.isclose(got, want, rtol=rtol, atol=atol)
    differ = ~same
    where = np.argwhere(differ)
    if not len(where):
        return ""
    index = tuple(int(i) for i in where[0])
    count = int(differ.sum())
    return (f"first difference at {list(index)}: got {got[index]!r}, expected {want[index]!r} "
            f"({count} of {differ.size} elements differ)")


def array(got: object, want: np.ndarray, what: str = "", hints: dict[str, str] | None = None,
          dtype: bool = True, rtol: float = 0.0, atol: float = 0.0,
          lists: bool = False,
          mistakes: list[tuple[np.ndarray, str]] | None = None) -> np.ndarray:
    """``got`` must be an array equal to ``want`` (within ``rtol``/``atol``), of its shape and,
    with ``dtype``, of its dtype. With ``lists``, a list, tuple or number of numbers counts as
    an array too. ``mistakes`` are (what a known mistake returns, the hint naming it): wrong
    values that equal one of them get its hint. Returns ``got`` (as an array)."""
    want = np.asarray(want)
    prefix = f"{what}: " if what else ""
    if lists and isinstance(got, list | tuple | int | float | np.number) and not isinstance(
            got, bool):
        try:
            got = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            fail("type", f"{prefix}expected numbers in the shape {want.shape}, got "
                         f"{show(got, 200)}", hints)
    if not isinstance(got, np.ndarray):
        fail("type", f"{prefix}expected a NumPy array of shape {want.shape}, got "
                     f"{type(got).__name__} {show(got, 200)}", hints)
    if got.shape != want.shape:
        off = (got.ndim == want.ndim and sum(a != b for a, b in zip(got.shape, want.shape,
                                                                    strict=True)) >= 1
               and all(abs(a - b) <= 1 for a, b in zip(got.shape, want.shape, strict=True)))
        fail("off_by_one" if off else "shape",
             f"{prefix}expected shape {want.shape}, got shape {got.shape}", hints)
    if dtype and got.dtype != want.dtype:
        fail("dtype", f"{prefix}expected dtype {want.dtype}, got dtype {got.dtype}", hints)
    if got.dtype.kind in "fc" and np.isnan(got).any() and not np.isnan(want).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(got))[0])
        fail("nan", f"{prefix}expected {show(want, 300)}\nNaN at {list(where)}, where "
                    f"{want[where]!r} was expected", hints)
    if got.dtype.kind not in "biufc" or want.dtype.kind not in "biufc":
        same = got.dtype == want.dtype and np.array_equal(got, want)
    elif rtol or atol:
        same = np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    else:
        same = np.array_equal(got, want, equal_nan=want.dtype.kind in "fc")
    if not same:
        kind = "values"
        if got.dtype.kind in "iu" and want.dtype.kind in "iu" and np.abs(
                got.astype(np.int64) - want.astype(np.int64)).max() == 1:
            kind = "off_by_one"
        elif want.dtype.kind in "fc" and np.any(want) and np.allclose(got, -want, rtol=rtol,
                                                                     atol=atol):
            kind = "sign"
        for wrong, hint in mistakes or []:
            if _matches(got, np.asarray(wrong), want):
                hints = {**(hints or {}), kind: hint}
                break
        diff = first_difference(got, want, rtol, atol) if got.dtype.kind in "biufc" else ""
        fail(kind, f"{prefix}expected {show(want, 300)}" + (f"\n{diff}" if diff else ""), hints)
    return got


def _matches(got: np.ndarray, wrong: np.ndarray, want: np.ndarray) -> bool:
    """Whether ``got`` is what a known mistake returns: nearer to ``wrong`` than a tenth of
    the distance between ``wrong`` and the right answer (so rounding noise still matches)."""
    if wrong.shape != got.shape or got.dtype.kind not in "biuf" or wrong.dtype.kind not in "biuf":
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.nanmax(np.abs(wrong.astype(float) - want.astype(float)), initial=0.0)
        off = np.nanmax(np.abs(got.astype(float) - wrong.astype(float)), initial=0.0)
    same_nan = np.array_equal(np.isnan(got.astype(float)), np.isnan(wrong.astype(float)))
    return bool(same_nan and np.isfinite(gap) and gap > 0 and off <= 0.1 * gap)


def integer(got: object, want: int, what: str = "", hints: dict[str, str] | None = None) -> int:
    """``got`` must be an integer (Python or NumPy, not a float) equal to ``want``."""
    prefix = f"{what}: " if what else ""
    if isinstance(got, bool) or not isinstance(got, int | np.integer):
        fail("int", f"{prefix}must be an int; got {type(got).__name__} {show(got, 100)}"
                    f" (expected {want})", hints)
    if got != want:
        kind = "off_by_one" if abs(int(got) - want) == 1 else "values"
        fail(kind, f"{prefix}expected {want}, got {int(got)}", hints)
    return int(got)


def number(got: object, want: float, what: str = "", hints: dict[str, str] | None = None,
           rtol: float = 1e-9, atol: float = 0.0) -> float:
    """``got`` must be a real number close to ``want``."""
    prefix = f"{what}: " if what else ""
    if isinstance(got, np.ndarray) and got.ndim == 0:
        got = got[()]
    if isinstance(got, bool) or not isinstance(got, int | float | np.integer | np.floating):
        fail("type", f"{prefix}expected a number, got {type(got).__name__} {show(got, 100)}",
             {"type": "Return one number (float(...)), not an array, a list or a tuple.",
              **(hints or {})})
    value = float(got)
    if np.isnan(value) and not np.isnan(want):
        fail("nan", f"{prefix}expected {want!r}, got nan", hints)
    if not np.isclose(value, want, rtol=rtol, atol=atol, equal_nan=True):
        kind = "sign" if want and np.isclose(value, -want, rtol=rtol, atol=atol) else "values"
        if float(want).is_integer() and value.is_integer() and abs(value - want) == 1:
            kind = "off_by_one"
        fail(kind, f"{prefix}expected {want!r}, got {value!r}", hints)
    return value
