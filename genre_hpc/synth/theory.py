"""Music theory of the synthetic band: chord qualities, scales, pitch and voicings.

Pitches are MIDI note numbers (60 = middle C, 69 = A440); pitch classes are
0..11 (0 = C). Nothing here draws random numbers.
"""

from __future__ import annotations

import numpy as np

#: chord qualities as semitone intervals above the root
CHORDS = {
    "5": (0, 7, 12),
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "sus4": (0, 5, 7),
    "6": (0, 4, 7, 9),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "9": (0, 4, 7, 10, 14),
    "maj9": (0, 4, 7, 11, 14),
    "m9": (0, 3, 7, 10, 14),
    "13": (0, 4, 10, 14, 21),
    "7b9": (0, 4, 7, 10, 13),
    "6/9": (0, 4, 9, 14),
}

#: scales as semitone steps above the key
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic": (0, 2, 3, 5, 7, 8, 11),
    "pent_major": (0, 2, 4, 7, 9),
    "pent_minor": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "bebop": (0, 2, 4, 5, 7, 9, 10, 11),
}


def midi_to_hz(midi):
    """Frequency in Hz of MIDI note(s) ``midi`` (may be fractional: detune, tuning), equal temperament."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def nearest_note(pc: int, center: float) -> int:
    """The MIDI note of pitch class ``pc`` closest to the MIDI note ``center``."""
    return int(pc + 12 * round((center - pc) / 12.0))


def chord_voicing(root_pc: int, quality: str, center: float, spread: bool = False) -> list[int]:
    """Close voicing of a chord around ``center`` (each tone nearest to it).

    Parameters
    ----------
    root_pc : int
        Pitch class of the root.
    quality : str
        A key of :data:`CHORDS`.
    center : float
        MIDI note the voicing clusters around.
    spread : bool
        Drop the lowest tone an octave (open voicing) when there are more than two.

    Returns
    -------
    list of int
        The MIDI notes, ascending (duplicates after folding removed).
    """
    iv = CHORDS[quality]
    notes = sorted({nearest_note((root_pc + i) % 12, center) for i in iv})
    if spread and len(notes) > 2:
        notes[0] -= 12
    return notes
