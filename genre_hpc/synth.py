"""An embedded, deterministic synthetic stand-in for GTZAN.

No network and no data files: :func:`write_dataset` renders a GTZAN-layout
folder (``<out>/<genre>/<genre>.000NN.wav``, 22050 Hz mono 16-bit PCM) from
code. Every track is a small piece of music in one of the ten GTZAN genres,
rendered by a vectorised numpy "band": a step sequencer on a beat grid (with
swing and rubato), one-shot drum samples (sine-sweep kicks, noise snares and
hats, inharmonic cymbals), pitched instruments by harmonic-frame synthesis
(additive spectra with per-harmonic decay, which gives plucked
Karplus-Strong-like strings, pianos, organs, strings, voices), per-genre
chord progressions, bass lines, comping and melodies, bus effects
(tanh distortion with a cabinet filter, echo, a noise-tail reverb) and a
"recording" stage (EQ, soft-clip compression, noise floor, level).

The random choices of a track (tempo, key, progression, patterns, mix
levels, noise floor, detune, ...) come from one generator seeded with
``(seed, genre number, index)`` only, so a track does not depend on which
other tracks are rendered or in what order. See ``docs/synthetic-dataset.md``
for the design and the measured classification accuracies.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import signal

from .dataset import GTZAN_GENRES

#: version of the generator: bump whenever the rendered sound changes (it is
#: part of the cached dataset's folder name and of the manifest)
VERSION = "1"

#: the ten GTZAN genres, in GTZAN's (alphabetical) order
GENRES: tuple[str, ...] = tuple(GTZAN_GENRES)

#: the sample rate of the written files
SAMPLE_RATE = 22050

MANIFEST = "synth.json"

#: tempo range (BPM) of each genre; a track's tempo is uniform in its range
TEMPO_RANGES = {
    "blues": (70.0, 110.0),
    "classical": (56.0, 110.0),
    "country": (100.0, 140.0),
    "disco": (115.0, 130.0),
    "hiphop": (80.0, 100.0),
    "jazz": (100.0, 180.0),
    "metal": (140.0, 190.0),
    "pop": (95.0, 125.0),
    "reggae": (70.0, 90.0),
    "rock": (110.0, 150.0),
}

# ---------------------------------------------------------------------------
# music theory
# ---------------------------------------------------------------------------

CHORDS = {
    "5": (0, 7, 12),
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "sus4": (0, 5, 7),
    "6": (0, 4, 7, 9),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "9": (0, 4, 7, 10, 14),
    "maj9": (0, 4, 7, 11, 14),
    "m9": (0, 3, 7, 10, 14),
    "13": (0, 4, 10, 14, 21),
    "7b9": (0, 4, 7, 10, 13),
    "6/9": (0, 4, 9, 14),
}

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic": (0, 2, 3, 5, 7, 8, 11),
    "pent_major": (0, 2, 4, 7, 9),
    "pent_minor": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "bebop": (0, 2, 4, 5, 7, 9, 10, 11),
}

# vowel formants (Hz) and bandwidths for the voice-like timbres
VOWELS = {
    "a": ((730, 1090, 2440), (90, 110, 170)),
    "e": ((530, 1840, 2480), (70, 120, 170)),
    "i": ((300, 2250, 3000), (60, 120, 200)),
    "o": ((570, 840, 2410), (80, 100, 170)),
    "u": ((320, 870, 2240), (60, 100, 170)),
}


def _hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def _near(pc, center):
    """The MIDI note of pitch class ``pc`` closest to ``center``."""
    return int(pc + 12 * round((center - pc) / 12.0))


def _voicing(root_pc, quality, center, spread=False):
    """Close voicing of a chord around ``center`` (each tone nearest to it)."""
    iv = CHORDS[quality]
    notes = sorted({_near((root_pc + i) % 12, center) for i in iv})
    if spread and len(notes) > 2:
        notes[0] -= 12
    return notes


# ---------------------------------------------------------------------------
# signal helpers
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _sos_cached(sr, kind, freq, order):
    return signal.butter(order, freq, btype=kind, fs=sr, output="sos")


def _sos(sr, kind, freq, order=2):
    nyq = sr / 2.0
    if np.ndim(freq):
        freq = tuple(min(float(f), 0.95 * nyq) for f in freq)
    else:
        freq = min(float(freq), 0.95 * nyq)
    return _sos_cached(int(sr), kind, freq, int(order))


def _filt(x, sr, kind, freq, order=2):
    return signal.sosfilt(_sos(sr, kind, freq, order), x)


def _fade(y, sr, ms=2.0):
    k = min(len(y), max(1, int(sr * ms / 1000)))
    y[:k] *= np.linspace(0.0, 1.0, k)
    return y


def _drive(x, amount):
    """tanh waveshaper on a bus normalised to unit RMS (so drive means the same everywhere)."""
    rms = float(np.sqrt(np.mean(x * x))) + 1e-12
    return np.tanh(amount * x / (3.0 * rms)) * (3.0 * rms)


def _noise_tail_ir(rng, sr, rt60, predelay=0.015, damp=5000.0):
    n = int(sr * min(rt60, 2.2))
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir = _filt(ir, sr, "lowpass", damp, 1)
    ir = np.concatenate([np.zeros(int(predelay * sr)), ir])
    return ir / np.sqrt(np.sum(ir * ir))


# ---------------------------------------------------------------------------
# pitched voices: harmonic-frame synthesis
# ---------------------------------------------------------------------------


@dataclass
class _Voice:
    """A pitched instrument.

    ``amps(f0, k)`` gives the harmonic amplitudes (``k`` = 1..K), ``decays(f0, k)``
    optional per-harmonic exponential decay rates in 1/s (plucked and struck
    strings: higher harmonics die faster, as in Karplus-Strong). The note is
    drawn one period at a time from an inverse real FFT of the (decaying)
    harmonic spectrum and read out at the exact pitch by interpolation,
    so its cost does not depend on the number of harmonics.
    """

    amps: Callable
    decays: Callable | None = None
    attack: float = 0.005
    decay: float | None = None  # overall envelope decay time (s) to `sustain`
    sustain: float = 1.0
    release: float = 0.05
    vib_rate: float = 0.0
    vib_depth: float = 0.0  # relative frequency deviation
    unison: tuple = (0.0,)  # detunes in cents
    noise: float = 0.0  # attack noise (pick, hammer, breath)
    noise_decay: float = 0.01
    noise_band: tuple = (1500.0, 7000.0)
    max_harm: int = 60
    seed: int = 0
    sr: int = SAMPLE_RATE
    _cache: dict = field(default_factory=dict, repr=False)

    def render(self, midi, dur, glide=0.0):
        """One note of ``dur`` seconds (+ release); ``glide`` semitones slide-in."""
        n = int(round((dur + self.release) * self.sr))
        key = (round(float(midi), 3), n, round(float(glide), 3))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        f0 = float(_hz(midi))
        rng = np.random.default_rng([self.seed, n, int(midi * 100) % 100000])
        sr = self.sr
        t = np.arange(n) / sr
        y = np.zeros(n)
        for cents in self.unison:
            f = np.full(n, f0 * 2.0 ** (cents / 1200.0))
            if self.vib_depth:
                vib = np.sin(2 * np.pi * self.vib_rate * t + rng.uniform(0, 2 * np.pi))
                vib *= np.clip(t / 0.25, 0.0, 1.0)  # vibrato fades in
                f *= 1.0 + self.vib_depth * vib
            if glide:
                f *= 2.0 ** (glide * np.exp(-t / 0.06) / 12.0)
            y += self._osc(f, f0, t, rng)
        y /= np.sqrt(len(self.unison))
        env = np.clip(t / max(self.attack, 1e-4), 0.0, 1.0)
        if self.decay:
            env *= self.sustain + (1.0 - self.sustain) * np.exp(-t / self.decay)
        rel = np.clip((t[-1] - t) / max(self.release, 1e-3), 0.0, 1.0) if n else env
        env *= np.minimum(1.0, rel * (t >= dur) + (t < dur))
        y *= env
        if self.noise:
            m = min(n, int(sr * self.noise_decay * 6))
            nz = _filt(rng.standard_normal(m), sr, "bandpass", self.noise_band, 1)
            y[:m] += self.noise * nz * np.exp(-t[:m] / self.noise_decay)
        y = _fade(y, sr, 1.0)
        self._cache[key] = y
        return y

    def _osc(self, f, f0, t, rng):
        sr = self.sr
        fmax = float(f.max())
        K = int(max(1, min(self.max_harm, (0.45 * sr) // fmax)))
        k = np.arange(1, K + 1)
        a = np.asarray(self.amps(f0, k), dtype=float)
        ph = rng.uniform(0, 2 * np.pi, K)
        L = max(32, 1 << int(np.ceil(np.log2(4 * (K + 1)))))
        cyc = np.cumsum(f) / sr
        if self.decays is None:
            spec = np.zeros(L // 2 + 1, complex)
            spec[1 : K + 1] = a * np.exp(1j * ph)
            table = np.fft.irfft(spec, n=L) * (L / 2)
            table = np.append(table, table[0])
            return np.interp((cyc % 1.0) * L, np.arange(L + 1), table)
        d = np.asarray(self.decays(f0, k), dtype=float)
        P = int(cyc[-1]) + 2
        tp = np.arange(P) / f0
        spec = np.zeros((P, L // 2 + 1), complex)
        spec[:, 1 : K + 1] = (a * np.exp(1j * ph)) * np.exp(-np.outer(tp, d))
        frames = np.fft.irfft(spec, n=L, axis=1).ravel() * (L / 2)
        return np.interp(cyc * L, np.arange(P * L), frames)


# spectra --------------------------------------------------------------------


def _saw(roll=1.0):
    return lambda f0, k: k**-roll


def _square(roll=1.0, even=0.15):
    return lambda f0, k: k**-roll * np.where(k % 2 == 0, even, 1.0)


def _pluck_amps(position=0.15, roll=0.8):
    # comb of the pluck position (near the bridge = nasal, twangy)
    return lambda f0, k: (np.abs(np.sin(np.pi * k * position)) + 0.05) * k**-roll


def _string_decays(base=1.5, bright=3000.0, amount=10.0):
    # Karplus-Strong-like: loss grows with the square of the harmonic's frequency
    return lambda f0, k: base + amount * (k * f0 / bright) ** 2


def _formant(vowel, roll=1.0, gain=(1.0, 0.6, 0.3)):
    freqs, bws = VOWELS[vowel]

    def amps(f0, k):
        fk = k * f0
        res = sum(g / (1.0 + ((fk - F) / B) ** 2) for F, B, g in zip(freqs, bws, gain))
        return k**-roll * (0.08 + res)

    return amps


def _drawbar(weights):
    w = np.asarray(weights, float)

    def amps(f0, k):
        out = np.zeros(len(k))
        m = min(len(k), len(w))
        out[:m] = w[:m]
        return out

    return amps


# ---------------------------------------------------------------------------
# drums: one-shot samples
# ---------------------------------------------------------------------------


def _kick(rng, sr, f_hi=150.0, f_lo=50.0, sweep=0.04, decay=0.25, click=0.3, drive=0.0):
    n = int(sr * min(2.5, decay * 6 + 0.05))
    t = np.arange(n) / sr
    f = f_lo + (f_hi - f_lo) * np.exp(-t / sweep)
    y = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / decay)
    m = min(n, int(0.01 * sr))
    y[:m] += click * _filt(rng.standard_normal(m), sr, "highpass", 1500) * np.exp(-t[:m] / 0.0015)
    if drive:
        y = np.tanh(drive * y) / np.tanh(drive)
    return _fade(y, sr, 0.5)


def _snare(rng, sr, tone=190.0, tone_decay=0.05, noise_decay=0.14, band=(1200.0, 8000.0), snap=0.8):
    n = int(sr * noise_decay * 6)
    t = np.arange(n) / sr
    body = (np.sin(2 * np.pi * tone * t) + 0.5 * np.sin(2 * np.pi * tone * 1.65 * t)) * np.exp(
        -t / tone_decay
    )
    nz = _filt(rng.standard_normal(n), sr, "bandpass", band, 2) * np.exp(-t / noise_decay)
    y = 0.6 * body + snap * 2.0 * nz
    return _fade(y / np.abs(y).max(), sr, 0.3)


def _clap(rng, sr, band=(900.0, 3500.0), decay=0.12):
    n = int(sr * decay * 6)
    t = np.arange(n) / sr
    env = np.exp(-t / decay)
    for d in (0.0, 0.011, 0.022):
        i = int(d * sr)
        env[i:] += 1.5 * np.exp(-(t[: n - i]) / 0.004)
    y = _filt(rng.standard_normal(n), sr, "bandpass", band, 2) * env
    return _fade(y / np.abs(y).max(), sr, 0.3)


def _rim(rng, sr, tone=520.0, decay=0.018):
    n = int(sr * 0.12)
    t = np.arange(n) / sr
    y = np.sin(2 * np.pi * tone * t) * np.exp(-t / decay)
    y += 0.8 * np.sin(2 * np.pi * tone * 2.3 * t) * np.exp(-t / (decay * 0.6))
    y += 0.4 * _filt(rng.standard_normal(n), sr, "highpass", 2500) * np.exp(-t / 0.006)
    return _fade(y / np.abs(y).max(), sr, 0.2)


_METAL = np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0])  # 808 cymbal oscillators


def _metal(rng, sr, decay, hp=6000.0, tone=1.0, noise=1.0, scale=1.0, n_s=None):
    n = n_s or int(sr * min(3.0, decay * 5 + 0.02))
    t = np.arange(n) / sr
    sq = np.sign(
        np.sin(
            2 * np.pi * np.outer(_METAL * scale * rng.uniform(0.97, 1.03, 6), t) + rng.uniform(0, 6.3, (6, 1))
        )
    ).sum(axis=0)
    y = tone * 0.3 * sq + noise * rng.standard_normal(n)
    y = _filt(y, sr, "highpass", hp, 2) * np.exp(-t / decay)
    return _fade(y / (np.abs(y).max() + 1e-12), sr, 0.3)


def _ride(rng, sr, decay=1.2, bell=0.5):
    n = int(sr * min(2.5, decay * 3))
    t = np.arange(n) / sr
    wash = _metal(rng, sr, decay, hp=3000.0, tone=0.4, noise=1.0, scale=rng.uniform(2.0, 3.5), n_s=n)
    partials = rng.uniform(0.95, 1.05) * np.array([410.0, 612.0, 895.0, 1340.0])
    ping = (
        np.sin(2 * np.pi * np.outer(partials, t) + rng.uniform(0, 6.3, (4, 1))) * np.exp(-t / (0.12 * decay))
    ).sum(axis=0)
    y = wash + bell * 0.25 * ping
    y[: int(0.004 * sr)] += 0.5 * rng.standard_normal(int(0.004 * sr))
    return _fade(y / np.abs(y).max(), sr, 0.3)


def _brush(rng, sr, length=0.16):
    n = int(sr * length)
    t = np.arange(n) / sr
    env = np.clip(t / 0.02, 0, 1) * np.exp(-t / (length / 3))
    y = _filt(rng.standard_normal(n), sr, "bandpass", (1800.0, 7000.0), 1) * env
    return _fade(y / np.abs(y).max(), sr, 1.0)


def _shaker(rng, sr, length=0.07):
    n = int(sr * length)
    t = np.arange(n) / sr
    env = np.clip(t / 0.012, 0, 1) * np.exp(-t / (length / 4))
    y = _filt(rng.standard_normal(n), sr, "highpass", 6000, 2) * env
    return _fade(y / np.abs(y).max(), sr, 1.0)


def _kit(rng, sr, style):
    """A drum kit: dict of one-shot samples with per-track random tuning."""
    u = rng.uniform
    if style == "808":
        kick = _kick(
            rng, sr, u(110, 160), u(42, 55), u(0.03, 0.06), u(0.35, 0.8), u(0.05, 0.3), drive=u(1.0, 2.5)
        )
    elif style == "metal":
        kick = _kick(rng, sr, u(160, 240), u(50, 65), u(0.015, 0.03), u(0.08, 0.16), u(0.8, 1.4))
    elif style == "jazz":
        kick = _kick(rng, sr, u(90, 120), u(55, 75), u(0.03, 0.06), u(0.12, 0.25), u(0.05, 0.2))
    else:  # acoustic / disco / pop
        kick = _kick(rng, sr, u(120, 190), u(45, 62), u(0.025, 0.05), u(0.14, 0.3), u(0.2, 0.7))
    snare_tone = u(170, 240) if style != "jazz" else u(220, 300)
    kit = {
        "kick": kick,
        "snare": _snare(
            rng,
            sr,
            snare_tone,
            u(0.03, 0.07),
            u(0.08, 0.2) if style != "metal" else u(0.12, 0.22),
            (u(900, 1800), u(6000, 9500)),
            u(0.6, 1.2),
        ),
        "clap": _clap(rng, sr, (u(800, 1200), u(2800, 4500)), u(0.08, 0.16)),
        "rim": _rim(rng, sr, u(420, 650), u(0.012, 0.025)),
        "hat": _metal(rng, sr, u(0.025, 0.06), u(6000, 8500), u(0.5, 1.2)),
        "ohat": _metal(rng, sr, u(0.18, 0.4), u(5500, 8000), u(0.5, 1.2)),
        "crash": _metal(rng, sr, u(0.9, 1.6), u(3500, 5500), u(0.2, 0.6), scale=u(1.5, 2.5)),
        "ride": _ride(rng, sr, u(0.8, 1.6), u(0.3, 0.8)),
        "brush": _brush(rng, sr, u(0.12, 0.22)),
        "shaker": _shaker(rng, sr, u(0.05, 0.09)),
    }
    kit["tomh"] = _kick(rng, sr, u(260, 320), u(180, 220), 0.05, u(0.15, 0.25), 0.2)
    kit["toml"] = _kick(rng, sr, u(160, 200), u(100, 130), 0.05, u(0.2, 0.3), 0.2)
    return kit


def _hits(pattern, steps_per_beat=4):
    """``"x...x..."`` -> [(beat position, velocity)]: X=1.0, x=0.8, o=0.45 (ghost)."""
    vel = {"X": 1.0, "x": 0.8, "o": 0.45}
    return [(i / steps_per_beat, vel[c]) for i, c in enumerate(pattern) if c in vel]


# ---------------------------------------------------------------------------
# the band: beat grid, buses, placement
# ---------------------------------------------------------------------------


class _Band:
    """A rendering context: time grid, chord timeline, buses, placement."""

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
        b = self.buses.get(name)
        if b is None:
            b = self.buses[name] = np.zeros(self.n)
        return b

    def add(self, bus, sig, t_sec, gain=1.0):
        s = int(round(t_sec * self.sr))
        if s >= self.n or s + len(sig) <= 0 or gain == 0:
            return
        if s < 0:
            sig, s = sig[-s:], 0
        e = min(self.n, s + len(sig))
        self.bus(bus)[s:e] += gain * sig[: e - s]

    def hit(self, bus, sample, beat, vel=1.0, jitter=0.004):
        self.add(
            bus,
            sample,
            float(self.t(beat)) + jitter * self.rng.standard_normal(),
            vel * (1.0 + 0.08 * self.rng.standard_normal()),
        )

    def play(self, bus, voice, midi, beat, beats, vel=1.0, jitter=0.006, glide=0.0):
        t0 = float(self.t(beat))
        dur = max(0.02, float(self.t(beat + beats)) - t0)
        q = 0.001 if dur < 0.25 else (0.01 if dur < 2.0 else 0.05)
        dur = round(dur / q) * q  # a coarse duration grid lets notes be rendered once and reused
        t0 += jitter * self.rng.standard_normal()
        if t0 >= self.n / self.sr or t0 + dur + voice.release < 0:
            return
        self.add(bus, voice.render(midi + self.tuning, dur, glide), t0, vel)

    def chord(self, bus, voice, notes, beat, beats, vel=1.0, strum=0.0, jitter=0.006):
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
        hits = _hits(pattern, steps_per_beat)
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
        for c in self.chords:
            if c[0] <= beat < c[0] + c[1]:
                return c
        return self.chords[-1]


# ---------------------------------------------------------------------------
# shared instruments and parts
# ---------------------------------------------------------------------------


def _piano(rng, sr, bright=1.0):
    return _Voice(
        lambda f0, k: k**-1.1 * (np.abs(np.sin(np.pi * k / 7.3)) + 0.1),
        decays=lambda f0, k: (0.4 + 0.25 * k / bright) * (f0 / 260.0) ** 0.4,
        attack=0.002,
        release=0.18,
        noise=0.04,
        noise_decay=0.004,
        noise_band=(800.0, 5000.0),
        max_harm=30,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )


def _epiano(rng, sr):
    def amps(f0, k):
        a = np.array([1.0, 0.35, 0.12, 0.05, 0.03, 0.02, 0.25, 0.02])
        out = np.zeros(len(k))
        out[: min(8, len(k))] = a[: len(k)]
        return out

    return _Voice(
        amps,
        decays=lambda f0, k: 0.7 + 1.2 * k + 6.0 * (k == 7),
        attack=0.003,
        release=0.15,
        max_harm=8,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )


def _organ(rng, sr):
    w = rng.choice(
        [
            [1.0, 0.8, 0.6, 0.5, 0, 0.3, 0, 0.25],
            [1.0, 0.0, 0.7, 0.0, 0.4, 0.0, 0.0, 0.3],
            [0.6, 1.0, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )
    return _Voice(
        _drawbar(w),
        attack=0.008,
        release=0.04,
        vib_rate=6.5,
        vib_depth=0.002,
        max_harm=8,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )


def _strings(rng, sr, attack=0.25, bright=1.0, vib=0.004, detune=(3.0, 9.0)):
    return _Voice(
        lambda f0, k: k ** -(1.25 / bright) * (1 + 0.8 * np.exp(-(((k * f0 - 1200) / 700) ** 2))),
        attack=attack,
        release=0.35,
        vib_rate=rng.uniform(5.0, 6.2),
        vib_depth=vib,
        unison=(-rng.uniform(*detune), rng.uniform(*detune)),
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )


def _guitar(rng, sr, position=0.18, bright=3000.0, base=1.2, roll=0.8):
    return _Voice(
        _pluck_amps(position, roll),
        decays=_string_decays(base, bright, 10.0),
        attack=0.0015,
        release=0.06,
        noise=0.05,
        noise_decay=0.003,
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )


def _bass(rng, sr, kind="finger"):
    s = int(rng.integers(1 << 30))
    if kind == "upright":
        return _Voice(
            lambda f0, k: k**-1.8,
            decays=lambda f0, k: 1.8 + 1.4 * k,
            attack=0.004,
            release=0.08,
            noise=0.03,
            noise_decay=0.006,
            noise_band=(300.0, 1500.0),
            max_harm=16,
            seed=s,
            sr=sr,
        )
    if kind == "sub":
        return _Voice(
            lambda f0, k: np.where(k == 1, 1.0, np.where(k == 2, 0.25, 0.05 / k)),
            attack=0.004,
            decay=0.7,
            sustain=0.3,
            release=0.1,
            max_harm=4,
            seed=s,
            sr=sr,
        )
    if kind == "synth":
        return _Voice(
            _saw(1.0),
            decays=lambda f0, k: 1.0 + 7.0 * (k * f0 / 900.0),
            attack=0.003,
            release=0.04,
            max_harm=30,
            seed=s,
            sr=sr,
        )
    if kind == "dub":
        return _Voice(
            lambda f0, k: np.where(k == 1, 1.0, 0.2 / k**2),
            attack=0.01,
            release=0.08,
            max_harm=4,
            seed=s,
            sr=sr,
        )
    return _Voice(
        lambda f0, k: k**-1.4,
        decays=lambda f0, k: 1.0 + 0.9 * k,
        attack=0.003,
        release=0.06,
        max_harm=20,
        seed=s,
        sr=sr,
    )


def _singer(rng, sr, vowel, vib=0.006, roll=1.0):
    return _Voice(
        _formant(vowel, roll),
        attack=0.04,
        release=0.08,
        vib_rate=rng.uniform(4.8, 6.0),
        vib_depth=vib,
        noise=0.02,
        noise_decay=0.02,
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )


def _melody(
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
    """A motif-based melody: a random walk in ``scale``, repeated with variation."""
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


def _rhythm_from(choices):
    def r(rng):
        pat = choices[int(rng.integers(len(choices)))]
        return [(pitch, length) for pitch, length in pat]

    return r


# ---------------------------------------------------------------------------
# genres
# ---------------------------------------------------------------------------
# Each renderer fills band.buses and returns a dict of mix settings:
#   {"gains": {bus: gain}, "send": {bus: reverb send}, "post": {bus: fn},
#    "rt60": s, "comp": soft-clip drive, "lowpass": Hz, "highpass": Hz}


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _blues(rng, sr, n, tempo):
    band = _Band(rng, sr, n, tempo, swing=_u(rng, 0.62, 0.7))
    key = int(rng.integers(12))
    q = "9" if rng.random() < 0.3 else "7"
    bars = (
        [0, 5, 0, 0, 5, 5, 0, 0, 7, 5, 0, 7] if rng.random() < 0.5 else [0, 0, 0, 0, 5, 5, 0, 0, 7, 5, 0, 7]
    )
    band.progression(key, [(b, q, 4) for b in bars])
    kit = _kit(rng, sr, "acoustic")
    band.pattern("drums", kit["kick"], "X.......x.......", 0.9)
    band.pattern("drums", kit["snare"], "....X.......X...", 0.8)
    shuffle = "x.o.x.o.x.o.x.o." if rng.random() < 0.5 else "x.x.x.x.x.x.x.x."
    band.pattern("drums", kit["ride"] if rng.random() < 0.4 else kit["hat"], shuffle, 0.45)
    bass = _bass(rng, sr, "upright" if rng.random() < 0.5 else "finger")
    boogie = [0, 4, 7, 9, 10, 9, 7, 4]
    walk = rng.random() < 0.6
    comp_kind = rng.choice(["guitar", "piano", "organ"])
    comp = {"guitar": _guitar(rng, sr, 0.2, 2500), "piano": _piano(rng, sr), "organ": _organ(rng, sr)}[
        comp_kind
    ]
    for start, _beats, root, qual in band.chords:
        r = _near(root, 36)
        if walk:
            for i in range(8):
                band.play("bass", bass, r + boogie[i], start + i / 2, 0.45, 0.8)
        else:
            for i in range(4):
                band.play("bass", bass, r + (0, 7, 10, 7)[i], start + i, 0.9, 0.8)
        if comp_kind == "guitar":  # boogie shuffle: 5th / 6th alternation on the low strings
            g = _near(root, 45)
            for i in range(8):
                band.chord("comp", comp, [g, g + (7 if i % 4 < 2 else 9)], start + i / 2, 0.4, 0.6)
        else:
            for pos in (1.0, 2.5, 3.0) if rng.random() < 0.5 else (0.0, 1.5, 3.0):
                band.chord("comp", comp, _voicing(root, qual, 62), start + pos, 0.6, 0.5)
    lead = rng.choice(["harp", "guitar", "voice"])
    lv = {
        "harp": _Voice(
            _square(1.0, 0.4),
            attack=0.02,
            release=0.06,
            vib_rate=5.5,
            vib_depth=0.01,
            noise=0.05,
            noise_decay=0.03,
            seed=int(rng.integers(1 << 30)),
            sr=sr,
        ),
        "guitar": _guitar(rng, sr, 0.12, 3500, 0.6),
        "voice": _singer(rng, sr, str(rng.choice(list("aeo"))), 0.01),
    }[lead]
    rhythm = _rhythm_from(
        [
            [(0, 1.0), (1.5, 0.5), (2, 1.5)],
            [(0.5, 0.5), (1, 0.5), (1.5, 1.0), (3, 1)],
            [(0, 2.0), (2.5, 0.5), (3, 1)],
        ]
    )
    _melody(
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
    drive = {"comp": (lambda x: _drive(x, _u(rng, 1.5, 3.5)))} if comp_kind == "guitar" else {}
    if lead == "guitar":
        drive["lead"] = lambda x: _drive(x, _u(rng, 2, 4))
    return band, {
        "gains": {"drums": 0.8, "bass": 0.9, "comp": 0.6, "lead": 0.55},
        "post": drive,
        "send": {"comp": 0.25, "lead": 0.3, "drums": 0.1},
        "rt60": _u(rng, 0.8, 1.6),
        "comp": _u(rng, 0.8, 1.8),
        "lowpass": _u(rng, 4000, 9000),
    }


def _classical(rng, sr, n, tempo):
    band = _Band(rng, sr, n, tempo, rubato=_u(rng, 0.06, 0.18))
    key = int(rng.integers(12))
    minor = rng.random() < 0.45
    progs_major = [
        [(0, "maj", 4), (5, "maj", 4), (7, "maj", 4), (0, "maj", 4)],
        [(0, "maj", 4), (9, "min", 4), (2, "min", 4), (7, "7", 4)],
        [
            (0, "maj", 2),
            (7, "maj", 2),
            (9, "min", 2),
            (4, "min", 2),
            (5, "maj", 2),
            (0, "maj", 2),
            (5, "maj", 2),
            (7, "maj", 2),
        ],
    ]
    progs_minor = [
        [(0, "min", 4), (5, "min", 4), (7, "7", 4), (0, "min", 4)],
        [(0, "min", 4), (8, "maj", 4), (2, "dim", 4), (7, "7", 4)],
    ]
    progs = progs_minor if minor else progs_major
    band.progression(key, progs[int(rng.integers(len(progs)))])
    ens = rng.choice(["strings", "piano", "both", "quartet"], p=[0.35, 0.3, 0.2, 0.15])
    scale = "harmonic" if minor else "major"
    if ens in ("strings", "both", "quartet"):
        sv = _strings(rng, sr, _u(rng, 0.15, 0.5), _u(rng, 0.7, 1.1))
        cello = _strings(rng, sr, _u(rng, 0.1, 0.3), 0.8)
        for start, beats, root, qual in band.chords:
            if ens != "quartet":
                band.chord("strings", sv, _voicing(root, qual, 62), start, beats * 1.02, 0.45, jitter=0.02)
            band.play("strings", cello, _near(root, 43), start, beats * 1.02, 0.55, jitter=0.02)
        violin = _strings(rng, sr, 0.08, 1.1)
        rhythm = _rhythm_from(
            [
                [(0, 2.0), (2, 1.0), (3, 1.0)],
                [(0, 1.5), (1.5, 0.5), (2, 2.0)],
                [(0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0)],
                [(0, 3.0), (3, 1.0)],
            ]
        )
        _melody(band, scale, key, 67, 88, rhythm, band.n_bars, "melody", violin, 0.5, 4, rest=0.05)
    if ens in ("piano", "both"):
        pv = _piano(rng, sr, _u(rng, 0.8, 1.3))
        fig = rng.choice(["alberti", "arp8", "arp16", "block"])
        for start, beats, root, qual in band.chords:
            notes = _voicing(root, qual, 55)
            b = _near(root, 43)
            if fig == "alberti":
                seq, step = [notes[0], notes[-1], notes[1], notes[-1]], 0.5
            elif fig == "arp16":
                seq, step = [b] + notes + notes[::-1][1:], 0.25
            elif fig == "arp8":
                seq, step = (
                    [b, notes[0], notes[1], notes[-1], notes[-1] + 12 - 12 * (notes[-1] > 70), notes[1]],
                    0.5,
                )
            else:
                seq, step = None, 1.0
            if seq is None:
                band.chord("piano", pv, [b] + notes, start, beats, 0.4)
            else:
                for i in range(int(beats / step)):
                    band.play(
                        "piano", pv, seq[i % len(seq)], start + i * step, step * 1.6, 0.35, jitter=0.008
                    )
        if ens == "piano":
            rhythm = _rhythm_from(
                [
                    [(0, 1.0), (1, 0.5), (1.5, 0.5), (2, 2.0)],
                    [(0, 0.5), (0.5, 0.5), (1, 1.0), (2, 1.0), (3, 1.0)],
                ]
            )
            _melody(band, scale, key, 67, 86, rhythm, band.n_bars, "piano", pv, 0.5, 2, rest=0.05)
    # slow dynamics: crescendo / decrescendo over several seconds
    t = np.arange(n) / sr
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / _u(rng, 6, 16) + _u(rng, 0, 6.3))
    post = {b: (lambda x, s=swell: x * s) for b in ("strings", "piano", "melody")}
    return band, {
        "gains": {"strings": 0.7, "piano": 0.8, "melody": 0.6},
        "post": post,
        "send": {"strings": 0.6, "piano": 0.45, "melody": 0.5},
        "rt60": _u(rng, 1.4, 2.4),
        "comp": _u(rng, 0.3, 0.9),
        "lowpass": _u(rng, 5000, 10000),
    }


def _country(rng, sr, n, tempo):
    band = _Band(rng, sr, n, tempo, swing=_u(rng, 0.5, 0.56))
    key = int(rng.integers(12))
    progs = [
        [(0, "maj", 4), (5, "maj", 4), (0, "maj", 4), (7, "maj", 4)],
        [(0, "maj", 8), (5, "maj", 4), (7, "maj", 4)],
        [(0, "maj", 4), (7, "maj", 4), (5, "maj", 4), (0, "maj", 4)],
        [(0, "maj", 4), (9, "min", 4), (5, "maj", 4), (7, "7", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = _kit(rng, sr, "acoustic")
    band.pattern("drums", kit["kick"], "X.......x.......", 0.85)
    if rng.random() < 0.6:  # train beat: brushed snare 16ths, accents on 2 and 4
        band.pattern("drums", kit["brush"], "oxoxXxoxoxoxXxox", 0.6)
        band.pattern("drums", kit["snare"], "....x.......x...", 0.5)
    else:  # boom-chick with a rim click
        band.pattern("drums", kit["rim"], "....X.......X...", 0.7)
        band.pattern("drums", kit["hat"], "x.x.x.x.x.x.x.x.", 0.4)
    bass = _bass(rng, sr, "finger")
    gtr = _guitar(rng, sr, _u(rng, 0.1, 0.2), _u(rng, 3500, 6000), 1.0, 0.7)  # bright acoustic
    twang = _guitar(rng, sr, _u(rng, 0.06, 0.1), _u(rng, 5000, 8000), 2.5, 0.5)  # bridge pickup
    strum = rng.choice(["DDUUDU", "D.DUDU", "D.D.D.D."])
    for ci, (start, beats, root, qual) in enumerate(band.chords):
        r = _near(root, 38)
        for i in range(0, int(beats), 2):  # "boom": root on 1, fifth (below) on 3
            band.play("bass", bass, r if i % 4 == 0 else r - 5, start + i, 0.9, 0.85)
        nxt = band.chords[ci + 1][2] if ci + 1 < len(band.chords) else root
        if nxt != root and rng.random() < 0.5:  # walk up into the next chord
            target = _near(nxt, r + 4)
            for j, step in enumerate((-3, -1)):
                band.play("bass", bass, target + step, start + beats - 1 + j / 2, 0.45, 0.7)
        shape = _voicing(root, qual, 57, spread=True)
        for i in range(int(beats * 2)):
            c = strum[i % len(strum)]
            if c == ".":
                continue
            notes = shape if c == "D" else shape[::-1][:3]
            band.chord("gtr", gtr, notes, start + i / 2, 0.5, 0.45 if c == "D" else 0.3, strum=0.03)
    rhythm = _rhythm_from(
        [
            [(0, 0.25), (0.5, 0.25), (0.75, 0.5), (1.5, 0.5), (2, 0.25), (2.5, 1.0)],
            [(0, 0.5), (0.5, 0.5), (1, 0.25), (1.25, 0.25), (1.5, 0.5), (3, 0.5), (3.5, 0.5)],
        ]
    )
    if rng.random() < 0.7:
        _melody(
            band, "pent_major", key, 64, 84, rhythm, band.n_bars, "lead", twang, 0.55, 2, glide=2.0, rest=0.2
        )
    else:  # fiddle or pedal steel-ish singing line
        steel = _Voice(
            lambda f0, k: k**-1.6,
            attack=0.12,
            release=0.2,
            vib_rate=5.0,
            vib_depth=0.003,
            seed=int(rng.integers(1 << 30)),
            sr=sr,
        )
        rhythm2 = _rhythm_from([[(0, 2.0), (2, 2.0)], [(0, 1.5), (1.5, 2.5)]])
        _melody(band, "major", key, 64, 84, rhythm2, band.n_bars, "lead", steel, 0.5, 2, glide=2.0, rest=0.1)
    if rng.random() < 0.4:
        voice = _singer(rng, sr, str(rng.choice(list("aeo"))), 0.008)
        _melody(
            band,
            "major",
            key,
            57,
            72,
            _rhythm_from([[(0, 1.0), (1, 1.0), (2, 1.5), (3.5, 0.5)]]),
            band.n_bars,
            "vocal",
            voice,
            0.45,
            2,
            rest=0.25,
        )
    return band, {
        "gains": {"drums": 0.7, "bass": 0.8, "gtr": 0.6, "lead": 0.55, "vocal": 0.5},
        "post": {"lead": lambda x: _drive(x, 1.2)},
        "send": {"gtr": 0.2, "lead": 0.25, "vocal": 0.3, "drums": 0.08},
        "rt60": _u(rng, 0.6, 1.3),
        "comp": _u(rng, 0.9, 1.8),
        "lowpass": _u(rng, 5000, 10000),
    }


def _disco(rng, sr, n, tempo):
    band = _Band(rng, sr, n, tempo)
    key = int(rng.integers(12))
    progs = [
        [(0, "m7", 4), (5, "m7", 4)],
        [(2, "m7", 4), (7, "7", 4)],
        [(0, "m7", 8), (10, "maj7", 8)],
        [(0, "m9", 4), (3, "maj7", 4), (5, "m7", 4), (7, "m7", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = _kit(rng, sr, "disco")
    band.pattern("drums", kit["kick"], "X...X...X...X...", 0.95)
    band.pattern("drums", kit["clap"] if rng.random() < 0.5 else kit["snare"], "....X.......X...", 0.8)
    band.pattern("drums", kit["ohat"], "..x...x...x...x.", 0.55)
    band.pattern("drums", kit["hat"], "xox.xox.xox.xox." if rng.random() < 0.5 else "x.o.x.o.x.o.x.o.", 0.4)
    if rng.random() < 0.5:
        band.pattern("drums", kit["shaker"], "oxoxoxoxoxoxoxox", 0.35)
    bass = _bass(rng, sr, "synth" if rng.random() < 0.6 else "finger")
    oct_pat = [0, 12] * 4 if rng.random() < 0.6 else [0, 12, 0, 12, 7, 12, 10, 12]
    strings = _strings(rng, sr, _u(rng, 0.05, 0.2), 1.3, vib=0.0015, detune=(1.0, 3.0))
    gtr = _guitar(rng, sr, 0.15, 4000, 8.0)  # muted funk chops
    for start, beats, root, qual in band.chords:
        r = _near(root, 36)
        for i in range(int(beats * 2)):
            band.play("bass", bass, r + oct_pat[i % 8], start + i / 2, 0.4, 0.85)
        band.chord("strings", strings, _voicing(root, qual, 67), start, beats, 0.35)
        tones = _voicing(root, qual, 64)
        for i in range(int(beats * 4)):
            if i % 4 == 2 or (i % 2 == 1 and rng.random() < 0.3):  # funk chops on the "and", some 16ths
                band.chord(
                    "gtr", gtr, tones[-3:], start + i / 4, 0.12, 0.4 if i % 4 == 2 else 0.2, strum=0.01
                )
    if rng.random() < 0.5:
        voice = _singer(rng, sr, str(rng.choice(list("aeiou"))), 0.007)
        _melody(
            band,
            "dorian",
            key,
            64,
            79,
            _rhythm_from([[(0, 0.5), (0.5, 1.0), (2, 0.5), (2.5, 1.5)]]),
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
        "rt60": _u(rng, 0.8, 1.5),
        "comp": _u(rng, 1.3, 2.6),
        "lowpass": _u(rng, 6000, 10500),
    }


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
    vowels = {v: _singer(rng, sr, v, 0.0, 0.8) for v in "aeiou"}
    for v in vowels.values():
        v.attack, v.release, v.noise, v.noise_decay, v.noise_band = 0.01, 0.04, 0.3, 0.012, (2500.0, 8000.0)
    base = _u(rng, 46, 55)
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
                    glide=_u(rng, 0, 2),
                )
                pos += length


def _hiphop(rng, sr, n, tempo):
    band = _Band(rng, sr, n, tempo, swing=_u(rng, 0.5, 0.62), swing_unit=0.25)
    key = int(rng.integers(12))
    progs = [
        [(0, "m7", 4), (5, "m7", 4)],
        [(0, "m9", 8), (8, "maj7", 8)],
        [(0, "m7", 4), (8, "maj7", 4), (3, "maj7", 4), (10, "7", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = _kit(rng, sr, "808" if rng.random() < 0.6 else "acoustic")
    kicks = ["X.....x...x.....", "X..x......x..x..", "X.x.......X..x..", "X......x..x....."]
    kpat = kicks[int(rng.integers(len(kicks)))]
    band.pattern("drums", kit["kick"], kpat, 1.0)
    band.pattern("drums", kit["snare"] if rng.random() < 0.5 else kit["clap"], "....X.......X...", 1.0)
    hats = ["X.x.X.x.X.x.X.x.", "XoxoXoxoXoxoXoxo", "X.xxX.x.X.xxX.x."]
    band.pattern("drums", kit["hat"], hats[int(rng.integers(len(hats)))], 0.4)
    sub = _bass(rng, sr, "sub")
    keys = _epiano(rng, sr) if rng.random() < 0.6 else _piano(rng, sr, 0.7)
    kick_pos = [p for p, _ in _hits(kpat)]
    for start, beats, root, qual in band.chords:
        r = _near(root, 33)
        for b in range(int(start), int(start + beats), 4):
            for p in kick_pos:
                band.play("bass", sub, r, b + p, 0.9, 0.9, 0.002)
        for pos in [0.0, 2.5] if rng.random() < 0.5 else [0.0, 1.75, 3.0]:
            if pos < beats:
                band.chord("keys", keys, _voicing(root, qual, 60), start + pos, 1.2, 0.45, jitter=0.01)
    _rap(band, rng, sr, "vocal", 0.55)
    crackle = np.zeros(n)
    idx = rng.choice(n, size=int(n / sr * _u(rng, 10, 40)), replace=False)
    crackle[idx] = rng.standard_normal(len(idx)) * 0.3
    band.bus("fx")[:] += _filt(crackle, sr, "highpass", 2000) + 0.004 * rng.standard_normal(n)
    lp = _u(rng, 2500, 5000)
    return band, {
        "gains": {"drums": 0.9, "bass": 0.9, "keys": 0.5, "vocal": 0.55, "fx": 0.3},
        "post": {"keys": lambda x: _filt(x, sr, "lowpass", lp, 2)},
        "send": {"keys": 0.2, "vocal": 0.1},
        "rt60": _u(rng, 0.4, 0.9),
        "comp": _u(rng, 1.2, 2.5),
        "lowpass": _u(rng, 5000, 9000),
    }


def _jazz(rng, sr, n, tempo):
    band = _Band(rng, sr, n, tempo, swing=_u(rng, 0.6, 0.68))
    key = int(rng.integers(12))
    progs = [
        [(2, "m9", 4), (7, "13", 4), (0, "maj9", 8)],
        [(0, "maj7", 2), (9, "m7", 2), (2, "m9", 2), (7, "7b9", 2)],
        [(4, "m7", 2), (9, "7", 2), (2, "m7", 2), (7, "13", 2), (0, "6/9", 4), (2, "m7b5", 2), (7, "7b9", 2)],
        [(2, "m7", 4), (7, "7", 4), (0, "maj7", 4), (9, "7b9", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = _kit(rng, sr, "jazz")
    brushes = rng.random() < 0.3
    band.pattern("drums", kit["ride"], "X...x.o.X...x.o.", 0.5)
    band.pattern("drums", kit["hat"], "....x.......x...", 0.35)
    band.pattern("drums", kit["kick"], "o...o...o...o...", 0.25)
    if brushes:
        band.pattern("drums", kit["brush"], "x.o.x.o.x.o.x.o.", 0.4)
    else:
        band.pattern("drums", kit["snare"], "o.o.o.o.o.o.o.o.", 0.25, prob=0.2)
    bass = _bass(rng, sr, "upright")
    keys = _piano(rng, sr, 0.8) if rng.random() < 0.7 else _epiano(rng, sr)
    prev = _near(key, 36)
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
            m = _near(pc, prev)
            m = m + 12 if m < 28 else (m - 12 if m > 50 else m)
            band.play("bass", bass, m, start + i, 0.95, 0.8)
            prev = m
        voicing = [x for x in _voicing(root, qual, 62)]
        if len(voicing) > 3:
            voicing = [v for v in voicing if v % 12 != root] or voicing  # rootless
        for pos in [0.0, 1.5, 2.5, 3.5, 1.0]:
            if pos < beats and rng.random() < 0.45:
                band.chord(
                    "comp", keys, voicing, start + pos, float(rng.choice([0.4, 0.9])), 0.35, jitter=0.01
                )
    if rng.random() < 0.6:
        horn = _Voice(
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
        rhythm = _rhythm_from(
            [
                [(i * 0.5, 0.5) for i in range(8)],
                [(0, 1.0), (1.5, 0.5), (2, 0.5), (2.5, 0.5), (3, 1.0)],
                [(0.5, 0.5), (1, 0.5), (1.5, 0.5), (2, 2.0)],
            ]
        )
        _melody(band, "bebop", key, 58, 80, rhythm, band.n_bars, "lead", horn, 0.5, 2, rest=0.25)
    return band, {
        "gains": {"drums": 0.35, "bass": 0.95, "comp": 0.65, "lead": 0.55},
        "send": {"comp": 0.3, "lead": 0.3, "drums": 0.2},
        "rt60": _u(rng, 0.8, 1.6),
        "comp": _u(rng, 0.4, 1.2),
        "lowpass": _u(rng, 3500, 7500),
    }


def _metal_genre(rng, sr, n, tempo):
    band = _Band(rng, sr, n, tempo)
    key = int(rng.choice([4, 2, 1, 0, 9]))  # low tunings: E, D, C#, C, A
    progs = [
        [(0, "5", 4), (8, "5", 4), (10, "5", 4), (0, "5", 4)],
        [(0, "5", 4), (1, "5", 4)],
        [(0, "5", 2), (3, "5", 2), (5, "5", 2), (6, "5", 2)],
        [(0, "5", 8), (10, "5", 4), (8, "5", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = _kit(rng, sr, "metal")
    kick = rng.choice(["XxXxXxXxXxXxXxXx", "X.xxX.xxX.xxX.xx", "X.X.X.X.X.X.X.X."], p=[0.5, 0.3, 0.2])
    band.pattern("drums", kit["kick"], kick, 0.85)
    blast = rng.random() < 0.25
    band.pattern("drums", kit["snare"], "X...X...X...X..." if blast else "....X.......X...", 0.9)
    band.pattern("drums", kit["crash"], "X" + "." * 15, 0.6)
    band.pattern("drums", kit["crash"] if rng.random() < 0.5 else kit["ohat"], "x.x.x.x.x.x.x.x.", 0.35)
    gtr = _Voice(
        _saw(0.9),
        decays=lambda f0, k: 0.3 + 0.4 * (k * f0 / 3000) ** 2,
        attack=0.002,
        release=0.03,
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )
    mute = _Voice(
        _saw(1.0),
        decays=lambda f0, k: 8.0 + 40.0 * (k * f0 / 1500) ** 2,
        attack=0.002,
        release=0.02,
        max_harm=30,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )
    bass = _bass(rng, sr, "finger")
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
        lead = _Voice(
            _saw(1.0),
            attack=0.003,
            release=0.03,
            vib_rate=6.0,
            vib_depth=0.004,
            seed=int(rng.integers(1 << 30)),
            sr=sr,
        )
        _melody(
            band,
            "phrygian" if rng.random() < 0.5 else "minor",
            key,
            64,
            84,
            _rhythm_from([[(i * 0.25, 0.25) for i in range(16)], [(i * 0.5, 0.5) for i in range(8)]]),
            band.n_bars,
            "lead",
            lead,
            0.4,
            1,
            rest=0.05,
        )
    d1, d2 = _u(rng, 6, 16), _u(rng, 4, 10)
    cab = _u(rng, 3500, 5500)
    post = {
        "gtr": lambda x: _filt(_drive(_filt(x, sr, "highpass", 90), d1), sr, "lowpass", cab, 2),
        "lead": lambda x: _filt(_drive(x, d2), sr, "lowpass", cab, 2),
        "bass": lambda x: _drive(x, 2.0),
    }
    return band, {
        "gains": {"drums": 0.8, "gtr": 0.9, "bass": 0.6, "lead": 0.45},
        "post": post,
        "send": {"gtr": 0.1, "lead": 0.2, "drums": 0.08},
        "rt60": _u(rng, 0.6, 1.2),
        "comp": _u(rng, 2.0, 4.0),
        "lowpass": _u(rng, 6000, 10500),
    }


def _pop(rng, sr, n, tempo):
    band = _Band(rng, sr, n, tempo)
    key = int(rng.integers(12))
    progs = [
        [(0, "maj", 4), (7, "maj", 4), (9, "min", 4), (5, "maj", 4)],
        [(9, "min", 4), (5, "maj", 4), (0, "maj", 4), (7, "maj", 4)],
        [(0, "maj", 4), (9, "min", 4), (5, "maj", 4), (7, "maj", 4)],
        [(5, "maj9", 4), (0, "maj", 4), (7, "sus4", 4), (9, "m7", 4)],
    ]
    band.progression(key, progs[int(rng.integers(len(progs)))])
    kit = _kit(rng, sr, "acoustic")
    kpat = rng.choice(["X.....x.X.......", "X...X...X...X...", "X......xX.x....."])
    band.pattern("drums", kit["kick"], kpat, 0.9)
    band.pattern("drums", kit["clap"], "....X.......X...", 0.7)
    band.pattern("drums", kit["snare"], "....X.......X...", 0.5)
    band.pattern("drums", kit["hat"], "x.x.x.x.x.x.x.x.", 0.35)
    if rng.random() < 0.5:
        band.pattern("drums", kit["shaker"], "oxoxoxoxoxoxoxox", 0.3)
    pad = _Voice(
        _saw(_u(rng, 0.9, 1.3)),
        attack=_u(rng, 0.03, 0.15),
        release=0.2,
        unison=(-_u(rng, 8, 15), 0.0, _u(rng, 8, 15)),
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )
    pluck = _Voice(
        _saw(0.8),
        decays=lambda f0, k: 3.0 + 25.0 * (k * f0 / 3000.0),
        attack=0.002,
        release=0.05,
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )
    bass = _bass(rng, sr, "synth" if rng.random() < 0.5 else "finger")
    keys = _piano(rng, sr, 1.3) if rng.random() < 0.35 else None
    for start, beats, root, qual in band.chords:
        tones = _voicing(root, qual, 64)
        band.chord("pad", pad, tones, start, beats, 0.3)
        arp = tones + [tones[0] + 12]
        for i in range(int(beats * 4)):
            band.play("pluck", pluck, arp[(i * 3) % len(arp)] + 12, start + i / 4, 0.2, 0.3, jitter=0.002)
        for i in range(int(beats * 2)):
            band.play("bass", bass, _near(root, 36), start + i / 2, 0.45, 0.8)
        if keys is not None:
            for i in range(int(beats)):
                band.chord("keys", keys, tones, start + i, 0.9, 0.3)
    voice = _singer(rng, sr, str(rng.choice(list("aeiou"))), 0.007)
    _melody(
        band,
        "pent_major" if rng.random() < 0.5 else "major",
        key,
        62,
        79,
        _rhythm_from(
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
    pump = 1.0 - _u(rng, 0.2, 0.6) * np.exp(-beat_phase * 8)  # side-chain "pumping"
    post = {"pad": lambda x: x * pump}
    return band, {
        "gains": {"drums": 0.9, "pad": 0.45, "pluck": 0.4, "bass": 0.75, "vocal": 0.55, "keys": 0.4},
        "post": post,
        "send": {"pad": 0.3, "vocal": 0.3, "pluck": 0.25},
        "rt60": _u(rng, 0.8, 1.6),
        "comp": _u(rng, 1.5, 3.0),
        "lowpass": _u(rng, 8000, 10500),
    }


def _reggae(rng, sr, n, tempo):
    band = _Band(rng, sr, n, tempo, swing=_u(rng, 0.5, 0.6))
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
    kit = _kit(rng, sr, "acoustic")
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
    bass = _bass(rng, sr, "dub")
    skank = _guitar(rng, sr, 0.15, 4500, 4.0)
    organ = _organ(rng, sr) if rng.random() < 0.6 else None
    scale = SCALES["minor" if minor else "major"]
    riffs = [
        [(0.0, 1.5, 0), (1.5, 0.5, 2), (2, 0.5, 4), (2.5, 1.0, 4), (3.5, 0.5, 2)],
        [(0.5, 0.5, 0), (1, 1.0, 0), (2, 0.5, 4), (2.5, 0.5, 5), (3, 1.0, 4)],
        [(0.0, 0.75, 0), (0.75, 0.75, 0), (2, 0.5, -3), (2.5, 0.5, -1), (3, 0.5, 0), (3.5, 0.5, 2)],
    ]
    riff = riffs[int(rng.integers(len(riffs)))]
    for start, beats, root, qual in band.chords:
        r = _near(root, 36)
        for b in range(int(beats // 4)):
            for pos, length, deg in riff:
                off = scale[deg % len(scale)] + 12 * (deg // len(scale))
                band.play("bass", bass, r + off, start + 4 * b + pos, length * 0.9, 0.9)
        tones = _voicing(root, qual, 67)
        for i in range(int(beats)):
            band.chord("skank", skank, tones, start + i + 0.5, 0.15, 0.5, strum=0.005, jitter=0.003)
            if organ is not None:
                band.chord("organ", organ, _voicing(root, qual, 60), start + i + 0.25, 0.2, 0.25)
                band.chord("organ", organ, _voicing(root, qual, 60), start + i + 0.75, 0.2, 0.2)
    if rng.random() < 0.5:
        voice = _singer(rng, sr, str(rng.choice(list("aeo"))), 0.006)
        _melody(
            band,
            "pent_minor" if minor else "pent_major",
            key,
            57,
            74,
            _rhythm_from([[(0.5, 0.5), (1, 1.0), (2.5, 0.5), (3, 1.0)], [(0, 1.0), (1.5, 1.5), (3.5, 0.5)]]),
            band.n_bars,
            "vocal",
            voice,
            0.5,
            2,
            rest=0.25,
        )
    delay = band.spb * 0.75  # dotted-eighth dub echo on the snare/rim
    fb = _u(rng, 0.3, 0.5)

    def echo(x):
        d = int(delay * sr)
        y = x.copy()
        for i in range(1, 5):
            if i * d < len(x):
                y[i * d :] += fb**i * x[: len(x) - i * d]
        return y

    return band, {
        "gains": {"drums": 0.75, "bass": 1.0, "skank": 0.45, "organ": 0.35, "vocal": 0.5},
        "post": {"drums": echo, "skank": lambda x: _filt(x, sr, "highpass", 400)},
        "send": {"skank": 0.25, "vocal": 0.3, "drums": 0.15},
        "rt60": _u(rng, 0.8, 1.5),
        "comp": _u(rng, 0.8, 1.8),
        "lowpass": _u(rng, 4000, 8000),
    }


def _rock(rng, sr, n, tempo):
    band = _Band(rng, sr, n, tempo)
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
    kit = _kit(rng, sr, "acoustic")
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
    gtr = _Voice(
        _saw(1.0),
        decays=lambda f0, k: 0.6 + 3.0 * (k * f0 / 3000) ** 2,
        attack=0.002,
        release=0.04,
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )
    bass = _bass(rng, sr, "finger")
    for start, beats, root, qual in band.chords:
        r = _near(root, 45)
        shape = [r, r + 7, r + 12] if power else _voicing(root, qual, 55, spread=True)
        for i in range(int(beats * 2)):
            accent = i % 4 == 0
            band.chord("gtr", gtr, shape, start + i / 2, 0.45, 0.6 if accent else 0.45, strum=0.01)
            band.play("bass", bass, _near(root, 36), start + i / 2, 0.45, 0.8)
    if rng.random() < 0.6:
        voice = _singer(rng, sr, str(rng.choice(list("aeo"))), 0.008, 0.8)
        _melody(
            band,
            "pent_minor" if rng.random() < 0.5 else "mixolydian",
            key,
            60,
            78,
            _rhythm_from([[(0, 1.0), (1, 0.5), (1.5, 1.5), (3, 1.0)], [(0, 0.5), (0.5, 0.5), (1, 2.0)]]),
            band.n_bars,
            "vocal",
            voice,
            0.6,
            2,
            rest=0.2,
        )
    elif rng.random() < 0.6:
        lead = _guitar(rng, sr, 0.12, 3500, 0.4)
        _melody(
            band,
            "pent_minor",
            key,
            64,
            84,
            _rhythm_from([[(i * 0.5, 0.5) for i in range(8)], [(0, 1.0), (1, 0.5), (1.5, 0.5), (2, 2.0)]]),
            band.n_bars,
            "lead",
            lead,
            0.5,
            2,
            glide=2.0,
            rest=0.2,
        )
    d = _u(rng, 2.0, 5.0)
    cab = _u(rng, 3500, 6000)
    post = {
        "gtr": lambda x: _filt(_drive(x, d), sr, "lowpass", cab, 2),
        "lead": lambda x: _filt(_drive(x, d * 1.5), sr, "lowpass", cab, 2),
    }
    return band, {
        "gains": {"drums": 0.85, "gtr": 0.85, "bass": 0.7, "vocal": 0.5, "lead": 0.5},
        "post": post,
        "send": {"gtr": 0.15, "vocal": 0.25, "lead": 0.25, "drums": 0.1},
        "rt60": _u(rng, 0.7, 1.4),
        "comp": _u(rng, 1.4, 2.8),
        "lowpass": _u(rng, 5500, 10000),
    }


_RENDER = {
    "blues": _blues,
    "classical": _classical,
    "country": _country,
    "disco": _disco,
    "hiphop": _hiphop,
    "jazz": _jazz,
    "metal": _metal_genre,
    "pop": _pop,
    "reggae": _reggae,
    "rock": _rock,
}


# ---------------------------------------------------------------------------
# mixing and the public API
# ---------------------------------------------------------------------------


def _mix(band, mix, rng):
    sr, n = band.sr, band.n
    dry = np.zeros(n)
    send = np.zeros(n)
    for name in sorted(band.buses):
        x = band.buses[name]
        post = mix.get("post", {}).get(name)
        if post is not None:
            x = post(x)
        rms = float(np.sqrt(np.mean(x * x)))
        if rms < 1e-9:
            continue
        # per-track mix levels: each bus at its genre level x a random factor
        g = mix["gains"].get(name, 0.5) * float(np.exp(rng.normal(0, 0.3))) * 0.1 / rms
        dry += g * x
        send += g * mix.get("send", {}).get(name, 0.0) * x
    if np.any(send):
        ir = _noise_tail_ir(rng, sr, mix.get("rt60", 1.0), _u(rng, 0.005, 0.03), _u(rng, 3000, 7000))
        dry += signal.oaconvolve(send, ir)[:n] * _u(rng, 0.6, 1.2)
    # the "recording": band limits, compression, noise floor, level
    y = _filt(dry, sr, "lowpass", mix.get("lowpass", 9000) * float(np.exp(rng.normal(0, 0.1))), 2)
    y = _filt(y, sr, "highpass", _u(rng, 25, 70), 1)
    y /= float(np.sqrt(np.mean(y * y))) + 1e-12
    c = mix.get("comp", 1.0)
    y = np.tanh(c * y / 3.0) / c  # soft-clip compression: louder genres are squashed more
    hiss = rng.standard_normal(n) * 10 ** (_u(rng, -65, -42) / 20) * float(np.max(np.abs(y)))
    y += _filt(hiss, sr, "highpass", 1000, 1) + 0.3 * _filt(hiss, sr, "lowpass", 300, 1)
    peak = float(np.max(np.abs(y))) + 1e-12
    y *= 10 ** (_u(rng, -6, -0.5) / 20) / peak
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _check_seed(seed):
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed}")
    return seed


def synthesize_track(
    genre: str, index: int, *, seconds: float = 30.0, seed: int = 0, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """Render one synthetic track of ``genre``.

    Parameters
    ----------
    genre : str
        One of :data:`GENRES`.
    index : int
        Track number within the genre (``>= 0``); different indexes are
        different pieces (tempo, key, progression, instruments, mix).
    seconds : float
        Duration; the result has ``round(seconds * sr)`` samples.
    seed : int
        Dataset seed (``>= 0``). The track's random generator is
        ``numpy.random.default_rng([seed, genre number, index])``, so the
        result depends on these three values only, never on which other
        tracks were rendered or in what order.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        1-D float32 signal in [-1, 1] (peak between -6 and -0.5 dBFS).

    Raises
    ------
    ValueError
        For an unknown genre, a negative index or seed, or a non-positive
        duration.
    """
    if genre not in GENRES:
        raise ValueError(f"unknown genre {genre!r}; expected one of {', '.join(GENRES)}")
    index, seed = int(index), _check_seed(seed)
    if index < 0:
        raise ValueError(f"index must be >= 0, not {index}")
    n = int(round(float(seconds) * sr))
    if n <= 0:
        raise ValueError(f"seconds must be positive, not {seconds}")
    rng = np.random.default_rng([seed, GENRES.index(genre), index])
    tempo = rng.uniform(*TEMPO_RANGES[genre])  # first draw: see track_tempo
    band, mix = _RENDER[genre](rng, sr, n, tempo)
    return _mix(band, mix, rng)


def track_tempo(genre: str, index: int, *, seed: int = 0) -> float:
    """The nominal tempo (BPM) of a track, without rendering it.

    Parameters
    ----------
    genre : str
        One of :data:`GENRES`.
    index : int
        Track number within the genre.
    seed : int
        Dataset seed.

    Returns
    -------
    float
        The first draw of the track's generator, uniform in
        ``TEMPO_RANGES[genre]``: the beat rate of the track (swung genres
        included). Classical tracks vary around it (rubato).
    """
    if genre not in GENRES:
        raise ValueError(f"unknown genre {genre!r}; expected one of {', '.join(GENRES)}")
    rng = np.random.default_rng([_check_seed(seed), GENRES.index(genre), int(index)])
    return float(rng.uniform(*TEMPO_RANGES[genre]))


def track_name(genre: str, index: int) -> str:
    """GTZAN's file name of a track.

    Parameters
    ----------
    genre : str
        The genre.
    index : int
        Track number within the genre.

    Returns
    -------
    str
        ``<genre>.<index:05d>.wav``, e.g. ``blues.00000.wav``.
    """
    return f"{genre}.{int(index):05d}.wav"


def _params(per_genre, seconds, seed, sr) -> dict:
    return {
        "generator": "genre_hpc.synth",
        "version": VERSION,
        "per_genre": int(per_genre),
        "seconds": float(seconds),
        "seed": int(seed),
        "sr": int(sr),
        "genres": list(GENRES),
    }


def write_dataset(
    out, *, per_genre: int = 10, seconds: float = 30.0, seed: int = 0, sr: int = SAMPLE_RATE, progress=None
) -> list[Path]:
    """Render a synthetic GTZAN-layout dataset into ``out``.

    Writes ``<out>/<genre>/<genre>.<index:05d>.wav`` (mono, ``sr`` Hz, 16-bit
    PCM) for every genre and ``index < per_genre``, each file atomically
    (temporary file in the same folder, then :func:`os.replace`), then a
    ``<out>/synth.json`` manifest with the parameters, the generator
    :data:`VERSION` and the file list. Existing files are overwritten; the
    same parameters always give the same bytes.

    Parameters
    ----------
    out : str or Path
        Destination folder (created if needed).
    per_genre : int
        Tracks per genre (``>= 1``).
    seconds : float
        Duration of each track.
    seed : int
        Dataset seed, see :func:`synthesize_track`.
    sr : int
        Sample rate of the files.
    progress : bool or callable, optional
        ``True`` shows a tqdm bar, ``False`` none, ``None`` (default) one when
        stderr is a terminal (as in :func:`genre_hpc.extract.extract_features`);
        a callable is called with ``1`` after each file (e.g. a tqdm bar's
        ``update``).

    Returns
    -------
    list of Path
        The written files, in genre then index order.
    """
    import soundfile as sf

    from .files import atomic_write

    per_genre = int(per_genre)
    if per_genre < 1:
        raise ValueError(f"per_genre must be >= 1, not {per_genre}")
    _check_seed(seed)
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress is None:
        progress = sys.stderr.isatty()
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=per_genre * len(GENRES), desc="synthesize", unit="track", leave=False)
        progress = bar.update
    paths = []
    try:
        for genre in GENRES:
            for i in range(per_genre):
                y = synthesize_track(genre, i, seconds=seconds, seed=seed, sr=sr)
                path = out / genre / track_name(genre, i)
                atomic_write(path, lambda tmp, y=y: sf.write(tmp, y, sr, subtype="PCM_16", format="WAV"))
                paths.append(path)
                if callable(progress):
                    progress(1)
    finally:
        if bar is not None:
            bar.close()
    manifest = _params(per_genre, seconds, seed, sr)
    manifest["files"] = [p.relative_to(out).as_posix() for p in paths]
    text = json.dumps(manifest, indent=2) + "\n"
    atomic_write(out / MANIFEST, lambda tmp: Path(tmp).write_text(text))
    return paths


def _manifest_ok(folder: Path, per_genre, seconds, seed, sr) -> bool:
    try:
        m = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    want = _params(per_genre, seconds, seed, sr)
    if any(m.get(k) != v for k, v in want.items()):
        return False
    return all((folder / f).is_file() for f in m.get("files", [None]))


def default_dataset(*, per_genre: int = 10, seconds: float = 30.0, seed: int = 0) -> Path:
    """The cached synthetic dataset for these parameters, rendered on first use.

    The folder is ``default_cache_dir() / "synth" /
    f"gtzan-synth-v{VERSION}-n{per_genre}-s{seconds:g}-seed{seed}"`` (see
    :func:`genre_hpc.files.default_cache_dir`; ``$GENRE_HPC_CACHE``
    overrides it). It is (re)generated with :func:`write_dataset` when its
    manifest is missing, does not match, or lists a missing file, and reused
    as is otherwise.

    Parameters
    ----------
    per_genre, seconds, seed
        As in :func:`write_dataset` (sample rate 22050 Hz).

    Returns
    -------
    Path
        The dataset folder, in GTZAN layout.
    """
    from .files import default_cache_dir

    _check_seed(seed)
    name = f"gtzan-synth-v{VERSION}-n{int(per_genre)}-s{float(seconds):g}-seed{int(seed)}"
    folder = default_cache_dir() / "synth" / name
    if not _manifest_ok(folder, per_genre, seconds, seed, SAMPLE_RATE):
        write_dataset(folder, per_genre=per_genre, seconds=seconds, seed=seed, sr=SAMPLE_RATE)
    return folder


__all__ = [
    "GENRES",
    "VERSION",
    "SAMPLE_RATE",
    "TEMPO_RANGES",
    "synthesize_track",
    "write_dataset",
    "default_dataset",
    "track_name",
    "track_tempo",
]
