"""Measure the ``fast`` extractor against the reference: agreement, speed, memory.

Usage::

    python -m genre_hpc.features._fast_bench [--data DIR] [--synthetic N] [--repeat R] [--memory]

- ``--data DIR``: every ``*.wav`` under DIR (GTZAN layout), loaded with
  :func:`genre_hpc.audio.load_chunks` (resampled to 22050 Hz, chunked, trimmed).
- ``--synthetic N``: N tracks of 9 s per genre from :mod:`genre_hpc.synth`
  (3 chunks each), through the same chunking and trimming.

Speed is CPU time per chunk (``time.process_time``) in this one process with
BLAS limited to one thread: the throughput of one core. Both extractors are
warmed up first (numba compilation, filter banks), there is no feature
cache, and each set is timed ``--repeat`` times (best and median reported).
Memory (``--memory``): each extractor runs the same chunks in a fresh
subprocess, which reports its peak RSS (``ru_maxrss``) and the
``tracemalloc`` peak of the extraction loop alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

#: agreement tolerance: |fast - reference| <= max(RTOL * |reference|, ATOL)
RTOL = 1e-4
ATOL = 1e-6


def within_tolerance(fast_values, ref_values, rtol: float = RTOL, atol: float = ATOL) -> np.ndarray:
    """Elementwise ``|fast - ref| <= max(rtol * |ref|, atol)``."""
    fast_values = np.asarray(fast_values, dtype=float)
    ref_values = np.asarray(ref_values, dtype=float)
    return np.abs(fast_values - ref_values) <= np.maximum(rtol * np.abs(ref_values), atol)


def data_chunks(folder) -> list[np.ndarray]:
    """Trimmed chunks of every wav file under ``folder`` (sorted paths)."""
    from ..audio import AudioError, load_chunks

    out = []
    for path in sorted(Path(folder).rglob("*.wav")):
        try:
            out += [y for _, y in load_chunks(path)]
        except AudioError as exc:  # pragma: no cover - reported, not fatal
            print(f"skipping {path}: {exc.reason}", file=sys.stderr)
    return out


def synthetic_chunks(per_genre: int = 1, seconds: float = 9.0, seed: int = 0) -> list[np.ndarray]:
    """Trimmed 3 s chunks of synthetic music (every genre of :mod:`genre_hpc.synth`)."""
    from ..audio import MIN_CHUNK_SAMPLES, split_chunks, trim_chunk
    from ..synth import GENRES, synthesize_track

    out = []
    for genre in GENRES:
        for i in range(per_genre):
            y = synthesize_track(genre, i, seconds=seconds, seed=seed)
            for chunk in split_chunks(y):
                t = trim_chunk(chunk)
                if len(t) >= MIN_CHUNK_SAMPLES:
                    out.append(t)
    return out


def _extract_all(module, chunks):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batched = getattr(module, "extract_chunks", None)
        if batched is not None:
            return batched(chunks)
        return [module.extract_chunk(y) for y in chunks]


def cpu_seconds_per_chunk(module, chunks, repeat: int) -> list[float]:
    """CPU seconds per chunk of ``repeat`` passes over ``chunks`` (after a warm-up)."""
    _extract_all(module, chunks[:1])
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        _extract_all(module, chunks)
        times.append((time.process_time() - t0) / len(chunks))
    return times


def agreement(chunks) -> dict:
    """Per-feature agreement of fast vs reference over ``chunks``."""
    from . import fast, reference

    cols = reference.SCHEMA.columns
    R = np.array([[d[c] for c in cols] for d in _extract_all(reference, chunks)])
    F = np.array([[d[c] for c in cols] for d in _extract_all(fast, chunks)])
    err = np.abs(F - R)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(R != 0, err / np.abs(R), np.where(err == 0, 0.0, np.inf))
    ok = within_tolerance(F, R)
    return {
        "n_chunks": len(chunks),
        "all_features_ok_pct": float(ok.all(axis=1).mean() * 100),
        "features": {
            c: {
                "max_rel": float(rel[:, j].max()),
                "max_abs": float(err[:, j].max()),
                "ok_pct": float(ok[:, j].mean() * 100),
                "bitwise_pct": float((F[:, j] == R[:, j]).mean() * 100),
            }
            for j, c in enumerate(cols)
        },
    }


def _status_kib(field: str):
    """A ``/proc/self/status`` field in KiB (Linux), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:  # pragma: no cover - not Linux
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) of this process (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:  # pragma: no cover
        return False


def _memory_child(extractor: str, source: dict) -> None:
    import gc

    from . import get_extractor

    chunks = _load(source)
    module = get_extractor(extractor)
    _extract_all(module, chunks[:1])  # imports, compilation, filter banks
    gc.collect()
    reset = _reset_peak_rss()
    rss_before = _status_kib("VmRSS")
    tracemalloc.start()
    _extract_all(module, chunks)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "extractor": extractor,
                "n_chunks": len(chunks),
                "rss_before_loop_kib": rss_before,
                "peak_rss_loop_kib": _status_kib("VmHWM") if reset else None,
                "maxrss_process_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "tracemalloc_peak_bytes": peak,
            }
        )
    )


