"""Warm-up functions passed as ``warmup=`` to a backend.

A fresh Python process pays for imports and, with librosa, for numba's
just-in-time compilation on the first call (3-25 s here). Running
:func:`warm_librosa` once in every worker during start-up moves that cost
into ``startup_s`` so the timed map measures the steady state.
"""

from __future__ import annotations

#: seconds of noise used by :func:`warm_librosa` (long enough for every feature)
WARM_SECONDS = 1.5


def warm_librosa(extractor: str = "reference", seconds: float = WARM_SECONDS, seed: int = 0) -> None:
    """Run the extractor and the chunk trimming once on deterministic noise.

    Parameters
    ----------
    extractor : str
        Extractor name (:func:`genre_hpc.features.get_extractor`).
    seconds : float
        Length of the noise chunk, at the pipeline's sample rate.
    seed : int
        Seed of the noise, so every worker computes the same thing.
    """
    import numpy as np

    from ..audio import SAMPLE_RATE, trim_chunk
    from ..features import get_extractor

    rng = np.random.default_rng(seed)
    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    y = (0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)
    get_extractor(extractor).extract_chunk(trim_chunk(y), SAMPLE_RATE)
