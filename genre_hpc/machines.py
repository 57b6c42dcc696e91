"""asv results of several machines, loaded and compared side by side.

An asv results folder holds one sub-folder per machine (``machine.json`` plus one JSON file
per commit and environment) and ``benchmarks.json`` (names, parameters, units). This module
reads them with asv's own API (:mod:`asv.results`, :mod:`asv.machine`), picks one result file
per machine (the most recent run, or the one of ``--commit``), and reports

- every benchmark and parameter set: the value on each machine and its ratio to the first
  machine (for times, a ratio above 1 means slower than the first machine);
- per stage benchmark and cell: speed-up, efficiency and Karp-Flatt serial fraction
  ``e = (1/S - 1/p) / (1 - 1/p)`` on each machine, by the stage's own baseline and thread rule
  through the measurement core (:mod:`genre_hpc.measure`); the speed-up is the suite's
  ``track_speedup`` (baseline and run in the same process), or, where that is missing,
  ``time_run`` of the stage's baseline cell over ``time_run``.

The ``genre-hpc compare-machines`` command (:mod:`genre_hpc.cli`) prints them; tables, plots and
the HTML page are drawn and written by :mod:`genre_hpc.report`. asv is imported only when a
function here runs (it is the ``bench`` extra).
"""

from __future__ import annotations

import ast
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

#: benchmarks whose values are work sizes: different values mean the machines ran different work
WORKLOAD_UNITS = ("tracks", "chunks")

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


def _samples(run: MachineRun, name: str) -> dict[tuple, list]:
    """``{param tuple: [sample, ...]}`` of one benchmark in one run (asv's raw samples, where
    it kept them)."""
    res = run.results
    params = res.get_result_params(name) or []
    try:
        samples = res.get_result_samples(name, params)
    except (KeyError, AttributeError):
        return {}
    return {p: list(s) for p, s in zip(itertools.product(*params), samples or []) if s}


