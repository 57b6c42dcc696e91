"""The asv suite with the real asv: ``asv check``, a quick run of a small subset into a
temporary results folder, ``asv publish``; plus the suite's own helpers (profile, workers,
memory sampler).

asv keeps machine descriptions in ``~/.asv-machine.json``: every asv command here runs with
``HOME`` set to a temporary folder, and results and HTML go to ``tmp_path``, so the repository's
``results/`` and the user's home are never touched.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ASV = BIN / "asv"
MACHINE = "genre-hpc-test-box"

#: the subset run by asv: extraction on serial x1 and pool-map x1 (the default, fast extractor),
#: the impossible serial x2, one classifier, and a work-size record
SUBSET = [
    r"TimeExtractFast\.[a-z_]+\('(serial|pool-map)', 1, 'fast'\)",
    r"TimeExtractFast\.time_run\('serial', 2, 'fast'\)",
    r"Models\.[a-z_]+\('knn'\)",
    r"Workload\.track_stage_chunks",
]


def asv_env(home: Path, **extra) -> dict:
    """The environment of the asv commands: a private HOME, the quick scale, and this checkout's
    code in the benchmark processes (asv drops ``PYTHONPATH`` and passes ``ASV_PYTHONPATH``, so a
    worktree beside an editable install of another checkout is the one measured)."""
    paths = [str(REPO)] + [p for p in os.environ.get("ASV_PYTHONPATH", "").split(os.pathsep) if p]
    return {
        **os.environ,
        "ASV_PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)),
        "HOME": str(home),
        "GENRE_HPC_BENCH_SCALE": "quick",
        "MPLBACKEND": "Agg",
        "PYTHONWARNINGS": "ignore",
        **extra,
    }


def run(cmd, env, timeout=600, check=True):
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd} -> exit {proc.returncode}\nstdout:\n{proc.stdout[-6000:]}\nstderr:\n{proc.stderr[-6000:]}"
        )
    return proc


def head_commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def tmp_config(tmp_path: Path) -> Path:
    """The repository's asv.conf.json with results, HTML and environments inside ``tmp_path``.

    asv resolves relative paths from the configuration file's folder, so the repository and
    the benchmarks are given as absolute paths; ``branches`` is HEAD so that a detached
    checkout (CI) works too.
    """
    conf = json.loads((REPO / "asv.conf.json").read_text())
    conf.update(
        repo=str(REPO),
        benchmark_dir=str(REPO / conf["benchmark_dir"]),
        results_dir=str(tmp_path / "results"),
        html_dir=str(tmp_path / "html"),
        env_dir=str(tmp_path / "env"),
        branches=["HEAD"],
    )
    path = tmp_path / "asv.conf.json"
    path.write_text(json.dumps(conf, indent=2))
    return path


# --- the configuration ------------------------------------------------------------------------


def test_config_is_what_the_suite_needs():
    conf = json.loads((REPO / "asv.conf.json").read_text())
    assert conf["project"] == "genre-hpc" and conf["repo"] == "." and conf["branches"] == ["main"]
    assert conf["environment_type"] == "virtualenv" and conf["pythons"] == ["3.11"]
    assert conf["benchmark_dir"] == "benchmarks" and conf["results_dir"] == "results"
    assert conf["html_dir"] == ".asv/html" and conf["launch_method"] == "spawn"
    assert any("[dask,ipp,tf]" in c for c in conf["install_command"])


@pytest.mark.slow
def test_asv_check(tmp_path):
    proc = run([ASV, "check", "--python=same"], asv_env(tmp_path))
    assert "No problems found" in proc.stdout + proc.stderr


# --- a real run ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def asv_run(tmp_path_factory):
    """``asv run`` of :data:`SUBSET` at the quick scale (its own samples: not ``--quick``, which
    takes one) into a temporary results folder, then ``asv publish``."""
    tmp = tmp_path_factory.mktemp("asv")
    home = tmp / "home"
    home.mkdir()
    # keep the cells' records and trace every timed map (the suite's two settings for that)
    env = asv_env(
        home, GENRE_HPC_BENCH_RECORDS=str(tmp / "records"), GENRE_HPC_BENCH_TRACE=str(tmp / "traces")
    )
    conf = tmp_config(tmp)
    commit = head_commit()
    run([ASV, "machine", "--yes", "--config", conf], env)  # this host's description ...
    run([ASV, "machine", "--yes", "--machine", MACHINE, "--config", conf], env)  # ... under the test's name
    t0 = time.perf_counter()
    proc = run(
        [
            ASV,
            "run",
            "--config",
            conf,
            "--python=same",
            "--record-samples",
            "--set-commit-hash",
            commit,
            "--machine",
            MACHINE,
            "--launch-method",
            "spawn",
            "--show-stderr",
            *[a for r in SUBSET for a in ("--bench", r)],
        ],
        env,
        check=False,
    )
    took = time.perf_counter() - t0
    publish = run([ASV, "publish", "--config", conf], env, check=False)
    return {
        "tmp": tmp,
        "home": home,
        "conf": conf,
        "commit": commit,
        "run": proc,
        "publish": publish,
        "seconds": took,
        "env": env,
    }


def _result_file(asv_run) -> dict:
    from asv.results import Results

    files = sorted((asv_run["tmp"] / "results" / MACHINE).glob(f"{asv_run['commit'][:8]}-*.json"))
    assert len(files) == 1, files
    return Results.load(str(files[0]))


def _value(results, name, params):
    """The value of ``name`` at the parameter tuple ``params`` (repr strings)."""
    import itertools

    keys = list(itertools.product(*results.get_result_params(name)))
    return results.get_result_value(name, results.get_result_params(name))[keys.index(tuple(params))]


@pytest.mark.slow
def test_run_saves_results(asv_run):
    proc = asv_run["run"]
    assert proc.returncode == 0, f"asv run failed:\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"
    assert (asv_run["home"] / ".asv-machine.json").is_file()
    machine = json.loads((asv_run["tmp"] / "results" / MACHINE / "machine.json").read_text())
    assert machine["machine"] == MACHINE and machine["num_cpu"] and machine["cpu"]
    res = _result_file(asv_run)
    assert res.commit_hash == asv_run["commit"]
    names = set(res.get_all_result_keys())
    for bench in ("time_run", "track_speedup", "track_efficiency", "track_startup", "track_peak_worker_rss"):
        assert f"bench_extract.TimeExtractFast.{bench}" in names
    assert {
        "bench_pipeline.Models.time_fit",
        "bench_pipeline.Models.time_predict",
        "bench_pipeline.Models.track_accuracy",
        "bench_env.Workload.track_stage_chunks",
    } <= names
    bench = json.loads((asv_run["tmp"] / "results" / "benchmarks.json").read_text())
    assert bench["bench_extract.TimeExtractFast.track_speedup"]["unit"] == "x"
    assert bench["bench_extract.TimeExtractFast.track_efficiency"]["unit"] == "ratio"
    assert bench["bench_extract.TimeExtractFast.track_peak_worker_rss"]["unit"] == "bytes"
    assert bench["bench_extract.TimeExtractFast.time_run"]["param_names"] == [
        "backend",
        "workers",
        "extractor",
    ]


@pytest.mark.slow
def test_stage_values(asv_run):
    res = _result_file(asv_run)
    serial = ("'serial'", "1", "'fast'")
    pool = ("'pool-map'", "1", "'fast'")
    t_serial = _value(res, "bench_extract.TimeExtractFast.time_run", serial)
    t_pool = _value(res, "bench_extract.TimeExtractFast.time_run", pool)
    assert t_serial > 0 and t_pool > 0
    s = _value(res, "bench_extract.TimeExtractFast.track_speedup", pool)
    e = _value(res, "bench_extract.TimeExtractFast.track_efficiency", pool)
    assert 0 < s < 5 and e == pytest.approx(s / 1)  # one worker: efficiency = speed-up
    assert _value(res, "bench_extract.TimeExtractFast.track_startup", pool) > 0
    assert (
        _value(res, "bench_extract.TimeExtractFast.track_peak_worker_rss", pool) > 50e6
    )  # a worker with numpy+librosa
    # the baseline itself has no speed-up, and in-process backends no worker memory:
    # skipped (n/a), not invented
    assert math.isnan(_value(res, "bench_extract.TimeExtractFast.track_speedup", serial))
    assert math.isnan(_value(res, "bench_extract.TimeExtractFast.track_peak_worker_rss", serial))
    # an impossible combination is skipped, not run as something else
    assert math.isnan(_value(res, "bench_extract.TimeExtractFast.time_run", ("'serial'", "2", "'fast'")))
    assert re.search(
        r"skipped: NotImplementedError\(.[^)]*serial[^)]*exactly 1 worker", asv_run["run"].stdout
    )
    assert _value(res, "bench_env.Workload.track_stage_chunks", ()) == 10  # quick: 10 tracks x one 3 s chunk


@pytest.mark.slow
def test_every_time_benchmark_has_a_finite_interval(asv_run):
    """Every time_* value asv saved has a finite 99 % interval: two or more samples, here from
    the profile's rounds (separate benchmark processes) or its serial repeats."""
    res = _result_file(asv_run)
    timed = [n for n in res.get_all_result_keys() if n.split(".")[-1].startswith("time_")]
    assert {"bench_extract.TimeExtractFast.time_run", "bench_pipeline.Models.time_fit"} <= set(timed)
    measured = 0
    for name in timed:
        params = res.get_result_params(name)
        for value, stats in zip(res.get_result_value(name, params), res.get_result_stats(name, params)):
            if value is None or math.isnan(value):
                continue  # skipped cells (serial x2) and cells outside the subset
            measured += 1
            assert stats is not None and stats["repeat"] >= 2, (name, stats)
            assert math.isfinite(stats["ci_99_a"]) and math.isfinite(stats["ci_99_b"]), (name, stats)
    assert measured >= 4


