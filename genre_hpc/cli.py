"""The ``genre-hpc`` command: parse, call the library, print.

Sub-commands: ``synth``, ``extract``, ``train``, ``run``, ``scale``,
``compare-machines``. With ``--json`` the last thing on stdout is one JSON
object; human-readable output and progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class UsageError(ValueError):
    """A mistake on the command line that the user can fix: :func:`main` reports it in one line,
    exit 2 (a cell no stage axis can take, a missing asv, a wrong results folder)."""


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _int_list(text: str) -> list[int]:
    try:
        vals = [int(t) for t in _csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError("worker counts must be >= 1")
    return vals


def _say(*args):
    print(*args, file=sys.stderr)


def _emit_json(obj) -> None:
    from .report import to_jsonable

    sys.stdout.write(json.dumps(to_jsonable(obj)) + "\n")
    sys.stdout.flush()


def _add_data_args(
    p, data_help="GTZAN-layout folder <root>/<genre>/<file> (default: the embedded synthetic dataset)"
):
    p.add_argument("--data", type=Path, help=data_help)
    p.add_argument(
        "--per-genre", type=int, default=10, help="synthetic default dataset: tracks per genre (default 10)"
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        help="synthetic default dataset: seconds per track (default 30)",
    )
    p.add_argument("--seed", type=int, default=0, help="synthetic default dataset: seed (default 0)")


def _add_extract_args(p):
    from .features import EXTRACTORS

    p.add_argument(
        "--extractor",
        default="reference",
        choices=sorted(EXTRACTORS),
        help="feature extractor (default reference)",
    )
    p.add_argument(
        "--backend", default="serial", help="parallel backend (see `genre-hpc scale --help`; default serial)"
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes/threads (default 1)")
    p.add_argument(
        "--scheduler", help="dask-distributed: address of an existing scheduler, e.g. tcp://host:8786"
    )
    p.add_argument("--profile", help="ipyparallel: profile of an existing cluster")
    p.add_argument("--cluster-id", help="ipyparallel: cluster id of an existing cluster")
    p.add_argument("--strict", action="store_true", help="any failed file makes the command fail (exit 1)")
    p.add_argument(
        "--no-cache", action="store_true", help="recompute every track (the cache is keyed by file content)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _dataset_root(args) -> Path:
    if args.data is not None:
        return args.data
    from .synth import default_dataset

    _say(
        f"no --data: using the embedded synthetic dataset ({args.per_genre} per genre, "
        f"{args.seconds:g} s, seed {args.seed})"
    )
    return default_dataset(per_genre=args.per_genre, seconds=args.seconds, seed=args.seed)


#: cluster options of the CLI and the backends that take them
_CLUSTER_OPTIONS = {
    "scheduler": ("dask-distributed",),
    "profile": ("ipyparallel",),
    "cluster_id": ("ipyparallel",),
}


def _backend_options(args) -> dict:
    """The cluster options given on the command line, checked against the chosen backend."""
    opts = {}
    for name, backends in _CLUSTER_OPTIONS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if args.backend not in backends:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} applies to the {' / '.join(backends)} backend, not {args.backend!r}")
        opts[name] = value
    return opts


def _extract(args):
    from .extract import extract_features, warm_up

    opts = _backend_options(args)
    if args.backend != "serial":
        opts["warmup"] = warm_up(args.extractor)
    return extract_features(
        _dataset_root(args),
        extractor=args.extractor,
        backend=args.backend,
        workers=args.workers,
        backend_options=opts,
        cache=not args.no_cache,
        strict=False,
        progress=False if args.no_progress else None,
    )


def _report_failures(res) -> None:
    if res.failures:
        _say(f"{len(res.failures)} of {res.n_tracks} track(s) failed:")
        for f in res.failures:
            _say(f"  {f.path}: {f.reason}")


def _extraction_line(res) -> str:
    s = res.summary()
    return (
        f"extracted {s['chunks']} chunks from {s['tracks']} tracks in {s['seconds']:.2f} s "
        f"({s['backend']} x{s['workers']}, {s['extractor']}; {s['cache_hits']} from cache; "
        f"{s['failed']} failed)"
    )


# --- commands ----------------------------------------------------------------------


def cmd_synth(args) -> int:
    from .synth import write_dataset

    paths = write_dataset(
        args.out,
        per_genre=args.per_genre,
        seconds=args.seconds,
        seed=args.seed,
        progress=None if not args.no_progress else False,
    )
    _say(f"wrote {len(paths)} tracks to {args.out}")
    if args.json:
        _emit_json({"out": str(args.out), "tracks": len(paths)})
    return 0


def cmd_extract(args) -> int:
    from .extract import write_table

    res = _extract(args)
    _report_failures(res)
    out = args.out
    write_table(res.table, out)
    if args.csv:
        write_table(res.table, Path(out).with_suffix(".csv"))
    _say(_extraction_line(res))
    _say(f"wrote {out}")
    if args.json:
        _emit_json(
            {"extraction": res.summary(), "out": str(out), "failures": [f.to_dict() for f in res.failures]}
        )
    return 1 if (args.strict and res.failures) else 0


def _models_table(results) -> str:
    from .report import format_table

    return format_table(
        [r.to_dict() for r in results],
        ["name", "chunk_accuracy", "track_accuracy", "fit_s", "predict_s"],
        ["model", "chunk acc", "track acc", "fit s", "predict s"],
    )


def cmd_train(args) -> int:
    from .extract import read_table
    from .models import train_models

    table = read_table(args.table)
    results = train_models(
        table, models=args.models, preset=args.preset, split=args.split, n_jobs=args.n_jobs
    )
    _say(f"{args.split} split, preset {args.preset}, {len(table)} chunks")
    _say(_models_table(results))
    if args.verbose:
        for r in results:
            _say(f"\n== {r.name}\n{r.report}\nconfusion:\n{r.confusion}")
    if args.json:
        _emit_json({"models": [r.to_dict() for r in results]})
    return 0


def cmd_run(args) -> int:
    from .models import train_models

    res = _extract(args)
    _report_failures(res)
    if args.strict and res.failures:
        _say("--strict: stopping because of the failures above")
        if args.json:
            _emit_json(
                {"models": [], "extraction": res.summary(), "failures": [f.to_dict() for f in res.failures]}
            )
        return 1
    if args.out:
        from .extract import write_table

        write_table(res.table, args.out)
    results = train_models(
        res.table,
        models=args.models,
        preset=args.preset,
        split=args.split,
        progress=False if args.no_progress else None,
    )
    _say(_extraction_line(res))
    _say(f"\n{args.split} split (test 30 %), preset {args.preset}:")
    _say(_models_table(results))
    if args.json:
        s = res.summary()
        _emit_json(
            {
                "models": [r.to_dict() for r in results],
                "extraction": {
                    "tracks": s["tracks"],
                    "chunks": s["chunks"],
                    "seconds": s["seconds"],
                    "failed": s["failed"],
                    "cache_hits": s["cache_hits"],
                    "extractor": s["extractor"],
                    "backend": s["backend"],
                    "workers": s["workers"],
                },
                "failures": [f.to_dict() for f in res.failures],
                "split": args.split,
                "preset": args.preset,
            }
        )
    return 0


def _axis_options() -> dict:
    """``{axis name: (Axis, [stage names])}`` of the axes ``genre-hpc scale`` takes by name:
    every stage's axes but ``backend`` and ``workers`` (those are ``--backends`` and
    ``--workers``, which also name a stage's backend and workers axes: train's mode and threads)."""
    from .stages import get_stage_class, stage_names

    axes: dict = {}
    for name in stage_names():
        for axis in get_stage_class(name).space.axes:
            if axis.name not in ("backend", "workers"):
                axes.setdefault(axis.name, (axis, []))[1].append(name)
    return axes


def cmd_scale(args) -> int:
    from .report import plot_scaling, scaling_table, write_csv, write_json
    from .scaling import run_study
    from .stages import get_stage

    stage = get_stage(args.stage)
    given = {name: getattr(args, f"axis_{name}") for name in _axis_options()}
    try:  # before the (possibly long) preparation of the work
        cells = stage.grid(args.backends, args.workers, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:  # an axis the stage does not have, a value it cannot take
        raise UsageError(str(exc)) from None
    options = {
        k: v
        for k, v in {
            "data": args.data,
            "per_genre": args.per_genre,
            "seconds": args.seconds,
            "seed": args.seed,
            "extractor": args.extractor,
            "preset": args.preset,
            "epochs": args.epochs,
            "image_size": args.image_size,
        }.items()
        if v is not None
    }
    run_options = {"scheduler": args.scheduler} if args.scheduler else {}
    axes = ", ".join(
        f"{n} {','.join(map(str, dict.fromkeys(c[n] for c in cells)))}" for n in stage.space.names
    )
    _say(
        f"scale: stage {stage.name}, {len(cells)} cells ({axes}), repeat {args.repeat}, "
        f"{'weak' if args.weak else 'strong'} scaling"
    )
    work = stage.prepare(**options)
    rows = run_study(
        stage,
        work,
        cells=cells,
        repeat=args.repeat,
        weak=args.weak,
        options=run_options,
        progress=False if args.no_progress else None,
    )
    _say(scaling_table(rows))
    if args.out:
        out = Path(args.out)
        write_csv(rows, out / f"{stage.name}-scaling.csv")
        write_json({"rows": rows}, out / f"{stage.name}-scaling.json")
        pngs = plot_scaling(rows, out, xlabel=stage.space.workers or "threads (the largest pool)")
        _say(f"wrote {out}/{stage.name}-scaling.csv, .json and {len(pngs)} plots")
    if args.json:
        _emit_json({"rows": rows})
    return 0


def cmd_compare_machines(args) -> int:
    from .machines import compare_runs, default_results_dir, load_runs
    from .report import comparison_table, machine_scaling_table, machines_table

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
    res = compare_runs(runs, results_dir, args.out)
    rows, scaling = res["rows"], res["scaling"]
    machines = [r.machine for r in runs]
    _say(machines_table(res["machines"]))
    for w in res["warnings"]:
        _say(f"warning: {w}")
    _say("")
    if scaling:
        _say("Scaling (speed-up over the stage's baseline, efficiency, Karp-Flatt serial fraction):")
        _say(machine_scaling_table(scaling, machines))
        _say("")
    _say(f"All benchmarks ({len(rows)} rows):")
    _say(comparison_table(rows, machines))
    if args.out:
        _say(
            f"\nwrote {res['files']['html']}, comparison.csv, scaling.csv, comparison.json and "
            f"{len(res['files']['png'])} plots in {args.out}"
        )
    if args.json:
        _emit_json(res)
    return 0


# --- parser ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from .models import MODEL_NAMES, PRESETS

    parser = argparse.ArgumentParser(prog="genre-hpc", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--version", action="version", version=f"genre-hpc {__import__('genre_hpc').__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="write the synthetic GTZAN-layout dataset")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--per-genre", type=int, default=10, help="tracks per genre (default 10)")
    p.add_argument("--seconds", type=float, default=30.0, help="seconds per track (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0): same seed, same bytes")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print one JSON object last on stdout")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("extract", help="extract the feature table (one row per 3 s chunk)")
    _add_data_args(p)
    p.add_argument("--out", type=Path, required=True, help="output table: .parquet (default format) or .csv")
    p.add_argument("--csv", action="store_true", help="also write a CSV next to the output")
    _add_extract_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_extract)

    def add_model_args(p):
        p.add_argument(
            "--split",
            choices=("track", "chunk"),
            default="track",
            help="track: no track on both sides (default); chunk: the study's leaky random split",
        )
        p.add_argument("--preset", choices=PRESETS, default="quick", help="model settings (default quick)")
        p.add_argument(
            "--models",
            type=_csv_list,
            default=list(MODEL_NAMES),
            help=f"comma-separated subset of {','.join(MODEL_NAMES)}",
        )

    p = sub.add_parser("train", help="train and evaluate the model zoo on a feature table")
    p.add_argument("--table", type=Path, required=True, help="feature table from `genre-hpc extract`")
    add_model_args(p)
    p.add_argument("--n-jobs", type=int, default=1, help="threads for RF/KNN/XGBoost")
    p.add_argument(
        "--verbose", action="store_true", help="print classification reports and confusion matrices"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("run", help="the whole pipeline: dataset -> features -> models -> table")
    _add_data_args(p)
    _add_extract_args(p)
    add_model_args(p)
    p.add_argument("--out", type=Path, help="also write the feature table here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "scale",
        help="scaling study: time, speed-up, efficiency per cell (backend x workers, mode x threads, ...)",
        description="Scaling study: every cell of a stage's parameter space, --repeat times, against the "
        "stage's baseline on the same work; speed-up, efficiency and Karp-Flatt serial fraction with 95% "
        "bootstrap intervals (docs/scaling.md).",
    )
    p.add_argument("--stage", default="extract", help="stage to time (extract, train, tune, images, cnn)")
    p.add_argument(
        "--backends",
        type=_csv_list,
        default=["all"],
        help="the stage's backend axis: comma-separated backends (extract, images, tune) or training modes "
        "(train), or all (default); cnn: tensorflow",
    )
    p.add_argument(
        "--workers",
        type=_int_list,
        default=[1, 2, 4],
        help="the stage's workers axis: worker counts (train: threads; cnn: OMP threads, and intra = inter = "
        "omp unless --intra/--inter are given) (default 1,2,4)",
    )
    for name, (axis, owners) in _axis_options().items():
        p.add_argument(
            *axis.cli_flags(),
            dest=f"axis_{name}",
            type=_int_list if axis.kind == "count" else _csv_list,
            default=None,
            metavar="N,..." if axis.kind == "count" else "NAME,...",
            help=f"stage {', '.join(owners)}: {axis.help} (comma-separated)",
        )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs per cell and per baseline; the median is reported, with a 95%% interval from 2 runs",
    )
    p.add_argument("--weak", action="store_true", help="weak scaling: the work grows with the workers")
    _add_data_args(p)
    p.set_defaults(per_genre=2, seconds=6.0)
    p.add_argument("--extractor", default="reference")
    p.add_argument("--preset", default=None, help="model preset for train/tune/cnn stages")
    p.add_argument("--epochs", type=int, default=None, help="cnn stage: epochs")
    p.add_argument(
        "--image-size", type=int, default=None, help="cnn stage: image side in pixels (default 64)"
    )
    p.add_argument("--scheduler", help="dask: address of an existing scheduler")
    p.add_argument("--out", type=Path, default=Path("out/scale"), help="folder for CSV, JSON and PNG plots")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_scale)

    p = sub.add_parser(
        "compare-machines",
        help="compare asv benchmark results of several machines (ratios, speed-up, efficiency)",
        description="Compare asv benchmark results of several machines: every benchmark side by side with "
        "its ratio to the first machine, and speed-up, efficiency and Karp-Flatt serial fraction "
        "per stage cell, by each stage's own baseline and thread count.",
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
        type=_csv_list,
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
    return parser


def main(argv=None) -> int:
    """Entry point of the ``genre-hpc`` console script."""
    from .dataset import DatasetError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DatasetError, KeyError, ValueError, FileNotFoundError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        _say(f"genre-hpc {args.command}: error: {msg}")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
