"""The cost of a task on ``dask-distributed``: one item per task against chunks, on one warm cluster.

Not an asv benchmark: a script beside the suite, for the "what limits it" evidence in
docs/benchmarks.md and docs/backends.md ("Chunks"). It prepares a stage's work (the synthetic
50 tracks of 30 s), holds serial, ``pool-map`` and ``dask-distributed`` sessions open (workers
up and warm), and times warm maps in rounds, the variants of ``dask-distributed`` alternating on
the same cluster so that the host's drift falls on all of them alike::

    .venv/bin/python benchmarks/dask_task_cost.py                       # images, 10 rounds
    .venv/bin/python benchmarks/dask_task_cost.py --stage extract --rounds 6

Variants: ``chunksize`` 1 (one task per item) or auto (:func:`~genre_hpc.backends._workers.auto_chunksize`),
and how often the map looks for finished tasks (``genre_hpc.backends.dask.POLL_S``). Prints the
compute time of every run and the medians with the efficiency at 2 workers.
"""

from __future__ import annotations

import argparse
import statistics

#: name -> (chunksize, poll seconds)
VARIANTS = {
    "1 per task, poll 50 ms": (1, 0.05),
    "auto, poll 50 ms": (None, 0.05),
    "auto, poll 5 ms": (None, 0.005),
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", choices=("images", "extract"), default="images")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--per-genre", type=int, default=5)
    p.add_argument("--seconds", type=float, default=30.0)
    args = p.parse_args(argv)

    from genre_hpc.backends import dask as dask_backends
    from genre_hpc.measure import CellSession
    from genre_hpc.stages import get_stage

    stage = get_stage(args.stage)
    work = stage.prepare(per_genre=args.per_genre, seconds=args.seconds)
    stage.prestart(work, [{"backend": "pool-map"}, {"backend": "dask-distributed"}])
    times: dict = {name: [] for name in [*VARIANTS, "pool-map", "serial"]}

    def cell(backend, workers):
        return CellSession(stage, work, {"backend": backend, "workers": workers}, memory=False)

    with cell("dask-distributed", 2) as d, cell("pool-map", 2) as pool, cell("serial", 1) as serial:
        reference = serial.run().output
        for s in (d, pool):
            s.run()  # one warm map each, untimed
        for r in range(args.rounds):
            for name, (chunksize, poll) in VARIANTS.items():
                d.value.options["chunksize"] = chunksize
                dask_backends.POLL_S = poll
                res = d.run()
                if not stage.same(reference, res.output):
                    raise SystemExit(f"{name}: not the serial output")
                times[name].append(res.compute_s)
            times["pool-map"].append(pool.run().compute_s)
            times["serial"].append(serial.run().compute_s)
            print(r, {k: round(v[-1], 3) for k, v in times.items()}, flush=True)
    base = statistics.median(times["serial"])
    for name, ts in times.items():
        m = statistics.median(ts)
        eff = "" if name == "serial" else f"  efficiency at 2 workers {base / m / 2:.2f}"
        print(f"{name:24s} median {m:.3f} s  [{min(ts):.3f}, {max(ts):.3f}]{eff}")


if __name__ == "__main__":
    main()
