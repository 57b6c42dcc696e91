"""What a process has compiled, cached and imported: the state the warm-ups must leave behind.

Importable by worker processes (tests/test_warmup.py maps :func:`worker_state` over a pool).
"""

from __future__ import annotations

import functools
import sys

#: the packages whose numba dispatchers and caches a track's path uses
PACKAGES = ("librosa", "genre_hpc", "resampy", "soxr", "soundfile", "scipy.fft", "scipy.signal")


def snapshot() -> dict:
    """``{"modules": names, "state": {object: signatures or cache size}}``: numba dispatchers'
    compiled signatures, numba (g)ufuncs' loops and functools.lru_cache sizes of the modules of
    :data:`PACKAGES`."""
    from numba.core.dispatcher import Dispatcher

    state = {}
    for name, mod in list(sys.modules.items()):
        if mod is None or not name.startswith(PACKAGES):
            continue
        for attr, obj in list(vars(mod).items()):
            key = f"{name}.{attr}"
            if isinstance(obj, Dispatcher):
                state[key] = sorted(map(str, obj.signatures))
            elif type(obj).__name__ in ("GUFunc", "DUFunc"):
                state[key] = sorted(map(str, obj.types))
            elif isinstance(obj, functools._lru_cache_wrapper):
                state[key] = obj.cache_info().currsize
    return {"modules": sorted(sys.modules), "state": state}


def difference(before: dict, after: dict) -> dict:
    """What ``after`` has that ``before`` did not: new modules, new or grown entries."""
    return {
        "modules": sorted(set(after["modules"]) - set(before["modules"])),
        "state": {
            k: (before["state"].get(k), v) for k, v in after["state"].items() if before["state"].get(k) != v
        },
    }


def worker_state(extractor: str) -> dict:
    """In a worker: was the extractor's warm-up run in the forkserver it forked from, is the
    garbage collector's view frozen, and what is compiled and imported now."""
    import gc
    import os

    from genre_hpc.backends._preload import already_warm
    from genre_hpc.extract import warm_up

    return {
        "pid": os.getpid(),
        "warm_in_server": already_warm(warm_up(extractor)),
        "frozen": gc.get_freeze_count(),
        **snapshot(),
    }


def extract_then_state(job) -> dict:
    """In a worker: extract one real track, then the state (to compare with the one before)."""
    from genre_hpc.dataset import Track
    from genre_hpc.extract import TrackTask, extract_track

    extractor, path = job
    res = extract_track(TrackTask(Track("x/" + path, "x", path), extractor))
    assert res.failure is None, res.failure
    return snapshot()


def main(argv=None) -> None:
    """``python -m tests._warm_state EXTRACTOR|images TRACK...``: in this fresh process, run the
    warm-up, then the real path on the tracks; print the JSON difference (what the real tracks
    needed that the warm-up had not done)."""
    import json

    kind, paths = (argv or sys.argv[1:])[0], (argv or sys.argv[1:])[1:]
    from genre_hpc.dataset import Track

    tracks = [Track("x/" + p.rsplit("/", 1)[-1], "x", p) for p in paths]
    if kind == "images":
        import tempfile

        from genre_hpc.images import ImageTask, image_track, warm_up

        warm_up()()
        before = snapshot()
        with tempfile.TemporaryDirectory() as out:
            for t in tracks:
                assert image_track(ImageTask(t, out)).failure is None
    else:
        from genre_hpc.extract import TrackTask, extract_track, warm_up

        warm_up(kind)()
        before = snapshot()
        for t in tracks:
            assert extract_track(TrackTask(t, kind)).failure is None
    print(json.dumps(difference(before, snapshot())))


if __name__ == "__main__":
    main()
