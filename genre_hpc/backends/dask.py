"""Dask backends: ``dask-synchronous``, ``dask-threads``, ``dask-processes``, ``dask-distributed``.

The first three build one ``dask.delayed`` task per item and call
``dask.compute(..., scheduler=..., num_workers=workers)``:

- ``dask-synchronous`` runs in the calling thread (Dask's overhead with no
  parallelism; ``workers`` is ignored);
- ``dask-threads`` uses Dask's thread pool of ``workers`` threads (BLAS and
  OpenMP limits then apply process-wide);
- ``dask-processes`` hands Dask a ``ProcessPoolExecutor`` made at start-up
  (start method, thread limit and warm-up as the pool backends), so process
  start-up is in ``startup_s`` rather than in every ``compute``. Ready tasks
  are batched ``chunksize`` at a time (default :func:`auto_chunksize`, Dask's
  own default is 6).

``dask-distributed`` uses a :class:`distributed.Client`: by default a
``LocalCluster`` of ``workers`` processes x 1 thread on 127.0.0.1 with the
dashboard off, or an existing scheduler given as ``scheduler="tcp://host:port"``
(or ``scheduler_file=``). Warm-up and the thread limit run once on every worker
as a set-up task pinned to it (a task, not ``client.run``, so a long warm-up
does not block the worker's event loop and heartbeats). A worker that dies is
restarted by its nanny and Dask retries its task elsewhere, so the run
completes (a restarted worker keeps the thread-limit environment but is not
warmed again). A per-item ``timeout`` is enforced by asking the workers every
``TIMEOUT_POLL_S`` how long their items run; the futures are cancelled and,
on a LocalCluster we own, the stuck worker is killed (its nanny restarts it).
On an external cluster the overrunning task keeps running on its worker. See docs/backends.md for the
``malloc_trim_threshold`` choice. Connecting or starting, and stopping only a
cluster it started, is :class:`~._cluster.ClusterBackend`'s; inside the
``with`` block ``backend.client`` is the ``distributed.Client``, on which
:mod:`genre_hpc.training` runs ``xgboost-dask`` and ``joblib-dask``.

Dask is imported only when one of these backends is made; without it they
raise :class:`~.base.BackendUnavailable`.
"""

from __future__ import annotations

import concurrent.futures
import functools
import itertools
import logging
import os
import signal
import time

from ..threads import THREAD_ENV_VARS, patched_environ, thread_env
from ._cluster import ClusterBackend
from ._workers import (
    ProcessWorkers,
    Watchdog,
    WorkerSlots,
    auto_chunksize,
    call_portable,
    init_worker,
    job_key,
    kill_pid,
    pool_initializer,
    ready_task,
    run_item,
    running_here,
    worker_lost,
)
from .base import Backend, BackendError, BackendUnavailable, ItemError, ItemTimeout, WorkerLost

#: ``malloc_trim_threshold`` default: leave glibc's adaptive default (see docs/backends.md)
DEFAULT_MALLOC_TRIM_THRESHOLD = None
#: how often the distributed backend polls for finished or overrunning items (seconds)
POLL_S = 0.05
#: how often it asks the workers for the running time of their items (seconds)
TIMEOUT_POLL_S = 0.5

_run_ids = itertools.count()


def require_dask(name: str = "dask-distributed", distributed: bool = True):
    """Import Dask (and distributed) or raise :class:`~.base.BackendUnavailable`.

    The message is :func:`genre_hpc.extras.unavailable_reason`'s (``"distributed is not
    installed: install genre-hpc[dask]"``), the same as ``backends.unavailable_reason(name)``;
    an installed stack that fails to import is named with its import error. ``name`` and
    ``distributed`` are kept for callers of the old signature: the ``dask`` extra installs both.
    """
    from ..extras import unavailable_reason

    reason = unavailable_reason(("dask",))
    if reason is None:
        try:
            import dask  # noqa: F401

            if distributed:
                import distributed as _distributed  # noqa: F401
        except ImportError as exc:
            reason = f"Dask does not import ({exc}): install genre-hpc[dask]"
    if reason is not None:
        raise BackendUnavailable(reason)


def _call(fn, item):
    return call_portable(fn, item)


