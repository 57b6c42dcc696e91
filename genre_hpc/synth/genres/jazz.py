"""Jazz: swung ride pattern, walking upright bass, rootless comping, sometimes a bebop horn.

ii-V-I and related progressions in extended chords; a feathered kick and brushes
or sparse snare comping; a darker recording.
"""

from __future__ import annotations

import numpy as np

from ..arrangement import Band, melody, rhythm_from, uniform
from ..drums import drum_kit
from ..instruments import Voice, bass_voice, electric_piano_voice, piano_voice
from ..theory import CHORDS, chord_voicing, nearest_note

#: tempo range in BPM; a track's tempo is uniform in it
TEMPO_RANGE = (100.0, 180.0)


def arrange(rng, sr, n, tempo):
    """Arrange one jazz track: the contract is in :mod:`genre_hpc.synth.genres`."""
    band = Band(rng, sr, n, tempo, swing=uniform(rng, 0.6, 0.68))
    key = int(rng.integers(12))
    progs = [
        [(2, "m9", 4), (7, "13", 4), (0, "maj9", 8)],
        [(0, "maj7", 2), (9, "m7", 2), (2, "m9", 2), (7, "7b9", 2)],
        [(4, "m7", 2), (9, "7", 2), (2, "m7", 2), (7, "13", 2), (0, "6/9", 4), (2, "m7b5", 2), (7, "7b9", 2)],
        [(2, "m7", 4), (7, "7", 4), (0, "maj7", 4), (9, "7b9", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = drum_kit(rng, sr, "jazz")
    brushes = rng.random() < 0.3
    band.pattern("drums", kit["ride"], "X...x.o.X...x.o.", 0.5)
    band.pattern("drums", kit["hat"], "....x.......x...", 0.35)
    band.pattern("drums", kit["kick"], "o...o...o...o...", 0.25)
    if brushes:
        band.pattern("drums", kit["brush"], "x.o.x.o.x.o.x.o.", 0.4)
    else:
        band.pattern("drums", kit["snare"], "o.o.o.o.o.o.o.o.", 0.25, prob=0.2)
    bass = bass_voice(rng, sr, "upright")
    keys = piano_voice(rng, sr, 0.8) if rng.random() < 0.7 else electric_piano_voice(rng, sr)
    prev = nearest_note(key, 36)
    chords = band.chords
    for ci, (start, beats, root, qual) in enumerate(chords):
        nxt = chords[ci + 1][2] if ci + 1 < len(chords) else root
        tones = [(root + iv) % 12 for iv in CHORDS[qual]]
        for i in range(int(beats)):
            if i == 0:
                pc = root
            elif i == int(beats) - 1:
                pc = (nxt + int(rng.choice([-1, 1, 7]))) % 12
            else:
                pc = int(rng.choice(tones))
            m = nearest_note(pc, prev)
            m = m + 12 if m < 28 else (m - 12 if m > 50 else m)
            band.play("bass", bass, m, start + i, 0.95, 0.8)
            prev = m
        voicing = [x for x in chord_voicing(root, qual, 62)]
        if len(voicing) > 3:
            voicing = [v for v in voicing if v % 12 != root] or voicing  # rootless
        for pos in [0.0, 1.5, 2.5, 3.5, 1.0]:
            if pos < beats and rng.random() < 0.45:
                band.chord(
                    "comp", keys, voicing, start + pos, float(rng.choice([0.4, 0.9])), 0.35, jitter=0.01
                )
    if rng.random() < 0.6:
        horn = Voice(
            lambda f0, k: k**-0.9 * (0.3 + np.exp(-(((k * f0 - 1400) / 900) ** 2))),
            attack=0.03,
            release=0.06,
            vib_rate=5.5,
            vib_depth=0.005,
            noise=0.08,
            noise_decay=0.03,
            noise_band=(1000.0, 5000.0),
            seed=int(rng.integers(1 << 30)),
            sr=sr,
        )
        rhythm = rhythm_from(
            [
                [(i * 0.5, 0.5) for i in range(8)],
                [(0, 1.0), (1.5, 0.5), (2, 0.5), (2.5, 0.5), (3, 1.0)],
                [(0.5, 0.5), (1, 0.5), (1.5, 0.5), (2, 2.0)],
            ]
        )
        melody(band, "bebop", key, 58, 80, rhythm, band.n_bars, "lead", horn, 0.5, 2, rest=0.25)
    return band, {
        "gains": {"drums": 0.35, "bass": 0.95, "comp": 0.65, "lead": 0.55},
        "send": {"comp": 0.3, "lead": 0.3, "drums": 0.2},
        "rt60": uniform(rng, 0.8, 1.6),
        "comp": uniform(rng, 0.4, 1.2),
        "lowpass": uniform(rng, 3500, 7500),
    }