@pytest.mark.slow
def test_records_pool_the_rounds(asv_run):
    """The cell's record (kept with GENRE_HPC_BENCH_RECORDS) pools the runs and baselines of
    both benchmark processes (the quick profile's rounds) into the speed-up and its bootstrap
    interval, and the track_* values asv saved are the record's."""
    rec = json.loads((asv_run["tmp"] / "records" / "TimeExtractFast-pool-map-x1-fast.json").read_text())
    assert rec["rounds"] == 2 and len(rec["processes"]) == 2
    assert rec["runs"] == 2 and rec["baseline_runs"] == 2 and rec["identical"] is True
    lo, hi = rec["speedup_ci"]
    assert math.isfinite(lo) and math.isfinite(hi) and lo <= rec["speedup"] <= hi
    assert rec["efficiency_ci"] == pytest.approx([lo, hi])  # one worker: efficiency = speed-up
    res = _result_file(asv_run)
    pool = ("'pool-map'", "1", "'fast'")
    assert _value(res, "bench_extract.TimeExtractFast.track_speedup", pool) == pytest.approx(rec["speedup"])
    assert _value(res, "bench_extract.TimeExtractFast.track_startup", pool) == pytest.approx(rec["startup_s"])
    assert len(rec["startup_runs_s"]) == 2  # one session (workers started once) per process
    serial = json.loads((asv_run["tmp"] / "records" / "TimeExtractFast-serial-x1-fast.json").read_text())
    assert serial["speedup"] is None and serial["runs"] == 2  # the baseline has no speed-up


