"""Per-track feature extraction, failure records, the feature table and its cache.

The flow is ``Track -> load_chunks -> extractor.extract_chunk -> rows``. The
per-track function :func:`extract_track` is a picklable top-level function,
mapped over tracks by any backend; a bad file becomes a :class:`Failure`
record (path + reason), never an exception that stops the other tracks.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .audio import AudioError, load_chunks
from .dataset import DatasetError, Track, discover
from .features import get_extractor
from .features.schema import ID_COLUMNS
from .files import atomic_write, atomic_write_all, default_cache_dir, orphans_swept_on_error
from .sendfiles import map_tracks, unreachable

#: bump when the per-track procedure (loading, chunking, trimming) changes
PIPELINE_VERSION = "1"


@dataclass(frozen=True)
class Failure:
    """A track that produced no rows: which file, and why.

    ``kind`` is the reason's family: an :class:`~genre_hpc.audio.AudioError`'s kind for a bad
    file (``"unreadable"``, ``"too-short"``, ``"silent"``, ``"non-finite"``), ``"error"`` for an
    unexpected exception, and ``"worker-lost"`` when the worker process died (killed, crashed,
    out of memory) every time it ran the track (the reason names the signal or exit code).
    """

    path: str
    reason: str
    kind: str = "error"
    track_id: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrackResult:
    """What :func:`extract_track` returns for one track."""

    track: Track
    chunks: list[int] = field(default_factory=list)
    values: np.ndarray | None = None  # (n_chunks, n_features) float64
    failure: Failure | None = None
    cached: bool = False
    #: why the rows could not be written to the cache (a full disk: the rows are still here)
    cache_error: str | None = None


@dataclass(frozen=True)
class TrackTask:
    """One unit of work: a track, the extractor's name, and where to cache.

    ``data``: the file's bytes, sent with the task to a worker that does not see the dataset's
    filesystem (:mod:`genre_hpc.sendfiles`); None: the worker opens ``track.path``.
    """

    track: Track
    extractor: str = "reference"
    cache_dir: str | None = None
    data: bytes | None = field(default=None, repr=False)


class ExtractionFailed(RuntimeError):
    """Raised in strict mode when any track failed; carries the failures."""

    def __init__(self, failures: list[Failure]):
        self.failures = failures
        lines = "\n".join(f"  {f.path}: {f.reason}" for f in failures)
        super().__init__(f"{len(failures)} track(s) failed:\n{lines}")


# --- cache ---------------------------------------------------------------------


def file_digest(path) -> str:
    """SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_folder(cache_dir, extractor: str) -> Path:
    """The folder of one extractor's cache entries: keyed by extractor and schema."""
    ext = get_extractor(extractor)
    return Path(cache_dir) / "features" / f"{ext.NAME}-{ext.SCHEMA.key}-p{PIPELINE_VERSION}"


def cache_path(cache_dir, path, extractor: str) -> Path:
    """Where the cached rows of ``path`` live: keyed by content, extractor and schema."""
    return cache_folder(cache_dir, extractor) / f"{file_digest(path)}.npz"


def _read_cache(p: Path):
    try:
        with np.load(p) as z:
            return list(z["chunks"].tolist()), z["values"]
    except Exception:
        return None  # missing or unreadable: recompute


# --- per track -------------------------------------------------------------------


