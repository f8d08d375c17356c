# Two commands set everything up on a fresh machine: `make lab` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.phazelab-installed
LAB_NB  ?= lab-work/01_meet_phaze_a.ipynb
PORT    ?= 8888
PYTEST_ARGS ?=
SHOTS_ARGS  ?=

.PHONY: lab test test-all test-fast lint bench gallery screenshots clean venv browser

venv: $(STAMP)

$(STAMP): pyproject.toml scripts/install_torch.sh
	test -x $(PY) || python3 -m venv $(VENV)
	bash scripts/install_torch.sh $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

## Open JupyterLab on the first notebook (127.0.0.1, token-protected).
lab: $(STAMP)
	$(PY) -c "from phazelab.lab import work_copies; print('notebooks copied to', work_copies())"
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(PORT) --no-browser \
	  --ServerApp.root_dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root,) \
	  --LabApp.default_url=/lab/tree/$(LAB_NB)

## Chromium for the browser tests (Debian package; skipped with a message where it cannot be installed).
browser:
	@bash scripts/install_browser.sh

## The default suite: everything but slow/GPU tests, browser test included.
test: $(STAMP) browser
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

## Everything, slow tests too.
test-all: $(STAMP) browser
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not browser and not notebook" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check phazelab tests scripts bench

bench: $(STAMP)
	$(VENV)/bin/phazelab bench

gallery: $(STAMP)
	$(PY) scripts/make_gallery.py

## docs/screenshots/: each notebook run in JupyterLab + chromium (PHAZELAB_QUICK=1), its main view photographed.
screenshots: $(STAMP) browser
	$(PY) scripts/notebook_screenshots.py $(SHOTS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts
