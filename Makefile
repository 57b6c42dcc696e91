# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench publish venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	@echo "== 1/2 the pipeline on the embedded synthetic GTZAN (10 tracks per genre, 30 s), fast extractor"
	$(VENV)/bin/genre-hpc run --extractor fast
	@echo "== 2/2 a short strong-scaling study of the reference extraction (out/demo-scale/)"
	$(VENV)/bin/genre-hpc scale --stage extract --backends serial,pool-map,dask-distributed --workers 1,2 \
		--repeat 1 --per-genre 2 --seconds 6 --out out/demo-scale

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP) lint
	$(PY) -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/asv machine --yes
	$(VENV)/bin/asv run --python=same --set-commit-hash $$(git rev-parse HEAD) --launch-method spawn; \
		status=$$?; $(VENV)/bin/asv publish; exit $$status

publish: $(STAMP)
	$(VENV)/bin/asv publish

clean:
	rm -rf $(VENV) html .asv
