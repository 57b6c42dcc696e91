"""Mel-spectrogram images: one log-mel array (``.npy``) and one PNG per track.

The flow is ``Track -> load_audio -> log_mel -> <out>/<genre>/<stem>.npy + .png``.
:func:`image_track` is a picklable top-level function mapped over tracks by
any backend of :mod:`genre_hpc.backends`; a bad file becomes a
:class:`~genre_hpc.extract.Failure` record (path + reason), never an
exception that stops the other tracks.

Choices (see ``docs/images-cnn.md``):

- **one image per track**, at native resolution: ``n_mels`` rows (128, low
  frequencies in row 0 of the array) by one column per STFT frame (1292 for
  a 30 s track). The CNN cuts it into 3 s windows (129 frames) and votes per
  track; ``image_size=`` instead stores a square thumbnail of the whole
  track, the study's way.
- **values**: ``power_to_db(mel power, ref=max, top_db=80)``, float32, so
  every image lies in [-80, 0] dB relative to its track's peak.
- **the spectrogram** is librosa's ``melspectrogram`` (Hann window, n_fft
  2048, hop 512, centred with zero padding, librosa's Slaney mel filters)
  computed with ``scipy.fft`` in float32 and a sparse filter product: the
  same numbers as ``librosa.feature.melspectrogram`` to ~1e-6 relative, a
  few times faster, and without BLAS threads (so outputs are bit-identical
  on every backend and thread count).
- **the PNG** is written straight from the array (no matplotlib figure): a
  fixed [-80, 0] dB range mapped to 256 levels, stored as a palette PNG
  whose palette is matplotlib's ``magma`` (librosa ``specshow``'s default),
  high frequencies at the top. Pillow palette PNG at compression level 1
  was measured fastest (~4 ms for 128x1292 vs ~18 ms for RGB Pillow and
  ~55-70 ms for ``matplotlib.image.imsave``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .audio import CHUNK_SAMPLES, SAMPLE_RATE, AudioError, TooShortAudio, load_audio
from .dataset import Track, discover
from .extract import Failure
from .files import atomic_write, orphans_swept_on_error
from .sendfiles import unreachable

#: bump when the image procedure or file format changes
IMAGES_VERSION = "1"
N_FFT = 2048
HOP_LENGTH = 512
N_MELS = 128
#: dynamic range kept below each track's peak (librosa's default top_db)
TOP_DB = 80.0
#: colormap of the PNG (librosa specshow's default for dB data)
CMAP = "magma"
#: PNG zlib level: 1 is ~2x faster than the default 6 for 3 % larger files
PNG_COMPRESS_LEVEL = 1
#: the folder's description, written by :func:`make_images`
MANIFEST = "images.json"


class ImageFileError(ValueError):
    """An image file that cannot be read as this pipeline's image; names the file and why."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


# --- the spectrogram ----------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int):
    """librosa's mel filter bank as a float32 CSR matrix (cached per process)."""
    import librosa
    import scipy.sparse

    fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, dtype=np.float32)
    return scipy.sparse.csr_matrix(fb)


@functools.lru_cache(maxsize=8)
def _window(n_fft: int) -> np.ndarray:
    import scipy.signal

    return scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)


#: frames per FFT block in :func:`mel_power`
_BLOCK = 128


