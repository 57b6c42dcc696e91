"""Speed-up, efficiency, Karp-Flatt serial fraction, Amdahl fit, and the study runner.

The formulas live here; :mod:`genre_hpc.measure` applies them to measured cells (with their
confidence intervals), and :func:`run_study` is ``genre-hpc scale``'s loop over a grid.

Definitions (all on the same work, in the same run):

- speed-up ``S(p) = T_baseline / T(p)``; the baseline is the stage's 1-worker
  reference (the ``serial`` backend for extraction);
- efficiency ``E(p) = S(p) / p``, ``p`` being the stage's thread count of the cell;
- Karp-Flatt serial fraction ``e(p) = (1/S - 1/p) / (1 - 1/p)`` (undefined at
  p = 1). If ``e`` grows with ``p`` the loss is overhead, not a fixed serial part;
- Amdahl fit: the serial fraction ``f`` minimising the squared error of
  ``S(p) = 1 / (f + (1 - f) / p)``.

Weak scaling keeps the work per worker fixed (``p`` times the base work on
``p`` workers); there the reported speed-up is the *scaled* speed-up
``p * T_baseline(base work) / T(p)`` and efficiency ``T_baseline / T(p)``.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence


def speedup(t_baseline: float, t_parallel: float) -> float:
    """``t_baseline / t_parallel`` (NaN when either is missing or zero)."""
    if not (t_baseline and t_parallel) or any(map(math.isnan, (t_baseline, t_parallel))):
        return float("nan")
    return t_baseline / t_parallel


def efficiency(s: float, workers: int) -> float:
    """Speed-up per worker."""
    return s / workers if workers else float("nan")


def karp_flatt(s: float, workers: int) -> float:
    """Experimentally determined serial fraction; NaN for one worker."""
    if workers <= 1 or not s or math.isnan(s):
        return float("nan")
    return (1.0 / s - 1.0 / workers) / (1.0 - 1.0 / workers)


def amdahl(workers, f: float):
    """Amdahl's law ``1 / (f + (1 - f) / p)``."""
    import numpy as np

    p = np.asarray(workers, dtype=float)
    return 1.0 / (f + (1.0 - f) / p)


def amdahl_fit(workers: Sequence[int], speedups: Sequence[float]) -> float:
    """Least-squares serial fraction ``f`` in [0, 1] of Amdahl's law.

    Returns NaN when fewer than one finite point is given.
    """
    import numpy as np
    from scipy.optimize import minimize_scalar

    p = np.asarray(workers, dtype=float)
    s = np.asarray(speedups, dtype=float)
    ok = np.isfinite(s) & (s > 0)
    if not ok.any():
        return float("nan")
    res = minimize_scalar(
        lambda f: float(np.sum((amdahl(p[ok], f) - s[ok]) ** 2)), bounds=(0.0, 1.0), method="bounded"
    )
    return float(res.x)


