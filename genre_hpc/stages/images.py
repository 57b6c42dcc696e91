"""The images stage: mel-spectrogram images of a fixed set of tracks, on any backend."""

from __future__ import annotations

import os

from . import RunResult, Stage, backend_run_options
from .extract import BACKEND_SPACE, run_extra, scaled_sizes, track_work


class ImagesStage(Stage):
    """Image making (``.npy`` + PNG per track) over the backend registry.

    Every run writes into a fresh temporary folder (removed afterwards) and
    returns, in track order, ``(track_id, digest)`` of each array (the
    SHA-256 of its dtype, shape and bytes) and the failed tracks, so
    :meth:`same` is an exact comparison of the arrays.
    """

    name = "images"
    space = BACKEND_SPACE

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

    def warm_up(self, work=None) -> None:
        """Imports and the mel filter bank in this process (the serial baseline runs here).

        A process that gets prepared work from elsewhere (an asv benchmark process loading it
        from a pickle) calls this itself; worker processes warm up in the backend's start-up.
        """
        from ..images import warm_up

        warm_up()()

    def run(self, work, backend, workers, *, send_files="path", **options):
        """One run into a temporary folder. ``options``: the cluster run options (passed to the
        backends that take them); ``send_files``: how the workers get the audio.

        ``extra``: ``tracks``, ``failed``, ``s_per_track``, ``result_bytes`` (the arrays'
        size), ``input_bytes``, ``send_files``, ``sent_bytes`` and, on a cluster, ``cluster``.
        """
        import shutil
        import tempfile

        from ..images import make_images, warm_up

        opts = {"warmup": warm_up(), **backend_run_options(backend, options)}
        out = tempfile.mkdtemp(prefix="genre-hpc-images-")
        try:
            res = make_images(
                work["tracks"],
                out,
                backend=backend,
                workers=workers,
                image_size=work.get("image_size"),
                backend_options=opts,
                progress=False,
                send_files=send_files,
            )
            result_bytes = sum(os.path.getsize(p) for p in res.paths + res.png_paths)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        failed = {f.track_id for f in res.failures}
        output = (
            tuple((t.track_id, res.digests[t.track_id]) for t in work["tracks"] if t.track_id not in failed),
            tuple(sorted((f.track_id, f.reason) for f in res.failures)),
        )
        n = len(work["tracks"])
        extra = {
            **run_extra(work, res),
            "s_per_track": res.compute_s / n if n else float("nan"),
            "result_bytes": result_bytes,
        }
        return RunResult(res.compute_s, res.startup_s, output, extra)

    def same(self, a, b) -> bool:
        return a == b

    def scaled(self, work, factor):
        return {**work, "tracks": list(work["tracks"]) * factor, **scaled_sizes(work, factor)}

    def scaled_output(self, output, factor):
        digests, failures = output
        return (tuple(digests) * factor, tuple(sorted(tuple(failures) * factor)))
