"""Terminal tables, CSV/JSON files and scaling plots.

Everything that writes a file goes through :func:`genre_hpc.files.atomic_write`.
matplotlib is imported only when a plot is drawn (Agg backend, no screen).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from .files import atomic_write


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
    """Write rows (dicts) as CSV, atomically; columns in first-seen order."""
    import pandas as pd

    df = pd.DataFrame([to_jsonable(r) for r in rows])
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


def write_png(fig, path) -> Path:
    """Save a matplotlib figure as PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)


def plot_scaling(rows: Sequence[dict], out_dir, title: str = "") -> list[Path]:
    """Three PNGs from scaling rows: time vs workers (log axes, ideal line),
    speed-up vs workers (ideal line + Amdahl fit per backend) and efficiency.

    Returns the written paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .scaling import amdahl, amdahl_fit, physical_cores

    rows = [r for r in rows if not r.get("skipped") and r.get("compute_s") is not None]
    out_dir = Path(out_dir)
    by_backend: dict[str, list[dict]] = {}
    for r in rows:
        by_backend.setdefault(r["backend"], []).append(r)
    if not by_backend:
        return []
    all_p = sorted({r["workers"] for r in rows})
    pmax = max(all_p)
    grid = np.linspace(1, max(pmax, 2), 50)
    stage = rows[0]["stage"]
    cores = physical_cores()

    label = title or f"{stage} ({rows[0].get('scaling', 'strong')} scaling)"
    paths = []

    def finish(fig, ax, kind, heading, ylabel, *, legend_size=7, grid_which="major"):
        """The parts every plot shares: worker ticks, labels, the oversubscribed band, the file."""
        ax.set_xticks(all_p, [str(p) for p in all_p])
        ax.set_xlabel("workers")
        ax.set_ylabel(ylabel)
        if pmax > cores:
            ax.axvspan(cores, pmax * 1.05, color="0.85", alpha=0.5, lw=0, label=f"> {cores} cores")
        ax.set_title(f"{heading}: {label}")
        ax.grid(True, which=grid_which, alpha=0.3)
        ax.legend(fontsize=legend_size, ncol=2)
        paths.append(write_png(fig, out_dir / f"{stage}-{kind}.png"))

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, rs in by_backend.items():
        rs = sorted(rs, key=lambda r: r["workers"])
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

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(grid, grid, "k--", lw=1, label="ideal")
    for name, rs in by_backend.items():
        rs = sorted(rs, key=lambda r: r["workers"])
        ps = [r["workers"] for r in rs]
        ss = [r["speedup"] for r in rs]
        (line,) = ax.plot(ps, ss, "o-", label=name)
        if len(ps) > 1:
            f = amdahl_fit(ps, ss)
            if math.isfinite(f):
                ax.plot(
                    grid, amdahl(grid, f), ":", color=line.get_color(), lw=1, label=f"{name} Amdahl f={f:.2f}"
                )
    finish(fig, ax, "speedup", "Speed-up", "speed-up over baseline", legend_size=6)

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.axhline(1.0, color="k", ls="--", lw=1, label="ideal")
    for name, rs in by_backend.items():
        rs = sorted(rs, key=lambda r: r["workers"])
        ax.plot([r["workers"] for r in rs], [r["efficiency"] for r in rs], "o-", label=name)
    ax.set_ylim(0, max(1.2, max((r["efficiency"] or 0) for r in rows) * 1.1))
    finish(fig, ax, "efficiency", "Efficiency", "efficiency (speed-up / workers)")
    return paths


SCALE_COLUMNS = [
    "backend",
    "workers",
    "compute_s",
    "compute_spread_s",
    "startup_s",
    "speedup",
    "efficiency",
    "serial_fraction",
    "identical",
]


def scaling_table(rows: Sequence[dict]) -> str:
    """The terminal table of a scaling study, flagging oversubscribed and skipped rows."""
    extra = [c for c in ("intra_op", "inter_op", "accuracy", "best_params") if any(c in r for r in rows)]
    shown = []
    for r in rows:
        r = dict(r)
        if r.get("skipped"):
            r["identical"] = f"skipped: {r['skipped']}"
        if r.get("oversubscribed"):
            r["workers"] = f"{r['workers']}*"
        shown.append(r)
    text = format_table(shown, SCALE_COLUMNS[:2] + extra + SCALE_COLUMNS[2:])
    if any(r.get("oversubscribed") for r in rows):
        text += "\n* more workers than this machine's cores: oversubscribed, expect no further speed-up"
    return text
