"""The chapters are live notebooks in JupyterLab: open, run, and every control recomputes.

For every chapter ``book/NN_*.md`` with an interactive figure, this starts the course's
JupyterLab on 127.0.0.1 (with ``POOLING_COURSE_WIDGETS`` unset, so the figures are *live*: each
change of a control calls Python again), opens the ``.md`` file as a notebook with Jupytext's
"Jupytext Notebook" view, runs every cell, and then moves every control of the chapter's first
interactive figure through all its values. After each move the figure must show a new state,
for the values the controls now show, drawn exactly as the package draws it (recomputed here),
with PyTorch's result shown beside the course's (``data-role="torch"`` and ``"ours"``) and
agreeing with it. It also checks that the MyST markup of the page (roles such as ``{cite}``)
is rendered by jupyterlab-myst instead of shown as raw text.

The server runs with throwaway settings, workspace and runtime folders, and autosave off, so
the chapter files are never rewritten. Skips when Chromium, Playwright or JupyterLab are
missing.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from book_site import ROOT
from test_book import _check_state, _control_name, _moves, _table, _visible_state

LAB_TIMEOUT = 60_000  # ms: starting JupyterLab or a kernel
RUN_TIMEOUT = 120_000  # ms: running a whole chapter
MOVE_TIMEOUT = 20_000  # ms: one control change, a kernel round trip


def _chapters() -> list[str]:
    """Chapter files with an interactive figure, relative to the repository root."""
    return [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "book").glob("[0-9][0-9]_*.md"))
            if any(call in p.read_text(encoding="utf-8")
                   for call in ("interactive(", "explore("))]


CHAPTERS = _chapters()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser):
    """A JupyterLab server on 127.0.0.1 serving the repository; yields its /lab URL."""
    jupyter = Path(sys.executable).with_name("jupyter")
    if not jupyter.exists() or shutil.which("jupyter-lab", path=str(jupyter.parent)) is None:
        pytest.skip("JupyterLab is not installed in this environment: run `make setup`")
    tmp = tmp_path_factory.mktemp("jupyterlab")
    settings = tmp / "settings"
    for plugin, values in {
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
        # Render every cell (JupyterLab otherwise leaves cells far off screen unrendered).
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                        "checkForUpdates": False},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "POOLING_COURSE_WIDGETS"}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(":"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    command = [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
               f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
               "--LabApp.expose_app_in_browser=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (tmp / "lab.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LAB_TIMEOUT / 1000
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n"
                                + (tmp / "lab.log").read_text()[-2000:])
                time.sleep(0.5)
        yield f"{base}/lab?reset&token={token}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


_KERNEL_IDLE = ("() => window.pcPanel.sessionContext.session?.kernel?.status === 'idle'"
                " && ![...window.pcPanel.content.model.cells].some(c => c.type === 'code'"
                " && c.executionState === 'running')")


_CODE_CELLS = """() => {
    const notebook = window.pcPanel.content;
    return [...notebook.model.cells].filter(c => c.type === 'code').map(c => ({
        count: c.executionCount,
        errors: c.outputs.toJSON().filter(o => o.output_type === 'error')
                 .map(o => `${o.ename}: ${o.evalue}`)}));
}"""


@pytest.mark.parametrize("chapter", CHAPTERS or ["<no chapter with a figure>"])
def test_chapter_runs_live_in_jupyterlab_and_every_control_recomputes(browser, lab, chapter):
    if chapter.startswith("<"):
        pytest.skip("no chapter has an interactive figure")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors too, and references jupyterlab-myst could not resolve (logged as
    # warnings): a reader's notebook must show no broken link.
    page.on("console", lambda m: (m.type == "error" or "No target for internal reference"
                                  in m.text) and errors.append(f"console: {m.text}"))
    started = time.monotonic()
    try:
        page.goto(lab)  # with ?reset: no notebook reopened from an earlier chapter
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started",
                               timeout=LAB_TIMEOUT)
        factories = page.evaluate(
            "path => [...window.jupyterapp.docRegistry.preferredWidgetFactories(path)]"
            ".map(f => f.name)", chapter)
        assert "Jupytext Notebook" in factories, (
            f"{chapter} cannot open as a notebook (jupytext's JupyterLab extension is not "
            f"active): views offered {factories}")
        panel_id = page.evaluate(
            "async path => { const app = window.jupyterapp; const panel = await app.commands"
            ".execute('docmanager:open', {path, factory: 'Jupytext Notebook'});"
            " window.pcPanel = panel; await panel.context.ready;"
            " await panel.sessionContext.ready; return panel.id; }", chapter)
        panel = f"#{panel_id}"
        page.wait_for_function(_KERNEL_IDLE, timeout=LAB_TIMEOUT)
        page.evaluate("async () => { const app = window.jupyterapp;"
                      " app.shell.activateById(window.pcPanel.id);"
                      " await app.commands.execute('notebook:run-all-cells'); }")
        page.wait_for_function(_KERNEL_IDLE, timeout=RUN_TIMEOUT)
        # Every code cell ran (it has an execution count) and none raised.
        cells = page.evaluate(_CODE_CELLS)
        assert cells and all(c["count"] for c in cells), f"{chapter}: cells not run: {cells}"
        assert [e for c in cells for e in c["errors"]] == [], f"{chapter} raised in JupyterLab"
        print(f"{chapter}: ran in {time.monotonic() - started:.0f} s")
        _check_myst_rendered(page, panel, chapter)

        # The chapter's first figure that compares with torch (some ops torch lacks).
        figure = page.locator(f"{panel} .pc-explorer:has(.pc-state[data-compare], "
                              ".pc-state[data-call])").first
        figure.scroll_into_view_if_needed()
        _check_live_state(figure)
        controls = figure.locator("[class*='pc-control-']")
        assert controls.count() > 0, f"{chapter}: the figure has no controls"
        for c in range(controls.count()):
            control = controls.nth(c)
            for step in _moves(control):
                _move_and_check_live(figure, step, f"{chapter}: moving {_control_name(control)}")
        print(f"{chapter}: opened, ran and every control moved in "
              f"{time.monotonic() - started:.0f} s")
        assert errors == []
    finally:
        try:  # free the kernel's CPU for the next chapter
            page.evaluate("async () => window.pcPanel && "
                          "await window.pcPanel.sessionContext.shutdown()")
        finally:
            context.close()


def _check_myst_rendered(page, panel: str, chapter: str) -> None:
    """jupyterlab-myst renders the chapter's MyST roles: none is left as raw ``{role}`` text."""
    source = (ROOT / chapter).read_text(encoding="utf-8")
    roles = [r for r in ("{cite", "{eq}", "{download}") if r in source]
    if not roles:
        return
    text = "\n".join(page.locator(f"{panel} .jp-MarkdownCell").all_inner_texts())
    assert text, f"{chapter}: no markdown cell rendered"
    raw = [r for r in roles if r in text]
    assert raw == [], f"{chapter}: MyST roles shown as raw text (is jupyterlab-myst active?)"


