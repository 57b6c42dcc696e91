"""Test data made without audio (importable by tests that need a feature table)."""

from __future__ import annotations

import numpy as np


def toy_feature_table(
    genres: int = 10,
    tracks_per_genre: int = 6,
    chunks: int = 3,
    *,
    seed: int = 0,
    noise: float = 2.0,
    track_noise: float = 0.7,
):
    """A deterministic feature table without audio (tests and measurements).

    Columns are the feature table's: ``track_id, chunk, genre, path`` and the 87
    ``study-87`` features. Each genre has its own mean vector; each track adds
    an offset (so chunks of one track are alike, which the track split must
    respect); each chunk adds noise. With the defaults, models are clearly
    better than chance but not perfect.

    Parameters
    ----------
    genres, tracks_per_genre, chunks : int
        Table size: ``genres * tracks_per_genre * chunks`` rows.
    seed : int
        ``numpy.random.default_rng(seed)``: same seed, same table.
    noise, track_noise : float
        Standard deviations of the chunk noise and the per-track offset
        (the genre means are standard normal).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    from genre_hpc.features.schema import STUDY_87

    rng = np.random.default_rng(seed)
    names = [f"genre{g:02d}" for g in range(genres)]
    n_feat = len(STUDY_87.columns)
    means = rng.normal(0.0, 1.0, (genres, n_feat))
    ids, chunk_col, genre_col, paths, rows = [], [], [], [], []
    for g, name in enumerate(names):
        for t in range(tracks_per_genre):
            offset = rng.normal(0.0, track_noise, n_feat)
            tid = f"{name}.{t:05d}"
            for c in range(chunks):
                rows.append(means[g] + offset + rng.normal(0.0, noise, n_feat))
                ids.append(tid)
                chunk_col.append(c)
                genre_col.append(name)
                paths.append(f"toy/{name}/{tid}.wav")
    table = pd.DataFrame(np.asarray(rows), columns=list(STUDY_87.columns))
    table.insert(0, "path", paths)
    table.insert(0, "genre", genre_col)
    table.insert(0, "chunk", np.asarray(chunk_col, dtype=np.int64))
    table.insert(0, "track_id", ids)
    return table
