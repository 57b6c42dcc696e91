"""``genre-hpc compare-machines`` on asv results of several machines.

The result sets are written with asv's own API (``asv.machine.Machine``, ``asv.results.Results``,
``asv.runner.BenchmarkResult``), exactly as ``asv run`` stores them, with known values, so the
ratios and the derived speed-up / efficiency / Karp-Flatt numbers can be checked. (A real
``asv run`` feeds the command in tests/test_asv.py.)
"""

from __future__ import annotations

import csv
import datetime
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genre_hpc.scaling import karp_flatt

BIN = Path(sys.executable).parent / "genre-hpc"
NAN = float("nan")
BACKENDS = ["'serial'", "'pool-map'"]
WORKERS = ["1", "2"]
EXTRACTORS = ["'reference'"]
STAGE_PARAMS = [BACKENDS, WORKERS, EXTRACTORS]
STAGE_NAMES = ["backend", "workers", "extractor"]

META = {
    "bench_extract.TimeExtract.time_run": {
        "type": "time",
        "unit": "seconds",
        "params": STAGE_PARAMS,
        "param_names": STAGE_NAMES,
    },
    "bench_extract.TimeExtract.track_speedup": {
        "type": "track",
        "unit": "x",
        "params": STAGE_PARAMS,
        "param_names": STAGE_NAMES,
    },
    "bench_extract.TimeExtract.track_peak_worker_rss": {
        "type": "track",
        "unit": "bytes",
        "params": STAGE_PARAMS,
        "param_names": STAGE_NAMES,
    },
    "bench_pipeline.Models.time_fit": {
        "type": "time",
        "unit": "seconds",
        "params": [["'knn'", "'svm'"]],
        "param_names": ["model"],
    },
    "bench_env.Workload.track_stage_chunks": {
        "type": "track",
        "unit": "chunks",
        "params": [],
        "param_names": [],
    },
}
for _name, _m in META.items():
    _m.update(name=_name, version="1")


def stage(serial, pool1, pool2):
    """Values in parameter order: (serial, pool-map) x (1, 2) workers, reference extractor."""
    return [serial, NAN, pool1, pool2]


REF = {  # 2 cores: speed-up 1.8 at 2 workers
    "bench_extract.TimeExtract.time_run": stage(10.0, 11.0, 6.0),
    "bench_extract.TimeExtract.track_speedup": stage(NAN, 0.95, 1.8),
    "bench_extract.TimeExtract.track_peak_worker_rss": stage(NAN, 4e8, 8e8),
    "bench_pipeline.Models.time_fit": [0.02, 0.5],
    "bench_env.Workload.track_stage_chunks": [20.0],
}
BIG = {  # twice as fast, better scaling
    "bench_extract.TimeExtract.time_run": stage(5.0, 5.5, 2.8),
    "bench_extract.TimeExtract.track_speedup": stage(NAN, 0.97, 1.9),
    "bench_extract.TimeExtract.track_peak_worker_rss": stage(NAN, 4e8, 8e8),
    "bench_pipeline.Models.time_fit": [0.01, 0.25],
    "bench_env.Workload.track_stage_chunks": [20.0],
}


def write_machine(
    results_dir: Path,
    machine: str,
    commit: str,
    values: dict,
    *,
    num_cpu="2",
    started: datetime.datetime | None = None,
    meta=META,
    samples: dict | None = None,
) -> None:
    """One machine's results for one commit, saved the way ``asv run`` saves them."""
    from asv import util
    from asv.benchmarks import Benchmarks
    from asv.machine import Machine
    from asv.results import Results
    from asv.runner import BenchmarkResult

    info = {
        "machine": machine,
        "os": "Linux 6.1",
        "arch": "x86_64",
        "cpu": f"Test CPU ({num_cpu} cores)",
        "num_cpu": num_cpu,
        "ram": str(8 * 2**30),
    }
    m = Machine()
    m.__dict__.update(info)
    m.save(str(results_dir))
    started = started or datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    res = Results(
        {**info, "python": "3.11"},
        {},
        commit,
        int(started.timestamp() * 1000),
        "3.11",
        "existing-py_test",
        {},
    )
    res.load_data(str(results_dir))
    for name, vals in values.items():
        b = meta[name]
        n = len(vals)
        timed = b["type"] == "time"
        out = BenchmarkResult(
            result=vals,
            samples=(samples or {}).get(name) or [[v] if timed and v == v else None for v in vals],
            number=[1 if timed and v == v else None for v in vals],
            errcode=0,
            stderr="",
            profile=None,
        )
        res.add_result(b, out, started_at=started, duration=1.0, record_samples=name in (samples or {}))
        assert n == len(list(itertools.product(*b["params"])))
    res.save(str(results_dir))
    util.write_json(Benchmarks.get_benchmark_file_path(str(results_dir)), meta, Benchmarks.api_version)


