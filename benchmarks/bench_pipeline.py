"""The pipeline's serial steps, one at a time: synthesis, audio, features, models.

Inputs are made in ``setup_cache`` (a GTZAN-length synthetic track; the classifiers' feature
table) or derived from those in ``setup``, never in the timed calls, and every benchmark
process is warmed up (imports, numba compilation, filter caches) before its first timed call.
"""

import os
import shutil
import tempfile
from pathlib import Path

from genre_hpc.dataset import GTZAN_GENRES
from genre_hpc.models import MODEL_NAMES

from .common import PROFILE, SerialBenchmark, dataset_root, limit_threads

#: GTZAN's track length: the "per track" benchmarks use one track of this length
TRACK_SECONDS = 30.0
_WARM: set = set()


def _once(key, fn):
    if key not in _WARM:
        fn()
        _WARM.add(key)


def _gtzan_track():
    """One 30 s synthetic jazz track (GTZAN's length), written into the setup_cache folder."""
    import soundfile as sf

    from genre_hpc.dataset import Track
    from genre_hpc.synth import SAMPLE_RATE, synthesize_track, track_name

    path = Path(os.getcwd()) / track_name("jazz", 0)
    sf.write(
        str(path), synthesize_track("jazz", 0, seconds=TRACK_SECONDS, seed=0), SAMPLE_RATE, subtype="PCM_16"
    )
    return {"track": Track(f"jazz/{path.name}", "jazz", str(path))}


_gtzan_track.timeout = PROFILE.timeout


class Synthesis(SerialBenchmark):
    """Rendering one 30 s synthetic track, per genre (``genre_hpc.synth.synthesize_track``)."""

    params = [list(GTZAN_GENRES)]
    param_names = ["genre"]

    def setup(self, genre):
        from genre_hpc.synth import synthesize_track

        limit_threads(self.blas_threads)
        _once(("synth", genre), lambda: synthesize_track(genre, 1, seconds=1.0, seed=0))

    def time_synthesize_track(self, genre):
        from genre_hpc.synth import synthesize_track

        synthesize_track(genre, 0, seconds=TRACK_SECONDS, seed=0)


#: tracks per genre of ``SynthDataset`` (10 tracks of the profile's length)
SYNTH_PER_GENRE = 1


class SynthDataset(SerialBenchmark):
    """Writing a synthetic dataset of 10 tracks of the profile's length (render + 16-bit WAV
    files + manifest)."""

    def setup(self):
        from genre_hpc.synth import synthesize_track

        limit_threads(self.blas_threads)
        _once("synth", lambda: synthesize_track("rock", 1, seconds=1.0, seed=0))
        self.out = tempfile.mkdtemp(prefix="genre-hpc-bench-synth-")

    def teardown(self):
        shutil.rmtree(self.out, ignore_errors=True)

    def time_write_dataset(self):
        from genre_hpc.synth import write_dataset

        write_dataset(
            self.out, per_genre=SYNTH_PER_GENRE, seconds=PROFILE.seconds, seed=PROFILE.seed, progress=False
        )


class Audio(SerialBenchmark):
    """Loading one 30 s track: decode to 22050 Hz mono float32, then 3 s chunks + silence trim."""

    setup_cache = staticmethod(_gtzan_track)

    def setup(self, cache):
        from genre_hpc.audio import load_chunks

        limit_threads(self.blas_threads)
        _once("audio", lambda: load_chunks(cache["track"].path))

    def time_load_audio(self, cache):
        from genre_hpc.audio import load_audio

        load_audio(cache["track"].path)

    def time_load_chunks(self, cache):
        from genre_hpc.audio import load_chunks

        load_chunks(cache["track"].path)


