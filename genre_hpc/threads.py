"""BLAS/OpenMP thread pools: the one list of variables, the one limiter, the one probe.

Backends limit the pools inside their workers, the benchmarks limit the benchmark process, the
CNN child sets its own variables; all of them use these names so "threads" means the same thing
everywhere.
"""

from __future__ import annotations

import contextlib
import os
import threading

#: environment variables that size the BLAS/OpenMP pools of a library when it loads
#: (inherited by child processes)
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

_ENV_LOCK = threading.RLock()


def thread_env(thread_limit: int | None) -> dict[str, str]:
    """The environment that limits a child's BLAS/OpenMP pools to ``thread_limit`` threads
    (empty for ``None``: the libraries' defaults)."""
    if thread_limit is None:
        return {}
    return {k: str(int(thread_limit)) for k in THREAD_ENV_VARS}


@contextlib.contextmanager
def patched_environ(env: dict[str, str | None]):
    """Set (value) or remove (``None``) environment variables, restoring them on exit.

    Used around the start of child processes so they inherit thread limits; the parent's
    environment is the same afterwards. Thread-safe against other users of this function.
    """
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in env}
        try:
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = str(v)
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def limit_threads(thread_limit: int | None, *, set_env: bool = True):
    """Limit the BLAS/OpenMP pools of this process to ``thread_limit`` threads.

    Sets :data:`THREAD_ENV_VARS` (read by libraries loaded later and by child processes) when
    ``set_env``, loads NumPy so its BLAS is known, and applies
    :func:`threadpoolctl.threadpool_limits` to the libraries loaded now (call it again after
    loading more).

    Returns
    -------
    threadpoolctl limiter or None
        ``restore_original_limits()`` undoes it; keep a reference for as long as the limit
        should hold. ``None`` when ``thread_limit`` is ``None`` (nothing changed).
    """
    if thread_limit is None:
        return None
    if set_env:
        os.environ.update(thread_env(thread_limit))
    import numpy  # noqa: F401  (loads the BLAS so threadpoolctl sees it)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(thread_limit))


def thread_settings() -> dict:
    """The thread variables and the loaded BLAS/OpenMP pools of this process.

    Returns
    -------
    dict
        ``{"env": {variable: value or None}, "pools": [{"user_api", "internal_api",
        "num_threads"}, ...]}``.
    """
    from threadpoolctl import threadpool_info

    return {
        "env": {v: os.environ.get(v) for v in THREAD_ENV_VARS},
        "pools": [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads")} for p in threadpool_info()
        ],
    }


def max_pool_threads(settings: dict | None = None) -> int:
    """The largest thread pool in ``settings`` (default: this process's), 0 when none is loaded."""
    pools = (settings or thread_settings())["pools"]
    return max((int(p["num_threads"] or 0) for p in pools), default=0)


def pool_threads(_item=None) -> int:
    """The largest BLAS/OpenMP pool of this process, NumPy's BLAS loaded first.

    A top-level function of one (ignored) argument, so a backend can map it over its workers.
    """
    import numpy  # noqa: F401

    return max_pool_threads()


def thread_info() -> dict:
    """``{user_api: num_threads}`` of the pools loaded in this process (e.g. ``{"blas": 1}``)."""
    from threadpoolctl import threadpool_info

    out: dict = {}
    for lib in threadpool_info():
        out[lib["user_api"]] = max(out.get(lib["user_api"], 0), lib["num_threads"])
    return out
