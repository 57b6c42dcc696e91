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


def backend_options(backend: str, warmup, options: dict) -> dict:
    """The backend options of a backend stage's run: the stage's warm-up and the cluster run
    options the backend takes (:func:`~genre_hpc.stages.backend_run_options`)."""
    return {"warmup": warmup, **backend_run_options(backend, options)}


def with_dask_diagnostics(run, backend, trace: bool):
    """Run ``run(backend)`` (a started backend), with Dask's own diagnostics when traced:
    ``distributed``'s performance report for ``dask-distributed``, the ``ResourceProfiler``
    for the local Dask schedulers. Returns ``(result, extras for the trace)``."""
    if not trace or not backend.name.startswith("dask-"):
        return run(backend), {}
    from ..trace import dask_performance_report, dask_resources

    if backend.name == "dask-distributed":
        cm = dask_performance_report(backend.client)
    else:
        cm = dask_resources()
    with cm as box:
        res = run(backend)
    extra = {}
    if box.get("html"):
        extra["dask_report_html"] = box["html"]
    if box.get("note"):
        extra["note"] = box["note"]
    if box.get("resources"):
        extra["resources"] = box["resources"]
    return res, extra


class BackendStage(Stage):
    """What the stages over the backend registry share (extraction, images): backend x
    workers, a session that starts the cell's backend once, timelines of the map."""

    space = BACKEND_SPACE

    def item_warmup(self, work):
        """The picklable warm-up the workers run (the real per-track path)."""
        raise NotImplementedError

    def session(self, work, cell, **options):
        """The cell's backend, started (workers up and warm) for the block. ``options``: the
        cluster run options (:data:`~genre_hpc.stages.CLUSTER_RUN_OPTIONS`)."""
        from ..backends import get_backend

        backend, workers = cell["backend"], cell["workers"]
        return get_backend(backend, workers, **backend_options(backend, self.item_warmup(work), options))

    def traces(self) -> bool:
        return True

    def prestart(self, work, cells, *, wait: bool = True) -> float:
        """The forkserver, warmed with the stage's warm-up (and ``distributed`` when a local
        Dask cluster is among the cells), started (and waited for)."""
        from ..backends.forkserver import prestart_for

        return prestart_for([c["backend"] for c in cells], self.item_warmup(work), wait=wait)

    def _run_on(self, work, backend, workers, session, options, trace, call):
        """``call(started backend)`` on the session's backend, or on one started here; the
        result's start-up is the session's (its workers' start) or this start's."""
        from ..backends import get_backend

        if session is not None:
            res, extra = with_dask_diagnostics(call, session, trace)
            return res, session.startup_s, extra
        opts = backend_options(backend, self.item_warmup(work), options)
        with get_backend(backend, workers, **opts) as b:
            res, extra = with_dask_diagnostics(call, b, trace)
        if getattr(res, "trace", None) is not None:
            # ``call`` got a started backend, so its timeline has no start-up: this one came
            # right before the map (a session's came once, before its first run: not drawn)
            res.trace["startup_s"] = float(b.startup_s)
        return res, b.startup_s, extra


class ExtractStage(BackendStage):
    """Feature extraction (no cache) over the backend registry: backend x workers."""

    name = "extract"

    def prepare(
        self,
        *,
        data=None,
        per_genre: int = 2,
        seconds: float = 6.0,
        seed: int = 0,
        extractor: str = "fast",
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

    def item_warmup(self, work):
        from ..extract import warm_up

        return warm_up(work["extractor"])

    def warm_up(self, work) -> None:
        """The extractor's real per-track path once in this process (the serial baseline
        runs here): :func:`genre_hpc.extract.warm_track`."""
        from ..extract import warm_track

        warm_track(work["extractor"])

    def run(self, work, backend, workers, *, send_files="path", session=None, trace=False, **options):
        """One extraction without the cache, on the cell's ``session`` when given (else on a
        backend started here). ``options``: the cluster run options
        (:data:`~genre_hpc.stages.CLUSTER_RUN_OPTIONS`, each passed to the backends that take
        it); ``send_files``: how the workers get the audio (:mod:`genre_hpc.sendfiles`).

        ``extra``: ``tracks``, ``chunks``, ``failed``, ``result_bytes`` (the table's size),
        ``input_bytes`` (the files' size), ``send_files`` and ``sent_bytes``, and for a
        cluster backend ``cluster`` (its shape, :meth:`ClusterBackend.cluster_info`).
        """
        from ..extract import extract_features

        def call(b):
            return extract_features(
                work["tracks"],
                extractor=work["extractor"],
                backend=b,
                cache=False,
                progress=False,
                send_files=send_files,
                trace=trace,
            )

        res, startup, extra = self._run_on(work, backend, workers, session, options, trace, call)
        timeline = {**res.trace, **extra} if res.trace is not None else None
        info = {
            "chunks": res.n_chunks,
            "result_bytes": int(res.table.memory_usage(index=False, deep=True).sum()),
            **run_extra(work, res),
        }
        return RunResult(res.compute_s, startup, res.table, info, trace=timeline)

    def same(self, a, b) -> bool:
        return a.shape == b.shape and bool(a.equals(b))

    def scaled(self, work, factor):
        return {**work, "tracks": list(work["tracks"]) * factor, **scaled_sizes(work, factor)}

    def scaled_output(self, output, factor):
        import pandas as pd

        return pd.concat([output] * factor, ignore_index=True)
