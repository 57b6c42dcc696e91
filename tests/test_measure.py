"""The measurement core (figures and intervals from given timings, the memory sampler), the
stages' named parameter spaces, and the one availability answer (``stage.skip``)."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest

from genre_hpc import extras
from genre_hpc.backends.serial import SerialBackend
from genre_hpc.measure import CI_RESAMPLES, SUPERLINEAR_EFFICIENCY, PeakRSS, figures, ratio_ci
from genre_hpc.scaling import karp_flatt
from genre_hpc.stages import get_stage

BASE = [10.0, 10.4, 9.8, 10.1, 10.6]  # baseline compute times (s)
RUN = [6.1, 5.8, 6.4, 6.0]  # the cell's


# --- figures on given timings ----------------------------------------------------------------


def test_figures_point_estimates():
    f = figures(BASE, RUN, 2)
    s = 10.1 / ((6.0 + 6.1) / 2)  # ratio of the medians
    assert f.speedup == pytest.approx(s)
    assert f.efficiency == pytest.approx(s / 2) and f.threads == 2
    assert f.serial_fraction == pytest.approx(karp_flatt(s, 2))
    assert not f.superlinear and not f.ci_note
    # efficiency is divided by the stage's threads, not by a worker count
    assert figures(BASE, RUN, 4).efficiency == pytest.approx(s / 4)
    # weak scaling: the cell did 2x the work
    assert figures(BASE, RUN, 2, factor=2).speedup == pytest.approx(2 * s)


def test_interval_contains_the_estimate_and_is_reproducible():
    f = figures(BASE, RUN, 2)
    lo, hi = f.speedup_ci
    assert lo < f.speedup < hi
    # the extremes of the resampled medians bound it
    assert lo >= min(BASE) / max(RUN) and hi <= max(BASE) / min(RUN)
    assert f.efficiency_ci == pytest.approx((lo / 2, hi / 2))
    assert f.serial_fraction_ci == pytest.approx((karp_flatt(hi, 2), karp_flatt(lo, 2)))  # falls as S grows
    assert figures(BASE, RUN, 2).speedup_ci == (lo, hi)  # the fixed seed
    assert ratio_ci(BASE, RUN, seed=0) == (lo, hi)
    many_base = [10 + 0.37 * ((7 * i) % 11) for i in range(25)]
    many_run = [5 + 0.29 * ((5 * i) % 13) for i in range(25)]
    assert ratio_ci(many_base, many_run, seed=1) == ratio_ci(many_base, many_run, seed=1)
    assert ratio_ci(many_base, many_run, seed=1) != ratio_ci(many_base, many_run, seed=2)
    # a wider level, a wider interval; more spread, a wider interval
    lo99, hi99 = ratio_ci(BASE, RUN, level=0.99)
    assert lo99 <= lo and hi99 >= hi
    noisy = [t * k for t, k in zip(RUN, (0.7, 1.3, 0.8, 1.25))]
    nlo, nhi = ratio_ci(BASE, noisy)
    assert nhi - nlo > hi - lo
    # no spread at all: the interval is the point
    assert ratio_ci([4.0, 4.0], [2.0, 2.0]) == (2.0, 2.0)
    assert CI_RESAMPLES == 2000


def test_one_run_has_no_interval_and_says_so():
    for base, run in (([10.0], RUN), (BASE, [6.0]), ([10.0], [5.0])):
        f = figures(base, run, 2)
        assert all(math.isnan(v) for v in f.speedup_ci + f.efficiency_ci)
        assert "2 or more" in f.ci_note and f.as_dict()["ci_note"] == f.ci_note
    f = figures([10.0], [5.0], 2)
    assert f.speedup == 2.0 and f.efficiency == 1.0  # the point estimate is still there
    assert math.isnan(figures([], RUN, 2).speedup)


def test_superlinear_flag():
    # interval above the thread count
    f = figures([10.0, 10.1, 9.9, 10.0], [3.9, 4.0, 4.1, 4.0], 2)
    assert f.speedup_ci[0] > 2 and f.superlinear
    # an efficiency just above 1 from noisy runs: not flagged; above the limit: flagged
    assert not figures([10.0], [10.0 / 2.08], 2).superlinear
    assert figures([10.0], [10.0 / (2 * (SUPERLINEAR_EFFICIENCY + 0.01))], 2).superlinear
    assert not figures(BASE, RUN, 2).superlinear


def test_a_cold_first_baseline_run_is_flagged_and_shown():
    """The case of issue #11: serial's two runs spread by 45 % (the first cold), a pool at 1
    worker then reads 1.2x of serial: flagged superlinear, marked '!' in the table with the note."""
    from genre_hpc.report import SUPERLINEAR_NOTE, scaling_table

    f = figures([1.45, 1.0], [1.0, 1.02], 1)
    assert f.speedup == pytest.approx(1.225 / 1.01) and f.superlinear
    row = {"backend": "pool-map", "workers": 1, "compute_s": 1.01, **f.as_dict()}
    table = scaling_table([row])
    assert f"{f.speedup:.3f}!" in table and SUPERLINEAR_NOTE in table


def test_the_study_warms_the_process_before_its_first_timed_run():
    """measure_cell calls the stage's warm_up once per study and work, before any timed run
    (the serial baseline runs in this process: its first run must not be cold)."""
    from genre_hpc.measure import measure_cell
    from genre_hpc.stages import RunResult, Stage
    from genre_hpc.stages.extract import BACKEND_SPACE

    events = []

    class Recorder(Stage):
        name = "recorder"
        space = BACKEND_SPACE

        def warm_up(self, work):
            events.append("warm")

        def run(self, work, backend, workers, **_):
            events.append(f"{backend} x{workers}")
            return RunResult(1.0, 0.0, work)

        def same(self, a, b):
            return a == b

    stage, cache, work = Recorder(), {}, [1, 2]
    for workers in (1, 2):
        measure_cell(stage, work, {"backend": "joblib-threading", "workers": workers}, repeat=2, cache=cache)
    assert events[0] == "warm" and events.count("warm") == 1
    assert events.count("serial x1") == 2  # the baseline's runs are shared by the study's cells


def test_peak_rss_sees_child_processes():
    code = "import time; b = bytearray(80 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    with PeakRSS(interval=0.05) as rss:
        subprocess.run([sys.executable, "-c", code], check=True)
    assert rss.max_processes == 1 and rss.peak_bytes > 80 * 2**20
    with PeakRSS(interval=0.05) as none:
        time.sleep(0.2)
    assert none.max_processes == 0 and none.peak_bytes == 0
    assert none.measured == (None, None)  # nothing seen is not a measured 0 bytes
    # while no process has been seen, every sample looks again (not only every `refresh`): a pool
    # that starts after the sampler and is gone within 0.25 s was reported as 0 bytes
    with PeakRSS(interval=0.05, refresh=60) as late:
        time.sleep(0.1)
        subprocess.run([sys.executable, "-c", "import time; time.sleep(0.5)"], check=True)
    assert late.max_processes == 1 and late.measured[0] > 0


# --- named parameter spaces ------------------------------------------------------------------


def test_each_stage_names_its_axes():
    spaces = {name: get_stage(name).space.names for name in ("extract", "images", "train", "tune", "cnn")}
    assert spaces == {
        "extract": ("backend", "workers"),
        "images": ("backend", "workers"),
        "train": ("mode", "threads"),
        "tune": ("backend", "workers"),
        "cnn": ("intra_op", "inter_op", "omp"),
    }
    train, cnn = get_stage("train"), get_stage("cnn")
    cell = train.cell("knn-threads", 2)
    assert cell == {"mode": "knn-threads", "threads": 2}
    assert train.baseline(cell) == {"mode": "knn-threads", "threads": 1} and train.threads(cell) == 2
    assert (
        train.labels(cell) == {"backend": "knn-threads", "workers": 2}
        and train.label(cell) == "knn-threads x2"
    )
    pools = cnn.cell(intra_op=2, inter_op=1, omp=1)
    assert cnn.threads(pools) == 2 and cnn.baseline(pools) == cnn.cell(1, 1, 1)
    assert cnn.labels(pools) == {"backend": "tensorflow", "workers": 2}
    assert cnn.series(pools) == "intra 2, inter 1, omp 1" and cnn.series(cnn.cell(2, 2, 2)) == "tensorflow"
    extract = get_stage("extract")
    assert extract.baseline(extract.cell("pool-map", 4)) == {"backend": "serial", "workers": 1}
    with pytest.raises(TypeError, match="missing: workers"):
        extract.cell("pool-map")


def test_grids_from_command_line_lists():
    extract, train, cnn = get_stage("extract"), get_stage("train"), get_stage("cnn")
    assert extract.grid(["serial", "pool-map"], [1, 2]) == [
        {"backend": "serial", "workers": 1},
        {"backend": "serial", "workers": 2},
        {"backend": "pool-map", "workers": 1},
        {"backend": "pool-map", "workers": 2},
    ]
    assert len(extract.grid(["all"], [1])) == len(extract.backends)
    # train: --backends are the modes, --workers the threads; or the axes by name
    assert train.grid(["xgb-threads"], [1, 2]) == train.grid(None, None, mode=["xgb-threads"], threads=[1, 2])
    # cnn: --workers alone ties the pools; --intra/--inter give every combination (missing: [1])
    assert cnn.grid(["all"], [1, 2]) == [cnn.cell(1, 1, 1), cnn.cell(2, 2, 2)]
    assert cnn.grid(None, [1], intra_op=[1, 2]) == [cnn.cell(1, 1, 1), cnn.cell(2, 1, 1)]
    assert len(cnn.grid(["tensorflow"], [1], intra_op=[1, 2], inter_op=[1, 2])) == 4
    for bad, match in (
        (lambda: extract.grid(["pool-mapp"], [1]), "unknown backend 'pool-mapp'"),
        (lambda: train.grid(["serial"], [1]), "unknown mode 'serial'"),
        (lambda: extract.grid(None, [0]), "positive integer"),
        (lambda: extract.grid(None, [1], omp=[1]), "no axis omp"),
        (lambda: train.grid(["knn-threads"], [1], mode=["xgb-threads"]), "once"),
        (lambda: cnn.grid(["tf-intra1-inter2"], [1]), "takes only 'tensorflow'"),
    ):
        with pytest.raises(ValueError, match=match):
            bad()


# --- one availability answer ------------------------------------------------------------------


class FakeBackend(SerialBackend):
    """A registered backend whose optional stack is not installed (a fake extra)."""

    name = "fake-backend"
    requires = ("fake",)


@pytest.fixture
def fake_extra(monkeypatch):
    """An extra ``fake`` whose module does not exist and a backend that needs it; ``dask`` made
    missing the same way (the test process keeps its real install)."""
    from genre_hpc import backends

    monkeypatch.setitem(extras.EXTRAS, "fake", ("genre_hpc_no_such_module",))
    monkeypatch.setitem(extras.EXTRAS, "dask", ("genre_hpc_no_such_dask",))
    monkeypatch.setitem(backends.REGISTRY, "fake-backend", f"{__name__}:FakeBackend")


def test_skip_reasons(fake_extra, monkeypatch):
    extract, images, train, tune, cnn = (get_stage(n) for n in ("extract", "images", "train", "tune", "cnn"))
    fake = "genre_hpc_no_such_module is not installed: install genre-hpc[fake]"
    dask = "genre_hpc_no_such_dask is not installed: install genre-hpc[dask]"
    # a registered backend's requirement, for every stage over the registry
    assert extract.skip(extract.cell("fake-backend", 1)) == fake
    assert images.skip(images.cell("fake-backend", 1)) == fake
    # a mode's or a search backend's requirement
    assert (
        train.skip(train.cell("xgboost-dask", 2)) == dask and train.skip(train.cell("xgb-threads", 2)) is None
    )
    assert tune.skip(tune.cell("joblib-dask", 1)) == dask and tune.skip(tune.cell("joblib-loky", 2)) is None
    # the stage's own requirement
    monkeypatch.setitem(extras.EXTRAS, "tf", ("genre_hpc_no_such_tf",))
    assert cnn.skip(cnn.cell(2, 1, 1)) == "genre_hpc_no_such_tf is not installed: install genre-hpc[tf]"


def test_skip_rules_of_counts_and_names():
    extract, images, train, cnn = (get_stage(n) for n in ("extract", "images", "train", "cnn"))
    # counts and names no axis can take; a backend that would run another worker count
    assert "exactly 1 worker" in images.skip(images.cell("serial", 2))
    if extras.unavailable_reason(("dask",)) is None:
        assert "whatever the worker count" in extract.skip(extract.cell("dask-synchronous", 2))
        assert extract.skip(extract.cell("dask-synchronous", 1)) is None
    assert "unknown mode" in train.skip({"mode": "serial", "threads": 1})
    assert "positive integer" in cnn.skip(cnn.cell(0, 1, 1))
    # a work parameter the stage cannot load
    assert "not available" in extract.skip(extract.cell("serial", 1), extractor="no-such")
    assert extract.skip(extract.cell("pool-map", 2), extractor="reference") is None


def test_a_study_skips_an_unavailable_backend_and_runs_the_rest(fake_extra, tiny_dataset):
    """``scale --stage images`` with a backend whose extra is missing: that row is skipped with the
    reason, the others are measured (it used to raise BackendUnavailable out of the study)."""
    from genre_hpc.scaling import run_study

    images = get_stage("images")
    work = images.prepare(data=tiny_dataset)
    rows = run_study(images, work, ["serial", "fake-backend"], [1], repeat=1, progress=False)
    assert [r["backend"] for r in rows] == ["serial", "fake-backend"]
    assert rows[1]["skipped"] == "genre_hpc_no_such_module is not installed: install genre-hpc[fake]"
    assert rows[0]["identical"] is True and rows[0]["speedup"] == pytest.approx(1.0)
    assert len(rows[0]["speedup_ci"]) == 2 and all(math.isnan(v) for v in rows[0]["speedup_ci"])
    assert "2 or more" in rows[0]["ci_note"]
