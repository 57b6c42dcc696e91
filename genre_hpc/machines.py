"""``genre-hpc compare-machines``: asv results of several machines, side by side.

An asv results folder holds one sub-folder per machine (``machine.json`` plus one JSON file
per commit and environment) and ``benchmarks.json`` (names, parameters, units). This module
reads them with asv's own API (:mod:`asv.results`, :mod:`asv.machine`), picks one result file
per machine (the most recent run, or the one of ``--commit``), and reports

- every benchmark and parameter set: the value on each machine and its ratio to the first
  machine (for times, a ratio above 1 means slower than the first machine);
- per stage benchmark and worker count: speed-up, efficiency and Karp-Flatt serial fraction
  ``e = (1/S - 1/p) / (1 - 1/p)`` on each machine (:mod:`genre_hpc.scaling`); the speed-up is
  the suite's ``track_speedup`` (baseline and run in the same process), or, where that is
  missing, ``time_run`` of the ``serial x1`` baseline over ``time_run``;

as terminal tables, CSV and JSON files, and an HTML page with PNG plots. asv is imported only
when the command runs (it is the ``bench`` extra).
"""

from __future__ import annotations

import ast
import html
import itertools
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

#: benchmarks whose values are work sizes: different values mean the machines ran different work
WORKLOAD_UNITS = ("tracks", "chunks")


from .threads import pool_threads  # noqa: E402,F401  (the worker probe; kept importable here)

# --- loading -------------------------------------------------------------------------------


@dataclass
class MachineRun:
    """The result file chosen for one machine."""

    machine: str
    info: dict
    results: object  # asv.results.Results
    path: str = ""

    @property
    def commit(self) -> str:
        return self.results.commit_hash

    @property
    def started(self) -> int:
        """When the run started (ms since the epoch; the latest benchmark's start)."""
        return max((v for v in self.results.started_at.values() if v), default=self.results.date or 0)

    def describe(self) -> dict:
        info = {k: self.info.get(k) for k in ("os", "arch", "cpu", "num_cpu", "ram")}
        if str(info.get("ram") or "").isdigit():
            info["ram"] = f"{int(info['ram']) / 2**30:.1f} GiB"
        return {
            "machine": self.machine,
            "commit": (self.commit or "")[:8],
            "env": self.results.env_name,
            "python": self.results.params.get("python"),
            "started": _iso(self.started),
            **info,
        }


def _iso(ms) -> str:
    import datetime

    if not ms:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def default_results_dir() -> Path:
    """``results_dir`` of ``./asv.conf.json`` when there is one, else ``results``."""
    conf = Path("asv.conf.json")
    if conf.is_file():
        from asv.config import Config

        return Path(Config.load(str(conf)).results_dir)
    return Path("results")


def machine_names(results_dir) -> list[str]:
    """Machines with a ``machine.json`` in ``results_dir``, sorted."""
    from asv.machine import iter_machine_files

    names = []
    for path in iter_machine_files(str(results_dir)):
        p = Path(path)
        if p.parent.parent == Path(results_dir):
            names.append(p.parent.name)
    return sorted(names)


def load_runs(results_dir, machines=None, commit: str | None = None) -> list[MachineRun]:
    """One :class:`MachineRun` per machine: the latest run, or the one of ``commit`` (a prefix).

    Raises
    ------
    FileNotFoundError
        ``results_dir`` does not exist.
    ValueError
        No machine, an unknown machine, or a machine without results (for ``commit``).
    """
    from asv import util
    from asv.machine import Machine
    from asv.results import iter_results_for_machine

    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"no asv results folder {results_dir}")
    known = machine_names(results_dir)
    if not known:
        raise ValueError(f"{results_dir} holds no asv results (no <machine>/machine.json)")
    wanted = list(machines) if machines else known
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise ValueError(
            f"no results for machine(s) {', '.join(unknown)} in {results_dir}; known: {', '.join(known)}"
        )
    runs = []
    for name in wanted:
        candidates = [
            r
            for r in iter_results_for_machine(str(results_dir), name)
            if commit is None or (r.commit_hash or "").startswith(commit)
        ]
        if not candidates:
            which = f" for commit {commit}" if commit else ""
            raise ValueError(f"machine {name} has no results{which} in {results_dir}")
        best = max(
            candidates, key=lambda r: (max((v for v in r.started_at.values() if v), default=0), r.date or 0)
        )
        info = util.load_json(str(results_dir / name / "machine.json"), api_version=Machine.api_version)
        runs.append(MachineRun(name, info, best))
    return runs


