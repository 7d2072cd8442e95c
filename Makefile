# NodeScope: two commands on a fresh machine.
#   make demo   set up .venv, then analyse the bundled sample data into results/
#   make test   set up .venv with the test extras, then run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
OUT    ?= results

.PHONY: demo test setup setup-test bench samples clean

# the demo environment includes napari and a Qt binding, so `.venv/bin/napari` works after it
$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[napari]" pyqt6
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.base
	$(PIP) install -q -e ".[all]"
	touch $@

setup: $(VENV)/.base
setup-test: $(VENV)/.test

demo: $(VENV)/.base
	$(VENV)/bin/nodescope analyze sample_data --out $(OUT)
	@echo "Results are in $(abspath $(OUT)): summary.csv, report.html, nodescope.log and one folder per image (summary.json, deposits.csv, cells.csv, overlay.png, objects.geojson)"
	@echo "Review in napari: $(VENV)/bin/napari, then File > Open Sample > NodeScope and Plugins > Analyze lymph node (NodeScope)"

# napari's tests need a display: use Xvfb when there is no screen.
XVFB := $(shell [ -z "$$DISPLAY" ] && command -v xvfb-run >/dev/null 2>&1 && echo "xvfb-run -a -s '-screen 0 1600x1000x24'")

test: $(VENV)/.test
	$(XVFB) $(PY) -m pytest

bench: $(VENV)/.test
	$(PY) bench/accuracy.py
	$(PY) bench/speed.py
	$(PY) bench/pattern.py
	$(PY) bench/real_nuclei.py
	$(PY) bench/real_ihc.py

samples: $(VENV)/.base
	$(PY) sample_data/make_samples.py --out sample_data

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache build *.egg-info
