"""Audio loading, validation and 3-second chunking.

Every track goes through :func:`load_audio` (decode, downmix to mono,
resample to 22050 Hz, float32) and :func:`split_chunks`. Problems become an
:class:`AudioError` subclass that names the file and the reason, so a caller
can record it as a failure and go on with the other tracks.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import numpy as np

SAMPLE_RATE = 22050
CHUNK_SECONDS = 3.0
#: samples in one chunk at the pipeline's sample rate (3 s * 22050 Hz)
CHUNK_SAMPLES = int(round(CHUNK_SECONDS * SAMPLE_RATE))
#: chunks whose trimmed signal is shorter than this cannot carry the features
#: (the 9-frame delta window needs at least 9 STFT frames); 0.25 s
MIN_CHUNK_SAMPLES = SAMPLE_RATE // 4
#: trim threshold in dB below the chunk's peak (librosa's default)
TRIM_TOP_DB = 60.0
#: a track whose peak magnitude is below this is "silent" (about -100 dBFS)
SILENCE_PEAK = 1e-5


class AudioError(Exception):
    """A track that cannot be turned into features; names the file and why."""

    kind = "audio-error"

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep path and reason across process boundaries
        return (type(self), (self.path, self.reason))


class UnreadableAudio(AudioError):
    """Corrupt, truncated, empty or non-audio file."""

    kind = "unreadable"


class TooShortAudio(AudioError):
    """Shorter than one chunk (or a chunk too short after trimming)."""

    kind = "too-short"


class SilentAudio(AudioError):
    """All samples (near) zero."""

    kind = "silent"


class NonFiniteAudio(AudioError):
    """NaN or infinite samples."""

    kind = "non-finite"


def missing_reason(path) -> str:
    """Why ``path`` is no file to read: ``no such file``, or ``a broken link (to <target>)`` for a
    symbolic link whose target is missing (a git-annex copy whose content was not fetched)."""
    path = Path(path)
    if path.is_symlink():
        try:
            return f"a broken link (to {os.readlink(path)})" if not path.exists() else "not a file"
        except OSError:
            pass
    return "not a file" if path.exists() else "no such file"


def load_audio(path, sr: int = SAMPLE_RATE, *, data: bytes | None = None) -> np.ndarray:
    """Decode ``path`` to mono float32 at ``sr`` Hz.

    Decoding uses soundfile, falling back to librosa's audioread path for
    formats soundfile cannot read (e.g. some mp3). Stereo is averaged to mono;
    other sample rates are resampled with librosa's default (soxr_hq).

    Parameters
    ----------
    path : str or Path
        The audio file (with ``data``: its name, for messages and its format's suffix).
    sr : int
        Target sample rate.
    data : bytes, optional
        The file's content, decoded instead of reading ``path`` (a worker without the
        dataset's filesystem): the same decoders on the same bytes, so the same samples, bit
        for bit (soundfile reads them from memory; the librosa fallback from a temporary
        copy with the file's suffix).

    Returns
    -------
    numpy.ndarray
        1-D float32 signal.

    Raises
    ------
    UnreadableAudio, SilentAudio, NonFiniteAudio
        Named by path, with the reason.
    """
    import soundfile as sf

    path = Path(path)
    if data is None:
        if not path.is_file():
            raise UnreadableAudio(path, missing_reason(path))
        if os.path.getsize(path) == 0:
            raise UnreadableAudio(path, "empty file (0 bytes)")
    elif len(data) == 0:
        raise UnreadableAudio(path, "empty file (0 bytes)")
    try:
        source = str(path) if data is None else io.BytesIO(data)
        with sf.SoundFile(source) as f:
            y, native_sr, log = f.read(dtype="float32", always_2d=True), f.samplerate, f.extra_info
        y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
        _check_not_truncated(path, log, len(y), native_sr)
    except UnreadableAudio:
        raise
    except Exception as exc:  # soundfile failed: try librosa's fallback decoders
        try:
            y, native_sr = _librosa_load(path, data)
        except Exception:
            raise UnreadableAudio(path, f"cannot decode audio ({type(exc).__name__}: {exc})") from None
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.size == 0:
        raise UnreadableAudio(path, "no audio samples")
    if not np.all(np.isfinite(y)):
        raise NonFiniteAudio(path, f"{int(np.sum(~np.isfinite(y)))} NaN/inf samples")
    if native_sr != sr:
        import librosa

        y = librosa.resample(y, orig_sr=native_sr, target_sr=sr).astype(np.float32, copy=False)
    if float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise SilentAudio(path, "all samples are silent")
    return y


#: libsndfile's log line of a WAV whose data chunk is longer than the file: declared (bytes held)
_DATA_LENGTH = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


#: a data length this large is a writer's "unknown" (0xFFFFFFFF, or near it), not a declaration
_UNKNOWN_LENGTH = 0xFFFFFF00
#: less audio missing than this is a header a few bytes off, not a cut file (seconds)
_TRUNCATION_S = 0.01


def _check_not_truncated(path, log: str, frames: int, sr: int) -> None:
    """A WAV cut short (its header declares more audio than the file holds: an interrupted copy
    or download) is reported, not read as a shorter track. libsndfile says so in its log."""
    m = _DATA_LENGTH.search(log or "")
    if not m:
        return
    declared, held_bytes = int(m[1]), int(m[2])
    if declared >= _UNKNOWN_LENGTH or held_bytes <= 0 or frames <= 0:
        return  # a streamed WAV (written to a pipe) leaves its length unknown: 0xFFFFFFFF
    held = frames / sr
    missing = held * (declared - held_bytes) / held_bytes
    if missing >= _TRUNCATION_S:  # a header a few bytes off (a pad byte) is not a cut
        raise UnreadableAudio(
            path,
            f"truncated: the header declares {held + missing:.2f} s of audio, the file holds {held:.2f} s",
        )


def _librosa_load(path: Path, data: bytes | None):
    """librosa's fallback decoders (audioread) on ``path``, or on a temporary copy of ``data``
    with the same suffix (they need a file name)."""
    import tempfile
    import warnings

    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if data is None:
            return librosa.load(str(path), sr=None, mono=True)
        with tempfile.TemporaryDirectory(prefix="genre-hpc-audio-") as tmp:
            copy = Path(tmp) / f"track{path.suffix}"
            copy.write_bytes(data)
            return librosa.load(str(copy), sr=None, mono=True)


def split_chunks(y: np.ndarray, path="<array>", chunk_samples: int = CHUNK_SAMPLES) -> list[np.ndarray]:
    """Cut ``y`` into consecutive, non-overlapping chunks of ``chunk_samples``.

    A final partial chunk (shorter than ``chunk_samples``) is dropped so that
    every chunk covers the same duration: a 30 s track gives 10 chunks, a
    29.99 s one gives 9. (The study's ``librosa.stream`` blocks were 3.3 s
    with a short tenth block; we prefer equal chunks.)

    Raises
    ------
    TooShortAudio
        When ``y`` is shorter than one chunk.
    """
    n = len(y) // chunk_samples
    if n == 0:
        raise TooShortAudio(
            path,
            f"{len(y) / SAMPLE_RATE:.2f} s is shorter than one {chunk_samples / SAMPLE_RATE:.1f} s chunk",
        )
    return [y[i * chunk_samples : (i + 1) * chunk_samples] for i in range(n)]


def trim_chunk(chunk: np.ndarray, top_db: float = TRIM_TOP_DB) -> np.ndarray:
    """Trim leading and trailing silence (``librosa.effects.trim``).

    The trimmed signal is what the features are computed on (the study
    computed it and then used the untrimmed chunk by mistake). Returns an
    empty array when the whole chunk is silent.
    """
    import librosa

    if float(np.max(np.abs(chunk))) < SILENCE_PEAK:
        return chunk[:0]
    trimmed, _ = librosa.effects.trim(chunk, top_db=top_db)
    return trimmed


def load_chunks(path, sr: int = SAMPLE_RATE, *, data: bytes | None = None) -> list[tuple[int, np.ndarray]]:
    """Load ``path`` (or its content ``data``, see :func:`load_audio`) and return its trimmed,
    usable chunks in order.

    Silent chunks and chunks shorter than :data:`MIN_CHUNK_SAMPLES` after
    trimming are skipped; indexes are not renumbered by the caller, so the
    return value is a list of ``(index, signal)`` pairs.

    Raises
    ------
    AudioError
        When the file fails to load, is shorter than one chunk, or no chunk
        survives trimming.
    """
    y = load_audio(path, sr, data=data)
    out = []
    for i, chunk in enumerate(split_chunks(y, path)):
        t = trim_chunk(chunk)
        if len(t) >= MIN_CHUNK_SAMPLES:
            out.append((i, t))
    if not out:
        raise SilentAudio(path, "no chunk has sound after trimming silence")
    return out


# --- a short real file for warm-ups -------------------------------------------------------

#: length of :func:`warm_signal`: two whole 3 s chunks and a remainder, like a real track's end
WARM_SECONDS = 6.5


def warm_signal(seconds: float = WARM_SECONDS, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A deterministic, music-like signal (a chord with harmonics, a beat every 0.5 s, a
    little noise), float32 in [-1, 1]: what the warm-ups feed the real per-track path."""
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    y = np.zeros(n)
    for f0 in (220.0, 277.18, 329.63):  # A3, C#4, E4
        for k in (1, 2, 3):
            y += np.sin(2 * np.pi * f0 * k * t) / (3.0 * k)
    beat = np.exp(-30.0 * (t % 0.5))
    y = 0.25 * y * (0.4 + 0.6 * beat) + 0.05 * beat * np.random.default_rng(0).standard_normal(n)
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


@contextlib.contextmanager
def warm_wav(seconds: float = WARM_SECONDS, sr: int = SAMPLE_RATE):
    """A temporary 16-bit PCM WAV file of :func:`warm_signal` (removed on exit); yields its path."""
    import tempfile

    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="genre-hpc-warm-") as tmp:
        path = Path(tmp) / "warm.wav"
        sf.write(str(path), warm_signal(seconds, sr), sr, subtype="PCM_16", format="WAV")
        yield path
