"""Scaling maths, the study runner on a real toy stage, and `genre-hpc scale` end to end."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from genre_hpc.scaling import amdahl, amdahl_fit, efficiency, karp_flatt, run_study, speedup
from genre_hpc.stages import Axis, RunResult, Space, Stage


def test_formulas():
    assert speedup(10.0, 4.0) == 2.5
    assert efficiency(2.5, 4) == 0.625
    # Karp-Flatt: perfect speed-up -> 0; no speed-up -> 1
    assert karp_flatt(4.0, 4) == pytest.approx(0.0)
    assert karp_flatt(1.0, 4) == pytest.approx(1.0)
    assert karp_flatt(1.6, 2) == pytest.approx((1 / 1.6 - 0.5) / 0.5)
    assert math.isnan(karp_flatt(1.0, 1)) and math.isnan(speedup(1.0, float("nan")))


def test_amdahl_fit_recovers_the_serial_fraction():
    p = np.array([1, 2, 4, 8, 16])
    assert amdahl_fit(p, amdahl(p, 0.2)) == pytest.approx(0.2, abs=1e-4)
    assert amdahl_fit(p, p.astype(float)) == pytest.approx(0.0, abs=1e-4)


class SleepStage(Stage):
    """Items that sleep: parallel threads overlap them, so speed-up is real and output is checkable."""

    name = "sleep"
    space = Space(
        (Axis("backend", "backend", ("serial", "joblib-threading")), Axis("workers", "count")),
        backend="backend",
        workers="workers",
    )

    def prepare(self, **_):
        return list(range(8))

    def run(self, work, backend, workers, **_):
        from genre_hpc.backends import get_backend

        with get_backend(backend, workers) as b:
            t0 = time.perf_counter()
            out = b.map(_sleepy_square, work)
            return RunResult(time.perf_counter() - t0, b.startup_s, out)

    def same(self, a, b):
        return a == b

    def scaled(self, work, factor):
        return work * factor

    def scaled_output(self, output, factor):
        return output * factor


def _sleepy_square(x):
    time.sleep(0.02)
    return x * x


class LoggedSleepStage(SleepStage):
    """SleepStage that logs the cell of every run, in order."""

    def __init__(self):
        self.log = []

    def run(self, work, backend, workers, **kw):
        self.log.append(f"{backend} x{workers}:{len(work)}")
        return super().run(work, backend, workers, **kw)


@pytest.mark.parametrize("weak", [False, True])
def test_runs_go_in_rounds_over_cells_and_baseline_unless_asked_not_to(weak):
    stage = LoggedSleepStage()
    cells = [{"backend": "joblib-threading", "workers": w} for w in (1, 2)]
    rows = run_study(stage, stage.prepare(), cells=cells, repeat=3, weak=weak, progress=False)
    big = 16 if weak else 8  # the 2-worker cell's work under weak scaling
    one_round = ["serial x1:8", "joblib-threading x1:8", f"joblib-threading x2:{big}"]
    assert stage.log == one_round * 3  # the baseline once per round, shared by both cells
    assert [r["runs"] for r in rows] == [3, 3] and all(r["baseline_runs"] == 3 for r in rows)
    assert all(r["identical"] is True for r in rows)
    for r in rows:  # the times themselves, the figures' medians among them
        assert len(r["runs_s"]) == len(r["baseline_runs_s"]) == 3
        assert r["compute_s"] == pytest.approx(sorted(r["runs_s"])[1], abs=1e-4)
        assert r["baseline_s"] == pytest.approx(sorted(r["baseline_runs_s"])[1], abs=1e-4)

    stage = LoggedSleepStage()
    run_study(stage, stage.prepare(), cells=cells, repeat=2, weak=weak, progress=False, interleave=False)
    assert stage.log == [
        "joblib-threading x1:8",
        "joblib-threading x1:8",
        "serial x1:8",
        "serial x1:8",
        f"joblib-threading x2:{big}",
        f"joblib-threading x2:{big}",
    ]


class HalfBrokenStage(LoggedSleepStage):
    """joblib-threading x2 is found unavailable only when started."""

    def run(self, work, backend, workers, **kw):
        from genre_hpc.backends import BackendUnavailable

        if (backend, workers) == ("joblib-threading", 2):
            raise BackendUnavailable("broken on purpose")
        return super().run(work, backend, workers, **kw)


def test_a_cell_unavailable_when_started_is_skipped_and_the_others_keep_every_round():
    stage = HalfBrokenStage()
    cells = [{"backend": "joblib-threading", "workers": w} for w in (2, 1)]  # the broken one first
    rows = run_study(stage, stage.prepare(), cells=cells, repeat=3, progress=False)
    assert "broken on purpose" in rows[0]["skipped"]
    assert rows[1]["runs"] == rows[1]["baseline_runs"] == 3  # the shared baseline ran every round
    assert stage.log == ["serial x1:8", "joblib-threading x1:8"] * 3


@pytest.mark.parametrize("weak", [False, True])
def test_run_study_rows(weak):
    stage = SleepStage()
    rows = run_study(
        stage, stage.prepare(), ["serial", "joblib-threading"], [1, 2], repeat=2, weak=weak, progress=False
    )
    assert [(r["backend"], r["workers"]) for r in rows] == [
        ("serial", 1),
        ("serial", 2),
        ("joblib-threading", 1),
        ("joblib-threading", 2),
    ]
    assert "exactly 1 worker" in rows[1]["skipped"]  # the backends' own answer, through stage.skip
    done = [r for r in rows if "skipped" not in r]
    for r in done:
        assert r["identical"] is True
        assert r["efficiency"] == pytest.approx(r["speedup"] / r["workers"])
        assert r["compute_s"] > 0 and r["startup_s"] >= 0
        assert r["scaling"] == ("weak" if weak else "strong")
        assert r["baseline_backend"] == "serial x1" and r["runs"] == r["baseline_runs"] == 2
        # the interval comes from the same runs: the bootstrap of the two medians' ratio
        lo, hi = r["speedup_ci"]
        assert lo <= r["speedup"] <= hi
        assert r["efficiency_ci"] == pytest.approx([lo / r["workers"], hi / r["workers"]])
    # the baseline row is the baseline: its speed-up is exactly 1
    assert done[0]["speedup"] == pytest.approx(1.0)
    assert math.isnan(done[0]["serial_fraction"]) and not math.isnan(done[2]["serial_fraction"])


def test_scale_command_writes_table_files_and_plots(tiny_dataset, tmp_path):
    from test_cli import cli, last_json

    out = tmp_path / "scale"
    proc = cli(
        "scale",
        "--stage",
        "extract",
        "--backends",
        "serial,joblib-threading",
        "--workers",
        "1,2",
        "--repeat",
        "2",
        "--data",
        tiny_dataset,
        "--out",
        out,
        "--json",
        "--no-progress",
        "--trace",
    )
    rows = last_json(proc.stdout)["rows"]
    keys = {
        "stage",
        "backend",
        "workers",
        "compute_s",
        "startup_s",
        "speedup",
        "efficiency",
        "serial_fraction",
        "identical",
    }
    keys |= {"baseline_backend", "baseline_s", "speedup_ci", "efficiency_ci", "superlinear"}
    done = [r for r in rows if "skipped" not in r]
    assert len(done) == 3 and all(keys <= set(r) for r in done)
    assert all(r["identical"] for r in done)
    for r in done:  # 2 runs of each cell and of the baseline: a bootstrap interval around the estimate
        lo, hi = r["speedup_ci"]
        assert lo <= r["speedup"] <= hi and r["runs"] == 2
        assert r["efficiency_ci"] == pytest.approx([lo / r["workers"], hi / r["workers"]])
    assert "95% CI" in proc.stderr
    assert "speedup" in proc.stderr and "joblib-threading" in proc.stderr  # the table for people
    for name in (
        "extract-scaling.csv",
        "extract-scaling.json",
        "extract-time.png",
        "extract-speedup.png",
        "extract-efficiency.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "extract-scaling.json").read_text())["rows"][0]["stage"] == "extract"
    # the CSV's list cells are JSON, as in the JSON rows (not Python's repr: None, quotes)
    import pandas as pd

    csv = pd.read_csv(out / "extract-scaling.csv")
    by_cell = {(r["backend"], r["workers"]): r for r in done}
    cis = {
        (r["backend"], r["workers"]): json.loads(r["speedup_ci"])
        for _, r in csv.iterrows()
        if (r["backend"], r["workers"]) in by_cell
    }
    assert len(cis) == 3 and all(cis[k] == pytest.approx(by_cell[k]["speedup_ci"]) for k in cis)

    # --trace: every run's items, each once, on one worker, start <= end; the picture
    traces = json.loads((out / "extract-trace.json").read_text())["traces"]
    n_tracks = 6  # tiny_dataset
    cells = {(t["cell"], t["run"]) for t in traces}
    assert cells == {
        (c, k) for c in ("serial x1", "joblib-threading x1", "joblib-threading x2") for k in (0, 1)
    }
    for t in traces:
        assert sorted(it["index"] for it in t["items"]) == list(range(n_tracks))
        assert all(it["start"] <= it["end"] and it["worker"].startswith("thread ") for it in t["items"])
        assert t["backend"] in ("serial", "joblib-threading") and t["startup_s"] >= 0
    # each run's own start of its workers, the one the table's start-up is the median of
    for r in done:
        runs = [t["startup_s"] for t in traces if t["cell"] == f"{r['backend']} x{r['workers']}"]
        assert len(runs) == 2 and all(v > 0 for v in runs)
        assert r["startup_s"] == pytest.approx(float(np.median(runs)), rel=1e-6), r["backend"]
    two = [t for t in traces if t["cell"] == "joblib-threading x2"]
    assert all(len({it["worker"] for it in t["items"]}) <= 2 for t in two)
    assert (out / "extract-trace.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_rows = (out / "extract-trace.csv").read_text().splitlines()
    assert csv_rows[0].startswith("cell,run,index,worker") and len(csv_rows) == 1 + 6 * n_tracks


@pytest.mark.parametrize(
    "args, message",
    [
        (["--stage", "train", "--backends", "pool-map"], "unknown mode 'pool-map'"),
        (["--stage", "extract", "--omp", "1"], "no axis omp"),
        (["--stage", "cnn", "--backends", "tf-intra1-inter2"], "takes only 'tensorflow'"),
        (["--stage", "train", "--mode", "knn-threads", "--backends", "xgb-threads"], "once"),
        (["--stage", "train", "--threads", "1", "--workers", "2"], "once"),
    ],
)
def test_scale_rejects_cells_before_preparing_work(args, message):
    from test_cli import cli

    proc = cli("scale", *args, "--no-progress", check=False)
    assert proc.returncode == 2 and message in proc.stderr


def test_scale_takes_a_stages_workers_axis_by_its_own_name():
    """``--threads`` names the train stage's workers axis: the default of ``--workers`` does not
    count as giving it twice (it did: every ``--threads`` was refused), and the cells are those
    threads, not the default 1,2,4."""
    from test_cli import cli, last_json

    proc = cli(
        "scale", "--stage", "train", "--mode", "rf-threads", "--threads", "1,2",
        "--per-genre", "2", "--seconds", "3.2", "--repeat", "1", "--no-progress", "--json",
    )  # fmt: skip
    rows = last_json(proc.stdout)["rows"]
    assert [(r["mode"], r["threads"]) for r in rows] == [("rf-threads", 1), ("rf-threads", 2)]


def test_scale_refuses_knn_on_too_few_chunks_before_timing_any_cell():
    """A knn-threads cell that cannot fit (fewer training chunks than KNN's 19 neighbours) stops
    the study after the work is prepared and before any cell runs, in one line naming the mode."""
    from test_cli import cli

    proc = cli(
        "scale", "--stage", "train", "--mode", "xgb-threads,knn-threads", "--threads", "1",
        "--per-genre", "1", "--seconds", "3.2", "--repeat", "1", "--no-progress", "--json",
        check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "19 neighbours" in proc.stderr and "leave the knn-threads mode out" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout.strip() == ""  # no row, no table


@pytest.mark.slow
def test_dask_traces_carry_dasks_own_diagnostics(tiny_dataset, tmp_path):
    """A traced Dask run keeps Dask's own view: distributed's performance report (HTML, its
    scripts inlined) for dask-distributed, the ResourceProfiler's CPU/memory samples (drawn with
    matplotlib) for the local schedulers; the timeline is there for both."""
    pytest.importorskip("distributed")
    pytest.importorskip("bokeh")
    from genre_hpc.stages import get_stage
    from genre_hpc.trace import resources_png, task_stream_png, write_trace

    stage = get_stage("images")
    work = stage.prepare(data=tiny_dataset)
    traces: list = []
    rows = run_study(
        stage,
        work,
        cells=[{"backend": "dask-distributed", "workers": 2}, {"backend": "dask-threads", "workers": 2}],
        repeat=1,
        options={"trace": True},
        traces=traces,
        progress=False,
    )
    assert all(r["identical"] for r in rows)
    by = {t["cell"]: t for t in traces}
    assert set(by) == {"dask-distributed x2", "dask-threads x2", "serial x1"}
    assert "<html" in by["dask-distributed x2"]["dask_report_html"].lower()
    samples = by["dask-threads x2"]["resources"]
    assert samples and {"time", "mem_mb", "cpu"} <= set(samples[0])
    for t in traces:
        assert sorted(it["index"] for it in t["items"]) == list(range(6))
    assert all(it["worker"].startswith("pid ") for it in by["dask-distributed x2"]["items"])
    files = write_trace(traces, tmp_path, "images")
    assert (tmp_path / "images-dask-report-dask-distributed-x2-0.html").is_file()
    assert (tmp_path / "images-resources.csv").is_file() and len(files) == 4
    assert resources_png(traces, tmp_path / "r.png").is_file()
    assert task_stream_png(traces, tmp_path / "t.png").is_file()


def test_csv_cells_holding_lists_are_json(tmp_path):
    # a 1-run cell's interval is [None, None]: Python's repr of it is no format a reader knows
    import pandas as pd

    from genre_hpc.report import write_csv

    rows = [
        {"backend": "serial", "speedup_ci": [None, None], "runs_s": [1.5, 2.0], "cluster": {"n": 2}},
        {"backend": "pool-map", "speedup_ci": [1.8, 2.1], "runs_s": [0.8], "cluster": None},
    ]
    back = pd.read_csv(write_csv(rows, tmp_path / "r.csv"))
    assert [json.loads(v) for v in back["speedup_ci"]] == [[None, None], [1.8, 2.1]]
    assert [json.loads(v) for v in back["runs_s"]] == [[1.5, 2.0], [0.8]]
    assert json.loads(back["cluster"][0]) == {"n": 2}


def test_csv_whole_number_columns_stay_whole_where_a_row_lacks_them(tmp_path):
    # pandas writes a column of ints with a gap as floats ("2.0"): a reader expects "2"
    from genre_hpc.report import write_csv

    rows = [
        {"backend": "serial", "workers": 1, "items": 50, "time_s": 2.0},
        {"backend": "pool-map", "workers": 2, "time_s": 1.0, "flag": True},
    ]
    lines = write_csv(rows, tmp_path / "r.csv").read_text().splitlines()
    assert lines == ["backend,workers,items,time_s,flag", "serial,1,50,2.0,", "pool-map,2,,1.0,True"]
