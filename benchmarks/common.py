"""The asv glue: scale profiles, data, thread limits, and the stage mixin.

What is measured and how the figures are derived lives in the library (the stages' parameter
spaces in :mod:`genre_hpc.stages`, the measurement core in :mod:`genre_hpc.measure`); this
module only fits it to asv. A stage benchmark is a few lines on top of :class:`StageBenchmark`::

    class TimeTrain(StageBenchmark):
        stage_name = "train"
        axis_values = {"mode": ["xgb-threads", "knn-threads"]}   # optional

and gets, for every cell of the stage's space (its axes are the asv parameters):

- ``time_run``: wall-clock time of one whole ``stage.run`` (start-up + compute + shut-down);
- ``track_speedup`` (x) and ``track_efficiency`` (ratio): ``T_compute(baseline) / T_compute(run)``
  from a baseline run and the cell's runs of the same work in the same process, and that over
  the stage's thread count (the same definitions as ``genre-hpc scale``);
- ``track_startup`` (seconds): the backend's start-up, kept apart from compute;
- ``track_peak_worker_rss`` (bytes): the peak summed resident memory of the processes the run
  starts, sampled by a background thread (only where work runs in other processes).

Conventions (docs/benchmarks.md): data is made in ``setup_cache`` or module-level helpers,
never in timed code; the size of the work is a profile chosen with ``GENRE_HPC_BENCH_SCALE``;
impossible or unavailable combinations raise ``NotImplementedError`` (asv's skip) rather than
run as something else; the timer is the wall clock.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import os
import pickle
import timeit
from dataclasses import asdict, dataclass
from pathlib import Path

from genre_hpc import threads
from genre_hpc.files import atomic_write_bytes

try:
    from asv_runner.benchmarks.mark import SkipNotImplemented
except ImportError:  # pragma: no cover - imported outside asv

    class SkipNotImplemented(NotImplementedError):
        """Raised in a benchmark body: asv records the combination as skipped (n/a)."""


SCALE_ENV = "GENRE_HPC_BENCH_SCALE"
WORKERS_ENV = "GENRE_HPC_BENCH_WORKERS"
DATA_ENV = "GENRE_HPC_BENCH_DATA"
GRID_ENV = "GENRE_HPC_BENCH_GRID"
CLUSTER_ENV = "GENRE_HPC_BENCH_CLUSTER"
#: the cells that run on a cluster (their records carry its shape; the Dask ones follow CLUSTER_ENV)
CLUSTER_CELLS = ("dask-distributed", "ipyparallel", "xgboost-dask", "joblib-dask")
GRIDS = ("core", "full")
#: one backend per family (in-process, threads, a process pool, a cluster): where the core grid
#: runs a stage's variants (the ``fast`` extractor) instead of on every backend
FAMILY_BACKENDS = ("serial", "joblib-threading", "pool-map", "dask-distributed")


# --- the scale profile ------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """How big the benchmarked work is, and how long asv may spend on it.

    Attributes
    ----------
    name : str
        ``quick``, ``default`` or ``large``.
    per_genre, seconds, seed : int, float, int
        The synthetic dataset of the stage benchmarks (10 genres x ``per_genre`` tracks of
        ``seconds``; one 3 s chunk per started 3 s, the remainder dropped).
    model_per_genre, model_seconds : int, float
        The (bigger) synthetic dataset the classifiers are trained and scored on.
    workers : tuple of int or None
        Default worker counts; ``None``: powers of two up to this machine's cores.
    repeat : (int, int, float)
        asv's ``repeat`` for the stage benchmarks: min and max samples, and the time after which
        no new sample is started.
    serial_repeat : (int, int, float)
        The same for the short serial benchmarks (one track, one chunk, one model).
    timeout : float
        Seconds one benchmark process may take (setup included).
    grid : str
        ``full``: every backend at every worker count, every variant on every backend.
        ``core``: every backend at the largest worker count, plus the stage baselines and the
        backends that only have 1 worker; variants (the ``fast`` extractor) on
        :data:`FAMILY_BACKENDS`; CNN thread counts up to the machine's cores. See :func:`grid`.
    """

    name: str
    per_genre: int
    seconds: float
    model_per_genre: int
    model_seconds: float
    workers: tuple | None
    repeat: tuple
    serial_repeat: tuple
    timeout: float
    grid: str = "full"
    seed: int = 0


PROFILES = {
    # for checking that the suite works (tests, `asv run --quick`): 10 tracks, 10 chunks; the
    # classifiers get 60 chunks (KNN needs 19 training chunks; the grid search's 3 grouped folds need
    # every genre in each fold's training part)
    "quick": Profile(
        "quick",
        per_genre=1,
        seconds=3.2,
        model_per_genre=6,
        model_seconds=3.2,
        workers=(1, 2),
        repeat=(1, 1, 0.0),
        serial_repeat=(1, 1, 0.0),
        timeout=300.0,
        grid="full",
    ),
    # the reference runs: 10 tracks x 2 chunks on the core grid (the per-process start-ups and
    # warm-ups, not the work, set the suite's duration on 2 cores: see docs/benchmarks.md); a
    # second sample only when the first took less than 2 s
    "default": Profile(
        "default",
        per_genre=1,
        seconds=6.5,
        model_per_genre=5,
        model_seconds=6.5,
        workers=(1, 2),
        repeat=(1, 2, 2.0),
        serial_repeat=(1, 3, 2.0),
        timeout=900.0,
        grid="core",
    ),
    # GTZAN's real size (100 tracks x 30 s = 1000 chunks), for machines with many cores
    "large": Profile(
        "large",
        per_genre=10,
        seconds=30.0,
        model_per_genre=10,
        model_seconds=30.0,
        workers=None,
        repeat=(1, 3, 120.0),
        serial_repeat=(3, 10, 20.0),
        timeout=7200.0,
    ),
}


def profile(name: str | None = None) -> Profile:
    """The profile named ``name``, or ``$GENRE_HPC_BENCH_SCALE`` (default ``default``)."""
    key = (name or os.environ.get(SCALE_ENV) or "default").strip().lower()
    try:
        return PROFILES[key]
    except KeyError:
        raise ValueError(f"{SCALE_ENV}={key!r}: expected one of {', '.join(PROFILES)}") from None


def worker_counts(prof: Profile | None = None) -> list[int]:
    """Worker counts of the stage benchmarks: ``$GENRE_HPC_BENCH_WORKERS`` (e.g. ``1,2,4``),
    else the profile's (``large``: powers of two up to the number of cores)."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text:
        try:
            vals = sorted({int(t) for t in text.split(",") if t.strip()})
        except ValueError:
            raise ValueError(
                f"{WORKERS_ENV}={text!r}: expected comma-separated integers, e.g. 1,2,4"
            ) from None
        if not vals or vals[0] < 1:
            raise ValueError(f"{WORKERS_ENV}={text!r}: worker counts must be >= 1")
        return vals
    prof = prof or profile()
    if prof.workers:
        return list(prof.workers)
    from genre_hpc.scaling import physical_cores

    top, vals = max(2, physical_cores()), [1]
    while vals[-1] * 2 <= top:
        vals.append(vals[-1] * 2)
    return vals


