"""Presentation, in one place: terminal tables, CSV/JSON files, plots and the HTML page.

Two producers hand their rows here: the scaling study (``genre-hpc scale``,
:func:`genre_hpc.scaling.run_study`) and the comparison of machines (``genre-hpc
compare-machines``, :func:`genre_hpc.machines.compare`). Nothing here measures or loads; it
draws and writes what it is given. Every file goes through :func:`genre_hpc.files.atomic_write`;
matplotlib is imported only when a plot is drawn (Agg backend, no screen).
"""

from __future__ import annotations

import contextlib
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

from .files import atomic_write

# --- text ----------------------------------------------------------------------------------


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    if v is None:
        return "-"
    return str(v)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def format_table(rows: Sequence[dict], columns: Sequence[str], headers: Sequence[str] | None = None) -> str:
    """A plain aligned text table of ``rows`` over ``columns``."""
    headers = list(headers or columns)
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(vals):
        return "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def format_ci(ci, digits: int = 2) -> str:
    """``[lo, hi]`` of an interval, ``-`` when it has no finite ends."""
    if not ci or not all(_finite(v) for v in ci):
        return "-"
    lo, hi = ci
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def format_value(v: float, unit: str) -> str:
    """``v`` in ``unit``, readable: seconds as s/ms/us, bytes as MiB/GiB."""
    from .machines import WORKLOAD_UNITS

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if unit == "seconds":
        for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(v) >= scale or suffix == "us":
                return f"{v / scale:.3g} {suffix}"
    if unit == "bytes":
        for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(v) >= scale:
                return f"{v / scale:.1f} {suffix}"
        return f"{v:.0f} B"
    if unit in WORKLOAD_UNITS or unit == "threads":
        return f"{v:g}"
    return f"{v:.3f}"


