"""The sequencer: a :class:`Band` (beat grid with swing and rubato, chord timeline, buses) and
the parts every genre shares (drum patterns, motif melodies, rhythm choices).

A genre's arranger creates one ``Band`` for the track, lays a chord
progression over it and places drum hits and notes on named buses; the mix
(:mod:`genre_hpc.synth.mixing`) then balances and processes the buses.
Placement draws timing and velocity jitter from the track's generator, so the
order of the calls is part of the sound.
"""

from __future__ import annotations

import numpy as np

from .theory import CHORDS, SCALES


def uniform(rng, lo, hi):
    """One draw of ``rng.uniform(lo, hi)`` as a Python float."""
    return float(rng.uniform(lo, hi))


def parse_hits(pattern, steps_per_beat=4):
    """A drum pattern string, one character per step, as hits.

    ``"X...x..o"`` -> ``[(0.0, 1.0), (1.0, 0.8), (1.75, 0.45)]``: each
    ``X`` (accent, 1.0), ``x`` (0.8) or ``o`` (ghost note, 0.45) is a hit at its
    beat position; any other character is a rest.

    Parameters
    ----------
    pattern : str
        The steps.
    steps_per_beat : int
        Grid resolution (4: sixteenth notes).

    Returns
    -------
    list of (float, float)
        (beat position, velocity) pairs in pattern order.
    """
    vel = {"X": 1.0, "x": 0.8, "o": 0.45}
    return [(i / steps_per_beat, vel[c]) for i, c in enumerate(pattern) if c in vel]


class Band:
    """A rendering context for one track: time grid, chord timeline, buses, placement.

    Parameters
    ----------
    rng : numpy.random.Generator
        The track's generator (start offset, tuning, rubato curve, jitter).
    sr : int
        Sample rate in Hz.
    n : int
        Length of the excerpt in samples; every bus has ``n`` samples.
    tempo : float
        Beats per minute.
    swing : float
        Where the off-beat of each ``swing_unit`` falls, as a fraction of it
        (0.5: straight, about 0.67: triplet swing).
    swing_unit : float
        Beats swung in pairs (0.5: eighth notes, 0.25: sixteenths).
    rubato : float
        Depth of a slow tempo drift with phrase-end ritardandos (0: strict time).

    Attributes
    ----------
    n_bars : int
        Bars of 4 beats that cover the excerpt (with margin).
    spb : float
        Seconds per beat at the nominal tempo.
    offset : float
        Seconds of music before the excerpt starts (somewhere in the first bar).
    tuning : float
        The band's tuning against A440, in semitones.
    buses : dict of str to numpy.ndarray
        The rendered parts by bus name.
    chords : list
        The chord timeline ``(start beat, beats, root pitch class, quality)``.
    """

    def __init__(self, rng, sr, n, tempo, swing=0.5, swing_unit=0.5, rubato=0.0):
        self.rng, self.sr, self.n = rng, sr, n
        self.tempo = float(tempo)
        self.spb = 60.0 / self.tempo
        self.swing, self.swing_unit = float(swing), float(swing_unit)
        total_beats = int(np.ceil((n / sr) / self.spb * (1.0 + 2 * rubato))) + 16
        self.n_bars = total_beats // 4 + 1
        self.rubato = rubato
        if rubato:
            # tempo curve: slow sinusoidal drift + phrase-end ritardando
            x = np.arange(0, self.n_bars * 4 + 1, 0.125)
            period = rng.uniform(8, 20)
            factor = 1.0 + rubato * np.sin(2 * np.pi * x / period + rng.uniform(0, 6.3))
            factor += 0.3 * rubato * np.sin(2 * np.pi * x / rng.uniform(2.5, 5) + rng.uniform(0, 6.3))
            phrase = (x % 16) / 16.0
            factor *= 1.0 - 0.25 * np.clip((phrase - 0.85) / 0.15, 0, 1) ** 2
            secs = np.concatenate([[0.0], np.cumsum(self.spb * 0.125 / factor[:-1])])
            self._grid = (x, secs)
        self.offset = 0.0
        self.offset = float(self.t(rng.uniform(0, 4)))  # start somewhere in the first bar
        self.tuning = float(rng.normal(0.0, 0.12))  # the band's tuning vs A440, in semitones
        self.buses: dict[str, np.ndarray] = {}
        self.chords: list = []  # (start beat, beats, root pc, quality)

    # time
    def t(self, x):
        """Beat position(s) -> seconds from the start of the excerpt (swing, rubato)."""
        x = np.asarray(x, dtype=float)
        if self.swing != 0.5:
            u = self.swing_unit
            q = np.floor(x / u)
            f = x / u - q
            r = self.swing
            f = np.where(f < 0.5, f * 2 * r, r + (f - 0.5) * 2 * (1 - r))
            x = (q + f) * u
        sec = np.interp(x, *self._grid) if self.rubato else x * self.spb
        return sec - self.offset

    # buses and placement
    def bus(self, name):
        """The bus ``name``, created silent on first use."""
        b = self.buses.get(name)
        if b is None:
            b = self.buses[name] = np.zeros(self.n)
        return b

    def add(self, bus, sig, t_sec, gain=1.0):
        """Add ``gain * sig`` to ``bus`` starting at ``t_sec`` seconds, clipped to the excerpt."""
        s = int(round(t_sec * self.sr))
        if s >= self.n or s + len(sig) <= 0 or gain == 0:
            return
        if s < 0:
            sig, s = sig[-s:], 0
        e = min(self.n, s + len(sig))
        self.bus(bus)[s:e] += gain * sig[: e - s]

    def hit(self, bus, sample, beat, vel=1.0, jitter=0.004):
        """Place a one-shot ``sample`` at ``beat`` with timing jitter (s) and +-8 % velocity variation."""
        self.add(
            bus,
            sample,
            float(self.t(beat)) + jitter * self.rng.standard_normal(),
            vel * (1.0 + 0.08 * self.rng.standard_normal()),
        )

    def play(self, bus, voice, midi, beat, beats, vel=1.0, jitter=0.006, glide=0.0):
        """Play note ``midi`` on ``voice`` from ``beat`` for ``beats`` beats (in the band's tuning)."""
        t0 = float(self.t(beat))
        dur = max(0.02, float(self.t(beat + beats)) - t0)
        q = 0.001 if dur < 0.25 else (0.01 if dur < 2.0 else 0.05)
        dur = round(dur / q) * q  # a coarse duration grid lets notes be rendered once and reused
        t0 += jitter * self.rng.standard_normal()
        if t0 >= self.n / self.sr or t0 + dur + voice.release < 0:
            return
        self.add(bus, voice.render(midi + self.tuning, dur, glide), t0, vel)

    def chord(self, bus, voice, notes, beat, beats, vel=1.0, strum=0.0, jitter=0.006):
        """Play ``notes`` together, each ``strum`` beats after the previous, with varied velocities."""
        for i, m in enumerate(notes):
            self.play(
                bus,
                voice,
                m,
                beat + strum * i,
                beats - strum * i,
                vel * (0.9 + 0.2 * self.rng.random()),
                jitter,
            )

    def pattern(self, bus, sample, pattern, vel=1.0, steps_per_beat=4, bars=None, prob=1.0, jitter=0.004):
        """Repeat a drum ``pattern`` (see :func:`parse_hits`) with ``sample`` over the song.

        ``bars`` are the pattern repetitions to play (default: all); with
        ``prob < 1`` each hit is played with that probability.
        """
        hits = parse_hits(pattern, steps_per_beat)
        beats = len(pattern) / steps_per_beat
        bars = range(int(self.n_bars * 4 / beats)) if bars is None else bars
        for b in bars:
            for pos, v in hits:
                if prob >= 1.0 or self.rng.random() < prob:
                    self.hit(bus, sample, b * beats + pos, vel * v, jitter)

    # harmony
    def progression(self, key, prog):
        """Lay ``prog`` [(root offset, quality, beats)] over the song, from a random place in it."""
        start = int(self.rng.integers(len(prog)))
        beat, i = 0.0, start
        while beat < self.n_bars * 4:
            off, q, beats = prog[i % len(prog)]
            self.chords.append((beat, beats, (key + off) % 12, q))
            beat += beats
            i += 1
        return self.chords

    def chord_at(self, beat):
        """The chord ``(start, beats, root pc, quality)`` sounding at ``beat`` (the last one past the end)."""
        for c in self.chords:
            if c[0] <= beat < c[0] + c[1]:
                return c
        return self.chords[-1]


