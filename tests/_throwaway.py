"""A throw-away git repository for the tests of the asv tools (bench-compare, bench-backfill).

A ``git clone`` of this repository whose asv suite is one tiny benchmark of a tiny library
function, so that an asv run takes seconds: ``genre_hpc/_probe.py`` (the function) and
``benchmarks/bench_probe.py`` (its benchmark); the project's own benchmark modules are removed
from the copy (their imports alone take longer than the probe). The probe lives in the library,
so a change to it is seen only if asv's benchmark processes import the worktree's ``genre_hpc``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

PROBE = '''"""A small library function for the tests of the asv tools (about 0.1 s: long beside the
scheduling noise of a 2-core machine running two test workers)."""


def work(n=2_000_000):
    total = 0
    for i in range(n):
        total += i * i
    return total
'''

#: the injected slowdown: the loop twice
SLOW_PROBE = PROBE.replace(
    "    total = 0\n", "    total = 0\n    for i in range(n):\n        total -= i * i\n"
)

BENCH = '''"""One benchmark of the probe, one sample per process (so samples come from separate processes)."""


class Probe:
    number = 1
    repeat = 1
    rounds = 1  # asv's default is 2 processes per run
    warmup_time = 0

    def setup(self):
        from genre_hpc import _probe

        self.work = _probe.work
        self.work()

    def time_work(self):
        self.work()
'''


def git(repo, *args) -> str:
    """``git -C repo args`` with a fixed identity; its stdout."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *map(str, args)], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def make_probe_repo(tmp: Path) -> Path:
    """``tmp/repo``: a clone of this repository plus the branch ``base`` (the probe suite), checked
    out detached; ``tmp/home`` for asv's machine file. The clone's original HEAD is ``origin-head``."""
    repo = tmp / "repo"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(repo)], check=True)
    git(repo, "branch", "origin-head")
    git(repo, "checkout", "--quiet", "-b", "base")
    for path in (repo / "benchmarks").glob("*.py"):
        if path.name != "__init__.py":
            path.unlink()
    (repo / "benchmarks" / "bench_probe.py").write_text(BENCH)
    (repo / "genre_hpc" / "_probe.py").write_text(PROBE)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "base: a tiny benchmark of a tiny library function")
    git(repo, "checkout", "--quiet", "--detach", "base")
    (tmp / "home").mkdir(exist_ok=True)
    return repo


def commit_on(repo: Path, branch: str, start: str, files: dict, message: str) -> str:
    """A new branch ``branch`` at ``start`` plus one commit writing ``files`` (path: text)."""
    git(repo, "checkout", "--quiet", "-b", branch, start)
    for path, text in files.items():
        (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)
    git(repo, "checkout", "--quiet", "--detach", "base")
    return git(repo, "rev-parse", branch)


def genre_hpc(repo: Path, *args, timeout=600) -> subprocess.CompletedProcess:
    """``genre-hpc args`` in ``repo`` with HOME (asv's machine file) in the throw-away folder."""
    env = {**os.environ, "HOME": str(repo.parent / "home"), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [str(BIN / "genre-hpc"), *map(str, args)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
