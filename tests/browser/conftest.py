"""Fixtures that drive the built book (``_build/html``) in headless Chromium, offline.

The book (or the folder ``POOLING_COURSE_BOOK_HTML`` names) is served from 127.0.0.1 by a server
in this process; every request to anywhere else is aborted and recorded, so a test sees exactly
what a reader with no internet would see.

Chromium is Debian's ``chromium`` package, driven by Playwright for Python through
``executable_path`` (Playwright's own browser download is never used). Set
``POOLING_COURSE_CHROMIUM`` to use another binary. Without a Chromium, or without a built
book, the tests skip and say how to get them.
"""

from __future__ import annotations

import functools
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from book_site import CHROMIUM_ARGS, HOW_TO_ENABLE, HTML, chromium_path


@pytest.fixture(scope="session")
def book_dir() -> Path:
    if not (HTML / "index.html").exists():
        pytest.skip(f"no built book at {HTML}: run `make book` first")
    return HTML


@pytest.fixture(scope="session")
def server(book_dir: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(book_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    executable = chromium_path()
    if executable is None:
        pytest.skip(HOW_TO_ENABLE)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(HOW_TO_ENABLE)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Traffic:
    """What one page did: requests blocked for leaving the machine, failures, errors."""

    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return ([f"blocked (not local): {u}" for u in self.blocked]
                + [f"failed: {u}" for u in self.failed] + [f"console: {e}" for e in self.errors])


@pytest.fixture
def offline_page(browser, server):
    """A fresh page that may only reach the book's own server (or files on disk).

    Yields ``(page, traffic)``; ``traffic`` records every blocked and failed request and every
    console error and uncaught exception.
    """
    context = browser.new_context()
    traffic = Traffic()

    def route(route) -> None:
        url = route.request.url
        if url.startswith((server, "file://", "data:", "blob:")):
            route.continue_()
        else:
            traffic.blocked.append(url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and traffic.errors.append(m.text))
    page.on("pageerror", lambda exc: traffic.errors.append(f"uncaught: {exc}"))
    page.on("requestfailed", lambda r: traffic.failed.append(f"{r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and traffic.failed.append(
        f"{r.url} (HTTP {r.status})"))
    yield page, traffic
    context.close()
