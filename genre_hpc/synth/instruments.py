"""Pitched instruments: a harmonic-frame synthesiser (:class:`Voice`), spectra, and the band's voices.

A voice is a harmonic spectrum (``amps(f0, k)``) with optional per-harmonic
decay rates (``decays(f0, k)``) plus an envelope, vibrato, unison detune and an
attack noise. The ``*_spectrum`` functions build the spectra; the ``*_voice``
functions are the band's instruments (piano, organ, strings, guitars, basses,
singers), each drawing its per-track variation (and its note seed) from the
track's generator ``rng`` in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .constants import SAMPLE_RATE
from .dsp import apply_filter, fade_in
from .theory import midi_to_hz

#: vowel formants (Hz) and their bandwidths (Hz), for the voice-like timbres
VOWELS = {
    "a": ((730, 1090, 2440), (90, 110, 170)),
    "e": ((530, 1840, 2480), (70, 120, 170)),
    "i": ((300, 2250, 3000), (60, 120, 200)),
    "o": ((570, 840, 2410), (80, 100, 170)),
    "u": ((320, 870, 2240), (60, 100, 170)),
}


@dataclass
class Voice:
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
        """One note, cached per (pitch, length, glide).

        Parameters
        ----------
        midi : float
            Pitch as a (fractional) MIDI note.
        dur : float
            Held duration in seconds; the release is added after it.
        glide : float
            Slide into the pitch from ``glide`` semitones away (0: none).

        Returns
        -------
        numpy.ndarray
            ``round((dur + release) * sr)`` float64 samples. The noise and
            phases come from a generator seeded with the voice's ``seed`` and
            the note, so the same note is the same signal wherever it is played.
        """
        n = int(round((dur + self.release) * self.sr))
        key = (round(float(midi), 3), n, round(float(glide), 3))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        f0 = float(midi_to_hz(midi))
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
            nz = apply_filter(rng.standard_normal(m), sr, "bandpass", self.noise_band, 1)
            y[:m] += self.noise * nz * np.exp(-t[:m] / self.noise_decay)
        y = fade_in(y, sr, 1.0)
        self._cache[key] = y
        return y

    def _osc(self, f, f0, t, rng):
        """The oscillator at instantaneous frequency ``f``: a wavetable, or decaying frames (``decays``)."""
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


# spectra: (f0, k) -> amplitudes or decay rates of harmonics k = 1..K ---------


def saw_spectrum(roll=1.0):
    """Sawtooth-like: harmonic ``k`` at ``k ** -roll``."""
    return lambda f0, k: k**-roll


def square_spectrum(roll=1.0, even=0.15):
    """Square-like (reedy): odd harmonics, even ones scaled by ``even``."""
    return lambda f0, k: k**-roll * np.where(k % 2 == 0, even, 1.0)


def pluck_spectrum(position=0.15, roll=0.8):
    """A plucked string: the comb of the pluck ``position`` (near the bridge = nasal, twangy)."""
    return lambda f0, k: (np.abs(np.sin(np.pi * k * position)) + 0.05) * k**-roll


def string_decays(base=1.5, bright=3000.0, amount=10.0):
    """Decay rates (1/s) Karplus-Strong-like: the loss grows with the square of the harmonic's frequency."""
    return lambda f0, k: base + amount * (k * f0 / bright) ** 2


def formant_spectrum(vowel, roll=1.0, gain=(1.0, 0.6, 0.3)):
    """A sung vowel: harmonics shaped by the three formant resonances of ``VOWELS[vowel]``."""
    freqs, bws = VOWELS[vowel]

    def amps(f0, k):
        fk = k * f0
        res = sum(g / (1.0 + ((fk - F) / B) ** 2) for F, B, g in zip(freqs, bws, gain))
        return k**-roll * (0.08 + res)

    return amps


def drawbar_spectrum(weights):
    """An organ: the first ``len(weights)`` harmonics at the given drawbar weights, none above."""
    w = np.asarray(weights, float)

    def amps(f0, k):
        out = np.zeros(len(k))
        m = min(len(k), len(w))
        out[:m] = w[:m]
        return out

    return amps


# the band's instruments: each draws its variation and note seed from rng ------


def piano_voice(rng, sr, bright=1.0):
    """Acoustic piano: hammer-comb spectrum, struck-string decays (``bright`` > 1 keeps highs longer)."""
    return Voice(
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


def electric_piano_voice(rng, sr):
    """Electric piano (tine): a few harmonics with a bell-like 7th, fast decays."""

    def amps(f0, k):
        a = np.array([1.0, 0.35, 0.12, 0.05, 0.03, 0.02, 0.25, 0.02])
        out = np.zeros(len(k))
        out[: min(8, len(k))] = a[: len(k)]
        return out

    return Voice(
        amps,
        decays=lambda f0, k: 0.7 + 1.2 * k + 6.0 * (k == 7),
        attack=0.003,
        release=0.15,
        max_harm=8,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )


def organ_voice(rng, sr):
    """Drawbar organ with a slight vibrato; one of three registrations."""
    w = rng.choice(
        [
            [1.0, 0.8, 0.6, 0.5, 0, 0.3, 0, 0.25],
            [1.0, 0.0, 0.7, 0.0, 0.4, 0.0, 0.0, 0.3],
            [0.6, 1.0, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )
    return Voice(
        drawbar_spectrum(w),
        attack=0.008,
        release=0.04,
        vib_rate=6.5,
        vib_depth=0.002,
        max_harm=8,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )


def strings_voice(rng, sr, attack=0.25, bright=1.0, vib=0.004, detune=(3.0, 9.0)):
    """Bowed strings: a body resonance near 1.2 kHz, vibrato, two detuned unison voices (cents)."""
    return Voice(
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


def guitar_voice(rng, sr, position=0.18, bright=3000.0, base=1.2, roll=0.8):
    """Plucked guitar (pick noise, Karplus-Strong-like decays); a high ``base`` gives palm-muted chops."""
    return Voice(
        pluck_spectrum(position, roll),
        decays=string_decays(base, bright, 10.0),
        attack=0.0015,
        release=0.06,
        noise=0.05,
        noise_decay=0.003,
        max_harm=40,
        seed=int(rng.integers(1 << 30)),
        sr=sr,
    )


def bass_voice(rng, sr, kind="finger"):
    """A bass: ``kind`` is "finger" (default), "upright", "sub" (808), "synth" or "dub"."""
    s = int(rng.integers(1 << 30))
    if kind == "upright":
        return Voice(
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
        return Voice(
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
        return Voice(
            saw_spectrum(1.0),
            decays=lambda f0, k: 1.0 + 7.0 * (k * f0 / 900.0),
            attack=0.003,
            release=0.04,
            max_harm=30,
            seed=s,
            sr=sr,
        )
    if kind == "dub":
        return Voice(
            lambda f0, k: np.where(k == 1, 1.0, 0.2 / k**2),
            attack=0.01,
            release=0.08,
            max_harm=4,
            seed=s,
            sr=sr,
        )
    return Voice(
        lambda f0, k: k**-1.4,
        decays=lambda f0, k: 1.0 + 0.9 * k,
        attack=0.003,
        release=0.06,
        max_harm=20,
        seed=s,
        sr=sr,
    )


def singer_voice(rng, sr, vowel, vib=0.006, roll=1.0):
    """A voice singing ``vowel`` (one of ``VOWELS``) with vibrato depth ``vib`` and breath noise."""
    return Voice(
        formant_spectrum(vowel, roll),
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
