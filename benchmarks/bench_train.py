"""Training over ``mode`` x ``threads`` and tuning over ``backend`` x ``workers``.

``mode`` is a training mode of ``genre_hpc.training`` (xgb-threads, joblib-threading,
xgboost-dask, rf-threads, knn-threads), ``backend`` of the tuning stage a joblib backend of the
search (joblib-loky, joblib-dask); the speed-up baseline is the same mode (backend) on 1
thread (worker). XGBoost runs 1 thread per Dask worker (no
nested parallelism). The feature table comes from the classifiers' bigger synthetic dataset
(features cached on disk, so preparing it is not timed and is fast after the first run).
"""

from .common import StageBenchmark, dataset_root, profile


class _ModelStage(StageBenchmark):
    """A stage trained on the classifiers' dataset, with its accuracy tracked beside its speed."""

    def prepare_kwargs(self, cache, combo):
        prof = profile()
        kw = super().prepare_kwargs(cache, combo)
        kw.update(
            data=str(dataset_root(prof, models=True)),
            per_genre=prof.model_per_genre,
            seconds=prof.model_seconds,
        )
        return kw

    def track_accuracy(self, cache, *params):
        """Track-level accuracy of the run (fixed seeds): a slower *or worse* commit shows up."""
        return float(self._record()["extra"]["accuracy"])

    track_accuracy.unit = "accuracy"


class _WarmedByBaseline(_ModelStage):
    """Warmed up by one untimed baseline run: the first fit in a process pays first-call costs
    (imports, thread-pool creation; KNN's first call was 20x its later ones), which would
    otherwise land in the baseline and inflate the speed-up."""

    def warm(self, work):
        super().warm(work)
        self.stage.run(work, **self.stage.baseline(self.cell))


class TimeTrain(_WarmedByBaseline):
    """XGBoost / RF / KNN fit + predict in every parallel mode."""

    stage_name = "train"


class TimeTune(_WarmedByBaseline):
    """The 4 x 3 XGBoost grid search (GroupKFold by track) on joblib's loky and Dask backends."""

    stage_name = "tune"
