"""Parallel training modes, the parallel grid search, and their stages.

Everything runs for real (XGBoost, scikit-learn, a Dask ``LocalCluster`` on
127.0.0.1, a scheduler + workers started as subprocesses) on a tiny,
deterministic feature table made here: 10 genres x 6 tracks x 3 chunks with
genre-dependent means, so the models beat chance. No timing is asserted.
"""

from __future__ import annotations

import json
import math
import re
import sys

import _clusters
import numpy as np
import pytest
from _data import toy_feature_table

from genre_hpc.features.schema import ID_COLUMNS, STUDY_87
from genre_hpc.training import (
    ACCURACY_TOLERANCE,
    PARAM_GRID,
    TRAIN_MODES,
    TUNE_BACKENDS,
    XGB_MODES,
    TrainData,
    make_mode_estimator,
    prepare_data,
    train_in_mode,
    train_xgb,
    tune_xgb,
)

CHANCE = 0.1  # 10 genres
#: fewer boosting rounds / trees than the quick preset: same code paths, less time on busy cores
FAST = {
    "xgb-threads": {"n_estimators": 20},
    "joblib-threading": {"n_estimators": 20},
    "xgboost-dask": {"n_estimators": 20},
    "rf-threads": {"n_estimators": 20},
    "knn-threads": {},
}
SMALL_GRID = {"max_depth": [2, 3], "learning_rate": [0.1, 0.3]}


def train(data, mode, workers, **kw):
    return train_in_mode(data, mode, workers, overrides=FAST[mode], **kw)


def _table():
    """10 genres x 6 tracks x 3 chunks: genre means + a per-track offset + chunk noise (seed 0)."""
    return toy_feature_table(genres=10, tracks_per_genre=6, chunks=3, seed=0)


@pytest.fixture(scope="module")
def table():
    return _table()


@pytest.fixture(scope="module")
def data(table) -> TrainData:
    return prepare_data(table)


@pytest.fixture(scope="module")
def reference(data):
    """The xgb-threads run on one thread: what every XGBoost mode must agree with."""
    return train(data, "xgb-threads", 1)


def _agree(a, b) -> bool:
    return (
        abs(a.accuracy - b.accuracy) <= ACCURACY_TOLERANCE
        and abs(a.chunk_accuracy - b.chunk_accuracy) <= ACCURACY_TOLERANCE
    )


# --- data ------------------------------------------------------------------------------


def test_toy_table_is_a_deterministic_feature_table(table):
    assert list(table.columns) == list(ID_COLUMNS) + list(STUDY_87.columns)
    assert len(table) == 10 * 6 * 3
    assert table["track_id"].nunique() == 60 and table["genre"].nunique() == 10
    assert table.equals(_table())


def test_prepare_data_splits_by_track_and_scales_on_train(data):
    assert not set(data.groups_train) & set(data.groups_test)
    assert len(data.y_train) + len(data.y_test) == 180
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-9)
    assert prepare_data(data) is data


# --- training modes ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["xgb-threads", "joblib-threading", "rf-threads", "knn-threads"])
def test_threaded_mode_trains_predicts_and_is_worker_independent(data, mode):
    one = train(data, mode, 1)
    two = train(data, mode, 2)
    for r, w in ((one, 1), (two, 2)):
        assert r.mode == mode and r.workers == w
        assert r.fit_s > 0 and r.predict_s > 0 and r.startup_s == 0.0
        assert r.predictions.shape == data.y_test.shape
        assert r.accuracy > CHANCE and r.chunk_accuracy > CHANCE
        json.dumps(r.to_dict())
    # hist XGBoost, seeded RF and KNN give the same model whatever the thread count
    np.testing.assert_array_equal(one.predictions, two.predictions)
    assert one.accuracy == two.accuracy


def test_joblib_threading_gives_xgboost_one_thread_unless_asked():
    assert make_mode_estimator("joblib-threading", 2).get_params()["n_jobs"] == 1
    assert make_mode_estimator("joblib-threading", 2, inner_n_jobs=None).get_params()["n_jobs"] is None
    assert make_mode_estimator("xgb-threads", 2).get_params()["n_jobs"] == 2
    assert make_mode_estimator("rf-threads", 3).get_params()["n_jobs"] == 3
    assert make_mode_estimator("xgboost-dask", 4).get_params()["n_jobs"] == 1
    assert (
        make_mode_estimator("xgb-threads", 1, overrides={"n_estimators": 7}).get_params()["n_estimators"] == 7
    )


def test_xgboost_threaded_modes_train_the_same_trees(data, reference):
    r = train(data, "joblib-threading", 2)
    assert r.model_params["n_jobs"] == 1
    np.testing.assert_array_equal(r.predictions, reference.predictions)


def test_unknown_mode_and_bad_workers(data):
    with pytest.raises(ValueError, match="unknown training mode"):
        train_xgb(data, "gpu", 1)
    with pytest.raises(ValueError, match="workers"):
        train_xgb(data, "xgb-threads", 0)
    with pytest.raises(ValueError, match="unknown tuning backend"):
        tune_xgb(data, "ray", 1)


