"""Imported by the forkserver before it serves (``multiprocessing``'s preload): run the warm-ups.

The parent (:func:`genre_hpc.backends.forkserver.ensure_server`) puts a pickled list of warm-up
callables in ``$GENRE_HPC_FORKSERVER_WARMUPS`` when it starts the server; importing this
module in the server runs each of them once, so every worker forked from the server starts
with what they imported and compiled. Before them it imports the parent's main script as
``__mp_main__`` (its path in ``$GENRE_HPC_FORKSERVER_MAIN``), as every child of a ``spawn`` or
``forkserver`` parent otherwise does itself at its start (``multiprocessing.spawn.prepare``):
a child forked from a server that did it finds ``__main__`` in place and skips it. Under asv
that script is asv's benchmark launcher, whose import (``asv_runner``) cost each ``process``
child about 110 ms. Nothing here may raise: a failing warm-up is recorded
in :data:`FAILED` and left to the workers, which run it themselves (and report its error as a
failed start-up).

In a worker forked from the server, :func:`already_warm` says whether a warm-up ran here
before the fork.
"""

from __future__ import annotations

import base64
import gc
import os
import pickle

#: keys (pickled bytes) of the warm-ups that ran to completion in this process before forking
RAN: set = set()
#: ``{key: "Type: message"}`` of the warm-ups that failed here
FAILED: dict = {}
#: the BLAS/OpenMP thread limit applied in the server (from its environment), inherited by its
#: workers: a worker with the same ``thread_limit`` need not apply it again (None: not applied)
THREAD_LIMIT: int | None = None
_LIMITER = None

_ENV = "GENRE_HPC_FORKSERVER_WARMUPS"
_MAIN_ENV = "GENRE_HPC_FORKSERVER_MAIN"
_PROTOCOL = 4


def already_warm(fn) -> bool:
    """Whether ``fn`` ran in the forkserver this process was forked from."""
    if not RAN or fn is None:
        return False
    try:
        return pickle.dumps(fn, protocol=_PROTOCOL) in RAN
    except Exception:
        return False


def _apply_thread_limit() -> None:
    """The server's environment carries the workers' thread limit (every variable of
    ``genre_hpc.threads.THREAD_ENV_VARS`` set to one value): apply it here, once, with
    threadpoolctl, so the forked workers have it (reading every loaded library's pools costs a
    worker tens of milliseconds: the ``process`` backend paid it per item)."""
    global THREAD_LIMIT, _LIMITER
    from ..threads import THREAD_ENV_VARS, limit_threads

    values = {os.environ.get(k) for k in THREAD_ENV_VARS}
    if len(values) != 1 or None in values:
        return
    try:
        limit = int(values.pop())
        _LIMITER = limit_threads(limit)
    except Exception:  # never stop the server: the workers apply their limit themselves
        return
    THREAD_LIMIT = limit


def _import_main(path: str) -> None:
    """The parent's main script, imported as ``__mp_main__`` the way ``multiprocessing`` does in
    a child (``spawn.import_main_path``; a script that starts processes when imported is refused
    as it is there). A failure leaves ``__main__`` alone: each child then tries itself, and
    fails as it would have without the server."""
    from multiprocessing import process, spawn

    process.current_process()._inheriting = True
    try:
        spawn.import_main_path(path)
    except BaseException as exc:  # noqa: BLE001 - the server must keep running
        FAILED[b"__main__"] = f"{type(exc).__name__}: {exc}"
    finally:
        del process.current_process()._inheriting


def _run_all(payload: str) -> None:
    try:
        keys = pickle.loads(base64.b64decode(payload))
    except Exception as exc:  # never stop the server
        FAILED[b""] = f"{type(exc).__name__}: {exc}"
        return
    for key in keys:
        try:
            pickle.loads(key)()
        except BaseException as exc:  # noqa: BLE001 - the server must keep running
            FAILED[key] = f"{type(exc).__name__}: {exc}"
        else:
            RAN.add(key)


_main = os.environ.pop(_MAIN_ENV, None)
if _main:
    _import_main(_main)  # first: a warm-up may be a function of the main script
del _main
_payload = os.environ.pop(_ENV, None)
if _payload:
    _run_all(_payload)
    _apply_thread_limit()  # after the warm-ups: the libraries they loaded are limited too
    # everything the warm-ups made lives as long as the workers: out of the garbage
    # collector's sight (a full collection in a worker then skips it: loky collects after a
    # worker's first task, ~0.5 s with librosa loaded otherwise), and its pages stay shared
    gc.freeze()
del _payload