def _state_key(figure) -> str:
    state = _visible_state(figure)
    # interactive() states carry a digest of what they show; explore() states a unique id.
    key = state.get_attribute("data-digest") or state.get_attribute("id")
    return f"{state.get_attribute('data-params')}|{key}"


def _move_and_check_live(figure, step, what: str) -> None:
    """Make one move; the kernel must draw a new state, and it must be the right one."""
    before = _state_key(figure)
    step()
    try:
        figure.page.wait_for_function(
            "([fig, before]) => { const s = [...fig.querySelectorAll('.pc-state')]"
            ".find(e => e.offsetParent !== null); return s && (s.dataset.params + '|'"
            " + (s.dataset.digest || s.id)) !== before; }",
            arg=[figure.element_handle(), before], timeout=MOVE_TIMEOUT)
    except Exception as exc:  # playwright's TimeoutError
        raise AssertionError(f"{what} did not recompute the figure") from exc
    _check_live_state(figure)


def _check_live_state(figure) -> None:
    """The shown state is the package's drawing for the controls' values, torch beside it."""
    _check_state(figure, live=True)
    state = _visible_state(figure)
    if state.get_attribute("data-error"):
        return  # a rejected setting shows the error, and there is nothing to compare
    ours = state.locator("[data-role='ours'], [data-role='output']")
    torch_ = state.locator("[data-role='torch']")
    assert ours.count() and torch_.count(), "torch's result is not shown beside ours"
    assert torch_.first.inner_text().strip() and ours.first.inner_text().strip()
    if state.locator("table[data-role='torch']").count():  # explore(): two grids of numbers
        np.testing.assert_allclose(_table(torch_.first), _table(ours.first))
    assert "gives the same output" in state.inner_text()
