"""Hip-hop: syncopated (808) kick with a sub bass on it, dusty keys, rap-like syllables, vinyl crackle.

A 16th-swung groove on minor 7th/9th loops; electric piano or piano stabs
through a low-pass; the rap is formant voices on rhythmic cells.
"""

from __future__ import annotations

import numpy as np

from ..arrangement import Band, parse_hits, uniform
from ..drums import drum_kit
from ..dsp import apply_filter
from ..instruments import bass_voice, electric_piano_voice, piano_voice, singer_voice
from ..theory import chord_voicing, nearest_note

#: tempo range in BPM; a track's tempo is uniform in it
TEMPO_RANGE = (80.0, 100.0)


_RAP_CELLS = (
    (0.25, 0.25, 0.25, 0.25),
    (0.5, 0.5),
    (0.5, 0.25, 0.25),
    (0.25, 0.25, 0.5),
    (0.75, 0.25),
    (1.0,),
)


def _rap(band, rng, sr, bus, vel=0.6):
    """Speech-like syllables: formant voices, 16th-note flow, falling pitch, consonant bursts.

    Each beat gets a rhythmic cell (four 16ths, two 8ths, ...), so syllables
    start on the beat and the flow stays in the groove.
    """
    vowels = {v: singer_voice(rng, sr, v, 0.0, 0.8) for v in "aeiou"}
    for v in vowels.values():
        v.attack, v.release, v.noise, v.noise_decay, v.noise_band = 0.01, 0.04, 0.3, 0.012, (2500.0, 8000.0)
    base = uniform(rng, 46, 55)
    for bar in range(band.n_bars):
        if rng.random() < 0.15:  # breathe
            continue
        for beat in range(4):
            if rng.random() < 0.1:
                continue
            pos = 0.0
            for length in _RAP_CELLS[int(rng.integers(len(_RAP_CELLS)))]:
                v = vowels[str(rng.choice(list("aeiou")))]
                accent = 1.0 if pos == 0 else 0.6  # syllables lean on the beat
                band.play(
                    bus,
                    v,
                    base + rng.normal(0, 1.2),
                    bar * 4 + beat + pos,
                    length * 0.8,
                    vel * accent,
                    0.008,
                    glide=uniform(rng, 0, 2),
                )
                pos += length


def arrange(rng, sr, n, tempo):
    """Arrange one hiphop track: the contract is in :mod:`genre_hpc.synth.genres`."""
    band = Band(rng, sr, n, tempo, swing=uniform(rng, 0.5, 0.62), swing_unit=0.25)
    key = int(rng.integers(12))
    progs = [
        [(0, "m7", 4), (5, "m7", 4)],
        [(0, "m9", 8), (8, "maj7", 8)],
        [(0, "m7", 4), (8, "maj7", 4), (3, "maj7", 4), (10, "7", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = drum_kit(rng, sr, "808" if rng.random() < 0.6 else "acoustic")
    kicks = ["X.....x...x.....", "X..x......x..x..", "X.x.......X..x..", "X......x..x....."]
    kpat = kicks[int(rng.integers(len(kicks)))]
    band.pattern("drums", kit["kick"], kpat, 1.0)
    band.pattern("drums", kit["snare"] if rng.random() < 0.5 else kit["clap"], "....X.......X...", 1.0)
    hats = ["X.x.X.x.X.x.X.x.", "XoxoXoxoXoxoXoxo", "X.xxX.x.X.xxX.x."]
    band.pattern("drums", kit["hat"], hats[int(rng.integers(len(hats)))], 0.4)
    sub = bass_voice(rng, sr, "sub")
    keys = electric_piano_voice(rng, sr) if rng.random() < 0.6 else piano_voice(rng, sr, 0.7)
    kick_pos = [p for p, _ in parse_hits(kpat)]
    for start, beats, root, qual in band.chords:
        r = nearest_note(root, 33)
        for b in range(int(start), int(start + beats), 4):
            for p in kick_pos:
                band.play("bass", sub, r, b + p, 0.9, 0.9, 0.002)
        for pos in [0.0, 2.5] if rng.random() < 0.5 else [0.0, 1.75, 3.0]:
            if pos < beats:
                band.chord("keys", keys, chord_voicing(root, qual, 60), start + pos, 1.2, 0.45, jitter=0.01)
    _rap(band, rng, sr, "vocal", 0.55)
    crackle = np.zeros(n)
    idx = rng.choice(n, size=int(n / sr * uniform(rng, 10, 40)), replace=False)
    crackle[idx] = rng.standard_normal(len(idx)) * 0.3
    band.bus("fx")[:] += apply_filter(crackle, sr, "highpass", 2000) + 0.004 * rng.standard_normal(n)
    lp = uniform(rng, 2500, 5000)
    return band, {
        "gains": {"drums": 0.9, "bass": 0.9, "keys": 0.5, "vocal": 0.55, "fx": 0.3},
        "post": {"keys": lambda x: apply_filter(x, sr, "lowpass", lp, 2)},
        "send": {"keys": 0.2, "vocal": 0.1},
        "rt60": uniform(rng, 0.4, 0.9),
        "comp": uniform(rng, 1.2, 2.5),
        "lowpass": uniform(rng, 5000, 9000),
    }
