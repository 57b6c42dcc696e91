"""``genre-hpc bench-backfill A..B``: record the asv results of past commits, as ``make bench`` does.

For every commit of the range (oldest first; ``git rev-list --first-parent``, as ``asv run
A..B``), unless ``results/<machine>/`` already holds a result of it: a temporary git worktree,
then ``asv run --python=same --set-commit-hash <sha> --machine <machine>`` with the worktree's
``genre_hpc`` (:mod:`genre_hpc.benchruns`) and one benchmark suite for every commit, as asv
itself runs a range: the suite of ``--suite`` (default ``HEAD``) is checked out over the
worktree's ``benchmarks/`` (``--suite own``: each commit's own). asv draws a commit's result only
when its benchmark's ``version`` (a hash of the benchmark's code) matches the suite's, so a
history recorded with the commits' own suites loses every point older than the last change to
a benchmark's code. At the default scale (like
``benchmarks/run_reference.sh``: ``GENRE_HPC_BENCH_SCALE=default``, no worker or data
override, the private cache ``.asv/cache``). Each commit's wall time is printed. The dashboard
then draws a line per benchmark and ``asv publish`` computes regressions over the range.

asv rewrites ``results/benchmarks.json`` (benchmark names, parameters, units) with the suite of
the commit it ran. Backfilling old commits after a newer one was recorded must not leave the old
suite's description there: the file is merged so that, for every benchmark, the description of
the newest commit that has it wins.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .benchruns import (
    DATA_ENV,
    WORKERS_ENV,
    BenchRunError,
    bench_env,
    check_import,
    commit_range,
    commit_time,
    config_dir_path,
    describe,
    ensure_machine,
    git,
    host_differences,
    load_config,
    other_host_message,
    require_asv,
    resolve_commit,
    run_suite,
    toplevel,
    worktree,
    write_run_config,
)
from .files import CACHE_ENV, atomic_write_text


def _say(*args):
    print(*args, file=sys.stderr, flush=True)


def recorded(results_dir, machine: str, sha: str, hash_length: int = 8) -> list[Path]:
    """The result files of ``sha`` in ``results_dir/machine`` (asv names them ``<hash>-<env>.json``)."""
    folder = Path(results_dir) / machine
    return sorted(folder.glob(f"{sha[:hash_length]}-*.json")) if folder.is_dir() else []


def newest_recorded_time(repo, results_dir, machine: str) -> int:
    """Commit time of the newest commit with results for ``machine`` (0 when none or unknown)."""
    from asv.results import iter_results_for_machine

    best = 0
    if not (Path(results_dir) / machine).is_dir():
        return 0
    for res in iter_results_for_machine(str(results_dir), machine):
        try:
            best = max(best, commit_time(repo, res.commit_hash))
        except BenchRunError:  # a commit this clone does not have
            continue
    return best


def merge_benchmarks(older: dict, newer: dict) -> dict:
    """``benchmarks.json`` of both suites: every benchmark of either, ``newer``'s description first."""
    merged = {k: v for k, v in older.items() if k != "version"}
    merged.update({k: v for k, v in newer.items() if k != "version"})
    version = newer.get("version", older.get("version"))
    if version is not None:
        merged["version"] = version
    return merged


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def backfill_env(worktree_path, repo, scale: str) -> dict:
    """The environment of a backfill run: the worktree first, the scale, no worker or data
    override, and the private cache ``<repo>/.asv/cache`` unless ``GENRE_HPC_CACHE`` is set."""
    env = bench_env(worktree_path, scale)
    for name in (WORKERS_ENV, DATA_ENV):
        env.pop(name, None)
    env.setdefault(CACHE_ENV, str(Path(repo) / ".asv" / "cache"))
    return env


#: ``--suite`` value that runs each commit's own benchmarks
OWN_SUITE = "own"


def use_suite(tree, suite_sha: str, benchmark_dir: str = "benchmarks") -> None:
    """Replace the worktree's ``benchmark_dir`` with its content at ``suite_sha``."""
    folder = Path(tree) / benchmark_dir
    shutil.rmtree(folder, ignore_errors=True)
    git(tree, "checkout", suite_sha, "--", benchmark_dir)


