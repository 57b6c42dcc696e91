# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench publish compare backfill browser venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	@echo "== 1/2 the pipeline on the embedded synthetic GTZAN (10 tracks per genre, 30 s), fast extractor (the default)"
	$(VENV)/bin/genre-hpc run
	@echo "== 2/2 a short strong-scaling study of the extraction, 50 GTZAN-length tracks (out/demo-scale/)"
	$(VENV)/bin/genre-hpc scale --stage extract --backends serial,pool-map,dask-distributed --workers 1,2 \
		--repeat 2 --per-genre 5 --seconds 30 --trace --out out/demo-scale

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Debian's chromium: the headless browser of tests/test_dashboard.py (which skips, saying why,
# where it cannot be installed)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "== installing chromium (apt-get) for the dashboard test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| echo "warning: could not install chromium: the dashboard's browser test will be skipped"; }

# two pytest workers (pytest-xdist): most tests wait on processes they start, so two of them
# share 2 cores well (7 min against 13 serially on the reference machine); PYTEST_WORKERS=0 runs
# them in this process. The tests marked `timing` (bench-compare must flag a real 2x slowdown
# and not a README change) then run alone: beside another test on 2 cores, the slowdown's
# samples overlapped (366 +- 80 ms against 192 +- 20 ms, not significant) in one run of 3.
PYTEST_WORKERS ?= 2
test: $(STAMP) lint browser
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "not timing"
	$(PY) -m pytest -q -m timing

# the whole suite on this commit, then the offline dashboard (docs/benchmarks.md); the datasets
# are rendered (first time only) before the timed suite
bench: $(STAMP)
	$(VENV)/bin/asv machine --yes
	$(PY) -c "from benchmarks.common import prepare_datasets; prepare_datasets()"
	@start=$$(date +%s); \
	$(VENV)/bin/asv run --python=same --set-commit-hash $$(git rev-parse HEAD) --launch-method spawn --record-samples; \
		status=$$?; echo "the suite took $$(( $$(date +%s) - start )) s"; $(VENV)/bin/genre-hpc bench-publish; exit $$status

# .asv/html: asv's dashboard with vendored scripts (works offline) and the scaling report
publish: $(STAMP)
	$(VENV)/bin/genre-hpc bench-publish

# did HEAD make anything slower than BASE? `make compare BASE=main [HEAD=...] [BENCH=regex] [FACTOR=1.2]`
# (both commits in this environment; exit status 1 on a significant slowdown)
BASE   ?= main
HEAD   ?= HEAD
FACTOR ?= 1.2
# the pull-request selection: the serial feature micro-benchmarks and the fast extractor's stage
# on serial and one process pool (BENCH= runs the whole suite)
BENCH  ?= Features\.time_extract_(chunk|track)|TimeExtractFast\.time_run\('(serial|pool-map)'
compare: $(STAMP)
	$(VENV)/bin/genre-hpc bench-compare $(BASE) $(HEAD) --factor $(FACTOR) $(if $(BENCH),-b "$(BENCH)")

# results of past commits: `make backfill RANGE=A..B [MACHINE=gh-2core-ref] [SUITE=HEAD]` (default
# scale; every commit's genre_hpc measured by one suite, SUITE's benchmarks/, as asv runs a range)
backfill: $(STAMP)
	@test -n "$(RANGE)" || { echo "usage: make backfill RANGE=A..B [MACHINE=name] [SUITE=rev|own]"; exit 2; }
	$(VENV)/bin/genre-hpc bench-backfill $(RANGE) $(if $(MACHINE),--machine $(MACHINE)) $(if $(SUITE),--suite $(SUITE))

clean:
	rm -rf $(VENV) html .asv
