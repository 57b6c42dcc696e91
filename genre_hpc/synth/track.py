"""One track: validate the request, seed its generator, arrange its genre, mix it down."""

from __future__ import annotations

import numpy as np

from .constants import GENRES, SAMPLE_RATE
from .genres import TEMPO_RANGES, arranger, check_genre
from .mixing import mix_down


def check_seed(seed) -> int:
    """``int(seed)``, or a ValueError if it is negative."""
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed}")
    return seed


def synthesize_track(
    genre: str, index: int, *, seconds: float = 30.0, seed: int = 0, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """Render one synthetic track of ``genre``.

    Parameters
    ----------
    genre : str
        One of :data:`~genre_hpc.synth.GENRES`.
    index : int
        Track number within the genre (``>= 0``); different indexes are
        different pieces (tempo, key, progression, instruments, mix).
    seconds : float
        Duration; the result has ``round(seconds * sr)`` samples.
    seed : int
        Dataset seed (``>= 0``). The track's random generator is
        ``numpy.random.default_rng([seed, genre number, index])``, so the
        result depends on these three values only, never on which other
        tracks were rendered or in what order.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        1-D float32 signal in [-1, 1] (peak between -6 and -0.5 dBFS).

    Raises
    ------
    ValueError
        For an unknown genre, a negative index or seed, or a non-positive
        duration.
    """
    arrange = arranger(genre)
    index, seed = int(index), check_seed(seed)
    if index < 0:
        raise ValueError(f"index must be >= 0, not {index}")
    n = int(round(float(seconds) * sr))
    if n <= 0:
        raise ValueError(f"seconds must be positive, not {seconds}")
    rng = np.random.default_rng([seed, GENRES.index(genre), index])
    tempo = rng.uniform(*TEMPO_RANGES[genre])  # first draw: see track_tempo
    band, mix = arrange(rng, sr, n, tempo)
    return mix_down(band, mix, rng)


def track_tempo(genre: str, index: int, *, seed: int = 0) -> float:
    """The nominal tempo (BPM) of a track, without rendering it.

    Parameters
    ----------
    genre : str
        One of :data:`~genre_hpc.synth.GENRES`.
    index : int
        Track number within the genre.
    seed : int
        Dataset seed.

    Returns
    -------
    float
        The first draw of the track's generator, uniform in
        ``TEMPO_RANGES[genre]``: the beat rate of the track (swung genres
        included). Classical tracks vary around it (rubato).

    Raises
    ------
    ValueError
        For an unknown genre or a negative seed.
    """
    check_genre(genre)
    rng = np.random.default_rng([check_seed(seed), GENRES.index(genre), int(index)])
    return float(rng.uniform(*TEMPO_RANGES[genre]))
