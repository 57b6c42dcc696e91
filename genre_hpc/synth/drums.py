"""Drums: one-shot samples (kick, snare, clap, rim, cymbals, brush, shaker) and per-track kits.

Each ``*_sample`` function returns one hit as a float64 array normalised to a
peak of 1 (kicks: the sine sweep's own level), drawing its noise from the
track's generator ``rng``; :func:`drum_kit` tunes a whole kit for one track.
"""

from __future__ import annotations

import numpy as np

from .dsp import apply_filter, fade_in


def kick_sample(rng, sr, f_hi=150.0, f_lo=50.0, sweep=0.04, decay=0.25, click=0.3, drive=0.0):
    """Kick (and tom): a sine sweeping from ``f_hi`` to ``f_lo`` Hz, a noise click, tanh ``drive``."""
    n = int(sr * min(2.5, decay * 6 + 0.05))
    t = np.arange(n) / sr
    f = f_lo + (f_hi - f_lo) * np.exp(-t / sweep)
    y = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / decay)
    m = min(n, int(0.01 * sr))
    y[:m] += click * apply_filter(rng.standard_normal(m), sr, "highpass", 1500) * np.exp(-t[:m] / 0.0015)
    if drive:
        y = np.tanh(drive * y) / np.tanh(drive)
    return fade_in(y, sr, 0.5)


def snare_sample(rng, sr, tone=190.0, tone_decay=0.05, noise_decay=0.14, band=(1200.0, 8000.0), snap=0.8):
    """Snare: two drum-head partials plus band-passed noise (the wires, level ``snap``)."""
    n = int(sr * noise_decay * 6)
    t = np.arange(n) / sr
    body = (np.sin(2 * np.pi * tone * t) + 0.5 * np.sin(2 * np.pi * tone * 1.65 * t)) * np.exp(
        -t / tone_decay
    )
    nz = apply_filter(rng.standard_normal(n), sr, "bandpass", band, 2) * np.exp(-t / noise_decay)
    y = 0.6 * body + snap * 2.0 * nz
    return fade_in(y / np.abs(y).max(), sr, 0.3)


def clap_sample(rng, sr, band=(900.0, 3500.0), decay=0.12):
    """Hand clap: band-passed noise with three quick bursts before the tail."""
    n = int(sr * decay * 6)
    t = np.arange(n) / sr
    env = np.exp(-t / decay)
    for d in (0.0, 0.011, 0.022):
        i = int(d * sr)
        env[i:] += 1.5 * np.exp(-(t[: n - i]) / 0.004)
    y = apply_filter(rng.standard_normal(n), sr, "bandpass", band, 2) * env
    return fade_in(y / np.abs(y).max(), sr, 0.3)


def rim_sample(rng, sr, tone=520.0, decay=0.018):
    """Rim click (cross-stick): two short inharmonic partials and a noise tick."""
    n = int(sr * 0.12)
    t = np.arange(n) / sr
    y = np.sin(2 * np.pi * tone * t) * np.exp(-t / decay)
    y += 0.8 * np.sin(2 * np.pi * tone * 2.3 * t) * np.exp(-t / (decay * 0.6))
    y += 0.4 * apply_filter(rng.standard_normal(n), sr, "highpass", 2500) * np.exp(-t / 0.006)
    return fade_in(y / np.abs(y).max(), sr, 0.2)


#: the six square-wave oscillators of the TR-808 cymbal circuit (Hz)
CYMBAL_OSCILLATORS_HZ = np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0])


def cymbal_sample(rng, sr, decay, hp=6000.0, tone=1.0, noise=1.0, scale=1.0, n_s=None):
    """Metallic cymbal (closed / open hat, crash): 808-style detuned square oscillators plus noise.

    Parameters
    ----------
    rng : numpy.random.Generator
        The track's generator (oscillator detune and phases, noise).
    sr : int
        Sample rate in Hz.
    decay : float
        Exponential decay time in seconds.
    hp : float
        High-pass cut-off in Hz.
    tone, noise : float
        Levels of the oscillator bank and of the white noise.
    scale : float
        Factor on the oscillator frequencies (crashes and rides: higher, washier).
    n_s : int, optional
        Length in samples (default: from ``decay``, at most 3 s).

    Returns
    -------
    numpy.ndarray
        The hit, peak-normalised.
    """
    n = n_s or int(sr * min(3.0, decay * 5 + 0.02))
    t = np.arange(n) / sr
    sq = np.sign(
        np.sin(
            2 * np.pi * np.outer(CYMBAL_OSCILLATORS_HZ * scale * rng.uniform(0.97, 1.03, 6), t)
            + rng.uniform(0, 6.3, (6, 1))
        )
    ).sum(axis=0)
    y = tone * 0.3 * sq + noise * rng.standard_normal(n)
    y = apply_filter(y, sr, "highpass", hp, 2) * np.exp(-t / decay)
    return fade_in(y / (np.abs(y).max() + 1e-12), sr, 0.3)