@pytest.mark.slow
def test_traced_benchmark_runs(asv_run):
    """With GENRE_HPC_BENCH_TRACE every timed map is traced: all items, each on one worker,
    start <= end, and the task-stream picture of each benchmark process."""
    folder = asv_run["tmp"] / "traces"
    files = sorted(folder.glob("TimeExtractFast-pool-map-x1-fast-*-trace.json"))
    assert len(files) == 2  # one per benchmark process
    for f in files:
        (trace,) = json.loads(f.read_text())["traces"]
        items = trace["items"]
        assert sorted(it["index"] for it in items) == list(range(10))  # the quick profile's 10 tracks
        assert all(it["start"] <= it["end"] for it in items)
        assert len({it["worker"] for it in items}) == 1 and items[0]["worker"].startswith("pid ")
        assert f.with_name(f.name.replace("-trace.json", "-trace.png")).is_file()


@pytest.mark.slow
def test_recorded_accuracy_is_the_real_one(asv_run):
    """The accuracy asv recorded, recomputed here on the same data, split and model."""
    import benchmarks.common as common
    from genre_hpc.extract import extract_features
    from genre_hpc.models import evaluate, make_pipeline, split_indices, table_to_dataset

    recorded = _value(_result_file(asv_run), "bench_pipeline.Models.track_accuracy", ("'knn'",))
    # the asv run rendered the data and cached its features in this session's cache (GENRE_HPC_CACHE)
    root = common.dataset_root(common.profile("quick"), models=True)
    res = extract_features(root, extractor="fast", backend="serial", cache=True, progress=False)
    assert res.cache_hits == res.n_tracks > 0 and not res.failures  # nothing extracted again
    ds = table_to_dataset(res.table)
    train, test = split_indices(ds, "track")
    knn = evaluate(make_pipeline("knn", "quick", n_jobs=1), ds, train, test, "knn")
    assert recorded == pytest.approx(knn.track_accuracy)
    # its lower-is-better twin, what asv's Regressions page can flag
    error = _value(_result_file(asv_run), "bench_pipeline.Models.track_error", ("'knn'",))
    assert error == pytest.approx(1 - knn.track_accuracy)


