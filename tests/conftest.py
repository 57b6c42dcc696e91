"""Shared fixtures: tiny audio made here, and a private cache folder for the whole session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

# Never touch the user's cache: every test session gets its own.
_SESSION_CACHE = tempfile.mkdtemp(prefix="genre-hpc-test-cache-")
os.environ["GENRE_HPC_CACHE"] = _SESSION_CACHE
atexit.register(shutil.rmtree, _SESSION_CACHE, ignore_errors=True)
os.environ.setdefault("MPLBACKEND", "Agg")

SR = 22050


def tone_track(kind: int, seconds: float = 3.5, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A short, deterministic, music-like signal: a chord, clicks and noise that differ by ``kind``."""
    rng = np.random.default_rng([seed, kind])
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110.0 * 2 ** (kind * 5 / 12)
    y = sum(np.sin(2 * np.pi * f0 * m * t) / m for m in (1, 1.5, 2, 3))
    beat = (np.sin(2 * np.pi * (1.5 + kind) * t) > 0.95).astype(float)
    y = 0.2 * y + 0.3 * beat * rng.standard_normal(t.size) + 0.01 * rng.standard_normal(t.size)
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


def write_wav(path: Path, y: np.ndarray, sr: int = SR, **kw) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, **kw)
    return path


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """3 genres x 2 tracks x 3.5 s (one 3 s chunk each), GTZAN layout."""
    root = tmp_path_factory.mktemp("tiny")
    for g, genre in enumerate(("blues", "metal", "reggae")):
        for i in range(2):
            write_wav(root / genre / f"{genre}.{i:05d}.wav", tone_track(3 * g + i, seed=i))
    return root