def extract_track(task: TrackTask) -> TrackResult:
    """Extract every chunk of one track; a bad file becomes a :class:`Failure`.

    Parameters
    ----------
    task : TrackTask
        The track, the extractor name, and an optional cache folder (the
        result is written there atomically as soon as it exists, so an
        interrupted run keeps what it finished).

    Returns
    -------
    TrackResult
    """
    track = task.track
    if task.data is None:
        cannot = unreachable(track)
        if cannot is not None:
            return TrackResult(track, failure=cannot)
    ext = get_extractor(task.extractor)
    try:
        chunks = load_chunks(track.path, data=task.data)
        idx = [i for i, _ in chunks]
        batched = getattr(ext, "extract_chunks", None)
        if batched is not None:
            dicts = batched([y for _, y in chunks])
        else:
            dicts = [ext.extract_chunk(y) for _, y in chunks]
        values = np.array([[d[c] for c in ext.SCHEMA.columns] for d in dicts], dtype=np.float64)
        if not np.all(np.isfinite(values)):
            bad = sorted({ext.SCHEMA.columns[j] for j in np.argwhere(~np.isfinite(values))[:, 1]})
            raise AudioError(track.path, f"non-finite feature values in {', '.join(bad)}")
    except AudioError as exc:
        return TrackResult(track, failure=Failure(track.path, exc.reason, exc.kind, track.track_id))
    except Exception as exc:  # an unexpected bug in one file must not stop the run
        return TrackResult(
            track, failure=Failure(track.path, f"{type(exc).__name__}: {exc}", "error", track.track_id)
        )
    cache_error = None
    if task.cache_dir and task.data is None:
        try:
            write_cache(task.cache_dir, track.path, task.extractor, idx, values)
        except OSError as exc:  # a full cache disk costs the cache entry, not the track
            cache_error = str(exc)
    return TrackResult(track, idx, values, cache_error=cache_error)


def lost_track(task: TrackTask, error) -> TrackResult:
    """The result of a track whose worker process died on every attempt (``on_lost`` of
    :meth:`genre_hpc.backends.base.Backend.map`): a ``"worker-lost"`` :class:`Failure` naming
    how the worker died."""
    track = task.track
    attempts = getattr(error, "attempts", None)
    times = f" on all {attempts} attempts" if attempts and attempts > 1 else ""
    reason = f"the worker process died ({error.how}) while extracting this track{times}"
    return TrackResult(track, failure=Failure(track.path, reason, "worker-lost", track.track_id))


def write_cache(cache_dir, path, extractor: str, chunks, values) -> Path:
    """Store one track's rows in the cache, atomically (keyed by the file's content)."""
    target = cache_path(cache_dir, path, extractor)
    return atomic_write(target, lambda tmp: np.savez(tmp, chunks=np.array(chunks), values=values))


#: extractors whose real per-track path has run in this process (:func:`warm_track`)
_WARM_TRACKS: set = set()


def warm_track(extractor: str = "reference") -> None:
    """Run the real per-track path once in this process: a short WAV file written to a
    temporary folder (:func:`genre_hpc.audio.warm_wav`: 16-bit PCM at the pipeline's rate,
    like GTZAN and the synthetic dataset), then :func:`extract_track` on it: decoding,
    chunking at the real chunk length, trimming, every feature of ``extractor``.

    What a real track needs afterwards is imported, compiled (numba's dispatchers have the
    signatures a real chunk uses) and cached (filter banks, FFT plans); the next calls return
    at once. Raises when the warm-up track fails (a broken install, not a bad file).
    """
    if extractor in _WARM_TRACKS:
        return
    from .audio import warm_wav

    with warm_wav() as path:
        res = extract_track(TrackTask(Track("warm/warm.wav", "warm", str(path)), extractor))
    if res.failure is not None:
        raise RuntimeError(f"the warm-up track failed with the {extractor!r} extractor: {res.failure.reason}")
    _WARM_TRACKS.add(extractor)


def warm_up(extractor: str = "reference"):
    """A picklable callable that runs the real per-track path of ``extractor`` once
    (:func:`warm_track`).

    Backends run it once in the forkserver their workers fork from (or in every worker, with
    ``spawn``) during start-up, so that imports, numba's first-call compilation and the first
    real chunk's costs count as start-up, not compute.
    """
    import functools

    return functools.partial(warm_track, extractor)


# --- the whole dataset --------------------------------------------------------------