def grid(prof: Profile | None = None) -> str:
    """``$GENRE_HPC_BENCH_GRID`` (``core`` or ``full``), else the profile's grid."""
    text = os.environ.get(GRID_ENV, "").strip().lower()
    if text:
        if text not in GRIDS:
            raise ValueError(f"{GRID_ENV}={text!r}: expected one of {', '.join(GRIDS)}")
        return text
    return (prof or profile()).grid


def variant_backends(prof: Profile | None = None) -> list[str]:
    """Backends a stage's variants run on: every registered one on the full grid, one per
    family (:data:`FAMILY_BACKENDS`) on the core grid."""
    from genre_hpc.backends import backend_names

    names = backend_names()
    return names if grid(prof) == "full" else [b for b in FAMILY_BACKENDS if b in names]


def thread_counts(full=(1, 2, 4), prof: Profile | None = None) -> list[int]:
    """Thread counts of the CNN's intra-op x inter-op grid: ``full`` on the full grid, those of
    them up to the machine's cores (at least 2) on the core grid."""
    if grid(prof) == "full":
        return list(full)
    from genre_hpc.scaling import physical_cores

    top = max(2, physical_cores())
    return [t for t in full if t <= top]


def cluster_options() -> dict:
    """Where the Dask cells (dask-distributed, xgboost-dask, joblib-dask) run:
    ``$GENRE_HPC_BENCH_CLUSTER``, a scheduler address (``tcp://host:8786``: exactly the cell's
    worker count of its workers) or a cluster file (deployed by each run and scaled to the cell's
    worker count; a relative path is taken from the folder of asv.conf.json). ``{}`` when unset:
    a LocalCluster per run. The stages pass these options only to the backends that take them."""
    text = os.environ.get(CLUSTER_ENV, "").strip()
    if not text:
        return {}
    if "://" in text:
        return {"scheduler": text}
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = Path(os.environ.get("ASV_CONF_DIR") or ".") / path
    if not path.is_file():
        raise ValueError(
            f"{CLUSTER_ENV}={text!r}: neither a scheduler address (tcp://host:port) nor a cluster file"
        )
    return {"cluster": str(path.resolve())}