def memory(source: dict) -> dict:
    """Peak memory of each extractor in a fresh process over the same chunks."""
    out = {}
    for name in ("reference", "fast"):
        cmd = [
            sys.executable,
            "-m",
            "genre_hpc.features._fast_bench",
            "--memory-child",
            name,
            "--source",
            json.dumps(source),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[name] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def _load(source: dict) -> list[np.ndarray]:
    if source["kind"] == "data":
        return data_chunks(source["path"])
    return synthetic_chunks(per_genre=source["per_genre"])


def _limit_threads():
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(1)
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="folder of wav files (GTZAN layout)")
    ap.add_argument("--synthetic", type=int, default=0, help="synthetic tracks per genre (9 s each)")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per extractor")
    ap.add_argument(
        "--ref-repeat", type=int, default=None, help="timed passes for the reference (default: --repeat)"
    )
    ap.add_argument("--memory", action="store_true", help="peak memory per extractor in fresh processes")
    ap.add_argument("--json", help="write all results here")
    ap.add_argument("--memory-child", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    with _limit_threads():
        if args.memory_child:
            _memory_child(args.memory_child, json.loads(args.source))
            return 0
        from . import fast, reference

        sources = []
        if args.synthetic:
            sources.append({"kind": "synthetic", "per_genre": args.synthetic})
        if args.data:
            sources.append({"kind": "data", "path": str(args.data)})
        if not sources:
            ap.error("give --data and/or --synthetic")
        results = []
        for source in sources:
            chunks = _load(source)
            label = source.get("path", f"synthetic x{source.get('per_genre')}")
            agree = agreement(chunks)
            t_fast = cpu_seconds_per_chunk(fast, chunks, args.repeat)
            t_ref = cpu_seconds_per_chunk(reference, chunks, args.ref_repeat or args.repeat)
            res = {
                "source": source,
                "n_chunks": len(chunks),
                "reference_cpu_s_per_chunk": {"best": min(t_ref), "median": float(np.median(t_ref))},
                "fast_cpu_s_per_chunk": {"best": min(t_fast), "median": float(np.median(t_fast))},
                "speedup_best": min(t_ref) / min(t_fast),
                "speedup_median": float(np.median(t_ref) / np.median(t_fast)),
                "agreement": agree,
            }
            if args.memory:
                res["memory"] = memory(source)
            results.append(res)
            print(f"== {label}: {len(chunks)} chunks")
            print(
                f"   reference {1 / min(t_ref):7.2f} chunks/s per core "
                f"(best of {len(t_ref)}; median {1 / np.median(t_ref):.2f})"
            )
            print(
                f"   fast      {1 / min(t_fast):7.2f} chunks/s per core "
                f"(best of {len(t_fast)}; median {1 / np.median(t_fast):.2f})"
            )
            print(f"   speed-up  {res['speedup_best']:.1f}x (best) / {res['speedup_median']:.1f}x (median)")
            print(f"   chunks with all 87 features within tolerance: {agree['all_features_ok_pct']:.2f} %")
            print(f"   {'feature':38s} {'max rel':>9s} {'max abs':>9s} {'ok %':>7s} {'bitwise %':>9s}")
            for name, a in agree["features"].items():
                print(
                    f"   {name:38s} {a['max_rel']:9.2e} {a['max_abs']:9.2e} "
                    f"{a['ok_pct']:7.2f} {a['bitwise_pct']:9.2f}"
                )
            if args.memory:
                for name, m in res["memory"].items():
                    hwm = m["peak_rss_loop_kib"]
                    print(
                        f"   memory {name:9s}: peak RSS during the loop "
                        f"{(hwm or 0) / 1024:7.1f} MiB "
                        f"(RSS before it {(m['rss_before_loop_kib'] or 0) / 1024:.1f}; "
                        f"process peak {m['maxrss_process_kib'] / 1024:.1f}), "
                        f"tracemalloc peak of the loop {m['tracemalloc_peak_bytes'] / 2**20:.2f} MiB"
                    )
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
