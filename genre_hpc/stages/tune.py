"""The tuning stage: the XGBoost grid search on joblib's loky or dask backend."""

from __future__ import annotations

from . import RunResult, Stage, dask_run_options
from .space import Axis, Space
from .train import prepare_training, warm_models


def _tune_backends():
    from ..training import TUNE_BACKENDS

    return TUNE_BACKENDS


class TuneStage(Stage):
    """``GridSearchCV`` of XGBoost ``max_depth`` x ``learning_rate``
    (see :func:`genre_hpc.training.tune_xgb`): backend x workers, where ``backend`` is a
    joblib backend of the search (``joblib-loky``, ``joblib-dask``), not a registered backend.

    ``compute_s`` is the search alone; ``startup_s`` the loky pool / Dask
    cluster start and the workers' imports. The speed-up is against the same
    backend on 1 worker. ``extra``: ``accuracy`` = the best mean
    cross-validated *chunk* accuracy (grouped 3-fold on the training tracks,
    the quantity the search maximises), ``holdout_accuracy`` = track-level
    accuracy of the best parameters on the held-out tracks (refitted after
    the timed search), ``best_params`` (a JSON-ready dict), ``dask_workers``,
    ``accuracy_ci`` and ``holdout_accuracy_ci`` (95 % bootstrap intervals over
    tracks, ``[lo, hi]``), ``protocol`` and ``valid_use``: with a split file's
    valid list the search fits on the train list and scores on the valid list
    (``PredefinedSplit``; ``accuracy`` is then the valid-list chunk accuracy)
    and the refit for the hold-out uses both.
    Two outputs are the same when their best parameters are equal.
    """

    name = "tune"
    space = Space(
        (
            Axis(
                "backend",
                "choice",
                _tune_backends,
                requires={"joblib-dask": ("dask",)},
                help="joblib backend of the grid search",
            ),
            Axis("workers", "count", help="workers of the grid search"),
        ),
        backend="backend",
        workers="workers",
    )

    def prepare(self, **options):
        return prepare_training(**options)

    def check_work(self, work, cells) -> None:
        """Every fold of the search must fit on every genre (XGBoost's labels)."""
        from ..splits import SplitError
        from ..training import CV_FOLDS

        try:
            work["data"].check_search_folds(CV_FOLDS)  # the folds tune_xgb makes (its default seed)
        except SplitError as exc:
            raise SplitError(f"{exc}; give more tracks (--per-genre 5 or more, or a larger --data)") from None

    def warm_up(self, work) -> None:
        """Small fits of the zoo's models at 1 and 2 threads (:func:`~.train.warm_models`)."""
        warm_models(work["data"])

    def baseline(self, cell):
        """The same backend on 1 worker."""
        return {**cell, "workers": 1}

    def uses_processes(self, cell):
        return True

    def run(self, work, backend, workers, **options):
        from ..training import tune_xgb

        dask = dask_run_options(options) if backend == "joblib-dask" else {}
        res = tune_xgb(
            work["data"],
            backend,
            workers,
            preset=work["preset"],
            scheduler=dask.pop("scheduler", None),
            dask_options=dask,
        )
        out = {"best_params": res.best_params, "best_score": res.best_score}
        data = work["data"]
        extra = {
            "accuracy": res.best_score,
            "accuracy_ci": list(res.best_score_ci),
            "holdout_accuracy": res.holdout_accuracy,
            "holdout_accuracy_ci": list(res.holdout_accuracy_ci),
            "protocol": data.protocol.get("protocol", "track"),
            "valid_use": "grid search scoring (PredefinedSplit), then merged for the refit"
            if data.has_valid
            else None,
            "best_params": dict(res.best_params),
            "dask_workers": res.dask_workers,
        }
        if res.cluster:
            extra["cluster"] = res.cluster
        return RunResult(res.seconds, res.startup_s, out, extra)

    def same(self, a, b) -> bool:
        return a["best_params"] == b["best_params"]