def benchmark_meta(results_dir) -> dict:
    """``benchmarks.json`` of ``results_dir`` (name -> type, unit, param_names, ...), or {}."""
    from asv import util
    from asv.benchmarks import Benchmarks

    path = Benchmarks.get_benchmark_file_path(str(results_dir))
    if not Path(path).is_file():
        return {}
    try:
        data = util.load_json(path, api_version=Benchmarks.api_version)
    except util.UserError:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


# --- tables ----------------------------------------------------------------------------------


def _param_value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _values(run: MachineRun, name: str) -> dict[tuple, float | None]:
    """``{param tuple (repr strings): value}`` of one benchmark in one run."""
    res = run.results
    params = res.get_result_params(name) or []
    values = res.get_result_value(name, params)
    return dict(zip(itertools.product(*params), values))


def _unit(meta: dict, name: str) -> str:
    m = meta.get(name, {})
    if m.get("unit"):
        return m["unit"]
    return "seconds" if name.split(".")[-1].startswith("time_") else ""


def _param_names(meta: dict, name: str, n: int) -> list[str]:
    names = list(meta.get(name, {}).get("param_names") or [])
    return (names + [f"param{i + 1}" for i in range(len(names), n)])[:n]


def comparison_rows(runs: list[MachineRun], meta: dict) -> list[dict]:
    """One row per benchmark and parameter set, with every machine's value and the ratios.

    Keys: ``benchmark``, ``params`` (``"name=value, ..."``), ``unit``, one key per machine, and
    ``<machine>/<first machine>`` for each other machine (NaN where a value is missing).
    """
    names = sorted(set().union(*(set(r.results.get_all_result_keys()) for r in runs)))
    ref = runs[0].machine
    rows = []
    for name in names:
        per_machine = {
            r.machine: (_values(r, name) if name in r.results.get_all_result_keys() else {}) for r in runs
        }
        order = []
        for vals in per_machine.values():
            order += [p for p in vals if p not in order]
        for p in order:
            pnames = _param_names(meta, name, len(p))
            row = {
                "benchmark": name,
                "params": ", ".join(f"{k}={_param_value(v)}" for k, v in zip(pnames, p)),
                "unit": _unit(meta, name),
            }
            for r in runs:
                v = per_machine[r.machine].get(p)
                row[r.machine] = float(v) if _finite(v) else float("nan")
            if all(math.isnan(row[r.machine]) for r in runs):
                continue  # skipped or failed everywhere
            for r in runs[1:]:
                a, b = row[ref], row[r.machine]
                row[f"{r.machine}/{ref}"] = (
                    b / a if (a and not math.isnan(a) and not math.isnan(b)) else float("nan")
                )
            rows.append(row)
    return rows


def scaling_rows(runs: list[MachineRun], meta: dict) -> list[dict]:
    """Speed-up, efficiency and Karp-Flatt serial fraction per stage benchmark, parameter set
    and worker count, for every machine.

    Keys: ``benchmark`` (``module.Class``), ``backend``, ``params`` (the others, without
    ``workers``), ``workers``, ``source``, and ``<machine> speedup`` / ``<machine> efficiency``
    / ``<machine> serial fraction`` per machine.
    """
    from .scaling import efficiency, karp_flatt, speedup

    classes = {}
    for r in runs:
        for name in r.results.get_all_result_keys():
            cls, _, method = name.rpartition(".")
            if method in ("track_speedup", "time_run"):
                classes.setdefault(cls, set()).add(method)
    rows = []
    for cls in sorted(classes):
        source = "track_speedup" if "track_speedup" in classes[cls] else "time_run"
        name = f"{cls}.{source}"
        table: dict[tuple, dict] = {}
        for r in runs:
            if name not in r.results.get_all_result_keys():
                continue
            vals = _values(r, name)
            if not vals:
                continue
            pnames = _param_names(meta, name, len(next(iter(vals))))
            if "workers" not in pnames:
                continue
            wi = pnames.index("workers")
            for p, v in vals.items():
                p_workers = int(_param_value(p[wi]))
                rest = tuple((k, _param_value(x)) for i, (k, x) in enumerate(zip(pnames, p)) if i != wi)
                if source == "track_speedup":
                    s = float(v) if _finite(v) else float("nan")
                else:  # wall-clock times: the serial x1 run of the same other parameters is the baseline
                    base = tuple(
                        ("'serial'" if k == "backend" else ("1" if k == "workers" else x))
                        for k, x in zip(pnames, p)
                    )
                    t_base = vals.get(base)
                    s = speedup(float(t_base), float(v)) if _finite(t_base) and _finite(v) else float("nan")
                    if dict(rest).get("backend") == "serial":
                        continue
                if math.isnan(s):
                    continue
                key = (rest, p_workers)
                others = [(k, x) for k, x in rest if k != "backend"]
                row = table.setdefault(
                    key,
                    {
                        "benchmark": cls,
                        "backend": dict(rest).get("backend", ""),
                        "params": ", ".join(f"{k}={x}" for k, x in others),
                        "workers": p_workers,
                        "source": source,
                    },
                )
                row[f"{r.machine} speedup"] = s
                row[f"{r.machine} efficiency"] = efficiency(s, p_workers)
                row[f"{r.machine} serial fraction"] = karp_flatt(s, p_workers)
        for key in table:  # order as in the results: parameters, then workers
            row = table[key]
            for r in runs:
                for col in ("speedup", "efficiency", "serial fraction"):
                    row.setdefault(f"{r.machine} {col}", float("nan"))
            rows.append(row)
    return rows


