"""Feedback a student can act on: one typical mistake per exercise, made in a copy of the
solution notebook and graded as ``check`` grades it. The report of the first failed test must
name the call, what came back, what was expected and a hint naming the real bug, and show
nothing of pytest's internals. The wrong notebooks are generated here, never committed."""

from __future__ import annotations

import json
import re

import pytest

from pooling_course import grading
from pooling_course.grading import format_report

# exercise -> (the mistake: solution text, wrong text; the failing test; words its hint has)
MISTAKES = {
    "01_forward": (("-np.inf)", "0.0)"), "test_max_pool2d_padding_never_wins",
                   ["-inf", "never with 0"]),
    "02_filtering": (("    return np.where(at_zero, 1.0, np.abs(ratio))",
                      "    return np.abs(np.sin(omega * kernel_size / 2) / (kernel_size * half))"),
                     "test_box_response_equals_the_fft_of_the_taps", ["0/0", "omega = 0"]),
    "03_equivariance": (("    if y.shape != reference.shape:\n", "    if False:\n"),
                        "test_change_is_the_normalised_euclidean_distance",
                        ["raise ValueError", "shape"]),
    "04_backward": (("grad[winner] += grad_output[i, j]", "grad[winner] = grad_output[i, j]"),
                    "test_max_backward_overlapping_windows_random", ["+=", "never assign"]),
    "05_regions": (("ends = -((-(i + 1) * length) // output_size)",
                    "ends = -((-(i + 1) * length) // output_size) - 1"),
                   "test_adaptive_bounds_teaching_examples", ["exclusive", "not one less"]),
    "06_variants": (("positions[i] = np.argmax(x[i, :, :real], axis=-1)",
                     "positions[i] = np.argmax(np.where(np.arange(x.shape[2]) < real, x[i], "
                     "0.0), axis=-1)"),
                    "test_max_over_time_matches_torch_on_random_batches_with_ties",
                    ["padding", "masked with 0"]),
    "07_fast": (("out = view(0, 0).copy()", "out = view(0, 0).astype(np.float64)"),
                "test_max_pool2d_fast_matches_torch", ["dtype", "float32"]),
    "08_frameworks": (("(int(total // 2), int(total - total // 2))",
                       "(int(total - total // 2), int(total // 2))"),
                      "test_same_padding_teaching_examples", ["swapped"]),
}
# pytest's rewriting, its diff help, the proxy's repr, the grader's own exception class
INTERNALS = re.compile(r"^assert |Use -v|<function|at 0x[0-9a-f]+|Mismatch|Full diff|"
                       r"^\s*\+\s+where |AssertionError|pooling_course\.grading", re.M)


def wrong_notebook(exercise: str, old: str, new: str, folder) -> object:
    nb = json.loads((grading.SOLUTIONS / f"{exercise}.ipynb").read_text(encoding="utf-8"))
    changed = 0
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and old in source and not changed:
            cell["source"], changed = source.replace(old, new, 1), 1
    assert changed, f"the solution of {exercise} no longer holds {old!r}"
    path = folder / f"mistake_{exercise}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mistakes")
    triples = [(f"mistake-{e}", e, wrong_notebook(e, *MISTAKES[e][0], folder))
               for e in MISTAKES]
    return {r.exercise: r for r in grading.grade(triples, seed="feedback")}


@pytest.mark.parametrize("exercise", sorted(MISTAKES))
def test_one_mistake_fails_its_test_with_a_hint_naming_it(graded, exercise):
    _, test, words = MISTAKES[exercise]
    result = graded[exercise]
    failed = [o for o in result.outcomes if not o.passed]
    assert result.status == "ok" and 0 < result.score < result.total, result.reason
    outcome = next(o for o in failed if o.test == test)
    assert outcome.calls and outcome.calls[-1]["returned"]  # the call and what came back
    assert "expected" in outcome.message  # what was expected
    for word in words:
        assert word in outcome.hint, (word, outcome.hint)
    report = format_report(result)
    assert not INTERNALS.search(outcome.message + "\n" + outcome.hint), outcome.message
    assert f"FAIL {test}" in report and "hint:" in report
