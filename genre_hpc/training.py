"""Parallel training modes and the parallel hyper-parameter search.

Every mode trains the *same* classifier (same data, same hyper-parameters,
same seed) and differs only in how the work is spread over ``workers``:

==================  ==========================================================================
mode                what ``workers`` controls
==================  ==========================================================================
xgb-threads         XGBoost's own OpenMP threads: ``XGBClassifier(n_jobs=workers)``
joblib-threading    the study's ``with joblib.parallel_backend("threading", n_jobs=workers):
                    model.fit(...)``. XGBoost never calls joblib, so ``workers`` changes
                    nothing; XGBoost's own ``n_jobs`` is ``inner_n_jobs`` (default 1, see below)
xgboost-dask        ``xgboost.dask.DaskXGBClassifier`` on a Dask cluster of ``workers``
                    processes x 1 thread (or on an existing scheduler)
rf-threads          the zoo's RandomForest with ``n_jobs=workers``
knn-threads         the zoo's KNN with ``n_jobs=workers`` (and OpenMP limited to ``workers``)
==================  ==========================================================================

Why ``joblib-threading`` runs XGBoost with ``n_jobs=1``: the mode exists to
answer "does joblib's threading backend parallelise XGBoost?". It does not
(XGBoost's training loop is C++/OpenMP and never asks joblib for workers), so
the honest mode gives XGBoost one thread and lets the measurement show that
the joblib context adds nothing. With XGBoost's default (``inner_n_jobs=None``)
XGBoost would use every core whatever ``workers`` says, and the study's
"1 worker" run was in fact an all-core run; pass ``inner_n_jobs=None`` to
reproduce that (docs/training.md has both measured).

The search (:func:`tune_xgb`) is scikit-learn's ``GridSearchCV`` over XGBoost
``max_depth`` x ``learning_rate`` (4 x 3), 3-fold cross-validation grouped by
track (``GroupKFold``; by the groups file's column with ``groups=``:
``StratifiedGroupKFold``; a split file's valid list instead of folds:
``PredefinedSplit``, see :meth:`TrainData.search_cv`), scored by accuracy, run on joblib's ``loky`` backend
(``joblib-loky``) or on joblib's ``dask`` backend over a Dask cluster
(``joblib-dask``). The inner XGBoost has ``n_jobs=1`` (no nested
parallelism). Every fit is single-threaded and seeded, so the scores, hence
the best parameters, are identical on every backend and worker count.

Data: the feature table is split by track (:func:`genre_hpc.models.split_indices`),
then standardised once with a ``StandardScaler`` fitted on the training rows,
outside every timed region, so every mode gets byte-identical inputs (trees do
not need scaling; KNN does). Accuracies are on the held-out tracks: chunk
level and track level (majority vote of a track's chunks).

One function trains in every mode (:func:`train_in_mode`, also known by
its earlier name ``train_xgb``); the modes differ only in their entry of
:data:`MODES` (:class:`TrainMode`: the zoo's model, the estimator's own
``n_jobs``, and the runner that fits and predicts). The XGBoost-on-Dask
specifics live in that mode's runner alone.

The Dask modes (``xgboost-dask``, ``joblib-dask``) run on the client of the
``dask-distributed`` backend (:func:`dask_backend`): one start path, with the
same settings as extraction on Dask (a LocalCluster of ``workers`` x 1 thread
on 127.0.0.1, thread limit 1, dashboard off; or an existing ``scheduler``).
Dask and ``xgboost.dask`` are imported inside the functions that need them;
without them those modes raise :class:`~genre_hpc.backends.BackendUnavailable`
("install genre-hpc[dask]").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .models import RANDOM_STATE, Dataset, check_training_rows, make_classifier, table_to_dataset, track_vote

#: the training modes, in report order
TRAIN_MODES = ("xgb-threads", "joblib-threading", "xgboost-dask", "rf-threads", "knn-threads")
#: the modes that train the same XGBoost model (their accuracies must agree)
XGB_MODES = ("xgb-threads", "joblib-threading", "xgboost-dask")
#: the mode the library and the docs recommend (measured, see docs/training.md)
DEFAULT_TRAIN_MODE = "xgb-threads"
#: backends of the grid search
TUNE_BACKENDS = ("joblib-loky", "joblib-dask")
#: the study's 4 x 3 grid
PARAM_GRID = {"max_depth": [2, 3, 4, 6], "learning_rate": [0.05, 0.1, 0.3]}
#: boosting rounds of the searched XGBoost, per preset
TUNE_ROUNDS = {"quick": 20, "seed": 1000}
#: folds of the grouped cross-validation
CV_FOLDS = 3
#: largest accepted difference of accuracy (track or chunk level, absolute) between two
#: runs of the same model on different modes / worker counts. Measured differences are
#: 0 for the threaded modes (XGBoost ``hist`` is deterministic across thread counts) and
#: at most one held-out track for xgboost-dask (its distributed quantile sketch can move
#: a bin edge); see docs/training.md.
ACCURACY_TOLERANCE = 0.06

# --- data ----------------------------------------------------------------------------


@dataclass
class TrainData:
    """A fixed train/test split, standardised, shared by every mode.

    ``X_train``/``X_test`` are standardised with a scaler fitted on the training
    rows; ``groups_*`` are track ids; ``classes`` are the genre names.
    ``test_fold`` (with a split file's valid list): per training row, ``0`` for
    a valid-list row and ``-1`` otherwise, the grid search's
    ``PredefinedSplit``; ``groups_search`` (with a groups file): per training
    row, its group, which the grid search's folds are grouped by;
    ``protocol``: what the split was (:attr:`genre_hpc.splits.Protocol.info`
    and its ``notes``).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    groups_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    groups_test: np.ndarray
    classes: np.ndarray
    feature_names: list = field(default_factory=list)
    test_fold: np.ndarray | None = None
    groups_search: np.ndarray | None = None
    protocol: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def has_valid(self) -> bool:
        """Whether a split file's valid list is among the training rows (``test_fold``)."""
        return self.test_fold is not None and bool(np.any(self.test_fold >= 0))

    def search_cv(self, n_splits: int = 3, random_state: int = RANDOM_STATE):
        """``(cv, groups)`` of the grid search on the training rows.

        The valid list when there is one (``PredefinedSplit``: fit on the train
        list, score on the valid list); else ``n_splits`` folds grouped by the
        groups file (``StratifiedGroupKFold``, shuffled with ``random_state``)
        or, without one, by track (``GroupKFold``).
        """
        from sklearn.model_selection import GroupKFold, PredefinedSplit, StratifiedGroupKFold

        if self.has_valid:
            return PredefinedSplit(self.test_fold), None
        if self.groups_search is not None:
            return StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state), self.groups_search
        return GroupKFold(n_splits=n_splits), self.groups_train

    def check_search_folds(self, n_splits: int = 3, random_state: int = RANDOM_STATE) -> None:
        """Raise :class:`~genre_hpc.splits.SplitError` when a fold of the grid search cannot be
        fitted: XGBoost wants the labels of a fit to be 0..k-1, and a fold whose training side
        misses a genre below its highest label (tiny data: fewer training tracks of a genre than
        folds) breaks that. A split file's train list always passes (:func:`prepare_data`
        numbers its genres first).
        """
        from .splits import SplitError

        cv, groups = self.search_cv(n_splits, random_state)
        try:
            folds = list(cv.split(self.X_train, self.y_train, groups))
        except ValueError as exc:  # fewer groups than folds
            raise SplitError(f"the grid search's {n_splits} folds cannot be made: {exc}") from None
        for k, (train, _) in enumerate(folds, 1):
            seen = np.unique(self.y_train[train])
            if np.array_equal(seen, np.arange(len(seen))):
                continue
            gap = np.setdiff1d(np.arange(seen.max() + 1), seen)
            counts = ", ".join(
                f"{self.classes[g]}: {len(np.unique(self.groups_train[self.y_train == g]))}" for g in gap
            )
            raise SplitError(
                f"the grid search's fold {k} of {len(folds)} fits on no track of genre(s) "
                f"{', '.join(map(str, self.classes[gap]))}, which XGBoost cannot fit: each genre "
                f"needs a training track in every fold, at least {n_splits} per genre "
                f"(training tracks: {counts})"
            )

    def describe(self) -> dict:
        out = {
            "train_chunks": int(len(self.y_train)),
            "test_chunks": int(len(self.y_test)),
            "train_tracks": int(len(np.unique(self.groups_train))),
            "test_tracks": int(len(np.unique(self.groups_test))),
            "features": int(self.X_train.shape[1]),
            "classes": int(self.n_classes),
        }
        if self.has_valid:
            out["valid_tracks"] = int(len(np.unique(self.groups_train[self.test_fold >= 0])))
        return out


