"""The ``genre-hpc`` command: parse, call the library, print.

Sub-commands: ``synth``, ``extract``, ``train``, ``run``, ``scale``, ``compare-machines``,
``bench-compare``, ``bench-backfill``, ``bench-publish``. With ``--json`` the last thing on stdout is one JSON
object; human-readable output and progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

#: modules that add their own sub-command through ``register(subparsers)``
PLUGIN_COMMANDS = (
    "genre_hpc.benchcompare",
    "genre_hpc.backfill",
    "genre_hpc.dashboard",
)


class UsageError(Exception):
    """A mistake on the command line that the user can fix; :func:`main` reports it in one line, exit 2.

    Raised by the commands' checks of their arguments, before any work: an unknown backend,
    stage, model, extractor or preset name, a backend that cannot run here (its extra is not
    installed, or a worker count it does not take), a cluster option for another backend, a
    ``--table`` that is missing or not a feature table, an ``--out`` that is a file, a
    ``scale`` cell no stage axis can take, a missing asv or a wrong results folder for
    ``compare-machines``. Plugin commands (``PLUGIN_COMMANDS``) raise it for theirs.
    """


#: the extractor of ``extract``, ``run`` and ``scale`` unless ``--extractor`` says otherwise
DEFAULT_EXTRACTOR = "fast"
#: the synthetic work of ``scale`` unless ``--data``/``--per-genre``/``--seconds`` say otherwise
SCALE_PER_GENRE, SCALE_SECONDS = 2, 6.0
#: stages whose default work needs more tracks per genre: the grid search's 3 folds need every
#: genre's training tracks in each (2 per genre leave 1 after the hold-out)
SCALE_PER_GENRE_OF = {"tune": 5}


def _csv_list(text: str) -> list[str]:
    """Comma-separated names, each once (in the order given)."""
    return list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


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
        vals = list(dict.fromkeys(int(t) for t in _csv_list(text)))
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
    p,
    data_help="GTZAN-layout folder <root>/<genre>/<file> (default: the embedded synthetic dataset)",
    *,
    per_genre: int = 10,
    seconds: float = 30.0,
    per_genre_default: str | None = None,
):
    p.add_argument("--data", type=Path, help=data_help)
    p.add_argument(
        "--per-genre",
        type=_positive_int,
        default=per_genre if per_genre_default is None else None,
        help=f"synthetic default dataset: tracks per genre (default {per_genre_default or per_genre})",
    )
    p.add_argument(
        "--seconds",
        type=_positive_float,
        default=seconds,
        help=f"synthetic default dataset: seconds per track (default {seconds:g})",
    )
    p.add_argument(
        "--seed", type=_non_negative_int, default=0, help="synthetic default dataset: seed (default 0)"
    )


def _add_extract_args(p):
    from .backends import backend_names
    from .features import EXTRACTORS

    p.add_argument(
        "--extractor",
        default=DEFAULT_EXTRACTOR,
        choices=sorted(EXTRACTORS),
        help=f"feature extractor (default {DEFAULT_EXTRACTOR}: the reference's numbers within 1e-4, "
        "about 30x sooner; reference: the study's librosa calls)",
    )
    p.add_argument(
        "--backend",
        default=None,
        help=f"parallel backend: {', '.join(backend_names())} (docs/backends.md; default serial, or "
        "dask-distributed with --scheduler/--cluster, ipyparallel with --profile/--cluster-id)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="worker processes/threads (default 1); on an existing cluster: exactly this many of its workers",
    )
    _add_cluster_args(p)
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


def _threads_per_worker(text: str):
    if text.strip().lower() == "any":
        return "any"
    return _positive_int(text)


def _add_cluster_args(p, *, scale: bool = False):
    """The options that point the work at a cluster (extract, run, scale)."""
    from .sendfiles import SEND_FILES

    p.add_argument(
        "--scheduler", help="dask-distributed: address of an existing scheduler, e.g. tcp://host:8786"
    )
    p.add_argument(
        "--cluster",
        type=Path,
        metavar="FILE.yaml",
        help="dask: a cluster file (class: distributed.LocalCluster | distributed.SSHCluster | "
        "dask_jobqueue.SLURMCluster ..., options: {...}) deployed, scaled to "
        + ("each worker count in turn" if scale else "--workers")
        + " and closed at the end (docs/clusters.md)",
    )
    p.add_argument("--profile", help="ipyparallel: profile of an existing cluster")
    p.add_argument("--cluster-id", help="ipyparallel: cluster id of an existing cluster")
    p.add_argument(
        "--threads-per-worker",
        type=_threads_per_worker,
        default=None,
        metavar="N|any",
        help="dask-distributed: threads every worker must have (default 1: one task slot per worker); "
        "'any' accepts what the cluster has (recorded)",
    )
    p.add_argument(
        "--arrival-timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="an existing cluster with fewer workers than asked fails once none has joined for this long "
        "(default 10)",
    )
    p.add_argument(
        "--send-files",
        choices=SEND_FILES,
        default="path",
        help="how workers get the audio: path (they open it: a shared filesystem; a track a worker "
        "cannot open fails, saying so), bytes (sent with each task), auto (bytes for the tracks a "
        "worker could not open) (default path)",
    )


def _dataset_root(args) -> Path:
    if args.data is not None:
        from .dataset import folder_notes

        for note in folder_notes(args.data):
            _say(f"note: {note}")
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
    "cluster": ("dask-distributed",),
    "threads_per_worker": ("dask-distributed",),
    "profile": ("ipyparallel",),
    "cluster_id": ("ipyparallel",),
    "arrival_timeout": ("dask-distributed", "ipyparallel"),
}


def _cluster_values(args) -> dict:
    """The cluster options given on the command line, as backend options (``--threads-per-worker
    any`` is None: any count)."""
    opts = {}
    for name in _CLUSTER_OPTIONS:
        value = getattr(args, name, None)
        if value is None:
            continue
        if name == "threads_per_worker":
            value = None if value == "any" else int(value)
        elif name == "cluster":
            value = _cluster_spec(value)
        opts[name] = value
    if "scheduler" in opts and "cluster" in opts:
        raise UsageError("give either --scheduler or --cluster, not both")
    return opts


def _cluster_spec(path):
    """The cluster file, read and checked before any work (UsageError naming the file)."""
    from .deploy import ClusterFileError, ClusterSpec

    try:
        spec = ClusterSpec.load(path)
        spec.resolve()
        spec.kwargs()  # the options' own checks (LocalCluster's processes)
    except ClusterFileError as exc:
        raise UsageError(str(exc)) from None
    return spec


def _backend_options(args) -> dict:
    """The cluster and worker options given on the command line, checked against the backend."""
    from .backends import backend_names, get_backend_class

    opts = _cluster_values(args)
    for name in opts:
        backends = _CLUSTER_OPTIONS[name]
        if args.backend not in backends:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} applies to the {' / '.join(backends)} backend, not {args.backend!r}")
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


def _default_backend(args) -> str:
    """``--backend`` when not given: the backend the cluster options point at, else serial."""
    given = [
        n
        for n in _CLUSTER_OPTIONS
        if getattr(args, n, None) is not None and n not in ("threads_per_worker", "arrival_timeout")
    ]
    for name in given:
        return _CLUSTER_OPTIONS[name][0]
    return "serial"


def _check_backend(args) -> None:
    """UsageError unless ``--backend`` names a backend that can run ``--workers`` here."""
    from .backends import backend_names, unavailable_reason

    if args.backend is None:
        args.backend = _default_backend(args)
    _check_name("backend", args.backend, backend_names())
    reason = unavailable_reason(args.backend, args.workers)
    if reason:
        raise UsageError(f"backend {args.backend!r} with {args.workers} worker(s): {reason}")


def _check_models(names) -> None:
    from .models import MODEL_NAMES

    for name in names:
        _check_name("model", name, MODEL_NAMES)


def _extract(args, root=None):
    from .extract import extract_features, warm_up

    _check_backend(args)
    opts = _backend_options(args)
    if args.backend != "serial":
        opts["warmup"] = warm_up(args.extractor)
    from .deploy import ClusterFileError

    # a cluster too small for --workers (or with other threads per worker) is a ClusterShapeError,
    # a BackendError: exit 3 with one line, as an unreachable cluster (README: exit codes)
    try:
        return extract_features(
            root if root is not None else _dataset_root(args),
            extractor=args.extractor,
            backend=args.backend,
            workers=args.workers,
            backend_options=opts,
            cache=not args.no_cache,
            strict=False,
            progress=False if args.no_progress else None,
            send_files=args.send_files,
        )
    except ClusterFileError as exc:  # options the deployment class rejects: as in scale, exit 2
        raise UsageError(str(exc)) from None


def _report_failures(res) -> None:
    if res.failures:
        _say(f"{len(res.failures)} of {res.n_tracks} track(s) failed:")
        for f in res.failures:
            _say(f"  {f.path}: {f.reason}")
    errors = getattr(res, "cache_errors", None)
    if errors:
        _say(f"warning: {len(errors)} track(s) not cached (their rows are in the table): {errors[0]}")


def _check_some_features(res, args, json_doc: dict) -> None:
    """Every track failed: a DatasetError (exit 2) before any table is written, so that an
    empty table never replaces a good one and a script sees the run fail; with ``--json`` the
    command's JSON (``json_doc``, ``"out": null``) is printed first, failures listed."""
    from .dataset import DatasetError

    if res.table.empty:
        if args.json:
            _emit_json({**json_doc, "out": None})
        raise DatasetError(
            f"no track produced features ({len(res.failures)} of {res.n_tracks} failed, listed above): "
            "no table written"
        )


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


