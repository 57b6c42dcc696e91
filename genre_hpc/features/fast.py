"""The fast extractor: the reference's 87 features, the same numbers, sooner.

:mod:`~genre_hpc.features.reference` calls librosa once per feature, which
recomputes the same STFT about a dozen times and runs ``librosa.effects.hpss``
(two 31-point median filters over the whole spectrogram and two inverse
STFTs) only to take the mean of each output. This module computes

- one STFT per chunk (librosa's own framing, window and FFT library, so the
  spectrogram is bit-for-bit librosa's), its magnitude ``S`` and power ``P``;
- every spectral feature from ``S``/``P`` with librosa's definitions, cached
  filter banks and librosa's dtypes and rounding points (numba kernels in
  :mod:`._fast_kernels` where librosa loops over the full spectrogram;
  the same numpy/scipy/BLAS calls where librosa uses them);
- ``harmonics_mean`` / ``perceptual_shock_wave_mean`` without separating the
  waveforms: the time-mean of ``istft(X)`` only depends on ``Re X[0]`` and
  ``Re X[1]`` of the frames where the window envelope is constant (a periodic
  Hann window has only three non-zero DFT bins) and on the full columns of
  the three frames at each end. So the median filters run for two bins over
  time, for those few frames over all bins, and two small irffts replace the
  two inverse STFTs;
- the tempo with ``librosa.beat.beat_track``'s estimator (``feature.tempo``
  of the median-aggregated onset envelope; the beat tracker itself does not
  change the tempo and is skipped);
- ``librosa.feature.delta`` (scipy's Savitzky-Golay filter) replayed
  operation by operation: ndimage's convolution in a numba kernel, the
  polynomial fits at the edges with the same LAPACK call, without the
  per-call overhead.

Every feature except the two HPSS means comes out bit-for-bit equal to the
reference's (the bandwidths p=3, 4 to the last bit or two); the HPSS means
are closer to an exact evaluation than the reference's own float32 result.

See ``docs/fast-extractor.md`` for the derivations, the measured agreement
and the speed-up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np

from . import reference
from .reference import check_chunk
from .schema import HOP_LENGTH, N_FFT, N_MFCC, SAMPLE_RATE, STUDY_87

NAME = "fast"
SCHEMA = STUDY_87

_KERNEL = 31  # librosa.effects.hpss default kernel_size
_DELTA_WIDTH = 9  # librosa.feature.delta default width
_ROLL_PERCENT = 0.85
_CHROMA_CACHE_SIZE = 32
_STFT_BLOCK = 32  # frames per FFT call

assert N_FFT == 4 * HOP_LENGTH, "the HPSS mean shortcut assumes hop = n_fft / 4"


class _Consts:
    """Filter banks and windows for one sample rate (built once, then reused)."""

    def __init__(self, sr: int):
        import librosa
        import scipy.fft

        self.sr = sr
        self.fft = librosa.get_fftlib()
        self.window = librosa.filters.get_window("hann", N_FFT, fftbins=True)  # float64
        self.win_sq = self.window**2
        self.freq = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
        # melspectrogram / mfcc / onset_strength all use the default (Slaney) mel bank
        self.mel_basis = librosa.filters.mel(sr=sr, n_fft=N_FFT)  # (n_mels, n_bins) float32
        # piptrack: fmin <= f < fmax
        fmin, fmax = 150.0, min(4000.0, float(sr) / 2)
        mask = (fmin <= self.freq) & (self.freq < fmax)
        idx = np.flatnonzero(mask)
        self.pip_lo, self.pip_hi = (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)
        # tempo (librosa.feature.tempo defaults, as called by beat_track)
        win = int(np.asarray(librosa.time_to_frames(8.0, sr=sr, hop_length=HOP_LENGTH)).item())
        self.ac_win_length = win
        self.ac_window = librosa.filters.get_window("hann", win, fftbins=True)[:, np.newaxis]
        self.ac_n_pad = scipy.fft.next_fast_len(2 * win - 1, real=True)
        bpms = librosa.tempo_frequencies(win, hop_length=HOP_LENGTH, sr=sr)
        with np.errstate(divide="ignore"):
            logprior = -0.5 * ((np.log2(bpms) - np.log2(120.0)) / 1.0) ** 2
        max_idx = int(np.argmax(bpms < 320.0))
        logprior[:max_idx] = -np.inf
        self.bpms = bpms
        self.logprior = logprior[:, np.newaxis]
        self._chroma: OrderedDict[float, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def chroma_fb(self, tuning: float) -> np.ndarray:
        """``librosa.filters.chroma(sr, n_fft, tuning=tuning)`` (a small LRU cache: tuning
        takes one of 100 values, most chunks of a track share one)."""
        with self._lock:
            fb = self._chroma.get(tuning)
            if fb is not None:
                self._chroma.move_to_end(tuning)
                return fb
        import librosa

        fb = librosa.filters.chroma(sr=self.sr, n_fft=N_FFT, tuning=tuning, n_chroma=12)
        with self._lock:
            self._chroma[tuning] = fb
            while len(self._chroma) > _CHROMA_CACHE_SIZE:
                self._chroma.popitem(last=False)
        return fb


@lru_cache(maxsize=4)
def _consts(sr: int) -> _Consts:
    return _Consts(sr)


class _DeltaFit:
    """``librosa.feature.delta(x, order)`` for 2-D ``x``, the way scipy computes it.

    ``savgol_filter(x, 9, deriv=order, polyorder=order, mode="interp")`` is a
    convolution (ndimage, float64 accumulation) in the interior and, for the
    first and last 4 frames, the ``order``-th derivative of a polynomial fitted
    to the first/last 9 frames by ``scipy.signal._polyutils.polyfit`` in the
    input's dtype (LAPACK ``?gelsd``). Both are replayed here with the same
    operations, so the result is scipy's to the bit; only the per-call
    overhead of ``savgol_filter`` / ``scipy.linalg.lstsq`` is gone.
    """

    def __init__(self, order: int, dtype, n_rhs: int):
        import scipy.signal
        from scipy.linalg.lapack import _compute_lwork, get_lapack_funcs

        self.order = order
        self.dtype = np.dtype(dtype)
        coeffs = scipy.signal.savgol_coeffs(_DELTA_WIDTH, order, deriv=order)
        fw = np.ascontiguousarray(coeffs[::-1])  # convolve1d = correlate1d with reversed weights
        h = _DELTA_WIDTH // 2
        eps = np.finfo(np.float64).eps
        if all(abs(fw[h + i] - fw[h - i]) <= eps for i in range(1, h + 1)):
            self.symmetric = 1
        elif all(abs(fw[h + i] + fw[h - i]) <= eps for i in range(1, h + 1)):
            self.symmetric = -1
        else:
            self.symmetric = 0
        self.fw = fw
        # scipy.signal._polyutils.polyfit(arange(9, dtype), y, order)
        x = np.arange(0, _DELTA_WIDTH, dtype=self.dtype)
        powers = np.flip(np.arange(order + 1, dtype=self.dtype))
        lhs = x[:, None] ** powers[None, :]
        self.scale = np.sqrt(np.sum(lhs * lhs, axis=0))
        lhs /= self.scale
        self.lhs = lhs
        self.rcond = x.shape[0] * np.finfo(self.dtype).eps
        b = np.zeros((_DELTA_WIDTH, n_rhs), dtype=self.dtype)
        self.gelsd, gelsd_lwork = get_lapack_funcs(("gelsd", "gelsd_lwork"), (lhs, b))
        self.lwork, self.iwork = _compute_lwork(gelsd_lwork, _DELTA_WIDTH, order + 1, n_rhs, self.rcond)
        # _polyder: the order-th derivative of the fitted polynomial of degree order is c[0] * order!
        self.factors = [np.arange(order - k, -k, -1, dtype=self.dtype)[:1] for k in range(order)]

    def _edge(self, block: np.ndarray) -> np.ndarray:
        c, _, _, info = self.gelsd(self.lhs, block, self.lwork, self.iwork, self.rcond, False, False)
        if info != 0:  # pragma: no cover - scipy would raise too
            raise np.linalg.LinAlgError("SVD did not converge in Linear Least Squares")
        c = c[: self.order + 1]
        c = (c.T / self.scale).T
        dp = c[:1].copy()
        for f in self.factors:
            dp *= f
        return dp[0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = _kernels().savgol_interior(x, self.fw, self.symmetric)
        n = x.shape[-1]
        h = _DELTA_WIDTH // 2
        y[:, :h] = self._edge(x[:, :_DELTA_WIDTH].T)[:, None]
        y[:, n - h :] = self._edge(x[:, n - _DELTA_WIDTH :].T)[:, None]
        return y


@lru_cache(maxsize=16)
def _delta_fit(order: int, dtype: str, n_rhs: int) -> _DeltaFit:
    return _DeltaFit(order, dtype, n_rhs)


def _delta(x: np.ndarray, order: int) -> np.ndarray:
    """``librosa.feature.delta(x, order=order)`` (width 9, last axis) of a 2-D array."""
    return _delta_fit(order, x.dtype.str, x.shape[0])(x)


def _kernels():
    from . import _fast_kernels

    return _fast_kernels


def _fast_path(y) -> bool:
    """The fast path handles what the pipeline feeds it: 1-D float32 arrays."""
    return isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype == np.float32


def _check_finite(y: np.ndarray) -> None:
    # librosa.util.valid_audio's check, raising the same error as the reference
    if not np.isfinite(y).all():
        from librosa.util.exceptions import ParameterError

        raise ParameterError("Audio buffer is not finite everywhere")


def _stft(y: np.ndarray, c: _Consts) -> np.ndarray:
    """``librosa.stft(y).T``: complex64, frame-major, bit-for-bit librosa's.

    librosa windows float32 frames with a float64 window, transforms in
    float64 and stores complex64; so does this, in blocks of frames that
    keep the temporaries in cache (each frame's transform is independent).
    """
    n = y.shape[0]
    half = N_FFT // 2
    yp = np.zeros(n + 2 * half, dtype=y.dtype)
    yp[half : half + n] = y
    frames = np.lib.stride_tricks.sliding_window_view(yp, N_FFT)[::HOP_LENGTH]
    n_frames = frames.shape[0]
    D = np.empty((n_frames, N_FFT // 2 + 1), dtype=np.complex64)
    x = np.empty((_STFT_BLOCK, N_FFT))
    for b in range(0, n_frames, _STFT_BLOCK):
        m = min(_STFT_BLOCK, n_frames - b)
        np.multiply(frames[b : b + m], c.window, out=x[:m])
        # transform along the strided axis: pocketfft's vectorised path (the same bits, faster)
        D[b : b + m].T[...] = c.fft.rfft(x[:m].T, axis=0)
    return D


def _db_row0_mean(row: np.ndarray, full_max: np.float32) -> float:
    """``amplitude_to_db(X, ref=np.max)[0].mean()`` given row 0 of ``X`` and ``X.max()``."""
    amin = 1e-05**2  # amplitude_to_db: power_to_db(..., amin=amin**2)
    power = np.square(row)
    ref_power = full_max**2
    ref_db = 10.0 * np.log10(np.maximum(amin, ref_power))
    log_spec = 10.0 * np.log10(np.maximum(amin, power))
    log_spec -= ref_db
    top = 10.0 * np.log10(np.maximum(amin, np.square(np.array([full_max]))))
    top -= ref_db
    log_spec = np.maximum(log_spec, top[0] - 80.0)
    return log_spec.mean()


def _tempo(env: np.ndarray, c: _Consts) -> float:
    """``librosa.beat.beat_track(onset_envelope=env)[0]`` (``feature.tempo``)."""
    import librosa

    if not env.any():
        return 0.0
    n = env.shape[-1]
    win = c.ac_win_length
    odf = np.pad(env, [(win // 2, win // 2)], mode="linear_ramp", end_values=[0, 0])
    frames = librosa.util.frame(odf, frame_length=win, hop_length=1)[..., :n]
    x = frames * c.ac_window
    powspec = librosa.util.abs2(c.fft.rfft(x, n=c.ac_n_pad, axis=-2))
    ac = c.fft.irfft(powspec, n=c.ac_n_pad, axis=-2)[:win]
    length = np.max(np.abs(ac), axis=-2, keepdims=True)
    length[length < np.finfo(ac.dtype).tiny] = 1.0
    tg = np.mean(ac / length, axis=-1, keepdims=True)
    best = np.argmax(np.log1p(1e6 * tg) + c.logprior, axis=-2)
    return float(c.bpms[best[0]])


def _tuning(P: np.ndarray, c: _Consts) -> float:
    """``librosa.estimate_tuning(S=P, sr=sr, bins_per_octave=12)`` (as in ``chroma_stft``)."""
    import librosa

    pitches, mags = _kernels().pip_peaks(P, c.pip_lo, c.pip_hi, float(c.sr), N_FFT, np.float32(0.1))
    keep = pitches > 0
    threshold = np.median(mags[keep]) if keep.any() else 0.0
    return librosa.pitch_tuning(pitches[(mags >= threshold) & keep], resolution=0.01, bins_per_octave=12)


@lru_cache(maxsize=64)
def _hpss_layout(n_frames: int):
    """Edge frames, and the reflected time windows of their runs (see ``hpss_parts``).

    A frame is interior when its whole support lies where the window
    sum-square envelope of ``istft`` is the constant 1.5 (all four
    overlapping frames present) and inside the output; those are frames
    ``3 .. n_frames - 4`` for ``n_fft = 4 * hop``.
    """
    t = np.arange(n_frames)
    interior = (t * HOP_LENGTH >= N_FFT - HOP_LENGTH) & (t * HOP_LENGTH + N_FFT <= n_frames * HOP_LENGTH)
    edge = np.flatnonzero(~interior).astype(np.int64)
    half = _KERNEL // 2

    def reflect(i):  # scipy.ndimage mode="reflect"
        m = i % (2 * n_frames)
        return 2 * n_frames - 1 - m if m >= n_frames else m

    runs = np.split(edge, np.flatnonzero(np.diff(edge) != 1) + 1)
    frames_per_run, weights = [], []
    for run in runs:
        windows = [[reflect(int(r) + j - half) for j in range(_KERNEL)] for r in run]
        frames = sorted({f for w in windows for f in w})
        pos = {f: q for q, f in enumerate(frames)}
        for w in windows:
            row = np.zeros(len(frames), dtype=np.int64)
            for f in w:
                row[pos[f]] += 1
            weights.append(row)
        frames_per_run.append(frames)
    width = max(len(f) for f in frames_per_run)
    assert width <= 64  # _median_time_weighted packs the index in 6 bits
    run_frames = np.zeros((len(runs), width), dtype=np.int64)
    run_weights = np.zeros((len(edge), width), dtype=np.int64)
    for r, frames in enumerate(frames_per_run):
        run_frames[r, : len(frames)] = frames
    for e, row in enumerate(weights):
        run_weights[e, : len(row)] = row
    run_len = np.array([len(r) for r in runs], dtype=np.int64)
    run_nf = np.array([len(f) for f in frames_per_run], dtype=np.int64)
    return edge, run_len, run_frames, run_nf, run_weights


def _hpss_means(S: np.ndarray, D: np.ndarray, n: int, c: _Consts) -> tuple[float, float]:
    """``[m.mean() for m in librosa.effects.hpss(y)]`` without the waveforms."""
    k = _kernels()
    n_frames = S.shape[0]
    layout = _hpss_layout(n_frames)
    edge = layout[0]
    acc_h, acc_p, hh_re, hh_im, hp_re, hp_im = k.hpss_parts(S, D.real, D.imag, _KERNEL, *layout)
    v = k.istft_weights(c.window, c.win_sq, HOP_LENGTH, n_frames, n, edge)
    cols = np.empty((2 * len(edge), S.shape[1]), dtype=np.complex64)
    m = len(edge)
    cols.real[:m] = hh_re
    cols.imag[:m] = hh_im
    cols.real[m:] = hp_re
    cols.imag[m:] = hp_im
    x = c.fft.irfft(cols, n=N_FFT, axis=-1)  # float32, like librosa.istft
    edge_h = float(np.sum(v * x[:m]))
    edge_p = float(np.sum(v * x[m:]))
    # interior frames: sum(w * irfft(X)) = (Re X0 - Re X1) / 2 for the periodic Hann
    # window, over the constant envelope sum(w**2) = 1.5 of hop = n_fft / 4
    scale = 0.5 / 1.5
    return (acc_h * scale + edge_h) / n, (acc_p * scale + edge_p) / n


def _extract(y: np.ndarray, sr: int) -> dict[str, float]:
    k = _kernels()
    c = _consts(sr)
    _check_finite(y)
    n = y.shape[0]
    f: dict[str, float] = {}

    zcr, zc = k.zero_crossing_stats(y, np.float32(1e-10), N_FFT, HOP_LENGTH)
    f["zero_crossing_rate_mean"] = zcr
    f["zero_crossings_mean"] = zc

    D = _stft(y, c)  # (frames, bins) complex64
    S = np.abs(D)  # float32
    P = np.square(S)
    n_frames = S.shape[0]

    f["spectrogram_mean"] = _db_row0_mean(S[:, 0], S.max())

    # mel power spectrogram: einsum("...ft,mf->...mt", P.T, mel_basis, optimize=True)
    # is this sgemm (same operands, same order, same layouts: the same bits)
    mel = np.dot(c.mel_basis, P.T)  # (mels, frames), C order
    f["mel_spectrogram_mean"] = _db_row0_mean(mel[0], mel.max())
    S_db = 10.0 * np.log10(np.maximum(1e-10, mel))
    S_db -= 10.0 * np.log10(np.maximum(1e-10, 1.0))
    S_db = np.maximum(S_db, S_db.max() - 80.0)

    h_mean, p_mean = _hpss_means(S, D, n, c)
    f["harmonics_mean"] = h_mean
    f["perceptual_shock_wave_mean"] = p_mean

    cent, bw2, bw3, bw4, roll = k.spectral_shape(S, c.freq, np.float32(_ROLL_PERCENT))
    f["spectral_centroids_mean"] = cent.mean()
    f["spectral_centroids_delta_mean"] = _delta(cent[np.newaxis], 1).mean()
    f["spectral_centroids_accelerate_mean"] = _delta(cent[np.newaxis], 2).mean()

    fb = c.chroma_fb(_tuning(P, c))
    # einsum("cf,...ft->...ct", fb, P.T, optimize=True) is this sgemm, transposed
    raw = np.dot(P, fb.T).T  # (12, frames) float32
    length = np.max(np.abs(raw).astype(float), axis=-2, keepdims=True)
    length[length < np.finfo(np.float32).tiny] = 1.0
    chroma = np.empty((12, n_frames), dtype=np.float32)  # C order: rows reduce pairwise
    chroma[:] = raw / length
    chroma_means = chroma.mean(axis=-1)
    for i in range(12):
        f[f"chroma{i + 1}_mean"] = chroma_means[i]

    # onset strength: spectral flux (mean over bands) and the tempo's envelope (median)
    diff = np.maximum(0.0, S_db[..., 1:] - S_db[..., :-1])
    lag_pad = 1 + N_FFT // (2 * HOP_LENGTH)
    flux = np.zeros(n_frames, dtype=np.float32)
    flux[lag_pad:] = np.mean(diff, axis=-2)[: n_frames - lag_pad]
    env = np.zeros(n_frames, dtype=np.float32)
    env[lag_pad:] = np.median(diff, axis=-2)[: n_frames - lag_pad]
    f["tempo_bpm"] = _tempo(env, c)
    f["spectral_rolloff_mean"] = roll.mean()
    f["spectral_flux_mean"] = flux.mean()
    f["spectral_bandwidth_2_mean"] = bw2.mean()
    f["spectral_bandwidth_3_mean"] = bw3.mean()
    f["spectral_bandwidth_4_mean"] = bw4.mean()

    mfcc = np.ascontiguousarray(c.fft.dct(S_db, axis=-2, type=2, norm="ortho")[:N_MFCC])
    mfcc_means = mfcc.mean(axis=-1)
    d1 = _delta(mfcc, 1).mean(axis=-1)
    d2 = _delta(mfcc, 2).mean(axis=-1)
    for i in range(N_MFCC):
        f[f"mfcc{i}_mean"] = mfcc_means[i]
        f[f"mfcc_delta_{i}_mean"] = d1[i]
        f[f"mfcc_accelerate_{i}_mean"] = d2[i]
    return {name: float(f[name]) for name in SCHEMA.columns}


def extract_chunk(y: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """Compute the 87 ``study-87`` features of one chunk (as :func:`reference.extract_chunk`).

    Parameters
    ----------
    y : numpy.ndarray
        Mono float32 signal, already trimmed, at ``sr``. Other inputs
        (float64, multi-channel) are passed to the reference extractor.
    sr : int
        Sample rate (22050).

    Returns
    -------
    dict
        ``{feature name: float}`` in schema order.

    Raises
    ------
    TooShortAudio
        For chunks shorter than :data:`~genre_hpc.audio.MIN_CHUNK_SAMPLES`.
    librosa.util.exceptions.ParameterError
        For non-finite samples (as the reference).
    """
    check_chunk(y)
    if not _fast_path(y):
        return reference.extract_chunk(y, sr)
    return _extract(y, sr)


def extract_chunks(ys, sr: int = SAMPLE_RATE) -> list[dict[str, float]]:
    """:func:`extract_chunk` over a list of chunks (same results, in order)."""
    return [extract_chunk(y, sr) for y in ys]
