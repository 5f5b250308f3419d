# Two commands on a fresh machine: `make demo` and `make test`.
# the first Python >= 3.12 found (Rubin's packages, used by the tests as the truth, need it), else python3
PYTHON ?= $(shell for py in python3.13 python3.12 python3; do \
	  PYENV_VERSION=$${PYENV_VERSION:-3.12.1} $$py -c 'import sys; assert sys.version_info >= (3, 12); print(sys.executable)' 2>/dev/null && break; \
	done || true)
ifeq ($(strip $(PYTHON)),)
PYTHON := python3
endif
VENV   ?= .venv
PY     := $(VENV)/bin/python
CUTOUT := $(VENV)/bin/cutout
STAMP  := $(VENV)/.installed
DEMO   ?= demo_output

.PHONY: install sample demo tutorial test clean

$(STAMP): pyproject.toml setup.py cutout_cli/fits/tiles/_rice.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# fitsio compiles its bundled cfitsio with no -O flag (wheel and default source build alike);
	# built with -O2, tile decompression is 2-2.5x faster (bench/README.md)
	CFLAGS=-O2 $(PY) -m pip install -q --no-cache-dir --no-binary fitsio 'fitsio>=1.2'
	$(PY) -m pip install -q -e '.[test,sample,dask,remote,serve,butler,lsst-images]'
	touch $@

install: $(STAMP)

sample: $(STAMP)  ## the synthetic sample coadds (skips files already there), and a real Butler repository of them
	$(PY) -m cutout_cli._sample
	test -e sample_butler || ! $(PY) -c 'import lsst.daf.butler' 2>/dev/null || $(PY) -m cutout_cli._sample.butler sample_repo sample_butler

demo: sample  ## batch of the 27 demo targets (z, 50 px) + one 60 arcsec r-band subset
	rm -rf $(DEMO)
	$(CUTOUT) batch sample_repo/targets.csv --band z --size 50 --out $(DEMO)/batch_z --png --grid $(DEMO)/grid_z.png
	$(CUTOUT) subset --ra 53.318792 --dec -27.844306 --size 60arcsec --band r -o $(DEMO)/agn11_r.fits --png $(DEMO)/agn11_r.png
	@if [ -d sample_butler ]; then echo; echo "The tutorial's query on the real Butler repository sample_butler:"; \
	  $(CUTOUT) -q --repo sample_butler --collections LSSTComCam/DP1 query --band r --pos "53.318792 -27.844306" \
	    --format csv | cut -d, -f1-3,6,7,19-20; fi
	@echo
	@echo "Results:"
	@echo "  $(DEMO)/batch_z/          27 cutouts (FITS + PNG) and manifest.csv"
	@echo "  $(DEMO)/grid_z.png        the grid of all 27 targets"
	@echo "  $(DEMO)/agn11_r.fits/.png 60 arcsec r-band cutout around target 11"

tutorial: sample  ## the Butler tutorial's flow through the Python API (examples/tutorial.py)
	$(PY) examples/tutorial.py --out $(DEMO)/tutorial

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(DEMO) .pytest_cache .hypothesis

# Benchmark suite (bench/): `make bench` (7-12 min) or `BENCH_QUICK=1 make bench` (~2 min).
# Generated data is kept in bench_output/data/ between runs; the report is bench_output/report.md.
.PHONY: bench
bench: $(STAMP)
	@$(PY) -c "import astrocut" 2>/dev/null || $(PY) -m pip install -q astrocut
	@command -v hyperfine >/dev/null || echo "bench: hyperfine not found (apt-get install hyperfine): timing processes with a Python loop"
	@command -v imcopy >/dev/null || echo "bench: imcopy not found (apt-get install libcfitsio-bin): no cfitsio process baseline"
	$(PY) -m bench
