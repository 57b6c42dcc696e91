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
import atexit
import dataclasses
import hashlib
import json
import math
import os
import pickle
import threading
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
#: one backend per family (in-process, threads, a process pool, a cluster), and ``process`` (a
#: process per item: the cost per item shows there first): where the core grid runs a stage's
#: variants (the ``reference`` extractor) instead of on every backend
FAMILY_BACKENDS = ("serial", "joblib-threading", "pool-map", "dask-distributed", "process")


# --- the scale profile ------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """How big the benchmarked work is, how many samples asv takes, and how long it may spend.

    Attributes
    ----------
    name : str
        ``quick``, ``default`` or ``large``.
    per_genre, seconds, seed : int, float, int
        The synthetic dataset of the stage benchmarks that map tracks (the ``fast`` extractor,
        images): 10 genres x ``per_genre`` tracks of ``seconds`` (one 3 s chunk per whole 3 s).
    reference_per_genre, reference_seconds : int, float
        The dataset of the ``reference`` extractor's stage (about 30x the ``fast`` one's CPU
        per chunk: a smaller set for the same duration).
    model_per_genre, model_seconds : int, float
        The dataset the classifiers (``Models``), the grid search and the CNN train on.
    train_per_genre, train_seconds : int, float
        The dataset of the training stage (``TimeTrain``: XGBoost's threads need a table of
        ten thousand chunks to have work to share).
    train_overrides : tuple of (str, value)
        Estimator parameters of the training stage (fewer trees, the same per-tree work).
    workers : tuple of int or None
        Default worker counts; ``None``: powers of two up to this machine's cores.
    repeat : (int, int, float)
        asv's ``repeat`` for the stage benchmarks, per benchmark process: min and max samples,
        and the time after which no new sample is started.
    rounds : int
        asv's ``rounds`` of the stage benchmarks outside the pull-request selection: the
        benchmark processes per cell (each starts, warms up, runs its baseline and samples anew).
        One at the default scale (the budget); their interval is then the within-process spread
        of ``repeat[0] >= 2`` samples, and a pull-request compare asks for more (``-a rounds=4``).
    pr_rounds : int
        ``rounds`` of the pull-request selection's stage benchmark (``TimeExtractFast``): its
        samples come from this many processes, so its interval sees the between-process spread.
    serial_repeat, serial_rounds
        The same for the short serial benchmarks (one track, one chunk, one model).
    pr_serial_rounds : int
        ``rounds`` of the serial benchmarks in the pull-request selection (``Features``):
        enough processes per side for asv's Mann-Whitney test
        (``pr_serial_rounds * serial_repeat[0] >= 8``).
    pr_repeat : (int, int, float)
        ``repeat`` of the pull-request selection's stage benchmark (``TimeExtractFast``):
        enough samples per side for asv's Mann-Whitney test (``rounds * min >= 8``).
    heavy_repeat : (int, int, float)
        ``repeat`` of the stages whose one run takes many seconds (training, tuning, the CNN):
        the least that keeps every cell's interval finite (``rounds * min >= 2``).
    timeout : float
        Seconds one benchmark process may take (setup included).
    grid : str
        ``full``: every backend at every worker count, every variant on every backend.
        ``core``: every backend at the largest worker count, plus the stage baselines and the
        backends that only have 1 worker; CNN thread counts up to the machine's cores. See
        :func:`grid`.
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
    rounds: int = 2
    pr_rounds: int = 2
    serial_rounds: int = 2
    pr_serial_rounds: int = 4
    pr_repeat: tuple = (4, 4, 8.0)
    heavy_repeat: tuple = (1, 2, 10.0)
    reference_per_genre: int | None = None
    reference_seconds: float | None = None
    train_per_genre: int | None = None
    train_seconds: float | None = None
    train_overrides: tuple = ()

    def data(self, which: str = "stages") -> tuple[int, float]:
        """``(per_genre, seconds)`` of a dataset: ``stages``, ``reference``, ``models`` or ``train``."""
        if which == "stages":
            return self.per_genre, self.seconds
        if which == "reference":
            return (self.reference_per_genre or self.per_genre, self.reference_seconds or self.seconds)
        if which == "models":
            return self.model_per_genre, self.model_seconds
        if which == "train":
            return (self.train_per_genre or self.model_per_genre, self.train_seconds or self.model_seconds)
        raise ValueError(f"unknown dataset {which!r}: stages, reference, models or train")


