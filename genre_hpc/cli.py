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

#: modules that add their own sub-command through ``register(subparsers)``
PLUGIN_COMMANDS = ("genre_hpc.machines",)


class UsageError(Exception):
    """A mistake on the command line that the user can fix; :func:`main` reports it in one line, exit 2.

    Raised by the commands' checks of their arguments, before any work: an unknown backend,
    stage, model, extractor or preset name, a backend that cannot run here (its extra is not
    installed, or a worker count it does not take), a cluster option for another backend, a
    ``--table`` that is missing or not a feature table, an ``--out`` that is a file. Plugin
    commands (``PLUGIN_COMMANDS``) raise it for theirs.
    """


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _check_name(kind: str, name: str, known) -> None:
    """UsageError unless ``name`` is one of ``known``."""
    known = list(known)
    if name not in known:
        raise UsageError(f"unknown {kind} {name!r}; known: {', '.join(known)}")


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
        "--per-genre",
        type=_positive_int,
        default=10,
        help="synthetic default dataset: tracks per genre (default 10)",
    )
    p.add_argument(
        "--seconds",
        type=_positive_float,
        default=30.0,
        help="synthetic default dataset: seconds per track (default 30)",
    )
    p.add_argument(
        "--seed", type=_non_negative_int, default=0, help="synthetic default dataset: seed (default 0)"
    )


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
    p.add_argument("--workers", type=_positive_int, default=1, help="worker processes/threads (default 1)")
    p.add_argument(
        "--scheduler", help="dask-distributed: address of an existing scheduler, e.g. tcp://host:8786"
    )
    p.add_argument("--profile", help="ipyparallel: profile of an existing cluster")
    p.add_argument("--cluster-id", help="ipyparallel: cluster id of an existing cluster")
    p.add_argument(
        "--retries",
        type=_non_negative_int,
        default=None,
        help="process backends: runs of a track after its worker died running it, before the track "
        "is a worker-lost failure (default 1)",
    )
    p.add_argument(
        "--max-tasks-per-worker",
        type=_positive_int,
        default=None,
        help="pool-* / dask-processes: replace a worker process after this many tasks (default: never)",
    )
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
    """The cluster and worker options given on the command line, checked against the backend."""
    from .backends import backend_names

    opts = {}
    for name, backends in _CLUSTER_OPTIONS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if args.backend not in backends:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} applies to the {' / '.join(backends)} backend, not {args.backend!r}")
        opts[name] = value
    from .backends import get_backend_class

    for name in ("retries", "max_tasks_per_worker"):
        value = getattr(args, name, None)
        if value is None:
            continue
        if name not in get_backend_class(args.backend).option_names:
            flag = "--" + name.replace("_", "-")
            takes = [n for n in backend_names() if name in get_backend_class(n).option_names]
            raise UsageError(f"{flag} applies to the {', '.join(takes)} backends, not {args.backend!r}")
        opts[name] = value
    return opts


def _check_backend(args) -> None:
    """UsageError unless ``--backend`` names a backend that can run ``--workers`` here."""
    from .backends import backend_names, unavailable_reason

    _check_name("backend", args.backend, backend_names())
    reason = unavailable_reason(args.backend, args.workers)
    if reason:
        raise UsageError(f"backend {args.backend!r} with {args.workers} worker(s): {reason}")


def _check_models(names) -> None:
    from .models import MODEL_NAMES

    for name in names:
        _check_name("model", name, MODEL_NAMES)


def _extract(args):
    from .extract import extract_features, warm_up

    _check_backend(args)
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
    errors = getattr(res, "cache_errors", None)
    if errors:
        _say(f"warning: {len(errors)} track(s) not cached (their rows are in the table): {errors[0]}")


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

    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file, not a folder")
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