class _DaskLocalBackend(Backend):
    """``dask.delayed`` + ``dask.compute`` with one of Dask's local schedulers."""

    scheduler = "sync"
    requires = ("dask",)

    def __init__(self, workers: int = 1, **kwargs):
        super().__init__(workers, **kwargs)
        require_dask(self.name, distributed=False)

    def _compute_kwargs(self, n_items: int) -> dict:
        return {"scheduler": self.scheduler, "num_workers": self.workers}

    def _tasks(self, fn, items, keys):
        import dask

        return [dask.delayed(_call, pure=False)(fn, item, dask_key_name=k) for k, item in zip(keys, items)]

    def _map(self, fn, items, progress):
        import dask
        from dask.callbacks import Callback

        prefix = f"genre-hpc-item-{next(_run_ids)}"
        keys = [f"{prefix}-{i}" for i in range(len(items))]
        tasks = self._tasks(fn, items, keys)
        wanted = set(keys)

        def posttask(key, result, dsk, state, worker_id):  # runs in the scheduler loop, this thread
            if key in wanted:
                progress(1)

        with Callback(posttask=posttask):
            return list(dask.compute(*tasks, **self._compute_kwargs(len(items))))


class DaskSynchronousBackend(_DaskLocalBackend):
    """``dask-synchronous``: ``scheduler="synchronous"`` (one thread, whatever ``workers``)."""

    name = "dask-synchronous"
    scheduler = "synchronous"
    runs_in_caller = True

    def _compute_kwargs(self, n_items):
        return {"scheduler": "synchronous"}

    def describe(self) -> dict:
        return {**super().describe(), "effective_workers": 1}


class DaskThreadsBackend(_DaskLocalBackend):
    """``dask-threads``: ``scheduler="threads"`` with ``workers`` threads."""

    name = "dask-threads"
    scheduler = "threads"
    runs_in_caller = True


class DaskProcessesBackend(ProcessWorkers, _DaskLocalBackend):
    """``dask-processes``: ``scheduler="processes"`` on a pool started (and warmed) at start-up."""

    name = "dask-processes"
    scheduler = "processes"
    option_names = ProcessWorkers.OPTION_NAMES + ("chunksize",)

    def __init__(self, workers: int = 1, **kwargs):
        super().__init__(workers, **kwargs)
        self._pool = None
        self._procs: dict = {}
        self._broken = False

    def describe(self) -> dict:
        return {**super().describe(), "chunksize": self.options.get("chunksize") or "auto"}

    def _start(self):
        self._gen = 0
        self._slots = slots = WorkerSlots(self._ctx, self.workers)
        self.start_server()
        self._pool = concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=self._ctx, initializer=pool_initializer, initargs=self.initargs(slots)
        )
        # the executor starts processes on demand: one blocking ready task per
        # worker forces all of them up, and returns once all are warm
        with self.starting_children():
            futures = [self._pool.submit(ready_task, self.start_timeout) for _ in range(self.workers)]
        try:
            for f in concurrent.futures.as_completed(futures, timeout=self.start_timeout + 5):
                f.result()
            self._procs = dict(getattr(self._pool, "_processes", None) or {})
        except concurrent.futures.TimeoutError:
            raise BackendError(
                f"{self.name}: workers not ready after {self.start_timeout:g} s (start_timeout)"
            ) from None
        except concurrent.futures.process.BrokenProcessPool as exc:
            raise worker_lost(self.name, detail=f"during start-up: {exc}") from exc

    def _compute_kwargs(self, n_items):
        c = self.options.get("chunksize")
        return {
            "scheduler": "processes",
            "pool": self._pool,
            "num_workers": self.workers,
            "chunksize": int(c) if c else auto_chunksize(n_items, self.workers),
        }

    def _tasks(self, fn, items, keys):
        import dask

        # run_item records (map, index, start) in the worker's shared slot
        call = functools.partial(run_item, fn)
        return [
            dask.delayed(call, pure=False)((job_key(self._gen, i), item), dask_key_name=k)
            for i, (k, item) in enumerate(zip(keys, items))
        ]

    def _running(self):
        return [(pid, (gen, i), ran) for pid, gen, i, ran in self._slots.running() if gen == self._gen]

    def _map(self, fn, items, progress):
        if self._broken:
            raise BackendError(
                f"{self.name}: the process pool is broken (a worker died or timed out); start a new backend"
            )
        self._gen += 1
        dog = None
        if self.timeout is not None:
            dog = Watchdog(self.timeout, self._running)
            dog.start()
        try:
            return super()._map(fn, items, progress)
        except concurrent.futures.process.BrokenProcessPool as exc:
            self._broken = True
            if dog is not None:
                dog.stop()
                if dog.fired is not None:
                    (_, i), ran = dog.fired
                    raise ItemTimeout(items[i], self.timeout, ran) from None
            # the executor kills the other workers (SIGTERM) too: wait for the
            # exit codes, then look at the process that died otherwise first
            deadline = time.monotonic() + 2.0
            while any(p.exitcode is None for p in self._procs.values()) and time.monotonic() < deadline:
                time.sleep(0.02)
            dead = sorted(self._procs.items(), key=lambda kv: kv[1].exitcode == -signal.SIGTERM)
            for pid, p in dead:
                where = self._slots.item_of(pid) if p.exitcode is not None else None
                if where is not None and where[0] == self._gen:
                    raise worker_lost(
                        self.name,
                        pid=pid,
                        exitcode=p.exitcode,
                        item=items[where[1]],
                        consequence="the pool is broken",
                    ) from exc
            raise worker_lost(self.name, detail=str(exc), consequence="the pool is broken") from exc
        finally:
            if dog is not None:
                dog.stop()

    def _stop(self):
        pool, self._pool = self._pool, None
        if pool is not None:
            if self._broken:
                pool.shutdown(wait=False, cancel_futures=True)
                for p in list((getattr(pool, "_processes", None) or {}).values()):
                    if p.exitcode is None:
                        p.kill()
            pool.shutdown(wait=True, cancel_futures=True)