def prepare_data(
    source,
    *,
    split: str = "track",
    test_size: float = 0.3,
    random_state: int = RANDOM_STATE,
    split_file=None,
    groups=None,
) -> TrainData:
    """Make the split every mode trains on.

    Parameters
    ----------
    source : TrainData, models.Dataset, pandas.DataFrame, str or Path
        A prepared split (returned as is), a dataset, a feature table, or the
        path of a feature table (``.parquet`` / ``.csv``).
    split : str
        ``track`` (no track on both sides), ``chunk`` (leaky) or a builtin
        split name (``gtzan-filtered``); see :func:`genre_hpc.models.protocol_rows`.
    test_size : float
    random_state : int
    split_file : str or Path, optional
        A folder of split lists (:func:`genre_hpc.splits.read_split_dir`).
        A valid list's rows are training rows marked in ``test_fold``: the
        train stage trains on them (merged), the grid search scores on them.
    groups : str, Path or Mapping, optional
        Track -> group: the track split and the grid search's folds are grouped by it.

    Returns
    -------
    TrainData
    """
    from sklearn.preprocessing import StandardScaler

    from .models import protocol_rows

    if isinstance(source, TrainData):
        return source
    if isinstance(source, (str, Path)):
        from .extract import read_table

        source = read_table(source)
    ds = source if isinstance(source, Dataset) else table_to_dataset(source)
    proto, folds = protocol_rows(
        ds,
        split=split,
        split_file=split_file,
        groups=groups,
        test_size=test_size,
        random_state=random_state,
        keep_valid=True,
    )
    fold = folds[0]
    tr = np.sort(np.concatenate([fold.train, fold.valid])) if len(fold.valid) else fold.train
    te = fold.test
    # classes of the train list first: XGBoost wants the labels it is fitted on to be 0..k-1, and a
    # split file may leave a genre out of the train list (then its test tracks are always wrong)
    first = [np.unique(ds.y[fold.train]), np.unique(ds.y[fold.valid]), np.arange(len(ds.classes))]
    order = list(dict.fromkeys(int(c) for block in first for c in block))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    y = rank[ds.y]
    scaler = StandardScaler().fit(ds.X[tr])
    group_of = proto.track_groups
    return TrainData(
        X_train=np.ascontiguousarray(scaler.transform(ds.X[tr])),
        y_train=y[tr],
        groups_train=ds.groups[tr],
        X_test=np.ascontiguousarray(scaler.transform(ds.X[te])),
        y_test=y[te],
        groups_test=ds.groups[te],
        classes=ds.classes[order],
        feature_names=list(ds.feature_names),
        test_fold=np.where(np.isin(tr, fold.valid), 0, -1) if len(fold.valid) else None,
        groups_search=(
            np.array([group_of.get(t, f"track:{t}") for t in ds.groups[tr]], dtype=object)
            if group_of
            else None
        ),
        protocol={**proto.info, "notes": list(proto.notes)},
    )


