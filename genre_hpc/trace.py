"""Where the time goes: a timeline of every item of a map, and the pictures of it.

A traced map runs ``traced_call(fn, item)`` instead of ``fn(item)`` on any backend: the
worker returns, with the value, which process and thread ran the item and when it started
and ended (``time.time()``, comparable across processes and hosts with synchronised clocks).
:func:`unwrap` turns the mapped results back into the values and the timeline:

    {"t0": <wall clock at the map's start>, "startup_s": <the backend's start-up before it>,
     "items": [{"index", "worker", "pid", "thread", "host", "start", "end"}, ...]}

with ``start``/``end`` in seconds from ``t0``, so the start-up is ``[-startup_s, 0]``. A
``worker`` is ``pid <n>`` for items run in another process, ``thread <name>`` for items run
in this one (serial, the thread backends). :func:`task_stream_png` draws it (one row per
worker, start-up shaded), :func:`write_trace` writes it as JSON and CSV.

For the Dask backends: :func:`dask_resources` samples Dask's ``ResourceProfiler`` (CPU and
memory of this process, for the local schedulers) and :func:`dask_performance_report` keeps
``distributed``'s own performance report (HTML; it needs bokeh).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .files import atomic_write

_HOST = socket.gethostname()


@dataclass(frozen=True)
class Traced:
    """A value with where and when it was computed."""

    value: object
    pid: int
    thread: str
    host: str
    start: float
    end: float


def traced_call(fn, item) -> Traced:
    """``fn(item)`` with its process, thread, host and wall-clock start and end.

    Picklable as ``functools.partial(traced_call, fn)`` wherever ``fn`` is; an exception of
    ``fn`` propagates unchanged (the backend names the item as usual).
    """
    start = time.time()
    value = fn(item)
    return Traced(value, os.getpid(), threading.current_thread().name, _HOST, start, time.time())


def worker_label(pid: int, thread: str, host: str, *, here: int | None = None) -> str:
    """``pid <n>`` (another process), ``thread <name>`` (this process), prefixed by the host
    when it is not this one."""
    here = os.getpid() if here is None else here
    label = f"thread {thread}" if pid == here and host == _HOST else f"pid {pid}"
    return label if host == _HOST else f"{host}:{label}"


def unwrap(results: Sequence, t0: float, startup_s: float = 0.0) -> tuple[list, dict]:
    """The values of a traced map and its timeline (``t0``: ``time.time()`` at the map's
    start; ``startup_s``: the backend's start-up before it). A result that is not
    :class:`Traced` (the ``on_lost`` stand-in of an item whose worker died) is kept as it is,
    with no timeline entry."""
    values, items = [], []
    here = os.getpid()
    for i, r in enumerate(results):
        if not isinstance(r, Traced):
            values.append(r)
            continue
        values.append(r.value)
        items.append(
            {
                "index": i,
                "worker": worker_label(r.pid, r.thread, r.host, here=here),
                "pid": r.pid,
                "thread": r.thread,
                "host": r.host,
                "start": r.start - t0,
                "end": r.end - t0,
            }
        )
    return values, {"t0": t0, "startup_s": float(startup_s or 0.0), "items": items}


class TracedBackend:
    """A started backend whose every ``map`` is traced; the items of all its maps gather in
    :attr:`timeline` (one clock, ``t0``). Everything else is the backend's."""

    def __init__(self, backend, t0: float, startup_s: float = 0.0):
        self._backend = backend
        self.timeline = {
            "t0": t0,
            "startup_s": float(startup_s or 0.0),
            "items": [],
            "backend": backend.name,
            "workers": backend.workers,
        }

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def map(self, fn, items, progress=None, **kwargs):
        import functools

        out = self._backend.map(functools.partial(traced_call, fn), items, progress=progress, **kwargs)
        values, timeline = unwrap(out, self.timeline["t0"])
        self.timeline["items"].extend(timeline["items"])
        return values


def timed(b, call, trace: bool = False, startup_s: float = 0.0):
    """``call(backend)`` on a started backend ``b``, timed around the call only; with ``trace``
    the call gets a :class:`TracedBackend`, so every map it makes (e.g. the two of
    :func:`genre_hpc.sendfiles.map_tracks`) is traced.

    Returns
    -------
    (object, float, dict or None)
        What ``call`` returned, its seconds (``time.perf_counter``) and the timeline
        (:func:`unwrap`, with the backend's name and workers) or None.
    """
    backend = TracedBackend(b, time.time(), startup_s) if trace else b
    tc = time.perf_counter()
    out = call(backend)
    return out, time.perf_counter() - tc, (backend.timeline if trace else None)


def summary(trace: dict) -> dict:
    """Per-worker busy time, the span of the items and the idle share of the workers."""
    items = trace.get("items") or []
    if not items:
        return {"items": 0, "workers": 0}
    busy: dict = {}
    for it in items:
        busy[it["worker"]] = busy.get(it["worker"], 0.0) + (it["end"] - it["start"])
    first = min(it["start"] for it in items)
    span = max(it["end"] for it in items) - min(0.0, first)
    idle = 1.0 - sum(busy.values()) / (span * len(busy)) if span > 0 else math.nan
    return {
        "items": len(items),
        "workers": len(busy),
        "span_s": span,
        "busy_s": busy,
        "first_start_s": first,
        "idle_share": idle,
    }


# --- Dask's own diagnostics ------------------------------------------------------------------


@contextlib.contextmanager
def dask_resources(dt: float = 0.1):
    """Dask's ``ResourceProfiler`` (``dask.diagnostics``) around a local-scheduler map: yields a
    dict that gets ``resources``, ``[{"time", "mem_mb", "cpu"}]`` (CPU in % of one core, of
    this process and its children), when the block ends."""
    from dask.diagnostics import ResourceProfiler

    box: dict = {}
    with ResourceProfiler(dt=dt) as rprof:
        yield box
    box["resources"] = [{"time": r.time, "mem_mb": r.mem, "cpu": r.cpu} for r in rprof.results]


@contextlib.contextmanager
def dask_performance_report(client):
    """``distributed.performance_report`` of what ``client`` runs in the block (bokeh's scripts
    inlined: it opens offline): yields a dict that gets ``html`` (the report), or ``note`` when
    it cannot be made (bokeh missing)."""
    import tempfile

    box: dict = {}
    try:
        import bokeh  # noqa: F401
        from distributed import performance_report
    except ImportError as exc:
        box["note"] = f"no Dask performance report: {exc.name or exc} is not installed (pip install bokeh)"
        yield box
        return
    with tempfile.TemporaryDirectory(prefix="genre-hpc-dask-report-") as tmp:
        path = Path(tmp) / "report.html"
        # inline: the report's scripts are in the file, so it opens without network
        with client.as_current(), performance_report(filename=str(path), mode="inline"):
            yield box
        box["html"] = path.read_text() if path.is_file() else ""


# --- files and pictures -------------------------------------------------------------------------

TRACE_COLUMNS = ["cell", "run", "index", "worker", "pid", "thread", "host", "start", "end", "startup_s"]


def trace_rows(traces: Sequence[dict]) -> list[dict]:
    """One row per item of every trace (``{"cell": label, "run": k, **trace}``)."""
    rows = []
    for tr in traces:
        for it in tr.get("items") or []:
            rows.append(
                {
                    "cell": tr.get("cell", ""),
                    "run": tr.get("run", 0),
                    **{k: it[k] for k in TRACE_COLUMNS[2:-1]},
                    "startup_s": tr.get("startup_s", 0.0),
                }
            )
    return rows


def write_trace(traces: Sequence[dict], out_dir, stem: str) -> list[Path]:
    """``<stem>-trace.json`` (everything) and ``<stem>-trace.csv`` (one row per item); the Dask
    extras as ``<stem>-dask-report-<cell>-0.html`` (each cell's first run) and
    ``<stem>-resources.csv``."""
    import json

    import pandas as pd

    from .report import to_jsonable

    out_dir = Path(out_dir)
    lean = [{k: v for k, v in tr.items() if k != "dask_report_html"} for tr in traces]
    text = json.dumps(to_jsonable({"traces": lean}), indent=1)
    paths = [atomic_write(out_dir / f"{stem}-trace.json", lambda tmp: Path(tmp).write_text(text + "\n"))]
    df = pd.DataFrame(trace_rows(traces), columns=TRACE_COLUMNS)
    paths.append(atomic_write(out_dir / f"{stem}-trace.csv", lambda tmp: df.to_csv(tmp, index=False)))
    res = [
        {"cell": tr.get("cell", ""), "run": tr.get("run", 0), **r}
        for tr in traces
        for r in tr.get("resources") or []
    ]
    if res:
        rdf = pd.DataFrame(res)
        paths.append(
            atomic_write(out_dir / f"{stem}-resources.csv", lambda tmp: rdf.to_csv(tmp, index=False))
        )
    for tr in traces:
        html = tr.get("dask_report_html")
        if html and not tr.get("run"):  # the first run's (1-2 MB each, bokeh inlined)
            name = f"{stem}-dask-report-{_slug(str(tr.get('cell', '')))}-{tr.get('run', 0)}.html"
            paths.append(atomic_write(out_dir / name, lambda tmp, h=html: Path(tmp).write_text(h)))
    return paths


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")


def lanes(trace: dict) -> tuple[list[str], list[int]]:
    """The rows of a task-stream picture: one per worker, or, when a backend starts a process
    per item (``process``: more distinct workers than twice its worker count), items packed
    into as few lanes as never overlap (``"lane k"``). Returns the row labels and each item's
    row."""
    items = trace["items"]
    workers = sorted({it["worker"] for it in items})
    if len(workers) <= 2 * max(1, int(trace.get("workers") or 1)):
        index = {w: k for k, w in enumerate(workers)}
        return workers, [index[it["worker"]] for it in items]
    ends: list[float] = []
    rows = [0] * len(items)
    for k in sorted(range(len(items)), key=lambda k: items[k]["start"]):
        it = items[k]
        free = next((j for j, e in enumerate(ends) if e <= it["start"]), None)
        if free is None:
            ends.append(it["end"])
            free = len(ends) - 1
        else:
            ends[free] = it["end"]
        rows[k] = free
    return [f"lane {j} (a process per item)" for j in range(len(ends))], rows


def task_stream_png(traces: Sequence[dict], path, title: str = "", *, runs: int = 1) -> Path:
    """A task-stream picture: one panel per cell (its first ``runs`` runs), one row per worker,
    a bar per item from its start to its end, the backend's start-up shaded before 0.

    The picture shows what the speed-up column cannot: idle gaps, stragglers at the end of a
    map, a worker that started late, and how long start-up took beside the work.
    """
    from .report import _pyplot, write_png

    plt = _pyplot()
    traces = [t for t in traces if t.get("items") and int(t.get("run", 0)) < runs]
    n = max(1, len(traces))
    heights = [max(1.0, 0.3 * len(lanes(t)[0]) + 0.7) for t in traces] or [1.5]
    fig, axes = plt.subplots(n, 1, figsize=(10, sum(heights) + 0.6), squeeze=False, height_ratios=heights)
    cmap = plt.get_cmap("tab20")
    for ax, tr in zip(axes[:, 0], traces):
        workers, item_rows = lanes(tr)
        startup = float(tr.get("startup_s") or 0.0)
        if startup > 0:
            ax.axvspan(-startup, 0.0, color="0.85", zorder=0)
        for it, r in zip(tr["items"], item_rows):
            ax.barh(
                r,
                it["end"] - it["start"],
                left=it["start"],
                height=0.7,
                color=cmap(it["index"] % 20),
                edgecolor="black",
                linewidth=0.3,
            )
        ax.set_yticks(range(len(workers)), workers, fontsize=7)
        ax.invert_yaxis()
        span = max(it["end"] for it in tr["items"])
        ax.set_xlim(min(-startup, 0.0) - 0.01 * span, span * 1.02)
        s = summary(tr)
        ax.set_title(
            f"{tr.get('cell', '')} run {tr.get('run', 0)}: {s['items']} items on {s['workers']} worker(s), "
            f"map {span:.2f} s, idle {100 * s['idle_share']:.0f} %"
            + (f", start-up {startup:.2f} s (shaded)" if startup > 0 else ""),
            fontsize=8,
            loc="left",
        )  # in the title: a legend covered the last items' bars
    axes[-1, 0].set_xlabel("seconds from the start of the map (start-up before 0)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return write_png(fig, path)


def resources_png(traces: Sequence[dict], path, title: str = "") -> Path | None:
    """Dask's ``ResourceProfiler`` samples of the traced runs (CPU % and memory over time), drawn
    with matplotlib (Dask's own plot needs bokeh). None when no trace has samples."""
    from .report import _pyplot, write_png

    traces = [t for t in traces if t.get("resources")]
    if not traces:
        return None
    plt = _pyplot()
    fig, (ax_cpu, ax_mem) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    for tr in traces:
        rs = tr["resources"]
        t0 = rs[0]["time"]
        label = f"{tr.get('cell', '')} run {tr.get('run', 0)}"
        ax_cpu.plot([r["time"] - t0 for r in rs], [r["cpu"] for r in rs], label=label)
        ax_mem.plot([r["time"] - t0 for r in rs], [r["mem_mb"] for r in rs], label=label)
    ax_cpu.set_ylabel("CPU (% of one core)")
    ax_mem.set_ylabel("memory (MB)")
    ax_mem.set_xlabel("seconds")
    ax_cpu.legend(fontsize=7)
    ax_cpu.set_title(title or "Dask ResourceProfiler", fontsize=9)
    fig.tight_layout()
    return write_png(fig, path)
