"""Does a worker's memory stay flat over a long run? (a script, not an asv benchmark)

    .venv/bin/python benchmarks/rss_growth.py [--tracks 100,1000] [--backend pool-apply-async]
        [--workers 1] [--extractor fast] [--seconds 6.5] [--max-tasks-per-worker N] [--json]

Maps the per-track extraction (feature cache off) over the tracks of a small synthetic dataset,
repeated until each checkpoint, and reads the resident memory (RSS, and the unique set USS) of
every worker process with psutil at each checkpoint. With one worker every track goes through the
same process, so the growth between the checkpoints is what one worker accumulates per track. A
leak in a dependency shows as RSS that keeps growing; ``max_tasks_per_worker`` is the remedy
(the pools replace a worker after that many tasks).
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def worker_memory(backend) -> list[dict]:
    """RSS and USS (bytes) of the backend's worker processes: this process's children, without
    the resource tracker and the forkserver."""
    import psutil

    rows = []
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
            if "resource_tracker" in cmd or "forkserver" in cmd:
                continue
            mem = p.memory_full_info()
            rows.append({"pid": p.pid, "rss": mem.rss, "uss": mem.uss})
        except psutil.Error:
            continue
    return rows


def measure(
    checkpoints=(100, 1000),
    *,
    backend: str = "pool-apply-async",
    workers: int = 1,
    extractor: str = "fast",
    per_genre: int = 1,
    seconds: float = 6.5,
    max_tasks_per_worker: int | None = None,
) -> list[dict]:
    """One row per checkpoint: tracks done, seconds, and the workers' RSS / USS."""
    from genre_hpc.backends import get_backend
    from genre_hpc.dataset import discover
    from genre_hpc.extract import TrackTask, extract_track, warm_up
    from genre_hpc.synth import default_dataset

    tracks = discover(default_dataset(per_genre=per_genre, seconds=seconds, seed=0))
    opts = {"warmup": warm_up(extractor)}
    if max_tasks_per_worker:
        opts["max_tasks_per_worker"] = max_tasks_per_worker
    rows, done = [], 0
    with get_backend(backend, workers, **opts) as b:
        rows.append({"tracks": 0, "seconds": 0.0, "workers": worker_memory(b)})
        t0 = time.perf_counter()
        for target in sorted(checkpoints):
            tasks = [
                TrackTask(tracks[(done + k) % len(tracks)], extractor, None) for k in range(target - done)
            ]
            results = b.map(extract_track, tasks)
            failed = [r.failure for r in results if r.failure is not None]
            if failed:
                raise RuntimeError(f"{len(failed)} track(s) failed: {failed[0]}")
            done = target
            rows.append({"tracks": done, "seconds": time.perf_counter() - t0, "workers": worker_memory(b)})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tracks", default="100,1000", help="checkpoints (tracks done), comma-separated")
    p.add_argument("--backend", default="pool-apply-async")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--extractor", default="fast")
    p.add_argument("--per-genre", type=int, default=1, help="synthetic tracks per genre (repeated)")
    p.add_argument("--seconds", type=float, default=6.5)
    p.add_argument("--max-tasks-per-worker", type=int, default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rows = measure(
        [int(t) for t in args.tracks.split(",")],
        backend=args.backend,
        workers=args.workers,
        extractor=args.extractor,
        per_genre=args.per_genre,
        seconds=args.seconds,
        max_tasks_per_worker=args.max_tasks_per_worker,
    )
    mib = 1024 * 1024
    print(
        f"{args.backend} x{args.workers}, {args.extractor}, {args.seconds:g} s tracks, cache off",
        file=sys.stderr,
    )
    print(f"{'tracks':>7} {'seconds':>8} {'RSS MiB (per worker)':>24} {'USS MiB':>16}", file=sys.stderr)
    for r in rows:
        rss = " ".join(f"{w['rss'] / mib:.1f}" for w in r["workers"])
        uss = " ".join(f"{w['uss'] / mib:.1f}" for w in r["workers"])
        print(f"{r['tracks']:>7} {r['seconds']:>8.1f} {rss:>24} {uss:>16}", file=sys.stderr)
    first, last = rows[1], rows[-1]
    if first["workers"] and last["workers"]:
        a = sum(w["rss"] for w in first["workers"])
        b = sum(w["rss"] for w in last["workers"])
        print(
            f"RSS after {last['tracks']} tracks vs after {first['tracks']}: {100 * (b - a) / a:+.1f} %",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps({"rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
