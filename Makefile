# `make book` and `make test` are all a newcomer needs: both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BOOK := $(VENV)/bin/jupyter-book build . -W -n --keep-going

NODE_STAMP := node_modules/.package-lock.json

.PHONY: setup book serve test pytest nbval lint clean chromium browser bubblewrap bench assign

# bubblewrap is the sandbox `check` runs a student's notebook in (installed where apt can).
setup: $(STAMP) bubblewrap

# Reinstall only when the pins change; the package itself is an editable install.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $(STAMP)

# The book serves its JavaScript itself (no CDN): npm installs the pinned packages, and
# tools/offline_book.py copies what pages load into _build/html/_static/ during the build.
$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $(NODE_STAMP)

# Sphinx and jupyter-cache re-execute a page only when the page changes; the figures and numbers
# on it come from pooling_course, so a change to the package re-executes every page.
PACKAGE_STAMP := _build/.package-stamp
$(PACKAGE_STAMP): $(shell find pooling_course -name '*.py')
	rm -rf _build/.doctrees _build/.jupyter_cache _build/jupyter_execute _build/html
	mkdir -p _build && touch $@

book: $(STAMP) $(NODE_STAMP) $(PACKAGE_STAMP)
	$(BOOK)

serve: book
	$(PY) -m http.server --directory _build/html 8000

# The browser tests need the built book; `make browser` runs them after building it.
# Graded tests run every notebook, solutions included, in the bubblewrap sandbox.
pytest: $(STAMP) bubblewrap
	$(PY) -m pytest --ignore=tests/browser

# Solutions must reproduce their stored outputs; exercises must run top to bottom as shipped.
nbval: $(STAMP)
	$(PY) -m pytest --nbval --nbval-current-env solutions/
	$(PY) -m pytest --nbval-lax --nbval-current-env exercises/

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "no chromium and cannot install it (needs root and apt): browser tests will skip"

# Debian's bubblewrap (`bwrap`): the sandbox each graded notebook runs in. Without it, `grade`
# refuses to run student code (the graded tests fail saying so) and `check` uses a restricted
# process for the student's own notebook.
bubblewrap:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; } \
		|| echo "no bwrap and cannot install it (needs root and apt): grade will refuse to run;" \
			"check will use a restricted process (see README: Checking without bubblewrap)"

# The built book in headless Chromium, with every request off this machine blocked.
browser: book chromium
	$(PY) -m pytest tests/browser -p no:cacheprovider

test: lint pytest nbval book browser

# The student notebooks exercises/*.ipynb, written from the marked solutions/*.ipynb (the test
# suite fails while they differ: tests/test_assign.py).
assign: $(STAMP)
	$(PY) -m pooling_course assign

# Our kernels against torch's, side by side, one thread each (a few minutes; never a test).
bench: $(STAMP)
	$(PY) -m pooling_course bench

clean:
	rm -rf _build
