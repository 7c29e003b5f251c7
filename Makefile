# `make book` and `make test` are all a newcomer needs: both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BOOK := $(VENV)/bin/jupyter-book build . -W -n --keep-going

.PHONY: setup book serve test pytest nbval lint clean

setup: $(STAMP)

# Reinstall only when the pins change; the package itself is an editable install.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $(STAMP)

book: $(STAMP)
	$(BOOK)

serve: book
	$(PY) -m http.server --directory _build/html 8000

pytest: $(STAMP)
	$(PY) -m pytest

# Solutions must reproduce their stored outputs; exercises must run top to bottom as shipped.
nbval: $(STAMP)
	$(PY) -m pytest --nbval --nbval-current-env solutions/
	$(PY) -m pytest --nbval-lax --nbval-current-env exercises/

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint pytest nbval book

clean:
	rm -rf _build
