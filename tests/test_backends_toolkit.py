"""The parts every backend shares: availability from ``requires``, ``start_timeout`` read once,
the worker toolkit (item logs, the one dead-worker message), the cluster base.

Real backends and real processes where a backend runs; the toolkit's pure functions directly.
"""

from __future__ import annotations

import ast
import os
import signal
import sys
from pathlib import Path

import _backend_funcs as funcs
import pytest

from genre_hpc import extras
from genre_hpc.backends import (
    BackendUnavailable,
    WorkerLost,
    backend_names,
    get_backend,
    get_backend_class,
    unavailable_reason,
)
from genre_hpc.backends import _workers as workers_mod
from genre_hpc.backends.base import DEFAULT_START_TIMEOUT

BACKENDS = Path(__file__).resolve().parent.parent / "genre_hpc" / "backends"


# -- availability --------------------------------------------------------------------------


def test_every_backend_declares_the_extras_it_requires():
    declared = {n: get_backend_class(n).requires for n in backend_names()}
    assert {n for n, r in declared.items() if r == ("dask",)} == {
        "dask-synchronous",
        "dask-threads",
        "dask-processes",
        "dask-distributed",
    }
    assert declared["ipyparallel"] == ("ipp",)
    assert {n for n, r in declared.items() if r == ()} == {
        "serial",
        "pool-apply",
        "pool-apply-async",
        "pool-map",
        "pool-map-async",
        "process",
        "joblib-threading",
        "joblib-loky",
    }
    assert all(set(r) <= set(extras.EXTRAS) for r in declared.values())


@pytest.mark.parametrize(
    "name,module,message",
    [
        ("dask-threads", "distributed", "distributed is not installed: install genre-hpc[dask]"),
        ("dask-distributed", "dask", "dask is not installed: install genre-hpc[dask]"),
        ("ipyparallel", "ipyparallel", "ipyparallel is not installed: install genre-hpc[ipp]"),
    ],
)
def test_missing_extra_gives_one_message(name, module, message, monkeypatch):
    """unavailable_reason(name, workers) and the BackendUnavailable of get_backend say the same."""
    monkeypatch.setitem(sys.modules, module, None)  # find_spec and import both fail
    assert unavailable_reason(name, 2) == message
    with pytest.raises(BackendUnavailable) as info:
        get_backend(name, 2)
    assert str(info.value) == message
    assert unavailable_reason("pool-map", 2) is None  # a backend without extras is not affected


def test_unavailable_reason_worker_counts():
    assert unavailable_reason("serial", 2) == "serial runs exactly 1 worker"
    assert unavailable_reason("serial", 1) is None
    assert "workers must be >= 1" in unavailable_reason("pool-map", 0)
    with pytest.raises(ValueError, match="serial runs exactly 1 worker"):
        get_backend("serial", 2)
    assert unavailable_reason("xgb-threads", 2) is None  # a stage's mode: not the registry's to judge


# -- start_timeout ---------------------------------------------------------------------------


def test_start_timeout_is_read_once_for_every_backend_that_takes_it():
    takes = [n for n in backend_names() if "start_timeout" in get_backend_class(n).option_names]
    assert set(takes) == {
        "pool-apply",
        "pool-apply-async",
        "pool-map",
        "pool-map-async",
        "process",
        "dask-processes",
        "dask-distributed",
        "ipyparallel",
        "joblib-loky",
    }
    for name in takes:
        assert get_backend(name, 2).start_timeout == DEFAULT_START_TIMEOUT
        assert get_backend(name, 2, start_timeout="7.5").start_timeout == 7.5
        with pytest.raises(ValueError, match="start_timeout must be > 0"):
            get_backend(name, 2, start_timeout=0)
    with pytest.raises(TypeError, match="unknown option"):
        get_backend("joblib-threading", 2, start_timeout=5)


