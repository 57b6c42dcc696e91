"""The mix and the "recording": bus levels and effects, reverb, band limits, compression, hiss, level."""

from __future__ import annotations

import numpy as np
from scipy import signal

from .arrangement import uniform
from .dsp import apply_filter, reverb_ir


def mix_down(band, mix, rng):
    """Mix the band's buses into the finished track.

    Each bus goes through its ``post`` effect, is normalised and scaled by its
    genre level times a log-normal per-track factor; the ``send`` share goes
    to a noise-tail reverb. The sum is then "recorded": low-pass and
    high-pass, tanh soft-clip compression (``comp``), a hiss floor and a peak
    level between -6 and -0.5 dBFS.

    Parameters
    ----------
    band : Band
        The arranged track (its buses, sample rate and length).
    mix : dict
        The genre's mix settings (see :mod:`genre_hpc.synth.genres`).
    rng : numpy.random.Generator
        The track's generator, after the arrangement's draws.

    Returns
    -------
    numpy.ndarray
        float32 samples in [-1, 1].
    """
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
        ir = reverb_ir(rng, sr, mix.get("rt60", 1.0), uniform(rng, 0.005, 0.03), uniform(rng, 3000, 7000))
        dry += signal.oaconvolve(send, ir)[:n] * uniform(rng, 0.6, 1.2)
    # the "recording": band limits, compression, noise floor, level
    y = apply_filter(dry, sr, "lowpass", mix.get("lowpass", 9000) * float(np.exp(rng.normal(0, 0.1))), 2)
    y = apply_filter(y, sr, "highpass", uniform(rng, 25, 70), 1)
    y /= float(np.sqrt(np.mean(y * y))) + 1e-12
    c = mix.get("comp", 1.0)
    y = np.tanh(c * y / 3.0) / c  # soft-clip compression: louder genres are squashed more
    hiss = rng.standard_normal(n) * 10 ** (uniform(rng, -65, -42) / 20) * float(np.max(np.abs(y)))
    y += apply_filter(hiss, sr, "highpass", 1000, 1) + 0.3 * apply_filter(hiss, sr, "lowpass", 300, 1)
    peak = float(np.max(np.abs(y))) + 1e-12
    y *= 10 ** (uniform(rng, -6, -0.5) / 20) / peak
    return np.clip(y, -1.0, 1.0).astype(np.float32)