def backfill(
    spec: str,
    *,
    repo=".",
    suite: str = "HEAD",
    machine: str | None = None,
    results_dir=None,
    bench: Sequence[str] = (),
    scale: str = "default",
    force: bool = False,
    dry_run: bool = False,
    config=None,
    launch_method: str | None = None,
    allow_other_host: bool = False,
    log=_say,
) -> list[dict]:
    """Record the results of every commit of ``spec`` that has none yet.

    Parameters
    ----------
    spec : str
        ``A..B`` (the commits after A up to B, first-parent line) or one commit.
    suite : str
        The revision whose ``benchmarks/`` runs on every commit (default ``HEAD``, as asv runs a
        range with the current suite), or ``"own"``: each commit's own suite.
    machine : str, optional
        asv machine name (default: this host's, as ``make bench``); another name gets a copy of
        this host's description (as ``benchmarks/run_reference.sh``).
    results_dir : path, optional
        Default: the configuration's ``results_dir`` (``results/``).
    bench : sequence of str
        asv ``--bench`` regular expressions (default: the whole suite).
    scale : str
        ``GENRE_HPC_BENCH_SCALE`` (default ``default``: the scale of the committed results).
    force : bool
        Run commits that already have results too (asv replaces the benchmarks it runs).
    dry_run : bool
        Only say what would be run.
    allow_other_host : bool
        Record even when ``results_dir/machine/machine.json`` describes another host (another
        CPU, core count or architecture); by default that is refused
        (:func:`~genre_hpc.benchruns.host_differences`), since the results would not extend
        the recorded history.

    Returns
    -------
    list of dict
        One row per commit: ``commit``, ``subject``, ``action`` (``recorded``, ``skipped``,
        ``would run``), ``status`` (asv's exit status), ``seconds``.
    """
    require_asv()
    repo = toplevel(repo)
    config_path, conf = load_config(repo, config)
    results = (
        Path(results_dir).resolve()
        if results_dir is not None
        else config_dir_path(config_path, conf.get("results_dir", "results"))
    )
    hash_length = int(conf.get("hash_length", 8))
    commits = commit_range(repo, spec)
    if not allow_other_host:
        from asv.machine import Machine

        name = machine or Machine.get_unique_machine_name()  # the host's name, as ensure_machine
        differences = host_differences(results, name)
        if differences:
            raise BenchRunError(other_host_message(name, differences))
    suite_sha = None if suite == OWN_SUITE else resolve_commit(repo, suite)
    scratch = Path(tempfile.mkdtemp(prefix="genre-hpc-backfill-"))
    rows = []
    try:
        base_conf = write_run_config(conf, repo, repo, results, scratch, "machine")
        machine = ensure_machine(base_conf, backfill_env(repo, repo, scale), machine)
        todo = [c for c in commits if force or not recorded(results, machine, c, hash_length)]
        log(
            f"bench-backfill: {len(commits)} commit(s) in {spec}, {len(commits) - len(todo)} already "
            f"recorded for machine {machine} in {results}; scale {scale}; "
            + (
                "each commit's own benchmarks"
                if suite_sha is None
                else f"the benchmarks of {describe(repo, suite_sha)}"
            )
        )
        bench_json = results / "benchmarks.json"
        newest_time = newest_recorded_time(repo, results, machine)
        t_total = time.perf_counter()
        for i, sha in enumerate(commits, 1):
            line = describe(repo, sha)
            row = {"commit": sha, "subject": line.split(" ", 1)[-1], "status": None, "seconds": None}
            if sha not in todo:
                log(f"[{i}/{len(commits)}] {line}: already recorded, skipped")
                rows.append({**row, "action": "skipped"})
                continue
            if dry_run:
                log(f"[{i}/{len(commits)}] {line}: would run")
                rows.append({**row, "action": "would run"})
                continue
            before = _read_json(bench_json)
            t0 = time.perf_counter()
            with worktree(repo, sha, scratch) as tree:
                if suite_sha is not None:
                    use_suite(tree, suite_sha, conf.get("benchmark_dir", "benchmarks"))
                run_conf = write_run_config(conf, repo, tree, results, scratch, sha[:12])
                env = backfill_env(tree, repo, scale)
                check_import(tree, env)
                log(f"[{i}/{len(commits)}] {line}: asv run ...")
                status = run_suite(
                    run_conf,
                    sha,
                    machine,
                    env,
                    bench,
                    record_samples=True,  # as make bench: asv compare's Mann-Whitney test needs them
                    launch_method=launch_method,
                    stdout=sys.stderr,
                )
            seconds = time.perf_counter() - t0
            if status not in (0, 2):  # 2: a benchmark failed, the others were saved
                raise BenchRunError(f"asv run on {sha[:8]} failed (exit status {status}): see its log above")
            after = _read_json(bench_json)
            this_time = commit_time(repo, sha)
            if before and after:
                if this_time < newest_time:  # a newer commit's suite was there: it wins
                    merged = merge_benchmarks(older=after, newer=before)
                else:
                    merged = merge_benchmarks(older=before, newer=after)
                atomic_write_text(
                    bench_json, json.dumps(merged, indent=4, sort_keys=True)
                )  # as asv writes it
            newest_time = max(newest_time, this_time)
            log(
                f"[{i}/{len(commits)}] {line}: recorded in {seconds:.0f} s"
                + (" (some benchmarks failed: asv exit status 2)" if status else "")
            )
            rows.append({**row, "action": "recorded", "status": status, "seconds": round(seconds, 1)})
        ran = [r for r in rows if r["action"] == "recorded"]
        if ran:
            log(f"bench-backfill: {len(ran)} commit(s) recorded in {time.perf_counter() - t_total:.0f} s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


# --- the command -------------------------------------------------------------------------------


def cmd_bench_backfill(args) -> int:
    """The command; a :class:`~genre_hpc.benchruns.BenchRunError` (a request that cannot run, a
    git or asv step that failed) is reported in one line, exit 2."""
    from .benchruns import BenchRunError
    from .cli import UsageError

    try:
        return _cmd_bench_backfill(args)
    except BenchRunError as exc:
        raise UsageError(str(exc)) from None


def _cmd_bench_backfill(args) -> int:
    rows = backfill(
        args.range,
        suite=args.suite,
        machine=args.machine,
        results_dir=args.results_dir,
        bench=args.bench or (),
        scale=args.scale,
        force=args.force,
        dry_run=args.dry_run,
        config=args.config,
        launch_method=args.launch_method,
        allow_other_host=args.allow_other_host,
    )
    from .report import format_table

    table = [{**r, "commit": r["commit"][:8], "seconds": r["seconds"]} for r in rows]
    print(format_table(table, ["commit", "action", "seconds", "status", "subject"]), file=sys.stderr)
    if args.json:
        sys.stdout.write(json.dumps({"commits": rows}) + "\n")
        sys.stdout.flush()
    return 1 if any(r["status"] for r in rows) else 0


def register(subparsers) -> None:
    """Add ``bench-backfill`` to the ``genre-hpc`` command (see ``genre_hpc.cli.PLUGIN_COMMANDS``)."""
    p = subparsers.add_parser(
        "bench-backfill",
        help="record asv results of past commits (a worktree each, --python=same), skipping recorded ones",
        description="For every commit of RANGE without results on this machine: a temporary git worktree, "
        "then asv run --python=same --set-commit-hash with that commit's genre_hpc and the benchmarks of "
        "--suite (HEAD: one suite for the whole range, as asv runs a range), at the default scale, into "
        "the results folder (as make bench). Prints the time each commit took. Exit status 1 when a "
        "benchmark failed on some commit (its other results are saved).",
    )
    p.add_argument("range", metavar="RANGE", help="A..B (the commits after A up to B) or one commit")
    p.add_argument(
        "--suite",
        default="HEAD",
        metavar="REV",
        help="the revision whose benchmarks/ runs on every commit (default: HEAD; 'own': each "
        "commit's own suite, whose changed benchmarks asv will not draw beside the others)",
    )
    p.add_argument(
        "--machine", default=None, help="asv machine name (default: this host's; e.g. gh-2core-ref)"
    )
    p.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="results folder (default: the asv configuration's, results/)",
    )
    p.add_argument(
        "-b", "--bench", action="append", metavar="REGEX", help="asv --bench regular expression (repeatable)"
    )
    p.add_argument(
        "--scale",
        choices=("quick", "default", "large"),
        default="default",
        help="GENRE_HPC_BENCH_SCALE (default: default, the scale of the committed results)",
    )
    p.add_argument("--force", action="store_true", help="run commits that already have results too")
    p.add_argument("--dry-run", action="store_true", help="only list what would be run")
    p.add_argument(
        "--allow-other-host",
        action="store_true",
        help="record even when the machine's recorded description (results/<machine>/machine.json) "
        "names another CPU, core count or architecture than this host's (refused by default)",
    )
    p.add_argument("--config", type=Path, default=None, help="asv configuration (default: asv.conf.json)")
    p.add_argument("--launch-method", default=None, help="asv --launch-method (default: the configuration's)")
    p.add_argument("--json", action="store_true", help="print one JSON object last on stdout")
    p.set_defaults(func=cmd_bench_backfill)
