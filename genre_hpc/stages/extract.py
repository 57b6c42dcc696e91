"""The extraction stage: the feature table of a fixed set of tracks, on any backend."""

from __future__ import annotations

from . import RunResult, Stage
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
        return {"tracks": discover(root), "extractor": extractor}

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

    def run(self, work, backend, workers, *, scheduler=None, **_):
        from ..extract import extract_features, warm_up

        opts = {"warmup": warm_up(work["extractor"])}
        if scheduler and backend == "dask-distributed":
            opts["scheduler"] = scheduler
        res = extract_features(
            work["tracks"],
            extractor=work["extractor"],
            backend=backend,
            workers=workers,
            backend_options=opts,
            cache=False,
            progress=False,
        )
        return RunResult(
            res.compute_s,
            res.startup_s,
            res.table,
            {"tracks": len(work["tracks"]), "chunks": res.n_chunks, "failed": len(res.failures)},
        )

    def same(self, a, b) -> bool:
        return a.shape == b.shape and bool(a.equals(b))

    def scaled(self, work, factor):
        return {**work, "tracks": list(work["tracks"]) * factor}

    def scaled_output(self, output, factor):
        import pandas as pd

        return pd.concat([output] * factor, ignore_index=True)
