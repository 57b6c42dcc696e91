"""A ``forkserver`` whose process is already warm: workers fork from it warm in milliseconds.

With ``spawn`` every worker is a fresh interpreter that imports librosa, scipy and numba and
compiles librosa's uncached numba kernels again: seconds of CPU per worker and per process
(docs/backends.md). A ``forkserver`` is one clean, single-threaded server process per parent
from which every worker is *forked*; what the server has imported and compiled, every worker
has from its first instruction. This module starts that server with the pipeline's warm-up
already run in it:

- :func:`ensure_server` starts (or reuses) the process' forkserver with
  ``multiprocessing``'s own preload mechanism: the server imports
  :mod:`genre_hpc.backends._preload`, whose import runs the warm-up callables the parent put
  (pickled) in :data:`WARMUP_ENV`. The server's environment is the parent's with the thread
  limit applied (``OMP_NUM_THREADS=1`` & co.), so the server loads its BLAS single-threaded
  and has no thread when it forks.
- A worker forked from the server skips a warm-up the server has already run
  (:func:`genre_hpc.backends._preload.already_warm`): the pool backends' start-up becomes the
  fork, the thread limit and the start-up barrier.
- The server is shared by every backend of this process (it is ``multiprocessing``'s
  singleton). A backend that needs a warm-up the running server lacks restarts it with its
  own warm-ups when no worker of this module's users is alive (a forkserver child whose
  server stops looks dead to its parent); otherwise it keeps the server and every worker runs
  the missing warm-up itself after the fork (slower, still correct). Callers that know they
  will need several warm-ups ask for all of them at once (:func:`prestart_for`: the stage's
  and ``import distributed``).
- :func:`prestart` starts the server and waits until it is warm, so that a caller can pay
  (and report) that once-per-process cost apart from a backend's start-up.

Warm-ups run in the server must not start threads (a fork copies no thread but every lock
one held): imports, numba compilation and filter banks are fine; TensorFlow or a Dask client
are not.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import importlib
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Sequence

from ..threads import patched_environ

#: the environment variable that carries the pickled warm-ups to the server
WARMUP_ENV = "GENRE_HPC_FORKSERVER_WARMUPS"
#: the environment variable that carries the parent's main script to the server (imported there)
MAIN_ENV = "GENRE_HPC_FORKSERVER_MAIN"
#: the module the server imports (its import runs the warm-ups)
PRELOAD_MODULE = "genre_hpc.backends._preload"
#: pickle protocol of the warm-up keys (the worker side re-pickles with the same one)
PICKLE_PROTOCOL = 4

#: a warm-up for Dask's workers: ``import distributed`` (what a forked Dask worker needs first)
DISTRIBUTED_IMPORT = functools.partial(importlib.import_module, "distributed")

_LOCK = threading.RLock()
#: what this module knows of the process' forkserver: the server it started (pid), the
#: warm-ups and environment it started it with, and the live users (backends with workers)
_STATE: dict = {"pid": None, "warmups": (), "env": (), "users": 0, "started_s": None}


def available() -> bool:
    """Whether this platform has the ``forkserver`` start method (not Windows)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def warmup_key(fn: Callable) -> bytes:
    """The bytes a warm-up is known by, in the parent and in the server and its workers."""
    return pickle.dumps(fn, protocol=PICKLE_PROTOCOL)


def _forkserver():
    from multiprocessing import forkserver

    return forkserver._forkserver


def _running_pid() -> int | None:
    """The pid of the process' forkserver if one runs (ours or another library's)."""
    fs = _forkserver()
    pid = fs._forkserver_pid
    if pid is None:
        return None
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        done = pid
    return None if done else pid


def _stop_server() -> None:
    """Stop the forkserver now (it may be busy warming up: it is killed, not asked)."""
    fs = _forkserver()
    with fs._lock:
        pid = fs._forkserver_pid
        if pid is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    break
                time.sleep(0.01)
            else:
                continue
            break
        try:
            os.close(fs._forkserver_alive_fd)
        except (OSError, TypeError):
            pass
        address = fs._forkserver_address
        if address and not address.startswith("\0"):
            with contextlib.suppress(OSError):
                os.unlink(address)
        fs._forkserver_pid = fs._forkserver_alive_fd = fs._forkserver_address = None
    _STATE.update(pid=None, warmups=(), env=(), started_s=None)


