"""Reggae: one drop, rockers or steppers, dub bass riffs, off-beat guitar skank, organ bubble, dub echo.

Light swing; minor or major two-chord vamps; a high-passed skank, sometimes a
voice; a dotted-eighth echo on the drums.
"""

from __future__ import annotations

from ..arrangement import Band, melody, rhythm_from, uniform
from ..drums import drum_kit
from ..dsp import apply_filter
from ..instruments import bass_voice, guitar_voice, organ_voice, singer_voice
from ..theory import SCALES, chord_voicing, nearest_note

#: tempo range in BPM; a track's tempo is uniform in it
TEMPO_RANGE = (70.0, 90.0)


def arrange(rng, sr, n, tempo):
    """Arrange one reggae track: the contract is in :mod:`genre_hpc.synth.genres`."""
    band = Band(rng, sr, n, tempo, swing=uniform(rng, 0.5, 0.6))
    key = int(rng.integers(12))
    minor = rng.random() < 0.5
    progs = (
        [[(0, "min", 8), (5, "min", 8)], [(0, "min", 4), (10, "maj", 4)], [(0, "m7", 4), (5, "m7", 4)]]
        if minor
        else [
            [(0, "maj", 4), (5, "maj", 4)],
            [(0, "maj", 4), (5, "maj", 4), (7, "maj", 8)],
            [(0, "maj", 8), (10, "maj", 8)],
        ]
    )
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = drum_kit(rng, sr, "acoustic")
    style = rng.choice(["one drop", "rockers", "steppers"], p=[0.6, 0.25, 0.15])
    kick = {"one drop": "........X.......", "rockers": "X.......X.......", "steppers": "X...X...X...X..."}[
        style
    ]
    band.pattern("drums", kit["kick"], kick, 0.9)
    band.pattern("drums", kit["rim"], "........X.......", 0.7)
    if style != "one drop":
        band.pattern("drums", kit["snare"], "....X.......X...", 0.5)
    band.pattern("drums", kit["hat"], "x.x.x.x.x.x.x.x." if rng.random() < 0.6 else "xoxxxoxxxoxxxoxx", 0.35)
    band.pattern("drums", kit["ohat"], "..............x.", 0.3, prob=0.3)
    bass = bass_voice(rng, sr, "dub")
    skank = guitar_voice(rng, sr, 0.15, 4500, 4.0)
    organ = organ_voice(rng, sr) if rng.random() < 0.6 else None
    scale = SCALES["minor" if minor else "major"]
    riffs = [
        [(0.0, 1.5, 0), (1.5, 0.5, 2), (2, 0.5, 4), (2.5, 1.0, 4), (3.5, 0.5, 2)],
        [(0.5, 0.5, 0), (1, 1.0, 0), (2, 0.5, 4), (2.5, 0.5, 5), (3, 1.0, 4)],
        [(0.0, 0.75, 0), (0.75, 0.75, 0), (2, 0.5, -3), (2.5, 0.5, -1), (3, 0.5, 0), (3.5, 0.5, 2)],
    ]
    riff = riffs[int(rng.integers(len(riffs)))]
    for start, beats, root, qual in band.chords:
        r = nearest_note(root, 36)
        for b in range(int(beats // 4)):
            for pos, length, deg in riff:
                off = scale[deg % len(scale)] + 12 * (deg // len(scale))
                band.play("bass", bass, r + off, start + 4 * b + pos, length * 0.9, 0.9)
        tones = chord_voicing(root, qual, 67)
        for i in range(int(beats)):
            band.chord("skank", skank, tones, start + i + 0.5, 0.15, 0.5, strum=0.005, jitter=0.003)
            if organ is not None:
                band.chord("organ", organ, chord_voicing(root, qual, 60), start + i + 0.25, 0.2, 0.25)
                band.chord("organ", organ, chord_voicing(root, qual, 60), start + i + 0.75, 0.2, 0.2)
    if rng.random() < 0.5:
        voice = singer_voice(rng, sr, str(rng.choice(list("aeo"))), 0.006)
        melody(
            band,
            "pent_minor" if minor else "pent_major",
            key,
            57,
            74,
            rhythm_from([[(0.5, 0.5), (1, 1.0), (2.5, 0.5), (3, 1.0)], [(0, 1.0), (1.5, 1.5), (3.5, 0.5)]]),
            band.n_bars,
            "vocal",
            voice,
            0.5,
            2,
            rest=0.25,
        )
    delay = band.spb * 0.75  # dotted-eighth dub echo on the snare/rim
    fb = uniform(rng, 0.3, 0.5)

    def echo(x):
        d = int(delay * sr)
        y = x.copy()
        for i in range(1, 5):
            if i * d < len(x):
                y[i * d :] += fb**i * x[: len(x) - i * d]
        return y

    return band, {
        "gains": {"drums": 0.75, "bass": 1.0, "skank": 0.45, "organ": 0.35, "vocal": 0.5},
        "post": {"drums": echo, "skank": lambda x: apply_filter(x, sr, "highpass", 400)},
        "send": {"skank": 0.25, "vocal": 0.3, "drums": 0.15},
        "rt60": uniform(rng, 0.8, 1.5),
        "comp": uniform(rng, 0.8, 1.8),
        "lowpass": uniform(rng, 4000, 8000),
    }