def load_feature_table(
    data=None,
    *,
    table=None,
    per_genre: int = 2,
    seconds: float = 6.0,
    seed: int = 0,
    extractor: str = "reference",
):
    """The feature table a training/tuning stage works on.

    In order of precedence: ``table`` (a DataFrame or a table path);
    ``data`` when it is a table file (``.parquet``, ``.pq``, ``.csv``);
    otherwise the features of the GTZAN-layout folder ``data`` or, when
    ``data`` is None, of the embedded synthetic dataset
    (``default_dataset(per_genre, seconds, seed)``), extracted with the
    per-track cache (``cache=True``: a rerun reads the cache).
    """
    from .extract import TABLE_SUFFIXES, read_feature_table

    if table is not None:
        return read_feature_table(table) if isinstance(table, (str, Path)) else table
    if data is not None and Path(data).suffix.lower() in TABLE_SUFFIXES:
        return read_feature_table(data)
    from .extract import extract_features

    if data is None:
        from .synth import default_dataset

        data = default_dataset(per_genre=per_genre, seconds=seconds, seed=seed)
    return extract_features(data, extractor=extractor, cache=True, progress=False).table


# --- results -------------------------------------------------------------------------


@dataclass
class TrainResult:
    """One training run.

    ``fit_s`` is the fit alone (for ``xgboost-dask`` it includes moving the
    training rows into the cluster); ``predict_s`` the prediction of the
    held-out rows; ``startup_s`` the Dask cluster start (or connection), never
    part of ``fit_s``. ``accuracy`` is track level, ``chunk_accuracy`` chunk
    level, both on the held-out tracks. ``predictions`` are the encoded chunk
    predictions of the test rows.
    """

    mode: str
    workers: int
    fit_s: float
    predict_s: float
    startup_s: float
    accuracy: float
    chunk_accuracy: float
    model_params: dict
    predictions: np.ndarray = field(repr=False)

    @property
    def compute_s(self) -> float:
        """``fit_s + predict_s``: the work the scaling study times."""
        return self.fit_s + self.predict_s

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "workers": self.workers,
            "fit_s": round(self.fit_s, 4),
            "predict_s": round(self.predict_s, 4),
            "startup_s": round(self.startup_s, 4),
            "accuracy": round(float(self.accuracy), 6),
            "chunk_accuracy": round(float(self.chunk_accuracy), 6),
            "model_params": dict(self.model_params),
        }


