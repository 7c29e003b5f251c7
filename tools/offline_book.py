"""Make the built book work with no internet, light and accessible: a Sphinx extension.

The book loads no file from a CDN. The JavaScript it needs comes from the npm registry at build
time (``package.json`` and ``package-lock.json`` pin it; ``npm ci`` installs it into
``node_modules/``) and this module copies the files that pages load into
``_build/offline_static/``, which Sphinx then copies to ``_build/html/_static/``:
``npm/mathjax/`` (MathJax 3, its CHTML fonts and the extensions it loads on demand);
``_config.yml`` points Sphinx's ``mathjax_path`` at ``npm/mathjax/tex-mml-chtml.js``.

The copies are deliberately not in the root ``_static/`` folder: Jupyter Book 1 adds every
``*.js`` and ``*.css`` found there to every page (which is how the course's own small
``_static/pooling-course.js`` and ``.css`` reach every page), and that would load all of
MathJax's extensions everywhere; a path added here, after Jupyter Book has made the Sphinx
configuration, is copied but not scanned.

As a Sphinx extension (``sphinx: local_extensions: {offline_book: tools/}`` in ``_config.yml``)
it also

- sets ``POOLING_COURSE_WIDGETS=static`` before any notebook runs, so the kernels that execute
  the pages build the precomputed widgets of :mod:`pooling_course.widgets`, and gives those
  kernels an IPython startup file that calls
  :func:`pooling_course.figures.install_display_hook` (figures drawn at twice the resolution,
  with alt text stored in the PNG); the image's alt text in the page is that text;
- draws every interactive figure as plain HTML (:mod:`static_widgets`): the 3.6 MB ipywidgets
  manager and require.js are not loaded, and the states other than the first are small files
  the course's script loads when a reader asks for them;
- removes the theme's 1.5 MB FontAwesome script and writes ``_static/pooling_course/icons.css``
  with just the icons the pages use (masks drawn from the same FontAwesome paths), and the
  search tools and index from every page but the search page (the theme loads them for a
  search-as-you-type box that is off);
- offers every notebook page's executed ``.ipynb`` in the page's download menu.

As a script, ``python tools/offline_book.py`` only copies the files (e.g. to check them).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import static_widgets  # noqa: E402 (the folder of this file is on the path only now)

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
STATIC = ROOT / "_build" / "offline_static"

#: (file or folder in node_modules, where it goes under _static/npm/)
ASSETS = [
    ("mathjax/es5/tex-mml-chtml.js", "mathjax/tex-mml-chtml.js"),
    ("mathjax/es5/input", "mathjax/input"),
    ("mathjax/es5/output/chtml", "mathjax/output/chtml"),
    ("mathjax/es5/ui", "mathjax/ui"),
    ("mathjax/es5/a11y", "mathjax/a11y"),
    ("mathjax/es5/sre", "mathjax/sre"),
    ("mathjax/es5/adaptors", "mathjax/adaptors"),
    ("mathjax/LICENSE", "mathjax/LICENSE"),
]

#: The kernels' IPython startup file (see :func:`setup`).
STARTUP = """# Written by tools/offline_book.py for the book build: sharp figures with alt text.
from pooling_course.figures import install_display_hook as _install

_install()
del _install
"""

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


def static_figures(app: object, pagename: str, templatename: str, context: dict,
                   doctree: object) -> None:
    """Draw the page's interactive figures as HTML (:mod:`static_widgets`); drop their JSON."""
    scripts = context.get("script_files", [])
    states = [s for s in scripts
              if getattr(s, "attributes", {}).get("type") == static_widgets.STATE_MIME]
    if not states or "body" not in context:
        return
    context["script_files"] = [s for s in scripts if s not in states]
    base = context["pathto"](f"_static/pc-states/{static_widgets.slug(pagename)}", 1) + "/"
    try:
        context["body"] = static_widgets.render_page(
            context["body"], states[0].attributes["body"], pagename,
            Path(app.outdir), base)
    except static_widgets.WidgetError as exc:
        from sphinx.errors import ExtensionError

        raise ExtensionError(f"{pagename}: {exc}") from exc


def figure_alt_text(app: object, doctree: object, docname: str) -> None:
    """An image drawn by a notebook cell gets the alt text stored in its PNG.

    myst-nb makes an output image's alt text its file path; the kernels' display hook
    (:func:`pooling_course.figures.install_display_hook`) stores a description in the PNG.
    """
    from docutils import nodes

    from pooling_course.figures import png_description

    for image in doctree.findall(nodes.image):
        candidate = image.get("candidates", {}).get("*") or image.get("uri", "")
        path = Path(app.srcdir) / candidate
        if not candidate.endswith(".png") or not path.is_file():
            continue
        alt = png_description(path.read_bytes())
        if alt and (not image.get("alt") or image["alt"] == image.get("uri")):
            image["alt"] = alt


#: The theme loads Sphinx's search tools and the whole search index (130 kB) on every page,
#: for a search-as-you-type box the book leaves off (``search_as_you_type``); the search page
#: loads its own.
SEARCH_TOOLS = re.compile(r'<script src="[^"]*(?:_static/searchtools\.js|_static/language_data\.js|'
                          r'searchindex\.js)"></script>\s*')
FONTAWESOME = re.compile(r'<script[^>]*src="[^"]*_static/scripts/fontawesome\.js[^"]*"[^>]*>'
                         r"</script>\s*")