def test_pool_start_timeout_is_enforced(tmp_path):
    """A warm-up slower than start_timeout fails the start with the option's name."""
    from genre_hpc.backends import BackendError

    with pytest.raises(BackendError, match="start_timeout"):
        with get_backend("pool-map", 2, start_timeout=1.0, warmup=funcs.slow_warmup):
            pass


# -- the worker toolkit ----------------------------------------------------------------------


def test_process_backends_import_the_toolkit_not_each_other():
    """multiprocessing, dask, joblib and ipyparallel import shared machinery from _workers /
    _cluster / base only."""
    families = {"multiprocessing", "dask", "joblib", "ipyparallel"}
    for family in families:
        tree = ast.parse((BACKENDS / f"{family}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert node.module not in families, f"{family}.py imports from .{node.module}"


def test_worker_lost_is_one_message():
    running = workers_mod.worker_lost("pool-map", pid=12, exitcode=-signal.SIGKILL, item=2)
    assert isinstance(running, WorkerLost) and running.item == 2
    assert str(running) == "pool-map: worker process 12 died (killed by signal SIGKILL) while running item 2"
    idle = workers_mod.worker_lost(
        "pool-map", pid=12, exitcode=1, running=False, detail="between maps", consequence="the pool stops"
    )
    assert idle.item is None
    assert str(idle) == (
        "pool-map: worker process 12 died (exit code 1) while idle (between maps); the pool stops"
    )
    unknown = workers_mod.worker_lost("joblib-loky", detail="TerminatedWorkerError")
    assert str(unknown) == "joblib-loky: a worker process died (TerminatedWorkerError)"
    assert unknown.item is None


def test_run_item_logs_the_item_while_it_runs(tmp_path):
    log = workers_mod.FileLog(str(tmp_path))
    seen = {}

    def peek(x):
        seen["file"] = log.running()
        seen["here"] = workers_mod.running_here()[1]
        return x * 2

    assert workers_mod.run_item(peek, (7, 21), log) == 42
    ((pid, key, ran),) = seen["file"]
    assert pid == os.getpid() and key == 7 and ran >= 0
    assert log.running() == [] and os.listdir(tmp_path) == []  # ended: no file left

    assert workers_mod.run_item(peek, (("run", 3), 1)) == 2  # no log given: this process's table
    assert ("run", 3) in seen["here"]
    assert ("run", 3) not in workers_mod.running_here()[1]


def test_job_keys_round_trip():
    assert workers_mod.split_key(workers_mod.job_key(5, 123)) == (5, 123)


# -- the cluster base ------------------------------------------------------------------------


@pytest.mark.slow
def test_dask_distributed_local_cluster_through_the_cluster_base():
    pytest.importorskip("distributed")
    from distributed import Client

    b = get_backend("dask-distributed", 2)
    assert b.external is False and b.client is None and b.worker_count() == 0
    with b:
        assert isinstance(b.client, Client)
        assert b.worker_count() == 2
        d = b.describe()
        assert d["external"] is False and d["malloc_trim_threshold"] is None
        assert b.client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert b.map(funcs.square, range(5)) == [0, 1, 4, 9, 16]
        cluster = b._cluster
    assert b.client is None and cluster.status.name == "closed"  # it stopped what it started


def test_cluster_backends_are_external_when_given_a_cluster():
    pytest.importorskip("distributed")
    b = get_backend("dask-distributed", 2, scheduler="tcp://127.0.0.1:8786")
    assert b.external is True and b.connect == {"scheduler": "tcp://127.0.0.1:8786"}
    assert b.describe()["scheduler"] == "tcp://127.0.0.1:8786" and b.describe()["external"] is True
    pytest.importorskip("ipyparallel")
    ipp = get_backend("ipyparallel", 2, profile="genre", cluster_id="x")
    assert ipp.external is True and ipp.describe()["profile"] == "genre"
    assert get_backend("ipyparallel", 2).describe()["external"] is False