@dataclass
class TuneResult:
    """One grid search.

    ``seconds`` is ``search.fit`` alone; ``startup_s`` the pool / cluster start
    and the workers' imports. ``best_score`` is the best mean cross-validated
    chunk accuracy (grouped 3-fold on the training tracks);
    ``holdout_accuracy`` the track-level accuracy on the held-out tracks of
    the best parameters refitted on all training rows (computed after the
    timed search; NaN when not asked). With a split file's valid list the
    search fits on the train list and scores on the valid list
    (``PredefinedSplit``, one fold); the refit uses both. ``best_score_ci``
    and ``holdout_accuracy_ci``: 95 % bootstrap intervals over tracks (the
    best candidate's folds are fitted again, untimed, for the first); NaN
    without ``holdout``.
    """

    backend: str
    workers: int
    seconds: float
    startup_s: float
    best_params: dict
    best_score: float
    cv_results: dict = field(repr=False)
    holdout_accuracy: float = float("nan")
    dask_workers: int | None = None
    best_score_ci: tuple = (float("nan"), float("nan"))
    holdout_accuracy_ci: tuple = (float("nan"), float("nan"))
    #: ``joblib-dask``: the cluster's shape (``ClusterBackend.cluster_info``); else None
    cluster: dict | None = None

    def to_dict(self) -> dict:
        return {
            "backend": self.backend,
            "workers": self.workers,
            "seconds": round(self.seconds, 4),
            "startup_s": round(self.startup_s, 4),
            "best_params": dict(self.best_params),
            "best_score": round(float(self.best_score), 6),
            "holdout_accuracy": round(float(self.holdout_accuracy), 6),
            "best_score_ci": [float(v) for v in self.best_score_ci],
            "holdout_accuracy_ci": [float(v) for v in self.holdout_accuracy_ci],
        }


# --- helpers -----------------------------------------------------------------------


def _check_workers(workers) -> int:
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return int(workers)


def _scores(data: TrainData, pred) -> tuple[float, float]:
    pred = np.asarray(pred).astype(np.int64)
    _, voted = track_vote(pred, data.groups_test, data.n_classes)
    _, truth = track_vote(data.y_test, data.groups_test, data.n_classes)
    return float(np.mean(voted == truth)), float(np.mean(pred == data.y_test))


def holdout_intervals(data: TrainData, pred) -> dict:
    """95 % bootstrap intervals (over test tracks) of a prediction of ``data``'s test rows.

    Returns ``{"chunk_accuracy_ci": (lo, hi), "track_accuracy_ci": (lo, hi)}``
    (see :func:`genre_hpc.uncertainty.accuracy_intervals`).
    """
    from .uncertainty import accuracy_intervals

    pred = np.asarray(pred).astype(np.int64)
    _, voted = track_vote(pred, data.groups_test, data.n_classes)
    _, truth = track_vote(data.y_test, data.groups_test, data.n_classes)
    return accuracy_intervals(pred == data.y_test, data.groups_test, voted == truth)