def _read_feature_table(path: Path):
    """The feature table at ``path``, or a UsageError naming the file and the reason."""
    from .extract import read_table

    if not path.is_file():
        raise UsageError(f"--table {path}: no such file")
    try:
        table = read_table(path)
    except (OSError, ValueError) as exc:  # pyarrow's and pandas' parse errors are ValueErrors
        raise UsageError(f"--table {path}: not a readable feature table ({exc})") from None
    if table.empty:
        raise UsageError(f"--table {path}: the feature table is empty")
    return table


def cmd_train(args) -> int:
    from .models import train_models

    _check_models(args.models)
    table = _read_feature_table(args.table)
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
    from .dataset import DatasetError
    from .models import train_models

    _check_models(args.models)
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
    if res.table.empty:
        raise DatasetError(f"no track produced features ({len(res.failures)} failed): nothing to train on")
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


def _check_scale_args(args) -> None:
    """The names ``scale`` takes, checked before the (possibly long) preparation of the work."""
    from .features import EXTRACTORS
    from .stages import stage_names

    _check_name("stage", args.stage, stage_names())
    _check_name("extractor", args.extractor, EXTRACTORS)
    if args.preset is not None:
        if args.stage == "cnn":
            from .cnn import PRESETS
        else:
            from .models import PRESETS
        _check_name(f"preset of stage {args.stage}:", args.preset, PRESETS)


def cmd_scale(args) -> int:
    from .report import plot_scaling, scaling_table, write_csv, write_json
    from .scaling import run_study
    from .stages import get_stage

    _check_scale_args(args)
    stage = get_stage(args.stage)
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
            "intra": args.intra,
            "inter": args.inter,
            "image_size": args.image_size,
        }.items()
        if v is not None
    }
    run_options = {"scheduler": args.scheduler} if args.scheduler else {}
    work = stage.prepare(**options)  # first: a stage may derive its backends from the options (cnn)
    backends = list(stage.backends) if args.backends == ["all"] else args.backends
    for name in backends:
        _check_name(f"backend (or mode) of stage {stage.name}:", name, stage.backends)
    _say(
        f"scale: stage {stage.name}, backends {', '.join(backends)}, workers {args.workers}, "
        f"repeat {args.repeat}, {'weak' if args.weak else 'strong'} scaling"
    )
    rows = run_study(
        stage,
        work,
        backends,
        args.workers,
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
        pngs = plot_scaling(rows, out)
        _say(f"wrote {out}/{stage.name}-scaling.csv, .json and {len(pngs)} plots")
    if args.json:
        _emit_json({"rows": rows})
    return 0


# --- parser ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from .models import MODEL_NAMES, PRESETS

    parser = argparse.ArgumentParser(prog="genre-hpc", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--version", action="version", version=f"genre-hpc {__import__('genre_hpc').__version__}"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="also print the traceback of an expected failure (backend, cluster, disk, interrupt)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="write the synthetic GTZAN-layout dataset")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--per-genre", type=_positive_int, default=10, help="tracks per genre (default 10)")
    p.add_argument("--seconds", type=_positive_float, default=30.0, help="seconds per track (default 30)")
    p.add_argument(
        "--seed", type=_non_negative_int, default=0, help="seed (default 0): same seed, same bytes"
    )
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
    p.add_argument("--n-jobs", type=_positive_int, default=1, help="threads for RF/KNN/XGBoost")
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

    p = sub.add_parser("scale", help="scaling study: time, speed-up, efficiency per backend x workers")
    p.add_argument("--stage", default="extract", help="stage to time (extract, train, tune, images, cnn)")
    p.add_argument(
        "--backends", type=_csv_list, default=["all"], help="comma-separated backends/modes, or all"
    )
    p.add_argument(
        "--workers", type=_int_list, default=[1, 2, 4], help="comma-separated worker counts (default 1,2,4)"
    )
    p.add_argument(
        "--repeat", type=_positive_int, default=3, help="timed runs per combination; the median is reported"
    )
    p.add_argument("--weak", action="store_true", help="weak scaling: the work grows with the workers")
    _add_data_args(p)
    p.set_defaults(per_genre=2, seconds=6.0)
    p.add_argument("--extractor", default="reference")
    p.add_argument("--preset", default=None, help="model preset for train/tune/cnn stages")
    p.add_argument("--epochs", type=_positive_int, default=None, help="cnn stage: epochs")
    p.add_argument("--intra", type=_int_list, default=None, help="cnn stage: intra-op thread counts")
    p.add_argument("--inter", type=_int_list, default=None, help="cnn stage: inter-op thread counts")
    p.add_argument(
        "--image-size", type=_positive_int, default=None, help="cnn stage: image side in pixels (default 64)"
    )
    p.add_argument("--scheduler", help="dask: address of an existing scheduler")
    p.add_argument("--out", type=Path, default=Path("out/scale"), help="folder for CSV, JSON and PNG plots")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_scale)

    import importlib

    for mod in PLUGIN_COMMANDS:
        try:
            importlib.import_module(mod).register(sub)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    return parser


