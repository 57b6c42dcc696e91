"""Backends against clusters started outside this process, as on several machines.

``dask scheduler`` + two ``dask worker`` processes, then ``ipcluster start``,
all on 127.0.0.1 and started from the venv's ``bin``; the backends connect
by address / scheduler file / profile folder + cluster id, and leave the
clusters running; the fixtures stop everything, also when a test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import _backend_funcs as funcs
import _clusters
import pytest

from genre_hpc.backends import get_backend

TESTS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two 1-thread workers on 127.0.0.1; yields ``(address, scheduler_file, procs)``."""
    with _clusters.dask_cluster(tmp_path) as cluster:
        yield cluster


def test_dask_distributed_external_scheduler(dask_cluster):
    address, sched_file, procs = dask_cluster
    assert address.startswith("tcp://127.0.0.1:")
    items = list(range(12))
    with get_backend("serial") as b:
        expected = b.map(funcs.square, items)
    with get_backend("dask-distributed", 2, scheduler=address, warmup=funcs.mark_warm) as b:
        assert b.describe()["scheduler"] == address
        assert b.external and b.describe()["external"] is True and b.worker_count() == 2
        assert b.map(funcs.square, items) == expected
        assert all(b.map(funcs.is_warm, range(4)))
        pids = {s["pid"] for s in b.map(funcs.worker_state, range(8))}
        assert os.getpid() not in pids
    with get_backend("dask-distributed", 2, scheduler_file=str(sched_file)) as b:
        assert b.map(funcs.square, items) == expected
    assert all(p.poll() is None for p in procs)  # the backend left the cluster running


@pytest.fixture
def ipcluster(tmp_path):
    """``ipcluster start -n 2`` with a throw-away profile folder; yields ``(profile_dir, cluster_id)``."""
    pytest.importorskip("ipyparallel")
    profile = tmp_path / "profile"
    profile.mkdir()
    cid = f"genre-hpc-test-{os.getpid()}"
    args = ["--profile-dir", profile, "--cluster-id", cid]
    proc = _clusters.start(
        [BIN / "ipcluster", "start", "-n", "2", "--ip", "127.0.0.1", *args], tmp_path / "ipcluster.log"
    )
    try:
        _clusters.wait_for(profile / "security" / f"ipcontroller-{cid}-client.json", [proc], "ipcluster")
        _clusters.wait_for_engines(str(profile), cid, 2)
        yield str(profile), cid, proc
    finally:
        subprocess.run(
            [str(BIN / "ipcluster"), "stop", *map(str, args)],
            env=_clusters._env(),
            timeout=120,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        _clusters.stop([proc])


def test_ipyparallel_external_cluster(ipcluster):
    profile_dir, cid, proc = ipcluster
    items = list(range(12))
    with get_backend("ipyparallel", 2, profile_dir=profile_dir, cluster_id=cid, warmup=funcs.mark_warm) as b:
        assert b.describe()["engines"] >= 2
        assert b.external and b.describe()["external"] is True and b.worker_count() == 2
        assert b.map(funcs.square, items) == [funcs.square(x) for x in items]
        assert all(b.map(funcs.is_warm, range(4)))
    assert proc.poll() is None  # the backend did not stop a cluster it did not start