PROFILE = profile()


# --- threads ------------------------------------------------------------------------------

_LIMITERS: list = []


def limit_threads(n: int | None) -> dict:
    """Limit the BLAS/OpenMP pools of the benchmark process to ``n`` threads (kept for the rest
    of the process; call it again after importing more libraries) and return
    :func:`genre_hpc.threads.thread_settings`. ``None`` changes nothing. Worker processes get
    their own limit from the backend (``thread_limit``, 1 by default)."""
    limiter = threads.limit_threads(n)
    if limiter is not None:
        _LIMITERS[:] = [limiter]
    return threads.thread_settings()


thread_settings = threads.thread_settings
max_pool_threads = threads.max_pool_threads


# --- data ---------------------------------------------------------------------------------


def dataset_root(prof: Profile | None = None, *, models: bool = False) -> Path:
    """The benchmarks' dataset: ``$GENRE_HPC_BENCH_DATA`` (a GTZAN-layout folder, e.g. the real
    GTZAN) or the embedded synthetic dataset of the profile (``models``: the classifiers' bigger
    one), rendered once and cached on disk (``genre_hpc.synth.default_dataset``)."""
    env = os.environ.get(DATA_ENV)
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"{DATA_ENV}={env}: no such folder")
        return root
    from genre_hpc.synth import default_dataset

    prof = prof or profile()
    if models:
        return default_dataset(per_genre=prof.model_per_genre, seconds=prof.model_seconds, seed=prof.seed)
    return default_dataset(per_genre=prof.per_genre, seconds=prof.seconds, seed=prof.seed)


_MEMO: dict = {}


