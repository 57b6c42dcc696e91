"""The training stage: one model trained in one parallel mode (see :mod:`genre_hpc.training`)."""

from __future__ import annotations

from . import RunResult, Stage, dask_run_options
from .space import Axis, Space


def prepare_training(
    *,
    data=None,
    table=None,
    per_genre: int = 2,
    seconds: float = 6.0,
    seed: int = 0,
    extractor: str = "fast",
    preset: str = "quick",
    split: str | None = None,
    split_file=None,
    groups=None,
    overrides: dict | None = None,
    **_,
) -> dict:
    """The work of the train and tune stages: a fixed, standardised split, made once.

    The feature table comes from :func:`genre_hpc.training.load_feature_table`:
    ``table`` (a DataFrame or a table path), or ``data`` when it is a table file
    (``.parquet``/``.csv``, so ``genre-hpc scale --data features.parquet`` works),
    or else the features of the GTZAN-layout folder ``data`` / of the synthetic
    dataset (``per_genre``, ``seconds``, ``seed``), extracted once with the
    feature cache. Extraction and the split are not timed. ``overrides``:
    estimator parameters for the train stage (e.g. ``{"n_estimators": 20}``; a mode whose
    estimator has no such parameter, KNN, ignores it: :func:`overrides_for`).

    The split (:func:`genre_hpc.training.prepare_data`): ``split`` (``track``,
    default; ``chunk``; ``gtzan-filtered``), ``split_file`` (a folder of
    train/valid/test lists: the train stage trains on train + valid, the tune
    stage scores its grid on valid) and ``groups`` (a CSV track -> group: the
    track split and the grid search's folds are grouped by it).
    """
    from ..models import PRESETS
    from ..training import load_feature_table, prepare_data

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {PRESETS}")
    tab = load_feature_table(
        data, table=table, per_genre=per_genre, seconds=seconds, seed=seed, extractor=extractor
    )
    data = prepare_data(tab, split=split or "track", split_file=split_file, groups=groups)
    return {
        "data": data,
        "preset": preset,
        "overrides": dict(overrides or {}),
        "protocol_notes": list(data.protocol.get("notes", [])),
    }


def overrides_for(mode: str, overrides: dict | None) -> dict:
    """The estimator parameters of ``overrides`` that ``mode``'s estimator has (the work's
    ``{"n_estimators": 10}`` applies to XGBoost and the random forest, not to KNN)."""
    if not overrides:
        return {}
    from ..training import make_mode_estimator

    known = make_mode_estimator(mode, 1).get_params()
    return {k: v for k, v in overrides.items() if k in known}


