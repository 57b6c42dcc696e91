"""``genre-hpc bench-compare BASE [HEAD]``: did a commit make anything slower? No environment build.

Both commits are checked out in temporary git worktrees and benchmarked in the current
environment (:mod:`genre_hpc.benchruns`: ``asv run --python=same --set-commit-hash``, the
worktree's own ``benchmarks/`` and ``genre_hpc``), then ``asv compare --factor F --split``
decides, with asv's own statistics, which changes are significant; the command exits 1 when a
benchmark got significantly slower (or started failing).

**Interleaving.** asv cannot interleave rounds of two commits in an existing environment
(``--interleave-rounds`` refuses ``--python=same``). So this command alternates whole asv runs:
BASE, HEAD, then HEAD, BASE, then BASE, HEAD, ... (``--runs`` of each, the second and later
with ``--append-samples``), so that slow drifts of the machine (other load, heat, frequency)
and the between-process spread hit both commits alike, and each commit's samples come from
several processes started at different times. asv's ``rounds`` (``--rounds``) adds processes
within each run. ``asv compare`` then sees every sample (``--record-samples``): with at least 6
on each side it uses a Mann-Whitney U test (p < 0.002), with fewer the 99 % confidence
intervals must not overlap; and the ratio must pass ``--factor``.

Results go to a temporary folder (removed afterwards) unless ``--results-dir`` is given: never
to the committed ``results/`` unless asked.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .benchruns import (
    BenchRunError,
    bench_env,
    check_import,
    describe,
    ensure_machine,
    load_config,
    require_asv,
    resolve_commit,
    run_suite,
    toplevel,
    worktree,
    write_run_config,
)

#: ``asv compare``'s marks: '+' slower, '!' newly failing; '-' faster, '*' fixed
WORSE_MARKS = ("+", "!")
BETTER_MARKS = ("-", "*")


def _say(*args):
    print(*args, file=sys.stderr, flush=True)


def run_order(base: str, head: str, runs: int) -> list[str]:
    """The commits in the order they are run: BASE HEAD HEAD BASE BASE HEAD ..."""
    order = []
    for r in range(runs):
        order += [base, head] if r % 2 == 0 else [head, base]
    return order


def table_rows(text: str) -> list[dict]:
    """The rows of ``asv compare``'s table: ``mark``, ``before``, ``after``, ``ratio``, ``benchmark``."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] == "Change":
            continue
        if all(len(c) > 1 and set(c) <= {"-", ":"} for c in cells):  # the line under the header
            continue
        mark, before, after, ratio, name = cells
        rows.append({"mark": mark, "before": before, "after": after, "ratio": ratio, "benchmark": name})
    return rows


def sample_counts(results_dir, machine: str, base: str, head: str) -> dict[str, tuple[int, int]]:
    """The number of recorded samples of every benchmark (and parameter set) on each commit."""
    from asv.commands.compare import unroll_result
    from asv.results import iter_results_for_machine_and_hash

    counts: dict[str, list[int]] = {}
    for side, sha in enumerate((base, head)):
        for res in iter_results_for_machine_and_hash(str(results_dir), machine, sha):
            for key in res.get_all_result_keys():
                params = res.get_result_params(key)
                samples = res.get_result_samples(key, params)
                for name, values in unroll_result(key, params, samples):
                    n = sum(1 for v in values or () if v == v)
                    counts.setdefault(name, [0, 0])[side] = n
    return {name: (a, b) for name, (a, b) in counts.items()}


def cannot_be_significant(n_a: int, n_b: int, p_threshold: float = 0.002) -> bool:
    """Whether asv's test can never call a difference significant with these sample counts.

    asv uses its Mann-Whitney U test (two-sided, p < 0.002) as soon as the smallest possible
    p-value, ``1 / C(n_a + n_b, min)``, is below 0.002, instead of comparing confidence
    intervals; but the smallest two-sided p-value is twice that, so for counts where
    ``C(n_a + n_b, min)`` is in (500, 1000] (6 against 6, 5 against 7, 4 against 9, ...) no
    difference, however large, is significant.
    """
    from math import comb

    if min(n_a, n_b) < 1:
        return False
    total = comb(n_a + n_b, min(n_a, n_b))
    return 1 / total < p_threshold <= 2 / total


def _is_value(cell: str) -> bool:
    """Whether a cell of asv's table holds a measurement (not ``failed`` or ``n/a``)."""
    return bool(cell) and cell not in ("failed", "n/a") and cell[0].isdigit()


def asv_compare(config_path, base: str, head: str, machine: str, factor: float, names=None) -> dict:
    """``asv compare --split --factor`` of two commits, through asv's API.

    Returns
    -------
    dict
        ``table`` (asv's text), ``worsened`` / ``improved`` (asv's verdicts) and ``worse`` /
        ``better`` (the rows of the table that asv marked so).
    """
    from asv import util
    from asv.commands.compare import Compare
    from asv.config import Config

    conf = Config.load(str(config_path))
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            worsened, improved = Compare.print_table(
                conf,
                base,
                head,
                factor=factor,
                split=True,
                machine=machine,
                commit_names=names or {},
            )
    except util.UserError as exc:
        raise BenchRunError(f"asv compare: {exc}") from None
    text = buf.getvalue()
    rows = table_rows(text)
    return {
        "table": text,
        "worsened": bool(worsened),
        "improved": bool(improved),
        "measured": sum(1 for r in rows if _is_value(r["before"]) and _is_value(r["after"])),
        "worse": [r for r in rows if r["mark"] in WORSE_MARKS],
        "better": [r for r in rows if r["mark"] in BETTER_MARKS],
    }


