"""What the timings were measured on: the size of the work and the thread settings.

Recorded beside the timings so that a dashboard (and ``genre-hpc compare-machines``) can tell
runs of different scales apart and show that BLAS/OpenMP pools were limited as intended.
"""

from genre_hpc.backends import backend_names

from .common import PROFILE, SerialBenchmark, dataset_root, limit_threads, max_pool_threads


def _workload():
    from genre_hpc.audio import AudioError, load_chunks
    from genre_hpc.dataset import discover

    out = {}
    for key in ("stages", "reference", "models", "train"):
        tracks = discover(dataset_root(PROFILE, which=key))
        chunks = 0
        for t in tracks:
            try:
                chunks += len(load_chunks(t.path))
            except AudioError:
                pass
        out[key] = {"tracks": len(tracks), "chunks": chunks}
    return out


_workload.timeout = PROFILE.timeout


class Workload:
    """Tracks and chunks of the profile's datasets: the stage benchmarks' (``fast`` extraction,
    images), the ``reference`` extractor's, the classifiers' and the training stage's."""

    setup_cache = staticmethod(_workload)
    timeout = PROFILE.timeout

    def track_stage_tracks(self, cache):
        return cache["stages"]["tracks"]

    track_stage_tracks.unit = "tracks"

    def track_stage_chunks(self, cache):
        return cache["stages"]["chunks"]

    track_stage_chunks.unit = "chunks"

    def track_model_chunks(self, cache):
        return cache["models"]["chunks"]

    track_model_chunks.unit = "chunks"

    def track_reference_chunks(self, cache):
        """Chunks of the ``reference`` extractor's stage dataset."""
        return cache["reference"]["chunks"]

    track_reference_chunks.unit = "chunks"

    def track_train_chunks(self, cache):
        """Chunks of the training stage's table."""
        return cache["train"]["chunks"]

    track_train_chunks.unit = "chunks"


def _process_backends():
    from genre_hpc.backends import get_backend_class

    out = []
    for b in backend_names():
        try:
            if get_backend_class(b).uses_processes:
                out.append(b)
        except ImportError:
            pass
    return out


class Threads(SerialBenchmark):
    """BLAS/OpenMP threads of the benchmark process after the suite's limit (numpy's BLAS and
    scikit-learn's OpenMP runtime loaded)."""

    def track_benchmark_process_threads(self):
        import numpy  # noqa: F401
        import sklearn.ensemble  # noqa: F401

        return max_pool_threads(limit_threads(self.blas_threads))

    track_benchmark_process_threads.unit = "threads"


class WorkerThreads(SerialBenchmark):
    """BLAS/OpenMP threads inside one worker of every process backend (the backends' default
    ``thread_limit``, 1)."""

    params = [_process_backends()]
    param_names = ["backend"]

    def setup(self, backend):
        from genre_hpc.stages import backend_reason

        why = backend_reason(backend, 1)
        if why:
            raise NotImplementedError(why)

    def track_worker_threads(self, backend):
        from genre_hpc.backends import get_backend
        from genre_hpc.threads import pool_threads

        with get_backend(backend, 1) as b:
            return b.map(pool_threads, [None])[0]

    track_worker_threads.unit = "threads"
