"""``genre-hpc bench-backfill`` for real, on two commits at the quick scale into a temporary
results folder (the throw-away probe repository of ``tests/_throwaway.py``).

``base`` has the probe suite; ``newer`` (its child) adds a second benchmark. Backfilling
``newer`` first and then ``base`` (older, without the second benchmark) checks the merge of
``benchmarks.json``: the newest commit's suite must stay described.
"""

from __future__ import annotations

import json

import pytest
from _throwaway import BENCH, commit_on, genre_hpc, git, make_probe_repo

MACHINE = "backfill-test-box"

NEWER_BENCH = (
    BENCH
    + """
    def time_work_again(self):
        self.work()
"""
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = make_probe_repo(tmp_path_factory.mktemp("backfill"))
    commit_on(repo, "newer", "base", {"benchmarks/bench_probe.py": NEWER_BENCH}, "newer: a second benchmark")
    return repo


def backfill(repo, results, *args):
    return genre_hpc(
        repo,
        "bench-backfill",
        *args,
        "--machine",
        MACHINE,
        "--results-dir",
        results,
        "--scale",
        "quick",
        "--json",
    )


def rows(proc) -> list[dict]:
    return json.loads(proc.stdout.strip().splitlines()[-1])["commits"]


@pytest.mark.slow
def test_backfill_two_commits(repo, tmp_path):
    """Each commit with its own suite (``--suite own``)."""
    from asv.results import iter_results_for_machine_and_hash

    results = tmp_path / "results"
    base, newer = git(repo, "rev-parse", "base"), git(repo, "rev-parse", "newer")
    # the newest first, then the older one: the range base~1..newer would do both in order
    first = backfill(repo, results, "newer", "--suite", "own")
    assert first.returncode == 0, first.stdout + first.stderr
    second = backfill(repo, results, "origin-head..newer", "--suite", "own")
    assert second.returncode == 0, second.stdout + second.stderr
    assert [(r["commit"], r["action"]) for r in rows(second)] == [(base, "recorded"), (newer, "skipped")]
    assert "already recorded, skipped" in second.stderr
    assert "recorded in" in second.stderr  # the time each commit took
    assert rows(second)[0]["seconds"] > 0

    machine = json.loads((results / MACHINE / "machine.json").read_text())
    assert machine["machine"] == MACHINE and machine["num_cpu"]
    for sha, names in ((base, {"time_work"}), (newer, {"time_work", "time_work_again"})):
        (res,) = iter_results_for_machine_and_hash(str(results), MACHINE, sha)
        assert res.commit_hash == sha
        recorded = {k.rsplit(".", 1)[1] for k in res.get_all_result_keys()}
        assert recorded == names
        assert res.get_result_value("bench_probe.Probe.time_work", [])[0] > 0
    # the older commit's run did not drop the newer suite's benchmark from benchmarks.json
    described = json.loads((results / "benchmarks.json").read_text())
    assert {"bench_probe.Probe.time_work", "bench_probe.Probe.time_work_again"} <= set(described)

    again = backfill(repo, results, "origin-head..newer")
    assert again.returncode == 0 and [r["action"] for r in rows(again)] == ["skipped", "skipped"]
    assert "asv run" not in again.stderr
    # the repository's own results/ and the worktrees are untouched
    assert git(repo, "status", "--porcelain") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1


@pytest.mark.slow
def test_backfill_with_one_suite(repo, tmp_path):
    """The default: one suite (here ``newer``'s) on every commit, as asv runs a range, so the
    older commit gets the newer benchmark too, with the same benchmark versions (asv draws a
    result only when its version is the suite's); the code measured is still the commit's."""
    from asv.results import iter_results_for_machine_and_hash

    results = tmp_path / "results"
    base = git(repo, "rev-parse", "base")
    proc = backfill(repo, results, "base", "--suite", "newer")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the benchmarks of" in proc.stderr
    (res,) = iter_results_for_machine_and_hash(str(results), MACHINE, base)
    assert {k.rsplit(".", 1)[1] for k in res.get_all_result_keys()} == {"time_work", "time_work_again"}
    described = json.loads((results / "benchmarks.json").read_text())
    for name in ("bench_probe.Probe.time_work", "bench_probe.Probe.time_work_again"):
        assert res.benchmark_version[name] == described[name]["version"]
        assert res.get_result_samples(name, [])[0]  # raw samples, as make bench keeps them
    assert git(repo, "status", "--porcelain") == "" and len(git(repo, "worktree", "list").splitlines()) == 1
    bad = backfill(repo, tmp_path / "results2", "base", "--suite", "no-such-rev")
    assert bad.returncode == 2 and "no-such-rev" in bad.stderr


def test_dry_run_and_bad_ranges(repo, tmp_path):
    proc = backfill(repo, tmp_path / "results", "origin-head..newer", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert [r["action"] for r in rows(proc)] == ["would run", "would run"]
    assert not list((tmp_path / "results").glob(f"{MACHINE}/*-*.json"))
    empty = backfill(repo, tmp_path / "results", "newer..newer")
    assert empty.returncode == 2 and "holds no commit" in empty.stderr
    bad = backfill(repo, tmp_path / "results", "nope..newer")
    assert bad.returncode == 2 and "nope..newer" in bad.stderr


def test_another_host_is_refused_under_a_recorded_machine(repo, tmp_path):
    """Results of another CPU filed under a recorded machine name would not extend its history
    (asv files results under the CPU too) and would overwrite its machine.json: refused, with
    the fields that differ, unless asked for."""
    from genre_hpc.benchruns import host_differences

    results = tmp_path / "results"
    (results / MACHINE).mkdir(parents=True)
    recorded = {"machine": MACHINE, "cpu": "Some Other CPU @ 9.99GHz", "num_cpu": "2", "arch": "x86_64"}
    (results / MACHINE / "machine.json").write_text(json.dumps(recorded))
    this = {"cpu": "Intel(R) Xeon(R) Processor @ 2.80GHz", "num_cpu": "2", "arch": "x86_64", "os": "Linux x"}
    assert host_differences(results, MACHINE, this) == {"cpu": ("Some Other CPU @ 9.99GHz", this["cpu"])}
    assert host_differences(results, MACHINE, {**this, "cpu": recorded["cpu"], "os": "Linux y"}) == {}
    assert host_differences(results, "never-recorded", this) == {}

    proc = backfill(repo, results, "newer", "--dry-run")
    assert proc.returncode == 2 and "another host" in proc.stderr and "Some Other CPU" in proc.stderr
    assert "--allow-other-host" in proc.stderr
    allowed = backfill(repo, results, "origin-head..newer", "--dry-run", "--allow-other-host")
    assert allowed.returncode == 0, allowed.stderr
    assert [r["action"] for r in rows(allowed)] == ["would run", "would run"]
    assert json.loads((results / MACHINE / "machine.json").read_text()) == recorded  # untouched


def test_run_reference_script_checks_the_host_first(tmp_path):
    """``benchmarks/run_reference.sh`` runs its host check before anything else: it goes on for
    a machine name never recorded, stops (naming the CPU) for one recorded on another CPU, and
    goes on with ALLOW_OTHER_HOST=1. A fake asv stands in for the rest of the script."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "benchmarks").mkdir()
    script = tmp_path / "benchmarks" / "run_reference.sh"
    shutil.copy(repo / "benchmarks" / "run_reference.sh", script)
    fake_asv = tmp_path / "fake-asv"
    fake_asv.write_text("#!/bin/sh\necho ASV CALLED >&2\nexit 3\n")
    fake_asv.chmod(0o755)
    (tmp_path / "results" / "old-box").mkdir(parents=True)
    (tmp_path / "results" / "old-box" / "machine.json").write_text(
        json.dumps(
            {"machine": "old-box", "cpu": "Some Other CPU @ 9.99GHz", "num_cpu": "2", "arch": "x86_64"}
        )
    )

    def run(machine, **env):
        return subprocess.run(
            ["bash", str(script), machine],
            env={**os.environ, "ASV": str(fake_asv), "PY": sys.executable, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    new = run("never-recorded-box")
    assert new.returncode == 3 and "ASV CALLED" in new.stderr, new.stderr
    other = run("old-box")
    assert other.returncode == 1 and "ASV CALLED" not in other.stderr
    assert (
        "another host" in other.stderr
        and "Some Other CPU" in other.stderr
        and "ALLOW_OTHER_HOST=1" in other.stderr
    )
    allowed = run("old-box", ALLOW_OTHER_HOST="1")
    assert allowed.returncode == 3 and "ASV CALLED" in allowed.stderr


def test_host_check_without_its_arguments_says_how_to_call_it(capsys):
    """``python -m genre_hpc.benchruns`` needs RESULTS_DIR and MACHINE: usage and exit 2, not a
    traceback."""
    from genre_hpc.benchruns import check_host_main

    assert check_host_main([]) == 2
    assert "usage: python -m genre_hpc.benchruns RESULTS_DIR MACHINE" in capsys.readouterr().err


def test_merge_benchmarks():
    from genre_hpc.backfill import merge_benchmarks

    old = {"a": {"unit": "seconds", "v": 1}, "b": {"unit": "x"}, "version": 2}
    new = {"a": {"unit": "seconds", "v": 2}, "c": {"unit": "bytes"}, "version": 2}
    merged = merge_benchmarks(older=old, newer=new)
    assert merged == {
        "a": {"unit": "seconds", "v": 2},
        "b": {"unit": "x"},
        "c": {"unit": "bytes"},
        "version": 2,
    }