def _ratio(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def _speedup_text(s, superlinear: bool) -> str:
    return _fmt(s) + ("!" if superlinear else "")


SCALE_COLUMNS = [
    "backend",
    "workers",
    "compute_s",
    "compute_spread_s",
    "startup_s",
    "speedup",
    "speedup_ci",
    "efficiency",
    "serial_fraction",
    "identical",
]

SUPERLINEAR_NOTE = (
    "! superlinear (speed-up interval above the thread count, or efficiency > 1.05): "
    "almost always noise or a cold baseline; repeat before believing it"
)


def scaling_table(rows: Sequence[dict]) -> str:
    """The terminal table of a scaling study, flagging oversubscribed, superlinear and skipped
    rows; the speed-up's 95 % interval in its own column."""
    extra = [
        c
        for c in ("intra_op", "inter_op", "omp", "accuracy", "best_params")
        if any(c in r for r in rows) and c not in SCALE_COLUMNS
    ]
    shown = []
    for r in rows:
        r = dict(r)
        if r.get("skipped"):
            r["identical"] = f"skipped: {r['skipped']}"
        else:
            r["speedup"] = _speedup_text(r.get("speedup"), bool(r.get("superlinear")))
            r["speedup_ci"] = format_ci(r.get("speedup_ci"))
        if r.get("oversubscribed"):
            r["workers"] = f"{r['workers']}*"
        shown.append(r)
    cols = SCALE_COLUMNS[:2] + extra + SCALE_COLUMNS[2:]
    if any(r.get("cluster") for r in rows):
        for r in shown:
            r["cluster"] = cluster_text(r.get("cluster"))
        cols.insert(2 + len(extra), "cluster")
    heads = ["95% CI" if c == "speedup_ci" else c for c in cols]
    text = format_table(shown, cols, heads)
    if any(r.get("oversubscribed") for r in rows):
        text += (
            "\n* more workers than this machine's cores (on a cluster: than its hosts' cores): "
            "oversubscribed, expect no further speed-up"
        )
    if any(r.get("superlinear") for r in rows):
        text += "\n" + SUPERLINEAR_NOTE
    if any(r.get("ci_note") for r in rows):
        text += "\n95% CI '-': fewer than 2 runs of the cell or of its baseline (use --repeat 2 or more)"
    return text


def cluster_text(info) -> str:
    """A cluster's shape in a table cell: ``2 used/3 (2 sel.), 1 host, 1 thr`` (``-`` without)."""
    if not info:
        return "-"
    hosts = info.get("hosts") or []
    tpw = info.get("threads_per_worker")
    return (
        f"{info.get('workers_used')} used/{info.get('workers_available')}, "
        f"{len(hosts)} host{'s' if len(hosts) != 1 else ''}, {tpw} thr"
    )


def flat_cluster(rows: Sequence[dict]) -> list[dict]:
    """Rows with their ``cluster`` object spread into ``cluster.<key>`` columns (for CSV; lists
    and mappings as JSON text)."""
    out = []
    for r in rows:
        info = r.get("cluster")
        if not isinstance(info, dict):
            out.append(r)
            continue
        flat = {k: v for k, v in r.items() if k != "cluster"}
        for k, v in info.items():
            flat[f"cluster.{k}"] = json.dumps(to_jsonable(v)) if isinstance(v, (dict, list)) else v
        out.append(flat)
    return out


def projection_table(projection: dict) -> str:
    """The projection as a table: one line per collection and series, the model's seconds per
    worker count, headed by the label that it is a model."""
    rows = projection.get("rows") or []
    if not rows:
        notes = "; ".join(projection.get("notes") or []) or "no series to project"
        return f"{projection.get('label', 'MODEL')}: nothing projected ({notes})"
    ps = sorted({r["workers"] for r in rows})
    lines: dict = {}
    for r in rows:
        key = (r["collection"], r["series"])
        lines.setdefault(key, {"collection": r["collection"], "series": r["series"]})
        lines[key][f"p={r['workers']}"] = format_value(r["projected_s"], "seconds")
    cols = ["collection", "series"] + [f"p={p}" for p in ps]
    text = f"{projection['label']}\n{projection['formula']}\n" + format_table(list(lines.values()), cols)
    for t in projection.get("terms", []):
        text += (
            f"\n  {t['series']}: w = {t['w']:.3g} s per audio second, h = {t['h'] * 1e3:.3g} ms per task, "
            f"f = {t['f']:.3g}, start-up {t['startup_s']:.3g} s, "
            f"result {t['result_bytes_per_audio_s']:.3g} B and input {t['input_bytes_per_audio_s']:.3g} B "
            "per audio second"
        )
    for n in projection.get("notes", []):
        text += f"\n  note: {n}"
    return text


def plot_projection(projection: dict, out_dir, stage: str) -> Path | None:
    """``<stage>-projection.png``: the model's time against workers (log axes) for each projected
    collection and series, and the model at the measured work (dotted) through the measured points;
    titled as a model, with its formula."""
    rows = projection.get("rows") or []
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 5.2))
    styles = ["--", "-."]
    colls = list(dict.fromkeys(r["collection"] for r in rows))
    series = list(dict.fromkeys(r["series"] for r in rows))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ps = sorted({r["workers"] for r in rows} | {f["workers"] for f in projection.get("fit", [])})
    for j, name in enumerate(series):
        color = colors[j % len(colors)]
        for i, coll in enumerate(colls):
            rs = sorted(
                (r for r in rows if r["series"] == name and r["collection"] == coll),
                key=lambda r: r["workers"],
            )
            ax.plot(
                [r["workers"] for r in rs],
                [r["projected_s"] for r in rs],
                styles[i % len(styles)],
                color=color,
                label=f"model: {name}, {coll} ({rs[0]['tracks']} tracks)",
            )
        pts = sorted(
            (f for f in projection.get("fit", []) if f["series"] == name), key=lambda f: f["workers"]
        )
        if pts:
            ax.plot(
                [f["workers"] for f in pts],
                [f["measured_s"] for f in pts],
                "o",
                color=color,
                label=f"measured: {name} ({pts[0]['tracks']} tracks, compute + start-up)",
            )
            line = pts[0].get("model_line") or []
            if line:
                ax.plot([q for q, _ in line], [t for _, t in line], ":", color=color, lw=1)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(ps, [str(p) for p in ps])
    ax.set_xlabel("workers")
    ax.set_ylabel("seconds: model (lines), measured (o)")
    ax.set_title(f"{stage}: MODEL, projected beyond this machine (not measured)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.text(
        0.01,
        0.005,
        projection["formula"] + "   (dotted: the model at the measured work; docs/scaling.md)",
        fontsize=7,
        va="bottom",
    )
    fig.subplots_adjust(bottom=0.16)
    return write_png(fig, Path(out_dir) / f"{stage}-projection.png")