def _check_table_out(out: Path | None) -> None:
    """A table's file name says its format (``write_table``/``read_table``), and its folder must
    take it: checked before the work, so that no extraction ends in a file that reads back as
    something else, or in a write that fails."""
    if out is None:
        return
    from .extract import TABLE_SUFFIXES

    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise UsageError(f"--out {out}: name the table .parquet (or .pq, or .csv): its suffix is its format")
    try:
        why = _unwritable(out)
    except OSError as exc:  # a folder above it that cannot be searched
        why = f"cannot look at {exc.filename or out}: {exc.strerror or exc}"
    if why:
        raise UsageError(f"--out {out}: {why}")


def _unwritable(out: Path) -> str | None:
    """Why a file cannot be written at ``out`` (a symbolic link: at its target), or None."""
    if out.is_dir():
        return "is a folder, not a file"
    target = Path(os.path.realpath(out)) if out.is_symlink() else out
    for d in target.parents:  # the nearest folder above that is there: the one the write makes folders in
        if d.is_symlink() and not d.exists():
            return f"{d} is a broken link (to {os.readlink(d)})"
        if d.exists():
            break
    else:
        d = Path(".")
    if not d.is_dir():
        return f"{d} is a file, not a folder"
    if target is not out and d != target.parent:
        return f"it links to {target}, whose folder {target.parent} does not exist"
    if not os.access(d, os.W_OK | os.X_OK):
        read_only = bool(getattr(os, "statvfs", None) and os.statvfs(d).f_flag & getattr(os, "ST_RDONLY", 1))
        return f"cannot write in {d} ({'read-only file system' if read_only else 'permission denied'})"
    return None


