"""The images stage: mel-spectrogram images of a fixed set of tracks, on any backend."""

from __future__ import annotations

import os

from . import RunResult
from .extract import BackendStage, run_extra, scaled_sizes, track_work


class ImagesStage(BackendStage):
    """Image making (``.npy`` + PNG per track) over the backend registry.

    Every run writes into a fresh temporary folder (removed afterwards) and
    returns, in track order, ``(track_id, digest)`` of each array (the
    SHA-256 of its dtype, shape and bytes) and the failed tracks, so
    :meth:`same` is an exact comparison of the arrays.
    """

    name = "images"

    def prepare(
        self,
        *,
        data=None,
        per_genre: int = 2,
        seconds: float = 6.0,
        seed: int = 0,
        image_size: int | None = None,
        **_,
    ):
        """Discover the tracks (the synthetic dataset when ``data`` is None) and warm this process."""
        from ..dataset import discover

        if data is None:
            from ..synth import default_dataset

            data = default_dataset(per_genre=per_genre, seconds=seconds, seed=seed)
        tracks = discover(data)
        work = {"tracks": tracks, "image_size": image_size, **track_work(tracks)}
        self.warm_up(work)
        return work

    def item_warmup(self, work):
        from ..images import warm_up

        return warm_up(image_size=(work or {}).get("image_size"))

    def warm_up(self, work=None) -> None:
        """The real per-track path once in this process (the serial baseline runs here):
        :func:`genre_hpc.images.warm_images`.

        A process that gets prepared work from elsewhere (an asv benchmark process loading it
        from a pickle) calls this itself; worker processes warm up in the backend's start-up.
        """
        self.item_warmup(work)()

    def run(self, work, backend, workers, *, send_files="path", session=None, trace=False, **options):
        """One run into a temporary folder, on the cell's ``session`` when given. ``options``:
        the cluster run options (passed to the backends that take them); ``send_files``: how
        the workers get the audio.

        ``extra``: ``tracks``, ``failed``, ``s_per_track``, ``result_bytes`` (the arrays'
        size), ``input_bytes``, ``send_files``, ``sent_bytes`` and, on a cluster, ``cluster``.
        """
        import shutil
        import tempfile

        from ..images import make_images

        out = tempfile.mkdtemp(prefix="genre-hpc-images-")

        def call(b):
            return make_images(
                work["tracks"],
                out,
                backend=b,
                image_size=work.get("image_size"),
                progress=False,
                send_files=send_files,
                trace=trace,
            )

        try:
            res, startup, extra = self._run_on(work, backend, workers, session, options, trace, call)
            result_bytes = sum(os.path.getsize(p) for p in res.paths + res.png_paths)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        failed = {f.track_id for f in res.failures}
        output = (
            tuple((t.track_id, res.digests[t.track_id]) for t in work["tracks"] if t.track_id not in failed),
            tuple(sorted((f.track_id, f.reason) for f in res.failures)),
        )
        n = len(work["tracks"])
        info = {
            **run_extra(work, res),
            "s_per_track": res.compute_s / n if n else float("nan"),
            "result_bytes": result_bytes,
        }
        timeline = {**res.trace, **extra} if res.trace is not None else None
        return RunResult(res.compute_s, startup, output, info, trace=timeline)

    def same(self, a, b) -> bool:
        return a == b

    def scaled(self, work, factor):
        return {**work, "tracks": list(work["tracks"]) * factor, **scaled_sizes(work, factor)}

    def scaled_output(self, output, factor):
        digests, failures = output
        return (tuple(digests) * factor, tuple(sorted(tuple(failures) * factor)))