def _machine_names(result_or_machines) -> list[str]:
    ms = result_or_machines["machines"] if isinstance(result_or_machines, dict) else result_or_machines
    return [m["machine"] if isinstance(m, dict) else str(m) for m in ms]


def comparison_table(rows: list[dict], machines: Sequence[str]) -> str:
    """Every benchmark and parameter set: the value on each machine and the ratios to the first."""
    ref = machines[0]
    ratio_cols = [f"{m}/{ref}" for m in machines[1:]]
    shown = [
        {
            "benchmark": r["benchmark"],
            "params": r["params"] or "-",
            **{m: format_value(r[m], r["unit"]) for m in machines},
            **{c: _ratio(r[c]) for c in ratio_cols},
        }
        for r in rows
    ]
    cols = ["benchmark", "params"] + list(machines) + ratio_cols
    return format_table(shown, cols)


def _machine_scaling_columns(rows: list[dict], machines: Sequence[str]) -> list[str]:
    cols = ["benchmark", "series", "params", "workers"]
    for m in machines:
        cols += [f"{m} speedup"]
        if any(format_ci(r.get(f"{m} speedup_ci")) != "-" for r in rows):
            cols += [f"{m} speedup_ci"]
        cols += [f"{m} efficiency", f"{m} serial fraction"]
        if any(r.get(f"{m} workers used") is not None for r in rows):
            cols += [f"{m} workers used"]
    return cols


def _machine_scaling_cells(row: dict, machines: Sequence[str]) -> dict:
    out = dict(row)
    for m in machines:
        out[f"{m} speedup"] = _speedup_text(row.get(f"{m} speedup"), bool(row.get(f"{m} superlinear")))
        out[f"{m} speedup_ci"] = format_ci(row.get(f"{m} speedup_ci"))
    return out


def machine_scaling_table(rows: list[dict], machines: Sequence[str]) -> str:
    """Per stage benchmark and cell: speed-up (``!`` superlinear), its interval where there is
    one, efficiency and Karp-Flatt serial fraction on each machine."""
    cols = _machine_scaling_columns(rows, machines)
    heads = ["cell" if c == "series" else c for c in cols]
    text = format_table([_machine_scaling_cells(r, machines) for r in rows], cols, heads)
    if any(r.get(f"{m} superlinear") for r in rows for m in machines):
        text += "\n" + SUPERLINEAR_NOTE
    return text


MACHINE_COLUMNS = ["machine", "commit", "started", "cpu", "num_cpu", "ram", "os", "python"]


def machines_table(descriptions: list[dict]) -> str:
    return format_table(descriptions, MACHINE_COLUMNS)


# --- files -----------------------------------------------------------------------------------


def to_jsonable(obj):
    """Turn NaN into None and numpy scalars into Python numbers, recursively."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(obj, path) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(to_jsonable(obj), indent=2)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def write_csv(rows: Sequence[dict], path) -> Path:
    """Write rows (dicts) as CSV, atomically; columns in first-seen order. A list or dict value
    (``speedup_ci``, ``runs_s``, ...) is one cell of JSON (``[1.82, 2.01]``, ``null`` for a
    missing figure), which any JSON parser reads back. A column of whole numbers is written as
    whole numbers, empty where a row lacks it."""
    import pandas as pd

    def cell(v):
        return json.dumps(v) if isinstance(v, (list, dict)) else v

    records = [{k: cell(v) for k, v in to_jsonable(r).items()} for r in rows]
    df = pd.DataFrame(records)
    for col in df.columns:  # a whole-number column stays whole where some rows lack it (not 2.0)
        values = [r[col] for r in records if r.get(col) is not None]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            with contextlib.suppress(OverflowError, TypeError, ValueError):  # beyond int64: as pandas has it
                df[col] = df[col].astype("Int64")
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


def write_png(fig, path) -> Path:
    """Save a matplotlib figure as PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)