def mel_power(
    y: np.ndarray,
    sr: int = SAMPLE_RATE,
    *,
    n_mels: int = N_MELS,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
) -> np.ndarray:
    """Mel power spectrogram, ``(n_mels, 1 + len(y) // hop_length)`` float32.

    The same quantity as ``librosa.feature.melspectrogram(y=y, sr=sr,
    n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)`` (centred frames,
    zero padding, Hann window, power 2, Slaney mel filters), computed with a
    single-threaded ``scipy.fft.rfft`` and a sparse filter product.
    """
    import scipy.fft

    y = np.ascontiguousarray(y, dtype=np.float32)
    yp = np.pad(y, n_fft // 2, mode="constant")
    frames = np.lib.stride_tricks.sliding_window_view(yp, n_fft)[::hop_length]  # a view, no copy
    basis, win = _mel_basis(sr, n_fft, n_mels), _window(n_fft)
    out = np.empty((n_mels, frames.shape[0]), dtype=np.float32)
    # blocks of frames stay in cache: ~2x faster than one big FFT on a busy machine, same numbers
    for s in range(0, frames.shape[0], _BLOCK):
        spec = scipy.fft.rfft(frames[s : s + _BLOCK] * win, axis=1, workers=1)
        power = spec.real**2
        power += spec.imag**2  # (block, 1 + n_fft // 2) float32
        out[:, s : s + _BLOCK] = basis @ power.T
    return out


def log_mel(
    y: np.ndarray,
    sr: int = SAMPLE_RATE,
    *,
    n_mels: int = N_MELS,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    top_db: float = TOP_DB,
) -> np.ndarray:
    """Log-mel spectrogram in dB relative to the peak: float32 in ``[-top_db, 0]``.

    Row 0 is the lowest mel band; one column per frame.
    """
    S = mel_power(y, sr, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length)
    peak = float(S.max())
    if not peak > 0:
        return np.full(S.shape, -top_db, dtype=np.float32)
    # power_to_db(S, ref=np.max, top_db=top_db), written out so the result stays float32
    db = 10.0 * np.log10(np.maximum(S, np.float32(1e-10))) - np.float32(10.0 * np.log10(max(peak, 1e-10)))
    return np.clip(db, np.float32(-top_db), np.float32(0.0)).astype(np.float32, copy=False)


def resize_array(a: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Resize a 2-D float array to ``height x width`` (antialiased bilinear, Pillow), float32."""
    from PIL import Image

    width = height if width is None else width
    a = np.ascontiguousarray(a, dtype=np.float32)
    if a.shape == (height, width):
        return a.copy()
    im = Image.fromarray(a)  # a 2-D float32 array is Pillow's mode "F"
    return np.asarray(im.resize((int(width), int(height)), Image.Resampling.BILINEAR), dtype=np.float32)


# --- the PNG -----------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def colormap_lut(name: str = CMAP) -> np.ndarray:
    """``(256, 3)`` uint8 RGB lookup table of a matplotlib colormap."""
    import matplotlib

    rgba = matplotlib.colormaps[name](np.arange(256))
    return np.round(rgba[:, :3] * 255.0).astype(np.uint8)


def to_levels(db: np.ndarray, top_db: float = TOP_DB) -> np.ndarray:
    """Map dB in ``[-top_db, 0]`` to uint8 levels 0..255, flipped so high frequencies are on top."""
    x = np.clip((np.asarray(db, dtype=np.float32) + np.float32(top_db)) * np.float32(255.0 / top_db), 0, 255)
    return np.ascontiguousarray(np.rint(x).astype(np.uint8)[::-1])


def write_png(path, db: np.ndarray, *, top_db: float = TOP_DB, cmap: str = CMAP) -> Path:
    """Write ``db`` as a palette PNG (levels + colormap palette), atomically."""
    from PIL import Image

    levels = to_levels(db, top_db)
    im = Image.frombytes("P", (levels.shape[1], levels.shape[0]), levels.tobytes())
    im.putpalette(colormap_lut(cmap).tobytes())
    return atomic_write(path, lambda tmp: im.save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL))


def _write_npy(path, a: np.ndarray) -> Path:
    def write(tmp):
        with open(tmp, "wb") as fh:
            np.save(fh, a, allow_pickle=False)

    return atomic_write(path, write)


# --- reading -----------------------------------------------------------------------


def load_image(path) -> np.ndarray:
    """Read an image written by this module.

    ``.npy`` gives the float32 dB array ``(rows, columns)``; ``.png`` (or any
    other format Pillow reads) gives the RGB pixels ``(rows, columns, 3)``
    uint8.

    Raises
    ------
    ImageFileError
        Naming the file: missing, empty, truncated, corrupt, or not a finite
        2-D float array.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(path, "no such file")
    if os.path.getsize(path) == 0:
        raise ImageFileError(path, "empty file (0 bytes)")
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise ImageFileError(path, f"not a readable .npy array ({type(exc).__name__}: {exc})") from None
        if not isinstance(a, np.ndarray) or a.ndim != 2 or a.dtype.kind != "f":
            raise ImageFileError(
                path,
                f"expected a 2-D float array, found {getattr(a, 'dtype', type(a))} "
                f"of shape {getattr(a, 'shape', '?')}",
            )
        if a.size == 0:
            raise ImageFileError(path, f"empty array of shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ImageFileError(path, f"{int(np.sum(~np.isfinite(a)))} NaN/inf values")
        return a.astype(np.float32, copy=False)
    try:
        from PIL import Image

        with Image.open(path) as im:
            im.load()
            rgb = im.convert("RGB")
        return np.asarray(rgb, dtype=np.uint8)
    except Exception as exc:
        raise ImageFileError(path, f"not a readable image ({type(exc).__name__}: {exc})") from None


def array_digest(a: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes (equal digests = identical arrays)."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


# --- per track ---------------------------------------------------------------------


def image_paths(track: Track, out_dir) -> tuple[Path, Path]:
    """``(<out>/<genre>/<stem>.npy, <out>/<genre>/<stem>.png)`` of a track."""
    stem = Path(track.path).stem
    base = Path(out_dir) / track.genre
    return base / f"{stem}.npy", base / f"{stem}.png"


@dataclass(frozen=True)
class ImageTask:
    """One unit of work: a track, the output folder and the image settings.

    ``data``: the file's bytes, sent to a worker that does not see the dataset's filesystem
    (:mod:`genre_hpc.sendfiles`); such a worker returns the array and the client writes the
    files. None: the worker opens ``track.path`` and writes the files itself.
    """

    track: Track
    out_dir: str
    n_mels: int = N_MELS
    image_size: int | None = None
    png: bool = True
    data: bytes | None = field(default=None, repr=False)


@dataclass
class ImageResult:
    """What :func:`image_track` returns for one track."""

    track: Track
    npy: str | None = None
    png: str | None = None
    shape: tuple = ()
    digest: str = ""
    failure: Failure | None = None
    seconds: float = 0.0
    #: the array, returned instead of written when the task carried the audio's bytes
    array: np.ndarray | None = field(default=None, repr=False)


def compute_image(y: np.ndarray, *, n_mels: int = N_MELS, image_size: int | None = None) -> np.ndarray:
    """The stored array of a decoded signal: log-mel, optionally resized to a square."""
    db = log_mel(y, SAMPLE_RATE, n_mels=n_mels)
    if image_size:
        db = np.clip(resize_array(db, int(image_size)), -TOP_DB, 0.0).astype(np.float32, copy=False)
    return db


def image_track(task: ImageTask) -> ImageResult:
    """Make the ``.npy`` (and PNG) of one track; a bad file becomes a :class:`Failure`.

    Both files are written atomically. When the track fails, stale images
    of the same name from an earlier run are removed so that a reader of
    the folder never trains on them.
    """
    t0 = time.perf_counter()
    track = task.track
    npy, png = image_paths(track, task.out_dir)
    if task.data is None:
        cannot = unreachable(track)
        if cannot is not None:
            return ImageResult(track, failure=cannot, seconds=time.perf_counter() - t0)
    try:
        y = load_audio(track.path, data=task.data)
        if len(y) < CHUNK_SAMPLES:
            raise TooShortAudio(
                track.path,
                f"{len(y) / SAMPLE_RATE:.2f} s is shorter than one {CHUNK_SAMPLES / SAMPLE_RATE:.1f} s chunk",
            )
        db = compute_image(y, n_mels=task.n_mels, image_size=task.image_size)
        if task.data is not None:  # the client writes the files, where the output folder is
            return ImageResult(
                track,
                shape=tuple(db.shape),
                digest=array_digest(db),
                seconds=time.perf_counter() - t0,
                array=db,
            )
        _write_npy(npy, db)
        if task.png:
            write_png(png, db)
    except Exception as exc:  # AudioError is expected; anything else must not stop the run either
        if task.data is None:
            for p in (npy, png):
                p.unlink(missing_ok=True)
        if isinstance(exc, AudioError):
            failure = Failure(track.path, exc.reason, exc.kind, track.track_id)
        else:
            failure = Failure(track.path, f"{type(exc).__name__}: {exc}", "error", track.track_id)
        return ImageResult(track, failure=failure, seconds=time.perf_counter() - t0)
    return ImageResult(
        track,
        str(npy),
        str(png) if task.png else None,
        tuple(db.shape),
        array_digest(db),
        seconds=time.perf_counter() - t0,
    )


def lost_image(task: ImageTask, error) -> ImageResult:
    """The result of a track whose worker process died on every attempt (``on_lost`` of
    :meth:`genre_hpc.backends.base.Backend.map`): a ``"worker-lost"`` failure naming how."""
    track = task.track
    for stale in image_paths(track, task.out_dir):  # as image_track does for a failed track
        stale.unlink(missing_ok=True)
    attempts = getattr(error, "attempts", None)
    times = f" on all {attempts} attempts" if attempts and attempts > 1 else ""
    reason = f"the worker process died ({error.how}) while making this image{times}"
    return ImageResult(track, failure=Failure(track.path, reason, "worker-lost", track.track_id))


#: ``(n_mels, image_size)`` whose real per-track path has run in this process
_WARM: set = set()


def warm_images(n_mels: int = N_MELS, image_size: int | None = None) -> None:
    """Run the real per-track path once in this process: :func:`image_track` on a short WAV
    file (:func:`genre_hpc.audio.warm_wav`) into a temporary folder: decoding, the
    spectrogram (filter bank, window, FFT plans), the ``.npy`` and the PNG (colour table,
    Pillow's PNG writer). Later calls return at once."""
    import tempfile

    from .audio import warm_wav

    key = (int(n_mels), image_size)
    if key in _WARM:
        return
    with warm_wav() as path, tempfile.TemporaryDirectory(prefix="genre-hpc-warm-images-") as out:
        res = image_track(ImageTask(Track("warm/warm.wav", "warm", str(path)), out, int(n_mels), image_size))
    if res.failure is not None:
        raise RuntimeError(f"the warm-up image failed: {res.failure.reason}")
    _WARM.add(key)


def warm_up(n_mels: int = N_MELS, image_size: int | None = None):
    """A picklable callable that makes one real image (:func:`warm_images`).

    Pass it as ``backend_options={"warmup": warm_up()}`` so that imports and first-call costs
    count as start-up (paid once in the forkserver the workers fork from), not compute.
    """
    return functools.partial(warm_images, int(n_mels), image_size)


# --- the whole dataset -------------------------------------------------------------


@dataclass
class ImagesResult:
    """The images of a run, with failures and timings.

    ``paths`` are the ``.npy`` files (one per track that succeeded, in
    track order); ``png_paths`` the matching PNGs; ``digests`` maps track id
    to :func:`array_digest` of its array.
    """

    paths: list[str]
    failures: list[Failure]
    seconds: float
    compute_s: float
    startup_s: float
    png_paths: list[str] = field(default_factory=list)
    digests: dict = field(default_factory=dict)
    n_tracks: int = 0
    out: str = ""
    backend: dict = field(default_factory=dict)
    #: the cluster's shape (``Backend.cluster_info()``) for the cluster backends, else None
    cluster: dict | None = None
    #: how the audio reached the workers: ``send_files``, ``sent_tracks``, ``sent_bytes``
    sent: dict = field(default_factory=dict)
    #: the map's timeline with ``trace=True`` (:mod:`genre_hpc.trace`), else None
    trace: dict | None = None

    def summary(self) -> dict:
        return {
            "tracks": self.n_tracks - len(self.failures),
            "failed": len(self.failures),
            "seconds": round(self.seconds, 4),
            "compute_s": round(self.compute_s, 4),
            "startup_s": round(self.startup_s, 4),
            "s_per_track": round(self.compute_s / self.n_tracks, 5) if self.n_tracks else float("nan"),
            "out": self.out,
            **self.backend,
        }

    def to_dict(self) -> dict:
        d = asdict(self)
        d["failures"] = [f.to_dict() for f in self.failures]
        return d


def _progress_bar(total: int, enabled, desc: str):
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="track", disable=not enabled, leave=False)


def make_images(
    source,
    out,
    *,
    backend: str = "serial",
    workers: int = 1,
    image_size: int | None = None,
    n_mels: int = N_MELS,
    png: bool = True,
    backend_options: dict | None = None,
    progress: bool | None = None,
    send_files: str = "path",
    trace: bool = False,
) -> ImagesResult:
    """Write the mel-spectrogram image of every track under ``out``.

    Parameters
    ----------
    source : str, Path or list of Track
        A GTZAN-layout folder or already discovered tracks.
    out : str or Path
        Output folder: ``<out>/<genre>/<file stem>.npy`` and ``.png``, plus
        ``images.json`` describing the settings.
    backend, workers, backend_options
        How per-track work is mapped (:func:`genre_hpc.backends.get_backend`); ``backend`` may
        also be a backend started by the caller (used as it is; ``startup_s`` is then 0).
    image_size : int, optional
        ``None`` (default) keeps the native ``n_mels x frames`` resolution;
        an integer stores a square ``image_size x image_size`` thumbnail of
        the whole track instead (the study's fixed-size image).
    n_mels : int
        Mel bands (rows).
    png : bool
        Also write the PNG.
    progress : bool, optional
        Progress bar (default: when stderr is a terminal).
    send_files : {"path", "bytes", "auto"}
        How the workers get the audio (:mod:`genre_hpc.sendfiles`); a track sent as bytes
        comes back as its array and the client writes its files.
    trace : bool
        Record a timeline of the map (:mod:`genre_hpc.trace`) in ``result.trace``.

    Returns
    -------
    ImagesResult
    """
    from .backends import Backend, use_backend
    from .sendfiles import check_mode, map_tracks
    from .trace import timed

    send_files = check_mode(send_files)
    if int(n_mels) < 1:
        raise ValueError(f"n_mels must be >= 1, got {n_mels}")
    if image_size is not None and int(image_size) < 1:
        raise ValueError(f"image_size must be >= 1 (or None for the native size), got {image_size}")

    if isinstance(backend, Backend):
        backend, workers, started = backend.name, backend.workers, backend
    else:
        started = None
    tracks = discover(source) if isinstance(source, (str, Path)) else list(source)
    out = Path(out)
    seen: dict[Path, str] = {}
    for tr in tracks:
        npy = image_paths(tr, out)[0]
        if npy in seen and seen[npy] != tr.path:
            raise ValueError(f"two tracks map to the same image {npy}: {seen[npy]} and {tr.path}")
        seen[npy] = tr.path
    out.mkdir(parents=True, exist_ok=True)
    tasks = [
        ImageTask(tr, str(out), int(n_mels), int(image_size) if image_size is not None else None, bool(png))
        for tr in tracks
    ]
    t0 = time.perf_counter()
    startup = compute = 0.0
    mapped: list[ImageResult] = []
    cluster, sent = None, {"send_files": send_files, "sent_tracks": 0, "sent_bytes": 0}
    timeline = None
    with _progress_bar(len(tracks), progress, f"images ({backend} x{workers})") as bar:
        if tasks:
            with (
                orphans_swept_on_error(out),  # image files of workers killed mid-write
                use_backend(started or backend, workers, **(backend_options or {})) as b,
            ):
                startup = 0.0 if started else b.startup_s

                def stored(backend):
                    """The map, then the files of the arrays sent back (timed with it)."""
                    results, sent = map_tracks(
                        backend,
                        image_track,
                        tasks,
                        send_files=send_files,
                        with_failure=lambda r, f: ImageResult(r.track, failure=f, seconds=r.seconds),
                        progress=bar.update,
                        on_lost=lost_image,
                    )
                    return [_store(r, task) for r, task in zip(results, tasks)], sent

                (mapped, sent), compute, timeline = timed(b, stored, trace, startup)
                cluster = b.cluster_info() if hasattr(b, "cluster_info") else None
    ok = [r for r in mapped if r.failure is None]
    failures = [r.failure for r in mapped if r.failure is not None]
    manifest = {
        "version": IMAGES_VERSION,
        "sample_rate": SAMPLE_RATE,
        "n_fft": N_FFT,
        "hop_length": HOP_LENGTH,
        "n_mels": int(n_mels),
        "top_db": TOP_DB,
        "cmap": CMAP,
        "image_size": tasks[0].image_size if tasks else None,
        "tracks": len(ok),
        "failed": len(failures),
    }
    atomic_write(out / MANIFEST, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=2) + "\n"))
    return ImagesResult(
        paths=[r.npy for r in ok],
        failures=failures,
        seconds=time.perf_counter() - t0,
        compute_s=compute,
        startup_s=startup,
        png_paths=[r.png for r in ok if r.png],
        digests={r.track.track_id: r.digest for r in ok},
        n_tracks=len(tracks),
        out=str(out),
        backend={"backend": backend, "workers": workers, "send_files": send_files},
        cluster=cluster,
        sent=sent,
        trace=timeline,
    )


def _store(r: ImageResult, task: ImageTask) -> ImageResult:
    """Client side: write the files of an array a worker sent back (a track sent as bytes); for
    a failed track, remove stale images of the same name."""
    npy, png = image_paths(r.track, task.out_dir)
    if r.failure is not None:
        for p in (npy, png):
            p.unlink(missing_ok=True)
        return r
    if r.array is None:
        return r
    try:
        _write_npy(npy, r.array)
        if task.png:
            write_png(png, r.array)
    except OSError as exc:  # a full disk: this track fails, as it would on a worker
        for p in (npy, png):
            p.unlink(missing_ok=True)
        failure = Failure(r.track.path, f"{type(exc).__name__}: {exc}", "error", r.track.track_id)
        return ImageResult(r.track, failure=failure, seconds=r.seconds)
    return ImageResult(
        r.track, str(npy), str(png) if task.png else None, r.shape, r.digest, seconds=r.seconds
    )


def read_manifest(images_dir) -> dict:
    """The ``images.json`` of a folder made by :func:`make_images` (``{}`` when absent)."""
    p = Path(images_dir) / MANIFEST
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except ValueError as exc:
        raise ImageFileError(p, f"not valid JSON ({exc})") from None