class Features(SerialBenchmark):
    """Feature extraction per chunk (one 3 s chunk) and per track (one 30 s track, load included).

    In the pull-request selection: samples from ``pr_serial_rounds`` processes."""

    rounds = PROFILE.pr_serial_rounds

    setup_cache = staticmethod(_gtzan_track)
    params = [["reference", "fast"]]
    param_names = ["extractor"]

    def setup(self, cache, extractor):
        from genre_hpc.audio import load_chunks
        from genre_hpc.features import get_extractor

        try:
            self.ext = get_extractor(extractor)
        except ModuleNotFoundError as exc:
            raise NotImplementedError(f"extractor {extractor!r} is not available ({exc})") from None
        limit_threads(self.blas_threads)
        if not hasattr(self, "chunk"):
            self.chunk = load_chunks(cache["track"].path)[0][1]
        _once(("features", extractor), lambda: self.ext.extract_chunk(self.chunk))
        limit_threads(self.blas_threads)

    def time_extract_chunk(self, cache, extractor):
        self.ext.extract_chunk(self.chunk)

    def time_extract_track(self, cache, extractor):
        self._extract_track(cache)

    def peakmem_extract_track(self, cache, extractor):
        """Peak memory of this (single-process) benchmark while it extracts one 30 s track."""
        self._extract_track(cache)

    def track_speedup_vs_reference(self, cache, extractor):
        """Throughput per core over the reference's: reference CPU seconds per chunk divided by this
        extractor's, on the same chunk, in this process, warm, no cache (1.0 for the reference)."""
        import time

        from genre_hpc.features import get_extractor

        ref = get_extractor("reference")
        _once(("features", "reference"), lambda: ref.extract_chunk(self.chunk))

        def cpu_per_chunk(ext, n):
            t0 = time.process_time()
            for _ in range(n):
                ext.extract_chunk(self.chunk)
            return (time.process_time() - t0) / n

        return cpu_per_chunk(ref, 3) / cpu_per_chunk(self.ext, 3 if self.ext is ref else 30)

    track_speedup_vs_reference.unit = "x"

    def _extract_track(self, cache):
        from genre_hpc.extract import TrackTask, extract_track

        res = extract_track(TrackTask(cache["track"], self.ext.NAME))
        if res.failure is not None:
            raise RuntimeError(res.failure.reason)


class Models(SerialBenchmark):
    """Each classifier of the zoo (``quick`` preset, one thread): fit, predict, and its
    track-level accuracy (majority vote over chunks) on a fixed track-level split."""

    params = [list(MODEL_NAMES)]
    param_names = ["model"]

    def setup_cache(self):
        from genre_hpc.extract import extract_features
        from genre_hpc.models import split_indices, table_to_dataset

        limit_threads(self.blas_threads)
        res = extract_features(
            dataset_root(PROFILE, models=True), extractor="fast", backend="serial", cache=True, progress=False
        )
        ds = table_to_dataset(res.table)
        train, test = split_indices(ds, "track")
        return {"ds": ds, "train": train, "test": test}

    setup_cache.timeout = PROFILE.timeout

    def setup(self, cache, model):
        from genre_hpc.models import make_pipeline

        limit_threads(self.blas_threads)
        ds, train, test = cache["ds"], cache["train"], cache["test"]
        self.pipe = make_pipeline(model, "quick", n_jobs=1)  # a fresh, unfitted one before every fit
        self.X_train, self.y_train, self.X_test = ds.X[train], ds.y[train], ds.X[test]
        if getattr(self, "fitted", None) is None:  # for time_predict; also warms the imports up
            self.fitted = make_pipeline(model, "quick", n_jobs=1).fit(self.X_train, self.y_train)
            limit_threads(self.blas_threads)  # the classifiers' libraries are loaded now

    def time_fit(self, cache, model):
        self.pipe.fit(self.X_train, self.y_train)

    def time_predict(self, cache, model):
        self.fitted.predict(self.X_test)

    def track_accuracy(self, cache, model):
        """Track-level accuracy on the test tracks (fixed seeds: split, model)."""
        from genre_hpc.models import evaluate, make_pipeline

        return evaluate(
            make_pipeline(model, "quick", n_jobs=1), cache["ds"], cache["train"], cache["test"], model
        ).track_accuracy

    track_accuracy.unit = "ratio"

    def track_error(self, cache, model):
        """1 - ``track_accuracy``, lower-is-better as asv reads every figure (its Regressions page
        then lists a worse model; asv issue #1617)."""
        return 1.0 - self.track_accuracy(cache, model)

    track_error.unit = "error rate"