def scaling_rows(runs: list[MachineRun], meta: dict, warnings: list | None = None) -> list[dict]:
    """Speed-up, efficiency and Karp-Flatt serial fraction (with intervals where the samples
    allow) per stage benchmark, cell and machine, by the stage's own rules.

    A stage benchmark class is found by its name (``Time<Stage>[Variant]``,
    :func:`genre_hpc.stages.stage_of_benchmark`); its parameters are the stage's axes (a cell)
    plus work parameters (``extractor``). The speed-up is the suite's ``track_speedup`` (the
    stage's baseline and the cell in the same process, compute times), or, where that is
    missing, ``time_run`` (wall clock, start-up included) of the stage's baseline cell over the
    cell's, through :func:`genre_hpc.measure.figures`; efficiency is divided by the stage's
    ``threads(cell)`` (the CNN: its largest pool). Classes whose parameters are not the stage's
    axes (results of an older suite) are left out with a message in ``warnings``.

    Keys: ``benchmark`` (``module.Class``), ``stage``, ``backend``, ``workers`` (the stage's
    labels of the cell), the cell's axes, ``params`` (the work parameters), ``series``,
    ``baseline``, ``threads``, ``source``, and per machine ``<machine> speedup``,
    ``<machine> speedup_ci``, ``<machine> efficiency``, ``<machine> efficiency_ci``,
    ``<machine> serial fraction``, ``<machine> superlinear``; on the cluster cells also
    ``<machine> workers used`` (the suite's ``track_workers_used``: how many of the cluster's
    workers ran the cell's tasks), with a warning where it is not the cell's worker count.
    """
    from .measure import Figures, figures
    from .stages import get_stage, stage_of_benchmark

    warnings = [] if warnings is None else warnings
    classes: dict[str, set] = {}
    for r in runs:
        for name in r.results.get_all_result_keys():
            cls, _, method = name.rpartition(".")
            if method in ("track_speedup", "time_run") and stage_of_benchmark(cls.rpartition(".")[2]):
                classes.setdefault(cls, set()).add(method)
    rows = []
    for cls in sorted(classes):
        stage = get_stage(stage_of_benchmark(cls.rpartition(".")[2]))
        axes = stage.space.names
        source = "track_speedup" if "track_speedup" in classes[cls] else "time_run"
        name = f"{cls}.{source}"
        table: dict[tuple, dict] = {}
        for r in runs:
            if name not in r.results.get_all_result_keys():
                continue
            raw = _values(r, name)
            if not raw:
                continue
            pnames = _param_names(meta, name, len(next(iter(raw))))
            if not set(axes) <= set(pnames):
                msg = (
                    f"{cls} on {r.machine}: parameters {', '.join(pnames)} are not the {stage.name} "
                    f"stage's axes ({', '.join(axes)}): recorded by an older suite, "
                    "left out of the scaling table"
                )
                if msg not in warnings:
                    warnings.append(msg)
                continue
            samples = {tuple(map(_param_value, p)): s for p, s in _samples(r, name).items()}
            vals = {tuple(map(_param_value, p)): v for p, v in raw.items()}
            used_name = f"{cls}.track_workers_used"
            used = {}
            if used_name in r.results.get_all_result_keys():
                used = {tuple(map(_param_value, p)): v for p, v in _values(r, used_name).items()}
            for p, v in vals.items():
                params = dict(zip(pnames, p))
                cell = {a: params[a] for a in axes}
                work = {k: x for k, x in params.items() if k not in axes}
                base = stage.baseline(cell)
                if base == cell:
                    continue  # the baseline is not a data point (its speed-up is 1 by definition)
                threads = stage.threads(cell)
                if source == "track_speedup":
                    fig = Figures.from_speedup(float(v) if _finite(v) else float("nan"), threads)
                else:
                    bkey = tuple({**params, **base}[k] for k in pnames)
                    t_base = vals.get(bkey)
                    if not (_finite(t_base) and _finite(v)):
                        continue
                    fig = figures(samples.get(bkey) or [t_base], samples.get(p) or [v], threads)
                if math.isnan(fig.speedup):
                    continue
                labels = stage.labels(cell)
                row = table.setdefault(
                    (stage.space.key(cell), tuple(work.items())),
                    {
                        "benchmark": cls,
                        "stage": stage.name,
                        "backend": labels["backend"],
                        "params": ", ".join(f"{k}={x}" for k, x in work.items()),
                        "workers": labels["workers"],
                        **{a: cell[a] for a in axes if a not in ("backend", "workers")},
                        "series": stage.series(cell),
                        "baseline": stage.label(base),
                        "threads": threads,
                        "source": source,
                    },
                )
                row[f"{r.machine} speedup"] = fig.speedup
                row[f"{r.machine} speedup_ci"] = list(fig.speedup_ci)
                row[f"{r.machine} efficiency"] = fig.efficiency
                row[f"{r.machine} efficiency_ci"] = list(fig.efficiency_ci)
                row[f"{r.machine} serial fraction"] = fig.serial_fraction
                row[f"{r.machine} superlinear"] = fig.superlinear
                if _finite(used.get(p)):
                    row[f"{r.machine} workers used"] = int(used[p])
                    if int(used[p]) != labels["workers"]:
                        warnings.append(
                            f"{cls} {stage.label(cell)} on {r.machine}: its tasks ran on {int(used[p])} "
                            f"worker(s), not {labels['workers']}: not a {labels['workers']}-worker speed-up"
                        )
        for row in table.values():  # in the results' order: parameters, then workers
            for r in runs:
                for col in ("speedup", "efficiency", "serial fraction"):
                    row.setdefault(f"{r.machine} {col}", float("nan"))
                for col in ("speedup_ci", "efficiency_ci"):
                    row.setdefault(f"{r.machine} {col}", [float("nan"), float("nan")])
                row.setdefault(f"{r.machine} superlinear", False)
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


def compare(results_dir, machines=None, commit=None, out=None) -> dict:
    """Load, compare and (with ``out``) write CSV, JSON, PNG and HTML files.

    Returns
    -------
    dict
        ``machines`` (one description each), ``rows`` (:func:`comparison_rows`), ``scaling``
        (:func:`scaling_rows`), ``warnings`` and ``files`` (what was written).
    """
    return compare_runs(load_runs(results_dir, machines, commit), results_dir, out)


def compare_runs(runs: list[MachineRun], results_dir, out=None) -> dict:
    """:func:`compare` on runs already loaded (files through :func:`genre_hpc.report.write_comparison`)."""
    meta = benchmark_meta(results_dir)
    rows = comparison_rows(runs, meta)
    warnings: list[str] = []
    scaling = scaling_rows(runs, meta, warnings)
    warnings = workload_warnings(rows, runs) + warnings
    result = {
        "machines": [r.describe() for r in runs],
        "rows": rows,
        "scaling": scaling,
        "warnings": warnings,
        "files": {},
    }
    if out is not None:
        from .report import write_comparison

        files = write_comparison(result, out)
        result["files"] = {
            k: ([str(p) for p in v] if isinstance(v, list) else str(v)) for k, v in files.items()
        }
    return result