def cmd_extract(args) -> int:
    from .extract import write_tables

    _check_table_out(args.out)
    res = _extract(args)
    _report_failures(res)
    _check_some_features(res, args, _extract_json(res, None))
    out = args.out
    written = write_tables(res.table, out, csv=args.csv)
    _say(_extraction_line(res))
    _say(f"wrote {' and '.join(map(str, written))}")
    if res.cluster:
        from .report import cluster_text

        _say(f"cluster: {cluster_text(res.cluster)} ({res.cluster.get('deployment')})")
    if args.json:
        _emit_json(_extract_json(res, out))
    return 1 if (args.strict and res.failures) else 0


def _extract_json(res, out) -> dict:
    """``extract --json``'s document (``out`` None: no table was written)."""
    return {
        "extraction": res.summary(),
        "out": str(out) if out is not None else None,
        "failures": [f.to_dict() for f in res.failures],
        "cluster": res.cluster,
    }


def _models_table(results) -> str:
    """The models' accuracies with their intervals (``0.83 [0.67, 0.93]``; CV: ``0.83 ± 0.04 [...]``)."""
    from .report import format_table
    from .uncertainty import format_accuracy

    rows, cv = [], False
    for r in results:
        d = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        cv = cv or d.get("folds", 1) > 1
        rows.append(
            {
                "name": d["name"],
                "chunk": format_accuracy(
                    d["chunk_accuracy"], d.get("chunk_accuracy_ci"), d.get("chunk_accuracy_std")
                ),
                "track": format_accuracy(
                    d["track_accuracy"], d.get("track_accuracy_ci"), d.get("track_accuracy_std")
                ),
                "tracks": d.get("test_tracks"),
                "fit_s": d["fit_s"],
                "predict_s": d["predict_s"],
            }
        )
    acc = "mean ± std [95 % CI]" if cv else "[95 % CI]"
    return format_table(
        rows,
        ["name", "chunk", "track", "tracks", "fit_s", "predict_s"],
        ["model", f"chunk acc {acc}", f"track acc {acc}", "test tracks", "fit s", "predict s"],
    )


def _read_feature_table(path: Path):
    """The feature table at ``path``, or a UsageError naming the file and the reason."""
    from .extract import TableError, read_feature_table

    try:
        return read_feature_table(path)
    except (OSError, TableError) as exc:
        raise UsageError(f"--table {exc}") from None


