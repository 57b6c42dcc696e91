"""The reference extractor: the study's 87 features, computed with librosa.

Each feature is the mean over frames of a librosa feature of one trimmed 3 s
chunk, with sr=22050, n_fft=2048, hop_length=512 (librosa defaults otherwise).
This is the definition; other extractors (``fast``) are tested against it.
"""

from __future__ import annotations

import numpy as np

from ..audio import MIN_CHUNK_SAMPLES, TooShortAudio
from .schema import HOP_LENGTH, N_FFT, N_MFCC, SAMPLE_RATE, STUDY_87

NAME = "reference"
SCHEMA = STUDY_87


def check_chunk(y: np.ndarray, where="<chunk>") -> None:
    """Raise :class:`~genre_hpc.audio.TooShortAudio` for chunks too short for the features.

    Both extractors call this first, so they fail the same way on the same input.
    """
    if len(y) < MIN_CHUNK_SAMPLES:
        raise TooShortAudio(where, f"chunk of {len(y)} samples is shorter than {MIN_CHUNK_SAMPLES}")


def extract_chunk(y: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """Compute the 87 ``study-87`` features of one chunk.

    Parameters
    ----------
    y : numpy.ndarray
        Mono float32 signal, already trimmed, at ``sr``.
    sr : int
        Sample rate (22050).

    Returns
    -------
    dict
        ``{feature name: float}`` in schema order.

    Notes
    -----
    - ``zero_crossings_mean`` is the *sum* of ``librosa.zero_crossings(pad=False)``
      (the study's name, its definition).
    - ``spectrogram_mean`` / ``mel_spectrogram_mean``: the mean of row 0 of
      ``amplitude_to_db(S, ref=np.max)`` of ``|stft|`` / the mel spectrogram.
    - ``harmonics_mean`` / ``perceptual_shock_wave_mean``: the means of the
      waveforms of ``librosa.effects.hpss``.
    - ``spectral_flux_mean``: mean of ``onset.onset_strength``.
    - ``tempo_bpm``: ``beat.beat_track``'s tempo.
    """
    import librosa

    check_chunk(y)
    f: dict[str, float] = {}
    f["zero_crossing_rate_mean"] = librosa.feature.zero_crossing_rate(y).mean()
    f["zero_crossings_mean"] = np.sum(librosa.zero_crossings(y, pad=False))
    stft = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH))
    f["spectrogram_mean"] = librosa.amplitude_to_db(stft, ref=np.max)[0].mean()
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH)
    f["mel_spectrogram_mean"] = librosa.amplitude_to_db(mel, ref=np.max)[0].mean()
    y_harm, y_perc = librosa.effects.hpss(y)
    f["harmonics_mean"] = y_harm.mean()
    f["perceptual_shock_wave_mean"] = y_perc.mean()
    cent = librosa.feature.spectral_centroid(y=y, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH)[0]
    f["spectral_centroids_mean"] = cent.mean()
    f["spectral_centroids_delta_mean"] = librosa.feature.delta(cent).mean()
    f["spectral_centroids_accelerate_mean"] = librosa.feature.delta(cent, order=2).mean()
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH)
    for i in range(12):
        f[f"chroma{i + 1}_mean"] = chroma[i].mean()
    tempo, _ = librosa.beat.beat_track(y=y, sr=sr, hop_length=HOP_LENGTH)
    f["tempo_bpm"] = np.asarray(tempo).reshape(-1)[0]
    f["spectral_rolloff_mean"] = librosa.feature.spectral_rolloff(
        y=y, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH
    ).mean()
    f["spectral_flux_mean"] = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP_LENGTH).mean()
    for p in (2, 3, 4):
        f[f"spectral_bandwidth_{p}_mean"] = librosa.feature.spectral_bandwidth(
            y=y, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH, p=p
        ).mean()
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=N_MFCC, n_fft=N_FFT, hop_length=HOP_LENGTH)
    d1 = librosa.feature.delta(mfcc)
    d2 = librosa.feature.delta(mfcc, order=2)
    for i in range(N_MFCC):
        f[f"mfcc{i}_mean"] = mfcc[i].mean()
        f[f"mfcc_delta_{i}_mean"] = d1[i].mean()
        f[f"mfcc_accelerate_{i}_mean"] = d2[i].mean()
    return {k: float(f[k]) for k in SCHEMA.columns}
