"""Blues: a 12-bar shuffle in dominant 7ths with boogie or walking bass, comping and a bent blues-scale lead.

Shuffled kick/snare/hat (or ride); upright or finger bass; overdriven guitar, piano
or organ comping; harmonica, guitar or voice lead.
"""

from __future__ import annotations

from ..arrangement import Band, melody, rhythm_from, uniform
from ..drums import drum_kit
from ..dsp import tanh_drive
from ..instruments import (
    Voice,
    bass_voice,
    guitar_voice,
    organ_voice,
    piano_voice,
    singer_voice,
    square_spectrum,
)
from ..theory import chord_voicing, nearest_note

#: tempo range in BPM; a track's tempo is uniform in it
TEMPO_RANGE = (70.0, 110.0)


def arrange(rng, sr, n, tempo):
    """Arrange one blues track: the contract is in :mod:`genre_hpc.synth.genres`."""
    band = Band(rng, sr, n, tempo, swing=uniform(rng, 0.62, 0.7))
    key = int(rng.integers(12))
    q = "9" if rng.random() < 0.3 else "7"
    bars = (
        [0, 5, 0, 0, 5, 5, 0, 0, 7, 5, 0, 7] if rng.random() < 0.5 else [0, 0, 0, 0, 5, 5, 0, 0, 7, 5, 0, 7]
    )
    band.progression(key, [(b, q, 4) for b in bars])
    kit = drum_kit(rng, sr, "acoustic")
    band.pattern("drums", kit["kick"], "X.......x.......", 0.9)
    band.pattern("drums", kit["snare"], "....X.......X...", 0.8)
    shuffle = "x.o.x.o.x.o.x.o." if rng.random() < 0.5 else "x.x.x.x.x.x.x.x."
    band.pattern("drums", kit["ride"] if rng.random() < 0.4 else kit["hat"], shuffle, 0.45)
    bass = bass_voice(rng, sr, "upright" if rng.random() < 0.5 else "finger")
    boogie = [0, 4, 7, 9, 10, 9, 7, 4]
    walk = rng.random() < 0.6
    comp_kind = rng.choice(["guitar", "piano", "organ"])
    comp = {
        "guitar": guitar_voice(rng, sr, 0.2, 2500),
        "piano": piano_voice(rng, sr),
        "organ": organ_voice(rng, sr),
    }[comp_kind]
    for start, _beats, root, qual in band.chords:
        r = nearest_note(root, 36)
        if walk:
            for i in range(8):
                band.play("bass", bass, r + boogie[i], start + i / 2, 0.45, 0.8)
        else:
            for i in range(4):
                band.play("bass", bass, r + (0, 7, 10, 7)[i], start + i, 0.9, 0.8)
        if comp_kind == "guitar":  # boogie shuffle: 5th / 6th alternation on the low strings
            g = nearest_note(root, 45)
            for i in range(8):
                band.chord("comp", comp, [g, g + (7 if i % 4 < 2 else 9)], start + i / 2, 0.4, 0.6)
        else:
            for pos in (1.0, 2.5, 3.0) if rng.random() < 0.5 else (0.0, 1.5, 3.0):
                band.chord("comp", comp, chord_voicing(root, qual, 62), start + pos, 0.6, 0.5)
    lead = rng.choice(["harp", "guitar", "voice"])
    lv = {
        "harp": Voice(
            square_spectrum(1.0, 0.4),
            attack=0.02,
            release=0.06,
            vib_rate=5.5,
            vib_depth=0.01,
            noise=0.05,
            noise_decay=0.03,
            seed=int(rng.integers(1 << 30)),
            sr=sr,
        ),
        "guitar": guitar_voice(rng, sr, 0.12, 3500, 0.6),
        "voice": singer_voice(rng, sr, str(rng.choice(list("aeo"))), 0.01),
    }[lead]
    rhythm = rhythm_from(
        [
            [(0, 1.0), (1.5, 0.5), (2, 1.5)],
            [(0.5, 0.5), (1, 0.5), (1.5, 1.0), (3, 1)],
            [(0, 2.0), (2.5, 0.5), (3, 1)],
        ]
    )
    melody(
        band,
        "blues",
        key,
        60,
        79,
        rhythm,
        band.n_bars,
        "lead",
        lv,
        0.6,
        2,
        glide=1.0,
        rest=0.35,
        chordal=False,
    )
    drive = {"comp": (lambda x: tanh_drive(x, uniform(rng, 1.5, 3.5)))} if comp_kind == "guitar" else {}
    if lead == "guitar":
        drive["lead"] = lambda x: tanh_drive(x, uniform(rng, 2, 4))
    return band, {
        "gains": {"drums": 0.8, "bass": 0.9, "comp": 0.6, "lead": 0.55},
        "post": drive,
        "send": {"comp": 0.25, "lead": 0.3, "drums": 0.1},
        "rt60": uniform(rng, 0.8, 1.6),
        "comp": uniform(rng, 0.8, 1.8),
        "lowpass": uniform(rng, 4000, 9000),
    }