def _protocol_options(args) -> dict:
    return {
        "split": args.split,
        "split_file": args.split_file,
        "groups": args.groups,
        "cv": args.cv,
    }


def _check_protocol(args, track_ids, genres) -> None:
    """Resolve the protocol on the tracks before any long work, so a bad split fails at once."""
    from .splits import SplitError, plan_tracks

    opts = _protocol_options(args)
    if opts["split_file"] is not None and opts["split"] not in ("track", None):
        raise SplitError(f"give either --split {opts['split']} or --split-file, not both")
    if opts["split"] == "chunk":
        if opts["split_file"] is not None or opts["groups"] is not None:
            raise SplitError("--split chunk ignores tracks and groups: use it without --groups/--split-file")
        if getattr(args, "cnn", False):
            raise SplitError("--cnn needs a track-level protocol: the CNN cannot use --split chunk")
        return
    if getattr(args, "cnn", False) and opts["cv"]:
        raise SplitError("--cnn trains one network on one split: use it without --cv")
    plan_tracks(track_ids, genres, **opts)


def _protocol_header(args, evaluation) -> str:
    proto = evaluation.protocol
    if args.split_file is not None:
        name = f"split file {args.split_file}"
    elif args.split not in ("track", "chunk"):
        name = f"{args.split} split"
    else:
        name = f"{args.split} split"
        info = proto.info
        if not args.cv and "test_tracks" in info and args.split == "track":  # what was held out
            n = info["test_tracks"] + info["train_tracks"] + info.get("valid_tracks_apart", 0)
            name += f" (test {info['test_tracks']} of {n} tracks, {100 * info['test_tracks'] / n:.0f} %)"
        elif not args.cv and args.split == "chunk":
            name += " (test 30 % of the chunks)"
    if args.groups is not None and args.split != "chunk":
        name += f", grouped by {args.groups}"
    if args.cv:
        name += f", {args.cv}-fold cross-validation"
    lines = [f"{name}, preset {args.preset}:"]
    lines += [f"  {n}" for n in proto.notes]
    return "\n".join(lines)


def _intervals_json() -> dict:
    from .uncertainty import CONFIDENCE, N_BOOTSTRAP, SEED

    return {
        "confidence": CONFIDENCE,
        "method": "percentile bootstrap over test tracks (tracks resampled, not chunks; "
        "within folds with --cv)",
        "resamples": N_BOOTSTRAP,
        "seed": SEED,
    }


def _protocol_json(evaluation) -> dict:
    from .report import to_jsonable

    return to_jsonable({**evaluation.protocol.info, "notes": list(evaluation.protocol.notes)})


def _usage_error(args, exc) -> int:
    _say(f"genre-hpc {args.command}: error: {exc}")
    return 2


def cmd_train(args) -> int:
    from .models import evaluate_models
    from .splits import SplitError
    from .uncertainty import describe

    _check_models(args.models)
    table = _read_feature_table(args.table)
    try:
        ids = table.drop_duplicates("track_id")
        _check_protocol(args, ids["track_id"].tolist(), ids["genre"].tolist())
        evaluation = evaluate_models(
            table,
            models=args.models,
            preset=args.preset,
            n_jobs=args.n_jobs,
            progress=False,
            **_protocol_options(args),
        )
    except SplitError as exc:
        return _usage_error(args, exc)
    results = evaluation.results
    _say(f"{len(table)} chunks, " + _protocol_header(args, evaluation))
    _say(_models_table(results))
    _say(describe(min(r.test_tracks for r in results)))
    if args.verbose:
        for r in results:
            _say(f"\n== {r.name}\n{r.report}\nconfusion:\n{r.confusion}")
    if args.json:
        _emit_json(
            {
                "models": [r.to_dict() for r in results],
                "split": args.split,
                "preset": args.preset,
                "protocol": _protocol_json(evaluation),
                "intervals": _intervals_json(),
            }
        )
    return 0


