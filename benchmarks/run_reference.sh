#!/usr/bin/env bash
# The committed reference results: the whole asv suite at the default scale (its core grid;
# GENRE_HPC_BENCH_GRID=full adds every worker count, about twice as long) on this machine,
# saved under results/<MACHINE>/ (default gh-2core-ref) for the current commit, then the HTML
# dashboard in .asv/html. Run it on an otherwise idle machine: other load distorts the timings.
#
#   benchmarks/run_reference.sh [MACHINE] [extra asv run arguments, e.g. --bench TimeExtract]
#
# The machine's description (CPU, cores, RAM, OS) is asv's own: `asv machine --yes` records this
# host in ~/.asv-machine.json, and `asv machine --yes --machine NAME` copies it under NAME.
set -euo pipefail
cd "$(dirname "$0")/.."

MACHINE="${1:-gh-2core-ref}"
if [ $# -gt 0 ]; then shift; fi
ASV="${ASV:-.venv/bin/asv}"

export GENRE_HPC_BENCH_SCALE=default
unset GENRE_HPC_BENCH_WORKERS GENRE_HPC_BENCH_DATA
# a private cache (synthetic datasets, features): nothing else deletes or rewrites it during the run
export GENRE_HPC_CACHE="${GENRE_HPC_CACHE:-$PWD/.asv/cache}"

"$ASV" machine --yes > /dev/null
"$ASV" machine --yes --machine "$MACHINE" > /dev/null

commit="$(git rev-parse HEAD)"
echo "reference run: machine $MACHINE, commit ${commit:0:8}, scale $GENRE_HPC_BENCH_SCALE, grid ${GENRE_HPC_BENCH_GRID:-the scale's}, load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
start=$(date +%s)
set +e
"$ASV" run --python=same --set-commit-hash "$commit" --machine "$MACHINE" --launch-method spawn \
    --show-stderr --durations 15 "$@"
status=$?
set -e
echo "the suite took $(( $(date +%s) - start )) s (asv run exit status $status; 2 = some benchmark failed)"
"$ASV" publish
exit "$status"