@dataclass
class ExtractionResult:
    """The feature table of a run, with its failures and timings."""

    table: object  # pandas.DataFrame
    failures: list[Failure]
    seconds: float
    n_tracks: int
    cache_hits: int = 0
    backend: dict = field(default_factory=dict)
    startup_s: float = 0.0
    compute_s: float = 0.0  # the backend's map only: no start-up, cache or table work
    #: tracks whose rows could not be cached (``"<cache file>: <reason>"``), e.g. a full disk
    cache_errors: list[str] = field(default_factory=list)
    #: the cluster's shape (``Backend.cluster_info()``) for the cluster backends, else None
    cluster: dict | None = None
    #: how the audio reached the workers: ``send_files``, ``sent_tracks``, ``sent_bytes``
    sent: dict = field(default_factory=dict)
    #: the map's timeline with ``trace=True`` (:mod:`genre_hpc.trace`), else None
    trace: dict | None = None

    @property
    def n_chunks(self) -> int:
        return len(self.table)

    def summary(self) -> dict:
        """``{"tracks", "chunks", "seconds", ...}`` as in the CLI's JSON."""
        return {
            "tracks": self.n_tracks - len(self.failures),
            "chunks": self.n_chunks,
            "seconds": round(self.seconds, 4),
            "failed": len(self.failures),
            "cache_hits": self.cache_hits,
            "startup_s": round(self.startup_s, 4),
            "compute_s": round(self.compute_s, 4),
            **self.backend,
        }


def results_to_table(results: list[TrackResult], extractor: str = "reference"):
    """Assemble track results into the feature table (one row per chunk)."""
    import pandas as pd

    cols = get_extractor(extractor).SCHEMA.columns
    ids, blocks = [], []
    for r in results:
        if r.failure is not None or r.values is None:
            continue
        for c in r.chunks:
            ids.append((r.track.track_id, int(c), r.track.genre, r.track.path))
        blocks.append(r.values)
    values = np.vstack(blocks) if blocks else np.empty((0, len(cols)))
    table = pd.DataFrame(ids, columns=list(ID_COLUMNS))
    table["chunk"] = table["chunk"].astype("int64")
    return pd.concat([table, pd.DataFrame(values, columns=list(cols))], axis=1)


def _progress_bar(total: int, enabled, desc: str):
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="track", disable=not enabled, leave=False)


