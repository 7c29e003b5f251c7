"""Where the built book is, which pages it has, and which Chromium drives it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("POOLING_COURSE_BOOK_HTML", ROOT / "_build" / "html"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
HOW_TO_ENABLE = ("browser tests need Debian's Chromium (`apt-get install chromium`, or set "
                 "POOLING_COURSE_CHROMIUM to a Chromium binary) and the playwright Python "
                 "package; `make test` installs both and builds the book first")


def chromium_path() -> str | None:
    candidates = [os.environ.get("POOLING_COURSE_CHROMIUM"), shutil.which("chromium"),
                  shutil.which("chromium-browser")]
    return next((c for c in candidates if c and Path(c).exists()), None)


def book_pages() -> list[str]:
    """Every HTML page of the built book, relative to ``_build/html``."""
    if not HTML.is_dir():
        return []
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if not p.relative_to(HTML).parts[0].startswith("_"))