def workload_warnings(rows: list[dict], runs: list[MachineRun]) -> list[str]:
    """Messages for work sizes (units tracks/chunks) that differ between machines."""
    out = []
    for row in rows:
        if row["unit"] in WORKLOAD_UNITS:
            vals = {r.machine: row[r.machine] for r in runs if not math.isnan(row[r.machine])}
            if len(set(vals.values())) > 1:
                pretty = ", ".join(f"{m}: {v:g}" for m, v in vals.items())
                out.append(
                    f"{row['benchmark']} differs ({pretty}): the machines ran different work "
                    "(GENRE_HPC_BENCH_SCALE); their ratios compare different things"
                )
    return out


# --- formatting --------------------------------------------------------------------------------


def format_value(v: float, unit: str) -> str:
    """``v`` in ``unit``, readable: seconds as s/ms/us, bytes as MiB/GiB."""
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
    return "-" if v is None or math.isnan(v) else f"{v:.2f}"


def comparison_table(rows: list[dict], runs: list[MachineRun]) -> str:
    from .report import format_table

    ref = runs[0].machine
    ratio_cols = [f"{r.machine}/{ref}" for r in runs[1:]]
    shown = [
        {
            "benchmark": r["benchmark"],
            "params": r["params"] or "-",
            **{m.machine: format_value(r[m.machine], r["unit"]) for m in runs},
            **{c: _ratio(r[c]) for c in ratio_cols},
        }
        for r in rows
    ]
    cols = ["benchmark", "params"] + [m.machine for m in runs] + ratio_cols
    return format_table(shown, cols)


def scaling_table(rows: list[dict], runs: list[MachineRun]) -> str:
    from .report import format_table

    cols = ["benchmark", "backend", "params", "workers"]
    for r in runs:
        cols += [f"{r.machine} speedup", f"{r.machine} efficiency", f"{r.machine} serial fraction"]
    return format_table(rows, cols)


def machines_table(runs: list[MachineRun]) -> str:
    from .report import format_table

    rows = [r.describe() for r in runs]
    return format_table(rows, ["machine", "commit", "started", "cpu", "num_cpu", "ram", "os", "python"])


# --- files -------------------------------------------------------------------------------------


