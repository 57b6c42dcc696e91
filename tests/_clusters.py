"""Start and stop real cluster processes for the tests (dask scheduler/workers, ipcluster)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(TESTS) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def start(args, log: Path, cwd=None) -> subprocess.Popen:
    """Start a command in its own process group (so its children can be stopped with it)."""
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [str(a) for a in args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,
            cwd=cwd,
        )


def stop(procs, timeout: float = 30) -> None:
    """SIGTERM each process group, then SIGKILL what is left after ``timeout``."""
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # stragglers of the group, if any
        except ProcessLookupError:
            pass
        p.wait(10)


def wait_for(path: Path, procs, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        dead = [p.args for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(f.read_text(errors="replace")[-3000:] for f in path.parent.glob("*.log"))
            pytest.fail(f"{what} not ready (exited: {dead}); logs:\n{logs}")
        time.sleep(0.2)


def hiding(folder: Path) -> list[str] | None:
    """A command prefix that runs a program in its own mount namespace with ``folder`` hidden under
    an empty tmpfs (as a worker on a host without the dataset's filesystem sees it), or None when
    this system cannot (``unshare -m`` needs root)."""
    import shutil

    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run(
        [unshare, "-m", "sh", "-c", f"mount -t tmpfs none '{folder}' && test -z \"$(ls -A '{folder}')\""],
        capture_output=True,
    )
    if probe.returncode != 0:
        return None
    return [unshare, "-m", "sh", "-c", f'mount -t tmpfs none \'{folder}\' && exec "$0" "$@"']


@contextlib.contextmanager
def dask_cluster(tmp_path: Path, workers: int = 2, *, hide: Path | None = None):
    """``dask scheduler`` + ``workers`` 1-thread ``dask worker`` processes on 127.0.0.1, started with the
    command-line tools; yields ``(address, scheduler_file, procs)`` once every worker has joined, and
    stops them all even on failure. ``hide``: the workers run where this folder is empty (their own
    mount namespace, :func:`hiding`; the test is skipped where that is not possible)."""
    pytest.importorskip("distributed")
    from distributed import Client

    sched_file = tmp_path / "scheduler.json"
    procs = []
    try:
        procs.append(
            start(
                [
                    BIN / "dask",
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    sched_file,
                ],
                tmp_path / "scheduler.log",
            )
        )
        wait_for(sched_file, procs, "dask scheduler")
        time.sleep(0.2)  # the file may be written before it is complete on slow disks
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        prefix: list = []
        if hide is not None:
            prefix = hiding(hide)
            if prefix is None:
                pytest.skip("cannot hide a folder from the workers here (unshare -m needs root)")
        for k in range(workers):
            procs.append(
                start(
                    [
                        *prefix,
                        BIN / "dask",
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--name",
                        f"w{k}",
                    ],
                    tmp_path / f"worker{k}.log",
                )
            )
        with Client(address, timeout=60) as c:
            c.wait_for_workers(workers, timeout=120)
        yield address, sched_file, procs
    finally:
        stop(procs)


def wait_for_engines(profile_dir: str, cluster_id: str, n: int, timeout: float = 120) -> None:
    """Wait until ``n`` engines of an ``ipcluster`` have registered (a cluster found by a backend is
    used as it is: one with too few engines and none registering fails fast)."""
    import ipyparallel as ipp

    with ipp.Client(profile_dir=profile_dir, cluster_id=cluster_id, timeout=60) as c:
        c.wait_for_engines(n, timeout=timeout)