def ride_sample(rng, sr, decay=1.2, bell=0.5):
    """Ride cymbal: a cymbal wash plus a pinging bell (level ``bell``) and a stick tick."""
    n = int(sr * min(2.5, decay * 3))
    t = np.arange(n) / sr
    wash = cymbal_sample(rng, sr, decay, hp=3000.0, tone=0.4, noise=1.0, scale=rng.uniform(2.0, 3.5), n_s=n)
    partials = rng.uniform(0.95, 1.05) * np.array([410.0, 612.0, 895.0, 1340.0])
    ping = (
        np.sin(2 * np.pi * np.outer(partials, t) + rng.uniform(0, 6.3, (4, 1))) * np.exp(-t / (0.12 * decay))
    ).sum(axis=0)
    y = wash + bell * 0.25 * ping
    y[: int(0.004 * sr)] += 0.5 * rng.standard_normal(int(0.004 * sr))
    return fade_in(y / np.abs(y).max(), sr, 0.3)


def brush_sample(rng, sr, length=0.16):
    """Brush sweep on a snare: soft-attack band-passed noise of ``length`` seconds."""
    n = int(sr * length)
    t = np.arange(n) / sr
    env = np.clip(t / 0.02, 0, 1) * np.exp(-t / (length / 3))
    y = apply_filter(rng.standard_normal(n), sr, "bandpass", (1800.0, 7000.0), 1) * env
    return fade_in(y / np.abs(y).max(), sr, 1.0)


def shaker_sample(rng, sr, length=0.07):
    """Shaker: short high-passed noise."""
    n = int(sr * length)
    t = np.arange(n) / sr
    env = np.clip(t / 0.012, 0, 1) * np.exp(-t / (length / 4))
    y = apply_filter(rng.standard_normal(n), sr, "highpass", 6000, 2) * env
    return fade_in(y / np.abs(y).max(), sr, 1.0)


def drum_kit(rng, sr, style):
    """A drum kit for one track: one-shot samples with per-track random tuning.

    Parameters
    ----------
    rng : numpy.random.Generator
        The track's generator; the kit draws from it in a fixed order.
    sr : int
        Sample rate in Hz.
    style : str
        "808" (long, driven sub kick), "metal" (tight clicky kick, long snare),
        "jazz" (small kick, high snare) or anything else (acoustic / disco / pop).

    Returns
    -------
    dict of str to numpy.ndarray
        "kick", "snare", "clap", "rim", "hat", "ohat" (open hat), "crash", "ride",
        "brush", "shaker", "tomh" and "toml" (high and low tom).
    """
    u = rng.uniform
    if style == "808":
        kick = kick_sample(
            rng, sr, u(110, 160), u(42, 55), u(0.03, 0.06), u(0.35, 0.8), u(0.05, 0.3), drive=u(1.0, 2.5)
        )
    elif style == "metal":
        kick = kick_sample(rng, sr, u(160, 240), u(50, 65), u(0.015, 0.03), u(0.08, 0.16), u(0.8, 1.4))
    elif style == "jazz":
        kick = kick_sample(rng, sr, u(90, 120), u(55, 75), u(0.03, 0.06), u(0.12, 0.25), u(0.05, 0.2))
    else:  # acoustic / disco / pop
        kick = kick_sample(rng, sr, u(120, 190), u(45, 62), u(0.025, 0.05), u(0.14, 0.3), u(0.2, 0.7))
    snare_tone = u(170, 240) if style != "jazz" else u(220, 300)
    kit = {
        "kick": kick,
        "snare": snare_sample(
            rng,
            sr,
            snare_tone,
            u(0.03, 0.07),
            u(0.08, 0.2) if style != "metal" else u(0.12, 0.22),
            (u(900, 1800), u(6000, 9500)),
            u(0.6, 1.2),
        ),
        "clap": clap_sample(rng, sr, (u(800, 1200), u(2800, 4500)), u(0.08, 0.16)),
        "rim": rim_sample(rng, sr, u(420, 650), u(0.012, 0.025)),
        "hat": cymbal_sample(rng, sr, u(0.025, 0.06), u(6000, 8500), u(0.5, 1.2)),
        "ohat": cymbal_sample(rng, sr, u(0.18, 0.4), u(5500, 8000), u(0.5, 1.2)),
        "crash": cymbal_sample(rng, sr, u(0.9, 1.6), u(3500, 5500), u(0.2, 0.6), scale=u(1.5, 2.5)),
        "ride": ride_sample(rng, sr, u(0.8, 1.6), u(0.3, 0.8)),
        "brush": brush_sample(rng, sr, u(0.12, 0.22)),
        "shaker": shaker_sample(rng, sr, u(0.05, 0.09)),
    }
    kit["tomh"] = kick_sample(rng, sr, u(260, 320), u(180, 220), 0.05, u(0.15, 0.25), 0.2)
    kit["toml"] = kick_sample(rng, sr, u(160, 200), u(100, 130), 0.05, u(0.2, 0.3), 0.2)
    return kit