def ensure_server(warmups: Sequence[Callable] = (), env: dict | None = None) -> dict:
    """Make sure the process' forkserver runs, warmed with ``warmups`` where possible.

    Parameters
    ----------
    warmups : sequence of callable
        Picklable callables of no argument (a backend's ``warmup``) the server should have run.
    env : dict
        Environment variables (``None`` values: removed) the server should start with: the
        thread limit of the workers (``genre_hpc.threads.thread_env``).

    Returns
    -------
    dict
        ``started`` (this call started a server), ``warm`` (the running server was started with
        every requested warm-up and this environment: workers skip the warm-up), ``pid``.
    """
    want = tuple(dict.fromkeys(warmup_key(w) for w in warmups if w is not None))
    # a variable to remove that is not set changes nothing: it must not make two backends' servers
    # differ (a study alternating pools and Dask cells would restart the server every cell)
    env = {k: v for k, v in (env or {}).items() if v is not None or k in os.environ}
    env_key = tuple(sorted(env.items(), key=lambda kv: kv[0]))
    with _LOCK:
        pid = _running_pid()
        if pid is not None and pid == _STATE["pid"]:
            have = _STATE["warmups"]
            if set(want) <= set(have) and _STATE["env"] == env_key:
                return {"started": False, "warm": True, "pid": pid}
            if _STATE["users"] > 0:  # workers of this server are alive: keep it
                return {"started": False, "warm": False, "pid": pid}
            # restarted with what is asked now (not the union with the old warm-ups: a slow or
            # failing warm-up of a backend long gone must not be run again at every restart)
            _stop_server()
        elif pid is not None:  # another library's server: not ours to stop
            return {"started": False, "warm": False, "pid": pid}
        _start_server(want, env)
        return {"started": True, "warm": True, "pid": _STATE["pid"]}


def main_path() -> str | None:
    """The path of this process' main script as a child would import it: what the server imports
    once so that its children need not. ``None`` for ``-c`` or an interactive session (a child
    imports nothing) and for ``-m`` (a child imports the module by name: left to the children)."""
    from multiprocessing import spawn

    # the rule a child follows (multiprocessing.spawn.prepare); forkserver's ensure_running, just
    # after, makes the same call (and so fixes the default start method either way)
    return spawn.get_preparation_data("genre-hpc").get("init_main_from_path")