def plot_ratios(rows: list[dict], runs: list[MachineRun], out_dir) -> list[Path]:
    """One PNG per other machine: log2 ratio of every time benchmark to the first machine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import write_png

    ref = runs[0].machine
    paths = []
    for other in runs[1:]:
        col = f"{other.machine}/{ref}"
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
        ax.set_xlabel(f"log2(time on {other.machine} / time on {ref})   (> 0: {other.machine} slower)")
        ax.set_title(f"Time ratio {other.machine} / {ref}")
        ax.grid(True, axis="x", alpha=0.3)
        paths.append(write_png(fig, Path(out_dir) / f"ratio-{_slug(other.machine)}-vs-{_slug(ref)}.png"))
    return paths


def plot_scaling(rows: list[dict], runs: list[MachineRun], out_dir) -> list[Path]:
    """Per stage benchmark and parameter set (other than backend and workers): speed-up and
    efficiency vs workers, one column of panels per machine, one line per backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import write_png

    paths = []
    for cls, params in dict.fromkeys((r["benchmark"], r["params"]) for r in rows):
        rs = [r for r in rows if r["benchmark"] == cls and r["params"] == params]
        all_p = sorted({r["workers"] for r in rs})
        pmax = max(all_p)
        fig, axes = plt.subplots(2, len(runs), figsize=(5.0 * len(runs), 7.2), squeeze=False, sharex=True)
        top = max(
            [float(pmax)]
            + [r[f"{m.machine} speedup"] for r in rs for m in runs if _finite(r[f"{m.machine} speedup"])]
        )
        eff_top = max(
            [1.0]
            + [
                r[f"{m.machine} efficiency"]
                for r in rs
                for m in runs
                if _finite(r[f"{m.machine} efficiency"])
            ]
        )
        backends = list(dict.fromkeys(r["backend"] for r in rs))
        cmap = plt.get_cmap("tab10" if len(backends) <= 10 else "tab20")
        style = {
            b: {"color": cmap(i % cmap.N), "marker": "os^Dv"[i // 10 % 5]} for i, b in enumerate(backends)
        }
        for j, m in enumerate(runs):
            ax_s, ax_e = axes[0][j], axes[1][j]
            ax_s.plot([1, pmax], [1, pmax], "k--", lw=0.8, label="ideal")
            ax_e.axhline(1.0, color="k", ls="--", lw=0.8)
            for backend in backends:
                pts = sorted(
                    (r["workers"], r[f"{m.machine} speedup"], r[f"{m.machine} efficiency"])
                    for r in rs
                    if r["backend"] == backend and _finite(r[f"{m.machine} speedup"])
                )
                if pts:
                    ax_s.plot(
                        [p[0] for p in pts],
                        [p[1] for p in pts],
                        "-",
                        ms=3,
                        lw=1,
                        label=backend or "-",
                        **style[backend],
                    )
                    ax_e.plot([p[0] for p in pts], [p[2] for p in pts], "-", ms=3, lw=1, **style[backend])
            ax_s.set_title(f"{m.machine}: speed-up over serial x1", fontsize=9)
            ax_e.set_title(f"{m.machine}: efficiency", fontsize=9)
            ax_s.set_ylim(0, top * 1.1)
            ax_e.set_ylim(0, eff_top * 1.1)
            for ax in (ax_s, ax_e):
                ax.set_xticks(all_p, [str(p) for p in all_p])
                ax.grid(True, alpha=0.3)
            ax_e.set_xlabel("workers")
        axes[0][0].set_ylabel("speed-up")
        axes[1][0].set_ylabel("efficiency (speed-up / workers)")
        handles, labels = axes[0][0].get_legend_handles_labels()
        axes[0][-1].legend(handles, labels, fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        fig.suptitle(f"{cls} ({params})" if params else cls)
        fig.tight_layout()
        paths.append(
            write_png(fig, Path(out_dir) / f"scaling-{_slug(cls)}{'-' + _slug(params) if params else ''}.png")
        )
    return paths


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)


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


def write_html(path, runs, rows, scaling, warnings, pngs) -> Path:
    from .files import atomic_write

    ref = runs[0].machine
    ratio_cols = [f"{r.machine}/{ref}" for r in runs[1:]]

    def cmp_fmt(row, col):
        if col in ratio_cols:
            return _ratio(row[col])
        if col in [m.machine for m in runs]:
            return format_value(row[col], row["unit"])
        return row.get(col) or ("-" if col == "params" else "")

    scale_cols = ["benchmark", "backend", "params", "workers"] + [
        f"{m.machine} {c}" for m in runs for c in ("speedup", "efficiency", "serial fraction")
    ]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>genre-hpc: machines compared</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "td:first-child,td:nth-child(2),th{text-align:left}"
        ".warn{color:#a00}img{max-width:100%;border:1px solid #eee;margin:0.5em 0}</style></head><body>",
        f"<h1>genre-hpc: {html.escape(', '.join(m.machine for m in runs))}</h1>",
        "<h2>Machines</h2>",
        _html_table(
            [m.describe() for m in runs],
            ["machine", "commit", "started", "cpu", "num_cpu", "ram", "os", "python", "env"],
        ),
    ]
    parts += [f"<p class='warn'>{html.escape(w)}</p>" for w in warnings]
    if len(runs) > 1:
        parts.append(
            f"<p>Ratios are <i>value on the machine / value on {html.escape(ref)}</i>; "
            "for times, above 1 is slower.</p>"
        )
    parts.append("<h2>Scaling: speed-up, efficiency, Karp-Flatt serial fraction</h2>")
    parts.append(
        "<p>Speed-up S = T(serial x1) / T(run) on the same work; efficiency S / p; serial fraction "
        "e = (1/S - 1/p) / (1 - 1/p) (undefined at p = 1; growing with p means overhead).</p>"
    )
    parts.append(
        _html_table(scaling, scale_cols)
        if scaling
        else "<p>No stage benchmarks with a workers parameter.</p>"
    )
    for p in pngs:
        parts.append(f"<div><img src='{html.escape(Path(p).name)}' alt='{html.escape(Path(p).stem)}'></div>")
    parts.append("<h2>All benchmarks</h2>")
    parts.append(
        _html_table(rows, ["benchmark", "params", "unit"] + [m.machine for m in runs] + ratio_cols, cmp_fmt)
    )
    parts.append("</body></html>")
    text = "\n".join(parts)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def compare(results_dir, machines=None, commit=None, out=None) -> dict:
    """Load, compare and (with ``out``) write CSV, JSON, PNG and HTML files.

    Returns
    -------
    dict
        ``machines`` (one description each), ``rows`` (:func:`comparison_rows`), ``scaling``
        (:func:`scaling_rows`), ``warnings`` and ``files`` (what was written).
    """
    return _compare(load_runs(results_dir, machines, commit), results_dir, out)


def _compare(runs, results_dir, out) -> dict:
    from .report import write_csv, write_json

    meta = benchmark_meta(results_dir)
    rows = comparison_rows(runs, meta)
    scaling = scaling_rows(runs, meta)
    warnings = workload_warnings(rows, runs)
    files = {}
    if out is not None:
        out = Path(out)
        files["comparison_csv"] = write_csv(rows, out / "comparison.csv")
        files["scaling_csv"] = write_csv(scaling, out / "scaling.csv")
        pngs = plot_scaling(scaling, runs, out) + plot_ratios(rows, runs, out)
        files["png"] = pngs
        files["html"] = write_html(out / "index.html", runs, rows, scaling, warnings, pngs)
        files["json"] = out / "comparison.json"
    result = {
        "machines": [r.describe() for r in runs],
        "rows": rows,
        "scaling": scaling,
        "warnings": warnings,
        "files": {k: ([str(p) for p in v] if isinstance(v, list) else str(v)) for k, v in files.items()},
    }
    if out is not None:
        write_json(result, files["json"])
    return result


# --- the command -------------------------------------------------------------------------------


def cmd_compare_machines(args) -> int:
    def say(*a):
        print(*a, file=sys.stderr)

    from .cli import UsageError

    try:
        import asv  # noqa: F401
    except ModuleNotFoundError:
        raise UsageError(
            "compare-machines reads asv results and needs asv: pip install 'genre-hpc[bench]'"
        ) from None
    results_dir = args.results_dir if args.results_dir is not None else default_results_dir()
    try:
        runs = load_runs(results_dir, args.machines, args.commit)
    except (FileNotFoundError, ValueError) as exc:  # load_runs: a wrong folder, machine or commit
        raise UsageError(str(exc)) from None
    res = _compare(runs, results_dir, args.out)
    rows, scaling = res["rows"], res["scaling"]
    say(machines_table(runs))
    for w in res["warnings"]:
        say(f"warning: {w}")
    say("")
    if scaling:
        say("Scaling (speed-up over serial x1, efficiency, Karp-Flatt serial fraction):")
        say(scaling_table(scaling, runs))
        say("")
    say(f"All benchmarks ({len(rows)} rows):")
    say(comparison_table(rows, runs))
    if args.out:
        say(
            f"\nwrote {res['files']['html']}, comparison.csv, scaling.csv, comparison.json and "
            f"{len(res['files']['png'])} plots in {args.out}"
        )
    if args.json:
        from .report import to_jsonable

        sys.stdout.write(json.dumps(to_jsonable(res)) + "\n")
        sys.stdout.flush()
    return 0


def register(subparsers) -> None:
    """Add ``compare-machines`` to the ``genre-hpc`` command (see ``genre_hpc.cli.PLUGIN_COMMANDS``)."""
    p = subparsers.add_parser(
        "compare-machines",
        help="compare asv benchmark results of several machines (ratios, speed-up, efficiency)",
        description="Compare asv benchmark results of several machines: every benchmark side by side with "
        "its ratio to the first machine, and speed-up, efficiency and Karp-Flatt serial fraction "
        "per worker count.",
    )
    p.add_argument(
        "results_dir",
        nargs="?",
        type=Path,
        default=None,
        metavar="RESULTS_DIR",
        help="asv results folder (default: results_dir of ./asv.conf.json, else results)",
    )
    p.add_argument(
        "--machines",
        type=lambda s: [t.strip() for t in s.split(",") if t.strip()],
        default=None,
        help="comma-separated machine names; the first is the reference of the ratios (default: all, sorted)",
    )
    p.add_argument(
        "--commit",
        default=None,
        help="compare the results of this commit (hash prefix; default: the latest run per machine)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write comparison.csv, scaling.csv, comparison.json, PNG plots and index.html here",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object last on stdout")
    p.set_defaults(func=cmd_compare_machines)
