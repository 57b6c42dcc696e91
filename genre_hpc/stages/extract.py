"""The extraction stage: the feature table of a fixed set of tracks, on any backend."""

from __future__ import annotations

from . import RunResult, Stage, backend_run_options
from .space import Axis, Space


def _backend_names():
    from ..backends import backend_names

    return backend_names()


#: backend x workers over the backend registry (extraction and images)
BACKEND_SPACE = Space(
    (
        Axis("backend", "backend", _backend_names, help="a registered backend (genre_hpc.backends)"),
        Axis("workers", "count", help="worker processes or threads"),
    ),
    backend="backend",
    workers="workers",
)


def input_bytes(tracks) -> int:
    """The summed size of the tracks' files (what ``send_files="bytes"`` sends)."""
    import os

    total = 0
    for t in tracks:
        try:
            total += os.path.getsize(t.path)
        except OSError:
            pass
    return total


def audio_seconds(tracks) -> float:
    """The summed duration of the tracks (from the files' headers; unreadable files count 0)."""
    import soundfile as sf

    total = 0.0
    for t in tracks:
        try:
            total += float(sf.info(t.path).duration)
        except Exception:
            pass
    return total


def track_work(tracks) -> dict:
    """The sizes of a track stage's work: ``input_bytes`` and ``audio_s``."""
    return {"input_bytes": input_bytes(tracks), "audio_s": audio_seconds(tracks)}


def scaled_sizes(work, factor: int) -> dict:
    """``input_bytes`` and ``audio_s`` of the work made ``factor`` times bigger."""
    return {k: work[k] * factor for k in ("input_bytes", "audio_s") if work.get(k) is not None}


def run_extra(work, res) -> dict:
    """The ``extra`` of an extraction or images run: sizes and failures (what the projection
    of ``genre-hpc scale --project`` reads), how the audio was sent, the cluster's shape."""
    extra = {
        "tracks": len(work["tracks"]),
        "failed": len(res.failures),
        "input_bytes": work.get("input_bytes"),
        "audio_s": work.get("audio_s"),
        "send_files": res.sent.get("send_files"),
        "sent_bytes": res.sent.get("sent_bytes", 0),
    }
    if res.cluster:
        extra["cluster"] = res.cluster
    return extra


class ExtractStage(Stage):
    """Feature extraction (no cache) over the backend registry: backend x workers."""

    name = "extract"
    space = BACKEND_SPACE

    def prepare(
        self,
        *,
        data=None,
        per_genre: int = 2,
        seconds: float = 6.0,
        seed: int = 0,
        extractor: str = "reference",
        **_,
    ):
        """Discover the tracks (the synthetic dataset when ``data`` is None)."""
        from ..dataset import discover
        from ..synth import default_dataset

        root = data or default_dataset(per_genre=per_genre, seconds=seconds, seed=seed)
        tracks = discover(root)
        return {"tracks": tracks, "extractor": extractor, **track_work(tracks)}

    def skip(self, cell, *, extractor=None, **options):
        """The base rules, then an extractor (a ``prepare`` option) that cannot be loaded."""
        why = super().skip(cell, **options)
        if why or extractor is None:
            return why
        from ..features import get_extractor

        try:
            get_extractor(extractor)
        except (KeyError, ImportError) as exc:
            return f"extractor {extractor!r} is not available ({exc})"
        return None

    def run(self, work, backend, workers, *, send_files="path", **options):
        """One extraction without the cache. ``options``: the cluster run options
        (:data:`~genre_hpc.stages.CLUSTER_RUN_OPTIONS`, each passed to the backends that take
        it); ``send_files``: how the workers get the audio (:mod:`genre_hpc.sendfiles`).

        ``extra``: ``tracks``, ``chunks``, ``failed``, ``result_bytes`` (the table's size),
        ``input_bytes`` (the files' size), ``send_files`` and ``sent_bytes``, and for a
        cluster backend ``cluster`` (its shape, :meth:`ClusterBackend.cluster_info`).
        """
        from ..extract import extract_features, warm_up

        opts = {"warmup": warm_up(work["extractor"]), **backend_run_options(backend, options)}
        res = extract_features(
            work["tracks"],
            extractor=work["extractor"],
            backend=backend,
            workers=workers,
            backend_options=opts,
            cache=False,
            progress=False,
            send_files=send_files,
        )
        extra = {
            "chunks": res.n_chunks,
            "result_bytes": int(res.table.memory_usage(index=False, deep=True).sum()),
            **run_extra(work, res),
        }
        return RunResult(res.compute_s, res.startup_s, res.table, extra)

    def same(self, a, b) -> bool:
        return a.shape == b.shape and bool(a.equals(b))

    def scaled(self, work, factor):
        return {**work, "tracks": list(work["tracks"]) * factor, **scaled_sizes(work, factor)}

    def scaled_output(self, output, factor):
        import pandas as pd

        return pd.concat([output] * factor, ignore_index=True)
