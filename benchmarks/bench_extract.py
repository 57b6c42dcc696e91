"""Feature extraction of the whole dataset over backend x workers, per extractor.

``TimeExtractFast`` is the default (``fast``) extractor on every registered backend, on the
profile's stage dataset (GTZAN-length tracks), with the pull-request selection's samples
(``Profile.pr_repeat``); ``TimeExtract`` the study's ``reference`` extractor (about 30x the CPU
per chunk) on its smaller dataset, on every backend on the full grid and on one backend per
family plus ``process`` on the core grid (``benchmarks.common.variant_backends``).
"""

from .common import PROFILE, StageBenchmark, variant_backends


class TimeExtract(StageBenchmark):
    """The ``extract`` stage (no feature cache) with the reference extractor: backend x workers
    x extractor (the stage skips an extractor that cannot load). The process and its workers
    are warmed with the extractor's real per-track path (``stage.warm_up``, the forkserver)."""

    stage_name = "extract"
    dataset = "reference"
    axis_values = {"backend": variant_backends()}
    work_params = {"extractor": ["reference"]}


class TimeExtractFast(TimeExtract):
    """The same stage with the ``fast`` extractor, the default (skipped where numba is not
    installed), on every backend, with enough samples per cell for asv's Mann-Whitney test."""

    dataset = "stages"
    axis_values = {}
    work_params = {"extractor": ["fast"]}
    repeat = PROFILE.pr_repeat
