"""What a second XGBoost thread gives as the training table grows: ``xgb-threads`` 1 vs 2 threads.

Not an asv benchmark: a script beside the suite, for the XGBoost paragraph of "what limits it"
in docs/benchmarks.md. It fits the suite's ``TimeTrain`` model (:func:`genre_hpc.training.train_xgb`,
``xgb-threads``, the ``quick`` preset with the default profile's ``n_estimators=10``) on the
suite's training table (1000 synthetic tracks, ten thousand chunks; rendered and cached as
``make bench`` does) cut to fewer rows (a fixed random subset) or repeated to more (every row
``k`` times, as the stage's weak scaling does). One process, warm; every round fits every size
at both thread counts, the order of the two alternating from round to round, so that the host's
drift falls on all alike::

    .venv/bin/python benchmarks/xgb_thread_cost.py                       # 1/4 .. 4x the table, 7 rounds
    .venv/bin/python benchmarks/xgb_thread_cost.py --fractions 1 --rounds 15
    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/xgb_thread_cost.py

Prints, per size, the median fit time at 1 and 2 threads, the speed-up with its 95 % bootstrap
interval (:func:`genre_hpc.measure.figures`), and the process CPU time over the wall time of the
2-thread calls (both measured around the whole call: 2.0 means both threads always on a core,
busy or spinning in OpenMP's barrier).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _sized(work, fraction: float):
    """The training data of ``work`` with a fixed random ``fraction`` of its training rows, or
    (``fraction`` a whole number) every row ``fraction`` times: the train stage's weak scaling."""
    import dataclasses

    import numpy as np

    from genre_hpc.stages import get_stage

    if fraction >= 1:
        return get_stage("train").scaled(work, int(fraction))["data"]
    data = work["data"]
    n = len(data.y_train)
    idx = np.sort(np.random.default_rng(0).choice(n, int(n * fraction), replace=False))
    rows = {name: getattr(data, name)[idx] for name in ("X_train", "y_train", "groups_train")}
    for name in ("test_fold", "groups_search"):
        if getattr(data, name) is not None:
            rows[name] = getattr(data, name)[idx]
    return dataclasses.replace(data, **rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fractions", default="0.25,0.5,1,2,4", help="table sizes, as fractions of the suite's")
    p.add_argument("--rounds", type=int, default=7, help="fits per size and thread count")
    p.add_argument("--n-estimators", type=int, default=10, help="boosting rounds (the suite: 10)")
    args = p.parse_args(argv)
    fractions = [float(f) for f in args.fractions.split(",")]
    for f in fractions:
        if f <= 0 or (f > 1 and f != int(f)):
            p.error(f"--fractions: {f} is neither a part of the table (0 < f <= 1) nor whole copies")
    os.environ.setdefault("GENRE_HPC_BENCH_SCALE", "default")
    # the cache of benchmarks/run_reference.sh (the datasets rendered and extracted once)
    os.environ.setdefault("GENRE_HPC_CACHE", str(REPO / ".asv" / "cache"))
    if str(REPO) not in sys.path:  # run as a script: benchmarks.common is found from the repository
        sys.path.insert(0, str(REPO))

    from benchmarks.common import dataset_root, profile
    from genre_hpc.measure import figures
    from genre_hpc.stages.train import prepare_training, warm_models
    from genre_hpc.training import train_xgb

    prof = profile()
    work = prepare_training(data=dataset_root(prof, which="train"), extractor="fast")
    warm_models(work["data"])
    sized = {f: _sized(work, f) for f in fractions}
    overrides = {"n_estimators": args.n_estimators}
    times: dict = {(f, t): [] for f in fractions for t in (1, 2)}
    cpu: dict = {f: [] for f in fractions}
    print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, {args.rounds} rounds", flush=True)
    for r in range(args.rounds):
        for f in fractions:
            for t in (1, 2) if r % 2 == 0 else (2, 1):
                c0, w0 = time.process_time(), time.perf_counter()
                res = train_xgb(sized[f], "xgb-threads", t, preset="quick", overrides=overrides)
                c1, w1 = time.process_time(), time.perf_counter()
                times[f, t].append(res.fit_s)
                if t == 2:
                    cpu[f].append((c1 - c0) / (w1 - w0))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    head = ("rows", "1 thread s", "2 threads s", "speed-up [95 % CI]", "CPU/wall at 2")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (7, 10, 11, 21, 13))))
    for f in fractions:
        fig = figures(times[f, 1], times[f, 2], 2)
        lo, hi = fig.speedup_ci
        print(
            f"{len(sized[f].y_train):7d} {statistics.median(times[f, 1]):10.3f} "
            f"{statistics.median(times[f, 2]):11.3f} {fig.speedup:8.2f} [{lo:.2f}, {hi:.2f}] "
            f"{statistics.median(cpu[f]):13.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