def warm_models(data, rows_per_class: int = 30) -> None:
    """Small fits of the zoo's XGBoost, random forest and KNN at 1 and 2 threads on a stratified
    sample of ``data``'s training rows, in this process: imports, the OpenMP/BLAS pools and
    first calls (KNN's first prediction was 20x its later ones), without training on the whole
    table. The train and tune stages' ``warm_up``."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from ..models import make_classifier

    y = np.asarray(data.y_train)
    rows = np.concatenate([np.flatnonzero(y == c)[:rows_per_class] for c in np.unique(y)])
    X, y = data.X_train[rows], y[rows]
    for threads in (1, 2):
        with threadpool_limits(threads):
            for name, extra in (("xgboost", {"n_estimators": 2}), ("random-forest", {"n_estimators": 4})):
                clf = make_classifier(name, "quick", n_jobs=threads)
                clf.set_params(**extra)
                clf.fit(X, y).predict(X)
            knn = make_classifier("knn", "quick", n_jobs=threads)
            knn.set_params(n_neighbors=min(knn.get_params()["n_neighbors"], len(y)))
            knn.fit(X, y).predict(X)


def _train_modes():
    from ..training import TRAIN_MODES

    return TRAIN_MODES


class TrainStage(Stage):
    """Train + predict the held-out rows: mode x threads.

    ``mode`` is one of :data:`~genre_hpc.training.TRAIN_MODES`, ``threads`` the estimator's
    threads (or Dask workers of ``xgboost-dask``).

    ``compute_s`` is fit + predict (``predict_s`` is what KNN's ``n_jobs``
    speeds up; for the tree models it is a few ms); ``startup_s`` the Dask
    cluster start of ``xgboost-dask`` (0 for the threaded modes). The speed-up
    of a mode is against the same mode on 1 thread. ``extra``: ``accuracy``
    (track level, held-out tracks), ``chunk_accuracy``, their 95 % bootstrap
    intervals over the held-out tracks ``accuracy_ci`` and
    ``chunk_accuracy_ci`` (``[lo, hi]``), ``test_tracks``, ``protocol``
    (``track``, ``group``, ``split-file``, ``chunk``), ``valid_use`` (with a
    split file's valid list: merged into train), ``fit_s``, ``predict_s``,
    ``n_jobs`` (the estimator's own), ``dask_workers``.
    Two outputs are the same when both accuracies agree within
    :data:`~genre_hpc.training.ACCURACY_TOLERANCE`.
    """

    name = "train"
    space = Space(
        (
            Axis(
                "mode",
                "choice",
                _train_modes,
                requires={"xgboost-dask": ("dask",)},
                help="training modes (xgb-threads, joblib-threading, xgboost-dask, rf-threads, knn-threads)",
            ),
            Axis(
                "threads",
                "count",
                help="threads of the estimator (Dask workers of xgboost-dask)",
            ),
        ),
        backend="mode",
        workers="threads",
    )

    def prepare(self, **options):
        return prepare_training(**options)

    def check_work(self, work, cells) -> None:
        """KNN's neighbours need as many training chunks: checked for the knn-threads cells."""
        if any(c.get("mode") == "knn-threads" for c in cells):
            from ..models import check_training_rows, make_classifier

            knn = make_classifier("knn", work["preset"])
            check_training_rows(knn, len(work["data"].y_train), leave_out="the knn-threads mode")

    def warm_up(self, work) -> None:
        """Small fits of the zoo's models at 1 and 2 threads (:func:`warm_models`)."""
        warm_models(work["data"])

    def baseline(self, cell):
        """The same mode on 1 thread."""
        return {**cell, "threads": 1}

    def uses_processes(self, cell):
        return cell["mode"] == "xgboost-dask"

    def run(self, work, mode, threads, **options):
        from ..training import holdout_intervals, train_xgb

        dask = dask_run_options(options) if mode == "xgboost-dask" else {}
        res = train_xgb(
            work["data"],
            mode,
            threads,
            preset=work["preset"],
            overrides=overrides_for(mode, work.get("overrides")),
            scheduler=dask.pop("scheduler", None),
            dask_options=dask,
        )
        out = {"predictions": res.predictions, "accuracy": res.accuracy, "chunk_accuracy": res.chunk_accuracy}
        data = work["data"]
        cis = holdout_intervals(data, res.predictions)
        extra = {
            "accuracy": res.accuracy,
            "accuracy_ci": list(cis["track_accuracy_ci"]),
            "chunk_accuracy": res.chunk_accuracy,
            "chunk_accuracy_ci": list(cis["chunk_accuracy_ci"]),
            "test_tracks": int(len(set(data.groups_test))),
            "protocol": data.protocol.get("protocol", "track"),
            "valid_use": "merged into train" if data.has_valid else None,
            "fit_s": res.fit_s,
            "predict_s": res.predict_s,
            "n_jobs": res.model_params.get("n_jobs"),
            "dask_workers": res.model_params.get("dask_workers"),
        }
        if res.model_params.get("cluster"):
            extra["cluster"] = res.model_params["cluster"]
        return RunResult(res.compute_s, res.startup_s, out, extra)

    def same(self, a, b) -> bool:
        from ..training import ACCURACY_TOLERANCE

        return (
            abs(a["accuracy"] - b["accuracy"]) <= ACCURACY_TOLERANCE
            and abs(a["chunk_accuracy"] - b["chunk_accuracy"]) <= ACCURACY_TOLERANCE
        )

    def scaled(self, work, factor):
        """Weak scaling: every training row ``factor`` times (the test rows unchanged)."""
        import numpy as np

        d = work["data"]
        rep = type(d)(
            X_train=np.tile(d.X_train, (factor, 1)),
            y_train=np.tile(d.y_train, factor),
            groups_train=np.tile(d.groups_train, factor),
            X_test=d.X_test,
            y_test=d.y_test,
            groups_test=d.groups_test,
            classes=d.classes,
            feature_names=d.feature_names,
            test_fold=None if d.test_fold is None else np.tile(d.test_fold, factor),
            groups_search=None if d.groups_search is None else np.tile(d.groups_search, factor),
            protocol=d.protocol,
        )
        return {**work, "data": rep}

    def scaled_output(self, output, factor):
        """Repeated rows change the trees slightly: the expected accuracy is the base one."""
        return output
