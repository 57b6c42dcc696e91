"""The ten genre arrangers, one module per GTZAN genre, and their registry.

Each module ``genres/<genre>.py`` declares

``TEMPO_RANGE``
    ``(low, high)`` in BPM; a track's tempo is uniform in it (the first draw
    of the track's generator, see :func:`genre_hpc.synth.track.track_tempo`).
``arrange(rng, sr, n, tempo) -> (band, mix)``
    Renders the parts of one track of ``n`` samples at ``sr`` Hz onto the
    buses of a :class:`~genre_hpc.synth.arrangement.Band`, drawing every
    choice from ``rng`` (the track's generator), and returns the band with the
    mix settings of the track::

        {"gains": {bus: level}, "send": {bus: reverb send}, "post": {bus: fn(x) -> x},
         "rt60": reverb seconds, "comp": soft-clip drive, "lowpass": Hz}

    which :func:`genre_hpc.synth.mixing.mix_down` turns into the track.

The order of the draws inside ``arrange`` is part of the sound: changing it
changes every track of the genre (bump :data:`genre_hpc.synth.VERSION`).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from ..constants import GENRES
from . import blues, classical, country, disco, hiphop, jazz, metal, pop, reggae, rock

#: the arranger module of each genre, in GENRES order
GENRE_MODULES: dict[str, ModuleType] = {
    "blues": blues,
    "classical": classical,
    "country": country,
    "disco": disco,
    "hiphop": hiphop,
    "jazz": jazz,
    "metal": metal,
    "pop": pop,
    "reggae": reggae,
    "rock": rock,
}
assert tuple(GENRE_MODULES) == GENRES, "one arranger per GTZAN genre, in GTZAN's order"

#: tempo range (BPM) of each genre; a track's tempo is uniform in its range
TEMPO_RANGES: dict[str, tuple[float, float]] = {g: m.TEMPO_RANGE for g, m in GENRE_MODULES.items()}


def check_genre(genre: str) -> str:
    """``genre`` if it is one of :data:`~genre_hpc.synth.GENRES`, else a ValueError listing them."""
    if genre not in GENRE_MODULES:
        raise ValueError(f"unknown genre {genre!r}; expected one of {', '.join(GENRES)}")
    return genre


def arranger(genre: str) -> Callable:
    """The ``arrange(rng, sr, n, tempo)`` function of ``genre``.

    Parameters
    ----------
    genre : str
        One of :data:`~genre_hpc.synth.GENRES`.

    Returns
    -------
    callable
        The genre module's ``arrange``.

    Raises
    ------
    ValueError
        For an unknown genre.
    """
    return GENRE_MODULES[check_genre(genre)].arrange


__all__ = ["GENRE_MODULES", "TEMPO_RANGES", "arranger", "check_genre"]