def _run_cnn(args, evaluation, tracks) -> dict:
    """The CNN on the feature models' split (one fold): a row of the models table, as a dict."""
    from .cnn import train_cnn_on_split
    from .models import ModelResult

    fold = evaluation.protocol.folds[0]
    _say(
        f"cnn: images of {len(fold.train) + len(fold.test)} tracks, the {args.cnn_preset} network "
        f"trained on the same {len(fold.train)} training tracks, scored on the same "
        f"{len(fold.test)} test tracks"
    )
    res, failures = train_cnn_on_split(
        tracks,
        fold.train,
        fold.test,
        preset=args.cnn_preset,
        epochs=args.cnn_epochs,
        backend=args.backend,
        workers=args.workers,
        threads=args.workers,
        progress=False if args.no_progress else None,
    )
    for f in failures:
        _say(f"  cnn: no image of {f.path}: {f.reason}")
    row = ModelResult(
        name="cnn",
        chunk_accuracy=res.chunk_accuracy,
        track_accuracy=res.accuracy,
        fit_s=res.train_s,
        predict_s=res.predict_s,
        chunk_accuracy_ci=res.chunk_accuracy_ci,
        track_accuracy_ci=res.accuracy_ci,
        test_tracks=len(res.val_tracks),
    ).to_dict()
    row.update(
        {
            "kind": "cnn",
            "preset": res.preset,
            "epochs": res.epochs,
            "image_size": res.image_size,
            "startup_s": round(res.startup_s, 4),
            "train_tracks": res.n_train_tracks,
            "image_failures": len(failures),
        }
    )
    return row