ICON_CLASS = re.compile(r'class="([^"]*\b(?:fa-solid|fa-regular|fa-brands|fas|far|fab)\b[^"]*)"')
NOT_ICONS = {"fa-solid", "fa-regular", "fa-brands", "fa-lg", "fa-fw", "fa-sm", "fa-xs",
             "fa-2x", "fa-spin", "fa-pulse"}
PACKS = {"fa-solid": "fas", "fa-regular": "far", "fa-brands": "fab",
         "fas": "fas", "far": "far", "fab": "fab"}


def _fontawesome_icons(script: str) -> dict[tuple[str, str], tuple[int, int, str]]:
    """(pack, name) -> (width, height, SVG path) for every icon in the theme's script."""
    packs = [(m.start(), m.group(1)) for m in re.finditer(r'\("(fa[srb])",\w+\)', script)]
    icons = {}
    # The minifier leaves names that are identifiers unquoted: bars:[448,512,[...],"f0c9","M0"]
    entry = (r'(?:"([a-z0-9-]+)"|\b([a-z][a-z0-9]*)):'
             r'\[(\d+),(\d+),\[[^\]]*\],"[0-9a-f]*","([^"]+)"\]')
    for m in re.finditer(entry, script):
        pack = next((p for start, p in packs if start > m.start()), None)
        if pack is not None:
            icons.setdefault((pack, m.group(1) or m.group(2)),
                             (int(m.group(3)), int(m.group(4)), m.group(5)))
    return icons


def light_icons(app: object, exception: Exception | None) -> None:
    """Drop FontAwesome's script from every page; draw the icons they use with CSS masks.
    Drop the search tools from every page but the search page."""
    if exception is not None or getattr(app.builder, "format", "") != "html":
        return
    outdir = Path(app.outdir)
    script = outdir / "_static" / "scripts" / "fontawesome.js"
    icons = _fontawesome_icons(script.read_text(encoding="utf-8")) if script.exists() else {}
    used: set[tuple[str, str]] = set()
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for classes in ICON_CLASS.findall(text):
            names = classes.split()
            pack = next(PACKS[n] for n in names if n in PACKS)
            used.update((pack, n.removeprefix("fa-")) for n in names
                        if n.startswith("fa-") and n not in NOT_ICONS and n not in PACKS)
        lighter = FONTAWESOME.sub("", text)
        if page.name != "search.html":
            lighter = SEARCH_TOOLS.sub("", lighter)
        if lighter != text:
            page.write_text(lighter, encoding="utf-8")
    rules = ['i[class*="fa-"], span[class*="fa-"] { display: inline-block; width: 1em; '
             "height: 1em; vertical-align: -0.125em; background-color: currentColor; "
             "-webkit-mask: var(--pc-icon) center / contain no-repeat; "
             "mask: var(--pc-icon) center / contain no-repeat; }",
             ".fa-lg { font-size: 1.25em; }"]
    prefix = {"fas": ":is(.fa-solid, .fas)", "far": ":is(.fa-regular, .far)",
              "fab": ":is(.fa-brands, .fab)"}
    for pack, name in sorted(used):
        found = icons.get((pack, name)) or icons.get(("fas", name))
        if found is None:
            continue
        width, height, path = found
        svg = (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}'>"
               f"<path d='{path}'/></svg>")
        rules.append(f'{prefix[pack]}.fa-{name} {{ --pc-icon: url("data:image/svg+xml,'
                     f'{svg.replace("#", "%23")}"); }}')
    target = outdir / "_static" / "pooling_course" / "icons.css"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(rules) + "\n", encoding="utf-8")


def setup(app: object) -> dict[str, object]:
    """Sphinx entry point: static widgets for the build, offline assets in ``_static/npm``."""
    from sphinx.errors import ExtensionError

    os.environ["POOLING_COURSE_WIDGETS"] = "static"
    # The kernels that execute the pages read this IPython folder: figures with alt text.
    ipython = ROOT / "_build" / "ipython"
    startup = ipython / "profile_default" / "startup" / "00-pooling-course.py"
    startup.parent.mkdir(parents=True, exist_ok=True)
    startup.write_text(STARTUP, encoding="utf-8")
    os.environ["IPYTHONDIR"] = str(ipython)

    def add_static(app: object, config: object) -> None:
        # A change to the course's stylesheet or script, or to this drawing of the pages,
        # rewrites every page (an 'html' config value changes); notebooks are not re-run.
        digest = hashlib.sha256()
        for path in sorted([*(ROOT / "_static").glob("*"), *Path(__file__).parent.glob("*.py")]):
            if path.is_file():
                digest.update(path.name.encode() + path.read_bytes())
        config.pooling_course_assets = digest.hexdigest()[:16]
        try:
            static = copy_assets()
        except FileNotFoundError as exc:
            raise ExtensionError(str(exc)) from exc
        config.html_static_path = [*config.html_static_path, str(static)]
        # Without a default the theme logs "Got invalid theme mode" on a reader's first visit.
        config.html_context.setdefault("default_mode", "auto")

    app.add_config_value("pooling_course_assets", "", "html")
    app.connect("config-inited", add_static)
    app.add_css_file("pooling_course/icons.css")
    app.connect("doctree-resolved", figure_alt_text)
    # Before sphinx-book-theme builds its download menu (priority 501).
    app.connect("html-page-context", offer_notebook, priority=400)
    app.connect("html-page-context", dedupe_scripts)
    app.connect("html-page-context", static_figures)
    app.connect("build-finished", light_icons)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    try:
        print(f"copied to {copy_assets() / 'npm'}")
    except FileNotFoundError as exc:
        sys.exit(str(exc))
