"""Feature extraction of the whole dataset over backend x workers, per extractor.

``TimeExtract`` is the study's (``reference``) extractor on every registered backend;
``TimeExtractFast`` the ``fast`` one on every backend on the full grid and on one backend per
family on the core grid (``benchmarks.common.grid``).
"""

from genre_hpc.backends import backend_names

from .common import StageBenchmark, variant_backends, worker_counts


class TimeExtract(StageBenchmark):
    """The ``extract`` stage (no feature cache) with the reference extractor."""

    stage_name = "extract"
    params = (backend_names(), worker_counts(), ["reference"])
    param_names = ["backend", "workers", "extractor"]

    def skip_reason(self, combo):
        from genre_hpc.features import get_extractor

        try:
            get_extractor(combo["extractor"])
        except ModuleNotFoundError as exc:
            return f"extractor {combo['extractor']!r} is not available ({exc})"
        return super().skip_reason(combo)

    def warm(self, work):
        """The extractor's warm-up, then one real track through the whole per-track path
        (decode, chunking, trimming, every feature): the first real track after the warm-up on
        noise is still slower (lazy imports, first calls at the real chunk length)."""
        from genre_hpc.extract import TrackTask, extract_track, warm_up

        warm_up(work["extractor"])()
        extract_track(TrackTask(work["tracks"][0], work["extractor"]))


class TimeExtractFast(TimeExtract):
    """The same stage with the ``fast`` extractor (skipped where numba is not installed)."""

    params = (variant_backends(), worker_counts(), ["fast"])