def cmd_run(args) -> int:
    from .dataset import discover
    from .models import evaluate_models
    from .splits import SplitError
    from .uncertainty import describe

    _check_models(args.models)
    _check_backend(args)  # before the dataset is made or read
    _check_table_out(args.out)
    if args.cnn:
        from .extras import unavailable_reason

        why = unavailable_reason(["tf"])
        if why:
            return _usage_error(args, f"--cnn trains the TensorFlow CNN, but {why}")
    root = _dataset_root(args)
    tracks = discover(root)
    try:
        _check_protocol(args, [t.track_id for t in tracks], [t.genre for t in tracks])
    except SplitError as exc:
        return _usage_error(args, exc)
    res = _extract(args, root)
    _report_failures(res)
    _check_some_features(
        res,
        args,
        {"models": [], "extraction": res.summary(), "failures": [f.to_dict() for f in res.failures]},
    )
    if args.out:  # the good tracks' table, --strict or not (as extract writes it)
        from .extract import write_table

        write_table(res.table, args.out)
        _say(f"wrote {args.out}")
    if args.strict and res.failures:
        _say("--strict: stopping because of the failures above")
        if args.json:
            _emit_json(
                {"models": [], "extraction": res.summary(), "failures": [f.to_dict() for f in res.failures]}
            )
        return 1
    try:
        evaluation = evaluate_models(
            res.table,
            models=args.models,
            preset=args.preset,
            progress=False if args.no_progress else None,
            **_protocol_options(args),
        )
    except SplitError as exc:
        return _usage_error(args, exc)
    models = [r.to_dict() for r in evaluation.results]
    if args.cnn:
        models.append(_run_cnn(args, evaluation, tracks))
    _say(_extraction_line(res))
    _say("\n" + _protocol_header(args, evaluation))
    _say(_models_table(models))
    _say(describe(min(m["test_tracks"] for m in models)))
    if args.json:
        s = res.summary()
        _emit_json(
            {
                "models": models,
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
                "out": str(args.out) if args.out else None,
                "split": args.split,
                "preset": args.preset,
                "protocol": _protocol_json(evaluation),
                "intervals": _intervals_json(),
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


#: ``scale``'s worker counts when neither --workers nor the stage's own name of that axis is given
SCALE_WORKERS = (1, 2, 4)


def _scale_workers(args, stage, given: dict) -> list[int] | None:
    """``--workers``, or :data:`SCALE_WORKERS` unless the stage's workers axis was given by its own
    name (train's ``--threads``): a default must not count as giving the axis twice."""
    if args.workers is not None:
        return list(args.workers)
    if stage.space.workers is not None and given.get(stage.space.workers) is not None:
        return None
    return list(SCALE_WORKERS)


def cmd_scale(args) -> int:
    from .report import flat_cluster, plot_scaling, scaling_table, write_csv, write_json
    from .scaling import run_study
    from .stages import get_stage

    _check_scale_args(args)
    # found now, not after the whole study: the folder, or a folder above it, is a file
    taken = next((d for d in (args.out, *args.out.parents) if d.exists() and not d.is_dir()), None)
    if taken is not None:
        raise UsageError(f"--out {args.out}: {taken} is a file, not a folder")
    stage = get_stage(args.stage)
    run_options = _scale_run_options(args, stage)
    backends = args.backends if args.backends is not None else _scale_default_backends(run_options, stage)
    _check_cluster_cells(run_options, stage, backends)
    given = {name: getattr(args, f"axis_{name}") for name in _axis_options()}
    try:  # before the (possibly long) preparation of the work
        cells = stage.grid(
            backends, _scale_workers(args, stage, given), **{k: v for k, v in given.items() if v is not None}
        )
    except ValueError as exc:  # an axis the stage does not have, a value it cannot take
        raise UsageError(str(exc)) from None
    if args.data is not None and args.data.is_dir():  # a dataset folder (not a table): as extract says
        from .dataset import folder_notes

        for note in folder_notes(args.data):
            _say(f"note: {note}")
    options = {
        k: v
        for k, v in {
            "data": args.data,
            "per_genre": args.per_genre
            if args.per_genre is not None
            else SCALE_PER_GENRE_OF.get(stage.name, SCALE_PER_GENRE),
            "seconds": args.seconds,
            "seed": args.seed,
            "extractor": args.extractor,
            "preset": args.preset,
            "epochs": args.epochs,
            "image_size": args.image_size,
            "split": args.split,
            "split_file": args.split_file,
            "groups": args.groups,
        }.items()
        if v is not None
    }
    if args.trace:
        if not stage.traces():
            raise UsageError(f"--trace: stage {stage.name!r} maps no items to trace (extract and images do)")
        run_options["trace"] = True
    axes = ", ".join(
        f"{n} {','.join(map(str, dict.fromkeys(c[n] for c in cells)))}" for n in stage.space.names
    )
    _say(
        f"scale: stage {stage.name}, {len(cells)} cells ({axes}), repeat {args.repeat}, "
        f"{'weak' if args.weak else 'strong'} scaling"
    )
    work = stage.prepare(**options)
    for line in work.get("protocol_notes", []) if isinstance(work, dict) else []:
        _say(f"  {line}")
    stage.check_work(work, cells)
    traces: list = []
    with _deployed(run_options, args) as run_options:
        runnable = [c for c in cells if not stage.skip(c, **run_options)]
        prestart_s = stage.prestart(work, runnable)
        if prestart_s:
            _say(f"forkserver started and warmed in {prestart_s:.2f} s (once per process, apart)")
        rows = run_study(
            stage,
            work,
            cells=cells,
            repeat=args.repeat,
            weak=args.weak,
            options=run_options,
            progress=False if args.no_progress else None,
            traces=traces if args.trace else None,
            interleave=args.interleave,
        )
    _say(scaling_table(rows))
    result: dict = {"rows": rows, "prestart_s": prestart_s}
    if args.project:
        from .projection import project
        from .report import plot_projection, projection_table

        result["projection"] = projection = project(rows, bandwidth=args.bandwidth * 1e9 / 8)
        _say("\n" + projection_table(projection))
    if args.out:
        out = Path(args.out)
        write_csv(flat_cluster(rows), out / f"{stage.name}-scaling.csv")
        write_json(result, out / f"{stage.name}-scaling.json")
        pngs = plot_scaling(rows, out, xlabel=stage.space.workers or "threads (the largest pool)")
        _say(f"wrote {out}/{stage.name}-scaling.csv, .json and {len(pngs)} plots")
        if args.project:
            write_csv(projection["rows"], out / f"{stage.name}-projection.csv")
            png = plot_projection(projection, out, stage.name)
            _say(f"wrote {out}/{stage.name}-projection.csv" + (f" and {png.name} (a model)" if png else ""))
        if args.trace:
            _write_traces(stage.name, traces, out)
    if args.json:
        _emit_json(result)
    return 0


#: the Dask cells of each stage: what --scheduler/--cluster measure when --backends is not given
_DASK_CELLS = {
    "extract": "dask-distributed",
    "images": "dask-distributed",
    "train": "xgboost-dask",
    "tune": "joblib-dask",
}


def _cluster_cells(stage_name: str):
    """``(options, flags, kind, cell)`` of each family of cluster options: the stage's cell they
    apply to (None when the stage has none)."""
    return (
        (("scheduler", "cluster"), "--scheduler/--cluster", "Dask", _DASK_CELLS.get(stage_name)),
        (
            ("profile", "cluster_id"),
            "--profile/--cluster-id",
            "ipyparallel",
            "ipyparallel" if stage_name in ("extract", "images") else None,
        ),
    )


def _scale_run_options(args, stage) -> dict:
    """The run options of a study (cluster options, how the audio is sent), checked against the
    stage before any work."""
    opts = _cluster_values(args)
    for keys, flags, kind, cell in _cluster_cells(stage.name):
        if cell is None and any(k in opts for k in keys):
            raise UsageError(f"{flags}: stage {stage.name!r} has no {kind} cells")
    if args.project:
        if stage.name not in ("extract", "images"):
            raise UsageError(
                f"--project models one task per track: stages extract and images, not {stage.name!r}"
            )
        if args.weak:
            raise UsageError("--project fits strong-scaling rows: use it without --weak")
    if args.send_files != "path":
        if stage.name not in ("extract", "images"):
            raise UsageError(f"--send-files applies to the stages extract and images, not {stage.name!r}")
        opts["send_files"] = args.send_files
    return opts


def _check_cluster_cells(run_options: dict, stage, backends) -> None:
    """A cluster option with ``--backends`` that name no cell it applies to would be ignored."""
    if "all" in backends:
        return
    for keys, flags, _, cell in _cluster_cells(stage.name):
        if any(k in run_options for k in keys) and cell not in backends:
            raise UsageError(
                f"{flags} apply to the {cell} cells, and --backends {','.join(backends)} has none: "
                f"add {cell}, or leave the option out"
            )


def _scale_default_backends(run_options: dict, stage) -> list[str]:
    """``--backends`` when not given: the cells the cluster options point at, else all."""
    for keys, _, _, cell in _cluster_cells(stage.name):
        if any(k in run_options for k in keys):
            return [cell]
    return ["all"]


@contextlib.contextmanager
def _deployed(run_options: dict, args):
    """Deploy the cluster file for the whole study (scaled per cell by the backend, closed at the
    end); yields the run options with the deployment in place of the file."""
    spec = run_options.get("cluster")
    if spec is None:
        yield run_options
        return
    from .deploy import ClusterFileError, Deployment

    try:
        dep = Deployment(spec).start()
    except ClusterFileError as exc:
        raise UsageError(str(exc)) from None
    _say(f"cluster: {dep.name} deployed in {dep.startup_s:.1f} s at {dep.address}")
    try:
        yield {**run_options, "cluster": dep}
    except ClusterFileError as exc:  # a cell's scaling found that the workers cannot start
        raise UsageError(str(exc)) from None
    finally:
        dep.close()


def _write_traces(stage_name: str, traces: list, out: Path) -> None:
    """The traced runs of a study: JSON, CSV, the task-stream picture, Dask's diagnostics."""
    from .trace import resources_png, task_stream_png, write_trace

    if not traces:
        _say("--trace: no run was traced")
        return
    files = write_trace(traces, out, stage_name)
    files.append(
        task_stream_png(traces, out / f"{stage_name}-trace.png", title=f"{stage_name}: items per worker")
    )
    res = resources_png(
        traces, out / f"{stage_name}-resources.png", title=f"{stage_name}: Dask ResourceProfiler"
    )
    if res is not None:
        files.append(res)
    for note in sorted({t["note"] for t in traces if t.get("note")}):
        _say(f"--trace: {note}")
    _say("wrote " + ", ".join(str(f) for f in files))


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
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output table: .parquet (or .pq, or .csv): its suffix is its format",
    )
    p.add_argument("--csv", action="store_true", help="also write a CSV next to the output")
    _add_extract_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_extract)

    def add_model_args(p):
        from .splits import BUILTIN_SPLITS

        p.add_argument(
            "--split",
            choices=("track", "chunk", *BUILTIN_SPLITS),
            default="track",
            help="track: no track on both sides (default); chunk: the study's leaky random split; "
            "gtzan-filtered: the packaged fault-filtered, artist-conditional GTZAN lists "
            "(Kereliuk, Sturm and Larsen 2015; needs GTZAN file names)",
        )
        p.add_argument(
            "--split-file",
            type=Path,
            metavar="DIR",
            help="folder of split lists: files whose names start with train, test (and optionally valid), "
            "one dataset-relative path per line (blues/blues.00012.wav); tracks in no list are left "
            "out; a valid list is merged into train (nothing is tuned here)",
        )
        p.add_argument(
            "--groups",
            type=Path,
            metavar="FILE.csv",
            help="CSV track id or path -> group (e.g. artist), with a header (track_id/path, group/artist): "
            "the track split and the folds keep each group on one side",
        )
        p.add_argument(
            "--cv",
            type=int,
            metavar="K",
            help="K-fold cross-validation, stratified by genre and grouped by track (or --groups): "
            "accuracies are mean ± std over the folds",
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
    p.add_argument(
        "--cnn",
        action="store_true",
        help="also train the CNN on images of the same tracks, on the same train/test split, in a "
        "child process (needs genre-hpc[tf]); its row joins the table",
    )
    p.add_argument(
        "--cnn-preset", choices=("quick", "seed"), default="quick", help="CNN network (default quick)"
    )
    p.add_argument("--cnn-epochs", type=int, default=None, help="CNN epochs (default: the preset's, quick 5)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "scale",
        help="scaling study: time, speed-up, efficiency per cell (backend x workers, mode x threads, ...)",
        description="Scaling study: every cell of a stage's parameter space, --repeat times, against the "
        "stage's baseline on the same work; speed-up, efficiency and Karp-Flatt serial fraction with 95% "
        f"bootstrap intervals (docs/scaling.md). Without --data the work is the synthetic dataset, "
        f"{SCALE_PER_GENRE} tracks per genre x {SCALE_SECONDS:g} s (the tune stage: "
        f"{SCALE_PER_GENRE_OF['tune']} per genre): a quick look; for numbers that mean "
        "something give real-size work (e.g. --per-genre 10 --seconds 30, GTZAN's size, or --data).",
    )
    p.add_argument("--stage", default="extract", help="stage to time (extract, train, tune, images, cnn)")
    p.add_argument(
        "--backends",
        type=_csv_list,
        default=None,
        help="the stage's backend axis: comma-separated backends (extract, images, tune) or training modes "
        "(train), or all (default; with --scheduler/--cluster the stage's Dask cells: dask-distributed, "
        "xgboost-dask, joblib-dask; with --profile/--cluster-id: ipyparallel); cnn: tensorflow",
    )
    p.add_argument(
        "--workers",
        type=_int_list,
        default=None,
        help="the stage's workers axis: worker counts (train: threads, also --threads; cnn: OMP threads, "
        "and intra = inter = omp unless --intra/--inter are given) (default "
        + ",".join(map(str, SCALE_WORKERS))
        + ")",
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
        type=_positive_int,
        default=3,
        help="timed runs per cell and per baseline (default 3); the median is reported, with a 95%% "
        "interval from 2 runs",
    )
    p.add_argument(
        "--interleave",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="take the runs in rounds over the cells and baselines (default), so that a slow spell of "
        "the machine falls on all of them alike; --no-interleave: each cell's runs back to back",
    )
    p.add_argument("--weak", action="store_true", help="weak scaling: the work grows with the workers")
    _add_data_args(
        p,
        per_genre=SCALE_PER_GENRE,
        seconds=SCALE_SECONDS,
        per_genre_default=f"{SCALE_PER_GENRE}; "
        + ", ".join(f"stage {k}: {v}" for k, v in SCALE_PER_GENRE_OF.items()),
    )
    p.add_argument(
        "--extractor",
        default=DEFAULT_EXTRACTOR,
        help=f"extract stage: feature extractor (default {DEFAULT_EXTRACTOR}; reference: the study's)",
    )
    p.add_argument(
        "--trace",
        action="store_true",
        help="extract/images stages: record every item's worker, start and end per run; writes "
        "<stage>-trace.json/.csv and a task-stream picture <stage>-trace.png (and Dask's own "
        "diagnostics for the Dask backends) into --out",
    )
    p.add_argument("--preset", default=None, help="model preset for train/tune/cnn stages")
    p.add_argument("--epochs", type=_positive_int, default=None, help="cnn stage: epochs")
    p.add_argument(
        "--image-size", type=_positive_int, default=None, help="cnn stage: image side in pixels (default 64)"
    )
    p.add_argument(
        "--split", default=None, help="train/tune/cnn stages: track (default), chunk, gtzan-filtered"
    )
    p.add_argument(
        "--split-file",
        type=Path,
        metavar="DIR",
        help="train/tune/cnn stages: folder of train/test (valid) lists; the tune stage scores on valid",
    )
    p.add_argument(
        "--groups", type=Path, metavar="FILE.csv", help="train/tune/cnn stages: CSV track -> group"
    )
    _add_cluster_args(p, scale=True)
    p.add_argument(
        "--project",
        action="store_true",
        help="extract/images: also project the time of the full GTZAN (1000 tracks) and of a 100,000-track "
        "collection at 8..1024 workers from the measured terms (a MODEL, labelled so: docs/scaling.md)",
    )
    p.add_argument(
        "--bandwidth",
        type=_positive_float,
        default=1.0,
        metavar="GBIT/S",
        help="--project: the client's network link in Gbit/s (default 1)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("out/scale"),
        help="folder for CSV, JSON and PNG plots (default out/scale)",
    )
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
          folders or no audio), a cluster file that cannot be used (``--cluster``:
          :class:`~genre_hpc.deploy.ClusterFileError`), argparse's own errors (with the usage);
        - 3: the backend failed: a :class:`~genre_hpc.backends.BackendError` (workers that do
          not start or keep dying, an item past its timeout, an unreachable or too small
          cluster or one whose workers have another thread count:
          :class:`~genre_hpc.backends.ClusterShapeError`, a missing extra found at run time);
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
                f"; the tracks finished before it are in the feature cache ({default_cache_dir()}): "
                "a rerun resumes from them"
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