def melody(
    band,
    scale,
    key,
    lo,
    hi,
    rhythm,
    n_bars,
    bus,
    voice,
    vel=0.7,
    motif_bars=2,
    glide=0.0,
    rest=0.15,
    chordal=True,
):
    """A motif-based melody: a random walk in ``scale``, repeated with variation.

    Parameters
    ----------
    band : Band
        Where the notes go (its chords steer on-beat notes to chord tones).
    scale : str
        A key of :data:`~genre_hpc.synth.theory.SCALES`.
    key : int
        Pitch class of the key.
    lo, hi : int
        MIDI range of the melody.
    rhythm : callable
        ``rhythm(rng) -> [(beat in bar, beats)]``, one bar of the motif (see :func:`rhythm_from`).
    n_bars : int
        Bars to fill.
    bus : str
        Bus name.
    voice : Voice
        The instrument.
    vel : float
        Velocity.
    motif_bars : int
        Length of the motif in bars.
    glide : float
        Semitones of slide-in on about 30 % of the notes.
    rest : float
        Probability of leaving a note out.
    chordal : bool
        Move most on-beat notes that clash with the chord to the nearest chord tone.
    """
    rng = band.rng
    pcs = [(key + s) % 12 for s in SCALES[scale]]
    pool = np.array([m for m in range(lo, hi + 1) if m % 12 in pcs])
    motif = []
    i = int(rng.integers(len(pool) // 3, 2 * len(pool) // 3 + 1))
    for b in range(motif_bars):
        for pos, length in rhythm(rng):
            i = int(np.clip(i + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), 0, len(pool) - 1))
            motif.append((b * 4 + pos, length, i))
    for rep in range(0, n_bars, motif_bars):
        vary = rng.random() < 0.4
        shift = int(rng.choice([-2, 0, 0, 1, 2])) if rng.random() < 0.3 else 0
        for pos, length, idx in motif:
            if rng.random() < rest:
                continue
            j = int(np.clip(idx + shift + (rng.integers(-1, 2) if vary else 0), 0, len(pool) - 1))
            beat = rep * 4 + pos
            m = int(pool[j])
            if chordal and pos % 1 == 0:
                c = band.chord_at(beat)
                tones = [(c[2] + iv) % 12 for iv in CHORDS[c[3]]]
                if m % 12 not in tones and rng.random() < 0.6:
                    m = min((x for x in pool), key=lambda x: abs(x - m) if x % 12 in tones else 99)
            g = glide * (rng.random() < 0.3)
            band.play(bus, voice, m, beat, length, vel * rng.uniform(0.8, 1.1), glide=-g)


def rhythm_from(choices):
    """A rhythm for :func:`melody`: each call draws one of ``choices`` (lists of (beat, beats)) from rng."""

    def r(rng):
        pat = choices[int(rng.integers(len(choices)))]
        return [(pitch, length) for pitch, length in pat]

    return r
