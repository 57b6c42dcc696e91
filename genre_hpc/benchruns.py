"""Running the project's asv suite on any commit in *this* environment.

asv's own way to benchmark another commit builds an environment per commit (a wheel of the
commit installed with TensorFlow into ``.asv/env``), and ``asv continuous`` cannot use
``--python=same`` (asv issue #338). The tools built on this module (``genre-hpc
bench-compare``, ``genre-hpc bench-backfill``) instead check each commit out in a temporary
git worktree and run ``asv run --python=same --set-commit-hash <sha>`` on it, so that

- the benchmarks are the worktree's own: a temporary copy of ``asv.conf.json`` whose
  ``benchmark_dir`` is ``<worktree>/benchmarks`` (asv imports the suite from there by path);
- the benchmarked code is the worktree's: ``PYTHONPATH`` starts with the worktree. The project
  is an editable install whose import hook comes after ``sys.path``, so ``import genre_hpc``
  finds the worktree first. asv hands its own environment to every benchmark process of an
  existing environment (``asv.runner``: ``env_vars = dict(os.environ)``;
  ``ExistingEnvironment.run`` keeps ``PYTHONPATH``, unlike the virtualenvs asv builds), and
  :func:`check_import` verifies that a child process really loads the worktree's package
  before anything is timed.

Nothing here imports asv at module level (it is the ``bench`` extra); asv runs as
``python -m asv`` with this interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from .files import atomic_write_text

#: the benchmarks' settings (benchmarks/common.py reads them; named here to avoid importing it)
SCALE_ENV = "GENRE_HPC_BENCH_SCALE"
WORKERS_ENV = "GENRE_HPC_BENCH_WORKERS"
DATA_ENV = "GENRE_HPC_BENCH_DATA"
SCALES = ("quick", "default", "large")


class BenchRunError(ValueError):
    """A git or asv step failed, or the request cannot be run; the message says which and why."""


def require_asv() -> None:
    """Raise :class:`BenchRunError` with the install hint when asv is missing."""
    try:
        import asv  # noqa: F401
    except ModuleNotFoundError:
        raise BenchRunError("this command runs asv: pip install 'genre-hpc[bench]'") from None


# --- git -------------------------------------------------------------------------------------------


def git(repo, *args: str) -> str:
    """``git -C repo args...``; its stdout, stripped.

    Raises
    ------
    BenchRunError
        git failed (the message has git's own error).
    """
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchRunError(f"git {' '.join(args)} (in {repo}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def toplevel(path=".") -> Path:
    """The root of the git work tree that holds ``path``."""
    return Path(git(path, "rev-parse", "--show-toplevel"))


def resolve_commit(repo, rev: str) -> str:
    """The full hash of the commit ``rev`` names (a branch, tag, hash or ``HEAD~2``)."""
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except BenchRunError:
        raise BenchRunError(f"{rev!r} is not a commit of {repo}") from None


def commit_range(repo, spec: str) -> list[str]:
    """The commits of ``spec``, oldest first.

    ``A..B`` is ``git rev-list --first-parent A..B`` (what ``asv run A..B`` benchmarks: the
    commits of B's first-parent line after A); anything else names one commit.
    """
    if ".." not in spec:
        return [resolve_commit(repo, spec)]
    out = git(repo, "rev-list", "--reverse", "--first-parent", spec)
    commits = out.split()
    if not commits:
        raise BenchRunError(f"the range {spec!r} holds no commit")
    return commits


def _is_revision(repo, rev: str) -> bool:
    try:
        resolve_commit(repo, rev)
    except BenchRunError:
        return False
    return True


def describe(repo, sha: str) -> str:
    """``<short hash> <subject>`` of a commit."""
    return git(repo, "log", "-1", "--format=%h %s", sha)


def commit_time(repo, sha: str) -> int:
    """The commit time of ``sha`` (seconds since the epoch)."""
    return int(git(repo, "log", "-1", "--format=%ct", sha))


@contextlib.contextmanager
def worktree(repo, sha: str, parent) -> Iterator[Path]:
    """A detached git worktree of ``sha`` inside ``parent``, removed afterwards."""
    path = Path(parent) / f"worktree-{sha[:12]}"
    git(repo, "worktree", "add", "--detach", "--quiet", str(path), sha)
    try:
        yield path
    finally:
        with contextlib.suppress(BenchRunError):
            git(repo, "worktree", "remove", "--force", str(path))
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(BenchRunError):
            git(repo, "worktree", "prune")


# --- asv configuration and environment ------------------------------------------------------------


def load_config(repo, config=None) -> tuple[Path, dict]:
    """The path and the content of the project's asv configuration (``<repo>/asv.conf.json``)."""
    from asv import util

    path = Path(config) if config else Path(repo) / "asv.conf.json"
    if not path.is_file():
        raise BenchRunError(f"no asv configuration {path}")
    try:
        conf = util.load_json(str(path), js_comments=True)
    except Exception as exc:  # asv raises UserError for a malformed file
        raise BenchRunError(f"{path}: not a readable asv configuration ({exc})") from None
    return path.resolve(), conf


def config_dir_path(config_path: Path, value: str) -> Path:
    """A path of the configuration (relative ones are relative to the configuration's folder)."""
    p = Path(value)
    return p if p.is_absolute() else (config_path.parent / p).resolve()


def write_run_config(conf: dict, repo, benchmarks_root, results_dir, scratch, name: str) -> Path:
    """A copy of the configuration for one run: ``repo``, ``benchmark_dir`` (inside
    ``benchmarks_root``, the worktree), ``results_dir`` as absolute paths; HTML and environments
    inside ``scratch``; only the ``branches`` the repository has (else ``HEAD``)."""
    run = dict(conf)
    # asv refuses a configuration whose branches the repository lacks (a clone without main)
    branches = [b for b in conf.get("branches") or [] if _is_revision(repo, b)]
    run.update(
        branches=branches or ["HEAD"],
        repo=str(Path(repo).resolve()),
        benchmark_dir=str(Path(benchmarks_root).resolve() / conf.get("benchmark_dir", "benchmarks")),
        results_dir=str(Path(results_dir).resolve()),
        html_dir=str(Path(scratch).resolve() / "html"),
        env_dir=str(Path(scratch).resolve() / "env"),
    )
    path = Path(scratch) / f"asv-{name}.conf.json"
    atomic_write_text(path, json.dumps(run, indent=2) + "\n")
    return path


def bench_env(worktree_path, scale: str | None = None, base: dict | None = None) -> dict:
    """The environment of an asv run on ``worktree_path``: ``PYTHONPATH`` and ``ASV_PYTHONPATH``
    starting with the worktree, ``GENRE_HPC_BENCH_SCALE`` set when ``scale`` is given, a
    file-only plot backend."""
    env = dict(os.environ if base is None else base)
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(Path(worktree_path).resolve()), *rest])
    # asv's benchmark launcher (asv/benchmark.py) *removes* the PYTHONPATH entries from sys.path
    # and puts ASV_PYTHONPATH's first instead: without it the editable install would win
    env["ASV_PYTHONPATH"] = env["PYTHONPATH"]
    if scale is not None:
        if scale not in SCALES:
            raise BenchRunError(f"unknown scale {scale!r}: expected one of {', '.join(SCALES)}")
        env[SCALE_ENV] = scale
    env.setdefault("MPLBACKEND", "Agg")
    return env


