"""The dataset on disk: GTZAN-layout folders of synthetic tracks, their manifest, the cached default copy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .constants import GENRES, SAMPLE_RATE, VERSION
from .track import check_seed, synthesize_track

#: name of the manifest written beside the genre folders
MANIFEST = "synth.json"


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


def _manifest_params(per_genre, seconds, seed, sr) -> dict:
    """What a dataset folder was rendered from (its manifest without the file list)."""
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
        Dataset seed, see :func:`~genre_hpc.synth.track.synthesize_track`.
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

    from ..files import atomic_write

    per_genre = int(per_genre)
    if per_genre < 1:
        raise ValueError(f"per_genre must be >= 1, not {per_genre}")
    check_seed(seed)
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
    manifest = _manifest_params(per_genre, seconds, seed, sr)
    manifest["files"] = [p.relative_to(out).as_posix() for p in paths]
    text = json.dumps(manifest, indent=2) + "\n"
    atomic_write(out / MANIFEST, lambda tmp: Path(tmp).write_text(text))
    return paths


def _manifest_ok(folder: Path, per_genre, seconds, seed, sr) -> bool:
    """Whether ``folder`` holds a complete dataset rendered from these parameters by this VERSION."""
    try:
        m = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    want = _manifest_params(per_genre, seconds, seed, sr)
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
    from ..files import default_cache_dir

    check_seed(seed)
    name = f"gtzan-synth-v{VERSION}-n{int(per_genre)}-s{float(seconds):g}-seed{int(seed)}"
    folder = default_cache_dir() / "synth" / name
    if not _manifest_ok(folder, per_genre, seconds, seed, SAMPLE_RATE):
        write_dataset(folder, per_genre=per_genre, seconds=seconds, seed=seed, sr=SAMPLE_RATE)
    return folder
