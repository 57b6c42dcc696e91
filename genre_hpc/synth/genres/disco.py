"""Disco: four-on-the-floor, octave bass, string pad, muted funk guitar chops on minor 7th vamps.

Open hats on the off-beats, 16th closed hats and a shaker; synth or finger octave
bass; sometimes a voice on the dorian scale.
"""

from __future__ import annotations

from ..arrangement import Band, melody, rhythm_from, uniform
from ..drums import drum_kit
from ..instruments import bass_voice, guitar_voice, singer_voice, strings_voice
from ..theory import chord_voicing, nearest_note

#: tempo range in BPM; a track's tempo is uniform in it
TEMPO_RANGE = (115.0, 130.0)


def arrange(rng, sr, n, tempo):
    """Arrange one disco track: the contract is in :mod:`genre_hpc.synth.genres`."""
    band = Band(rng, sr, n, tempo)
    key = int(rng.integers(12))
    progs = [
        [(0, "m7", 4), (5, "m7", 4)],
        [(2, "m7", 4), (7, "7", 4)],
        [(0, "m7", 8), (10, "maj7", 8)],
        [(0, "m9", 4), (3, "maj7", 4), (5, "m7", 4), (7, "m7", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = drum_kit(rng, sr, "disco")
    band.pattern("drums", kit["kick"], "X...X...X...X...", 0.95)
    band.pattern("drums", kit["clap"] if rng.random() < 0.5 else kit["snare"], "....X.......X...", 0.8)
    band.pattern("drums", kit["ohat"], "..x...x...x...x.", 0.55)
    band.pattern("drums", kit["hat"], "xox.xox.xox.xox." if rng.random() < 0.5 else "x.o.x.o.x.o.x.o.", 0.4)
    if rng.random() < 0.5:
        band.pattern("drums", kit["shaker"], "oxoxoxoxoxoxoxox", 0.35)
    bass = bass_voice(rng, sr, "synth" if rng.random() < 0.6 else "finger")
    oct_pat = [0, 12] * 4 if rng.random() < 0.6 else [0, 12, 0, 12, 7, 12, 10, 12]
    strings = strings_voice(rng, sr, uniform(rng, 0.05, 0.2), 1.3, vib=0.0015, detune=(1.0, 3.0))
    gtr = guitar_voice(rng, sr, 0.15, 4000, 8.0)  # muted funk chops
    for start, beats, root, qual in band.chords:
        r = nearest_note(root, 36)
        for i in range(int(beats * 2)):
            band.play("bass", bass, r + oct_pat[i % 8], start + i / 2, 0.4, 0.85)
        band.chord("strings", strings, chord_voicing(root, qual, 67), start, beats, 0.35)
        tones = chord_voicing(root, qual, 64)
        for i in range(int(beats * 4)):
            if i % 4 == 2 or (i % 2 == 1 and rng.random() < 0.3):  # funk chops on the "and", some 16ths
                band.chord(
                    "gtr", gtr, tones[-3:], start + i / 4, 0.12, 0.4 if i % 4 == 2 else 0.2, strum=0.01
                )
    if rng.random() < 0.5:
        voice = singer_voice(rng, sr, str(rng.choice(list("aeiou"))), 0.007)
        melody(
            band,
            "dorian",
            key,
            64,
            79,
            rhythm_from([[(0, 0.5), (0.5, 1.0), (2, 0.5), (2.5, 1.5)]]),
            band.n_bars,
            "vocal",
            voice,
            0.5,
            2,
            rest=0.2,
        )
    return band, {
        "gains": {"drums": 0.9, "bass": 0.8, "strings": 0.35, "gtr": 0.3, "vocal": 0.5},
        "send": {"strings": 0.35, "vocal": 0.3, "drums": 0.1, "gtr": 0.15},
        "rt60": uniform(rng, 0.8, 1.5),
        "comp": uniform(rng, 1.3, 2.6),
        "lowpass": uniform(rng, 6000, 10500),
    }