def extract_features(
    source,
    *,
    extractor: str = "reference",
    backend: str = "serial",
    workers: int = 1,
    backend_options: dict | None = None,
    cache: bool = True,
    cache_dir=None,
    strict: bool = False,
    progress: bool | None = None,
    send_files: str = "path",
    work=None,
    trace: bool = False,
) -> ExtractionResult:
    """Extract the feature table of a dataset.

    Parameters
    ----------
    source : str, Path or list of Track
        A GTZAN-layout folder or already discovered tracks.
    extractor : {"fast", "reference"}
        Which extractor computes the features (the command line's default is ``fast``; this
        function keeps ``reference``, the study's).
    backend, workers, backend_options
        How per-track work is mapped (see :func:`genre_hpc.backends.get_backend`); ``backend``
        may also be a backend started by the caller (used as it is: ``workers`` and
        ``backend_options`` are ignored and ``startup_s`` is 0).
    cache : bool
        Reuse and fill the per-track cache (keyed by file content,
        extractor and schema version).
    cache_dir : path, optional
        Cache folder; default :func:`default_cache_dir`.
    strict : bool
        Raise :class:`ExtractionFailed` after the run if any track failed.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    send_files : {"path", "bytes", "auto"}
        How the workers get the audio (:mod:`genre_hpc.sendfiles`): ``path`` (they open it; a
        worker that cannot gives the track an ``unreachable`` failure saying so), ``bytes``
        (sent with each task), ``auto`` (bytes for the tracks a worker could not open).
    work : callable, optional
        The per-track function mapped over the backend (default :func:`extract_track`): a
        picklable top-level function of a :class:`TrackTask` returning a :class:`TrackResult`,
        e.g. a wrapper that adds a check or, in the tests, a fault.
    trace : bool
        Record a timeline of the map (:mod:`genre_hpc.trace`) in ``result.trace``.

    Returns
    -------
    ExtractionResult
        A track whose worker process died on every attempt (the backend's ``retries``) is a
        ``"worker-lost"`` failure; the other tracks have their rows.
    """
    import dataclasses

    from .backends import Backend, get_backend, use_backend
    from .sendfiles import check_mode
    from .trace import timed

    send_files = check_mode(send_files)
    if isinstance(backend, Backend):
        backend, workers, started = backend.name, backend.workers, backend
        session = use_backend(started)  # checks that it is started
    else:
        # made now (started only if a track is not cached): an unknown name, a worker count or an
        # option the backend refuses fails at once, not only once the cache is cold
        started = None
        session = get_backend(backend, workers, **(backend_options or {}))
    tracks = discover(source) if isinstance(source, (str, Path)) else list(source)
    get_extractor(extractor)  # fail early on an unknown name
    cdir = str(cache_dir or default_cache_dir()) if cache else None
    t0 = time.perf_counter()
    results: dict[int, TrackResult] = {}
    todo = []
    for i, tr in enumerate(tracks):
        hit = None
        if cdir:
            try:
                hit = _read_cache(cache_path(cdir, tr.path, extractor))
            except OSError:
                hit = None  # unreadable file: extract_track reports it
        if hit is not None:
            results[i] = TrackResult(tr, hit[0], hit[1], cached=True)
        else:
            todo.append(i)
    startup = compute = 0.0
    cluster, sent = None, {"send_files": send_files, "sent_tracks": 0, "sent_bytes": 0}
    timeline = None
    desc = f"extract ({extractor}, {backend} x{workers})"
    with _progress_bar(len(tracks), progress, desc) as bar:
        bar.update(len(tracks) - len(todo))
        if todo:
            with (
                orphans_swept_on_error(cache_folder(cdir, extractor) if cdir else None),
                session as b,
            ):
                startup = 0.0 if started else b.startup_s
                tasks = [TrackTask(tracks[i], extractor, cdir) for i in todo]

                (mapped, sent), compute, timeline = timed(
                    b,
                    lambda backend: map_tracks(
                        backend,
                        work or extract_track,
                        tasks,
                        send_files=send_files,
                        with_failure=lambda r, f: TrackResult(r.track, failure=f),
                        progress=bar.update,
                        on_lost=lost_track,
                    ),
                    trace,
                    startup,
                )
                cluster = b.cluster_info() if hasattr(b, "cluster_info") else None
                for i, r in zip(todo, mapped):
                    results[i] = r
            if cdir and sent["sent_tracks"]:
                # tracks sent as bytes: their workers kept no cache, the client does
                for i in todo:
                    r = results[i]
                    if r.failure is None and not r.cached:
                        target = cache_path(cdir, r.track.path, extractor)
                        if not target.exists():
                            try:
                                write_cache(cdir, r.track.path, extractor, r.chunks, r.values)
                            except OSError as exc:  # a full cache disk costs the entry, not the track
                                results[i] = dataclasses.replace(r, cache_error=str(exc))
    ordered = [results[i] for i in range(len(tracks))]
    failures = [r.failure for r in ordered if r.failure is not None]
    res = ExtractionResult(
        table=results_to_table(ordered, extractor),
        failures=failures,
        seconds=time.perf_counter() - t0,
        n_tracks=len(tracks),
        cache_hits=len(tracks) - len(todo),
        backend={"backend": backend, "workers": workers, "extractor": extractor, "send_files": send_files},
        startup_s=startup,
        compute_s=compute,
        cache_errors=[r.cache_error for r in ordered if r.cache_error],
        cluster=cluster,
        sent=sent,
        trace=timeline,
    )
    if strict and failures:
        raise ExtractionFailed(failures)
    return res