def bench_compare(
    base: str,
    head: str = "HEAD",
    *,
    repo=".",
    bench: Sequence[str] = (),
    factor: float = 1.2,
    runs: int = 2,
    rounds: int | None = 4,
    machine: str | None = None,
    results_dir=None,
    scale: str | None = None,
    config=None,
    launch_method: str | None = None,
    log=_say,
) -> dict:
    """Benchmark two commits of ``repo`` in this environment and compare them with asv.

    Parameters
    ----------
    base, head : str
        Commits (any git revision).
    bench : sequence of str
        asv ``--bench`` regular expressions (default: the whole suite).
    factor : float
        A change counts when the ratio passes it (and asv finds it significant).
    runs : int
        asv runs per commit, alternating between the two commits.
    rounds : int, optional
        asv's ``rounds`` in each run: processes per benchmark and run (default 4; ``None``: the
        benchmarks' own).
    machine : str, optional
        asv machine name (default: this host's).
    results_dir : path, optional
        Keep the results there (default: a temporary folder, removed afterwards).
    scale : str, optional
        ``GENRE_HPC_BENCH_SCALE`` of the runs (default: the environment's, else ``default``).
    config : path, optional
        The asv configuration (default: ``<repo>/asv.conf.json``).
    launch_method : str, optional
        asv's ``--launch-method`` (default: the configuration's).

    Returns
    -------
    dict
        ``base`` / ``head`` (full hashes), ``machine``, ``results_dir`` (``None`` when removed),
        ``runs`` (one entry per asv run: commit, exit status, seconds), ``seconds``, and
        :func:`asv_compare`'s keys.

    Raises
    ------
    BenchRunError
        A bad commit or setting, a failed git or asv step, or no benchmark that gave a number on
        both commits.
    """
    require_asv()
    if runs < 1:
        raise BenchRunError("--runs must be >= 1")
    if factor < 1:
        raise BenchRunError("--factor must be >= 1 (e.g. 1.2: a 20 % change)")
    repo = toplevel(repo)
    base_sha, head_sha = resolve_commit(repo, base), resolve_commit(repo, head)
    if base_sha == head_sha:
        raise BenchRunError(f"{base} and {head} are the same commit ({base_sha[:8]}): nothing to compare")
    config_path, conf = load_config(repo, config)
    keep = results_dir is not None
    scratch = Path(tempfile.mkdtemp(prefix="genre-hpc-compare-"))
    results = Path(results_dir).resolve() if keep else scratch / "results"
    t_start = time.perf_counter()
    try:
        with worktree(repo, base_sha, scratch) as wt_base, worktree(repo, head_sha, scratch) as wt_head:
            trees = {base_sha: wt_base, head_sha: wt_head}
            configs, envs = {}, {}
            for sha, tree in trees.items():
                configs[sha] = write_run_config(conf, repo, tree, results, scratch, sha[:12])
                envs[sha] = bench_env(tree, scale)
                check_import(tree, envs[sha])
            machine = ensure_machine(configs[head_sha], envs[head_sha], machine)
            log(
                f"bench-compare: {describe(repo, base_sha)}  vs  {describe(repo, head_sha)}; "
                f"machine {machine}, {runs} run(s) per commit, interleaved"
                + (f", {rounds} round(s) each" if rounds else "")
                + (f"; --bench {' '.join(bench)}" if bench else "; the whole suite")
            )
            done: set[str] = set()
            run_log = []
            for i, sha in enumerate(run_order(base_sha, head_sha, runs), 1):
                which = "BASE" if sha == base_sha else "HEAD"
                log(f"== asv run {i}/{2 * runs}: {which} {sha[:8]}")
                t0 = time.perf_counter()
                status = run_suite(
                    configs[sha],
                    sha,
                    machine,
                    envs[sha],
                    bench,
                    append=sha in done,
                    record_samples=True,
                    rounds=rounds,
                    launch_method=launch_method,
                    stdout=sys.stderr,
                )
                if status not in (0, 2):  # 2: a benchmark failed, the others were saved
                    raise BenchRunError(
                        f"asv run on {sha[:8]} failed (exit status {status}): see its log above"
                    )
                done.add(sha)
                run_log.append(
                    {"commit": sha, "status": status, "seconds": round(time.perf_counter() - t0, 1)}
                )
            names = {base_sha: base, head_sha: head}
            verdict = asv_compare(configs[head_sha], base_sha, head_sha, machine, factor, names)
            verdict["undecidable"] = [
                {"benchmark": name, "samples": [a, b]}
                for name, (a, b) in sorted(sample_counts(results, machine, base_sha, head_sha).items())
                if cannot_be_significant(a, b)
            ]
            if not verdict["measured"] and not verdict["worsened"]:
                log(verdict["table"])
                raise BenchRunError(
                    "nothing was measured on both commits: every selected benchmark failed or was "
                    "skipped (see asv's log above)"
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "base": base_sha,
        "head": head_sha,
        "machine": machine,
        "factor": factor,
        "results_dir": str(results) if keep else None,
        "runs": run_log,
        "seconds": round(time.perf_counter() - t_start, 1),
        **verdict,
    }


