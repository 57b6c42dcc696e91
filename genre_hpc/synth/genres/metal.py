"""Metal: double-kick or gallop, palm-muted chugs and power chords through a hard drive, in low tunings.

Power-chord progressions (aeolian, phrygian) in E, D, C#, C or A; a crash every bar,
sometimes blast beats and a tremolo-picked lead; the strongest compression.
"""

from __future__ import annotations

from ..arrangement import Band, melody, rhythm_from, uniform
from ..drums import drum_kit
from ..dsp import apply_filter, tanh_drive
from ..instruments import Voice, bass_voice, saw_spectrum

#: tempo range in BPM; a track's tempo is uniform in it
TEMPO_RANGE = (140.0, 190.0)


def arrange(rng, sr, n, tempo):
    """Arrange one metal track: the contract is in :mod:`genre_hpc.synth.genres`."""
    band = Band(rng, sr, n, tempo)
    key = int(rng.choice([4, 2, 1, 0, 9]))  # low tunings: E, D, C#, C, A
    progs = [
        [(0, "5", 4), (8, "5", 4), (10, "5", 4), (0, "5", 4)],
        [(0, "5", 4), (1, "5", 4)],
        [(0, "5", 2), (3, "5", 2), (5, "5", 2), (6, "5", 2)],
        [(0, "5", 8), (10, "5", 4), (8, "5", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = drum_kit(rng, sr, "metal")
    kick = rng.choice(["XxXxXxXxXxXxXxXx", "X.xxX.xxX.xxX.xx", "X.X.X.X.X.X.X.X."], p=[0.5, 0.3, 0.2])
    band.pattern("drums", kit["kick"], kick, 0.85)
    blast = rng.random() < 0.25
    band.pattern("drums", kit["snare"], "X...X...X...X..." if blast else "....X.......X...", 0.9)
    band.pattern("drums", kit["crash"], "X" + "." * 15, 0.6)
    band.pattern("drums", kit["crash"] if rng.random() < 0.5 else kit["ohat"], "x.x.x.x.x.x.x.x.", 0.35)
    gtr = Voice(
        saw_spectrum(0.9),
        decays=lambda f0, k: 0.3 + 0.4 * (k * f0 / 3000) ** 2,
        attack=0.002,
        release=0.03,
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )
    mute = Voice(
        saw_spectrum(1.0),
        decays=lambda f0, k: 8.0 + 40.0 * (k * f0 / 1500) ** 2,
        attack=0.002,
        release=0.02,
        max_harm=30,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )
    bass = bass_voice(rng, sr, "finger")
    riff = rng.choice(["XxxxXxxxXxXxXxxx", "XxXxxXxXxxXxXxxx", "X.xxX.xxX.xxXxxx", "XxxxXxxxXxxxXxxx"])
    for start, beats, root, _qual in band.chords:
        r = 35 + (root - 11) % 12  # low register: B1 .. A#2
        pc = [r, r + 7, r + 12]
        for i in range(int(beats * 4)):
            c = riff[i % 16]
            if c == ".":
                continue
            if c == "X":
                band.chord("gtr", gtr, pc, start + i / 4, 0.5, 0.7, jitter=0.002)
            else:
                band.play("gtr", mute, r, start + i / 4, 0.2, 0.6, jitter=0.002)
            if i % 2 == 0:
                band.play("bass", bass, r - 12, start + i / 4, 0.45, 0.7, jitter=0.002)
    if rng.random() < 0.5:  # tremolo-picked lead
        lead = Voice(
            saw_spectrum(1.0),
            attack=0.003,
            release=0.03,
            vib_rate=6.0,
            vib_depth=0.004,
            seed=int(rng.integers(1 << 30)),
            sr=sr,
        )
        melody(
            band,
            "phrygian" if rng.random() < 0.5 else "minor",
            key,
            64,
            84,
            rhythm_from([[(i * 0.25, 0.25) for i in range(16)], [(i * 0.5, 0.5) for i in range(8)]]),
            band.n_bars,
            "lead",
            lead,
            0.4,
            1,
            rest=0.05,
        )
    d1, d2 = uniform(rng, 6, 16), uniform(rng, 4, 10)
    cab = uniform(rng, 3500, 5500)
    post = {
        "gtr": lambda x: apply_filter(
            tanh_drive(apply_filter(x, sr, "highpass", 90), d1), sr, "lowpass", cab, 2
        ),
        "lead": lambda x: apply_filter(tanh_drive(x, d2), sr, "lowpass", cab, 2),
        "bass": lambda x: tanh_drive(x, 2.0),
    }
    return band, {
        "gains": {"drums": 0.8, "gtr": 0.9, "bass": 0.6, "lead": 0.45},
        "post": post,
        "send": {"gtr": 0.1, "lead": 0.2, "drums": 0.08},
        "rt60": uniform(rng, 0.6, 1.2),
        "comp": uniform(rng, 2.0, 4.0),
        "lowpass": uniform(rng, 6000, 10500),
    }
