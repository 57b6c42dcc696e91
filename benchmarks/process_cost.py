"""The cost per item of the ``process`` backend (a new process per item), beside a pool.

Not an asv benchmark: a script beside the suite, for the "what limits it" evidence in
docs/benchmarks.md. It maps a trivial function (``noop``) or the ``fast`` extraction of a
synthetic 30 s track (``track``) over ``process`` and ``pool-map`` with warm workers and prints
the wall time per item and per lane::

    .venv/bin/python benchmarks/process_cost.py                  # noop, 40 items, 1 and 2 workers
    .venv/bin/python benchmarks/process_cost.py --work track --items 20
    GENRE_HPC_PROCESS_COST_IMPORT=asv_runner.run,asv_runner.discovery,asv_runner.server \\
        .venv/bin/python benchmarks/process_cost.py             # a main script as heavy as asv's

A child of a ``forkserver`` parent imports the parent's main script (this file) as
``__mp_main__`` unless the warm server has done it once for all (genre_hpc.backends._preload);
``GENRE_HPC_PROCESS_COST_IMPORT`` makes that import as heavy as asv's launcher's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time

for _name in filter(None, os.environ.get("GENRE_HPC_PROCESS_COST_IMPORT", "").split(",")):
    importlib.import_module(_name)  # at import: what a child would pay for this main script


def noop(x):
    return x


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", choices=("noop", "track"), default="noop")
    p.add_argument("--items", type=int, default=40)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--backends", default="process,pool-map")
    args = p.parse_args(argv)

    from genre_hpc.backends import get_backend
    from genre_hpc.extract import TrackTask, extract_track, warm_up

    warmup = warm_up("fast")
    if args.work == "noop":
        fn, items = noop, list(range(args.items))
    else:
        from genre_hpc.dataset import discover
        from genre_hpc.synth import default_dataset

        tracks = discover(default_dataset(per_genre=max(1, -(-args.items // 10)), seconds=30, seed=0))
        fn, items = extract_track, [TrackTask(track=t, extractor="fast") for t in tracks[: args.items]]
    for backend in args.backends.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            with get_backend(backend, workers, warmup=warmup) as b:
                b.map(fn, items[: 2 * workers])  # first items apart
                t0 = time.perf_counter()
                b.map(fn, items)
                dt = time.perf_counter() - t0
            per_item = dt / len(items) * 1e3
            print(
                f"{backend:10s} x{workers}  {args.work}: {per_item:6.1f} ms per item, "
                f"{per_item * workers:6.1f} ms per item and lane ({len(items)} items in {dt:.2f} s)"
            )


if __name__ == "__main__":
    main()
