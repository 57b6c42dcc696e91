"""The committed results of each machine (``results/gh-2core-ref/``, the reference machine's
history of five commits or more; ``results/epyc-2core/``, a second 2-core host): histories that
asv can draw and test. Every result file is one commit of this repository's main line, recorded
at the default scale on its machine with the current benchmark versions (asv draws a result
only when its benchmark's version is the suite's in ``results/benchmarks.json``), and every
``time_*`` value has a finite 99 % interval (asv can call a change in it significant)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: committed machine -> the fewest commits its history has
MACHINES = {"gh-2core-ref": 5, "epyc-2core": 1}


@pytest.fixture(scope="module", params=sorted(MACHINES))
def machine(request):
    return request.param


@pytest.fixture(scope="module")
def results(machine):
    from asv.results import Results

    folder = REPO / "results" / machine
    if not folder.is_dir():
        pytest.fail(f"{folder} is missing: the committed results are part of the repository")
    return [Results.load(str(p), machine_name=machine) for p in sorted(folder.glob("*-*.json"))]


def test_history_of_its_commits(results, machine):
    commits = {r.commit_hash for r in results}
    assert len(commits) == len(results) >= MACHINES[machine]
    described = json.loads((REPO / "results" / machine / "machine.json").read_text())
    assert described["machine"] == machine and int(described["num_cpu"]) >= 2
    for r in results:
        assert r.params["machine"] == machine
        assert r.env_vars.get("GENRE_HPC_BENCH_SCALE", "default") == "default"


def test_every_result_has_the_suites_benchmark_versions(results):
    """So that every commit is a point of the same line on every graph."""
    described = json.loads((REPO / "results" / "benchmarks.json").read_text())
    for r in results:
        keys = r.get_all_result_keys()
        assert len(keys) >= 60, r.commit_hash
        for key in keys:
            assert key in described, (r.commit_hash, key)
            assert r.benchmark_version[key] == described[key]["version"], (r.commit_hash, key)


def test_every_time_result_has_a_finite_interval(results):
    for r in results:
        timed = 0
        for key in r.get_all_result_keys():
            if not key.rsplit(".", 1)[1].startswith("time_"):
                continue
            params = r.get_result_params(key)
            for value, stats in zip(r.get_result_value(key, params), r.get_result_stats(key, params)):
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    continue  # skipped by the core grid, or impossible (serial x2)
                timed += 1
                assert stats is not None, (r.commit_hash, key)
                assert math.isfinite(stats["ci_99_a"]) and math.isfinite(stats["ci_99_b"]), (
                    r.commit_hash,
                    key,
                )
        assert timed >= 60, r.commit_hash
