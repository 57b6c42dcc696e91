"""Rock: backbeat with fills, 8th-note strummed guitar through a mild drive, a sung or guitar lead.

Power chords or triads on I-bVII-IV, I-IV-V-IV, vi-IV-I-V; root 8th-note bass;
a crash every 4 bars.
"""

from __future__ import annotations

from ..arrangement import Band, melody, rhythm_from, uniform
from ..drums import drum_kit
from ..dsp import apply_filter, tanh_drive
from ..instruments import Voice, bass_voice, guitar_voice, saw_spectrum, singer_voice
from ..theory import chord_voicing, nearest_note

#: tempo range in BPM; a track's tempo is uniform in it
TEMPO_RANGE = (110.0, 150.0)


def arrange(rng, sr, n, tempo):
    """Arrange one rock track: the contract is in :mod:`genre_hpc.synth.genres`."""
    band = Band(rng, sr, n, tempo)
    key = int(rng.integers(12))
    power = rng.random() < 0.5
    q = "5" if power else "maj"
    progs = [
        [(0, q, 4), (10, q, 4), (5, q, 4), (0, q, 4)],
        [(0, q, 4), (5, q, 4), (7, q, 4), (5, q, 4)],
        [(9, "5" if power else "min", 4), (5, q, 4), (0, q, 4), (7, q, 4)],
        [(0, q, 8), (5, q, 4), (7, q, 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = drum_kit(rng, sr, "acoustic")
    band.pattern(
        "drums", kit["kick"], rng.choice(["X.......X.x.....", "X.......X.......", "X..x....X.x....."]), 0.9
    )
    band.pattern("drums", kit["snare"], "....X.......X...", 0.9)
    band.pattern("drums", kit["ride" if rng.random() < 0.3 else "hat"], "x.x.x.x.x.x.x.x.", 0.4)
    band.pattern("drums", kit["crash"], "X" + "." * 63, 0.6)  # every 4 bars
    for b in range(3, band.n_bars, 4):  # fill at the end of each 4-bar phrase
        for i in range(4):
            band.hit(
                "drums", kit["snare"] if i < 2 else kit["tomh" if i == 2 else "toml"], b * 4 + 3 + i / 4, 0.6
            )
    gtr = Voice(
        saw_spectrum(1.0),
        decays=lambda f0, k: 0.6 + 3.0 * (k * f0 / 3000) ** 2,
        attack=0.002,
        release=0.04,
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )
    bass = bass_voice(rng, sr, "finger")
    for start, beats, root, qual in band.chords:
        r = nearest_note(root, 45)
        shape = [r, r + 7, r + 12] if power else chord_voicing(root, qual, 55, spread=True)
        for i in range(int(beats * 2)):
            accent = i % 4 == 0
            band.chord("gtr", gtr, shape, start + i / 2, 0.45, 0.6 if accent else 0.45, strum=0.01)
            band.play("bass", bass, nearest_note(root, 36), start + i / 2, 0.45, 0.8)
    if rng.random() < 0.6:
        voice = singer_voice(rng, sr, str(rng.choice(list("aeo"))), 0.008, 0.8)
        melody(
            band,
            "pent_minor" if rng.random() < 0.5 else "mixolydian",
            key,
            60,
            78,
            rhythm_from([[(0, 1.0), (1, 0.5), (1.5, 1.5), (3, 1.0)], [(0, 0.5), (0.5, 0.5), (1, 2.0)]]),
            band.n_bars,
            "vocal",
            voice,
            0.6,
            2,
            rest=0.2,
        )
    elif rng.random() < 0.6:
        lead = guitar_voice(rng, sr, 0.12, 3500, 0.4)
        melody(
            band,
            "pent_minor",
            key,
            64,
            84,
            rhythm_from([[(i * 0.5, 0.5) for i in range(8)], [(0, 1.0), (1, 0.5), (1.5, 0.5), (2, 2.0)]]),
            band.n_bars,
            "lead",
            lead,
            0.5,
            2,
            glide=2.0,
            rest=0.2,
        )
    d = uniform(rng, 2.0, 5.0)
    cab = uniform(rng, 3500, 6000)
    post = {
        "gtr": lambda x: apply_filter(tanh_drive(x, d), sr, "lowpass", cab, 2),
        "lead": lambda x: apply_filter(tanh_drive(x, d * 1.5), sr, "lowpass", cab, 2),
    }
    return band, {
        "gains": {"drums": 0.85, "gtr": 0.85, "bass": 0.7, "vocal": 0.5, "lead": 0.5},
        "post": post,
        "send": {"gtr": 0.15, "vocal": 0.25, "lead": 0.25, "drums": 0.1},
        "rt60": uniform(rng, 0.7, 1.4),
        "comp": uniform(rng, 1.4, 2.8),
        "lowpass": uniform(rng, 5500, 10000),
    }