#: the datasets a profile names (:meth:`Profile.data`)
DATASETS = ("stages", "reference", "models", "train")

PROFILES = {
    # for checking that the suite works (tests): 10 tracks, 10 chunks; the classifiers get 60
    # chunks (KNN needs 19 training chunks; the grid search's 3 grouped folds need every genre in
    # each fold's training part). Two benchmark processes of one sample each per stage cell:
    # the smallest run whose records and asv intervals are finite.
    "quick": Profile(
        "quick",
        per_genre=1,
        seconds=3.2,
        model_per_genre=6,
        model_seconds=3.2,
        workers=(1, 2),
        repeat=(1, 1, 0.0),
        serial_repeat=(2, 2, 0.0),
        rounds=2,
        pr_rounds=2,
        serial_rounds=1,
        pr_serial_rounds=1,
        pr_repeat=(1, 1, 0.0),
        heavy_repeat=(1, 1, 0.0),
        timeout=300.0,
        grid="full",
    ),
    # the reference runs (docs/benchmarks.md, "Budget"): work sized so that per-task and
    # per-worker overheads are small beside it, in at most 30 minutes on 2 cores: one process
    # per stage cell with 2+ samples, except the pull-request selection (the fast extractor on
    # serial and pool-map: 2 processes of 4; the feature micro-benchmarks: 4 processes). The
    # synthetic sets are rendered and their features extracted once, then cached (the train set:
    # 1000 tracks, ~1.3 GB).
    "default": Profile(
        "default",
        per_genre=5,  # 50 tracks x 30 s = 500 chunks: fast extraction ~3 s serial, images ~1 s
        seconds=30.0,
        reference_per_genre=1,  # 10 tracks x 6.5 s = 20 chunks: the reference ~3 s serial
        reference_seconds=6.5,
        model_per_genre=20,  # 200 tracks x 30 s = 2000 chunks: the classifiers, tuning, the CNN
        model_seconds=30.0,
        train_per_genre=100,  # 1000 tracks x 30 s = 10,000 chunks: XGBoost/RF/KNN training
        train_seconds=30.0,
        train_overrides=(("n_estimators", 10),),
        workers=(1, 2),
        repeat=(2, 3, 10.0),
        rounds=1,
        pr_rounds=2,
        serial_repeat=(2, 5, 2.0),
        serial_rounds=2,  # synthesis, audio, the classifiers: 4-10 samples from 2 processes
        pr_serial_rounds=4,  # the feature micro-benchmarks of the pull-request selection
        pr_repeat=(4, 4, 8.0),
        heavy_repeat=(2, 2, 10.0),
        timeout=900.0,
        grid="core",
    ),
    # GTZAN's real size (100 tracks x 30 s = 1000 chunks) on every cell, for machines with many cores
    "large": Profile(
        "large",
        per_genre=10,
        seconds=30.0,
        reference_per_genre=10,
        reference_seconds=30.0,
        model_per_genre=100,
        model_seconds=30.0,
        workers=None,
        repeat=(2, 3, 120.0),
        rounds=3,
        pr_rounds=3,
        serial_repeat=(3, 10, 20.0),
        serial_rounds=4,
        pr_serial_rounds=4,
        pr_repeat=(3, 5, 120.0),
        heavy_repeat=(1, 3, 120.0),
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
    family and ``process`` (:data:`FAMILY_BACKENDS`) on the core grid."""
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


def dataset_root(prof: Profile | None = None, *, models: bool = False, which: str | None = None) -> Path:
    """The benchmarks' dataset: ``$GENRE_HPC_BENCH_DATA`` (a GTZAN-layout folder, e.g. the real
    GTZAN) or one of the profile's synthetic datasets (``which``: :data:`DATASETS`; ``models``
    is ``which="models"``), rendered once and cached on disk (``genre_hpc.synth.default_dataset``)."""
    env = os.environ.get(DATA_ENV)
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"{DATA_ENV}={env}: no such folder")
        return root
    from genre_hpc.synth import default_dataset

    prof = prof or profile()
    per_genre, seconds = prof.data(which or ("models" if models else "stages"))
    return default_dataset(per_genre=per_genre, seconds=seconds, seed=prof.seed)


def prepare_datasets(prof: Profile | None = None, *, progress: bool = True) -> dict:
    """Render the profile's synthetic datasets and cache the features the classifiers and the
    training stage read (``fast`` extractor), before a run: the first time it takes minutes of
    CPU (``benchmarks/run_reference.sh`` times it apart), afterwards a manifest check. Returns
    ``{dataset: seconds}``."""
    import time

    from genre_hpc.extract import extract_features

    prof = prof or profile()
    took = {}
    for which in DATASETS:
        t0 = time.perf_counter()
        root = dataset_root(prof, which=which)
        if which in ("models", "train"):
            extract_features(root, extractor="fast", backend="serial", cache=True, progress=False)
        took[which] = time.perf_counter() - t0
        if progress:
            per_genre, seconds = prof.data(which)
            print(f"dataset {which}: {root} ({10 * per_genre} tracks x {seconds:g} s) in {took[which]:.1f} s")
    return took


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


#: set to a folder: every cell's record (the measurement core's figures with their bootstrap
#: intervals, all runs and baselines of every benchmark process) is also kept there, as
#: ``<Class>-<backend>-x<workers>-<work>.json``; asv's own setup_cache folder is removed after a run
RECORDS_ENV = "GENRE_HPC_BENCH_RECORDS"


def write_record(scratch, name: str, key, record: dict, *, keep_as: str | None = None) -> None:
    """Write a record into the run's scratch folder (and, named ``keep_as``, into
    ``$GENRE_HPC_BENCH_RECORDS`` when set)."""
    data = json.dumps(record, default=str, indent=1).encode()
    if scratch:
        atomic_write_bytes(Path(scratch) / f"{name}-{_digest(key)}.json", data)
    folder = os.environ.get(RECORDS_ENV)
    if folder and keep_as:
        Path(folder).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(folder) / f"{keep_as}.json", data)


# --- the stage mixin --------------------------------------------------------------------


_ACTIVE: list = []  # the StageBenchmark whose setup ran last in this process
#: the cell held ready in this benchmark process: ``{"key": record key, "session": CellSession}``
_SESSION: dict = {}
#: set to a folder: every timed run of a stage benchmark that maps items is traced, and its
#: timeline (JSON) and task-stream picture (PNG) are written there (docs/benchmarks.md)
TRACE_ENV = "GENRE_HPC_BENCH_TRACE"


def _close_session() -> None:
    """Stop the workers of the cell held ready (at the benchmark process' exit)."""
    held = _SESSION.pop("session", None)
    _SESSION.pop("key", None)
    if held is not None:
        try:
            held.__exit__(None, None, None)
        except Exception:  # pragma: no cover - the process is ending anyway
            pass


# before the exit handlers of the libraries (atexit runs last-registered first, and ipyparallel
# registers the stop of its controller when a cluster starts, after this module's import):
# threading's exit hook runs before every atexit handler; atexit stays as the fallback
if hasattr(threading, "_register_atexit"):
    threading._register_atexit(_close_session)
atexit.register(_close_session)


def _prepare_timed(cache, *params):
    """Extra setup of ``time_run`` only (asv runs a benchmark function's ``setup`` attribute
    after the class' ``setup``): warm this process up, run the baseline and start the cell's
    workers, untimed."""
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
    seed=..., **prepare_options, **work params)``, from the profile's :attr:`dataset`) and shared
    by the benchmark processes through the ``setup_cache`` folder. In every benchmark process of
    ``time_run`` (asv's :attr:`rounds` of them), the untimed setup warms the process (and, for
    the backends that fork their workers, the forkserver beside it), runs the stage's baseline
    cell (``stage.baseline(cell)``) :attr:`baseline_runs` times and opens the cell's session
    (:class:`genre_hpc.measure.CellSession`: the backend started once, workers warm, its
    start-up measured, the peak memory of its processes sampled) kept for the process' life;
    each sample then times one run on it (a warm map for the backend stages). The processes'
    runs and baselines go through the measurement core into one record per cell, merged over
    the rounds, that the ``track_*`` benchmarks of the same cell read; a ``track_*`` run without
    a record (for example ``asv run --bench track_speedup``) measures the cell itself.
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
    #: which of the profile's datasets the work is made from (:data:`DATASETS`)
    dataset: str = "stages"
    #: BLAS/OpenMP threads of the benchmark process (None: leave the libraries' defaults)
    blas_threads: int | None = 1
    #: timed runs of the baseline cell per benchmark process of ``time_run``; None: enough for
    #: 2 per cell over the class' rounds (:meth:`baseline_runs_per_process`)
    baseline_runs: int | None = None

    # asv: wall clock (work runs in other threads and processes), one call per sample, several
    # benchmark processes per cell (rounds), a few samples in each
    timer = timeit.default_timer
    number = 1
    rounds = PROFILE.rounds
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
        """Once per asv run, shared by every stage benchmark: the profile's datasets (rendered
        here the first time; their folders are kept, so a benchmark process need not import
        the synthesizer to find them) and a scratch folder."""
        prof = profile()
        roots = {which: str(dataset_root(prof, which=which)) for which in DATASETS}
        return {
            "profile": asdict(prof),
            "data": roots["stages"],
            "datasets": roots,
            "scratch": os.path.abspath(os.getcwd()),
        }

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
        self._timed_ready = False
        self._baselines: list = []
        self._runs: list = []
        self._server_s = 0.0
        self._session = None
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
        # asv also calls teardown between samples and after a skipped setup: the record is
        # rewritten with this process' runs so far each time
        if getattr(self, "_runs", None):
            self._write_record(self._baselines, self._runs)

    def time_run(self, cache, *params):
        """Wall-clock time of one stage run at the cell on its session: a warm map for the
        backend stages (their start-up is ``track_startup``), a whole run for the others."""
        run = self._session.run(**self._trace_options())
        self.check(run, self.cell)
        # keep the first output (compared with the baseline's in teardown), only timings of the others
        self._runs.append(run if not self._runs else dataclasses.replace(run, output=None))
        self._save_trace(run)

    time_run.setup = _prepare_timed

    def track_speedup(self, cache, *params):
        """``T_compute(baseline) / T_compute(run)`` on the same work, in the same processes."""
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
        """Peak summed RSS of the processes the cell starts (sampled every 0.1 s)."""
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

    @classmethod
    def baseline_runs_per_process(cls) -> int:
        """Baseline runs in each benchmark process of ``time_run``: :attr:`baseline_runs`, else
        as many as give the cell 2 over its ``rounds`` processes (2 with one process, 1 with
        two or more): the bootstrap interval of the speed-up needs 2 runs on each side (with
        one baseline run it is left out, NaN), and one baseline run is as noisy as one sample."""
        if cls.baseline_runs is not None:
            return max(1, int(cls.baseline_runs))
        return max(1, math.ceil(2 / max(1, int(cls.rounds))))

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
        """Keyword arguments of ``stage.prepare`` for this combination: the profile's
        :attr:`dataset` (or ``$GENRE_HPC_BENCH_DATA``), seed, options and work parameters."""
        prof = cache["profile"]
        p = Profile(**{**prof, "workers": tuple(prof["workers"]) if prof["workers"] else None})
        data, (per_genre, seconds) = cache["datasets"][self.dataset], p.data(self.dataset)
        return {
            "data": data,
            "per_genre": per_genre,
            "seconds": seconds,
            "seed": prof["seed"],
            **self.prepare_options,
            **{k: combo[k] for k in self.work_params},
        }

    def warm(self, work) -> None:
        """Make this process warm (imports, JIT compilation, the real per-item path) before
        anything is timed: the stage's ``warm_up(work)``. Worker processes warm up in the
        forkserver they fork from, or during the backend's start-up."""
        self.stage.warm_up(work)

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
        """Untimed, once per benchmark process: the forkserver warming on the other core while
        this process warms itself, the baseline runs, the cell's session (kept until exit)."""
        if self._timed_ready:
            return
        cells = [self.cell]
        self.stage.prestart(self.work, cells, wait=False)
        self._warm()
        self._server_s = self.stage.prestart(self.work, cells)
        if not self._is_baseline():
            base = self.stage.baseline(self.cell)
            self._baselines = [self._run(base, memory=False) for _ in range(self.baseline_runs_per_process())]
        self._session = self._open_session()
        self._timed_ready = True

    def _open_session(self):
        from genre_hpc.backends import BackendUnavailable, ClusterShapeError
        from genre_hpc.measure import CellSession

        key = json.dumps(self.record_key, sort_keys=True, default=str)
        if _SESSION.get("key") == key:
            return _SESSION["session"]
        _close_session()
        held = CellSession(
            self.stage, self.work, self.cell, options=self.run_options, memory=self._sample_rss()
        )
        try:
            held.__enter__()
        except BackendUnavailable as exc:
            raise SkipNotImplemented(f"{self.stage.label(self.cell)} is not available: {exc}") from None
        except ClusterShapeError as exc:  # the cluster has fewer workers than the cell asks
            raise SkipNotImplemented(str(exc)) from None
        _SESSION.update(key=key, session=held)
        return held

    def _trace_options(self) -> dict:
        return {"trace": True} if os.environ.get(TRACE_ENV) and self.stage.traces() else {}

    def _save_trace(self, run) -> None:
        folder = os.environ.get(TRACE_ENV)
        if not folder or run.trace is None:
            return
        from genre_hpc.trace import task_stream_png, write_trace

        label = self.stage.label(self.cell)
        traces = [
            {"cell": label, "run": k, "process": os.getpid(), **r.trace}
            for k, r in enumerate(self._runs)
            if r.trace is not None
        ]
        stem = f"{self._record_name()}-{os.getpid()}"
        write_trace(traces, folder, stem)
        task_stream_png(
            traces,
            Path(folder) / f"{stem}-trace.png",
            title=f"{type(self).__name__} {label}",
            runs=len(traces),
        )

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
            baselines = []
            if not self._is_baseline():
                baselines = [self._run(self.stage.baseline(self.cell), memory=False)]
            run = self._run(self.cell, memory=self._sample_rss())
            rec = self._write_record(baselines, [run], session_startup=run.startup_s)
        return rec

    def _write_record(self, baselines, runs, session_startup=None) -> dict:
        """This process' runs, assessed by the measurement core (an output that differs from the
        baseline's fails the benchmark), merged with the other processes' of this asv run into
        the record the ``track_*`` benchmarks read."""
        from genre_hpc.measure import assess

        m = assess(self.stage, self.cell, runs, baselines or None)
        if m.identical is False:
            raise AssertionError(f"{self.stage_name} at {self.cell}: the output differs from the baseline's")
        held = self._session
        if session_startup is None:
            session_startup = held.session_startup_s if held is not None else float("nan")
        if not (isinstance(session_startup, float) and math.isfinite(session_startup)):
            session_startup = m.startup_s  # a stage whose runs start what they need
        entry = {
            "compute_runs_s": [r.compute_s for r in runs],
            "baseline_runs_s": [r.compute_s for r in baselines],
            "startup_s": session_startup,
            "server_s": self._server_s if held is not None else 0.0,
            "peak_worker_rss": held.peak_rss if held is not None else m.peak_worker_rss,
            "worker_processes": held.processes if held is not None else m.worker_processes,
            "identical": m.identical,
        }
        previous = read_record(self.cache["scratch"], "record", self.record_key) or {}
        processes = dict(previous.get("processes") or {})
        processes[str(os.getpid())] = entry
        rec = merged_record(self.stage, self.cell, processes)
        rec.update(
            {
                "stage": self.stage_name,
                **self.combo,
                "thread_settings": self.thread_settings,
                "extra": previous.get("extra") or m.extra,
                "cluster": (previous.get("extra") or m.extra).get("cluster"),
                "oversubscribed": m.oversubscribed,
            }
        )
        if not self._is_baseline():
            rec["baseline"] = m.baseline_label
            rec["threads_divisor"] = m.threads
        write_record(self.cache["scratch"], "record", self.record_key, rec, keep_as=self._record_name())
        return rec

    def _record_name(self) -> str:
        """``<Class>-<cell label>[-<work parameters>]``: the file name of a kept record."""
        work = "-".join(str(v) for k, v in self.combo.items() if k not in self.stage.space.names)
        return "-".join(p for p in (type(self).__name__, _slug(self.stage.label(self.cell)), work) if p)


