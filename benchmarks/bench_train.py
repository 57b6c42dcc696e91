"""Training over ``mode`` x ``threads`` and tuning over ``backend`` x ``workers``.

``mode`` is a training mode of ``genre_hpc.training`` (xgb-threads, joblib-threading,
xgboost-dask, rf-threads, knn-threads), ``backend`` of the tuning stage a joblib backend of the
search (joblib-loky, joblib-dask); the speed-up baseline is the same mode (backend) on 1
thread (worker). XGBoost runs 1 thread per Dask worker (no nested parallelism). Training uses
the profile's ``train`` dataset (ten thousand chunks at the default scale: XGBoost's threads
share the work of each tree, so the table must give them some) with the profile's
``train_overrides`` (fewer boosting rounds, the same trees at every thread count); tuning uses
the ``models`` dataset. The feature tables are extracted once with the ``fast`` extractor and
cached on disk, so preparing them is not timed and is fast after the first run.
"""

from .common import PROFILE, StageBenchmark


class _ModelStage(StageBenchmark):
    """A stage trained on one of the profile's model datasets, with its accuracy tracked beside
    its speed; one run takes seconds, so one sample per benchmark process (``heavy_repeat``)."""

    dataset = "models"
    repeat = PROFILE.heavy_repeat

    def track_accuracy(self, cache, *params):
        """Track-level accuracy of the run (fixed seeds): a slower *or worse* commit shows up."""
        return float(self._record()["extra"]["accuracy"])

    track_accuracy.unit = "accuracy"

    def track_error(self, cache, *params):
        """1 - ``track_accuracy``: the same figure, lower-is-better as asv reads every figure, so
        that asv's Regressions page lists a worse model (it cannot be told that a higher accuracy
        is better: asv issue #1617)."""
        return 1.0 - self.track_accuracy(cache, *params)

    track_error.unit = "error rate"


class TimeTrain(_ModelStage):
    """XGBoost / RF / KNN fit + predict in every parallel mode. The process is warmed by small
    fits of the zoo's models at 1 and 2 threads (``stage.warm_up``: imports, OpenMP pools; KNN's
    first call was 20x its later ones), not by a run of the whole table."""

    stage_name = "train"
    dataset = "train"
    prepare_options = {"overrides": dict(PROFILE.train_overrides)}


class TimeTune(_ModelStage):
    """The 4 x 3 XGBoost grid search (GroupKFold by track) on joblib's loky and Dask backends."""

    stage_name = "tune"