#: exit codes of :func:`main` (README: exit codes)
EXIT_OK = 0
EXIT_STRICT = 1  # --strict and a failed file; also the exit code of a bug's traceback
EXIT_USAGE = 2
EXIT_BACKEND = 3
EXIT_WRITE = 4


def main(argv=None) -> int:
    """Entry point of the ``genre-hpc`` console script.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code, each failure reported in one line ``genre-hpc COMMAND: error: ...`` on
        stderr (with ``--debug`` after its traceback):

        - 0: the command finished (files that failed are listed, not fatal);
        - 1: ``--strict`` and a failed file;
        - 2: a usage or dataset error: a :class:`UsageError` from the command's checks of its
          arguments (an unknown name, a backend whose extra is missing), a
          :class:`~genre_hpc.dataset.DatasetError` (the data folder is missing, has no genre
          folders or no audio), argparse's own errors (with the usage);
        - 3: the backend failed: a :class:`~genre_hpc.backends.BackendError` (workers that do
          not start or keep dying, an item past its timeout, an unreachable or too small
          cluster, a missing extra found at run time);
        - 4: an output or cache file could not be written (:class:`~genre_hpc.files.WriteFailed`:
          a full disk names the file; the previous file is intact);
        - 130 / 143: stopped by SIGINT (Ctrl-C) / SIGTERM: the workers were stopped, nothing is
          half-written, and the feature cache keeps the finished tracks.

    Raises
    ------
    Exception
        Anything else is a bug or a failure of the environment, not an expected failure: it
        propagates, so the console script prints the traceback and exits 1.
    """
    from .dataset import DatasetError
    from .interrupts import interrupt_signal, signal_name, stop_on_signals

    parser = build_parser()
    args = parser.parse_args(argv)

    def fail(exc: BaseException, message: str, code: int) -> int:
        if args.debug:
            import traceback

            traceback.print_exception(exc)
        _say(f"genre-hpc {args.command}: {message}")
        return code

    try:
        with stop_on_signals():
            try:
                return int(args.func(args) or 0)
            except (UsageError, DatasetError) as exc:
                return fail(exc, f"error: {exc}", EXIT_USAGE)
            except Exception as exc:
                from .backends import BackendError
                from .files import WriteFailed

                if isinstance(exc, BackendError):
                    return fail(exc, f"error: {_one_line(exc)}", EXIT_BACKEND)
                if isinstance(exc, WriteFailed):
                    return fail(exc, f"error: {exc}", EXIT_WRITE)
                raise
    except BaseException as exc:
        signum = interrupt_signal(exc)
        if signum is None:
            raise
        from .interrupts import exit_code

        resume = ""
        if args.command in ("extract", "run") and not getattr(args, "no_cache", False):
            from .files import default_cache_dir

            resume = (
                f"; the finished tracks are in the feature cache ({default_cache_dir()}): rerun to resume"
            )
        return fail(
            exc,
            f"stopped by {signal_name(signum)}: the workers were stopped, no file is half-written{resume}",
            exit_code(signum),
        )


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (ipyparallel's and Dask's span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
