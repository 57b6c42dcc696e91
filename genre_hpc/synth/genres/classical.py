"""Classical: strings and/or piano with rubato, slow swells and a long reverb, no drums.

Strings (chords, cello bass, violin melody), piano (Alberti bass, arpeggios or
block chords, with a melody), or both; major or minor progressions.
"""

from __future__ import annotations

import numpy as np

from ..arrangement import Band, melody, rhythm_from, uniform
from ..instruments import piano_voice, strings_voice
from ..theory import chord_voicing, nearest_note

#: tempo range in BPM; a track's tempo is uniform in it
TEMPO_RANGE = (56.0, 110.0)


def arrange(rng, sr, n, tempo):
    """Arrange one classical track: the contract is in :mod:`genre_hpc.synth.genres`."""
    band = Band(rng, sr, n, tempo, rubato=uniform(rng, 0.06, 0.18))
    key = int(rng.integers(12))
    minor = rng.random() < 0.45
    progs_major = [
        [(0, "maj", 4), (5, "maj", 4), (7, "maj", 4), (0, "maj", 4)],
        [(0, "maj", 4), (9, "min", 4), (2, "min", 4), (7, "7", 4)],
        [
            (0, "maj", 2),
            (7, "maj", 2),
            (9, "min", 2),
            (4, "min", 2),
            (5, "maj", 2),
            (0, "maj", 2),
            (5, "maj", 2),
            (7, "maj", 2),
        ],
    ]
    progs_minor = [
        [(0, "min", 4), (5, "min", 4), (7, "7", 4), (0, "min", 4)],
        [(0, "min", 4), (8, "maj", 4), (2, "dim", 4), (7, "7", 4)],
    ]
    progs = progs_minor if minor else progs_major
    band.progression(key, progs[int(rng.integers(len(progs)))])
    ens = rng.choice(["strings", "piano", "both", "quartet"], p=[0.35, 0.3, 0.2, 0.15])
    scale = "harmonic" if minor else "major"
    if ens in ("strings", "both", "quartet"):
        sv = strings_voice(rng, sr, uniform(rng, 0.15, 0.5), uniform(rng, 0.7, 1.1))
        cello = strings_voice(rng, sr, uniform(rng, 0.1, 0.3), 0.8)
        for start, beats, root, qual in band.chords:
            if ens != "quartet":
                band.chord(
                    "strings", sv, chord_voicing(root, qual, 62), start, beats * 1.02, 0.45, jitter=0.02
                )
            band.play("strings", cello, nearest_note(root, 43), start, beats * 1.02, 0.55, jitter=0.02)
        violin = strings_voice(rng, sr, 0.08, 1.1)
        rhythm = rhythm_from(
            [
                [(0, 2.0), (2, 1.0), (3, 1.0)],
                [(0, 1.5), (1.5, 0.5), (2, 2.0)],
                [(0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0)],
                [(0, 3.0), (3, 1.0)],
            ]
        )
        melody(band, scale, key, 67, 88, rhythm, band.n_bars, "melody", violin, 0.5, 4, rest=0.05)
    if ens in ("piano", "both"):
        pv = piano_voice(rng, sr, uniform(rng, 0.8, 1.3))
        fig = rng.choice(["alberti", "arp8", "arp16", "block"])
        for start, beats, root, qual in band.chords:
            notes = chord_voicing(root, qual, 55)
            b = nearest_note(root, 43)
            if fig == "alberti":
                seq, step = [notes[0], notes[-1], notes[1], notes[-1]], 0.5
            elif fig == "arp16":
                seq, step = [b] + notes + notes[::-1][1:], 0.25
            elif fig == "arp8":
                seq, step = (
                    [b, notes[0], notes[1], notes[-1], notes[-1] + 12 - 12 * (notes[-1] > 70), notes[1]],
                    0.5,
                )
            else:
                seq, step = None, 1.0
            if seq is None:
                band.chord("piano", pv, [b] + notes, start, beats, 0.4)
            else:
                for i in range(int(beats / step)):
                    band.play(
                        "piano", pv, seq[i % len(seq)], start + i * step, step * 1.6, 0.35, jitter=0.008
                    )
        if ens == "piano":
            rhythm = rhythm_from(
                [
                    [(0, 1.0), (1, 0.5), (1.5, 0.5), (2, 2.0)],
                    [(0, 0.5), (0.5, 0.5), (1, 1.0), (2, 1.0), (3, 1.0)],
                ]
            )
            melody(band, scale, key, 67, 86, rhythm, band.n_bars, "piano", pv, 0.5, 2, rest=0.05)
    # slow dynamics: crescendo / decrescendo over several seconds
    t = np.arange(n) / sr
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / uniform(rng, 6, 16) + uniform(rng, 0, 6.3))
    post = {b: (lambda x, s=swell: x * s) for b in ("strings", "piano", "melody")}
    return band, {
        "gains": {"strings": 0.7, "piano": 0.8, "melody": 0.6},
        "post": post,
        "send": {"strings": 0.6, "piano": 0.45, "melody": 0.5},
        "rt60": uniform(rng, 1.4, 2.4),
        "comp": uniform(rng, 0.3, 0.9),
        "lowpass": uniform(rng, 5000, 10000),
    }
