"""Country: train beat or boom-chick, root-fifth bass with walk-ups, strummed acoustic guitar, twangy lead.

A bright strummed acoustic, a bridge-pickup lead on the major pentatonic with
slides (or a pedal-steel-like line), sometimes a voice.
"""

from __future__ import annotations

from ..arrangement import Band, melody, rhythm_from, uniform
from ..drums import drum_kit
from ..dsp import tanh_drive
from ..instruments import Voice, bass_voice, guitar_voice, singer_voice
from ..theory import chord_voicing, nearest_note

#: tempo range in BPM; a track's tempo is uniform in it
TEMPO_RANGE = (100.0, 140.0)


def arrange(rng, sr, n, tempo):
    """Arrange one country track: the contract is in :mod:`genre_hpc.synth.genres`."""
    band = Band(rng, sr, n, tempo, swing=uniform(rng, 0.5, 0.56))
    key = int(rng.integers(12))
    progs = [
        [(0, "maj", 4), (5, "maj", 4), (0, "maj", 4), (7, "maj", 4)],
        [(0, "maj", 8), (5, "maj", 4), (7, "maj", 4)],
        [(0, "maj", 4), (7, "maj", 4), (5, "maj", 4), (0, "maj", 4)],
        [(0, "maj", 4), (9, "min", 4), (5, "maj", 4), (7, "7", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = drum_kit(rng, sr, "acoustic")
    band.pattern("drums", kit["kick"], "X.......x.......", 0.85)
    if rng.random() < 0.6:  # train beat: brushed snare 16ths, accents on 2 and 4
        band.pattern("drums", kit["brush"], "oxoxXxoxoxoxXxox", 0.6)
        band.pattern("drums", kit["snare"], "....x.......x...", 0.5)
    else:  # boom-chick with a rim click
        band.pattern("drums", kit["rim"], "....X.......X...", 0.7)
        band.pattern("drums", kit["hat"], "x.x.x.x.x.x.x.x.", 0.4)
    bass = bass_voice(rng, sr, "finger")
    gtr = guitar_voice(rng, sr, uniform(rng, 0.1, 0.2), uniform(rng, 3500, 6000), 1.0, 0.7)  # bright acoustic
    twang = guitar_voice(
        rng, sr, uniform(rng, 0.06, 0.1), uniform(rng, 5000, 8000), 2.5, 0.5
    )  # bridge pickup
    strum = rng.choice(["DDUUDU", "D.DUDU", "D.D.D.D."])
    for ci, (start, beats, root, qual) in enumerate(band.chords):
        r = nearest_note(root, 38)
        for i in range(0, int(beats), 2):  # "boom": root on 1, fifth (below) on 3
            band.play("bass", bass, r if i % 4 == 0 else r - 5, start + i, 0.9, 0.85)
        nxt = band.chords[ci + 1][2] if ci + 1 < len(band.chords) else root
        if nxt != root and rng.random() < 0.5:  # walk up into the next chord
            target = nearest_note(nxt, r + 4)
            for j, step in enumerate((-3, -1)):
                band.play("bass", bass, target + step, start + beats - 1 + j / 2, 0.45, 0.7)
        shape = chord_voicing(root, qual, 57, spread=True)
        for i in range(int(beats * 2)):
            c = strum[i % len(strum)]
            if c == ".":
                continue
            notes = shape if c == "D" else shape[::-1][:3]
            band.chord("gtr", gtr, notes, start + i / 2, 0.5, 0.45 if c == "D" else 0.3, strum=0.03)
    rhythm = rhythm_from(
        [
            [(0, 0.25), (0.5, 0.25), (0.75, 0.5), (1.5, 0.5), (2, 0.25), (2.5, 1.0)],
            [(0, 0.5), (0.5, 0.5), (1, 0.25), (1.25, 0.25), (1.5, 0.5), (3, 0.5), (3.5, 0.5)],
        ]
    )
    if rng.random() < 0.7:
        melody(
            band, "pent_major", key, 64, 84, rhythm, band.n_bars, "lead", twang, 0.55, 2, glide=2.0, rest=0.2
        )
    else:  # fiddle or pedal steel-ish singing line
        steel = Voice(
            lambda f0, k: k**-1.6,
            attack=0.12,
            release=0.2,
            vib_rate=5.0,
            vib_depth=0.003,
            seed=int(rng.integers(1 << 30)),
            sr=sr,
        )
        rhythm2 = rhythm_from([[(0, 2.0), (2, 2.0)], [(0, 1.5), (1.5, 2.5)]])
        melody(band, "major", key, 64, 84, rhythm2, band.n_bars, "lead", steel, 0.5, 2, glide=2.0, rest=0.1)
    if rng.random() < 0.4:
        voice = singer_voice(rng, sr, str(rng.choice(list("aeo"))), 0.008)
        melody(
            band,
            "major",
            key,
            57,
            72,
            rhythm_from([[(0, 1.0), (1, 1.0), (2, 1.5), (3.5, 0.5)]]),
            band.n_bars,
            "vocal",
            voice,
            0.45,
            2,
            rest=0.25,
        )
    return band, {
        "gains": {"drums": 0.7, "bass": 0.8, "gtr": 0.6, "lead": 0.55, "vocal": 0.5},
        "post": {"lead": lambda x: tanh_drive(x, 1.2)},
        "send": {"gtr": 0.2, "lead": 0.25, "vocal": 0.3, "drums": 0.08},
        "rt60": uniform(rng, 0.6, 1.3),
        "comp": uniform(rng, 0.9, 1.8),
        "lowpass": uniform(rng, 5000, 10000),
    }