def merged_record(stage, cell: dict, processes: dict) -> dict:
    """One cell's record from the entries of its benchmark processes (``{pid: entry}``): every
    run and baseline run pooled into the measurement core's figures (bootstrap interval over all
    of them), the median start-up of the processes' sessions, the largest peak memory."""
    import statistics

    from genre_hpc.measure import figures

    runs = [t for e in processes.values() for t in e["compute_runs_s"]]
    bases = [t for e in processes.values() for t in e["baseline_runs_s"]]
    startups = [e["startup_s"] for e in processes.values() if _finite(e.get("startup_s"))]
    peaks = [e["peak_worker_rss"] for e in processes.values() if e.get("peak_worker_rss") is not None]
    procs = [e["worker_processes"] for e in processes.values() if e.get("worker_processes") is not None]
    rec = {
        "processes": processes,
        "rounds": len(processes),
        "runs": len(runs),
        "compute_s": statistics.median(runs) if runs else None,
        "compute_runs_s": runs,
        "startup_s": statistics.median(startups) if startups else None,
        "startup_runs_s": startups,
        "server_s": max((e.get("server_s") or 0.0 for e in processes.values()), default=0.0),
        "identical": all(e.get("identical") is not False for e in processes.values()),
        "speedup": None,
        "efficiency": None,
        "serial_fraction": None,
    }
    if bases:
        figs = figures(bases, runs, stage.threads(cell))
        rec.update(
            {
                "baseline_runs": len(bases),
                "baseline_compute_s": statistics.median(bases),
                "baseline_runs_s": bases,
                **figs.as_dict(),
            }
        )
    if peaks:
        rec["peak_worker_rss"] = max(peaks)
        rec["worker_processes"] = max(procs) if procs else None
    return rec


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in str(text)).strip("-")


_STAGES: dict = {}


def _stage(name: str):
    if name not in _STAGES:
        from genre_hpc.stages import get_stage

        _STAGES[name] = get_stage(name)
    return _STAGES[name]


class SerialBenchmark:
    """asv settings of the short serial benchmarks (one track, one chunk, one model):
    wall clock, one call per sample, the profile's ``serial_repeat`` in each of its
    ``serial_rounds`` benchmark processes, one BLAS/OpenMP thread."""

    timer = timeit.default_timer
    number = 1
    rounds = PROFILE.serial_rounds
    min_run_count = 1
    warmup_time = 0.0
    repeat = PROFILE.serial_repeat
    timeout = PROFILE.timeout
    blas_threads: int | None = 1
