"""Stages: one pipeline step packaged for timing.

A stage prepares its work once, runs it on a backend (or mode) with N
workers, and says whether two outputs are the same. The scaling study
(``genre-hpc scale``) and the asv benchmarks drive the same stages, so a new
stage appears in both without copy-paste.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

#: stage name -> "module:Class" (modules load lazily)
STAGES: dict[str, str] = {
    "extract": "genre_hpc.stages.extract:ExtractStage",
    "train": "genre_hpc.stages.train:TrainStage",
    "tune": "genre_hpc.stages.tune:TuneStage",
    "images": "genre_hpc.stages.images:ImagesStage",
    "cnn": "genre_hpc.stages.cnn:CnnStage",
}


@dataclass
class RunResult:
    """One timed run: compute time, start-up time, the real output, extra fields."""

    compute_s: float
    startup_s: float
    output: Any
    extra: dict = field(default_factory=dict)


class Stage:
    """Base class of a stage.

    Subclasses set ``name`` and implement :meth:`prepare`, :meth:`run` and
    :meth:`same`; :meth:`baseline`, :meth:`skip_reason`, :meth:`scaled` and
    :meth:`scaled_output` have sensible defaults.
    """

    name = "stage"
    #: the backends (or modes) this stage can run on; "all" in the CLI means these
    backends: tuple[str, ...] = ()

    def prepare(self, **options):
        """Make the work once (data, tables, ...). Not timed."""
        raise NotImplementedError

    def run(self, work, backend: str, workers: int, **options) -> RunResult:
        """Run the work once on ``backend`` with ``workers``; time compute and start-up apart."""
        raise NotImplementedError

    def same(self, a, b) -> bool:
        """Whether two outputs are the same result."""
        raise NotImplementedError

    def baseline(self, backend: str) -> tuple[str, int]:
        """The ``(backend, workers)`` whose time is the speed-up's numerator."""
        return ("serial", 1)

    def threads(self, backend: str, workers: int) -> int:
        """The worker count efficiency is divided by (default: ``workers``)."""
        return workers

    def skip_reason(self, backend: str, workers: int, **options) -> str | None:
        """Why a combination cannot run (None when it can)."""
        return None

    def scaled(self, work, factor: int):
        """The work made ``factor`` times bigger (weak scaling)."""
        raise NotImplementedError(f"stage {self.name!r} has no weak scaling")

    def scaled_output(self, output, factor: int):
        """The output expected from ``scaled(work, factor)``, given the base output."""
        raise NotImplementedError(f"stage {self.name!r} has no weak scaling")


def stage_names() -> list[str]:
    return list(STAGES)


def get_stage(name: str) -> Stage:
    """Instantiate the stage called ``name``."""
    try:
        mod, cls = STAGES[name].split(":")
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known: {', '.join(STAGES)}") from None
    return getattr(importlib.import_module(mod), cls)()
