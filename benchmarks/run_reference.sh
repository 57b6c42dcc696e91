#!/usr/bin/env bash
# The committed reference results: the whole asv suite at the default scale (its core grid;
# GENRE_HPC_BENCH_GRID=full adds every worker count and the reference extractor on every backend)
# on this machine, saved under results/<MACHINE>/ (default gh-2core-ref) for the current commit,
# then the offline HTML dashboard in .asv/html. Run it on an otherwise idle machine: other load
# distorts the timings. It prints the duration of the whole run (the budget: docs/benchmarks.md).
#
#   benchmarks/run_reference.sh [MACHINE] [extra asv run arguments, e.g. --bench TimeExtract]
#
# The machine's description (CPU, cores, RAM, OS) is asv's own: `asv machine --yes` records this
# host in ~/.asv-machine.json, and `asv machine --yes --machine NAME` copies it under NAME.
# Every cell's record (speed-up, efficiency and their bootstrap intervals over every run of every
# benchmark process) is kept in .asv/records/<MACHINE>/<commit>/ (GENRE_HPC_BENCH_RECORDS).
# The first run on a machine renders the synthetic datasets and caches their features in
# .asv/cache (about 1300 tracks, 1.7 GB; several minutes of CPU, printed apart below).
set -euo pipefail
cd "$(dirname "$0")/.."

MACHINE="${1:-gh-2core-ref}"
if [ $# -gt 0 ]; then shift; fi
ASV="${ASV:-.venv/bin/asv}"
PY="${PY:-.venv/bin/python}"

export GENRE_HPC_BENCH_SCALE=default
unset GENRE_HPC_BENCH_WORKERS GENRE_HPC_BENCH_DATA GENRE_HPC_BENCH_TRACE
# a private cache (synthetic datasets, features): nothing else deletes or rewrites it during the run
export GENRE_HPC_CACHE="${GENRE_HPC_CACHE:-$PWD/.asv/cache}"

# results of another host (CPU, cores, architecture) under a recorded machine name would not extend
# its history: refuse unless ALLOW_OTHER_HOST=1 (genre-hpc bench-backfill: --allow-other-host)
if [ "${ALLOW_OTHER_HOST:-0}" != 1 ]; then
    "$PY" -m genre_hpc.benchruns results "$MACHINE"
fi
"$ASV" machine --yes > /dev/null
"$ASV" machine --yes --machine "$MACHINE" > /dev/null

commit="$(git rev-parse HEAD)"
export GENRE_HPC_BENCH_RECORDS="${GENRE_HPC_BENCH_RECORDS:-$PWD/.asv/records/$MACHINE/${commit:0:8}}"
echo "reference run: machine $MACHINE, commit ${commit:0:8}, scale $GENRE_HPC_BENCH_SCALE, grid ${GENRE_HPC_BENCH_GRID:-of the scale}, load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

# the datasets first, timed apart: rendered and their features extracted once per cache
start=$(date +%s)
"$PY" -c "from benchmarks.common import prepare_datasets; prepare_datasets()"
echo "datasets ready in $(( $(date +%s) - start )) s (0-2 s once cached)"

start=$(date +%s)
set +e
"$ASV" run --python=same --set-commit-hash "$commit" --machine "$MACHINE" --launch-method spawn \
    --record-samples --show-stderr --durations 20 "$@"
status=$?
set -e
took=$(( $(date +%s) - start ))
echo "the suite took ${took} s ($(( took / 60 )) min $(( took % 60 )) s; asv run exit status $status; 2 = some benchmark failed)"
echo "records of every cell: $GENRE_HPC_BENCH_RECORDS"
.venv/bin/genre-hpc bench-publish
exit "$status"
