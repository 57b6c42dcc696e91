"""Where the CPU goes during warm maps: per process and thread, CPU time and run-queue wait.

Not an asv benchmark: a script beside the suite, for the "what limits it" evidence in
docs/benchmarks.md (``dask-distributed``'s machinery on 2 cores). It prepares a stage's work
(the synthetic 50 tracks of 30 s), holds a session of every backend open (workers up and warm),
and around each warm map reads ``/proc/<pid>/task/<tid>/schedstat`` of this process and all its
descendants (workers, nannies, the forkserver): the CPU time each thread used and the time it
waited, runnable, for a core. Backends alternate within each round::

    .venv/bin/python benchmarks/thread_cpu.py        # extract: pool-map against dask-distributed
    .venv/bin/python benchmarks/thread_cpu.py --stage images --rounds 5

Threads are named by process (``parent`` is this one) and thread id; a process' main thread has
its own pid as id. Linux only. It is meant for backends whose workers live through the session
(the pools, loky, the Dask clusters): a thread that ends during a map takes its CPU time with
it, and the script says how many did; a child process that ends is counted, once its parent
has waited for it, as that parent's ``reaped children``: exact for children born and ended
within the map (``process``' children, the forkserver's), but a long-lived worker that exits
mid-map brings its whole lifetime's CPU time. Every
backend's session stays open during the rounds, so an idle cluster's own background (its event
loops, heartbeats) is in the totals of the others' maps: pass one backend to leave it out.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics


def snapshot() -> dict:
    """``(pid, tid) -> (cpu_ns, wait_ns)`` of this process and its descendants; ``(pid,
    "reaped")`` -> the CPU time of that process' children that ended and were waited for."""
    import psutil

    me = psutil.Process()
    out = {}
    tick_ns = 1e9 / os.sysconf("SC_CLK_TCK")
    for proc in [me, *me.children(recursive=True)]:
        try:
            with open(f"/proc/{proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[proc.pid, "reaped"] = (int((int(fields[13]) + int(fields[14])) * tick_ns), 0)
        except (OSError, IndexError, ValueError):
            pass
        try:
            tids = os.listdir(f"/proc/{proc.pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{proc.pid}/task/{tid}/schedstat") as f:
                    cpu, wait, _ = f.read().split()
            except (OSError, ValueError):
                continue
            out[proc.pid, int(tid)] = (int(cpu), int(wait))
    return out


def difference(before: dict, after: dict) -> tuple[dict, int]:
    """``(process, thread) -> (cpu_s, wait_s)`` used between two snapshots, and how many threads
    of the first are gone from the second: their CPU time since the first is not in it, unless
    their process ended and was waited for, when its parent's ``reaped children`` holds their
    whole lifetime's, the time before the first snapshot too."""
    me = os.getpid()
    out = {}
    for (pid, tid), (cpu, wait) in after.items():
        cpu0, wait0 = before.get((pid, tid), (0, 0))
        thread = "reaped children" if tid == "reaped" else "main" if tid == pid else f"thread {tid}"
        name = ("parent" if pid == me else f"pid {pid}", thread)
        out[name] = ((cpu - cpu0) / 1e9, (wait - wait0) / 1e9)
    return out, sum(1 for key in before.keys() - after.keys() if key[1] != "reaped")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", choices=("images", "extract"), default="extract")
    p.add_argument("--backends", default="pool-map,dask-distributed")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--per-genre", type=int, default=5)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--min-cpu", type=float, default=0.005, help="list threads above this CPU time (s)")
    args = p.parse_args(argv)

    from contextlib import ExitStack

    from genre_hpc.measure import CellSession
    from genre_hpc.stages import get_stage

    stage = get_stage(args.stage)
    backends = args.backends.split(",")
    work = stage.prepare(per_genre=args.per_genre, seconds=args.seconds)
    stage.prestart(work, [{"backend": b} for b in backends])
    totals = collections.defaultdict(list)
    with ExitStack() as stack:
        sessions = {}
        for b in backends:
            cell = CellSession(stage, work, {"backend": b, "workers": args.workers}, memory=False)
            sessions[b] = stack.enter_context(cell)
        for s in sessions.values():
            s.run()  # one warm map each, untimed
        for r in range(args.rounds):
            for name in backends if r % 2 == 0 else backends[::-1]:
                before = snapshot()
                res = sessions[name].run()
                used, ended = difference(before, snapshot())
                cpu = sum(c for c, _ in used.values())
                wait = sum(w for _, w in used.values())
                totals[name].append((res.compute_s, cpu, wait))
                print(f"round {r} {name}: wall {res.compute_s:.3f} s, CPU {cpu:.3f} s, waiting {wait:.3f} s")
                if ended:
                    print(f"    ({ended} threads ended during the map: their CPU time is not exact)")
                for (proc, thread), (c, w) in sorted(used.items(), key=lambda kv: -kv[1][0]):
                    if c >= args.min_cpu or w >= args.min_cpu:
                        print(f"    {proc:>10s} {thread:14s} CPU {c:.3f}  wait {w:.3f}")
    for name, runs in totals.items():
        wall, cpu, wait = (statistics.median(x[i] for x in runs) for i in range(3))
        print(f"{name:18s} medians: wall {wall:.3f} s, CPU {cpu:.3f} s, waiting {wait:.3f} s")


if __name__ == "__main__":
    main()
