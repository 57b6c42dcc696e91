"""Speed-up, efficiency, Karp-Flatt serial fraction, Amdahl fit, and the study runner.

Definitions (all on the same work, in the same run):

- speed-up ``S(p) = T_baseline / T(p)``; the baseline is the stage's 1-worker
  reference (the ``serial`` backend for extraction);
- efficiency ``E(p) = S(p) / p``;
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
    backends: Sequence[str],
    workers: Sequence[int],
    *,
    repeat: int = 3,
    weak: bool = False,
    options: dict | None = None,
    progress: bool | None = None,
) -> list[dict]:
    """Time ``stage`` on every backend x worker count; return one row per combination.

    Parameters
    ----------
    stage : genre_hpc.stages.Stage
        What to run (prepared work is passed in ``work``).
    work : object
        ``stage.prepare(...)``'s result, shared by every run.
    backends, workers : sequences
        The grid. Combinations the stage rejects are skipped (recorded with
        ``skipped`` and the reason).
    repeat : int
        Timed runs per combination; the median is reported with its spread.
    weak : bool
        Weak scaling: ``p`` times the work on ``p`` workers.
    options : dict
        Passed to ``stage.run`` (e.g. a scheduler address).

    Returns
    -------
    list of dict
        Keys: stage, backend, workers, compute_s, compute_spread_s, startup_s,
        speedup, efficiency, serial_fraction, identical, oversubscribed,
        scaling, baseline_backend, baseline_s, plus the stage's extra fields.
    """
    import sys

    from tqdm.auto import tqdm

    options = dict(options or {})
    cores = physical_cores()
    measured: dict[tuple, list] = {}

    def measure(backend, p, factor):
        """Timed runs of one combination, memoised: the baseline's row reuses its runs."""
        key = (backend, p, factor)
        if key not in measured:
            w = stage.scaled(work, factor) if factor != 1 else work
            measured[key] = [stage.run(w, backend, p, **options) for _ in range(repeat)]
        return measured[key]

    grid = [(b, p) for b in backends for p in workers]
    enabled = sys.stderr.isatty() if progress is None else progress
    rows = []
    for backend, p in tqdm(grid, desc=f"scale {stage.name}", unit="run", disable=not enabled, leave=False):
        row = {
            "stage": stage.name,
            "backend": backend,
            "workers": p,
            "scaling": "weak" if weak else "strong",
            "oversubscribed": p > cores,
        }
        why = stage.skip_reason(backend, p, **options)
        if why:
            rows.append({**row, "skipped": why})
            continue
        factor = p if weak else 1
        runs = measure(backend, p, factor)
        t, spread = median_spread([r.compute_s for r in runs])
        startup, _ = median_spread([r.startup_s for r in runs])
        base_backend, base_workers = stage.baseline(backend)
        base_runs = measure(base_backend, base_workers, 1 if weak else factor)
        base_t, _ = median_spread([r.compute_s for r in base_runs])
        s = speedup(base_t, t) * (p if weak else 1)
        reference = stage.scaled_output(base_runs[0].output, factor) if weak else base_runs[0].output
        p_eff = stage.threads(backend, p)
        row.update(
            {
                "compute_s": t,
                "compute_spread_s": spread,
                "startup_s": startup,
                "speedup": s,
                "efficiency": efficiency(s, p_eff),
                "serial_fraction": karp_flatt(s, p_eff),
                "identical": bool(stage.same(runs[0].output, reference)),
                "baseline_backend": "{}x{}".format(*stage.baseline(backend)),
                "baseline_s": base_t,
            }
        )
        row.update(runs[0].extra)
        rows.append(row)
    return rows
