"""The measurement core: one stage cell, measured and turned into figures, the same way everywhere.

``genre-hpc scale`` (:func:`genre_hpc.scaling.run_study`), the asv suite
(``benchmarks/common.py``) and ``genre-hpc compare-machines`` (:mod:`genre_hpc.machines`) all
go through this module::

    measure_cell(stage, work, cell)                       one cell, start to end:
        run_once(stage, work, baseline) x repeat          the baseline on the same work
        run_once(stage, work, cell) x repeat              the cell (peak worker memory sampled)
        assess(stage, cell, runs, baseline_runs)          medians, start-up apart, same output?
            figures(baseline times, run times, threads)   speed-up, efficiency, Karp-Flatt, CIs

- speed-up ``S = median(T_baseline) / median(T_cell)`` of the compute times (start-up is
  reported apart, never part of them); weak scaling multiplies by the work factor;
- efficiency ``E = S / threads`` where ``threads`` is the stage's own rule
  (:meth:`genre_hpc.stages.Stage.threads`: the workers, a mode's threads, the CNN's largest
  pool);
- Karp-Flatt serial fraction ``e = (1/S - 1/p) / (1 - 1/p)`` with ``p = threads``;
- 95 % confidence intervals of ``S`` (and so of ``E`` and ``e``): a percentile bootstrap over
  the repeated runs, baseline times and cell times resampled independently, the ratio of their
  medians, :data:`CI_RESAMPLES` resamples with a fixed seed (the same timings give the same
  interval). With fewer than 2 runs on either side there is no interval: ``[nan, nan]`` and a
  note saying so;
- a figure is *superlinear* when the interval's lower bound is above ``threads`` or the
  efficiency above :data:`SUPERLINEAR_EFFICIENCY`: on this kind of work that is almost always
  noise or a cold baseline, so it is flagged, not celebrated.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .scaling import efficiency, karp_flatt, median_spread, physical_cores, speedup

#: confidence level of the speed-up/efficiency intervals
CI_LEVEL = 0.95
#: bootstrap resamples per interval
CI_RESAMPLES = 2000
#: seed of the bootstrap (fixed: the same timings give the same interval)
CI_SEED = 0
#: efficiency above which a figure is flagged as superlinear (also: CI lower bound > threads)
SUPERLINEAR_EFFICIENCY = 1.05

NAN = float("nan")


# --- memory of worker processes -----------------------------------------------------------


class PeakRSS:
    """Peak of the summed resident memory (RSS) of the processes started while it runs.

    A background thread reads the RSS of this process's descendants every ``interval``
    seconds and re-lists them every ``refresh`` seconds (listing walks /proc, reading a known
    process is cheap). Processes that existed before ``__enter__`` are not counted. The sum
    includes helper processes a backend starts (schedulers, nannies, resource trackers).

    Attributes
    ----------
    peak_bytes : int
        The largest sum seen.
    max_processes : int
        The most processes alive in one sample.
    samples : int
    """

    def __init__(self, interval: float = 0.1, refresh: float = 0.25):
        self.interval = interval
        self.refresh = refresh
        self.peak_bytes = 0
        self.max_processes = 0
        self.samples = 0

    def __enter__(self):
        import psutil

        self._psutil = psutil
        self._me = psutil.Process()
        try:
            self._before = {p.pid for p in self._me.children(recursive=True)}
        except psutil.Error:
            self._before = set()
        self._procs: dict = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False

    @property
    def measured(self) -> tuple[int | None, int | None]:
        """``(peak_bytes, max_processes)``, or ``(None, None)`` when no process was ever seen
        (none started, or all came and went between two samples): not a measured 0."""
        if not self.max_processes:
            return None, None
        return self.peak_bytes, self.max_processes

    def _relist(self):
        try:
            children = self._me.children(recursive=True)
        except self._psutil.Error:
            return
        procs = {p.pid: p for p in children if p.pid not in self._before}
        for pid, p in self._procs.items():  # keep the objects we have (they guard against pid reuse)
            if pid in procs:
                procs[pid] = p
        self._procs = procs

    def _sample(self):
        total = n = 0
        for pid, p in list(self._procs.items()):
            try:
                total += p.memory_info().rss
                n += 1
            except self._psutil.Error:
                self._procs.pop(pid, None)
        self.samples += 1
        self.peak_bytes = max(self.peak_bytes, total)
        self.max_processes = max(self.max_processes, n)

    def _loop(self):
        next_list = 0.0
        while True:
            now = time.monotonic()
            if now >= next_list or not self._procs:  # none seen yet: a short run's pool is gone in 0.2 s
                self._relist()
                next_list = now + self.refresh
            self._sample()
            if self._stop.wait(self.interval):
                return


# --- the figures ----------------------------------------------------------------------------


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def ratio_ci(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    level: float = CI_LEVEL,
    resamples: int = CI_RESAMPLES,
    seed: int = CI_SEED,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``median(numerator) / median(denominator)``.

    Both samples are resampled independently (with replacement, each at its own size); the
    interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled
    ratios. ``(nan, nan)`` when either side has fewer than 2 finite values.
    """
    import numpy as np

    a, b = np.asarray(_finite(numerator)), np.asarray(_finite(denominator))
    if a.size < 2 or b.size < 2:
        return (NAN, NAN)
    rng = np.random.default_rng(seed)
    ma = np.median(rng.choice(a, size=(resamples, a.size), replace=True), axis=1)
    mb = np.median(rng.choice(b, size=(resamples, b.size), replace=True), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = ma / mb
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size == 0:
        return (NAN, NAN)
    lo, hi = np.quantile(ratios, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return (float(lo), float(hi))


@dataclass(frozen=True)
class Figures:
    """Speed-up, efficiency and Karp-Flatt serial fraction of one cell, with their intervals."""

    speedup: float
    efficiency: float
    serial_fraction: float
    speedup_ci: tuple[float, float]
    efficiency_ci: tuple[float, float]
    serial_fraction_ci: tuple[float, float]
    threads: int
    superlinear: bool
    #: why there is no interval ("" when there is one)
    ci_note: str = ""

    @classmethod
    def from_speedup(
        cls, s: float, threads: int, ci: tuple[float, float] = (NAN, NAN), ci_note: str = ""
    ) -> Figures:
        """The figures of a known speed-up ``s`` (and its interval) on ``threads``."""
        lo, hi = ci
        e = efficiency(s, threads)
        ci_e = (efficiency(lo, threads), efficiency(hi, threads))
        # Karp-Flatt falls as S grows: the interval's ends swap
        ci_kf = (karp_flatt(hi, threads), karp_flatt(lo, threads))
        superlinear = bool(
            (math.isfinite(lo) and lo > threads) or (math.isfinite(e) and e > SUPERLINEAR_EFFICIENCY)
        )
        if not ci_note and not (math.isfinite(lo) and math.isfinite(hi)):
            ci_note = "no interval"
        return cls(s, e, karp_flatt(s, threads), (lo, hi), ci_e, ci_kf, threads, superlinear, ci_note)

    def as_dict(self) -> dict:
        d = {
            "speedup": self.speedup,
            "speedup_ci": list(self.speedup_ci),
            "efficiency": self.efficiency,
            "efficiency_ci": list(self.efficiency_ci),
            "serial_fraction": self.serial_fraction,
            "serial_fraction_ci": list(self.serial_fraction_ci),
            "superlinear": self.superlinear,
        }
        if self.ci_note:
            d["ci_note"] = self.ci_note
        return d


def figures(
    baseline_s: Sequence[float],
    run_s: Sequence[float],
    threads: int,
    *,
    factor: float = 1.0,
    level: float = CI_LEVEL,
    resamples: int = CI_RESAMPLES,
    seed: int = CI_SEED,
) -> Figures:
    """Speed-up, efficiency, Karp-Flatt and their bootstrap intervals from repeated timings.

    Parameters
    ----------
    baseline_s, run_s : sequences of float
        Compute times of the baseline's runs and of the cell's runs, on the same work (times
        that are None or NaN are left out).
    threads : int
        What efficiency is divided by (the stage's ``threads(cell)``).
    factor : float
        Weak scaling: the cell ran ``factor`` times the baseline's work; the speed-up is the
        scaled one, ``factor * T_baseline / T_cell``.
    level, resamples, seed
        The bootstrap (:func:`ratio_ci`).

    Returns
    -------
    Figures
        NaN everywhere when a side has no time; intervals ``(nan, nan)`` with a ``ci_note``
        when a side has fewer than 2.
    """
    base, run = _finite(baseline_s), _finite(run_s)
    s = speedup(statistics.median(base), statistics.median(run)) * factor if base and run else NAN
    lo, hi = ratio_ci(base, run, level=level, resamples=resamples, seed=seed)
    note = ""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        note = (
            f"no interval: {len(run)} run(s) of the cell and {len(base)} of its baseline; "
            "the bootstrap needs 2 or more of each"
        )
    return Figures.from_speedup(s, threads, (lo * factor, hi * factor), note)


# --- measuring a cell ----------------------------------------------------------------------


class CellSession:
    """One cell held ready for several timed runs: the stage's session (the backend started
    once, its workers warm) and the peak memory of the processes it starts, sampled from the
    session's start to its end.

    The asv suite opens one per benchmark process and times :meth:`run` (a warm map) as its
    samples; the start-up is measured once, apart (:attr:`startup_s`). Stages whose session
    shares nothing (``stage.session`` yields None) start what they need in every run, and
    :attr:`startup_s` is then the runs' own.

    Use as a context manager; ``memory`` as in :func:`run_once`.
    """

    def __init__(self, stage, work, cell: dict, *, options: dict | None = None, memory: bool | None = None):
        self.stage, self.work, self.cell = stage, work, dict(cell)
        self.options = dict(options or {})
        self.memory = stage.uses_processes(cell) is not False if memory is None else memory
        self.value = None
        self.session_startup_s = NAN
        self._rss = None
        self._cm = None

    def __enter__(self):
        if self.memory:
            self._rss = PeakRSS().__enter__()
        try:
            self._cm = self.stage.session(self.work, self.cell, **self.options)
            self.value = self._cm.__enter__()
        except BaseException:
            self._close_rss()
            raise
        self.session_startup_s = float(getattr(self.value, "startup_s", NAN))
        return self

    def run(self, **extra):
        """One timed run on the session (``extra``: further run options, e.g. ``trace=True``)."""
        return self.stage.run(self.work, **self.cell, **self.options, **extra, session=self.value)

    @property
    def peak_rss(self) -> int | None:
        """The peak summed RSS of the processes the session started (None when not sampled)."""
        return self._rss.measured[0] if self._rss is not None else None

    @property
    def processes(self) -> int | None:
        """The most processes the session had alive at once (None when not sampled)."""
        return self._rss.measured[1] if self._rss is not None else None

    def with_memory(self, run):
        """``run`` with the session's peak memory so far (what :func:`run_once` attaches)."""
        if self._rss is None:
            return run
        peak, processes = self._rss.measured
        return replace(run, peak_rss=peak, processes=processes)

    def _close_rss(self):
        if self._rss is not None:
            self._rss.__exit__(None, None, None)  # stops sampling; the figures stay readable

    def __exit__(self, *exc):
        cm, self._cm = self._cm, None
        try:
            if cm is not None:
                cm.__exit__(*exc)
        finally:
            self._close_rss()
        return False


def run_once(stage, work, cell: dict, *, options: dict | None = None, memory: bool | None = None):
    """One timed ``stage.run`` at ``cell`` (axes as keywords, then ``options``).

    ``memory``: sample the peak summed RSS of the processes the run starts (:class:`PeakRSS`)
    into the result's ``peak_rss``/``processes``; None: when the stage says the cell may run
    in other processes (``stage.uses_processes(cell)`` is not False).
    """
    if memory is None:
        memory = stage.uses_processes(cell) is not False
    if not memory:
        return stage.run(work, **cell, **(options or {}))
    with PeakRSS() as rss:
        res = stage.run(work, **cell, **(options or {}))
    peak, processes = rss.measured
    return replace(res, peak_rss=peak, processes=processes)


@dataclass
class Measurement:
    """One measured cell: its runs, its baseline's runs and what they give."""

    stage: str
    cell: dict
    labels: dict
    series: str
    baseline: dict
    baseline_label: str
    runs: list
    baseline_runs: list
    compute_s: float
    compute_spread_s: float
    startup_s: float
    baseline_s: float
    identical: bool | None
    figures: Figures
    threads: int
    oversubscribed: bool
    factor: int = 1
    weak: bool = False
    peak_worker_rss: int | None = None
    worker_processes: int | None = None
    extra: dict = field(default_factory=dict)

    def row(self) -> dict:
        """The row of ``genre-hpc scale`` (keys in docs/scaling.md)."""
        row = cell_row(
            self.stage,
            self.labels,
            self.cell,
            series=self.series,
            weak=self.weak,
            oversubscribed=self.oversubscribed,
        )
        row.update(
            {
                "compute_s": self.compute_s,
                "compute_spread_s": self.compute_spread_s,
                "startup_s": self.startup_s,
                **self.figures.as_dict(),
                "identical": self.identical,
                "baseline_backend": self.baseline_label,
                "baseline_s": self.baseline_s,
                "runs": len(self.runs),
                "baseline_runs": len(self.baseline_runs),
                # the times the figures rest on, in run order (with interleaving, run k of the
                # cell and of its baseline are of the same round)
                "runs_s": [round(r.compute_s, 4) for r in self.runs],
                "baseline_runs_s": [round(r.compute_s, 4) for r in self.baseline_runs],
            }
        )
        if self.worker_processes is not None:
            row["peak_worker_rss"] = self.peak_worker_rss
            row["worker_processes"] = self.worker_processes
        row.update(self.extra)
        return row


def cell_row(
    stage_name: str, labels: dict, cell: dict, *, series: str, weak: bool, oversubscribed: bool
) -> dict:
    """The keys every row of a cell starts with (measured or skipped): the stage, the
    ``backend``/``workers`` labels outside tools read, the named axes, the plot series."""
    return {
        "stage": stage_name,
        "backend": labels["backend"],
        "workers": labels["workers"],
        **cell,
        "series": series,
        "scaling": "weak" if weak else "strong",
        "oversubscribed": oversubscribed,
    }


def cores_of(extra: dict | None) -> int:
    """The cores a cell's work could use: on a cluster, those of the hosts its workers ran on
    (``extra["cluster"]["host_cpus"]``); else this machine's (:func:`physical_cores`)."""
    info = (extra or {}).get("cluster") or {}
    cpus = [c for c in (info.get("host_cpus") or {}).values() if isinstance(c, int) and c > 0]
    return sum(cpus) if cpus else physical_cores()


def assess(stage, cell: dict, runs: Sequence, baseline_runs: Sequence | None, *, factor: int = 1, weak=False):
    """Turn the runs of a cell and of its baseline into a :class:`Measurement`.

    ``baseline_runs`` None (or empty): no speed-up (the asv suite's baseline cell itself);
    ``factor``: the work of ``runs`` is ``factor`` times the baseline's (weak scaling). The
    output of the first run is compared with the baseline's first (scaled with
    ``stage.scaled_output`` for weak scaling); the figures come from :func:`figures` with the
    stage's ``threads(cell)``.
    """
    if not runs:
        raise ValueError(f"{stage.name} {cell}: no runs to assess")
    base_cell = stage.baseline(cell)
    threads = stage.threads(cell)
    compute, spread = median_spread([r.compute_s for r in runs])
    startup, _ = median_spread([r.startup_s for r in runs])
    base_times = [r.compute_s for r in baseline_runs or ()]
    identical = None
    if baseline_runs:
        ref = baseline_runs[0].output
        if factor != 1:
            ref = stage.scaled_output(ref, factor)
        identical = bool(stage.same(runs[0].output, ref))
    figs = figures(base_times, [r.compute_s for r in runs], threads, factor=factor if weak else 1)
    sampled = [r for r in runs if r.processes is not None]
    return Measurement(
        stage=stage.name,
        cell=dict(cell),
        labels=stage.labels(cell),
        series=stage.series(cell),
        baseline=base_cell,
        baseline_label=stage.label(base_cell),
        runs=list(runs),
        baseline_runs=list(baseline_runs or ()),
        compute_s=compute,
        compute_spread_s=spread,
        startup_s=startup,
        baseline_s=median_spread(base_times)[0],
        identical=identical,
        figures=figs,
        threads=threads,
        oversubscribed=threads > cores_of(runs[0].extra),
        factor=factor,
        weak=weak,
        peak_worker_rss=max((r.peak_rss for r in sampled), default=None),
        worker_processes=max((r.processes for r in sampled), default=None),
        extra=dict(runs[0].extra or {}),
    )


def measure_cell(
    stage,
    work,
    cell: dict,
    *,
    repeat: int = 3,
    weak: bool = False,
    options: dict | None = None,
    cache: dict | None = None,
    memory: bool | None = None,
) -> Measurement:
    """Measure one cell of ``stage`` against its baseline on the same work.

    Parameters
    ----------
    stage : genre_hpc.stages.Stage
    work : object
        ``stage.prepare(...)``'s result.
    cell : dict
        One value per axis of ``stage.space``.
    repeat : int
        Timed runs of the cell and of its baseline (the baseline's are shared through
        ``cache``: a study runs each once).
    weak : bool
        Weak scaling: the cell runs ``stage.scaled(work, threads)`` against the baseline on
        ``work``.
    options : dict
        Run options passed to ``stage.run`` (e.g. a scheduler address).
    cache : dict
        ``{(cell key, factor): runs}`` shared by the cells of one study.
    memory : bool or None
        Sample the peak worker memory (None: where ``stage.uses_processes(cell)`` is not False).

    Returns
    -------
    Measurement
        ``.row()`` is the scaling study's row.
    """
    cache = {} if cache is None else cache
    factor = stage.threads(cell) if weak else 1
    warm_once(stage, work, cache)

    def runs_of(c, f):
        key = runs_key(stage, c, f)
        if key not in cache:
            w = stage.scaled(work, f) if f != 1 else work
            cache[key] = [run_once(stage, w, c, options=options, memory=memory) for _ in range(repeat)]
        return cache[key]

    runs = runs_of(cell, factor)
    baseline_runs = runs_of(stage.baseline(cell), 1)
    return assess(stage, cell, runs, baseline_runs, factor=factor, weak=weak)


def runs_key(stage, cell: dict, factor: int = 1) -> tuple:
    """The key of a cell's runs on ``factor`` times the work in :func:`measure_cell`'s ``cache``."""
    return (stage.space.key(cell), factor)


def warm_once(stage, work, cache: dict) -> None:
    """A warm baseline: the stage's real per-item path once in this process, untimed, before the
    first timed run of a study sharing ``cache`` (a cold first serial run inflates every
    speed-up)."""
    if ("warm", id(work)) not in cache:
        stage.warm_up(work)
        cache[("warm", id(work))] = True
