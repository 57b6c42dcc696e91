"""``genre-hpc bench-compare`` for real: git worktrees, ``asv run --python=same``, ``asv compare``.

On a throw-away repository (``tests/_throwaway.py``: a clone of this one whose suite is one tiny
benchmark of a tiny library function) with the branches

- ``base``: the probe suite;
- ``slow``: ``base`` whose probe does its work twice (a real slowdown in the *library*, so it
  is seen only if the benchmark processes import the worktree's ``genre_hpc``);
- ``readme``: ``base`` plus a line in README.md (nothing that runs changes).

bench-compare must flag ``slow`` (exit 1, the benchmark named) and not ``readme`` (exit 0), with
the same settings (the defaults: 2 interleaved asv runs per commit, 4 rounds each, one sample per
process: 8 samples per commit, which asv judges with its Mann-Whitney test; see
``genre_hpc.benchcompare``). asv's machine file goes to a temporary HOME.
"""

from __future__ import annotations

import json

import pytest
from _throwaway import SLOW_PROBE, commit_on, genre_hpc, git, make_probe_repo


@pytest.fixture(scope="module")
def throwaway(tmp_path_factory):
    """The throw-away repository with the branches ``base``, ``slow`` and ``readme``."""
    repo = make_probe_repo(tmp_path_factory.mktemp("bench-compare"))
    commit_on(
        repo, "slow", "base", {"genre_hpc/_probe.py": SLOW_PROBE}, "slow: the probe does its work twice"
    )
    readme = (repo / "README.md").read_text() + "\nA line that changes nothing that runs.\n"
    commit_on(repo, "readme", "base", {"README.md": readme}, "readme: one more line")
    return repo


def bench_compare(repo, *args):
    return genre_hpc(repo, "bench-compare", *args)


#: the defaults, spelled out: 2 runs per commit (BASE HEAD HEAD BASE) of 4 rounds each: 8
#: one-sample processes per commit, enough for asv's Mann-Whitney test
SETTINGS = ("--runs", "2", "--rounds", "4", "--factor", "1.2", "--scale", "quick", "--json")


@pytest.mark.slow
@pytest.mark.timing
def test_flags_a_real_slowdown(throwaway):
    proc = bench_compare(throwaway, "base", "slow", *SETTINGS)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "PERFORMANCE DECREASED" in proc.stdout
    assert "bench_probe.Probe.time_work" in proc.stdout.split("PERFORMANCE DECREASED")[1]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["worsened"] and [r["benchmark"] for r in res["worse"]] == ["bench_probe.Probe.time_work"]
    assert res["base"] == git(throwaway, "rev-parse", "base")
    assert res["head"] == git(throwaway, "rev-parse", "slow")
    # interleaved: BASE HEAD, HEAD BASE, every run saved
    order = ["base" if r["commit"] == res["base"] else "head" for r in res["runs"]]
    assert order == ["base", "head", "head", "base"]
    assert all(r["status"] == 0 for r in res["runs"])
    assert float(res["worse"][0]["ratio"]) > 1.2
    # results went to a temporary folder, not the repository's results/; the worktrees are gone
    assert res["results_dir"] is None
    assert git(throwaway, "status", "--porcelain") == ""
    assert len(git(throwaway, "worktree", "list").splitlines()) == 1


@pytest.mark.slow
@pytest.mark.timing
def test_an_unchanged_commit_is_not_flagged(throwaway, tmp_path):
    proc = bench_compare(throwaway, "base", "readme", *SETTINGS, "--results-dir", tmp_path / "kept")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PERFORMANCE DECREASED" not in proc.stdout
    assert "no significant slowdown" in proc.stdout
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["measured"] == 1 and not res["worse"]
    # --results-dir keeps the results: the samples of 2 x 4 processes per commit
    from asv.results import iter_results_for_machine_and_hash

    for sha in (res["base"], res["head"]):
        (result,) = iter_results_for_machine_and_hash(str(tmp_path / "kept"), res["machine"], sha)
        samples = result.get_result_samples("bench_probe.Probe.time_work", [])
        assert len(samples[0]) == 8


def test_bad_requests_are_usage_errors(throwaway):
    same = bench_compare(throwaway, "base", "base")
    assert same.returncode == 2 and "same commit" in same.stderr
    missing = bench_compare(throwaway, "no-such-branch")
    assert missing.returncode == 2 and "'no-such-branch' is not a commit" in missing.stderr


def test_run_order_and_significance_rules():
    from genre_hpc.benchcompare import cannot_be_significant, run_order, table_rows

    assert run_order("a", "b", 3) == ["a", "b", "b", "a", "a", "b"]
    # asv's Mann-Whitney test is used from 1/C(n,k) < 0.002 on, but its smallest two-sided
    # p-value is twice that: these counts can never be significant
    assert cannot_be_significant(6, 6) and cannot_be_significant(5, 7)
    assert not cannot_be_significant(5, 5)  # confidence intervals decide
    assert not cannot_be_significant(7, 7)  # the test can reach p < 0.002
    from asv._stats import mann_whitney_u

    assert mann_whitney_u([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])[1] >= 0.002
    assert mann_whitney_u(list(range(7)), list(range(10, 17)))[1] < 0.002
    rows = table_rows(
        "| Change   | Before [a] <x>   | After [b] <y>   | Ratio   | Benchmark (Parameter)   |\n"
        "|----------|------------------|-----------------|---------|-------------------------|\n"
        "| +        | 79.1±2ms         | 161±2ms         | 2.04    | m.C.time_x('a', 1)      |\n"
        "| -        | 2.00s            | 1.00s           | 0.50    | m.C.time_y              |\n"
    )
    assert [(r["mark"], r["benchmark"]) for r in rows] == [("+", "m.C.time_x('a', 1)"), ("-", "m.C.time_y")]