def _digest(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def memo(scratch, name: str, key, make):
    """``make()`` once per asv run and key.

    The value is kept in this process (asv calls ``setup`` before every timed call) and pickled
    into ``scratch`` (the run's ``setup_cache`` folder), so the next benchmark processes load it
    instead of making it again. Values that do not pickle stay in this process only.
    """
    mkey = f"{name}-{_digest(key)}"
    if mkey in _MEMO:
        return _MEMO[mkey]
    path = Path(scratch) / f"{mkey}.pkl" if scratch else None
    if path is not None and path.is_file():
        try:
            with open(path, "rb") as fh:
                _MEMO[mkey] = pickle.load(fh)
            return _MEMO[mkey]
        except Exception:
            pass  # unreadable: make it again
    value = make()
    if path is not None:
        try:
            atomic_write_bytes(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except (pickle.PicklingError, TypeError, AttributeError):
            pass
    _MEMO[mkey] = value
    return value


def read_record(scratch, name: str, key) -> dict | None:
    """A measurement written by :func:`write_record` in this asv run, or None."""
    if not scratch:
        return None
    path = Path(scratch) / f"{name}-{_digest(key)}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_record(scratch, name: str, key, record: dict) -> None:
    if scratch:
        atomic_write_bytes(
            Path(scratch) / f"{name}-{_digest(key)}.json", json.dumps(record, default=str).encode()
        )


# --- the stage mixin --------------------------------------------------------------------


_ACTIVE: list = []  # the StageBenchmark whose setup ran last in this process


def _prepare_timed(cache, *params):
    """Extra setup of ``time_run`` only (asv runs a benchmark function's ``setup`` attribute
    after the class' ``setup``): warm this process up and run the baseline, untimed."""
    if _ACTIVE:
        _ACTIVE[-1]._prepare_timed()


class StageBenchmark(abc.ABC):
    """time / speed-up / efficiency / start-up / worker memory of one stage, per cell.

    The asv parameters are the stage's named axes (``stage.space``: backend x workers, mode x
    threads, intra_op x inter_op x omp), then the work parameters of :attr:`work_params`
    (passed to ``stage.prepare``) and :attr:`run_params` (passed to ``stage.run``). An axis takes
    the values of :attr:`axis_values`, else its own (``all``), a count axis the suite's
    :func:`worker_counts`. Subclasses are named ``Time<Stage>[Variant]`` (the rule
    ``compare-machines`` finds the stage by).

    The work is prepared once per asv run (``stage.prepare(data=..., per_genre=..., seconds=...,
    seed=..., **prepare_options, **work params)``) and shared by the benchmark processes through
    the ``setup_cache`` folder. ``time_run`` also runs the stage's baseline cell
    (``stage.baseline(cell)``) in its untimed setup; the timed runs (with the workers' peak
    memory, :func:`genre_hpc.measure.run_once`) and the baseline go through the measurement core
    (:func:`genre_hpc.measure.assess`) into one record per cell that the ``track_*`` benchmarks
    of the same cell read; a ``track_*`` run without a record (for example ``asv run --bench
    track_speedup``) measures the cell itself (:func:`genre_hpc.measure.measure_cell`).
    """

    @property
    @abc.abstractmethod
    def stage_name(self) -> str:
        """The stage (a key of ``genre_hpc.stages.STAGES``)."""

    #: values of some axes (default: the axis' own values; count axes: :func:`worker_counts`)
    axis_values: dict = {}
    #: further asv parameters that define the work (``stage.prepare`` keywords): name -> values
    work_params: dict = {}
    #: further asv parameters passed to ``stage.run``: name -> values
    run_params: dict = {}
    #: fixed keyword arguments of ``stage.prepare``
    prepare_options: dict = {}
    #: BLAS/OpenMP threads of the benchmark process (None: leave the libraries' defaults)
    blas_threads: int | None = 1

    # asv: wall clock (work runs in other threads and processes), one call per sample, few samples
    timer = timeit.default_timer
    number = 1
    rounds = 1
    min_run_count = 1
    warmup_time = 0.0
    repeat = PROFILE.repeat
    timeout = PROFILE.timeout

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = getattr(cls, "stage_name", None)
        if not isinstance(name, str):
            return
        from genre_hpc.stages import stage_of_benchmark

        if stage_of_benchmark(cls.__name__) != name:
            raise TypeError(
                f"{cls.__name__}: a benchmark of stage {name!r} is named Time{name.capitalize()}..."
            )
        space = _stage(name).space
        params, names = [], []
        for axis in space.axes:
            vals = cls.axis_values.get(axis.name)
            if vals is None:
                vals = worker_counts() if axis.kind == "count" else axis.choices()
            params.append(list(vals))
            names.append(axis.name)
        for extra in (cls.work_params, cls.run_params):
            for k, vals in extra.items():
                params.append(list(vals))
                names.append(k)
        cls.params, cls.param_names = params, names

    # -- asv hooks ---------------------------------------------------------------------
    def setup_cache(self):
        """Once per asv run, shared by every stage benchmark: the dataset and a scratch folder."""
        prof = profile()
        root = dataset_root(prof)
        return {"profile": asdict(prof), "data": str(root), "scratch": os.path.abspath(os.getcwd())}

    setup_cache.timeout = PROFILE.timeout

    def setup(self, cache, *params):
        combo = dict(zip(self.param_names, params))
        _ACTIVE[:] = [self]
        if getattr(self, "_combo_ready", None) == combo:
            return
        # the reason is kept for the run: the track_* processes of a cell do not ask again
        why = memo(cache["scratch"], f"skip-{self.stage_name}", combo, lambda: self.skip_reason(combo) or "")
        if why:
            raise NotImplementedError(why)
        self.cache = cache
        self.combo = combo
        self.stage = _stage(self.stage_name)
        self.cell = self._cell(combo)
        self.thread_settings = limit_threads(self.blas_threads)
        self._prepare_kw = prepare_kw = self.prepare_kwargs(cache, combo)
        self._work = None  # loaded when first needed: a track_* process with a record never needs it
        self.run_options = {**cluster_options(), **{k: combo[k] for k in self.run_params}}
        self.record_key = {"stage": self.stage_name, **combo, "prepare": prepare_kw}
        self._warm_done = False
        self._baseline = None
        self._runs = []
        self._combo_ready = combo

    @property
    def work(self):
        """The stage's prepared work (``stage.prepare``), made once per asv run."""
        if self._work is None:
            kw = self._prepare_kw
            self._work = memo(
                self.cache["scratch"], f"work-{self.stage_name}", kw, lambda: self.stage.prepare(**kw)
            )
        return self._work

    def teardown(self, cache, *params):
        # asv also calls teardown between samples and after a skipped setup
        if getattr(self, "_runs", None):
            self._write_record(self._baseline, self._runs)

    def time_run(self, cache, *params):
        """Wall-clock time of one stage run at the cell (start-up included)."""
        run = self._run(self.cell, memory=self._sample_rss())
        # keep the first output (compared with the baseline's in teardown), only timings of the others
        self._runs.append(run if not self._runs else dataclasses.replace(run, output=None))

    time_run.setup = _prepare_timed

    def track_speedup(self, cache, *params):
        """``T_compute(baseline) / T_compute(run)`` on the same work, in the same process."""
        self._skip_baseline()
        return self._record()["speedup"]

    track_speedup.unit = "x"

    def track_efficiency(self, cache, *params):
        """Speed-up per thread (the stage's ``threads(cell)``)."""
        self._skip_baseline()
        return self._record()["efficiency"]

    track_efficiency.unit = "ratio"

    def track_startup(self, cache, *params):
        """Seconds to start the backend's workers (warm-up included), apart from compute."""
        return self._record()["startup_s"]

    track_startup.unit = "seconds"

    def track_peak_worker_rss(self, cache, *params):
        """Peak summed RSS of the processes the run starts (sampled every 0.1 s)."""
        if self.stage.uses_processes(self.cell) is False:
            raise SkipNotImplemented(f"{self.stage.label(self.cell)} runs no worker processes")
        rec = self._record()
        if not rec.get("worker_processes"):
            raise SkipNotImplemented(f"{self.stage.label(self.cell)} started no worker processes")
        return rec["peak_worker_rss"]

    track_peak_worker_rss.unit = "bytes"

    def track_workers_used(self, cache, *params):
        """Workers that ran the cell's tasks, counted on the cluster's workers (cluster cells
        only: dask-distributed, ipyparallel, xgboost-dask, joblib-dask); equal to the cell's
        worker count when p means p."""
        if self.stage.labels(self.cell)["backend"] not in CLUSTER_CELLS:
            raise SkipNotImplemented(f"{self.stage.label(self.cell)} runs on no cluster")
        rec = self._record()
        used = (rec.get("cluster") or {}).get("workers_used")
        if used is None:
            raise SkipNotImplemented(f"{self.stage.label(self.cell)} runs on no cluster")
        return used

    track_workers_used.unit = "workers"

    # -- hooks a subclass may override -------------------------------------------------
    def skip_reason(self, combo: dict) -> str | None:
        """Why this combination cannot run (None when it can): the stage's answer
        (``stage.skip``: availability, impossible counts, the work parameters), then the grid's
        (:meth:`grid_skip_reason`)."""
        return self.runnable_reason(combo) or self.grid_skip_reason(combo)

    def runnable_reason(self, combo: dict) -> str | None:
        """Why this combination cannot run at all (None when it can): ``stage.skip``."""
        stage = _stage(self.stage_name)
        options = {k: v for k, v in combo.items() if k not in stage.space.names}
        return stage.skip(self._cell(combo), **options)

    def grid_skip_reason(self, combo: dict) -> str | None:
        """On the core grid (:func:`grid`), a stage with a workers axis runs at its largest
        value only, except for the stage's baseline and for cells that cannot run that count
        (serial, dask-synchronous: their 1-worker run is kept)."""
        stage = _stage(self.stage_name)
        axis = stage.space.workers
        if grid() == "full" or axis is None:
            return None
        workers = combo[axis]
        top = max(self.params[self.param_names.index(axis)])
        if workers == top or self._is_baseline(combo):
            return None
        if workers == 1 and self.runnable_reason({**combo, axis: top}):
            return None
        label = stage.labels(self._cell(combo))["backend"]
        return f"the core grid runs {label} at {top} {axis} only ({GRID_ENV}=full runs every count)"

    def prepare_kwargs(self, cache, combo: dict) -> dict:
        """Keyword arguments of ``stage.prepare`` for this combination."""
        prof = cache["profile"]
        return {
            "data": cache["data"],
            "per_genre": prof["per_genre"],
            "seconds": prof["seconds"],
            "seed": prof["seed"],
            **self.prepare_options,
            **{k: combo[k] for k in self.work_params},
        }

    def warm(self, work) -> None:
        """Make this process warm (imports, JIT compilation) before anything is timed.

        Default: the stage's ``warm_up(work)`` if it has one. Worker processes warm themselves
        during the backend's start-up.
        """
        fn = getattr(self.stage, "warm_up", None)
        if fn is not None:
            fn(work)

    def check(self, run, cell) -> None:
        """Fail when a run did not do the whole work: ``run.extra["failed"]`` items failed (a
        failed item is fast, and a speed-up of no work is no measurement)."""
        failed = run.extra.get("failed") if isinstance(run.extra, dict) else None
        if failed:
            total = run.extra.get("tracks", "?")
            label = _stage(self.stage_name).label(cell)
            raise RuntimeError(f"{self.stage_name} on {label}: {failed} of {total} items failed")

    # -- internals ---------------------------------------------------------------------
    def _cell(self, combo: dict) -> dict:
        space = _stage(self.stage_name).space
        return space.cell(**{k: combo[k] for k in space.names})

    def _is_baseline(self, combo: dict | None = None) -> bool:
        """Whether ``combo`` (default: this benchmark's) is its stage's baseline cell."""
        cell = self._cell(combo or self.combo)
        return _stage(self.stage_name).baseline(cell) == cell

    def _skip_baseline(self):
        if self._is_baseline():
            raise SkipNotImplemented("the baseline itself (speed-up 1 by definition)")

    def _sample_rss(self) -> bool:
        return self.stage.uses_processes(self.cell) is not False and not self._is_baseline()

    def _warm(self):
        if not self._warm_done:
            self.warm(self.work)
            self.thread_settings = limit_threads(self.blas_threads)  # libraries loaded by the warm-up
            self._warm_done = True

    def _prepare_timed(self):
        self._warm()
        if self._baseline is None and not self._is_baseline():
            self._baseline = self._run(self.stage.baseline(self.cell), memory=False)

    def _run(self, cell, *, memory=False):
        from genre_hpc.backends import BackendUnavailable, ClusterShapeError
        from genre_hpc.measure import run_once

        try:
            run = run_once(self.stage, self.work, cell, options=self.run_options, memory=memory)
        except BackendUnavailable as exc:
            raise SkipNotImplemented(f"{self.stage.label(cell)} is not available: {exc}") from None
        except ClusterShapeError as exc:  # the cluster has fewer workers than the cell asks
            raise SkipNotImplemented(str(exc)) from None
        self.check(run, cell)
        return run

    def _record(self) -> dict:
        rec = read_record(self.cache["scratch"], "record", self.record_key)
        if rec is None:
            self._warm()
            baseline = None
            if not self._is_baseline():
                baseline = self._run(self.stage.baseline(self.cell), memory=False)
            run = self._run(self.cell, memory=self._sample_rss())
            rec = self._write_record(baseline, [run])
        return rec

    def _write_record(self, baseline, runs) -> dict:
        """The measurement core's assessment of the runs, as the record the ``track_*``
        benchmarks read; an output that differs from the baseline's fails the benchmark."""
        from genre_hpc.measure import assess

        m = assess(self.stage, self.cell, runs, [baseline] if baseline is not None else None)
        if m.identical is False:
            raise AssertionError(f"{self.stage_name} at {self.cell}: the output differs from the baseline's")
        rec = {
            "stage": self.stage_name,
            **self.combo,
            "runs": len(runs),
            "compute_s": m.compute_s,
            "compute_runs_s": [r.compute_s for r in runs],
            "startup_s": m.startup_s,
            "oversubscribed": m.oversubscribed,
            "thread_settings": self.thread_settings,
            "extra": m.extra,
            "cluster": m.extra.get("cluster"),
            "speedup": None,
            "efficiency": None,
            "serial_fraction": None,
        }
        if baseline is not None:
            rec.update(
                {
                    "baseline": m.baseline_label,
                    "baseline_compute_s": m.baseline_s,
                    **m.figures.as_dict(),
                    "threads_divisor": m.threads,
                }
            )
        if m.worker_processes is not None:
            rec["peak_worker_rss"] = m.peak_worker_rss
            rec["worker_processes"] = m.worker_processes
        write_record(self.cache["scratch"], "record", self.record_key, rec)
        return rec


_STAGES: dict = {}


def _stage(name: str):
    if name not in _STAGES:
        from genre_hpc.stages import get_stage

        _STAGES[name] = get_stage(name)
    return _STAGES[name]


class SerialBenchmark:
    """asv settings of the short serial benchmarks (one track, one chunk, one model):
    wall clock, one call per sample, the profile's ``serial_repeat``, one BLAS/OpenMP thread."""

    timer = timeit.default_timer
    number = 1
    rounds = 1
    min_run_count = 1
    warmup_time = 0.0
    repeat = PROFILE.serial_repeat
    timeout = PROFILE.timeout
    blas_threads: int | None = 1