#: a feature table's file endings: its format is its suffix (Parquet, else CSV)
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (*PARQUET_SUFFIXES, ".csv")


def write_table(table, path) -> Path:
    """Write the feature table atomically: Parquet for ``.parquet``, else CSV."""
    path = Path(path)
    return atomic_write(path, _table_writer(table, path))


def write_tables(table, path, csv: bool = False) -> list[Path]:
    """:func:`write_table` to ``path`` and, with ``csv``, a CSV copy beside it (``path`` with the
    suffix ``.csv``, unless ``path`` is one): both are written before either replaces an old file,
    so a failed write leaves both as they were.

    Returns
    -------
    list of Path
        The files written.
    """
    path = Path(path)
    paths = [path] + ([path.with_suffix(".csv")] if csv and path.suffix.lower() != ".csv" else [])
    return atomic_write_all([(p, _table_writer(table, p)) for p in paths])


def _table_writer(table, path: Path):
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return lambda tmp: table.to_parquet(tmp, index=False)
    return lambda tmp: table.to_csv(tmp, index=False)


class TableError(DatasetError):
    """A feature table that cannot be read, or a file that is not one (the message names it)."""


def read_table(path):
    """Read a feature table written by :func:`write_table`: Parquet for ``.parquet``/``.pq``,
    else CSV.

    Raises
    ------
    FileNotFoundError
        No such file.
    TableError
        A file that does not parse, or a table without the ``track_id`` and ``genre`` columns
        or without a numeric feature column.
    """
    import pandas as pd

    from .splits import _examples  # the lists of names in split and table errors alike

    path = Path(path)
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            table = pd.read_parquet(path)
        else:
            table = _read_csv_table(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # pyarrow's and pandas' parse errors are ValueErrors
        raise TableError(f"{path}: not a readable feature table ({_one_line(exc)})") from None
    missing = [c for c in ("track_id", "genre") if c not in table.columns]
    features = [c for c in table.columns if c not in ID_COLUMNS]
    if missing or not features:
        what = f"no {' and no '.join(missing)} column" if missing else "no feature column"
        raise TableError(
            f"{path}: not a feature table: {what} (columns: {_examples(list(table.columns), 5)})"
        )
    blank = [
        c
        for c in ("track_id", "genre")
        if len(table) and (table[c].isna() | (table[c].astype(str) == "")).any()
    ]
    if blank:
        raise TableError(f"{path}: not a feature table: empty {' and '.join(blank)} cell(s)")
    # an empty table (every track failed) read from CSV has no dtypes to judge: its callers say empty
    bad = [c for c in features if len(table) and not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        raise TableError(f"{path}: not a feature table: non-numeric feature column(s) {_examples(bad, 5)}")
    return table


#: the text columns of a feature table: read from a CSV as written, never as numbers or missing
_CSV_TEXT = ("track_id", "genre", "path")


def _read_csv_table(path):
    """A CSV feature table with its text columns as text: a genre folder named ``01`` or
    ``NA`` stays ``01`` and ``NA`` (pandas would read 1 and a missing value); the other columns
    as pandas reads them (its missing-value spellings included)."""
    import pandas as pd

    table = pd.read_csv(path)
    text = [c for c in table.columns if c in _CSV_TEXT]
    if text:
        as_written = pd.read_csv(path, usecols=text, dtype=str, keep_default_na=False)
        for c in text:
            table[c] = as_written[c]
    return table


def read_feature_table(path):
    """:func:`read_table` of a table to train on: a missing file, a folder and an empty table (every
    track failed) are errors too.

    Raises
    ------
    TableError
        As :func:`read_table`, and for a path that is no file or a table without rows.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such feature table file" + (" (a folder)" if path.is_dir() else ""))
    table = read_table(path)
    if table.empty:
        raise TableError(f"{path}: the feature table is empty")
    return table


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
