"""Shared pytest plumbing. The graded tests' fixtures (``submission``, ``rng``) and options
(``--submission``, ``--grade-report``, ``--grade-seed``, ...) come from the plugin
:mod:`pooling_course.grading.plugin`; without options the graded tests grade the reference
solutions in ``solutions/``, each run in the same sandbox as a student's notebook.
"""

from __future__ import annotations

import os

from hypothesis import settings

pytest_plugins = ["pooling_course.grading.plugin"]

# CI replays the same hypothesis examples on every run, so a red CI means the code changed, not
# the dice; local runs keep drawing new examples (POOLING_EXAMPLES=5000 searches deeper).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
