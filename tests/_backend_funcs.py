"""Top-level helpers for tests/test_backends*.py (importable by spawned workers and engines)."""

from __future__ import annotations

import os
import signal
import time

WARM = False


def square(x):
    return x * x


def fail_on_three(x):
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


class Unpicklable(Exception):
    """An exception that cannot be pickled (holds a lock)."""

    def __init__(self, msg):
        import threading

        super().__init__(msg)
        self.lock = threading.Lock()


def fail_unpicklable(x):
    if x == 1:
        raise Unpicklable("cannot travel")
    return x


def lock_on_four(x):
    """Item 4 returns a result that cannot be pickled (a lock)."""
    import threading

    return threading.Lock() if x == 4 else x


def kill_on_two(x):
    """SIGKILL the worker running item 2."""
    if x == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return x


def kill_once(arg):
    """``arg = (folder, x)``: SIGKILL the worker on the first attempt of item 2 only."""
    folder, x = arg
    marker = os.path.join(folder, "killed")
    if x == 2 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def sleep_on_one(x):
    """Item 1 sleeps far longer than any test's timeout."""
    if x == 1:
        time.sleep(30)
    return x


def mark_warm():
    global WARM
    WARM = True


def fail_warmup():
    raise RuntimeError("warm-up failed on purpose")


def is_warm(_):
    return WARM


def worker_state(_):
    """What the worker sees: its BLAS threads (NumPy's BLAS loaded first, so there is one to
    count) and thread environment."""
    import numpy  # noqa: F401

    from genre_hpc.threads import thread_info

    info = thread_info()
    blocked = (
        signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        if hasattr(signal, "pthread_sigmask")
        else False
    )
    return {
        "blas": info.get("blas"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        "pid": os.getpid(),
        # a Ctrl-C (SIGINT to the process group) cannot reach this worker
        "deaf_to_sigint": blocked or signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
    }


def slow_warmup():
    """A warm-up far longer than a test's start_timeout."""
    time.sleep(5)


def imports_and_threads(modules):
    """``(OMP_NUM_THREADS, whether every module of ``modules`` is imported)`` in this worker."""
    import sys

    return os.environ.get("OMP_NUM_THREADS"), all(m in sys.modules for m in modules)


def where(x):
    """``(Dask worker name or None, pid)`` of the process running item ``x`` (after a short sleep,
    so that items spread over the workers)."""
    time.sleep(0.05)
    try:
        from distributed import get_worker

        name = str(get_worker().name)
    except (ImportError, ValueError):
        name = None
    return name, os.getpid()
