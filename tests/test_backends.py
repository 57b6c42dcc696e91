"""Every backend behind the one contract, with real workers (no mocks) and tiny work.

Results in input order, ``ItemError`` naming the item, warm-up and thread
limit inside the workers, no child process left after the ``with`` block, a
killed worker costs at most its item (replaced, the item retried, then lost:
``on_lost`` or ``WorkerLost``; on dask-distributed Dask retries), the per-item
timeout, missing extras.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import _backend_funcs as funcs
import psutil
import pytest

from genre_hpc.backends import (
    BackendError,
    BackendUnavailable,
    ItemError,
    ItemTimeout,
    WorkerLost,
    backend_names,
    get_backend,
    get_backend_class,
)

TESTS = Path(__file__).resolve().parent
ALL = backend_names()
PROCESS_BACKENDS = [n for n in ALL if get_backend_class(n).uses_processes]
IN_CALLER = [n for n in ALL if get_backend_class(n).runs_in_caller]
TIMEOUT_BACKENDS = [n for n in ALL if get_backend_class(n).supports_timeout]
#: backends that replace a killed worker and retry its item (not a hang, not the whole map)
KILL_FAILS = [
    "pool-apply",
    "pool-apply-async",
    "pool-map",
    "pool-map-async",
    "process",
    "dask-processes",
    "joblib-loky",
]
#: processes that live as long as this test process (multiprocessing's and loky's
#: resource trackers, the forkserver): started once, not leaked by a backend
SINGLETONS = ("resource_tracker", "forkserver")
SLOW = {"dask-distributed", "ipyparallel"}


def workers_for(name: str) -> int:
    return 1 if name in ("serial", "dask-synchronous") else 2  # the two that run one worker only


def params(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


def children() -> dict[int, str]:
    out = {}
    for c in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(c.cmdline())
            if c.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if not any(s in cmd for s in SINGLETONS):
            out[c.pid] = cmd
    return out


@pytest.fixture(autouse=True)
def engines_find_helpers(monkeypatch):
    """ipyparallel engines are plain subprocesses: let them import ``_backend_funcs``."""
    old = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(TESTS) + (os.pathsep + old if old else ""))


@pytest.fixture
def no_leaks():
    """Fail if a child process started during the test outlives it (after a grace period)."""
    before = set(children())
    yield
    deadline = time.monotonic() + 20
    while True:
        extra = {p: c for p, c in children().items() if p not in before}
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not extra, f"child processes left behind: {extra}"


# -- the contract, for every backend ---------------------------------------------------


@pytest.mark.parametrize("name", params(ALL))
def test_contract(name, no_leaks):
    items = list(range(9))
    seen = []
    t0 = time.perf_counter()
    with get_backend(name, workers_for(name), warmup=funcs.mark_warm) as b:
        assert 0 < b.startup_s < math.inf
        assert b.startup_s <= time.perf_counter() - t0
        assert b.map(funcs.square, items, progress=seen.append) == [funcs.square(x) for x in items]
        assert sum(seen) == len(items) and all(n > 0 for n in seen)
        assert b.map(funcs.square, []) == []
        assert b.map(funcs.square, iter([3, 1, 2])) == [9, 1, 4]  # any iterable

        # warm-up ran in every worker before its items
        assert all(b.map(funcs.is_warm, range(4)))

        # BLAS limited to thread_limit=1 in workers (process-wide for in-caller backends)
        states = b.map(funcs.worker_state, range(4))
        assert {s["blas"] for s in states} == {1}
        if name in PROCESS_BACKENDS:
            assert {s["OMP_NUM_THREADS"] for s in states} == {"1"}
            assert os.getpid() not in {s["pid"] for s in states}
        if name in PROCESS_BACKENDS and name != "ipyparallel":  # engines stop on their own SIGINT
            # a Ctrl-C reaches the parent only, which stops the workers (tests/test_faults.py)
            assert all(s["deaf_to_sigint"] for s in states)

        with pytest.raises(ItemError) as info:
            b.map(funcs.fail_on_three, range(5))
        assert info.value.item == 3
        assert "bad item 3" in str(info.value) and "item 3" in str(info.value)
        # the worker's own traceback comes along: the line that raised (process sent none)
        import traceback

        assert 'raise ValueError(f"bad item {x}")' in "".join(traceback.format_exception(info.value))

        with pytest.raises(ItemError) as info:
            b.map(funcs.fail_unpicklable, range(3))
        assert info.value.item == 1 and "cannot travel" in str(info.value)

        # still usable after an item failed, its workers as warm and deaf to Ctrl-C as before (joblib
        # replaced loky's workers after an error by loky's own start method, cold; and the
        # aborted call's results could come back from the next, shorter map: IndexError)
        with pytest.raises(ItemError):
            b.map(funcs.fail_on_three, range(12))
        assert b.map(funcs.square, [5, 6]) == [25, 36]
        assert all(b.map(funcs.is_warm, range(4)))
        if name in PROCESS_BACKENDS and name != "ipyparallel":
            assert all(s["deaf_to_sigint"] for s in b.map(funcs.worker_state, range(4)))
        d = b.describe()
        assert d["backend"] == name and d["thread_limit"] == 1 and d["warmup"].endswith("mark_warm")
    assert b.shutdown_s >= 0
    with pytest.raises(BackendError, match="outside its 'with' block"):
        b.map(funcs.square, [1])


@pytest.mark.parametrize("name", IN_CALLER)
def test_in_caller_thread_limit_is_restored(name):
    import numpy  # noqa: F401  (loads the BLAS, so there is a pool to limit and to count)
    from threadpoolctl import threadpool_limits

    from genre_hpc.threads import thread_info

    # start from 2 BLAS threads, so both the limit and its restoration show in the count
    with threadpool_limits(limits=2, user_api="blas"):
        before = thread_info()["blas"]
        assert before == 2
        with get_backend(name, workers_for(name), thread_limit=1) as b:
            assert thread_info()["blas"] == 1
            b.map(funcs.square, [1])
        assert thread_info()["blas"] == before


def test_joblib_loky_with_one_worker_says_it_runs_in_the_caller():
    with get_backend("joblib-loky", 1) as one:
        assert {s["pid"] for s in one.map(funcs.worker_state, [0, 1])} == {os.getpid()}
        assert one.describe()["runs_in_caller"] is True
    assert "runs_in_caller" not in get_backend("joblib-loky", 2).describe()


def test_ipyparallel_chunks_keep_order_and_name_the_failed_item(no_leaks):
    pytest.importorskip("ipyparallel")
    with get_backend("ipyparallel", 2, chunksize=4) as b:
        assert b.describe()["chunksize"] == 4
        assert b.map(funcs.square, range(19)) == [x * x for x in range(19)]
        with pytest.raises(ItemError) as info:
            b.map(funcs.fail_on_three, range(9))
        assert info.value.item == 3
    assert get_backend("ipyparallel", 2).describe()["chunksize"] == "auto"


def test_registry_order_and_names():
    assert ALL == [
        "serial",
        "pool-apply",
        "pool-apply-async",
        "pool-map",
        "pool-map-async",
        "process",
        "dask-synchronous",
        "dask-threads",
        "dask-processes",
        "dask-distributed",
        "ipyparallel",
        "joblib-threading",
        "joblib-loky",
    ]
    with pytest.raises(KeyError, match="unknown backend"):
        get_backend("nope")


def test_options_are_checked():
    with pytest.raises(TypeError, match="unknown option"):
        get_backend("pool-map", 2, start_methd="spawn")
    with pytest.raises(ValueError, match="does not support a per-item timeout"):
        get_backend("serial", 1, timeout=1)
    with pytest.raises(ValueError, match="start_method"):
        get_backend("pool-map", 2, start_method="teleport")
    with pytest.raises(ValueError):
        get_backend("serial", 2)
    with pytest.raises(ValueError):
        get_backend("pool-map", 0)


def test_import_is_light():
    """Importing the registry and every backend class loads neither Dask nor ipyparallel."""
    code = (
        "import sys, genre_hpc.backends as b\n"
        "[b.get_backend_class(n) for n in b.backend_names()]\n"
        "heavy = [m for m in ('dask', 'distributed', 'ipyparallel') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(
    "name,module,extra",
    [
        ("dask-threads", "dask", "genre-hpc[dask]"),
        ("dask-distributed", "distributed", "genre-hpc[dask]"),
        ("ipyparallel", "ipyparallel", "genre-hpc[ipp]"),
    ],
)
def test_missing_extra(name, module, extra, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(BackendUnavailable, match=extra.replace("[", r"\[").replace("]", r"\]")):
        get_backend(name, 2)


@pytest.mark.parametrize("method", ["forkserver", "fork"])
def test_start_methods(method, no_leaks):
    import multiprocessing

    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} not available here")
    for name in ("pool-map", "process"):
        with get_backend(name, 2, start_method=method, warmup=funcs.mark_warm) as b:
            assert b.describe()["start_method"] == method
            assert b.map(funcs.square, range(5)) == [0, 1, 4, 9, 16]
            assert all(b.map(funcs.is_warm, range(3)))


@pytest.mark.parametrize("name", ["serial", "pool-map", "process", "dask-processes", "joblib-loky"])
def test_failed_warmup_is_a_clean_backend_error(name, no_leaks):
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="warm-up failed on purpose"):
        with get_backend(name, workers_for(name), warmup=funcs.fail_warmup) as b:
            b.map(funcs.square, [1])  # the process backend warms each child: fails here
    assert time.monotonic() - t0 < 60


def test_pool_map_chunksize():
    from genre_hpc.backends._workers import auto_chunksize

    assert auto_chunksize(10, 2) == 1
    assert auto_chunksize(1000, 2) == 63
    assert auto_chunksize(10**6, 4) == 64
    with get_backend("pool-map", 2, chunksize=3) as b:
        assert b.describe()["chunksize"] == 3
        assert b.map(funcs.square, range(10)) == [x * x for x in range(10)]


# -- a dying worker, a stuck item --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", KILL_FAILS)
def test_killed_worker_costs_only_its_item(name, tmp_path, no_leaks):
    """A worker killed while running an item is replaced and the item runs again (retries=1);
    an item that kills its worker on every attempt is lost (on_lost, or WorkerLost) while every
    other item completes, and the backend stays usable."""
    with get_backend(name, 2) as b:
        assert b.retries == 1
        # killed once: the second attempt succeeds, every result is there
        assert b.map(funcs.kill_once, [(str(tmp_path), x) for x in range(6)]) == list(range(6))
        assert (tmp_path / "killed").exists()  # a worker really died

        # killed on every attempt: on_lost's value takes the item's place
        seen = []
        out = b.map(funcs.kill_on_two, range(6), progress=seen.append, on_lost=lambda item, err: err)
        assert out[:2] + out[3:] == [0, 1, 3, 4, 5] and sum(seen) == 6
        lost = out[2]
        assert isinstance(lost, WorkerLost) and lost.item == 2 and lost.attempts == 2
        assert "died" in str(lost) and "item 2" in str(lost) and "2 attempts" in str(lost)
        if lost.exitcode is not None or name != "joblib-loky":  # loky kills its other workers too
            assert (
                lost.exitcode == -signal.SIGKILL and "SIGKILL" in str(lost) and lost.how.endswith("SIGKILL")
            )

        # without on_lost the loss is raised (after the retries), and the backend stays usable
        with pytest.raises(WorkerLost) as info:
            b.map(funcs.kill_on_two, range(4))
        assert info.value.item == 2 and info.value.attempts == 2
        assert b.map(funcs.square, range(4)) == [0, 1, 4, 9]


@pytest.mark.slow
def test_retries_zero_and_recycled_workers(tmp_path, no_leaks):
    """retries=0: the first death loses the item; max_tasks_per_worker replaces workers that
    retire normally (exit code 0) without taking them for lost ones."""
    with get_backend("pool-apply-async", 2, retries=0) as b:
        out = b.map(funcs.kill_once, [(str(tmp_path), x) for x in range(4)], on_lost=lambda i, e: e)
        assert isinstance(out[2], WorkerLost) and out[2].attempts == 1 and out[:2] + out[3:] == [0, 1, 3]
    with get_backend("pool-map", 2, max_tasks_per_worker=1, chunksize=1) as b:
        assert b.describe()["max_tasks_per_worker"] == 1
        states = b.map(funcs.worker_state, range(5))
        assert len({s["pid"] for s in states}) > 2  # workers were replaced
        assert {s["OMP_NUM_THREADS"] for s in states} == {"1"}  # replacements are set up too


def test_retry_options_are_checked():
    with pytest.raises(ValueError, match="retries must be >= 0"):
        get_backend("pool-map", 2, retries=-1)
    with pytest.raises(ValueError, match="max_tasks_per_worker"):
        get_backend("pool-map", 2, max_tasks_per_worker=0)
    with pytest.raises(TypeError, match="unknown option"):
        get_backend("serial", 1, retries=1)  # runs in the caller: nothing to retry on
    takes = {n for n in ALL if "retries" in get_backend_class(n).option_names}
    assert takes == set(KILL_FAILS) | {"ipyparallel"}


@pytest.mark.slow
def test_killed_worker_dask_distributed_completes(tmp_path, no_leaks):
    items = [(str(tmp_path), x) for x in range(6)]
    with get_backend("dask-distributed", 2) as b:
        assert b.map(funcs.kill_once, items) == list(range(6))
    assert (tmp_path / "killed").exists()  # a worker really died


@pytest.mark.slow
def test_dask_distributed_sends_chunks_and_a_lost_chunk_runs_again_item_by_item(no_leaks):
    """Items go ``chunksize`` to a task (counted on the workers); an item error names its item
    inside a chunk; a chunk whose worker dies on every attempt runs again one item per task, so
    only the killing item is lost and the others of its chunk complete."""
    import dask

    with get_backend("dask-distributed", 2, chunksize=3) as b:
        assert b.describe()["chunksize"] == 3
        assert b.map(funcs.square, range(7)) == [x * x for x in range(7)]
        assert sum(b.cluster_info()["tasks_per_worker"].values()) == 3  # 3 + 3 + 1 items

        with pytest.raises(ItemError) as info:
            b.map(funcs.fail_on_three, range(6))
        assert info.value.item == 3

        # a result that cannot come back fails its chunk outside any item: the chunk's items
        # run again alone, and the error names the item
        with pytest.raises(ItemError, match="could not be sent back") as info:
            b.map(funcs.lock_on_four, range(6))
        assert info.value.item == 4

        seen = []
        out = b.map(funcs.kill_on_two, range(6), progress=seen.append, on_lost=lambda item, err: err)
        assert out[:2] + out[3:] == [0, 1, 3, 4, 5] and sum(seen) == 6
        tries = 1 + dask.config.get("distributed.scheduler.allowed-failures")
        assert isinstance(out[2], WorkerLost) and out[2].item == 2
        assert out[2].attempts == 2 * tries and f"{tries} in its chunk, then {tries} alone" in str(out[2])
        assert b.map(funcs.square, range(7)) == [x * x for x in range(7)]  # still usable
    with pytest.raises(ValueError, match="chunksize"):
        get_backend("dask-distributed", 2, chunksize=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", TIMEOUT_BACKENDS)
def test_timeout(name, no_leaks):
    t0 = time.monotonic()
    with pytest.raises(ItemTimeout) as info:
        with get_backend(name, 2, timeout=3.0) as b:
            b.map(funcs.sleep_on_one, range(4))
    assert time.monotonic() - t0 < 25
    assert info.value.item == 1 and "timeout" in str(info.value)
    assert isinstance(info.value, ItemError) and isinstance(info.value, BackendError)


def test_timeout_backends_documented():
    assert set(TIMEOUT_BACKENDS) == {
        "pool-apply",
        "pool-apply-async",
        "pool-map",
        "pool-map-async",
        "process",
        "dask-processes",
        "dask-distributed",
        "joblib-loky",
    }


# -- dask-distributed worker environment ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("setting,expected", [(None, None), (65536, "65536")])
def test_dask_distributed_malloc_trim(setting, expected, no_leaks):
    before = dict(os.environ)
    with get_backend("dask-distributed", 2, malloc_trim_threshold=setting) as b:
        states = b.map(funcs.worker_state, range(4))
        assert b.describe()["malloc_trim_threshold"] == setting
    assert {s["MALLOC_TRIM_THRESHOLD_"] for s in states} == {expected}
    assert {s["OMP_NUM_THREADS"] for s in states} == {"1"}
    assert dict(os.environ) == before  # the nanny's environment did not leak into this process


# -- real work: the feature table -------------------------------------------------------------


@pytest.fixture(scope="module")
def three_wavs(tmp_path_factory):
    import numpy as np
    import soundfile as sf

    root = tmp_path_factory.mktemp("wavs")
    sr = 22050
    t = np.arange(int(3.5 * sr)) / sr
    for k, (genre, name) in enumerate([("blues", "a.wav"), ("blues", "b.wav"), ("rock", "c.wav")]):
        rng = np.random.default_rng(k)
        y = 0.4 * np.sin(2 * np.pi * (220 + 110 * k) * t) + 0.05 * rng.standard_normal(t.size)
        (root / genre).mkdir(exist_ok=True)
        sf.write(str(root / genre / name), y.astype(np.float32), sr)
    return root


@pytest.fixture(scope="module")
def serial_table(three_wavs):
    from genre_hpc.extract import extract_features

    res = extract_features(three_wavs, backend="serial", workers=1, cache=False, progress=False)
    assert not res.failures and len(res.table) == 3
    return res.table


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pool-map"])
def test_extract_features_same_table(name, three_wavs, serial_table, no_leaks):
    """The feature table through process workers, warmed with warm_librosa, equals serial's.

    With "fork" the workers inherit the numba code the serial run compiled here
    (docs/backends.md: start method), which keeps this test short.
    """
    import multiprocessing
    import pickle

    from genre_hpc.backends import warm_librosa
    from genre_hpc.extract import extract_features

    assert pickle.loads(pickle.dumps(warm_librosa)) is warm_librosa
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    res = extract_features(
        three_wavs,
        backend=name,
        workers=2,
        cache=False,
        progress=False,
        backend_options={"warmup": warm_librosa, "start_method": method},
    )
    assert not res.failures
    assert res.startup_s > 0
    assert res.table.equals(serial_table)


def test_a_function_of_an_interactive_session_is_refused_at_once_by_the_multiprocessing_backends():
    # forkserver workers import a function by module and name: one defined in `python -c`, the
    # REPL or a notebook is not there, and every worker died at its first task (the map hung)
    code = (
        "import genre_hpc as gh\n"
        "def sq(x): return x * x\n"
        "for name in ('pool-map', 'process', 'joblib-loky'):\n"
        "    with gh.get_backend(name, 2) as b:\n"
        "        try: print(name, b.map(sq, [1, 2, 3]))\n"
        "        except Exception as e: print(name, 'refused:', e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("pool-map", "process"):
        assert any(
            line.startswith(f"{name} refused: {name}: sq is defined in an interactive session")
            for line in lines
        ), proc.stdout
    assert "joblib-loky [1, 4, 9]" in lines  # loky sends the function by value
    assert "Can't get attribute" not in proc.stderr  # no worker died trying


def test_workers_that_die_at_every_first_task_end_the_map_instead_of_hanging():
    # an item of a class defined in `python -c` cannot be unpickled in a forkserver worker: each
    # worker died taking it, some between two looks of the watcher (replaced and reaped by the
    # pool unseen), so the deaths went uncounted and the map of 3 items waited forever
    code = (
        "import genre_hpc as gh\n"
        "class Item:\n"
        "    pass\n"
        "with gh.get_backend('pool-map', 2) as b:\n"
        "    try: b.map(repr, [Item(), Item(), Item()])\n"
        "    except Exception as e: print('gave up:', type(e).__name__, e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "workers died without an item in this map: giving up" in proc.stdout
    assert "an item's class defined in an interactive session" in proc.stdout
