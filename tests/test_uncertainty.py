"""The bootstrap interval over test tracks: contains the estimate, narrows with data, seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genre_hpc.uncertainty import (
    FEW_TRACKS,
    accuracy_intervals,
    bootstrap_interval,
    describe,
    format_accuracy,
    per_track,
)


def _right(n_tracks: int, acc: float) -> np.ndarray:
    """``n_tracks`` 0/1 outcomes with exactly ``round(acc * n)`` right, in a fixed shuffled order."""
    k = int(round(acc * n_tracks))
    out = np.r_[np.ones(k), np.zeros(n_tracks - k)]
    return np.random.default_rng(1).permutation(out)


@pytest.mark.parametrize("n, acc", [(10, 0.7), (30, 0.83), (31, 0.1), (200, 0.5), (7, 0.86)])
def test_interval_contains_the_point_estimate(n, acc):
    right = _right(n, acc)
    lo, hi = bootstrap_interval(right)
    assert lo <= right.mean() <= hi
    assert 0.0 <= lo < hi <= 1.0


def test_interval_narrows_with_more_tracks():
    widths = []
    for n in (10, 40, 160, 640):
        lo, hi = bootstrap_interval(_right(n, 0.75))
        widths.append(hi - lo)
    assert all(a > b for a, b in zip(widths, widths[1:])), widths
    # about 1/sqrt(n): 64 times the tracks, about an eighth of the width
    assert widths[-1] < widths[0] / 4


def test_interval_is_reproducible_with_its_seed():
    right = _right(30, 0.6)
    assert bootstrap_interval(right, seed=5) == bootstrap_interval(right, seed=5)
    assert bootstrap_interval(right) == bootstrap_interval(right, seed=0)
    others = {bootstrap_interval(right, seed=s) for s in range(1, 6)}
    assert len(others) > 1  # the seed is really used


def test_degenerate_and_bad_inputs():
    assert bootstrap_interval(np.ones(12)) == (1.0, 1.0)
    assert bootstrap_interval(np.zeros(12)) == (0.0, 0.0)
    assert all(math.isnan(v) for v in bootstrap_interval([]))
    with pytest.raises(ValueError, match="differ in length"):
        bootstrap_interval([1, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_interval([1, 0], confidence=1.5)


def test_tracks_are_resampled_not_chunks():
    """20 tracks x 10 chunks, each track all right or all wrong: 200 chunks are 20 trials, not 200."""
    track_right = _right(20, 0.7).astype(bool)
    groups = np.repeat([f"t{i:02d}" for i in range(20)], 10)
    chunk_right = np.repeat(track_right, 10)
    cis = accuracy_intervals(chunk_right, groups, track_right)
    # a chunk is exactly as informative as its track here: the same interval at both levels
    assert cis["chunk_accuracy_ci"] == pytest.approx(cis["track_accuracy_ci"])
    naive = bootstrap_interval(chunk_right.astype(float))  # chunks as if independent
    assert (naive[1] - naive[0]) < 0.6 * (cis["chunk_accuracy_ci"][1] - cis["chunk_accuracy_ci"][0])


def test_chunk_interval_is_a_ratio_over_tracks():
    # a long track with 9 of 10 right, two short ones wrong: chunk accuracy 9/12, tracks 1/3
    groups = np.array(["a"] * 10 + ["b", "b"])
    right = np.array([1] * 9 + [0] + [0, 0], dtype=bool)
    tracks, n_right, n = per_track(right, groups)
    assert tracks.tolist() == ["a", "b"] and n_right.tolist() == [9, 0] and n.tolist() == [10, 2]
    lo, hi = bootstrap_interval(n_right, n)
    assert lo <= 9 / 12 <= hi and lo == 0.0 and hi == 0.9


def test_strata_resample_within_folds_around_the_mean_of_folds():
    # fold 0: 8/10 right, fold 1: 3/5 right -> mean of folds 0.7 (pooled would be 11/15)
    right = np.r_[_right(10, 0.8), _right(5, 0.6)]
    strata = np.r_[np.zeros(10), np.ones(5)]
    lo, hi = bootstrap_interval(right, strata=strata)
    assert lo <= 0.7 <= hi
    # tracks never cross folds: a fold all right and a fold all wrong give exactly (1 + 0) / 2
    right = np.r_[np.ones(10), np.zeros(5)]
    assert bootstrap_interval(right, strata=strata) == (0.5, 0.5)
    pooled = bootstrap_interval(right)
    assert pooled[0] < 10 / 15 < pooled[1]


def test_format():
    assert format_accuracy(0.8333, (0.6667, 0.9333)) == "0.83 [0.67, 0.93]"
    assert format_accuracy(0.8333, [0.6667, 0.9333], std=0.04) == "0.83 ± 0.04 [0.67, 0.93]"
    assert format_accuracy(0.5) == "0.50"
    assert format_accuracy(float("nan"), (0.1, 0.2)) == "-"
    assert format_accuracy(0.5, (float("nan"), float("nan"))) == "0.50"


def test_footer_warns_about_few_tracks():
    assert "tracks resampled, not chunks" in describe(30) and "warning" not in describe(30)
    assert f"only {FEW_TRACKS - 1} test track(s)" in describe(FEW_TRACKS - 1)