# --- the command -------------------------------------------------------------------------------


def cmd_bench_compare(args) -> int:
    """The command; a :class:`~genre_hpc.benchruns.BenchRunError` (a request that cannot run, a
    git or asv step that failed) is reported in one line, exit 2."""
    from .benchruns import BenchRunError
    from .cli import UsageError

    try:
        return _cmd_bench_compare(args)
    except BenchRunError as exc:
        raise UsageError(str(exc)) from None


def _cmd_bench_compare(args) -> int:
    res = bench_compare(
        args.base,
        args.head,
        bench=args.bench or (),
        factor=args.factor,
        runs=args.runs,
        rounds=args.rounds or None,
        machine=args.machine,
        results_dir=args.results_dir,
        scale=args.scale,
        config=args.config,
        launch_method=args.launch_method,
    )
    sys.stdout.write(res["table"])
    failed_runs = [r for r in res["runs"] if r["status"] != 0]
    if failed_runs:
        print(
            f"\nnote: {len(failed_runs)} asv run(s) exited non-zero (a benchmark failed: see the log above)",
            file=sys.stderr,
        )
    if res["worsened"]:
        print(
            f"\nPERFORMANCE DECREASED (factor {res['factor']}, {res['head'][:8]} against {res['base'][:8]}):"
        )
        for r in res["worse"]:
            print(f"  {r['benchmark']}: {r['before']} -> {r['after']} ({r['ratio'].strip() or 'failed'})")
    else:
        print(
            f"\nno significant slowdown (factor {res['factor']}, {res['head'][:8]} against {res['base'][:8]})"
        )
    if res["improved"]:
        print(f"faster: {', '.join(r['benchmark'] for r in res['better'])}")
    if res["undecidable"]:
        print(
            f"warning: {len(res['undecidable'])} benchmark(s) have sample counts with which asv's test can "
            "never be significant (6 against 6, 5 against 7, ...): change --runs or --rounds for them: "
            + ", ".join(
                f"{u['benchmark']} ({u['samples'][0]} vs {u['samples'][1]})" for u in res["undecidable"]
            ),
            file=sys.stderr,
        )
    if res["results_dir"]:
        print(f"results kept in {res['results_dir']}", file=sys.stderr)
    print(f"bench-compare took {res['seconds']:.0f} s", file=sys.stderr)
    if args.json:
        out = {k: v for k, v in res.items() if k != "table"}
        sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 1 if res["worsened"] else 0


def register(subparsers) -> None:
    """Add ``bench-compare`` to the ``genre-hpc`` command (see ``genre_hpc.cli.PLUGIN_COMMANDS``)."""
    p = subparsers.add_parser(
        "bench-compare",
        help="benchmark two commits in this environment (asv, --python=same) and flag slowdowns",
        description="Check BASE and HEAD out in temporary git worktrees, run the asv suite on each in "
        "this environment (asv run --python=same --set-commit-hash, the worktree's own benchmarks and "
        "genre_hpc), alternating the two commits run after run, then `asv compare --split --factor F`. "
        "Exit status 1 when a benchmark got significantly slower or started failing, 0 otherwise, "
        "2 for a usage error.",
    )
    p.add_argument("base", metavar="BASE", help="the reference commit (branch, tag, hash)")
    p.add_argument(
        "head", metavar="HEAD", nargs="?", default="HEAD", help="the commit to check (default HEAD)"
    )
    p.add_argument(
        "-b",
        "--bench",
        action="append",
        metavar="REGEX",
        help="asv --bench regular expression (repeatable; default: the whole suite)",
    )
    p.add_argument(
        "--factor", type=float, default=1.2, help="ratio a change must pass to count (default 1.2)"
    )
    p.add_argument(
        "--runs",
        type=int,
        default=2,
        help="asv runs per commit, alternating BASE HEAD HEAD BASE ... (default 2)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="asv rounds within each run: processes per benchmark and run (default 4; 0: the benchmarks')",
    )
    p.add_argument("--machine", default=None, help="asv machine name (default: this host's)")
    p.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="keep the results in this folder (default: a temporary one, removed afterwards)",
    )
    p.add_argument(
        "--scale",
        choices=("quick", "default", "large"),
        default=None,
        help="GENRE_HPC_BENCH_SCALE of the runs (default: the environment's, else default)",
    )
    p.add_argument("--config", type=Path, default=None, help="asv configuration (default: asv.conf.json)")
    p.add_argument("--launch-method", default=None, help="asv --launch-method (default: the configuration's)")
    p.add_argument("--json", action="store_true", help="print one JSON object last on stdout")
    p.set_defaults(func=cmd_bench_compare)