def median_spread(values: Sequence[float]) -> tuple[float, float]:
    """Median and (max - min) of repeated timings."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return float("nan"), float("nan")
    return statistics.median(vals), max(vals) - min(vals)


def physical_cores() -> int:
    """Cores available to this process (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_study(
    stage,
    work,
    backends: Sequence[str] | None = None,
    workers: Sequence[int] | None = None,
    *,
    cells: Sequence[dict] | None = None,
    repeat: int = 3,
    weak: bool = False,
    options: dict | None = None,
    progress: bool | None = None,
    traces: list | None = None,
    interleave: bool = True,
) -> list[dict]:
    """Measure ``stage`` at every cell of a grid; return one row per cell.

    Each cell goes through the measurement core (:func:`genre_hpc.measure.measure_cell`):
    ``repeat`` runs of the cell and of its baseline on the same work, start-up apart, speed-up,
    efficiency, Karp-Flatt and their bootstrap intervals. A baseline's runs are taken once and
    shared by the cells (and its own row).

    With ``interleave`` (the default) the runs go in rounds: the first run of every cell and
    baseline, then the second of each, and so on, so that a slow spell of the machine (a
    shared host drifts by 10-20 % over minutes) falls on the baseline and the cells alike
    instead of on whichever cell ran during it. ``interleave=False`` runs each cell's repeats
    back to back (a cell's workers then start ``repeat`` times in a row).

    Parameters
    ----------
    stage : genre_hpc.stages.Stage
        What to run (prepared work is passed in ``work``).
    work : object
        ``stage.prepare(...)``'s result, shared by every run.
    backends, workers : sequences
        The grid as ``stage.grid(backends, workers)`` makes it (the stage's backend and workers
        axes: for train the modes and threads); ignored when ``cells`` is given.
    cells : sequence of dict
        The cells themselves (``stage.grid(...)`` or ``stage.space.cells(...)``).
    repeat : int
        Timed runs per cell; the median is reported with its spread and interval.
    weak : bool
        Weak scaling: ``p`` times the work on ``p`` workers (``p = stage.threads(cell)``).
    options : dict
        Passed to ``stage.run`` and ``stage.skip`` (e.g. a scheduler address, ``trace=True``).
    traces : list, optional
        Filled with the timeline of every traced run (``options={"trace": True}``), each as
        ``{"cell": "<backend> x<workers>", "run": k, **timeline}`` (:mod:`genre_hpc.trace`),
        the baselines' runs included once.
    interleave : bool
        Take the runs round by round over the cells (default) rather than cell by cell.

    Returns
    -------
    list of dict
        Keys: stage, backend, workers, the named axes, series, scaling, oversubscribed, compute_s,
        compute_spread_s, startup_s, speedup, speedup_ci, efficiency, efficiency_ci,
        serial_fraction, serial_fraction_ci, superlinear, identical, baseline_backend,
        baseline_s, runs, baseline_runs (+ ci_note without an interval, peak_worker_rss and
        worker_processes where memory was sampled), plus the stage's extra fields (``cluster``:
        the cluster's shape, on the cluster cells). A cell that cannot run here has ``skipped``
        (the reason) instead of the measured keys: also a cluster with fewer workers than the
        cell asks (:class:`~genre_hpc.backends.ClusterShapeError`); the other cells run.
    """
    import sys

    from tqdm.auto import tqdm

    from .backends import BackendUnavailable, ClusterShapeError
    from .measure import cell_row, measure_cell

    options = dict(options or {})
    cells = list(cells) if cells is not None else stage.grid(backends, workers)
    cores = physical_cores()
    cache: dict = {}
    traced: set = set()
    enabled = sys.stderr.isatty() if progress is None else progress
    unavailable: dict = {}
    if interleave and repeat > 1:
        unavailable = _interleaved_runs(stage, work, cells, repeat, weak, options, cache, enabled)
    rows = []
    for cell in tqdm(cells, desc=f"scale {stage.name}", unit="run", disable=not enabled, leave=False):
        head = cell_row(
            stage.name,
            stage.labels(cell),
            cell,
            series=stage.series(cell),
            weak=weak,
            oversubscribed=stage.threads(cell) > cores,
        )
        why = stage.skip(cell, **options) or unavailable.get(stage.space.key(cell))
        if why:
            rows.append({**head, "skipped": why})
            continue
        try:
            m = measure_cell(stage, work, cell, repeat=repeat, weak=weak, options=options, cache=cache)
        except BackendUnavailable as exc:  # found out only when starting (a broken install)
            rows.append({**head, "skipped": f"not available: {exc}"})
            continue
        except ClusterShapeError as exc:  # the cluster has too few workers, or other threads
            rows.append({**head, "skipped": str(exc)})
            continue
        rows.append(m.row())
        if traces is not None:
            for c, runs in ((cell, m.runs), (m.baseline, m.baseline_runs)):
                label = stage.label(c) + (
                    f" (x{m.factor} work)" if weak and c is cell and m.factor != 1 else ""
                )
                if label in traced:
                    continue
                traced.add(label)
                traces.extend({"cell": label, "run": k, **r.trace} for k, r in enumerate(runs) if r.trace)
    return rows


def _interleaved_runs(stage, work, cells, repeat, weak, options, cache, progress) -> dict:
    """Fill ``cache`` (:func:`genre_hpc.measure.measure_cell`'s) with ``repeat`` runs of every
    runnable cell and baseline, taken round by round; return ``{cell key: reason}`` for the
    cells found unavailable only when started (their rows say so; a cell whose baseline was
    unavailable finds it again in ``measure_cell``)."""
    from tqdm.auto import tqdm

    from .backends import BackendUnavailable, ClusterShapeError
    from .measure import run_once, runs_key, warm_once

    warm_once(stage, work, cache)
    todo: dict = {}  # runs key -> (cell, factor): each runnable cell and its baseline, once
    for cell in cells:
        if not stage.skip(cell, **options):
            factor = stage.threads(cell) if weak else 1
            for c, f in ((stage.baseline(cell), 1), (cell, factor)):
                todo.setdefault(runs_key(stage, c, f), (c, f))
    runs: dict = {key: [] for key in todo}
    unavailable: dict = {}
    scaled = {1: work}  # the work of each factor, made once (as measure_cell does)
    bar = tqdm(
        total=repeat * len(todo), desc=f"scale {stage.name}", unit="run", disable=not progress, leave=False
    )
    with bar:
        for _ in range(repeat):
            for key, (c, factor) in todo.items():
                try:
                    if key[0] not in unavailable:
                        if factor not in scaled:
                            scaled[factor] = stage.scaled(work, factor)
                        runs[key].append(run_once(stage, scaled[factor], c, options=options))
                except BackendUnavailable as exc:
                    unavailable[key[0]] = f"not available: {exc}"
                except ClusterShapeError as exc:
                    unavailable[key[0]] = str(exc)
                finally:
                    bar.update(1)
    cache.update({key: r for key, r in runs.items() if key[0] not in unavailable})
    return unavailable