def cli(*args, check=True):
    proc = subprocess.run(
        [str(BIN), "compare-machines", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def last_json(proc) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def two_machines(tmp_path) -> Path:
    results = tmp_path / "results"
    write_machine(results, "ref-2core", "a" * 40, REF)
    write_machine(results, "big-8core", "a" * 40, BIG, num_cpu="8")
    return results


def row(rows, benchmark, params):
    (r,) = [r for r in rows if r["benchmark"] == benchmark and r["params"] == params]
    return r


def test_side_by_side_with_ratios(two_machines, tmp_path):
    out = tmp_path / "report"
    proc = cli(two_machines, "--machines", "ref-2core,big-8core", "--out", out, "--json")
    data = last_json(proc)
    assert [m["machine"] for m in data["machines"]] == ["ref-2core", "big-8core"]
    assert data["machines"][1]["num_cpu"] == "8" and data["machines"][0]["commit"] == "a" * 8
    rows = data["rows"]
    r = row(rows, "bench_extract.TimeExtract.time_run", "backend=pool-map, workers=2, extractor=reference")
    assert (r["ref-2core"], r["big-8core"]) == (6.0, 2.8)
    assert r["big-8core/ref-2core"] == pytest.approx(2.8 / 6.0)
    assert row(rows, "bench_pipeline.Models.time_fit", "model=svm")["big-8core/ref-2core"] == pytest.approx(
        0.5
    )
    assert row(rows, "bench_env.Workload.track_stage_chunks", "")["big-8core/ref-2core"] == 1.0
    # skipped everywhere (serial x2): no row
    assert not [r for r in rows if "backend=serial, workers=2" in r["params"]]
    # the human table goes to stderr, with both machines and the ratio column
    assert "ref-2core" in proc.stderr and "big-8core/ref-2core" in proc.stderr and "6 s" in proc.stderr
    assert not data["warnings"]


def test_speedup_efficiency_karp_flatt(two_machines, tmp_path):
    data = last_json(cli(two_machines, "--machines", "ref-2core,big-8core", "--json"))
    (r,) = [r for r in data["scaling"] if r["backend"] == "pool-map" and r["workers"] == 2]
    assert r["source"] == "track_speedup" and r["params"] == "extractor=reference"
    assert r["ref-2core speedup"] == pytest.approx(1.8) and r["big-8core speedup"] == pytest.approx(1.9)
    assert r["ref-2core efficiency"] == pytest.approx(0.9)
    assert r["ref-2core serial fraction"] == pytest.approx((1 / 1.8 - 1 / 2) / (1 - 1 / 2))
    assert r["big-8core serial fraction"] == pytest.approx(karp_flatt(1.9, 2))
    (one,) = [r for r in data["scaling"] if r["backend"] == "pool-map" and r["workers"] == 1]
    assert one["ref-2core serial fraction"] is None  # undefined at p = 1 (NaN -> null in JSON)
    assert not [r for r in data["scaling"] if r["backend"] == "serial"]  # the baseline is not a data point


def test_files(two_machines, tmp_path):
    out = tmp_path / "report"
    cli(two_machines, "--machines", "ref-2core,big-8core", "--out", out)
    with open(out / "comparison.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert {"benchmark", "params", "unit", "ref-2core", "big-8core", "big-8core/ref-2core"} <= set(table[0])
    assert len(table) == 3 + 2 + 2 + 2 + 1  # time_run 3, speed-up 2, memory 2, fit 2, chunks 1
    with open(out / "scaling.csv", newline="") as fh:
        scaling = list(csv.DictReader(fh))
    assert {"ref-2core speedup", "big-8core efficiency", "big-8core serial fraction"} <= set(scaling[0])
    pngs = sorted(out.glob("*.png"))
    assert {p.name for p in pngs} >= {
        "ratio-big-8core-vs-ref-2core.png",
        "scaling-bench_extract.TimeExtract-extractor-reference.png",
    }
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    page = (out / "index.html").read_text()
    assert "ref-2core" in page and "big-8core" in page and "big-8core/ref-2core" in page
    for p in pngs:
        assert f"src='{p.name}'" in page
    assert json.loads((out / "comparison.json").read_text())["machines"][0]["machine"] == "ref-2core"


def test_default_machines_and_latest_commit(tmp_path):
    results = tmp_path / "results"
    old = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    new = datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc)
    slow = {k: ([v * 3 for v in vals] if k.endswith("time_run") else vals) for k, vals in REF.items()}
    write_machine(results, "ref-2core", "b" * 40, slow, started=old)
    write_machine(results, "ref-2core", "c" * 40, REF, started=new)
    write_machine(results, "big-8core", "c" * 40, BIG, started=new)
    data = last_json(cli(results, "--json"))
    assert [m["machine"] for m in data["machines"]] == [
        "big-8core",
        "ref-2core",
    ]  # sorted; first is the reference
    r = row(
        data["rows"], "bench_extract.TimeExtract.time_run", "backend=serial, workers=1, extractor=reference"
    )
    assert r["ref-2core"] == 10.0 and r["ref-2core/big-8core"] == pytest.approx(2.0)  # the latest run
    older = last_json(cli(results, "--machines", "ref-2core", "--commit", "bbbb", "--json"))
    assert older["machines"][0]["commit"] == "b" * 8
    assert (
        row(
            older["rows"],
            "bench_extract.TimeExtract.time_run",
            "backend=serial, workers=1, extractor=reference",
        )["ref-2core"]
        == 30.0
    )


def test_speedup_from_times_when_not_tracked(tmp_path):
    results = tmp_path / "results"
    only_times = {k: v for k, v in REF.items() if k != "bench_extract.TimeExtract.track_speedup"}
    write_machine(results, "ref-2core", "a" * 40, only_times)
    data = last_json(cli(results, "--json"))
    (r,) = [r for r in data["scaling"] if r["backend"] == "pool-map" and r["workers"] == 2]
    assert r["source"] == "time_run" and r["ref-2core speedup"] == pytest.approx(10.0 / 6.0)


def test_different_work_is_flagged(two_machines):
    small = {**REF, "bench_env.Workload.track_stage_chunks": [10.0]}
    write_machine(two_machines, "quick-box", "a" * 40, small)
    proc = cli(two_machines, "--machines", "ref-2core,quick-box", "--json")
    assert "ran different work" in proc.stderr
    assert last_json(proc)["warnings"]


def test_errors(two_machines, tmp_path):
    proc = cli(two_machines, "--machines", "ref-2core,nope", check=False)
    assert proc.returncode == 2 and "nope" in proc.stderr and "big-8core" in proc.stderr
    proc = cli(two_machines, "--commit", "ffff", check=False)
    assert proc.returncode == 2 and "no results for commit ffff" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(empty, check=False).returncode == 2
    assert cli(tmp_path / "missing", check=False).returncode == 2


def test_help():
    assert "--machines" in cli("--help").stdout


def _meta(name, params, names, unit="x", kind="track"):
    return {
        name: {
            "name": name,
            "type": kind,
            "unit": unit,
            "params": params,
            "param_names": names,
            "version": "1",
        }
    }


def test_stage_rules_cnn_threads_and_train_baseline(tmp_path):
    """compare-machines reads each stage's own baseline and thread count: the CNN's efficiency is
    its speed-up over its largest pool (not over ``workers``), training is against the same mode
    on 1 thread (not ``serial x1``), and time_run samples give a bootstrap interval."""
    cnn = "bench_cnn.TimeCnn.track_speedup"
    train = "bench_train.TimeTrain.time_run"
    meta = {
        **_meta(cnn, [["1", "2"], ["1", "2"], ["1"]], ["intra_op", "inter_op", "omp"]),
        **_meta(
            train, [["'xgb-threads'", "'knn-threads'"], ["1", "2"]], ["mode", "threads"], "seconds", "time"
        ),
    }
    # cells in parameter order: (intra, inter) = (1, 1) (the baseline), (1, 2), (2, 1), (2, 2)
    values = {cnn: [NAN, 1.3, 1.5, 1.8], train: [4.0, 2.5, 1.0, 0.8]}
    samples = {train: [[4.1, 4.0, 3.9], [2.6, 2.5, 2.4], [1.0], [0.8]]}
    results = tmp_path / "results"
    write_machine(results, "box", "a" * 40, values, meta=meta, samples=samples)
    data = last_json(cli(results, "--json"))
    rows = {(r["benchmark"], r["series"]): r for r in data["scaling"]}
    pools = {"intra 1, inter 2, omp 1": 1.3, "intra 2, inter 1, omp 1": 1.5, "intra 2, inter 2, omp 1": 1.8}
    assert {s for b, s in rows if b == "bench_cnn.TimeCnn"} == set(pools)  # the baseline is no data point
    for series, s in pools.items():
        r = rows[("bench_cnn.TimeCnn", series)]
        assert r["backend"] == "tensorflow" and r["workers"] == r["threads"] == 2
        assert r["box speedup"] == pytest.approx(s) and r["box efficiency"] == pytest.approx(s / 2)
        assert r["box serial fraction"] == pytest.approx(karp_flatt(s, 2))
        assert r["baseline"] == "tensorflow x1" and r["box speedup_ci"] == [None, None]
    xgb = rows[("bench_train.TimeTrain", "xgb-threads")]
    assert xgb["source"] == "time_run" and xgb["baseline"] == "xgb-threads x1"
    assert (xgb["mode"], xgb["threads"], xgb["workers"]) == ("xgb-threads", 2, 2)
    assert xgb["box speedup"] == pytest.approx(4.0 / 2.5) and xgb["box efficiency"] == pytest.approx(0.8)
    lo, hi = xgb["box speedup_ci"]
    assert lo <= 4.0 / 2.5 <= hi and lo > 1.4 and hi < 1.8  # medians' ratios of the resampled times
    knn = rows[("bench_train.TimeTrain", "knn-threads")]
    assert knn["box speedup"] == pytest.approx(1.25) and knn["box speedup_ci"] == [None, None]  # 1 sample


def test_results_of_an_older_suite_are_named_not_misread(tmp_path):
    old = "bench_cnn.TimeCnn.track_speedup"
    meta = {
        **META,
        **_meta(old, [["'tf-intra1-inter1'", "'tf-intra2-inter1'"], ["1"]], ["backend", "workers"]),
    }
    results = tmp_path / "results"
    write_machine(results, "box", "a" * 40, {**REF, old: [NAN, 1.4]}, meta=meta)
    proc = cli(results, "--json")
    data = last_json(proc)
    assert not [r for r in data["scaling"] if r["benchmark"] == "bench_cnn.TimeCnn"]
    assert (
        any("TimeCnn" in w and "older suite" in w for w in data["warnings"]) and "older suite" in proc.stderr
    )
    assert [r for r in data["scaling"] if r["benchmark"] == "bench_extract.TimeExtract"]


def test_workers_used_on_a_cluster_beside_the_speedup(tmp_path):
    """The suite's track_workers_used (a cluster cell: how many of the cluster's workers ran its
    tasks) is shown per machine, and a cell whose tasks ran on another number of workers than it
    asked is a warning: its speed-up is not that worker count's."""
    params = [["'serial'", "'dask-distributed'"], WORKERS, EXTRACTORS]
    meta = {
        name: {**META[name], "params": params}
        for name in ("bench_extract.TimeExtract.time_run", "bench_extract.TimeExtract.track_speedup")
    }
    meta["bench_extract.TimeExtract.track_workers_used"] = {
        "type": "track",
        "unit": "workers",
        "params": params,
        "param_names": STAGE_NAMES,
        "name": "bench_extract.TimeExtract.track_workers_used",
        "version": "1",
    }
    results = tmp_path / "results"
    base = {
        "bench_extract.TimeExtract.time_run": stage(10.0, 12.0, 6.5),
        "bench_extract.TimeExtract.track_speedup": stage(NAN, 0.9, 1.7),
    }
    write_machine(
        results,
        "slurm",
        "a" * 40,
        {**base, "bench_extract.TimeExtract.track_workers_used": stage(NAN, 1, 2)},
        meta=meta,
    )
    write_machine(
        results,
        "shared",
        "a" * 40,
        {**base, "bench_extract.TimeExtract.track_workers_used": stage(NAN, 1, 3)},
        meta=meta,
    )
    data = last_json(cli(results, "--machines", "slurm,shared", "--json"))
    (r,) = [r for r in data["scaling"] if r["backend"] == "dask-distributed" and r["workers"] == 2]
    assert r["slurm workers used"] == 2 and r["shared workers used"] == 3
    assert [w for w in data["warnings"] if "ran on 3 worker(s), not 2" in w and "shared" in w]
    assert not [w for w in data["warnings"] if "slurm" in w]
