"""Past this machine, on paper: a model of the time of a track-parallel stage at many workers.

``genre-hpc scale --project`` fits, per series (backend) of a study of the ``extract`` or
``images`` stage, the terms of

    T(N, p) = T_startup + f * W(N) + (1 - f) * W(N) / p + N * h / p + N * (r + i) / B

and draws it for the full GTZAN (1000 tracks x 30 s) and a 100,000-track collection (the size of
FMA-large, 30 s clips) at 8 ... 1024 workers beside the measured points. Every figure it gives is
a **model**, labelled so; where each term comes from (docs/scaling.md, "Projection"):

- ``W(N) = N * L * w``: the serial work, ``w`` seconds of compute per second of audio measured by
  the study's baseline (``baseline_s`` over the audio it processed), ``L`` seconds per track;
- ``h``: the backend's overhead per task (track), from its 1-worker row:
  ``(T_cell(1) - T_baseline) / n`` (0, and said so, without a 1-worker row);
- ``f``: the serial fraction left after that overhead, from the rows with ``p > 1``:
  ``f = (T(p) - (W + n h) / p) / (W (1 - 1/p))``, averaged over them and clipped to [0, 1]
  (Karp-Flatt's estimate, with the per-task overhead taken out);
- ``T_startup``: the measured start-up of the series at its largest measured ``p`` (workers start
  in parallel on their own hosts; on one machine start-up grows with ``p``, on a cluster the
  scheduler's registration of 1000 workers is not measured here);
- ``r``: result bytes per track (the measured output's size per second of audio, times ``L``),
  gathered by one client through a link of ``B`` bytes/s (``--bandwidth``, default 1 Gbit/s);
  ``i``: the audio's bytes per track when the study sent files as bytes (``--send-files bytes``),
  0 with a shared filesystem.

What it leaves out: the scheduler's own per-task time on one core (Dask: about 1 ms per task by
its documentation; on the 2-core reference machine the client, scheduler and nannies took about
4 ms of CPU per task, docs/benchmarks.md; a floor of ``N x`` that, not divided by ``p``),
stragglers and the tail (``N / p`` tasks per worker rounded up), failures and retries, a shared
filesystem's bandwidth, memory limits.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field

#: collections projected: name -> (tracks, seconds per track, description)
COLLECTIONS: dict[str, tuple[int, float, str]] = {
    "gtzan": (1000, 30.0, "the full GTZAN (1000 tracks x 30 s)"),
    "fma-large": (100_000, 30.0, "a 100,000-track collection (FMA-large size, 30 s clips)"),
}
#: worker counts of the projection
DEFAULT_WORKERS = (8, 16, 32, 64, 128, 256, 512, 1024)
#: the client's link, bytes per second (1 Gbit/s)
DEFAULT_BANDWIDTH = 1e9 / 8
#: the stages whose work is one task per track
STAGES = ("extract", "images")
#: the formula, as printed on the plot and in the JSON
FORMULA = "T(N,p) = T_startup + f*W(N) + (1-f)*W(N)/p + N*h/p + N*(r+i)/B,  W(N) = N*L*w"
LABEL = "MODEL (projection from the measured terms, not a measurement)"


@dataclass
class Terms:
    """The fitted terms of one series (see the module docstring)."""

    series: str
    backend: str
    w: float  # compute seconds per second of audio, serial
    h: float  # overhead seconds per task
    f: float  # serial fraction
    startup_s: float
    result_bytes_per_audio_s: float
    input_bytes_per_audio_s: float  # 0 unless the files were sent as bytes
    measured: list = field(default_factory=list)  # [(p, tracks, audio_s, compute_s, startup_s)]
    notes: list = field(default_factory=list)

    def predict(self, tracks: int, seconds: float, p: int, bandwidth: float = DEFAULT_BANDWIDTH) -> dict:
        """The model's time and its terms for ``tracks`` tracks of ``seconds`` on ``p`` workers."""
        work = tracks * seconds * self.w
        serial = self.f * work
        parallel = (1.0 - self.f) * work / p
        overhead = tracks * self.h / p
        transfer = (
            tracks * seconds * (self.result_bytes_per_audio_s + self.input_bytes_per_audio_s) / bandwidth
        )
        total = self.startup_s + serial + parallel + overhead + transfer
        speedup = work / total if total > 0 else float("nan")
        return {
            "projected_s": total,
            "startup_s": self.startup_s,
            "serial_s": serial,
            "parallel_s": parallel,
            "overhead_s": overhead,
            "transfer_s": transfer,
            "serial_work_s": work,
            "speedup": speedup,
            "efficiency": speedup / p,
        }


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fit(rows) -> tuple[list[Terms], list[str]]:
    """The terms of every series of ``rows`` (a scale study's rows of a track stage) that has a
    measured row with more than one worker; and notes on what was left out and why."""
    notes: list[str] = []
    ok = [r for r in rows if not r.get("skipped") and _finite(r.get("compute_s"))]
    by_series: dict[str, list[dict]] = {}
    for r in ok:
        by_series.setdefault(r.get("series", r["backend"]), []).append(r)
    out = []
    for name, rs in by_series.items():
        if not any(int(r["workers"]) > 1 for r in rs):
            notes.append(f"{name}: no measured row with more than 1 worker, not projected")
            continue
        audio = [r.get("audio_s") for r in rs]
        if not all(_finite(a) and a > 0 for a in audio) or not all(_finite(r.get("baseline_s")) for r in rs):
            notes.append(f"{name}: rows without audio_s or baseline_s, not projected")
            continue
        t = Terms(name, str(rs[0]["backend"]), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        # w: the serial baseline's compute per second of audio (same work as the rows)
        t.w = statistics.median(r["baseline_s"] / r["audio_s"] for r in rs)
        ones = [r for r in rs if int(r["workers"]) == 1]
        if ones:
            hs = [(r["compute_s"] - r["baseline_s"]) / r["tracks"] for r in ones]
            t.h = max(0.0, statistics.median(hs))
        else:
            t.notes.append("no 1-worker row: per-task overhead h taken as 0")
        fs = []
        for r in rs:
            p = int(r["workers"])
            if p <= 1:
                continue
            w_run = r["baseline_s"]
            denom = w_run * (1.0 - 1.0 / p)
            if denom > 0:
                fs.append((r["compute_s"] - (w_run + r["tracks"] * t.h) / p) / denom)
        t.f = min(1.0, max(0.0, statistics.mean(fs))) if fs else 0.0
        top = max(int(r["workers"]) for r in rs)
        t.startup_s = (
            statistics.median(
                r.get("startup_s") or 0.0
                for r in rs
                if int(r["workers"]) == top and _finite(r.get("startup_s"))
            )
            if any(_finite(r.get("startup_s")) for r in rs if int(r["workers"]) == top)
            else 0.0
        )
        rb = [r.get("result_bytes") for r in rs]
        if all(_finite(b) for b in rb):
            t.result_bytes_per_audio_s = statistics.median(r["result_bytes"] / r["audio_s"] for r in rs)
        else:
            t.notes.append("no result size measured: result transfer taken as 0")
        if any(r.get("send_files") == "bytes" for r in rs):
            ib = [r.get("input_bytes") for r in rs]
            if all(_finite(b) for b in ib):
                t.input_bytes_per_audio_s = statistics.median(r["input_bytes"] / r["audio_s"] for r in rs)
        t.measured = [
            (
                int(r["workers"]),
                int(r["tracks"]),
                float(r["audio_s"]),
                float(r["compute_s"]),
                float(r.get("startup_s") or 0.0),
            )
            for r in sorted(rs, key=lambda r: int(r["workers"]))
        ]
        out.append(t)
    return out, notes


def project(
    rows,
    *,
    collections: dict | None = None,
    workers=DEFAULT_WORKERS,
    bandwidth: float = DEFAULT_BANDWIDTH,
) -> dict:
    """The projection of a study's rows: the fitted terms, the model's rows per collection,
    series and worker count, and the model at the measured points beside the measurements.

    Returns
    -------
    dict
        ``label`` (it is a model), ``formula``, ``bandwidth_bytes_s``, ``collections``,
        ``terms`` (per series), ``rows`` (``collection``, ``tracks``, ``seconds_per_track``,
        ``series``, ``backend``, ``workers``, ``projected_s`` and its terms, ``speedup``,
        ``efficiency``; every row has ``model: true``), ``fit`` (per measured point: measured
        ``compute_s + startup_s`` and the model's, and the compute parts alone), ``notes``.
    """
    collections = COLLECTIONS if collections is None else collections
    terms, notes = fit(rows)
    out_rows, fit_rows = [], []
    for t in terms:
        for key, (tracks, seconds, _desc) in collections.items():
            for p in workers:
                out_rows.append(
                    {
                        "model": True,
                        "collection": key,
                        "tracks": tracks,
                        "seconds_per_track": seconds,
                        "series": t.series,
                        "backend": t.backend,
                        "workers": int(p),
                        **t.predict(tracks, seconds, int(p), bandwidth),
                    }
                )
        n0, audio0 = t.measured[0][1], t.measured[0][2]
        line = [(q, t.predict(n0, audio0 / n0, q, bandwidth)["projected_s"]) for q in (1, *workers)]
        for p, n, audio_s, compute_s, startup_s in t.measured:
            model = t.predict(n, audio_s / n, p, bandwidth)
            fit_rows.append(
                {
                    "series": t.series,
                    "workers": p,
                    "tracks": n,
                    "measured_s": compute_s + startup_s,
                    "model_s": model["projected_s"],
                    "measured_compute_s": compute_s,
                    "model_compute_s": model["serial_s"] + model["parallel_s"] + model["overhead_s"],
                    "model_line": line,
                }
            )
    return {
        "label": LABEL,
        "formula": FORMULA,
        "bandwidth_bytes_s": bandwidth,
        "collections": {
            k: {"tracks": v[0], "seconds_per_track": v[1], "what": v[2]} for k, v in collections.items()
        },
        "terms": [{k: v for k, v in asdict(t).items() if k != "measured"} for t in terms],
        "rows": out_rows,
        "fit": fit_rows,
        "notes": notes + [f"{t.series}: {n}" for t in terms for n in t.notes],
    }