def test_dask_modes_say_what_to_install(data, monkeypatch):
    from genre_hpc.backends import BackendUnavailable

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(BackendUnavailable, match=r"genre-hpc\[dask\]"):
        train_xgb(data, "xgboost-dask", 1)
    with pytest.raises(BackendUnavailable, match=r"genre-hpc\[dask\]"):
        tune_xgb(data, "joblib-dask", 1)


def test_train_xgb_is_train_in_mode_and_modes_are_one_table():
    from genre_hpc.training import MODES

    assert train_xgb is train_in_mode
    assert tuple(MODES) == TRAIN_MODES
    assert {m: MODES[m].model for m in TRAIN_MODES} == {
        "xgb-threads": "xgboost",
        "joblib-threading": "xgboost",
        "xgboost-dask": "xgboost",
        "rf-threads": "random-forest",
        "knn-threads": "knn",
    }


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dask_modes_start_through_the_dask_distributed_backend():
    """Training's cluster is the dask-distributed backend's: same settings (1 thread per worker,
    thread environment, loopback, no dashboard), xgboost and scikit-learn imported during start-up."""
    pytest.importorskip("distributed")
    from _backend_funcs import imports_and_threads

    from genre_hpc.backends.dask import DaskDistributedBackend
    from genre_hpc.training import dask_backend

    with dask_backend(2) as b:
        assert isinstance(b, DaskDistributedBackend) and not b.external
        assert b.startup_s > 0 and b.worker_count() == 2
        assert b.describe()["thread_limit"] == 1 and b.describe()["dashboard_link"] is None
        assert b.client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert set(b.client.run(imports_and_threads, ("xgboost", "sklearn")).values()) == {("1", True)}
    assert b.client is None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_xgboost_dask_on_a_local_cluster(data, reference):
    pytest.importorskip("distributed")
    r = train(data, "xgboost-dask", 2)
    assert r.startup_s > 0 and r.fit_s > 0
    p = r.model_params
    assert (
        p["dask_workers"] == 2
        and p["partitions"] == 2
        and p["chunk_rows"] == math.ceil(len(data.y_train) / 2)
    )
    assert p["scheduler"] == "LocalCluster" and p["n_jobs"] == 1
    assert r.predictions.shape == data.y_test.shape
    assert _agree(r, reference), (r.to_dict(), reference.to_dict())


# --- grid search -------------------------------------------------------------------------


def test_grid_search_on_loky(data):
    r = tune_xgb(data, "joblib-loky", 2, param_grid=SMALL_GRID)
    assert set(r.best_params) == {"max_depth", "learning_rate"} and r.best_params["max_depth"] in (2, 3)
    assert len(r.cv_results["params"]) == 4 and sorted(r.cv_results["rank_test_score"])[0] == 1
    assert r.best_score == max(r.cv_results["mean_test_score"]) > CHANCE
    assert r.seconds > 0 and r.startup_s >= 0 and r.holdout_accuracy > CHANCE and r.dask_workers is None
    json.dumps(r.to_dict())
    assert len(PARAM_GRID["max_depth"]) * len(PARAM_GRID["learning_rate"]) == 12


# --- an external scheduler, started as subprocesses ---------------------------------------


@pytest.fixture
def dask_scheduler(tmp_path):
    """``dask scheduler`` + two 1-thread ``dask worker`` processes on 127.0.0.1; yields the address."""
    with _clusters.dask_cluster(tmp_path) as (address, _, _procs):
        yield address


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_external_scheduler_trains_and_tunes(data, reference, dask_scheduler):
    r = train(data, "xgboost-dask", 2, scheduler=dask_scheduler)
    assert r.model_params["scheduler"] == "external" and r.model_params["dask_workers"] == 2
    assert _agree(r, reference)
    t = tune_xgb(data, "joblib-dask", 2, scheduler=dask_scheduler, param_grid=SMALL_GRID)
    assert t.dask_workers == 2
    loky = tune_xgb(data, "joblib-loky", 1, param_grid=SMALL_GRID, holdout=False)
    assert t.best_params == loky.best_params and math.isnan(loky.holdout_accuracy)
    assert t.cv_results == loky.cv_results
    # the cluster is left running for its owner
    from distributed import Client

    with Client(dask_scheduler, timeout=30) as c:
        assert len(c.scheduler_info()["workers"]) == 2


# --- stages through the scaling study ---------------------------------------------------

