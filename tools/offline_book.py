"""Make the built book work with no internet: a Sphinx extension and a script.

The book loads no file from a CDN. The JavaScript it needs comes from the npm registry at build
time (``package.json`` and ``package-lock.json`` pin it; ``npm ci`` installs it into
``node_modules/``) and this module copies the few files that pages load into
``_build/offline_static/``, which Sphinx then copies to ``_build/html/_static/``:

- ``npm/require.js`` (requirejs) and ``npm/html-manager/embed-amd.js``
  (@jupyter-widgets/html-manager, with its fonts), which render the saved ipywidgets state of
  a page; ``_config.yml`` points myst-nb's ``nb_ipywidgets_js`` at them;
- ``pooling_course/widgets-setup.js`` (ours, ``tools/widgets-setup.js``), loaded before the
  manager: it tells the manager where its FontAwesome fonts are and lets ipywidgets' MathJax 2
  call (``MathJax.Hub.Queue``) typeset with MathJax 3;
- ``npm/mathjax/`` (MathJax 3, its CHTML fonts and the extensions it loads on demand);
  ``_config.yml`` points Sphinx's ``mathjax_path`` at ``npm/mathjax/tex-mml-chtml.js``.

Both paths are relative to the built ``_static/``. The copies are deliberately not in a root
``_static/`` folder: Jupyter Book 1 adds every ``*.js`` found under the static paths it knows to
every page, which would load all of MathJax's extensions everywhere; a path added here, after
Jupyter Book has made the Sphinx configuration, is copied but not scanned.

As a Sphinx extension (``sphinx: local_extensions: {offline_book: tools/}`` in ``_config.yml``)
it also sets ``POOLING_COURSE_WIDGETS=static`` before any notebook runs, so the kernels that
execute the pages build the precomputed widgets of :mod:`pooling_course.widgets`.

It also offers every notebook page's executed ``.ipynb`` in the page's download menu.

As a script, ``python tools/offline_book.py`` only copies the files (e.g. to check them).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
STATIC = ROOT / "_build" / "offline_static"

#: (file or folder in node_modules, where it goes under _static/npm/)
ASSETS = [
    ("requirejs/require.js", "require.js"),
    ("@jupyter-widgets/html-manager/dist/embed-amd.js", "html-manager/embed-amd.js"),
    ("@jupyter-widgets/html-manager/package.json", "html-manager/package.json"),
    *((f"@jupyter-widgets/html-manager/dist/{font.name}", f"html-manager/{font.name}")
      for font in sorted((NODE_MODULES / "@jupyter-widgets/html-manager/dist").glob("*"))
      if font.suffix in {".woff2", ".woff", ".ttf", ".eot", ".svg"}),
    ("mathjax/es5/tex-mml-chtml.js", "mathjax/tex-mml-chtml.js"),
    ("mathjax/es5/input", "mathjax/input"),
    ("mathjax/es5/output/chtml", "mathjax/output/chtml"),
    ("mathjax/es5/ui", "mathjax/ui"),
    ("mathjax/es5/a11y", "mathjax/a11y"),
    ("mathjax/es5/sre", "mathjax/sre"),
    ("mathjax/es5/adaptors", "mathjax/adaptors"),
    ("mathjax/LICENSE", "mathjax/LICENSE"),
]

HOW_TO_INSTALL = ("the book's JavaScript is installed from npm: run `npm ci` in the repository "
                  "root (or `make book`, which does it)")


def copy_assets(node_modules: Path = NODE_MODULES, static: Path = STATIC) -> Path:
    """Copy :data:`ASSETS` from ``node_modules`` to ``static/npm``; return ``static``."""
    missing = [src for src, _ in ASSETS if not (node_modules / src).exists()]
    if missing:
        raise FileNotFoundError(f"{node_modules} lacks {', '.join(missing)}: {HOW_TO_INSTALL}")
    npm = static / "npm"
    if npm.exists():
        shutil.rmtree(npm)
    for src, dst in ASSETS:
        source, target = node_modules / src, npm / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    ours = static / "pooling_course"
    ours.mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(__file__).with_name("widgets-setup.js"), ours / "widgets-setup.js")
    return static


def dedupe_scripts(app: object, pagename: str, templatename: str, context: dict,
                   doctree: object) -> None:
    """Drop repeated inline scripts from the page.

    Jupyter Book 1 makes sphinx-thebe and sphinx-togglebutton add their inline configuration
    twice; the second ``const THEBE_JS_URL = ...`` is a SyntaxError on every page.
    """
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # An inline script's filename is None or "" depending on when it was added.
        key = (str(getattr(script, "filename", script) or ""),
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def offer_notebook(app: object, pagename: str, templatename: str, context: dict,
                   doctree: object) -> None:
    """Put a notebook page's executed ``.ipynb`` into ``_sources/`` and the download menu.

    sphinx-book-theme offers the ``.ipynb`` only when a launch button is configured; readers
    of an offline book want the notebook without one.
    """
    if doctree is None or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.exists():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: object) -> dict[str, object]:
    """Sphinx entry point: static widgets for the build, offline assets in ``_static/npm``."""
    from sphinx.errors import ExtensionError

    os.environ["POOLING_COURSE_WIDGETS"] = "static"

    def add_static(app: object, config: object) -> None:
        try:
            static = copy_assets()
        except FileNotFoundError as exc:
            raise ExtensionError(str(exc)) from exc
        config.html_static_path = [*config.html_static_path, str(static)]
        # Without a default the theme logs "Got invalid theme mode" on a reader's first visit.
        config.html_context.setdefault("default_mode", "auto")

    app.connect("config-inited", add_static)
    # Before sphinx-book-theme builds its download menu (priority 501).
    app.connect("html-page-context", offer_notebook, priority=400)
    app.connect("html-page-context", dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    try:
        print(f"copied to {copy_assets() / 'npm'}")
    except FileNotFoundError as exc:
        sys.exit(str(exc))