# -- distributed -------------------------------------------------------------------


def _dist_call(fn, run_id, i, item):
    """Run one item on a distributed worker, logged as ``(run_id, i)`` in the worker's own table."""
    return run_item(fn, ((run_id, i), item))


def _dist_running(run_id) -> tuple[int, dict]:
    """``(pid, {item index: seconds running})`` of this worker's items of ``run_id`` (via ``client.run``)."""
    pid, per_key = running_here(lambda key: isinstance(key, tuple) and key[0] == run_id)
    return pid, {key[1]: ran for key, ran in per_key.items()}


def _dist_setup(thread_limit, warmup) -> int:
    """Set-up task pinned to each worker: thread limit, warm-up; returns the pid."""
    return init_worker(thread_limit, warmup)


class DaskDistributedBackend(ClusterBackend):
    """``dask-distributed``: a ``distributed.Client`` on a LocalCluster or an existing scheduler.

    Inside the ``with`` block :attr:`client` is the ``distributed.Client``
    (training and tuning run on it: :mod:`genre_hpc.training`).

    Options
    -------
    scheduler : str, optional
        Address of a running scheduler (``"tcp://host:8786"``); the client
        waits for at least ``workers`` workers, then uses all of them.
    scheduler_file : str, optional
        A ``--scheduler-file`` written by ``dask scheduler``, instead of ``scheduler``.
    dashboard : bool
        Serve the LocalCluster's dashboard on 127.0.0.1 (random port); default off.
    malloc_trim_threshold : int, "dask" or None
        ``MALLOC_TRIM_THRESHOLD_`` in the LocalCluster's workers: ``None``
        (default) leaves glibc's adaptive threshold, ``"dask"`` keeps Dask's
        65536, an int sets it.
    start_timeout : float
        Seconds to wait for the cluster, the workers and the warm-up.
    start_method : {"forkserver", "spawn"}
        How the LocalCluster's nannies start their worker processes (Dask's
        ``distributed.worker.multiprocessing-method``). Default ``forkserver`` where the
        platform has it: the workers fork from the process' warm forkserver
        (:mod:`genre_hpc.backends.forkserver`, with ``distributed`` and the warm-up
        preloaded). A forkserver child gets the server's environment, not the nanny's
        pre-spawn environment, so a ``malloc_trim_threshold`` other than None needs (and
        defaults to) ``spawn``.
    """

    name = "dask-distributed"
    supports_timeout = True
    requires = ("dask",)
    connect_options = ("scheduler", "scheduler_file")
    option_names = connect_options + ("dashboard", "malloc_trim_threshold", "start_timeout", "start_method")

    def __init__(self, workers: int = 1, **kwargs):
        super().__init__(workers, **kwargs)
        require_dask(self.name, distributed=True)
        self.address = self.options.get("scheduler")
        self.scheduler_file = self.options.get("scheduler_file")
        self.dashboard = bool(self.options.get("dashboard", False))
        self.malloc_trim_threshold = self.options.get("malloc_trim_threshold", DEFAULT_MALLOC_TRIM_THRESHOLD)
        if self.malloc_trim_threshold not in (None, "dask") and int(self.malloc_trim_threshold) < 0:
            raise ValueError("malloc_trim_threshold must be None, 'dask' or a byte count >= 0")
        self.start_method = self._choose_start_method(self.options.get("start_method"))
        self._env_before: dict | None = None
        self._server_held = False

    def _choose_start_method(self, method: str | None) -> str:
        from . import forkserver

        if method is None:
            ok = forkserver.available() and self.malloc_trim_threshold is None
            return "forkserver" if ok else "spawn"
        if method not in ("forkserver", "spawn") or (method == "forkserver" and not forkserver.available()):
            raise ValueError(
                f"{self.name}: start_method {method!r} is not available here (forkserver, spawn)"
            )
        if method == "forkserver" and self.malloc_trim_threshold is not None:
            raise ValueError(
                f"{self.name}: malloc_trim_threshold={self.malloc_trim_threshold!r} needs "
                "start_method='spawn' (a forkserver child keeps the server's environment, which glibc "
                "reads at its start)"
            )
        return method

    def worker_count(self) -> int:
        if self._client is None:
            return 0
        return len(self._client.scheduler_info(n_workers=-1)["workers"])

    def _describe_cluster(self) -> dict:
        d: dict = {"threads_per_worker": 1}
        if self.external:
            d["scheduler"] = self.address or f"file:{self.scheduler_file}"
        else:
            d["malloc_trim_threshold"] = self.malloc_trim_threshold
            d["start_method"] = self.start_method
        if self._client is not None:
            d["dashboard_link"] = self._client.dashboard_link if self.dashboard else None
        return d

    def _worker_env(self) -> dict:
        env: dict = dict(thread_env(self.thread_limit))
        if self.malloc_trim_threshold is None:
            env["MALLOC_TRIM_THRESHOLD_"] = None
        elif self.malloc_trim_threshold != "dask":
            env["MALLOC_TRIM_THRESHOLD_"] = str(int(self.malloc_trim_threshold))
        return env

    def _connect_external(self):
        from distributed import Client

        kw = {"scheduler_file": self.scheduler_file} if self.scheduler_file else {"address": self.address}
        try:
            self._client = Client(**kw, timeout=f"{self.start_timeout}s", set_as_default=False)
            self._client.wait_for_workers(self.workers, timeout=self.start_timeout)
        except (OSError, TimeoutError) as exc:
            where = self.address or self.scheduler_file
            raise BackendError(
                f"{self.name}: no scheduler with {self.workers} worker(s) at {where} "
                f"within {self.start_timeout:g} s: {exc}"
            ) from exc

    def _start_local(self):
        import dask
        from distributed import Client, LocalCluster

        env = self._worker_env()
        cfg = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in env.items()}
        if self.malloc_trim_threshold == "dask":
            cfg.pop("distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_", None)
        cfg["distributed.worker.multiprocessing-method"] = self.start_method
        if self.start_method == "forkserver":
            from . import forkserver
            from .forkserver import DISTRIBUTED_IMPORT

            # the workers fork from the process' forkserver: distributed imported and the
            # warm-up run there once (Dask's own forkserver preload only applies to a server
            # it starts itself)
            forkserver.acquire([DISTRIBUTED_IMPORT, self.warmup], env=env)
            self._server_held = True
        with dask.config.set(cfg):
            # the nanny writes its pre-spawn environment (and PYTHONHASHSEED) into os.environ
            # of this process, and existing variables win over the config: set it here, and
            # restore it after start and again at exit
            spawn_env = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
            touched = set(env) | set(THREAD_ENV_VARS) | set(spawn_env) | {"PYTHONHASHSEED"}
            self._env_before = {k: os.environ.get(k) for k in touched}
        with dask.config.set(cfg), patched_environ(env):
            self._cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                scheduler_port=0,
                # the scheduler's HTTP routes on a free loopback port (None would mean the
                # fixed port 8787), the dashboard itself only when asked for
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": self.dashboard},
                worker_dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster, set_as_default=False, timeout=f"{self.start_timeout}s")
            self._client.wait_for_workers(self.workers, timeout=self.start_timeout)
        self._restore_env()

    def _setup_workers(self):
        """Run the thread limit and warm-up once on every worker, as a task pinned to it."""
        workers = list(self._client.scheduler_info(n_workers=-1)["workers"])
        futures = [
            self._client.submit(
                _dist_setup,
                self.thread_limit,
                self.warmup,
                workers=[w],
                allow_other_workers=False,
                pure=False,
                key=f"genre-hpc-setup-{n}-{w}",
            )
            for n, w in enumerate(workers)
        ]
        try:
            self._client.gather(futures)
        except Exception as exc:
            raise BackendError(
                f"{self.name}: worker set-up (thread limit, warm-up) failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _restore_env(self):
        if self._env_before is not None:
            for k, v in self._env_before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _close_client(self, client):
        client.close(timeout=30)

    def _stop_local(self, cluster):
        cluster.close(timeout=30)

    def _after_stop(self):
        self._restore_env()
        if self._server_held:
            from . import forkserver

            self._server_held = False
            forkserver.release()

    def _map(self, fn, items, progress):
        from distributed import as_completed

        client = self._client
        run_id = f"{os.getpid()}-{next(_run_ids)}"
        keys = [f"genre-hpc-item-{run_id}-{i}" for i in range(len(items))]
        futures = client.map(
            _dist_call,
            [fn] * len(items),
            [run_id] * len(items),
            range(len(items)),
            items,
            key=keys,
            pure=False,
        )
        index = {f.key: i for i, f in enumerate(futures)}
        done_futures = as_completed(futures, loop=client.loop)
        last_timeout_poll = time.monotonic()
        try:
            while not done_futures.is_empty():
                if done_futures.has_ready():
                    done = done_futures.next_batch(block=False)
                else:
                    done = []
                    time.sleep(POLL_S)
                for f in done:
                    if f.status == "error":
                        raise self._as_error(f, items[index[f.key]])
                    if f.status == "cancelled":
                        raise BackendError(
                            f"{self.name}: item {items[index[f.key]]!r} was cancelled "
                            "(scheduler lost or restarted?)"
                        )
                if done:
                    progress(len(done))
                if self.timeout is not None and time.monotonic() - last_timeout_poll > TIMEOUT_POLL_S:
                    overrun, pid = self._check_timeouts(run_id, items)
                    if overrun is not None:
                        client.cancel(futures, force=True)
                        if pid is not None:
                            # a LocalCluster we own: kill the stuck worker, its nanny starts a fresh one
                            kill_pid(pid)
                        raise overrun
                    last_timeout_poll = time.monotonic()
            return client.gather(futures)
        except BaseException:
            client.cancel(futures, force=True)
            raise
        finally:
            done_futures.clear()

    def _as_error(self, future, item):
        exc = future.exception()
        if isinstance(exc, ItemError):
            return exc
        try:
            from distributed.scheduler import KilledWorker
        except ImportError:  # pragma: no cover
            KilledWorker = ()
        if isinstance(exc, KilledWorker):
            return WorkerLost(f"{self.name}: item {item!r} killed its worker on every attempt ({exc})", item)
        return ItemError(item, exc)

    def _check_timeouts(self, run_id, items):
        running = self._client.run(_dist_running, run_id, on_error="ignore")
        for _addr, (pid, per_item) in running.items():
            for i, ran in per_item.items():
                if ran > self.timeout:
                    return ItemTimeout(items[i], self.timeout, ran), (None if self.external else pid)
        return None, None