@pytest.mark.slow
def test_publish(asv_run):
    assert asv_run["publish"].returncode == 0, asv_run["publish"].stderr
    html = asv_run["tmp"] / "html"
    assert (html / "index.html").is_file()
    index = json.loads((html / "index.json").read_text())
    assert "bench_extract.TimeExtractFast.track_speedup" in index["benchmarks"]
    graphs = {p.name for p in (html / "graphs").rglob("*.json")}
    assert "bench_extract.TimeExtractFast.time_run.json" in graphs
    assert "bench_pipeline.Models.track_accuracy.json" in graphs


@pytest.mark.slow
def test_compare_machines_on_a_real_run(asv_run, tmp_path):
    out = tmp_path / "cmp"
    proc = subprocess.run(
        [
            str(BIN / "genre-hpc"),
            "compare-machines",
            str(asv_run["tmp"] / "results"),
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=asv_run["env"],
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [m["machine"] for m in data["machines"]] == [MACHINE]
    rows = [r for r in data["scaling"] if r["backend"] == "pool-map"]
    assert rows and rows[0][f"{MACHINE} speedup"] > 0
    assert (out / "index.html").is_file() and list(out.glob("scaling-*.png"))


# --- the suite's helpers, in this process ---------------------------------------------------------


@pytest.fixture
def common(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import benchmarks.common as common

    return common


def test_profiles_and_workers(common, monkeypatch):
    monkeypatch.delenv(common.WORKERS_ENV, raising=False)
    assert common.profile("quick").per_genre == 1
    assert common.profile("DEFAULT").name == "default"
    with pytest.raises(ValueError, match="quick, default, large"):
        common.profile("huge")
    assert common.worker_counts(common.profile("default")) == [1, 2]
    large = common.worker_counts(common.profile("large"))
    assert large[0] == 1 and all(b == 2 * a for a, b in zip(large, large[1:]))
    monkeypatch.setenv(common.WORKERS_ENV, "4, 1,2,2")
    assert common.worker_counts() == [1, 2, 4]
    for bad in ("0,1", "two"):
        monkeypatch.setenv(common.WORKERS_ENV, bad)
        with pytest.raises(ValueError, match=common.WORKERS_ENV):
            common.worker_counts()


def _min_p_two_sided(n: int, m: int) -> float:
    """The smallest two-sided p-value asv's Mann-Whitney U test can give at n vs m samples."""
    return 2.0 / math.comb(n + m, min(n, m))


def test_profiles_sample_enough(common):
    """Every profile gives every time_* benchmark 2+ samples (a finite interval); outside the
    quick check the pull-request selection (the fast extractor's stage, the serial feature
    benchmarks) and the serial benchmarks take them from 2+ processes (an interval that sees
    the between-process spread), and the selection gets enough per side for asv's Mann-Whitney
    test to reach p < 0.002 at the default scale."""
    for prof in common.PROFILES.values():
        assert prof.rounds * prof.repeat[0] >= 2 and prof.serial_rounds * prof.serial_repeat[0] >= 2
        assert prof.pr_rounds * prof.pr_repeat[0] >= 2 and prof.rounds * prof.heavy_repeat[0] >= 2
        if prof.name != "quick":  # the pull-request selection: samples from 2+ processes
            assert prof.pr_rounds >= 2 and prof.pr_serial_rounds >= 2 and prof.serial_rounds >= 2
    default = common.profile("default")
    for per_side in (
        default.pr_rounds * default.pr_repeat[0],
        default.pr_serial_rounds * default.serial_repeat[0],
    ):
        assert per_side >= 8 and _min_p_two_sided(per_side, per_side) < 0.002
    # the sample counts at which asv can never flag (docs/benchmarks.md): 6 vs 6, 5 vs 7, 4 vs 9
    assert all(_min_p_two_sided(n, m) > 0.002 for n, m in ((6, 6), (5, 7), (4, 9)))


def test_two_baseline_runs_per_cell(common, monkeypatch):
    """Every stage cell gets 2+ baseline runs over its processes, so its speed-up has a
    bootstrap interval: 2 in a class of one process (the default scale's), 1 per process in
    one of two or more (the pull-request selection's), an explicit count as given."""
    from benchmarks.bench_extract import TimeExtract, TimeExtractFast

    for cls in (TimeExtract, TimeExtractFast):
        assert cls.rounds * cls.baseline_runs_per_process() >= 2
    monkeypatch.setattr(TimeExtract, "rounds", 1)
    assert TimeExtract.baseline_runs_per_process() == 2
    monkeypatch.setattr(TimeExtract, "rounds", 3)
    assert TimeExtract.baseline_runs_per_process() == 1
    monkeypatch.setattr(TimeExtract, "baseline_runs", 3)
    assert TimeExtract.baseline_runs_per_process() == 3


def test_profile_datasets(common):
    """The datasets a profile names: the stage work, the reference extractor's smaller set, the
    classifiers' set and the training stage's ten thousand chunks at the default scale."""
    default = common.profile("default")
    assert default.data("stages") == (5, 30.0) and default.data("reference") == (1, 6.5)
    assert default.data("train")[0] * 10 * int(default.data("train")[1] // 3) >= 10_000
    quick = common.profile("quick")
    assert quick.data("reference") == quick.data("stages")  # falls back to the stage set
    assert quick.data("train") == quick.data("models")
    with pytest.raises(ValueError, match="unknown dataset"):
        default.data("everything")


def test_merged_record_pools_processes(common):
    """Two benchmark processes' runs and baselines give one speed-up with its bootstrap interval
    (the measurement core's), the median start-up and the largest peak memory."""
    from genre_hpc.stages import get_stage

    stage = get_stage("extract")
    entry = {"startup_s": 0.2, "peak_worker_rss": 100, "worker_processes": 2, "identical": True}
    rec = common.merged_record(
        stage,
        {"backend": "pool-map", "workers": 2},
        {
            "1": {**entry, "compute_runs_s": [1.0, 1.1], "baseline_runs_s": [2.0]},
            "2": {
                **entry,
                "compute_runs_s": [1.05],
                "baseline_runs_s": [2.1],
                "startup_s": 0.4,
                "peak_worker_rss": 300,
            },
        },
    )
    assert rec["rounds"] == 2 and rec["runs"] == 3 and rec["baseline_runs"] == 2
    assert rec["speedup"] == pytest.approx(2.05 / 1.05) and rec["efficiency"] == pytest.approx(
        rec["speedup"] / 2
    )
    lo, hi = rec["speedup_ci"]
    assert lo <= rec["speedup"] <= hi and math.isfinite(lo)
    assert rec["startup_s"] == pytest.approx(0.3) and rec["peak_worker_rss"] == 300
    alone = common.merged_record(
        stage,
        {"backend": "serial", "workers": 1},
        {"1": {**entry, "compute_runs_s": [1.0], "baseline_runs_s": []}},
    )
    assert alone["speedup"] is None and "speedup_ci" not in alone


def test_skip_reasons(common):
    """The suite asks the stage (``stage.skip``): the backends' answer, and the grid's."""
    from benchmarks.bench_extract import TimeExtract
    from benchmarks.bench_train import TimeTrain

    extract, train = TimeExtract(), TimeTrain()
    cell = {"backend": "serial", "workers": 2, "extractor": "reference"}
    assert "exactly 1 worker" in extract.runnable_reason(cell)
    assert extract.runnable_reason({**cell, "workers": 1}) is None
    assert extract.runnable_reason({**cell, "backend": "pool-map"}) is None
    assert "whatever the worker count" in extract.runnable_reason({**cell, "backend": "dask-synchronous"})
    assert "not available" in extract.runnable_reason({**cell, "workers": 1, "extractor": "no-such"})
    assert train.runnable_reason({"mode": "knn-threads", "threads": 2}) is None


def test_grids(common, monkeypatch):
    """The core grid keeps every backend at the top worker count, the baselines and the
    1-worker-only backends; the full grid keeps every runnable cell."""
    from benchmarks.bench_extract import TimeExtract, TimeExtractFast
    from benchmarks.bench_train import TimeTrain

    monkeypatch.delenv(common.GRID_ENV, raising=False)
    assert [common.profile(n).grid for n in ("quick", "default", "large")] == ["full", "core", "full"]
    monkeypatch.setenv(common.GRID_ENV, "sideways")
    with pytest.raises(ValueError, match=common.GRID_ENV):
        common.grid()

    extract, train = TimeExtract(), TimeTrain()
    top = max(TimeExtractFast.params[1])
    cell = {"backend": "pool-map", "workers": 1, "extractor": "reference"}
    monkeypatch.setenv(common.GRID_ENV, "core")
    assert "core grid" in extract.skip_reason(cell)
    assert extract.skip_reason({**cell, "workers": top}) is None
    assert extract.skip_reason({**cell, "backend": "serial"}) is None  # the baseline
    assert "exactly 1 worker" in extract.skip_reason({**cell, "backend": "serial", "workers": top})
    assert extract.skip_reason({**cell, "backend": "dask-synchronous"}) is None  # has no 2-worker run
    assert train.skip_reason({"mode": "xgb-threads", "threads": 1}) is None  # train's baseline
    assert train.skip_reason({"mode": "knn-threads", "threads": 1}) is None  # each mode is its own baseline
    assert common.variant_backends() == list(common.FAMILY_BACKENDS)
    from genre_hpc.scaling import physical_cores

    assert common.thread_counts((1, 2, 4, 1024)) == [t for t in (1, 2, 4) if t <= max(2, physical_cores())]

    monkeypatch.setenv(common.GRID_ENV, "full")
    assert extract.skip_reason(cell) is None
    from benchmarks.bench_extract import TimeExtractFastBackends

    every = TimeExtractFast.params[0] + TimeExtractFastBackends.params[0]
    assert len(common.variant_backends()) == len(every)
    assert common.thread_counts((1, 2, 4)) == [1, 2, 4]


def test_parameters_are_the_stages_axes(common):
    """asv's parameters are the stage's named axes, then the work parameters: nothing encoded."""
    from benchmarks.bench_cnn import TimeCnn
    from benchmarks.bench_extract import PR_BACKENDS, TimeExtract, TimeExtractFast, TimeExtractFastBackends
    from benchmarks.bench_train import TimeTrain, TimeTune
    from genre_hpc.backends import backend_names

    fast, others = TimeExtractFast, TimeExtractFastBackends
    assert fast.param_names == others.param_names == ["backend", "workers", "extractor"]
    assert TimeExtract.param_names == fast.param_names
    assert fast.params[2] == others.params[2] == ["fast"] and TimeExtract.params[2] == ["reference"]
    # the default extractor on every backend (the pull-request selection's two in their own
    # class, with more processes); the reference one on the grid's variant backends
    assert fast.params[0] == list(PR_BACKENDS)
    assert sorted(fast.params[0] + others.params[0]) == sorted(backend_names())
    assert fast.rounds == common.PROFILE.pr_rounds and others.rounds == common.PROFILE.rounds
    assert set(TimeExtract.params[0]) <= set(backend_names()) and "process" in TimeExtract.params[0]
    assert TimeTrain.param_names == ["mode", "threads"] and TimeTune.param_names == ["backend", "workers"]
    assert TimeCnn.param_names == ["intra_op", "inter_op", "omp"] and TimeCnn.params[2] == [1]
    cnn = TimeCnn()
    assert cnn._is_baseline({"intra_op": 1, "inter_op": 1, "omp": 1})
    assert not cnn._is_baseline({"intra_op": 2, "inter_op": 1, "omp": 1})
    with pytest.raises(TypeError, match="TimeExtract"):  # the naming rule compare-machines relies on

        class TimeTrainer(common.StageBenchmark):
            stage_name = "extract"


def test_memo_shares_through_the_scratch_folder(common, tmp_path):
    calls = []
    value = common.memo(tmp_path, "work-x", {"a": 1}, lambda: calls.append(1) or {"made": True})
    common._MEMO.clear()  # a new benchmark process
    again = common.memo(tmp_path, "work-x", {"a": 1}, lambda: calls.append(1) or {"made": False})
    assert value == again == {"made": True} and calls == [1]
    assert common.memo(tmp_path, "work-x", {"a": 2}, lambda: "other") == "other"
