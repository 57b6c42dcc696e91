"""Confidence intervals of accuracies: a bootstrap over test tracks.

The unit of resampling is the **track**, not the chunk: the chunks of one
track are alike (same recording), so resampling chunks would treat 10
correlated chunks as 10 independent trials and give intervals that are far
too narrow. Each bootstrap replicate draws as many tracks as were tested,
with replacement, and recomputes

* track accuracy: the share of drawn tracks whose vote is right;
* chunk accuracy: right chunks / chunks over the drawn tracks (a ratio, so a
  track with more chunks weighs more, as in the point estimate).

With cross-validation the tracks are resampled **within each fold** and the
statistic is the mean over folds of the per-fold accuracy, i.e. the same
quantity as the reported mean. The interval is the percentile interval of
:data:`N_BOOTSTRAP` replicates from ``numpy.random.default_rng(seed)``
(:data:`SEED` by default): the same inputs always give the same interval.

Only numpy is needed.
"""

from __future__ import annotations

import math

import numpy as np

#: the level of every reported interval
CONFIDENCE = 0.95
#: bootstrap replicates
N_BOOTSTRAP = 2000
#: the default seed of the bootstrap's random generator
SEED = 0


def bootstrap_interval(
    numerator,
    denominator=None,
    strata=None,
    *,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOTSTRAP,
    seed: int = SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a ratio, resampling units (tracks) within strata.

    The statistic is, per stratum, ``sum(numerator) / sum(denominator)`` over
    the units, then the mean over strata (one stratum: the plain ratio).

    Parameters
    ----------
    numerator : array of numbers, one per unit
        E.g. 1/0 for a right/wrong track, or a track's count of right chunks.
    denominator : array of numbers, optional
        One per unit (e.g. the track's chunk count); default 1 each.
    strata : array, optional
        A label per unit (e.g. the fold); units are resampled within their stratum.
    confidence : float
        Interval level (default 0.95).
    n_boot : int
        Replicates.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    (float, float)
        ``(lo, hi)``; ``(nan, nan)`` without units.
    """
    num = np.asarray(numerator, dtype=np.float64).ravel()
    den = np.ones_like(num) if denominator is None else np.asarray(denominator, dtype=np.float64).ravel()
    if num.shape != den.shape:
        raise ValueError(f"numerator and denominator differ in length ({num.size} vs {den.size})")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if num.size == 0:
        return (math.nan, math.nan)
    labels = np.zeros(num.size, dtype=np.int64) if strata is None else np.asarray(strata).ravel()
    if labels.shape != num.shape:
        raise ValueError("strata must have one label per unit")
    rng = np.random.default_rng(seed)
    stats = np.zeros(int(n_boot))
    uniq = np.unique(labels)
    for s in uniq:
        sel = np.flatnonzero(labels == s)
        idx = rng.integers(0, sel.size, size=(int(n_boot), sel.size))
        n_s, d_s = num[sel][idx].sum(axis=1), den[sel][idx].sum(axis=1)
        stats += np.divide(n_s, d_s, out=np.zeros_like(n_s), where=d_s > 0)
    stats /= len(uniq)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def per_track(right, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per track: ``(track_ids, right_chunks, chunks)`` from per-chunk right/wrong flags.

    Track ids come sorted (``numpy.unique`` order).
    """
    tracks, inv = np.unique(np.asarray(groups), return_inverse=True)
    right = np.asarray(right, dtype=np.float64)
    return (
        tracks,
        np.bincount(inv, weights=right, minlength=len(tracks)),
        np.bincount(inv, minlength=len(tracks)),
    )


def accuracy_intervals(
    chunk_right,
    chunk_groups,
    track_right,
    track_strata=None,
    *,
    chunk_strata=None,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOTSTRAP,
    seed: int = SEED,
) -> dict:
    """The intervals of chunk and track accuracy, both resampling tracks.

    Parameters
    ----------
    chunk_right : array of bool
        Per test chunk: prediction right.
    chunk_groups : array
        Per test chunk: its track id (with cross-validation, make ids unique
        per fold or pass ``chunk_strata``).
    track_right : array of bool
        Per test track, in ``numpy.unique(chunk_groups)`` order: vote right.
    track_strata, chunk_strata : arrays, optional
        The fold of each track / chunk (cross-validation).

    Returns
    -------
    dict
        ``{"chunk_accuracy_ci": (lo, hi), "track_accuracy_ci": (lo, hi)}``.
    """
    groups = np.asarray(chunk_groups)
    if chunk_strata is not None:
        groups = np.array([f"{s}\x00{g}" for s, g in zip(np.asarray(chunk_strata), groups)])
    tracks, right, total = per_track(chunk_right, groups)
    strata = None
    if chunk_strata is not None:
        strata = np.array([t.split("\x00", 1)[0] for t in tracks])
    kw = {"confidence": confidence, "n_boot": n_boot, "seed": seed}
    track_right = np.asarray(track_right, dtype=np.float64)
    if track_right.size != tracks.size:
        raise ValueError(f"{track_right.size} track results for {tracks.size} tracks")
    return {
        "chunk_accuracy_ci": bootstrap_interval(right, total, strata, **kw),
        "track_accuracy_ci": bootstrap_interval(
            track_right, None, strata if track_strata is None else track_strata, **kw
        ),
    }


def format_accuracy(value, ci=None, std=None, digits: int = 2) -> str:
    """``0.83 [0.67, 0.93]`` (with ``std``: ``0.83 ± 0.04 [0.76, 0.89]``); ``-`` for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:.{digits}f}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {std:.{digits}f}"
    if ci is not None and all(v is not None and math.isfinite(v) for v in ci):
        text += f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return text


#: below this many test tracks a footer says the interval is not to be trusted
FEW_TRACKS = 10


def describe(test_tracks: int | None = None) -> str:
    """The table footer: how the intervals were made (and a warning when there are few test tracks).

    A percentile bootstrap cannot be wider than the tracks it resamples
    show: with 4 test tracks all right, every replicate is 4/4 and the
    interval is ``[1.00, 1.00]``. Below :data:`FEW_TRACKS` tracks the footer says so.
    """
    text = (
        f"{CONFIDENCE:.0%} CI: bootstrap over test tracks (tracks resampled, not chunks; "
        f"{N_BOOTSTRAP} resamples, seed {SEED})"
    )
    if test_tracks is not None and test_tracks < FEW_TRACKS:
        text += (
            f"\nwarning: only {test_tracks} test track(s): the intervals are too narrow to trust "
            "(a bootstrap cannot vary more than the few tracks it resamples; all right gives [1.00, 1.00])"
        )
    return text


__all__ = [
    "CONFIDENCE",
    "N_BOOTSTRAP",
    "SEED",
    "accuracy_intervals",
    "bootstrap_interval",
    "FEW_TRACKS",
    "describe",
    "format_accuracy",
    "per_track",
]