# --- plots -----------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _errorbars(ax, xs, ys, cis, **style):
    """A line through ``(xs, ys)`` with the intervals ``cis`` (``[lo, hi]`` or NaNs) as error
    bars; points without an interval get none. Returns the line."""
    import numpy as np

    ys = np.asarray(ys, dtype=float)
    lo = np.array([c[0] if c and _finite(c[0]) else np.nan for c in cis], dtype=float)
    hi = np.array([c[1] if c and _finite(c[1]) else np.nan for c in cis], dtype=float)
    yerr = np.vstack([np.nan_to_num(ys - lo, nan=0.0), np.nan_to_num(hi - ys, nan=0.0)]).clip(min=0.0)
    cont = ax.errorbar(xs, ys, yerr=yerr if yerr.any() else None, capsize=3, elinewidth=0.9, **style)
    return cont.lines[0]


def _superlinear_marks(ax, points, label):
    if points:
        ax.scatter(
            [p[0] for p in points],
            [p[1] for p in points],
            s=140,
            facecolors="none",
            edgecolors="red",
            linewidths=1.2,
            zorder=5,
            label=label,
        )


def plot_scaling(rows: Sequence[dict], out_dir, title: str = "", xlabel: str = "workers") -> list[Path]:
    """Three PNGs from scaling rows: time vs workers (log axes, ideal line), speed-up vs
    workers (ideal line, Amdahl fit per series, 95 % intervals as error bars) and efficiency
    (with its intervals). One line per ``series`` (the backend, or the stage's cell label);
    superlinear points are ringed in red. ``xlabel`` names what the rows' ``workers`` count
    (train: threads; cnn: its largest thread pool).

    Returns the written paths.
    """
    plt = _pyplot()
    import numpy as np

    from .scaling import amdahl, amdahl_fit, physical_cores

    rows = [r for r in rows if not r.get("skipped") and r.get("compute_s") is not None]
    out_dir = Path(out_dir)
    by_series: dict[str, list[dict]] = {}
    for r in rows:
        by_series.setdefault(r.get("series", r["backend"]), []).append(r)
    if not by_series:
        return []
    all_p = sorted({r["workers"] for r in rows})
    pmax = max(all_p)
    grid = np.linspace(1, max(pmax, 2), 50)
    stage = rows[0]["stage"]
    # the band starts where the cores end: this machine's, or (cluster rows) where the rows say
    # they are oversubscribed (their hosts' cores)
    cores = physical_cores()
    if any(r.get("cluster") for r in rows):
        over = [r["workers"] for r in rows if r.get("oversubscribed")]
        under = [r["workers"] for r in rows if not r.get("oversubscribed")]
        cores = max(under) if over and under else (pmax if not over else min(over) - 1) or 1

    label = title or f"{stage} ({rows[0].get('scaling', 'strong')} scaling)"
    paths = []

    def finish(fig, ax, kind, heading, ylabel, *, legend_size=7, grid_which="major"):
        """The parts every plot shares: worker ticks, labels, the oversubscribed band, the file."""
        ax.set_xticks(all_p, [str(p) for p in all_p])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if pmax > cores:
            ax.axvspan(cores, pmax * 1.05, color="0.85", alpha=0.5, lw=0, label=f"> {cores} cores")
        ax.set_title(f"{heading}: {label}")
        ax.grid(True, which=grid_which, alpha=0.3)
        ax.legend(fontsize=legend_size, ncol=2)
        paths.append(write_png(fig, out_dir / f"{stage}-{kind}.png"))

    def ordered(rs):
        return sorted(rs, key=lambda r: r["workers"])

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, rs in by_series.items():
        rs = ordered(rs)
        ax.plot([r["workers"] for r in rs], [r["compute_s"] for r in rs], "o-", label=name)
    base = rows[0].get("baseline_s")
    if base:
        ax.plot(
            grid,
            base / grid if rows[0].get("scaling") != "weak" else np.full_like(grid, base),
            "k--",
            lw=1,
            label="ideal",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    finish(fig, ax, "time", "Time", "compute time (s, median)", grid_which="both")

    def dodge(i, ps):
        """Points of different series side by side at one worker count (error bars apart)."""
        k = (i - (len(by_series) - 1) / 2) * 0.012 * max(pmax - 1, 1)
        return [p + k for p in ps]

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(grid, grid, "k--", lw=1, label="ideal")
    for i, (name, rs) in enumerate(by_series.items()):
        rs = ordered(rs)
        ps = [r["workers"] for r in rs]
        ss = [r["speedup"] for r in rs]
        line = _errorbars(ax, dodge(i, ps), ss, [r.get("speedup_ci") for r in rs], fmt="o-", label=name)
        if len(ps) > 1:
            f = amdahl_fit(ps, ss)
            if math.isfinite(f):
                ax.plot(
                    grid, amdahl(grid, f), ":", color=line.get_color(), lw=1, label=f"{name} Amdahl f={f:.2f}"
                )
    _superlinear_marks(
        ax, [(r["workers"], r["speedup"]) for r in rows if r.get("superlinear")], "superlinear"
    )
    finish(fig, ax, "speedup", "Speed-up", "speed-up over baseline (95% CI)", legend_size=6)

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.axhline(1.0, color="k", ls="--", lw=1, label="ideal")
    for i, (name, rs) in enumerate(by_series.items()):
        rs = ordered(rs)
        _errorbars(
            ax,
            dodge(i, [r["workers"] for r in rs]),
            [r["efficiency"] for r in rs],
            [r.get("efficiency_ci") for r in rs],
            fmt="o-",
            label=name,
        )
    _superlinear_marks(
        ax, [(r["workers"], r["efficiency"]) for r in rows if r.get("superlinear")], "superlinear"
    )
    tops = [r["efficiency"] for r in rows] + [(r.get("efficiency_ci") or [None, None])[1] for r in rows]
    ax.set_ylim(0, max([1.2] + [t * 1.1 for t in tops if _finite(t)]))
    finish(fig, ax, "efficiency", "Efficiency", "efficiency (speed-up / threads, 95% CI)")
    return paths


def plot_machine_ratios(rows: list[dict], machines: Sequence[str], out_dir) -> list[Path]:
    """One PNG per other machine: log2 ratio of every time benchmark to the first machine."""
    plt = _pyplot()
    ref = machines[0]
    paths = []
    for other in machines[1:]:
        col = f"{other}/{ref}"
        data = [
            (
                f"{r['benchmark'].split('.', 1)[-1]}({r['params']})"
                if r["params"]
                else r["benchmark"].split(".", 1)[-1],
                r[col],
            )
            for r in rows
            if r["unit"] == "seconds" and _finite(r[col]) and r[col] > 0
        ]
        if not data:
            continue
        fig, ax = plt.subplots(figsize=(8.0, max(2.5, 0.19 * len(data) + 1.2)))
        y = range(len(data))
        vals = [math.log2(v) for _, v in data]
        ax.barh(list(y), vals, color=["tab:red" if v > 0 else "tab:green" for v in vals])
        ax.set_yticks(list(y), [d[0] for d in data], fontsize=6)
        ax.invert_yaxis()
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel(f"log2(time on {other} / time on {ref})   (> 0: {other} slower)")
        ax.set_title(f"Time ratio {other} / {ref}")
        ax.grid(True, axis="x", alpha=0.3)
        paths.append(write_png(fig, Path(out_dir) / f"ratio-{_slug(other)}-vs-{_slug(ref)}.png"))
    return paths


def plot_machine_scaling(rows: list[dict], machines: Sequence[str], out_dir) -> list[Path]:
    """Per stage benchmark and work parameters: speed-up and efficiency vs workers (95 %
    intervals as error bars where there are some), one column of panels per machine, one line
    per series (backend or cell)."""
    plt = _pyplot()
    paths = []
    for cls, params in dict.fromkeys((r["benchmark"], r["params"]) for r in rows):
        rs = [r for r in rows if r["benchmark"] == cls and r["params"] == params]
        all_p = sorted({1} | {r["workers"] for r in rs})  # 1: where the baseline (S = 1) is
        pmax = max(all_p)
        fig, axes = plt.subplots(
            2, len(machines), figsize=(5.0 * len(machines), 7.2), squeeze=False, sharex=True
        )

        def finite_vals(col, rs=rs):
            return [r[f"{m} {col}"] for r in rs for m in machines if _finite(r.get(f"{m} {col}"))]

        top = max([float(pmax)] + finite_vals("speedup"))
        eff_top = max([1.0] + finite_vals("efficiency"))
        series = list(dict.fromkeys(r.get("series", r["backend"]) for r in rs))
        cmap = plt.get_cmap("tab10" if len(series) <= 10 else "tab20")
        style = {b: {"color": cmap(i % cmap.N), "marker": "os^Dv"[i // 10 % 5]} for i, b in enumerate(series)}
        baselines = {r.get("baseline") for r in rs}
        over = f"over {baselines.pop()}" if len(baselines) == 1 else "over the baseline"
        for j, m in enumerate(machines):
            ax_s, ax_e = axes[0][j], axes[1][j]
            ax_s.plot([1, pmax], [1, pmax], "k--", lw=0.8, label="ideal")
            ax_e.axhline(1.0, color="k", ls="--", lw=0.8)
            for name in series:
                pts = sorted(
                    (
                        (
                            r["workers"],
                            r[f"{m} speedup"],
                            r.get(f"{m} speedup_ci"),
                            r[f"{m} efficiency"],
                            r.get(f"{m} efficiency_ci"),
                        )
                        for r in rs
                        if r.get("series", r["backend"]) == name and _finite(r.get(f"{m} speedup"))
                    ),
                    key=lambda p: p[0],
                )
                if pts:
                    xs = [p[0] for p in pts]
                    kw = {"fmt": "-", "ms": 3, "lw": 1, **style[name]}
                    _errorbars(ax_s, xs, [p[1] for p in pts], [p[2] for p in pts], label=name or "-", **kw)
                    _errorbars(ax_e, xs, [p[3] for p in pts], [p[4] for p in pts], **kw)
            sup = [(r["workers"], r[f"{m} speedup"]) for r in rs if r.get(f"{m} superlinear")]
            _superlinear_marks(ax_s, sup, "superlinear")
            ax_s.set_title(f"{m}: speed-up {over}", fontsize=9)
            ax_e.set_title(f"{m}: efficiency", fontsize=9)
            ax_s.set_ylim(0, top * 1.1)
            ax_e.set_ylim(0, eff_top * 1.1)
            for ax in (ax_s, ax_e):
                ax.set_xticks(all_p, [str(p) for p in all_p])
                ax.grid(True, alpha=0.3)
            ax_e.set_xlabel("workers p (train: threads; cnn: the largest pool)")
        axes[0][0].set_ylabel("speed-up")
        axes[1][0].set_ylabel("efficiency (speed-up / p)")
        handles, labels = axes[0][0].get_legend_handles_labels()
        axes[0][-1].legend(handles, labels, fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        fig.suptitle(f"{cls} ({params})" if params else cls)
        fig.tight_layout()
        paths.append(
            write_png(fig, Path(out_dir) / f"scaling-{_slug(cls)}{'-' + _slug(params) if params else ''}.png")
        )
    return paths


# --- the compare-machines page ---------------------------------------------------------------


def _html_table(rows: list[dict], columns: list[str], fmt=None) -> str:
    fmt = fmt or (lambda row, col: row.get(col))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            v = fmt(row, c)
            if isinstance(v, float):
                v = "-" if math.isnan(v) else f"{v:.3f}"
            cells.append(f"<td>{html.escape('' if v is None else str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_comparison_html(path, result: dict, pngs: Sequence) -> Path:
    """``index.html`` of a comparison: machines, warnings, the scaling table and plots, every
    benchmark with its ratios."""
    machines = _machine_names(result)
    rows, scaling, warnings = result["rows"], result["scaling"], result["warnings"]
    ref = machines[0]
    ratio_cols = [f"{m}/{ref}" for m in machines[1:]]

    def cmp_fmt(row, col):
        if col in ratio_cols:
            return _ratio(row[col])
        if col in machines:
            return format_value(row[col], row["unit"])
        return row.get(col) or ("-" if col == "params" else "")

    scale_cols = _machine_scaling_columns(scaling, machines)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>genre-hpc: machines compared</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "td:first-child,td:nth-child(2),th{text-align:left}"
        ".warn{color:#a00}img{max-width:100%;border:1px solid #eee;margin:0.5em 0}</style></head><body>",
        f"<h1>genre-hpc: {html.escape(', '.join(machines))}</h1>",
        "<h2>Machines</h2>",
        _html_table(result["machines"], MACHINE_COLUMNS + ["env"]),
    ]
    parts += [f"<p class='warn'>{html.escape(w)}</p>" for w in warnings]
    if len(machines) > 1:
        parts.append(
            f"<p>Ratios are <i>value on the machine / value on {html.escape(ref)}</i>; "
            "for times, above 1 is slower.</p>"
        )
    parts.append("<h2>Scaling: speed-up, efficiency, Karp-Flatt serial fraction</h2>")
    parts.append(
        "<p>Speed-up S = T(the stage's baseline) / T(cell) on the same work (serial x1 for extraction "
        "and images, the same mode or backend on 1 worker for training and tuning, 1 thread everywhere "
        "for the CNN); efficiency S / p with p the stage's thread count (the CNN: its largest pool); "
        "serial fraction e = (1/S - 1/p) / (1 - 1/p) (undefined at p = 1; growing with p means "
        "overhead). Intervals: 95 % bootstrap over the recorded samples, where there are 2 or more. "
        f"{html.escape(SUPERLINEAR_NOTE)}.</p>"
    )
    parts.append(
        _html_table([_machine_scaling_cells(r, machines) for r in scaling], scale_cols)
        if scaling
        else "<p>No stage benchmarks with a workers parameter.</p>"
    )
    for p in pngs:
        parts.append(f"<div><img src='{html.escape(Path(p).name)}' alt='{html.escape(Path(p).stem)}'></div>")
    parts.append("<h2>All benchmarks</h2>")
    parts.append(_html_table(rows, ["benchmark", "params", "unit"] + machines + ratio_cols, cmp_fmt))
    parts.append("</body></html>")
    text = "\n".join(parts)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_comparison(result: dict, out) -> dict:
    """Write a comparison (:func:`genre_hpc.machines.compare_runs`'s result) into ``out``:
    ``comparison.csv``, ``scaling.csv``, the PNG plots, ``index.html`` and ``comparison.json``
    (the result with its ``files``). Returns ``{kind: path or [paths]}``."""
    out = Path(out)
    machines = _machine_names(result)
    files: dict = {
        "comparison_csv": write_csv(result["rows"], out / "comparison.csv"),
        "scaling_csv": write_csv(result["scaling"], out / "scaling.csv"),
    }
    pngs = plot_machine_scaling(result["scaling"], machines, out) + plot_machine_ratios(
        result["rows"], machines, out
    )
    files["png"] = pngs
    files["html"] = write_comparison_html(out / "index.html", result, pngs)
    files["json"] = out / "comparison.json"
    listed = {k: ([str(p) for p in v] if isinstance(v, list) else str(v)) for k, v in files.items()}
    write_json({**result, "files": listed}, files["json"])
    return files