def leading_path() -> list[str]:
    """The entries of ``sys.path`` before the standard library's, absolute: where this process
    finds code ahead of the installed packages (the script's folder, ``PYTHONPATH``, or what
    asv's benchmark launcher put first from ``ASV_PYTHONPATH``)."""
    import sys
    import sysconfig

    paths = sysconfig.get_paths()
    stdlib = {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib") if paths.get(k)}
    out = []
    for p in sys.path:
        real = os.path.realpath(p or os.getcwd())
        if real in stdlib or (p.endswith(".zip") and os.path.basename(p).startswith("python")):
            break
        out.append(real)
    return list(dict.fromkeys(out))


def _start_server(warmups: tuple, env: dict) -> None:
    fs = _forkserver()
    payload = base64.b64encode(pickle.dumps(list(warmups), protocol=PICKLE_PROTOCOL)).decode("ascii")
    t0 = time.perf_counter()
    # multiprocessing's preload: modules the server imports before it serves (an ImportError
    # is ignored by the server; _preload itself never raises)
    multiprocessing.get_context("forkserver").set_forkserver_preload([PRELOAD_MODULE])
    # Python 3.11's forkserver ignores the parent's sys.path (3.13 applies it): the server
    # would import the preloaded code from wherever its own path finds it, e.g. an editable
    # install of another checkout when asv dropped PYTHONPATH for ASV_PYTHONPATH. The entries
    # this process finds code in first go first on the server's PYTHONPATH.
    front = leading_path()
    given = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    pythonpath = os.pathsep.join(dict.fromkeys(front + given))
    from ._workers import interrupts_blocked

    # started with SIGINT blocked, which every worker forked from it inherits: a Ctrl-C (sent to
    # the process group) reaches only the parent, which stops the workers (docs/backends.md)
    server_env = {**env, WARMUP_ENV: payload, MAIN_ENV: main_path(), "PYTHONPATH": pythonpath or None}
    with patched_environ(server_env), interrupts_blocked():
        fs.ensure_running()
    _STATE.update(
        pid=fs._forkserver_pid,
        warmups=warmups,
        env=tuple(sorted(env.items(), key=lambda kv: kv[0])),
        started_s=time.perf_counter() - t0,
    )


def acquire(warmups: Sequence[Callable] = (), env: dict | None = None) -> dict:
    """:func:`ensure_server`, and count the caller as a user until :func:`release`.

    While a user is counted the server is never restarted (its workers would look dead).
    """
    with _LOCK:
        info = ensure_server(warmups, env)
        _STATE["users"] += 1
        return info


def release() -> None:
    """The caller's workers are gone (see :func:`acquire`)."""
    with _LOCK:
        _STATE["users"] = max(0, _STATE["users"] - 1)


def _noop() -> None:
    pass


def prestart(warmups: Sequence[Callable] = (), env: dict | None = None, *, wait: bool = True) -> float:
    """Start the forkserver with ``warmups`` and wait until it serves; return the seconds taken.

    The server warms up once per process; a caller that starts it here (a benchmark's setup, a
    scaling study before its first cell) keeps that cost out of the first backend's start-up
    and can report it apart. Waiting means forking one child that does nothing.
    ``wait=False`` starts it and returns at once (0): the server warms up on another core while
    the caller does something else.
    """
    if not available():
        return 0.0
    t0 = time.perf_counter()
    acquire(warmups, env)
    if not wait:
        release()
        return 0.0
    try:
        p = multiprocessing.get_context("forkserver").Process(target=_noop, name="genre-hpc-forkserver-probe")
        p.start()
        p.join()
    finally:
        release()
    return time.perf_counter() - t0


def uses_forkserver(backend: str, **options) -> bool:
    """Whether the registered backend ``backend`` (with these options) starts its workers from
    the forkserver here: the pools, ``process``, ``dask-processes`` and ``joblib-loky`` by
    default, a local ``dask-distributed`` cluster without a ``malloc_trim_threshold``."""
    if not available() or options.get("start_method") not in (None, "forkserver"):
        return False
    if backend in (
        "pool-apply",
        "pool-apply-async",
        "pool-map",
        "pool-map-async",
        "process",
        "dask-processes",
    ):
        return True
    if backend == "joblib-loky":
        return True
    if backend == "dask-distributed":
        return not (
            options.get("scheduler") or options.get("scheduler_file") or options.get("malloc_trim_threshold")
        )
    return False


def prestart_for(backends, warmup=None, thread_limit: int | None = 1, *, wait: bool = True) -> float:
    """:func:`prestart` with what ``backends`` (names) will ask of the server: ``warmup``, and
    ``import distributed`` when a local ``dask-distributed`` cluster is among them. 0 when none
    of them uses the forkserver."""
    from ..threads import thread_env

    names = [b for b in backends if uses_forkserver(b)]
    if not names:
        return 0.0
    warmups = [warmup] if warmup is not None else []
    if "dask-distributed" in names:
        from ..extras import unavailable_reason

        if unavailable_reason(("dask",)) is None:
            warmups.insert(0, DISTRIBUTED_IMPORT)
    return prestart(warmups, env=thread_env(thread_limit), wait=wait)


def describe() -> dict:
    """What this module knows of the server: pid, the number of warm-ups, users."""
    with _LOCK:
        pid = _running_pid()
        ours = pid is not None and pid == _STATE["pid"]
        return {
            "pid": pid,
            "ours": ours,
            "warmups": len(_STATE["warmups"]) if ours else 0,
            "users": _STATE["users"],
        }
