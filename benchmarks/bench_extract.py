"""Feature extraction of the whole dataset over backend x workers, per extractor.

``TimeExtract`` is the study's (``reference``) extractor on every registered backend;
``TimeExtractFast`` the ``fast`` one on every backend on the full grid and on one backend per
family on the core grid (``benchmarks.common.grid``).
"""

from .common import StageBenchmark, variant_backends


class TimeExtract(StageBenchmark):
    """The ``extract`` stage (no feature cache) with the reference extractor: backend (every
    registered one) x workers x extractor (the stage skips an extractor that cannot load)."""

    stage_name = "extract"
    work_params = {"extractor": ["reference"]}

    def warm(self, work):
        """The extractor's warm-up, then one real track through the whole per-track path
        (decode, chunking, trimming, every feature): the first real track after the warm-up on
        noise is still slower (lazy imports, first calls at the real chunk length)."""
        from genre_hpc.extract import TrackTask, extract_track, warm_up

        warm_up(work["extractor"])()
        extract_track(TrackTask(work["tracks"][0], work["extractor"]))


class TimeExtractFast(TimeExtract):
    """The same stage with the ``fast`` extractor (skipped where numba is not installed)."""

    axis_values = {"backend": variant_backends()}
    work_params = {"extractor": ["fast"]}
