"""Stages: one pipeline step packaged for measuring.

A stage prepares its work once, runs it at one *cell* of its parameter space (a dict of named
axis values, :mod:`genre_hpc.stages.space`), and says whether two outputs are the same. It also
says what a cell's speed-up is measured against (:meth:`Stage.baseline`), how many threads of
work a cell runs (:meth:`Stage.threads`, what efficiency is divided by) and why a cell cannot
run here (:meth:`Stage.skip`, the one availability answer for the scaling study, the CLI and the
benchmarks). The measurement core (:mod:`genre_hpc.measure`) drives any stage the same way, so a
new stage appears in ``genre-hpc scale``, the asv suite and ``compare-machines`` without
copy-paste.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass, field
from typing import Any

from .space import Axis, Space

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
    """One timed run: compute time, start-up time, the real output, extra fields.

    ``peak_rss`` / ``processes``: the peak summed resident memory (bytes) and the most processes
    alive of the processes the run started, when the measurement core sampled them (None when it
    did not).
    """

    compute_s: float
    startup_s: float
    output: Any
    extra: dict = field(default_factory=dict)
    peak_rss: int | None = None
    processes: int | None = None
    #: the map's timeline when the run was traced (``trace=True``; :mod:`genre_hpc.trace`)
    trace: dict | None = None


#: run options that point a stage's cluster cells at a cluster (``genre-hpc scale --scheduler``,
#: ``--cluster``, ``--profile``, ...): each backend takes those among its own options
CLUSTER_RUN_OPTIONS = (
    "scheduler",
    "scheduler_file",
    "cluster",
    "profile",
    "profile_dir",
    "cluster_id",
    "url_file",
    "threads_per_worker",
    "arrival_timeout",
)


def backend_run_options(name: str, options: dict) -> dict:
    """The cluster run options (:data:`CLUSTER_RUN_OPTIONS`) that the registered backend
    ``name`` takes: a scheduler or a cluster file for ``dask-distributed``, a profile for
    ``ipyparallel``, nothing for the others."""
    from ..backends import REGISTRY, get_backend_class

    if name not in REGISTRY:
        return {}
    takes = set(get_backend_class(name).option_names)
    return {k: v for k, v in options.items() if k in CLUSTER_RUN_OPTIONS and k in takes}


def dask_run_options(options: dict) -> dict:
    """The cluster run options of the Dask training modes (``xgboost-dask``, ``joblib-dask``):
    those ``dask-distributed`` takes."""
    return backend_run_options("dask-distributed", options)


def backend_reason(name: str, workers: int = 1) -> str | None:
    """Why the registered backend ``name`` cannot run ``workers`` workers here (None when it can).

    The backends' own answer (:func:`genre_hpc.backends.unavailable_reason`: worker counts, the
    extras the backend class ``requires``), then a backend that would run another number of
    workers than asked (its ``describe()["effective_workers"]``; the built-in backends refuse
    such counts themselves, so this guards a plugin backend): constructed, never started.
    """
    from ..backends import BackendUnavailable, get_backend_class, unavailable_reason

    why = unavailable_reason(name, workers)
    if why:
        return why
    try:
        cls = get_backend_class(name)
    except KeyError as exc:
        return str(exc.args[0])
    if workers == 1:
        return None
    try:
        backend = cls(workers)
    except BackendUnavailable as exc:
        return f"{name} is not available: {exc}"
    except ValueError as exc:
        return f"{name} x{workers}: {exc}"
    effective = backend.describe().get("effective_workers", workers)
    if effective != workers:
        return f"{name} runs {effective} worker(s) whatever the worker count: not a {workers}-worker run"
    return None


class Stage:
    """Base class of a stage.

    Subclasses set :attr:`name` and :attr:`space` and implement :meth:`prepare`, :meth:`run`
    and :meth:`same`; the rest has defaults that read the space.

    Attributes
    ----------
    name : str
    space : Space
        The named axes a cell gives values to.
    requires : tuple of str
        Extras (:data:`genre_hpc.extras.EXTRAS`) every cell needs (the CNN: ``("tf",)``).
    """

    name = "stage"
    space: Space = Space(())
    requires: tuple[str, ...] = ()

    # -- what subclasses implement ------------------------------------------------------
    def prepare(self, **options):
        """Make the work once (data, tables, ...). Not timed."""
        raise NotImplementedError

    def run(self, work, **cell_and_options) -> RunResult:
        """Run the work once at a cell (its axes as keyword arguments, then run options such
        as ``scheduler``); time compute and start-up apart."""
        raise NotImplementedError

    def same(self, a, b) -> bool:
        """Whether two outputs are the same result."""
        raise NotImplementedError

    def check_work(self, work, cells) -> None:
        """Raise a :class:`~genre_hpc.dataset.DatasetError` (a one-line usage error) when the
        prepared ``work`` cannot run one of ``cells``: before any cell is timed, so that a study
        does not stop at its last cell. Default: nothing to check."""

    def warm_up(self, work) -> None:
        """Make this process warm for the cells that run here (the serial baseline): the real
        per-item path once, untimed. Default: nothing."""

    def session(self, work, cell: dict, **options):
        """A context manager whose value the runs of one cell may share:
        ``stage.run(work, **cell, session=value)``.

        The backend stages start the cell's backend (workers up and warm) so that the runs
        time warm maps and the start-up is measured once (the value's ``startup_s``); the
        default shares nothing (``None``: every run starts what it needs).
        """
        return contextlib.nullcontext()

    def prestart(self, work, cells, *, wait: bool = True) -> float:
        """Pay the once-per-process costs of ``cells`` before any is timed (the backend stages:
        the forkserver, warmed with the stage's warm-up); returns the seconds it took (0: none).
        Not part of any cell's start-up: reported apart. ``wait=False`` only starts it (it warms
        up on another core while this process does), returning 0."""
        return 0.0

    def traces(self) -> bool:
        """Whether ``run(..., trace=True)`` records a timeline of items (the backend stages)."""
        return False

    def scaled(self, work, factor: int):
        """The work made ``factor`` times bigger (weak scaling)."""
        raise NotImplementedError(f"stage {self.name!r} has no weak scaling")

    def scaled_output(self, output, factor: int):
        """The output expected from ``scaled(work, factor)``, given the base output."""
        raise NotImplementedError(f"stage {self.name!r} has no weak scaling")

    # -- the cell rules (defaults read the space) --------------------------------------
    def cell(self, *args, **kwargs) -> dict:
        """A cell of this stage's space (positional values in axis order, or by name)."""
        return self.space.cell(*args, **kwargs)

    def baseline(self, cell: dict) -> dict:
        """The cell whose compute time is the speed-up's numerator: by default the ``serial``
        backend with 1 worker."""
        base = dict(cell)
        if self.space.backend is not None:
            base[self.space.backend] = "serial"
        if self.space.workers is not None:
            base[self.space.workers] = 1
        return base

    def threads(self, cell: dict) -> int:
        """How many workers or threads the cell runs: what efficiency is divided by (default:
        the workers axis)."""
        return int(cell[self.space.workers]) if self.space.workers is not None else 1

    def skip(self, cell: dict, **options) -> str | None:
        """Why ``cell`` cannot run here, or None: the one availability answer.

        In order: a value no axis can take, the stage's :attr:`requires`, every ``backend`` axis
        value (:func:`backend_reason` with the cell's worker count) and every value's
        ``requires``. A missing extra reads ``"<module> is not installed: install
        genre-hpc[<extra>]"``. Subclasses with further rules call ``super().skip(...)`` first.
        """
        from .. import extras

        try:
            self.space.check(cell)
        except (KeyError, ValueError) as exc:
            return str(exc.args[0]) if exc.args else str(exc)
        why = extras.unavailable_reason(self.requires)
        if why:
            return why
        workers = int(cell[self.space.workers]) if self.space.workers is not None else 1
        for axis in self.space.axes:
            value = cell[axis.name]
            if axis.kind == "backend":
                why = backend_reason(value, workers)
            else:
                why = extras.unavailable_reason(axis.requires.get(value, ()))
            if why:
                return why
        return None

    def uses_processes(self, cell: dict) -> bool | None:
        """Whether the cell's work runs in other processes (its memory is then sampled); None
        when unknown. Default: the backend axis' class says."""
        if self.space.backend is None or self.space.axis(self.space.backend).kind != "backend":
            return None
        from ..backends import REGISTRY, get_backend_class

        name = cell[self.space.backend]
        if name not in REGISTRY:
            return None
        try:
            return bool(get_backend_class(name).uses_processes)
        except ImportError:
            return None

    # -- how a cell is reported ---------------------------------------------------------
    def labels(self, cell: dict) -> dict:
        """The ``backend`` and ``workers`` a row reports: the role axes, else the space's engine
        and :meth:`threads`."""
        sp = self.space
        return {
            "backend": cell[sp.backend] if sp.backend is not None else (sp.engine or self.name),
            "workers": cell[sp.workers] if sp.workers is not None else self.threads(cell),
        }

    def label(self, cell: dict) -> str:
        """A short name of a cell: ``serial x1``, ``xgb-threads x2``, ``tensorflow x1``."""
        lab = self.labels(cell)
        return f"{lab['backend']} x{lab['workers']}"

    def series(self, cell: dict) -> str:
        """The line a cell belongs to in the plots (x is ``labels(cell)["workers"]``): the
        backend label plus any axis other than the two roles."""
        rest = [n for n in self.space.names if n not in (self.space.backend, self.space.workers)]
        head = str(self.labels(cell)["backend"])
        return head + "".join(f", {n}={cell[n]}" for n in rest)

    @property
    def backends(self) -> tuple:
        """What ``--backends all`` means: the backend axis' values (or the engine)."""
        if self.space.backend is None:
            return (self.space.engine or self.name,)
        return self.space.axis(self.space.backend).choices()

    # -- a study's cells from command-line style lists --------------------------------
    def grid(self, backends=None, workers=None, **axes) -> list[dict]:
        """The cells of a study: ``backends``/``workers`` give the backend and workers axes
        (``None`` or ``["all"]``: every value), other axes by name (None: every value).

        Raises ``ValueError`` for an axis this stage does not have, an axis given twice (by
        name and by role) or a value it cannot take.
        """
        axes = {k: v for k, v in axes.items() if v is not None}
        sp = self.space
        unknown = [k for k in axes if k not in sp.names]
        if unknown:
            raise ValueError(
                f"stage {self.name!r} has no axis {', '.join(unknown)}; its axes: {', '.join(sp.names)}"
            )
        if backends is not None and list(backends) != ["all"]:
            if sp.backend is None:
                if list(backends) != [sp.engine]:
                    raise ValueError(
                        f"stage {self.name!r} has no backend axis: --backends takes only {sp.engine!r} "
                        f"(its axes: {', '.join(sp.names)})"
                    )
            elif sp.backend in axes:
                raise ValueError(
                    f"stage {self.name!r}: give its {sp.backend} axis once, not with --backends too"
                )
            else:
                axes[sp.backend] = list(backends)
        if workers is not None and sp.workers is not None:
            if sp.workers in axes:
                raise ValueError(
                    f"stage {self.name!r}: give its {sp.workers} axis once, not with --workers too"
                )
            axes[sp.workers] = list(workers)
        try:
            return sp.cells(**axes)
        except ValueError as exc:
            raise ValueError(f"stage {self.name!r}: {exc}") from None


def stage_names() -> list[str]:
    return list(STAGES)


def get_stage_class(name: str) -> type[Stage]:
    """The class of the stage called ``name`` (imports its module only)."""
    try:
        mod, cls = STAGES[name].split(":")
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known: {', '.join(STAGES)}") from None
    return getattr(importlib.import_module(mod), cls)


def get_stage(name: str) -> Stage:
    """Instantiate the stage called ``name``."""
    return get_stage_class(name)()


def stage_of_benchmark(class_name: str) -> str | None:
    """The stage an asv stage benchmark class measures, by the suite's naming rule
    ``Time<Stage>[Variant]`` (``TimeExtractFast`` -> ``extract``); None for other classes."""
    if not class_name.startswith("Time"):
        return None
    rest = class_name[len("Time") :].lower()
    matches = [s for s in STAGES if rest.startswith(s)]
    return max(matches, key=len) if matches else None


__all__ = [
    "CLUSTER_RUN_OPTIONS",
    "Axis",
    "RunResult",
    "Space",
    "Stage",
    "STAGES",
    "backend_reason",
    "backend_run_options",
    "dask_run_options",
    "get_stage",
    "get_stage_class",
    "stage_names",
    "stage_of_benchmark",
]