def _jsonable(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def dask_available() -> bool:
    """Whether the ``dask`` extra (Dask and distributed) is installed (nothing is imported)."""
    from .extras import unavailable_reason

    return unavailable_reason(("dask",)) is None


def _warm_imports() -> bool:
    """Import what a worker needs before the timed region (runs on loky and Dask workers)."""
    import sklearn.model_selection  # noqa: F401
    import xgboost  # noqa: F401

    return True


def dask_backend(workers: int, scheduler: str | None = None, **options):
    """The ``dask-distributed`` backend the Dask modes run on (use it in a ``with`` block).

    One start path for extraction, training and tuning: a LocalCluster of
    ``workers`` processes x 1 thread on 127.0.0.1 (thread limit 1, dashboard
    off), or the existing ``scheduler``, with xgboost and scikit-learn
    imported on every worker during start-up. Inside the block
    ``backend.client`` is the ``distributed.Client``, ``backend.startup_s``
    the time it took to be ready.

    Raises
    ------
    BackendUnavailable
        Without the ``dask`` extra ("install genre-hpc[dask]").
    """
    from .backends import get_backend

    if scheduler:
        options["scheduler"] = scheduler
    return get_backend("dask-distributed", workers, warmup=_warm_imports, **options)


def start_dask(workers: int, scheduler: str | None = None, *, timeout: float = 60.0):
    """Deprecated: use :func:`dask_backend` in a ``with`` block.

    Starts :func:`dask_backend` and returns ``(client, backend, startup_s)``;
    pass both to :func:`stop_dask`.
    """
    import warnings

    warnings.warn(
        "start_dask is deprecated: use `with training.dask_backend(workers, scheduler) as b: b.client`",
        DeprecationWarning,
        stacklevel=2,
    )
    backend = dask_backend(workers, scheduler, start_timeout=timeout).__enter__()
    return backend.client, backend, backend.startup_s


def stop_dask(client, cluster) -> None:
    """Deprecated: stop what :func:`start_dask` started (the backend stops its client and the
    cluster it started)."""
    if hasattr(cluster, "__exit__") and hasattr(cluster, "worker_count"):
        cluster.__exit__(None, None, None)
        return
    try:
        client.close()
    finally:
        if cluster is not None:
            cluster.close()


# --- the training modes -----------------------------------------------------------------


@dataclass
class _Run:
    """What a mode's runner measured: the timed fit and predict, and the mode's own settings."""

    fit_s: float
    predict_s: float
    predictions: np.ndarray
    startup_s: float = 0.0
    params: dict = field(default_factory=dict)


def _run_threaded(data: TrainData, clf, workers: int, **_) -> _Run:
    """``*-threads``: the estimator's own threads (``n_jobs=workers``), OpenMP limited too.

    scikit-learn's KNN prediction uses OpenMP over every core whatever ``n_jobs`` says, so the
    limit keeps its "1 worker" at one core; XGBoost's explicit ``n_jobs`` wins over the limit.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=workers):
        t0 = time.perf_counter()
        clf.fit(data.X_train, data.y_train)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = clf.predict(data.X_test)
        predict_s = time.perf_counter() - t0
    return _Run(fit_s, predict_s, pred)


def _run_joblib_threading(data: TrainData, clf, workers: int, **_) -> _Run:
    """``joblib-threading``: the study's code, literally. XGBoost does not use joblib, so the
    context is inert (see the module docstring)."""
    import joblib

    t0 = time.perf_counter()
    with joblib.parallel_backend("threading", n_jobs=workers):
        clf.fit(data.X_train, data.y_train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with joblib.parallel_backend("threading", n_jobs=workers):
        pred = clf.predict(data.X_test)
    predict_s = time.perf_counter() - t0
    return _Run(fit_s, predict_s, pred, params={"joblib_backend": "threading"})


def _run_xgboost_dask(
    data: TrainData, clf, workers: int, *, scheduler=None, chunk_rows=None, dask_options=None, **_
) -> _Run:
    """``xgboost-dask``: ``DaskXGBClassifier`` with the estimator's parameters, on the client of
    the ``dask-distributed`` backend (:func:`dask_backend`); the cluster start is ``startup_s``.
    On a cluster with more workers than ``workers``, the data (and so the training, which runs
    where the partitions are) and the prediction are pinned to the backend's selected workers."""
    # raises BackendUnavailable without the extra
    backend = dask_backend(workers, scheduler, **(dask_options or {}))
    try:
        from xgboost import dask as dxgb
        from xgboost.collective import Config
    except ImportError as exc:  # pragma: no cover
        from .backends import BackendUnavailable

        raise BackendUnavailable(f"xgboost.dask is unavailable ({exc}): install genre-hpc[dask]") from exc
    import dask.array as da
    from distributed import wait
    from distributed.comm import get_address_host

    # the client is current inside the block: xgboost.dask computes its prediction with it
    with backend, backend.client.as_current():
        client = backend.client
        pin = backend.submit_restrictions()
        n_dask = len(backend.selected)
        rows = int(chunk_rows or math.ceil(len(data.y_train) / max(n_dask, 1)))
        test_rows = int(chunk_rows or math.ceil(len(data.y_test) / max(n_dask, 1)))
        params = clf.get_params()
        params["n_jobs"] = 1  # each worker process has one thread
        # xgboost 3.x hands the wrapper's own ``coll_cfg`` to the learner, which then warns
        # "Parameters: { coll_cfg } are not used" on every worker; verbosity 0 silences that
        # (the other parameters are the xgb-threads ones, which raise no warning)
        params["verbosity"] = 0
        # the collective tracker binds where the scheduler is (loopback for the local cluster)
        coll = Config(tracker_host_ip=get_address_host(client.scheduler.address))
        dclf = dxgb.DaskXGBClassifier(coll_cfg=coll, **params)
        dclf.client = client
        t0 = time.perf_counter()
        X = da.from_array(data.X_train, chunks=(rows, -1))
        y = da.from_array(data.y_train, chunks=(rows,))
        X, y = client.persist([X, y], **pin)
        wait([X, y])
        dclf.fit(X, y)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        lazy = dclf.predict(da.from_array(data.X_test, chunks=(test_rows, -1)))
        pred = client.compute(lazy, **pin).result()
        predict_s = time.perf_counter() - t0
        del X, y
        cluster = backend.cluster_info()
    summary = {
        "dask_workers": n_dask,
        "threads_per_worker": 1,
        "chunk_rows": rows,
        "partitions": math.ceil(len(data.y_train) / rows),
        "scheduler": "external" if backend.external else "LocalCluster",
        "cluster": cluster,
    }
    return _Run(fit_s, predict_s, pred, startup_s=backend.startup_s, params=summary)


@dataclass(frozen=True)
class TrainMode:
    """How a training mode spreads one model's work over ``workers``.

    ``model`` is the zoo's classifier (:func:`genre_hpc.models.make_classifier`);
    ``n_jobs(workers, inner_n_jobs)`` the estimator's own ``n_jobs``; ``run``
    fits and predicts, timed (:class:`_Run`).
    """

    name: str
    model: str
    n_jobs: Callable[[int, int | None], int | None]
    run: Callable[..., _Run]


def _workers_threads(workers, inner_n_jobs):
    return workers


#: the training modes by name (report order = :data:`TRAIN_MODES`)
MODES: dict[str, TrainMode] = {
    m.name: m
    for m in (
        TrainMode("xgb-threads", "xgboost", _workers_threads, _run_threaded),
        TrainMode("joblib-threading", "xgboost", lambda workers, inner: inner, _run_joblib_threading),
        TrainMode("xgboost-dask", "xgboost", lambda workers, inner: 1, _run_xgboost_dask),
        TrainMode("rf-threads", "random-forest", _workers_threads, _run_threaded),
        TrainMode("knn-threads", "knn", _workers_threads, _run_threaded),
    )
}
assert tuple(MODES) == TRAIN_MODES


def _mode(mode: str) -> TrainMode:
    try:
        return MODES[mode]
    except (KeyError, TypeError):
        raise ValueError(f"unknown training mode {mode!r}; known: {', '.join(TRAIN_MODES)}") from None


# --- training ------------------------------------------------------------------------


def make_mode_estimator(
    mode: str,
    workers: int = 1,
    *,
    preset: str = "quick",
    inner_n_jobs: int | None = 1,
    overrides: dict | None = None,
    random_state: int = RANDOM_STATE,
):
    """The unfitted estimator a threaded mode trains (``xgboost-dask``: its single-node twin).

    ``xgb-threads``/``rf-threads``/``knn-threads``: ``n_jobs=workers``;
    ``joblib-threading``: ``n_jobs=inner_n_jobs``; ``xgboost-dask``: ``n_jobs=1``
    (one thread per Dask worker). ``overrides`` are set on top (``set_params``).
    """
    m = _mode(mode)
    workers = _check_workers(workers)
    clf = make_classifier(m.model, preset, n_jobs=m.n_jobs(workers, inner_n_jobs), random_state=random_state)
    if overrides:
        clf.set_params(**overrides)
    return clf


def train_in_mode(
    data,
    mode: str = DEFAULT_TRAIN_MODE,
    workers: int = 1,
    *,
    preset: str = "quick",
    scheduler: str | None = None,
    inner_n_jobs: int | None = 1,
    chunk_rows: int | None = None,
    overrides: dict | None = None,
    random_state: int = RANDOM_STATE,
    dask_options: dict | None = None,
) -> TrainResult:
    """Train one model in one parallel mode; score it on the held-out tracks.

    (``train_xgb`` is the same function under its earlier name: the modes
    train XGBoost, RandomForest or KNN.)

    Parameters
    ----------
    data : TrainData, feature table, models.Dataset or table path
        See :func:`prepare_data` (prepare once and pass the ``TrainData`` to
        time several modes on identical inputs).
    mode : str
        One of :data:`TRAIN_MODES`. The three XGBoost modes train the zoo's
        ``xgboost`` (quick: 100 rounds, lr 0.05, ``hist``, seed 0);
        ``rf-threads`` / ``knn-threads`` the zoo's RandomForest / KNN.
    workers : int
        Threads (``*-threads``), joblib workers (``joblib-threading``) or Dask
        worker processes (``xgboost-dask``).
    preset : {"quick", "seed"}
        Model settings (:func:`genre_hpc.models.make_classifier`).
    scheduler : str, optional
        ``xgboost-dask`` only: train on this existing scheduler instead of a
        new ``LocalCluster`` (on exactly ``workers`` of its workers).
    inner_n_jobs : int or None
        ``joblib-threading`` only: XGBoost's own ``n_jobs`` inside the joblib
        context. Default 1 (the honest setting, see the module docstring);
        None = XGBoost's default, all cores.
    chunk_rows : int, optional
        ``xgboost-dask`` only: rows per Dask chunk. Default
        ``ceil(train_rows / dask_workers)``: one partition per worker (the
        table is small, a few MB; more partitions only add scheduling).
    overrides : dict, optional
        Estimator parameters set on the model of the mode, e.g.
        ``{"n_estimators": 20}`` for a quicker run (the same in every mode).
    random_state : int
    dask_options : dict, optional
        ``xgboost-dask`` only: further options of the ``dask-distributed`` backend
        (``cluster=`` a cluster file or deployment, ``threads_per_worker``, ...).

    Returns
    -------
    TrainResult
        ``model_params["cluster"]``: the cluster's shape for ``xgboost-dask``.
    """
    m = _mode(mode)
    workers = _check_workers(workers)
    data = prepare_data(data, random_state=random_state)
    clf = make_mode_estimator(
        mode,
        workers,
        preset=preset,
        inner_n_jobs=inner_n_jobs,
        overrides=overrides,
        random_state=random_state,
    )
    check_training_rows(clf, len(data.y_train))
    run = m.run(data, clf, workers, scheduler=scheduler, chunk_rows=chunk_rows, dask_options=dask_options)
    acc, chunk_acc = _scores(data, run.predictions)
    params = {"model": m.model, "n_jobs": clf.get_params()["n_jobs"], **run.params}
    params.update(_model_summary(clf))
    return TrainResult(
        mode,
        workers,
        run.fit_s,
        run.predict_s,
        run.startup_s,
        acc,
        chunk_acc,
        params,
        np.asarray(run.predictions).astype(np.int64),
    )


#: the earlier name of :func:`train_in_mode` (kept: it is public API)
train_xgb = train_in_mode


def _model_summary(clf) -> dict:
    keep = ("n_estimators", "learning_rate", "max_depth", "tree_method", "random_state", "n_neighbors")
    p = clf.get_params()
    return _jsonable({k: p[k] for k in keep if k in p})


# --- tuning --------------------------------------------------------------------------


def make_search(
    preset: str = "quick",
    *,
    param_grid: dict | None = None,
    n_jobs: int | None = None,
    random_state: int = RANDOM_STATE,
    cv=None,
):
    """The unfitted ``GridSearchCV`` of :func:`tune_xgb` (grouped 3-fold, accuracy, no refit).

    ``cv``: the folds (default ``GroupKFold(3)``; :meth:`TrainData.search_cv` gives the split's own).
    """
    import xgboost as xgb
    from sklearn.model_selection import GridSearchCV, GroupKFold

    if preset not in TUNE_ROUNDS:
        raise ValueError(f"unknown preset {preset!r}; known: {tuple(TUNE_ROUNDS)}")
    est = xgb.XGBClassifier(
        n_estimators=TUNE_ROUNDS[preset], n_jobs=1, random_state=random_state, tree_method="hist"
    )
    return GridSearchCV(
        est,
        param_grid or PARAM_GRID,
        scoring="accuracy",
        cv=GroupKFold(n_splits=CV_FOLDS) if cv is None else cv,
        n_jobs=n_jobs,
        refit=False,
        error_score="raise",
    )


def tune_xgb(
    data,
    backend: str = "joblib-loky",
    workers: int = 1,
    *,
    preset: str = "quick",
    scheduler: str | None = None,
    param_grid: dict | None = None,
    holdout: bool = True,
    random_state: int = RANDOM_STATE,
    dask_options: dict | None = None,
) -> TuneResult:
    """Grid-search XGBoost's ``max_depth`` x ``learning_rate`` in parallel.

    Parameters
    ----------
    data : TrainData, feature table, models.Dataset or table path
        The search uses the training tracks only (see :func:`prepare_data`),
        in the folds of :meth:`TrainData.search_cv`.
    backend : {"joblib-loky", "joblib-dask"}
        joblib's ``loky`` process pool with ``workers`` processes, or joblib's
        ``dask`` backend on a ``LocalCluster`` of ``workers`` processes x 1
        thread (or the existing ``scheduler``).
    workers : int
    preset : {"quick", "seed"}
        Boosting rounds of each candidate (:data:`TUNE_ROUNDS`: 20 / 1000).
    scheduler : str, optional
        ``joblib-dask`` only: an existing scheduler's address (the search runs on exactly
        ``workers`` of its workers).
    dask_options : dict, optional
        ``joblib-dask`` only: further options of the ``dask-distributed`` backend
        (``cluster=``, ``threads_per_worker``, ...).
    param_grid : dict, optional
        Default :data:`PARAM_GRID` (4 x 3 = 12 candidates, 36 fits).
    holdout : bool
        After the timed search, refit the best parameters on all training
        rows and score the held-out tracks (``holdout_accuracy``).

    Returns
    -------
    TuneResult
    """
    import joblib

    if backend not in TUNE_BACKENDS:
        raise ValueError(f"unknown tuning backend {backend!r}; known: {', '.join(TUNE_BACKENDS)}")
    workers = _check_workers(workers)
    data = prepare_data(data, random_state=random_state)
    data.check_search_folds(CV_FOLDS, random_state)
    cv, cv_groups = data.search_cv(CV_FOLDS, random_state)
    cluster = None
    if backend == "joblib-loky":
        t0 = time.perf_counter()
        # start (or resize) loky's reusable pool and import xgboost in it, outside the timed search
        joblib.Parallel(n_jobs=workers, backend="loky")(
            joblib.delayed(_warm_imports)() for _ in range(workers)
        )
        startup_s = time.perf_counter() - t0
        search = make_search(preset, param_grid=param_grid, n_jobs=workers, random_state=random_state, cv=cv)
        t0 = time.perf_counter()
        with joblib.parallel_backend("loky", n_jobs=workers):
            search.fit(data.X_train, data.y_train, groups=cv_groups)
        seconds = time.perf_counter() - t0
    else:
        with dask_backend(workers, scheduler, **(dask_options or {})) as dask:
            search = make_search(preset, param_grid=param_grid, n_jobs=-1, random_state=random_state, cv=cv)
            t0 = time.perf_counter()
            # scatter=...: the training rows go to every worker once, up front (joblib would
            # otherwise scatter them to one worker and the others would fetch them on first use);
            # the fits are pinned to the backend's selected workers when the cluster has more
            with joblib.parallel_backend(
                "dask",
                client=dask.client,
                scatter=[data.X_train, data.y_train],
                **dask.submit_restrictions(),
            ):
                search.fit(data.X_train, data.y_train, groups=cv_groups)
            seconds = time.perf_counter() - t0
            n_dask = len(dask.selected)
            cluster = dask.cluster_info()
        startup_s = dask.startup_s
    best = _jsonable(search.best_params_)
    cv_res = {
        "params": [_jsonable(p) for p in search.cv_results_["params"]],
        "mean_test_score": [float(v) for v in search.cv_results_["mean_test_score"]],
        "std_test_score": [float(v) for v in search.cv_results_["std_test_score"]],
        "rank_test_score": [int(v) for v in search.cv_results_["rank_test_score"]],
    }
    hold = float("nan")
    hold_ci = score_ci = (float("nan"), float("nan"))
    if holdout:
        from sklearn.base import clone

        from .uncertainty import accuracy_intervals

        clf = clone(search.estimator).set_params(**best)
        clf.fit(data.X_train, data.y_train)
        pred = np.asarray(clf.predict(data.X_test)).astype(np.int64)
        hold, _ = _scores(data, pred)
        hold_ci = holdout_intervals(data, pred)["track_accuracy_ci"]
        # the best candidate's folds again (untimed), to put an interval on its mean fold score
        right, groups, strata = [], [], []
        for i, (tr, te) in enumerate(cv.split(data.X_train, data.y_train, cv_groups)):
            fold_clf = clone(search.estimator).set_params(**best).fit(data.X_train[tr], data.y_train[tr])
            right.append(np.asarray(fold_clf.predict(data.X_train[te])).astype(np.int64) == data.y_train[te])
            groups.append(data.groups_train[te])
            strata.append(np.full(len(te), i))
        tracks = np.unique(np.concatenate(groups))
        score_ci = accuracy_intervals(
            np.concatenate(right),
            np.concatenate(groups),
            np.zeros(len(tracks)),
            chunk_strata=np.concatenate(strata),
        )["chunk_accuracy_ci"]
    return TuneResult(
        backend,
        workers,
        seconds,
        startup_s,
        best,
        float(search.best_score_),
        cv_res,
        hold,
        n_dask if backend == "joblib-dask" else None,
        best_score_ci=score_ci,
        holdout_accuracy_ci=hold_ci,
        cluster=cluster if backend == "joblib-dask" else None,
    )


__all__ = [
    "ACCURACY_TOLERANCE",
    "CV_FOLDS",
    "DEFAULT_TRAIN_MODE",
    "PARAM_GRID",
    "TRAIN_MODES",
    "TUNE_BACKENDS",
    "TUNE_ROUNDS",
    "XGB_MODES",
    "MODES",
    "TrainData",
    "TrainMode",
    "TrainResult",
    "TuneResult",
    "dask_available",
    "dask_backend",
    "load_feature_table",
    "make_mode_estimator",
    "make_search",
    "prepare_data",
    "start_dask",
    "stop_dask",
    "holdout_intervals",
    "train_in_mode",
    "train_xgb",
    "tune_xgb",
]
