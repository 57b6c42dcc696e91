"""Pop: kick 1 & 3, clap and snare 2 & 4, pumping supersaw pad, 16th pluck arpeggio, a sung melody.

I-V-vi-IV and its relatives; synth or finger bass, sometimes a piano;
bright and compressed.
"""

from __future__ import annotations

import numpy as np

from ..arrangement import Band, melody, rhythm_from, uniform
from ..drums import drum_kit
from ..instruments import Voice, bass_voice, piano_voice, saw_spectrum, singer_voice
from ..theory import chord_voicing, nearest_note

#: tempo range in BPM; a track's tempo is uniform in it
TEMPO_RANGE = (95.0, 125.0)


def arrange(rng, sr, n, tempo):
    """Arrange one pop track: the contract is in :mod:`genre_hpc.synth.genres`."""
    band = Band(rng, sr, n, tempo)
    key = int(rng.integers(12))
    progs = [
        [(0, "maj", 4), (7, "maj", 4), (9, "min", 4), (5, "maj", 4)],
        [(9, "min", 4), (5, "maj", 4), (0, "maj", 4), (7, "maj", 4)],
        [(0, "maj", 4), (9, "min", 4), (5, "maj", 4), (7, "maj", 4)],
        [(5, "maj9", 4), (0, "maj", 4), (7, "sus4", 4), (9, "m7", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = drum_kit(rng, sr, "acoustic")
    kpat = rng.choice(["X.....x.X.......", "X...X...X...X...", "X......xX.x....."])
    band.pattern("drums", kit["kick"], kpat, 0.9)
    band.pattern("drums", kit["clap"], "....X.......X...", 0.7)
    band.pattern("drums", kit["snare"], "....X.......X...", 0.5)
    band.pattern("drums", kit["hat"], "x.x.x.x.x.x.x.x.", 0.35)
    if rng.random() < 0.5:
        band.pattern("drums", kit["shaker"], "oxoxoxoxoxoxoxox", 0.3)
    pad = Voice(
        saw_spectrum(uniform(rng, 0.9, 1.3)),
        attack=uniform(rng, 0.03, 0.15),
        release=0.2,
        unison=(-uniform(rng, 8, 15), 0.0, uniform(rng, 8, 15)),
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )
    pluck = Voice(
        saw_spectrum(0.8),
        decays=lambda f0, k: 3.0 + 25.0 * (k * f0 / 3000.0),
        attack=0.002,
        release=0.05,
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )
    bass = bass_voice(rng, sr, "synth" if rng.random() < 0.5 else "finger")
    keys = piano_voice(rng, sr, 1.3) if rng.random() < 0.35 else None
    for start, beats, root, qual in band.chords:
        tones = chord_voicing(root, qual, 64)
        band.chord("pad", pad, tones, start, beats, 0.3)
        arp = tones + [tones[0] + 12]
        for i in range(int(beats * 4)):
            band.play("pluck", pluck, arp[(i * 3) % len(arp)] + 12, start + i / 4, 0.2, 0.3, jitter=0.002)
        for i in range(int(beats * 2)):
            band.play("bass", bass, nearest_note(root, 36), start + i / 2, 0.45, 0.8)
        if keys is not None:
            for i in range(int(beats)):
                band.chord("keys", keys, tones, start + i, 0.9, 0.3)
    voice = singer_voice(rng, sr, str(rng.choice(list("aeiou"))), 0.007)
    melody(
        band,
        "pent_major" if rng.random() < 0.5 else "major",
        key,
        62,
        79,
        rhythm_from(
            [
                [(0, 0.5), (0.5, 0.5), (1, 1.0), (2.5, 0.5), (3, 1.0)],
                [(0, 1.5), (1.5, 0.5), (2, 2.0)],
                [(0.5, 0.5), (1, 0.5), (1.5, 1.0), (2.5, 1.5)],
            ]
        ),
        band.n_bars,
        "vocal",
        voice,
        0.65,
        2,
        rest=0.15,
    )
    t = np.arange(n) / sr
    beat_phase = ((t + band.offset) / band.spb) % 1.0
    pump = 1.0 - uniform(rng, 0.2, 0.6) * np.exp(-beat_phase * 8)  # side-chain "pumping"
    post = {"pad": lambda x: x * pump}
    return band, {
        "gains": {"drums": 0.9, "pad": 0.45, "pluck": 0.4, "bass": 0.75, "vocal": 0.55, "keys": 0.4},
        "post": post,
        "send": {"pad": 0.3, "vocal": 0.3, "pluck": 0.25},
        "rt60": uniform(rng, 0.8, 1.6),
        "comp": uniform(rng, 1.5, 3.0),
        "lowpass": uniform(rng, 8000, 10500),
    }
