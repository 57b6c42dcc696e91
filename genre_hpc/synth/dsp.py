"""Signal helpers shared by instruments, drums and the mix: Butterworth filters, fades,
tanh drive and a noise-tail reverb impulse response.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import signal


@functools.lru_cache(maxsize=512)
def _butter_sos_cached(sr, kind, freq, order):
    return signal.butter(order, freq, btype=kind, fs=sr, output="sos")


def _butter_sos(sr, kind, freq, order=2):
    """Second-order sections of a Butterworth filter, cut-offs clamped below Nyquist, designed once."""
    nyq = sr / 2.0
    if np.ndim(freq):
        freq = tuple(min(float(f), 0.95 * nyq) for f in freq)
    else:
        freq = min(float(freq), 0.95 * nyq)
    return _butter_sos_cached(int(sr), kind, freq, int(order))


def apply_filter(x, sr, kind, freq, order=2):
    """Filter ``x`` with a Butterworth ``kind`` ("lowpass", "highpass", "bandpass": ``freq`` a pair) filter.

    Parameters
    ----------
    x : numpy.ndarray
        Signal.
    sr : int
        Sample rate in Hz.
    kind : str
        ``scipy.signal.butter`` ``btype``.
    freq : float or tuple of float
        Cut-off frequency (or band edges) in Hz, clamped to 0.95 x Nyquist.
    order : int
        Filter order.

    Returns
    -------
    numpy.ndarray
        The filtered signal (causal, same length).
    """
    return signal.sosfilt(_butter_sos(sr, kind, freq, order), x)


def fade_in(y, sr, ms=2.0):
    """Linear fade-in over the first ``ms`` ms of ``y``, in place (no click at the onset); returns ``y``."""
    k = min(len(y), max(1, int(sr * ms / 1000)))
    y[:k] *= np.linspace(0.0, 1.0, k)
    return y


def tanh_drive(x, amount):
    """tanh waveshaper on a bus normalised to unit RMS (so drive means the same everywhere)."""
    rms = float(np.sqrt(np.mean(x * x))) + 1e-12
    return np.tanh(amount * x / (3.0 * rms)) * (3.0 * rms)


def reverb_ir(rng, sr, rt60, predelay=0.015, damp=5000.0):
    """A reverb impulse response: exponentially decaying low-passed noise after a pre-delay, unit energy.

    ``rt60`` is the 60 dB decay time in seconds (the tail is cut at 2.2 s), ``predelay`` in
    seconds, ``damp`` the low-pass cut-off in Hz; draws from ``rng``.
    """
    n = int(sr * min(rt60, 2.2))
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir = apply_filter(ir, sr, "lowpass", damp, 1)
    ir = np.concatenate([np.zeros(int(predelay * sr)), ir])
    return ir / np.sqrt(np.sum(ir * ir))