ROW_KEYS = {
    "stage",
    "backend",
    "workers",
    "compute_s",
    "startup_s",
    "speedup",
    "efficiency",
    "accuracy",
    "identical",
    "baseline_backend",
}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_train_stage_through_run_study(table):
    pytest.importorskip("distributed")
    from genre_hpc.scaling import run_study
    from genre_hpc.stages import get_stage

    stage = get_stage("train")
    cell = stage.cell(mode="xgboost-dask", threads=2)
    assert stage.backends == TRAIN_MODES and stage.baseline(cell) == {"mode": "xgboost-dask", "threads": 1}
    work = stage.prepare(table=table, overrides={"n_estimators": 20})
    rows = run_study(stage, work, list(XGB_MODES), [1, 2], repeat=1, progress=False)
    assert [(r["backend"], r["workers"]) for r in rows] == [(m, p) for m in XGB_MODES for p in (1, 2)]
    accs = []
    for r in rows:
        assert ROW_KEYS | {"chunk_accuracy", "fit_s", "predict_s"} <= set(r), r
        assert r["identical"] is True and r["baseline_backend"] == f"{r['backend']} x1"
        assert (r["mode"], r["threads"]) == (r["backend"], r["workers"])  # the named axes
        assert r["compute_s"] > 0 and r["speedup"] > 0 and r["efficiency"] > 0
        assert (r["startup_s"] > 0) == (r["backend"] == "xgboost-dask")
        accs.append(r["accuracy"])
    assert max(accs) - min(accs) <= ACCURACY_TOLERANCE
    json.dumps(rows)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_tune_stage_through_run_study(tmp_path, table):
    """The study's 4 x 3 grid on joblib-loky and joblib-dask (LocalCluster): the same best parameters."""
    pytest.importorskip("distributed")
    from genre_hpc.extract import write_table
    from genre_hpc.scaling import run_study
    from genre_hpc.stages import get_stage

    stage = get_stage("tune")
    assert stage.backends == TUNE_BACKENDS
    path = write_table(table, tmp_path / "features.parquet")
    work = stage.prepare(data=path, preset="quick")  # a table file given as --data
    rows = run_study(stage, work, list(TUNE_BACKENDS), [1, 2], repeat=1, progress=False)
    assert len(rows) == 4
    for r in rows:
        assert ROW_KEYS | {"best_params", "holdout_accuracy"} <= set(r), r
        assert r["identical"] is True
        assert r["best_params"] == rows[0]["best_params"] and r["accuracy"] == rows[0]["accuracy"]
        assert r["holdout_accuracy"] == rows[0]["holdout_accuracy"]
        assert (r["startup_s"] > 0) and (
            r["dask_workers"] == (r["workers"] if r["backend"] == "joblib-dask" else None)
        )
    json.dumps(rows)


def test_stage_overrides_apply_where_the_estimator_has_them(table):
    """The asv suite gives the train stage ``{"n_estimators": 10}``: XGBoost and the forest take
    it, KNN (which has no such parameter) trains as it is instead of failing."""
    from genre_hpc.stages import get_stage
    from genre_hpc.stages.train import overrides_for

    assert overrides_for("xgb-threads", {"n_estimators": 10}) == {"n_estimators": 10}
    assert overrides_for("rf-threads", {"n_estimators": 10}) == {"n_estimators": 10}
    assert overrides_for("knn-threads", {"n_estimators": 10}) == {}
    assert overrides_for("knn-threads", None) == {}
    stage = get_stage("train")
    work = stage.prepare(table=table, overrides={"n_estimators": 10})
    res = stage.run(work, "knn-threads", 1)
    assert res.compute_s > 0 and 0 <= res.extra["accuracy"] <= 1


def test_a_search_fold_without_a_genre_is_a_split_error_before_any_fit(tmp_path):
    """Two tracks per genre leave one training track per genre after the hold-out: every fold of
    the 3-fold search misses a genre, which XGBoost cannot fit (its labels must be 0..k-1). The
    library and ``scale --stage tune`` say so in one line instead of XGBoost's traceback."""
    from test_cli import cli
    from test_models import feature_table

    from genre_hpc.extract import write_table
    from genre_hpc.splits import SplitError

    tiny = feature_table(genres=3, tracks=2, chunks=4)
    data = prepare_data(tiny)
    assert sorted(np.bincount(data.y_train)) == [1 * 4] * 3  # one track of 4 chunks per genre
    with pytest.raises(SplitError, match=r"fold \d of 3 fits on no track of genre\(s\) g\d"):
        data.check_search_folds(3)
    with pytest.raises(SplitError, match=r"at least 3 per genre \(training tracks: g\d: 1\)"):
        tune_xgb(tiny, "joblib-loky", 1, preset="quick")
    path = write_table(tiny, tmp_path / "tiny.parquet")
    proc = cli(
        "scale",
        "--stage",
        "tune",
        "--data",
        path,
        "--workers",
        "1",
        "--repeat",
        "1",
        "--out",
        tmp_path / "o",
        "--no-progress",
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert re.search(r"fold \d of 3 fits on no track of genre\(s\)", proc.stderr.strip().splitlines()[-1])
    # enough tracks: no error, the same folds the search uses
    prepare_data(feature_table(genres=3, tracks=6, chunks=2)).check_search_folds(3)
