"""joblib backends: ``joblib-threading`` and ``joblib-loky``.

Both keep one ``joblib.Parallel(n_jobs=workers, backend=...)`` open for the
``with`` block (its context-manager form, so the workers are reused across
maps) and read results with ``return_as="generator_unordered"``, so progress
is reported as items finish. Batching is joblib's ``batch_size="auto"``
unless the option ``batch_size`` is given.

``joblib-loky``: the loky executor starts its processes with loky's own
spawn-like method; ``thread_limit`` goes to ``inner_max_num_threads`` (the
environment of the workers) and to threadpoolctl in a worker initializer,
which also runs ``warmup``. Start-up returns once every worker has run a
rendezvous task, so all are warm. With ``timeout``, each item writes its
start time to a small file and a watchdog thread kills the worker of an item
that overruns (loky then reports the dead worker, and the backend raises
:class:`~.base.ItemTimeout` naming the item); joblib's own ``timeout`` is not
used: it means "no result for that long", which queued items would trip. At
exit the executor is shut down with its workers killed: loky would otherwise
keep them idle for 300 s, which a timed study must not leak.

With ``workers=1`` joblib runs the items in the calling process (its rule
for ``n_jobs=1``); the thread limit and the warm-up then apply here.

``joblib-threading``: a thread pool in this process; ``warmup`` runs here,
the thread limit is process-wide, and there is no timeout (a thread cannot
be stopped).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import warnings

from ..threads import thread_env
from . import forkserver
from ._workers import (
    FileLog,
    LostItems,
    Watchdog,
    check_init,
    init_in_caller,
    interrupts_blocked,
    pool_initializer,
    run_item,
    stop_processes,
    worker_lost,
)
from .base import Backend, BackendError, ItemError, ItemTimeout


def _indexed_call(fn, i, item, log=None):
    """Run one item; with ``log`` (a :class:`~._workers.FileLog`), say in it which item runs
    here since when."""
    return i, run_item(fn, (i, item), log)


def _rendezvous(folder: str, n: int, timeout: float) -> int:
    """Start-up task: wait until ``n`` distinct workers have checked in ``folder``.

    A worker waiting here takes no other task, so ``n`` of these run on
    ``n`` different processes; each one has run its initializer (and the
    warm-up) before.
    """
    check_init()
    open(os.path.join(folder, str(os.getpid())), "w").close()
    deadline = time.monotonic() + timeout
    while len(os.listdir(folder)) < n:
        if time.monotonic() > deadline:
            raise BackendError(
                f"only {len(os.listdir(folder))} of {n} joblib workers started within {timeout:g} s"
            )
        time.sleep(0.01)
    return os.getpid()


class _JoblibBackend(Backend):
    joblib_backend = "threading"
    option_names: tuple[str, ...] = ("batch_size",)
    _broken: str | None = None

    def _parallel_kwargs(self) -> dict:
        bs = self.options.get("batch_size") or "auto"
        return dict(n_jobs=self.workers, return_as="generator_unordered", batch_size=bs, timeout=self.timeout)

    def describe(self) -> dict:
        return {**super().describe(), "batch_size": self._parallel_kwargs()["batch_size"]}

    def _start(self):
        import joblib

        self._parallel = joblib.Parallel(backend=self.joblib_backend, **self._parallel_kwargs())
        self._parallel.__enter__()

    def _stop(self):
        par = getattr(self, "_parallel", None)
        self._parallel = None
        if par is not None:
            par.__exit__(None, None, None)

    def _restart_after_error(self) -> None:
        """After an item's error joblib aborts the call, and the aborted call's results could
        come back from the next call (a shorter next map failed with IndexError); loky's workers
        are replaced by loky's own start method (not the warm forkserver, no warm-up). So the
        backend stops and starts afresh and stays usable, as documented; a restart that fails
        leaves it broken (the next map says so). With 1 worker joblib runs the items in this
        process: nothing to restart."""
        if self.workers == 1:
            return
        try:
            self._stop()
            self._start()
        except Exception as exc:  # noqa: BLE001 - the item's error is the one to raise now
            self._broken = f"could not restart after an item's error: {type(exc).__name__}: {exc}"

    def _map(self, fn, items, progress):
        from joblib import delayed

        if self._broken:
            raise BackendError(f"{self.name}: the workers are broken ({self._broken}); start a new backend")
        out = [None] * len(items)
        log, dog = self._track_start()
        try:
            for i, value in self._parallel(
                delayed(_indexed_call)(fn, i, item, log) for i, item in enumerate(items)
            ):
                out[i] = value
                progress(1)
        except ItemError:
            self._restart_after_error()
            raise
        except Exception as exc:
            if type(exc).__name__ != "TerminatedWorkerError":
                raise
            self._broken = "a worker died"
            if dog is not None:
                dog.stop()
                if dog.fired is not None:
                    i, ran = dog.fired
                    raise ItemTimeout(items[i], self.timeout, ran) from None
            raise worker_lost(self.name, detail=str(exc)) from exc
        finally:
            self._track_stop(log, dog)
        return out

    def _track_start(self):
        return None, None

    def _track_stop(self, log, dog):
        pass


class JoblibThreadingBackend(_JoblibBackend):
    """``joblib-threading``: ``Parallel(backend="threading")``."""

    name = "joblib-threading"
    joblib_backend = "threading"
    runs_in_caller = True


class JoblibLokyBackend(_JoblibBackend):
    """``joblib-loky``: ``Parallel(backend="loky")`` with warm, thread-limited workers."""

    name = "joblib-loky"
    joblib_backend = "loky"
    uses_processes = True
    supports_timeout = True
    option_names = _JoblibBackend.option_names + ("start_timeout", "retries", "start_method")
    #: loky's start methods this backend accepts (``loky`` is loky's own spawn-like method)
    START_METHODS = ("forkserver", "loky", "spawn")

    def __init__(self, workers: int = 1, **kwargs):
        super().__init__(workers, **kwargs)
        if self.timeout is not None and self.workers == 1:
            raise ValueError(
                "joblib-loky with workers=1 runs in the calling process (joblib's rule for "
                "n_jobs=1), where a per-item timeout cannot be enforced; use workers >= 2"
            )
        method = self.options.get("start_method") or ("forkserver" if forkserver.available() else "loky")
        if method not in self.START_METHODS or (method == "forkserver" and not forkserver.available()):
            raise ValueError(
                f"joblib-loky: start_method {method!r} is not available here; choose one of "
                f"{', '.join(m for m in self.START_METHODS if m != 'forkserver' or forkserver.available())}"
            )
        self.start_method = method
        self._executor = None
        self._server_held = False

    def describe(self) -> dict:
        d = {**super().describe(), "start_method": self.start_method}
        if self.workers == 1:
            d["runs_in_caller"] = True  # joblib's rule for n_jobs=1: no worker process
            d.pop("start_method")
        return d

    @contextlib.contextmanager
    def _loky_start_method(self):
        """loky's default start method set to :attr:`start_method` while the executor is made
        (the executor keeps its context; loky's global default is restored)."""
        from joblib.externals.loky.backend import context

        before = context.get_start_method()
        context.set_start_method(self.start_method, force=True)
        try:
            yield
        finally:
            context.set_start_method(before, force=True)

    def _start(self):
        import joblib
        from joblib import delayed

        kwargs = self._parallel_kwargs()
        if self.workers == 1:
            # joblib runs n_jobs=1 sequentially in this process: set it up here
            self._caller_limit = init_in_caller(self.thread_limit, self.warmup)
        elif self.start_method == "forkserver":
            # the process' forkserver, warm: loky's workers fork from it (loky passes no
            # environment to forkserver children: the server's is the thread limit's)
            forkserver.acquire([self.warmup], env=thread_env(self.thread_limit))
            self._server_held = True
        with joblib.parallel_config(backend="loky", inner_max_num_threads=self.thread_limit):
            self._parallel = joblib.Parallel(
                initializer=pool_initializer, initargs=(self.thread_limit, self.warmup, None), **kwargs
            )
        from joblib.externals.loky.backend import resource_tracker as loky_tracker

        loky_tracker.ensure_running()  # its start unblocks SIGINT: not inside the block below
        # the workers (and loky's threads) never see a Ctrl-C
        with self._loky_start_method(), interrupts_blocked():
            self._parallel.__enter__()
        self._executor = getattr(self._parallel._backend, "_workers", None)
        folder = tempfile.mkdtemp(prefix="genre-hpc-loky-")
        n = self.workers
        batch_size, self._parallel.batch_size = self._parallel.batch_size, 1  # one rendezvous per task
        try:
            with interrupts_blocked():
                ready = self._parallel(delayed(_rendezvous)(folder, n, self.start_timeout) for _ in range(n))
            pids = list(ready)
            if len(set(pids)) < n:
                raise BackendError(f"{self.name}: only {len(set(pids))} of {n} workers started")
        finally:
            self._parallel.batch_size = batch_size
            shutil.rmtree(folder, ignore_errors=True)

    def _abort(self):
        """After an error or an interrupt: SIGTERM the workers first (they remove a half-written
        cache file and exit; loky's own shutdown kills them with SIGKILL), then stop."""
        ex = self._current_executor() if getattr(self, "_parallel", None) is not None else None
        stop_processes(list((getattr(ex, "_processes", None) or {}).values()))
        self._stop()

    def _stop(self):
        # joblib replaces the executor after an error (abort_everything): take the current one
        par = getattr(self, "_parallel", None)
        ex = getattr(getattr(par, "_backend", None), "_workers", None) or self._executor
        self._executor = None
        try:
            super()._stop()
        finally:
            try:
                if ex is not None:
                    try:
                        ex.shutdown(wait=True, kill_workers=True)
                    except TypeError:  # pragma: no cover - older loky
                        ex.shutdown(wait=True)
            finally:
                if self._server_held:
                    self._server_held = False
                    forkserver.release()

    def _parallel_kwargs(self) -> dict:
        # the watchdog enforces the per-item timeout; joblib's own timeout
        # ("no result for `timeout` seconds") would fire on queued items
        return {**super()._parallel_kwargs(), "timeout": None}

    def _track_start(self):
        if self.workers == 1:
            return None, None
        # which item runs where since when: for the timeout, and to know what a dead worker ran
        log = FileLog(tempfile.mkdtemp(prefix="genre-hpc-loky-track-"))
        dog = None
        if self.timeout is not None:
            dog = Watchdog(self.timeout, log.running)
            dog.start()
        return log, dog

    def _map(self, fn, items, progress):
        """Run the items; when loky reports a dead worker (it then kills all its workers and
        joblib starts new ones), keep the results so far and run the rest again: the item the
        dead worker ran (known when it was the only one running, else each that ran goes
        again alone) runs again or is lost (:class:`~._workers.LostItems`)."""
        if self.workers == 1:  # joblib runs the items here: nothing to lose but the caller
            return super()._map(fn, items, progress)
        if self._broken:
            raise BackendError(f"{self.name}: the workers are broken ({self._broken}); start a new backend")
        with warnings.catch_warnings():
            # loky's note on a dead worker ("A worker stopped while some jobs were given to the
            # executor..."): the loss is handled and reported here, in one line
            warnings.filterwarnings(
                "ignore", message="A worker stopped while some jobs", category=UserWarning
            )
            return self._map_retrying(fn, items, progress)

    def _map_retrying(self, fn, items, progress):
        from joblib import delayed

        out = [None] * len(items)
        done: set[int] = set()
        lost = LostItems(self.name, items, self.retries, self._on_lost, idle_budget=2 * self.workers + 2)
        while True:
            alone = lost.next_alone()
            if alone is not None:
                batch = [alone]
            else:
                batch = [i for i in range(len(items)) if i not in done and i not in lost.lost]
            if not batch:
                return out
            procs = dict(getattr(self._current_executor(), "_processes", None) or {})
            log, dog = self._track_start()
            try:
                with interrupts_blocked():  # workers joblib (re)starts inherit a blocked SIGINT
                    results = self._parallel(delayed(_indexed_call)(fn, i, items[i], log) for i in batch)
                for i, value in results:
                    out[i] = value
                    done.add(i)
                    progress(1)
            except ItemError:
                self._restart_after_error()
                raise
            except Exception as exc:
                if type(exc).__name__ != "TerminatedWorkerError":
                    raise
                if dog is not None:
                    dog.stop()
                    if dog.fired is not None:
                        self._broken = "an item timed out"
                        i, ran = dog.fired
                        raise ItemTimeout(items[i], self.timeout, ran) from None
                self._workers_died(items, lost, log, procs, exc)
                for i, value in lost.lost.items():
                    if i not in done:
                        out[i] = value
                        done.add(i)
                        progress(1)
            finally:
                self._track_stop(log, dog)

    def _current_executor(self):
        return getattr(getattr(self._parallel, "_backend", None), "_workers", None) or self._executor

    def _workers_died(self, items, lost: LostItems, log: FileLog, procs: dict, exc) -> None:
        """loky killed all its workers after one died: tell ``lost`` what was running."""
        running = {pid: key for pid, key, _ in log.running()}
        if len(running) == 1:
            ((pid, i),) = running.items()
            p = procs.get(pid)
            error = worker_lost(self.name, pid=pid, exitcode=getattr(p, "exitcode", None), item=items[i])
            lost.died(i, error, alone=True)
        elif running:
            lost.suspect(sorted(running.values()))
        else:
            lost.idle_death(worker_lost(self.name, detail=str(exc).splitlines()[0], running=False))

    def _track_stop(self, log, dog):
        if dog is not None:
            dog.stop()
        if log is not None:
            shutil.rmtree(log.folder, ignore_errors=True)
