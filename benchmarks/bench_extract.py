"""Feature extraction of the whole dataset over backend x workers, per extractor.

The default (``fast``) extractor runs on every registered backend, on the profile's stage
dataset (GTZAN-length tracks), in two classes: ``TimeExtractFast`` is the pull-request selection's
stage (``serial`` and ``pool-map``: ``Profile.pr_rounds`` processes of ``Profile.pr_repeat``
samples, so its interval sees the between-process spread), ``TimeExtractFastBackends`` every
other backend (the profile's ``rounds``: one process per cell at the default scale, the budget).
``TimeExtract`` is the study's ``reference`` extractor (about 30x the CPU per chunk) on its
smaller dataset, on every backend on the full grid and on one backend per family plus ``process``
on the core grid (``benchmarks.common.variant_backends``).
"""

from .common import PROFILE, StageBenchmark, variant_backends

#: the backends of the pull-request selection's stage benchmark (``make compare``'s ``BENCH``)
PR_BACKENDS = ("serial", "pool-map")


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
    installed), on ``serial`` and one process pool, with enough samples from enough processes
    per cell for asv's Mann-Whitney test: the stage benchmark of a pull-request compare."""

    dataset = "stages"
    axis_values = {"backend": list(PR_BACKENDS)}
    work_params = {"extractor": ["fast"]}
    repeat = PROFILE.pr_repeat
    rounds = PROFILE.pr_rounds


def _other_backends() -> list[str]:
    from genre_hpc.backends import backend_names

    return [b for b in backend_names() if b not in PR_BACKENDS]


class TimeExtractFastBackends(TimeExtractFast):
    """The ``fast`` extractor on every other registered backend (threads, the other pools,
    loky, the Dask schedulers, ipyparallel, ``process``), the profile's samples."""

    axis_values = {"backend": _other_backends()}
    repeat = PROFILE.repeat
    rounds = PROFILE.rounds