def check_import(worktree_path, env: dict) -> Path:
    """Check that asv's benchmark processes, started with ``env``, import ``genre_hpc`` from
    ``worktree_path``.

    The check goes through asv's own launcher (``asv/benchmark.py discover``, as asv starts
    every benchmark process of an existing environment) on a one-module probe suite, so it sees
    the ``sys.path`` the benchmarks will see.

    Returns
    -------
    Path
        The ``genre_hpc`` package folder that was imported.

    Raises
    ------
    BenchRunError
        ``genre_hpc`` came from elsewhere (then the timings would be of the wrong code).
    """
    from asv.runner import BENCHMARK_RUN_SCRIPT

    root = Path(worktree_path).resolve()
    with tempfile.TemporaryDirectory(prefix="genre-hpc-import-probe-") as tmp:
        suite = Path(tmp) / "importprobe"
        suite.mkdir()
        (suite / "__init__.py").write_text("")
        (suite / "where.py").write_text(
            "import os\n\nimport genre_hpc\n\n"
            "with open(os.environ['GENRE_HPC_IMPORT_PROBE'], 'w') as f:\n    f.write(genre_hpc.__file__)\n"
        )
        out = Path(tmp) / "where.txt"
        proc = subprocess.run(
            [sys.executable, BENCHMARK_RUN_SCRIPT, "discover", str(suite), str(Path(tmp) / "found.json")],
            env={**env, "GENRE_HPC_IMPORT_PROBE": str(out)},
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        where = out.read_text() if out.is_file() else ""
    if proc.returncode != 0 or not where:
        raise BenchRunError(
            f"importing genre_hpc from {root} in an asv process failed:\n{proc.stderr.strip()}"
        )
    pkg = Path(where).resolve().parent
    if root not in pkg.parents:
        raise BenchRunError(
            f"an asv benchmark process would import genre_hpc from {pkg}, not from the worktree {root}"
        )
    return pkg


def asv_command(*args) -> list[str]:
    """``python -m asv args...`` with this interpreter (the environment asv benchmarks)."""
    return [sys.executable, "-m", "asv", *(str(a) for a in args)]


#: the fields of asv's machine description that make results of two hosts incomparable (the
#: kernel build and the RAM's last bytes change with a reboot and are left out)
HOST_FIELDS = ("cpu", "num_cpu", "arch")


def host_differences(results_dir, machine: str, this: dict | None = None) -> dict:
    """How this host differs from the one ``results_dir/machine/machine.json`` describes.

    Parameters
    ----------
    results_dir : path
        An asv results folder.
    machine : str
        The machine name the results are filed under.
    this : dict, optional
        This host's description (default: ``asv.machine.Machine.get_defaults()``).

    Returns
    -------
    dict
        ``{field: (recorded, this host's)}`` for every field of :data:`HOST_FIELDS` that
        differs; empty when they agree or nothing is recorded under ``machine`` yet.
    """
    path = Path(results_dir) / machine / "machine.json"
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if this is None:
        from asv.machine import Machine

        this = Machine.get_defaults()
    return {
        k: (recorded.get(k), this.get(k))
        for k in HOST_FIELDS
        if recorded.get(k) is not None and str(recorded.get(k)) != str(this.get(k))
    }


def other_host_message(
    machine: str,
    differences: dict,
    remedy: str = "give this host another --machine name, or pass --allow-other-host to record it anyway",
) -> str:
    """One paragraph: why results of this host should not go under ``machine``, and ``remedy``."""
    diff = "; ".join(f"{k}: recorded {a!r}, this host {b!r}" for k, (a, b) in differences.items())
    return (
        f"the results of machine {machine} were recorded on another host ({diff}). asv files results "
        "under the CPU too, so this host's would not extend that history's lines (and machine.json "
        f"would describe this host instead of the recorded one): {remedy}"
    )


def check_host_main(argv=None) -> int:
    """``python -m genre_hpc.benchruns RESULTS_DIR MACHINE``: exit 0 when this host may record
    under ``MACHINE`` (nothing recorded, or the same CPU, cores and architecture), else print
    why to stderr and exit 1. ``benchmarks/run_reference.sh`` runs it before anything else."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["-h"], ["--help"]):
        print("usage: python -m genre_hpc.benchruns RESULTS_DIR MACHINE\n\n" + check_host_main.__doc__)
        return 0
    if len(args) != 2:
        print("usage: python -m genre_hpc.benchruns RESULTS_DIR MACHINE", file=sys.stderr)
        return 2
    results_dir, machine = args
    differences = host_differences(results_dir, machine)
    if not differences:
        return 0
    remedy = "run it with another MACHINE argument, or set ALLOW_OTHER_HOST=1 to record it anyway"
    print("run_reference.sh: " + other_host_message(machine, differences, remedy), file=sys.stderr)
    return 1


def ensure_machine(config_path, env: dict, machine: str | None = None) -> str:
    """Record this host with ``asv machine --yes`` (as ``make bench`` does) unless
    ``~/.asv-machine.json`` knows it, and, with ``machine``, a copy of its description under that
    name; the machine name the results go under."""
    from asv.machine import Machine, MachineCollection

    host = Machine.get_unique_machine_name()
    known = {}
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(Path(MachineCollection.get_machine_file_path()).read_text())
    steps = [] if host in known else [["machine", "--yes", "--config", config_path]]
    if machine:
        steps.append(["machine", "--yes", "--config", config_path, "--machine", machine])
    for args in steps:
        proc = subprocess.run(asv_command(*args), env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchRunError(f"asv machine failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return machine or host


def run_suite(
    config_path,
    sha: str,
    machine: str,
    env: dict,
    bench: Sequence[str] = (),
    *,
    append: bool = False,
    record_samples: bool = False,
    rounds: int | None = None,
    launch_method: str | None = None,
    extra: Sequence[str] = (),
    stdout=None,
) -> int:
    """``asv run --python=same --set-commit-hash sha`` with the run configuration.

    Parameters
    ----------
    bench : sequence of str
        ``--bench`` regular expressions (all benchmarks when empty).
    append : bool
        ``--append-samples``: add this run's samples to the ones already saved for ``sha``
        (the statistics are recomputed over all of them).
    record_samples : bool
        ``--record-samples`` (implied by ``append``): keep the raw samples, which
        ``asv compare`` needs for its Mann-Whitney test.
    rounds : int, optional
        ``-a rounds=N``: every benchmark runs in N separate processes, one after the other.
    launch_method : str, optional
        asv's ``--launch-method`` (default: the configuration's).
    stdout : file, optional
        Where asv's output goes (default: this process's stdout).

    Returns
    -------
    int
        asv's exit status (2: some benchmark failed; the others' results are saved).

    Notes
    -----
    asv accepts no commit range with an existing environment, so its log line "For <project>
    commit ..." names the repository's HEAD; the results are saved under ``sha``.
    """
    cmd = asv_command(
        "run",
        "--config",
        config_path,
        "--python=same",
        "--set-commit-hash",
        sha,
        "--machine",
        machine,
        "--show-stderr",
    )
    if launch_method:
        cmd += ["--launch-method", launch_method]
    if append:
        cmd.append("--append-samples")
    elif record_samples:
        cmd.append("--record-samples")
    if rounds:
        cmd += ["-a", f"rounds={int(rounds)}"]
    for regex in bench:
        cmd += ["--bench", regex]
    cmd += list(extra)
    if stdout is not None:
        with contextlib.suppress(AttributeError, ValueError):
            stdout.flush()
    return subprocess.run(
        cmd, env=env, stdout=stdout, stderr=subprocess.STDOUT if stdout else None
    ).returncode


if __name__ == "__main__":
    sys.exit(check_host_main())
