"""Dask backends: ``dask-synchronous``, ``dask-threads``, ``dask-processes``, ``dask-distributed``.

The first three build one ``dask.delayed`` task per item and call
``dask.compute(..., scheduler=..., num_workers=workers)``:

- ``dask-synchronous`` runs in the calling thread (Dask's overhead with no
  parallelism; 1 worker only, more is refused as for ``serial``);
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
(or ``scheduler_file=``). Items go ``chunksize`` to a task (default
:func:`auto_chunksize` over the selected workers, as the pools): each task costs
a few milliseconds of scheduler, client and worker event-loop time on the same
cores as the work, a tenth of a 30 ms image. Warm-up and the thread limit run once on every worker
as a set-up task pinned to it (a task, not ``client.run``, so a long warm-up
does not block the worker's event loop and heartbeats). Results are fetched as
their tasks finish, so none waits on a worker that may die later. A worker that
dies is restarted by its nanny and Dask retries its task elsewhere, so the run
completes (a restarted worker keeps the thread-limit environment but is not
warmed again). A chunk that fails outside its items (its worker killed on every
attempt, a result that does not pickle) runs again one item per task, one task
at a time, so the failure names its item and the chunk's other items complete;
that re-run is serial, a cost paid only on the failure path. A per-item
``timeout`` is enforced by asking the workers every ``TIMEOUT_POLL_S`` how long
their items run; the futures are cancelled and, on a LocalCluster we own, the
stuck worker is killed (its nanny restarts it). Cancelling cannot stop a task
that is running: on an external cluster the overrunning task, and after any
error the chunks already running, go on to their end on their workers. See docs/backends.md for the
``malloc_trim_threshold`` choice. Connecting or starting, and stopping only a
cluster it started, is :class:`~._cluster.ClusterBackend`'s; inside the
``with`` block ``backend.client`` is the ``distributed.Client``, on which
:mod:`genre_hpc.training` runs ``xgboost-dask`` and ``joblib-dask``.

Dask is imported only when one of these backends is made; without it they
raise :class:`~.base.BackendUnavailable`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import functools
import itertools
import logging
import os
import signal
import time

from ..threads import THREAD_ENV_VARS, patched_environ, thread_env
from ._cluster import ClusterBackend, worker_facts
from ._workers import (
    LostItems,
    ProcessWorkers,
    Watchdog,
    WorkerSlots,
    auto_chunksize,
    call_portable,
    init_worker,
    interrupts_blocked,
    job_key,
    kill_pid,
    pool_initializer,
    ready_task,
    run_item,
    run_jobs,
    running_here,
    stop_processes,
    worker_lost,
)
from .base import (
    Backend,
    BackendError,
    BackendUnavailable,
    ItemError,
    ItemTimeout,
    WorkerLost,
)

#: ``malloc_trim_threshold`` default: leave glibc's adaptive default (see docs/backends.md)
DEFAULT_MALLOC_TRIM_THRESHOLD = None
#: how often the distributed backend polls for finished or overrunning items (seconds)
POLL_S = 0.005
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


def _dask_config(key: str, default):
    import dask

    return dask.config.get(key, default=default)


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
    """``dask-synchronous``: ``scheduler="synchronous"`` (the calling thread; ``workers`` must be 1)."""

    name = "dask-synchronous"
    scheduler = "synchronous"
    runs_in_caller = True

    @classmethod
    def workers_reason(cls, workers: int) -> str | None:
        # more would be reported as an N-worker run of one thread's work
        why = super().workers_reason(workers)
        if why or int(workers) == 1:
            return why
        return "dask-synchronous runs 1 worker (the calling thread) whatever the worker count: give 1"

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
    """``dask-processes``: ``scheduler="processes"`` on a pool started (and warmed) at start-up.

    A worker that dies breaks the ``ProcessPoolExecutor`` (it stops the other workers too):
    the items finished so far are kept (Dask's ``posttask`` callback), a new pool is started
    and warmed, and the unfinished items run on it; the item the dead worker ran runs again or
    is lost (:class:`~._workers.LostItems`). When the item is not certain (several died, none
    by its own signal), each item that was running runs again alone.
    """

    name = "dask-processes"
    scheduler = "processes"
    option_names = ProcessWorkers.OPTION_NAMES + ("chunksize", "retries", "max_tasks_per_worker")

    def __init__(self, workers: int = 1, **kwargs):
        super().__init__(workers, **kwargs)
        self._pool = None
        self._procs: dict = {}
        self._broken: str | None = None  # "died" or "timeout"

    def describe(self) -> dict:
        return {**super().describe(), "chunksize": self.options.get("chunksize") or "auto"}

    def _start(self):
        self._gen = 0
        self._start_pool()

    def _start_pool(self):
        self._broken = None
        self._slots = slots = WorkerSlots(self._ctx, self.workers)
        kwargs = {}
        if self.max_tasks_per_worker:  # the start-up task counts as one
            kwargs["max_tasks_per_child"] = self.max_tasks_per_worker + 1
        self.start_server()
        # the executor starts processes on demand: one blocking ready task per
        # worker forces all of them up, and returns once all are warm
        with self.starting_children():
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers,
                mp_context=self._ctx,
                initializer=pool_initializer,
                initargs=self.initargs(slots),
                **kwargs,
            )
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

    def _running(self):
        return [(pid, (gen, i), ran) for pid, gen, i, ran in self._slots.running() if gen == self._gen]

    def _compute(self, fn, items, indices, on_done):
        """Run ``items[i]`` for ``i`` in ``indices`` in one ``dask.compute``; ``on_done(i, value)``
        as each finishes."""
        import dask
        from dask.callbacks import Callback

        self._gen += 1
        prefix = f"genre-hpc-item-{next(_run_ids)}"
        call = functools.partial(run_item, fn)  # logs (map, index, start) in the worker's slot
        keys = {f"{prefix}-{i}": i for i in indices}
        tasks = [
            dask.delayed(call, pure=False)((job_key(self._gen, i), items[i]), dask_key_name=k)
            for k, i in keys.items()
        ]

        def posttask(key, result, dsk, state, worker_id):  # in this thread
            if key in keys:
                on_done(keys[key], result)

        with Callback(posttask=posttask):
            dask.compute(*tasks, **self._compute_kwargs(len(indices)))

    def _map(self, fn, items, progress):
        if self._broken == "timeout":
            raise BackendError(
                f"{self.name}: the process pool is broken (an item timed out); start a new backend"
            )
        if self._broken:  # a worker died and its item was lost (WorkerLost raised): start anew
            self._replace_pool()
        out = [None] * len(items)
        done: set[int] = set()
        lost = LostItems(self.name, items, self.retries, self._on_lost, idle_budget=2 * self.workers + 2)

        def on_done(i, value):
            if i not in done:
                out[i] = value
                done.add(i)
                progress(1)

        while True:
            alone = lost.next_alone()
            if alone is not None:
                batch = [alone]
            else:
                batch = [i for i in range(len(items)) if i not in done and i not in lost.lost]
            if not batch:
                return out
            dog = None
            if self.timeout is not None:
                dog = Watchdog(self.timeout, self._running)
                dog.start()
            try:
                self._compute(fn, items, batch, on_done)
            except concurrent.futures.process.BrokenProcessPool as exc:
                self._broken = "died"
                if dog is not None:
                    dog.stop()
                    if dog.fired is not None:
                        self._broken = "timeout"
                        (_, i), ran = dog.fired
                        raise ItemTimeout(items[i], self.timeout, ran) from None
                self._pool_died(items, lost, exc)
                for i in list(lost.lost):
                    if i not in done:
                        on_done(i, lost.lost[i])
                self._replace_pool()
            finally:
                if dog is not None:
                    dog.stop()

    def _pool_died(self, items, lost: LostItems, exc) -> None:
        """The executor broke: tell ``lost`` which item(s) the dead worker ran."""
        procs = {**self._procs, **dict(getattr(self._pool, "_processes", None) or {})}
        # the executor stops the other workers (SIGTERM): wait for the exit codes
        deadline = time.monotonic() + 2.0
        while any(p.exitcode is None for p in procs.values()) and time.monotonic() < deadline:
            time.sleep(0.02)
        running = {pid: i for pid, gen, i, _ in self._slots.running() if gen == self._gen}
        code = {pid: p.exitcode for pid, p in procs.items()}
        own = [pid for pid in running if code.get(pid) not in (None, -signal.SIGTERM)]
        culprit = next(iter(running)) if len(running) == 1 else own[0] if len(own) == 1 else None
        if culprit is not None:
            i = running[culprit]
            error = worker_lost(self.name, pid=culprit, exitcode=code.get(culprit), item=items[i])
            lost.died(i, error, alone=True)
        elif running:
            lost.suspect(sorted(running.values()))
        else:
            dead = [pid for pid, c in code.items() if c not in (None, -signal.SIGTERM)]
            pid = dead[0] if dead else None
            lost.idle_death(
                worker_lost(self.name, pid=pid, exitcode=code.get(pid), detail=str(exc), running=False)
            )

    def _replace_pool(self):
        old, self._pool = self._pool, None
        self._kill(old)
        self._start_pool()

    @staticmethod
    def _kill(pool):
        """Stop ``pool`` without waiting for its tasks: stop its workers (SIGTERM, then SIGKILL),
        then shut it down (``shutdown`` forgets the processes, so they are taken first)."""
        stop_processes(list((getattr(pool, "_processes", None) or {}).values()))
        pool.shutdown(wait=True, cancel_futures=True)

    def _stop(self):
        pool, self._pool = self._pool, None
        if pool is not None:
            if self._broken:
                self._kill(pool)
            else:
                pool.shutdown(wait=True, cancel_futures=True)

    def _abort(self):
        pool, self._pool = self._pool, None
        if pool is not None:
            self._kill(pool)


# -- distributed -------------------------------------------------------------------


def _dist_running(run_id) -> tuple[int, dict]:
    """``(pid, {item index: seconds running})`` of this worker's items of ``run_id`` (via ``client.run``)."""
    pid, per_key = running_here(lambda key: isinstance(key, tuple) and key[0] == run_id)
    return pid, {key[1]: ran for key, ran in per_key.items()}


def _dist_setup(thread_limit, warmup) -> dict:
    """Set-up task pinned to each worker: thread limit, warm-up; returns the worker's facts
    (:func:`~._cluster.worker_facts`: pid, host, memory, library versions)."""
    init_worker(thread_limit, warmup)
    return worker_facts()


def _executed_count(dask_worker) -> int:
    """Tasks this worker has run since it started (via ``client.run``)."""
    return int(dask_worker.state.executed_count)


def worker_env(thread_limit, malloc_trim_threshold=DEFAULT_MALLOC_TRIM_THRESHOLD) -> dict:
    """The environment of LocalCluster workers: the thread limit and ``MALLOC_TRIM_THRESHOLD_``
    (``None``: removed, glibc's adaptive default; ``"dask"``: Dask's 65536 kept; an int: set)."""
    env: dict = dict(thread_env(thread_limit))
    if malloc_trim_threshold is None:
        env["MALLOC_TRIM_THRESHOLD_"] = None
    elif malloc_trim_threshold != "dask":
        env["MALLOC_TRIM_THRESHOLD_"] = str(int(malloc_trim_threshold))
    return env


@contextlib.contextmanager
def nanny_environ(env: dict):
    """Start nannies (LocalCluster workers) of this process with ``env`` in their environment.

    The nanny writes its pre-spawn environment (and ``PYTHONHASHSEED``) into ``os.environ`` of
    the process that starts it, and existing variables win over the configuration: so ``env`` is
    set in the configuration and in ``os.environ`` for the block, and every variable either may
    touch is restored afterwards. Yields those variables' values from before (a nanny that
    restarts a worker later writes them again: restore them once more with
    :func:`restore_environ` when the cluster is gone).
    """
    import dask

    cfg = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in env.items()}
    with dask.config.set(cfg):
        spawn_env = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
        touched = set(env) | set(THREAD_ENV_VARS) | set(spawn_env) | {"PYTHONHASHSEED"}
        before = {k: os.environ.get(k) for k in touched}
        try:
            with patched_environ(env):
                yield dict(before)
        finally:
            restore_environ(before)


def restore_environ(before: dict) -> None:
    """Put the variables of ``before`` back (None: unset)."""
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


class DaskDistributedBackend(ClusterBackend):
    """``dask-distributed``: a ``distributed.Client`` on a LocalCluster or an existing scheduler.

    Inside the ``with`` block :attr:`client` is the ``distributed.Client``
    (training and tuning run on it: :mod:`genre_hpc.training`).

    Options
    -------
    scheduler : str, optional
        Address of a running scheduler (``"tcp://host:8786"``). The map runs on exactly
        ``workers`` of its workers (the first by sorted address; the others stay idle); a
        cluster with fewer, where none joins for ``arrival_timeout`` seconds, fails at once
        (:class:`~.base.ClusterShapeError`).
    scheduler_file : str, optional
        A ``--scheduler-file`` written by ``dask scheduler``, instead of ``scheduler``.
    cluster : str, Path, ClusterSpec or Deployment, optional
        A cluster file (``class:`` + ``options:``, :mod:`genre_hpc.deploy`) to deploy for the
        ``with`` block and close at its end, or a :class:`~genre_hpc.deploy.Deployment`
        running already (a study's, left running); either is scaled to ``workers`` first.
    threads_per_worker : int or None
        Threads of each worker: the LocalCluster's, and what each worker of an existing
        cluster must have (default 1: one task slot per worker); ``None`` accepts any.
    arrival_timeout : float
        Seconds an existing cluster with too few workers may go without one joining.
    dashboard : bool
        Serve the LocalCluster's dashboard on 127.0.0.1 (random port); default off.
    malloc_trim_threshold : int, "dask" or None
        ``MALLOC_TRIM_THRESHOLD_`` in the LocalCluster's workers: ``None``
        (default) leaves glibc's adaptive threshold, ``"dask"`` keeps Dask's
        65536, an int sets it.
    start_timeout : float
        Seconds to wait for the cluster, the workers and the warm-up.
    chunksize : int, optional
        Items per task (default :func:`~._workers.auto_chunksize` over the selected workers).
        A chunk whose worker dies on every attempt, or that fails outside any item, runs again
        one item per task, so the loss names its item and the other items complete.
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
    connect_options = ("scheduler", "scheduler_file", "cluster")
    option_names = connect_options + (
        "threads_per_worker",
        "arrival_timeout",
        "dashboard",
        "malloc_trim_threshold",
        "start_timeout",
        "start_method",
        "chunksize",
    )

    def __init__(self, workers: int = 1, **kwargs):
        super().__init__(workers, **kwargs)
        require_dask(self.name, distributed=True)
        chunk = self.options.get("chunksize")
        if chunk is not None and int(chunk) < 1:
            raise ValueError(f"chunksize must be >= 1 or None, got {chunk}")
        self.address = self.options.get("scheduler")
        self.scheduler_file = self.options.get("scheduler_file")
        self.dashboard = bool(self.options.get("dashboard", False))
        self.malloc_trim_threshold = self.options.get("malloc_trim_threshold", DEFAULT_MALLOC_TRIM_THRESHOLD)
        if self.malloc_trim_threshold not in (None, "dask") and int(self.malloc_trim_threshold) < 0:
            raise ValueError("malloc_trim_threshold must be None, 'dask' or a byte count >= 0")
        self.start_method = self._choose_start_method(self.options.get("start_method"))
        self._env_before: dict | None = None
        self._server_held = False
        self._deployment = None  # the cluster file's deployment this backend connects to
        self.scale_s: float | None = None  # seconds the deployment took to reach `workers`

    @property
    def started_by(self) -> str:
        return "harness" if (not self.external or self._deployment is not None) else "found"

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

    def _worker_table(self) -> dict:
        workers = self._client.scheduler_info(n_workers=-1)["workers"]
        return {
            addr: {
                "name": str(w.get("name", addr)),
                "host": w.get("host"),
                "nthreads": w.get("nthreads"),
                "memory_limit": w.get("memory_limit") or None,
            }
            for addr, w in workers.items()
        }

    def _task_counts(self) -> dict:
        return dict(self._client.run(_executed_count, on_error="ignore"))

    def _where(self) -> str:
        if self._deployment is not None:
            return f"the cluster of {self._deployment.name}"
        if self.external:
            return f"the cluster at {self.address or self.scheduler_file}"
        return "the LocalCluster"

    def _deployment_name(self) -> str:
        if self._deployment is not None:
            return self._deployment.name
        if self.external:
            return f"scheduler {self.address or 'file:' + str(self.scheduler_file)}"
        return "LocalCluster started by the backend"

    def _cluster_extra(self) -> dict:
        d: dict = {"scheduler": self._client.scheduler.address if self._client is not None else None}
        if self._deployment is not None:
            d["scale_s"] = self.scale_s
        return d

    def _describe_cluster(self) -> dict:
        d: dict = {"chunksize": self.options.get("chunksize") or "auto"}
        if self._deployment is not None:
            d["cluster"] = self._deployment.name
        elif self.options.get("cluster"):
            d["cluster"] = str(self.options["cluster"])
        elif self.external:
            d["scheduler"] = self.address or f"file:{self.scheduler_file}"
        else:
            d["malloc_trim_threshold"] = self.malloc_trim_threshold
            d["start_method"] = self.start_method
        if self._client is not None:
            d["dashboard_link"] = self._client.dashboard_link if self.dashboard else None
        return d

    def _worker_env(self) -> dict:
        return worker_env(self.thread_limit, self.malloc_trim_threshold)

    def _arriving(self) -> bool:
        return self._deployment is not None

    def _connect_external(self):
        from distributed import Client

        from ._reach import probe, scheduler_file_address

        cluster = self.options.get("cluster")
        if cluster is not None:
            from ..deploy import Deployment

            if isinstance(cluster, Deployment):
                self._deployment = cluster
            else:  # a file (or spec): deployed for this block, closed at its end
                self._deployment = self._cluster = Deployment(
                    cluster, thread_limit=self.thread_limit, start_timeout=self.start_timeout
                )
                self._cluster.start()
            self.scale_s = self._deployment.scale(self.workers, timeout=self.start_timeout)
            address = self._deployment.address
            where = f"{address} ({self._deployment.name})"
            kw = {"address": address}
        else:
            # a scheduler file that is not written yet is waited for: its scheduler may be starting
            address = scheduler_file_address(self.scheduler_file) if self.scheduler_file else self.address
            where = self.address or f"{address or '(no address yet)'} (scheduler file {self.scheduler_file})"
            kw = {"scheduler_file": self.scheduler_file} if self.scheduler_file else {"address": self.address}
        # nothing listening, or a host that does not resolve: say so now, not after start_timeout
        if address:
            probe(address, backend=self.name, what="the scheduler")
        try:
            self._client = Client(**kw, timeout=f"{self.start_timeout}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise BackendError(
                f"{self.name}: no scheduler answered at {where} within {self.start_timeout:g} s "
                f"(start_timeout): {exc}"
            ) from exc
        except Exception as exc:  # something answers there, but does not speak Dask's protocol
            raise BackendError(
                f"{self.name}: something answers at {where}, but the connection to it as a Dask "
                f"scheduler failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _start_local(self):
        import dask
        from distributed import Client, LocalCluster

        env = self._worker_env()
        if self.malloc_trim_threshold == "dask":
            env.pop("MALLOC_TRIM_THRESHOLD_", None)
        if self.start_method == "forkserver":
            from . import forkserver
            from .forkserver import DISTRIBUTED_IMPORT

            # the workers fork from the process' forkserver: distributed imported and the
            # warm-up run there once (Dask's own forkserver preload only applies to a server
            # it starts itself)
            forkserver.acquire([DISTRIBUTED_IMPORT, self.warmup], env=env)
            self._server_held = True
        method = {"distributed.worker.multiprocessing-method": self.start_method}
        with dask.config.set(method), nanny_environ(env) as self._env_before:
            # the cluster's thread, its nannies and their workers start with SIGINT blocked: a
            # Ctrl-C reaches only this process, which closes the cluster
            with interrupts_blocked():
                self._cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=self.threads_per_worker or 1,
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

    def _setup_workers(self) -> dict:
        """Run the thread limit and warm-up once on every selected worker, as a task pinned to
        it; return their facts."""
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
            for n, w in enumerate(self.selected)
        ]
        try:
            facts = self._client.gather(futures)
        except Exception as exc:
            raise BackendError(
                f"{self.name}: worker set-up (thread limit, warm-up) failed: {type(exc).__name__}: {exc}"
            ) from exc
        return dict(zip(self.selected, facts))

    def _close_client(self, client):
        client.close(timeout=30)

    def _stop_local(self, cluster):
        cluster.close(timeout=30)

    def _after_stop(self):
        if self._env_before is not None:
            restore_environ(self._env_before)
        if self._server_held:
            from . import forkserver

            self._server_held = False
            forkserver.release()

    def _map(self, fn, items, progress):
        from distributed import as_completed

        client = self._client
        run_id = f"{os.getpid()}-{next(_run_ids)}"
        n_workers = len(self.selected) or self.workers
        size = int(self.options.get("chunksize") or auto_chunksize(len(items), n_workers))
        out: list = [None] * len(items)
        chunks: dict = {}  # future key -> the indices of the items it runs
        pending: set = set()  # futures submitted and not yet gathered (cancelled on an error)
        # the items of failed chunks, to run again one at a time: a task queued on a worker
        # dies with it and counts against Dask's allowed-failures, so items run again together
        # could be lost beside the one that kills its workers
        again: collections.deque = collections.deque()
        reruns: dict = {}  # index -> how its chunk failed, for the items run again alone
        running_again: list = []

        def submit(groups, tag=""):
            # a task runs a chunk of items in order, each logged as (run_id, index) in the
            # worker's table (the per-item timeout reads it), and returns their results
            keys = [f"genre-hpc-item-{run_id}-{tag}{g[0]}" + (f"-{g[-1]}" * (len(g) > 1)) for g in groups]
            new = client.map(
                run_jobs,
                [fn] * len(groups),
                [[((run_id, i), items[i]) for i in g] for g in groups],
                key=keys,
                pure=False,
                **self.submit_restrictions(),
            )
            chunks.update({f.key: g for f, g in zip(new, groups)})
            pending.update(new)
            return new

        def cancelled(f) -> BackendError:
            return BackendError(
                f"{self.name}: item {items[chunks[f.key][0]]!r} was cancelled (scheduler lost or restarted?)"
            )

        def failed(f, exc, fetching=False):
            # a task that failed (or whose result could not be fetched): raise, record a lost
            # item, or queue a chunk's items to run again alone so the failure names its item
            pending.discard(f)
            group = chunks[f.key]
            if len(group) > 1 and not isinstance(exc, ItemError):
                again.extend(group)
                reruns.update(dict.fromkeys(group, exc))
                return
            err = self._as_error(exc, items[group[0]], chunk_error=reruns.get(group[0]), fetching=fetching)
            if isinstance(err, WorkerLost) and self._on_lost is not None:
                out[group[0]] = self._on_lost(err.item, err)
                progress(1)
                return
            raise err

        def collect(ready):
            # fetch finished results now rather than at the end: a result left on a worker is
            # computed again if that worker dies (one killed by a later item, say)
            try:
                values = client.gather(ready)
            except Exception:
                values = None
            for k, f in enumerate(ready):
                if values is None:
                    try:
                        value = f.result()
                    except Exception as exc:
                        if f.status == "cancelled":
                            raise cancelled(f) from None
                        # an error of the task itself (a recomputation killed its workers), or
                        # a finished task whose result cannot come back
                        failed(f, f.exception() if f.status == "error" else exc, fetching=f.status != "error")
                        continue
                else:
                    value = values[k]
                for i, v in zip(chunks[f.key], value):
                    out[i] = v
                pending.discard(f)
                progress(len(chunks[f.key]))
                f.release()

        done_futures = as_completed(
            submit([list(range(s, min(s + size, len(items)))) for s in range(0, len(items), size)]),
            loop=client.loop,
        )
        last_timeout_poll = time.monotonic()
        try:
            while not done_futures.is_empty():
                if done_futures.has_ready():
                    done = done_futures.next_batch(block=False)
                else:
                    done = []
                    time.sleep(POLL_S)
                ready = []
                for f in done:
                    if f in running_again:
                        running_again.remove(f)
                    if f.status == "error":
                        failed(f, f.exception())
                    elif f.status == "cancelled":
                        raise cancelled(f)
                    else:
                        ready.append(f)
                if ready:
                    collect(ready)
                if again and not running_again:
                    running_again.extend(submit([[again.popleft()]], tag="again-"))
                    done_futures.update(running_again)
                if self.timeout is not None and time.monotonic() - last_timeout_poll > TIMEOUT_POLL_S:
                    overrun, pid = self._check_timeouts(run_id, items)
                    if overrun is not None:
                        client.cancel(list(pending), force=True)
                        if pid is not None:
                            # a LocalCluster we own: kill the stuck worker, its nanny starts a fresh one
                            kill_pid(pid)
                        raise overrun
                    last_timeout_poll = time.monotonic()
            return out
        except BaseException:
            client.cancel(list(pending), force=True)
            raise
        finally:
            done_futures.clear()

    def _as_error(self, exc, item, chunk_error=None, fetching: bool = False):
        if isinstance(exc, ItemError):
            return exc
        try:
            from distributed.scheduler import KilledWorker
        except ImportError:  # pragma: no cover
            KilledWorker = ()
        if isinstance(exc, KilledWorker):
            tries = 1 + int(_dask_config("distributed.scheduler.allowed-failures", 3))
            in_chunk = isinstance(chunk_error, KilledWorker)  # its chunk died on every attempt too
            how = f"{tries} attempts"
            if in_chunk:
                how = f"{2 * tries} attempts: {tries} in its chunk, then {tries} alone"
            return WorkerLost(
                f"{self.name}: item {item!r} killed its worker on every attempt ({how}; {exc})",
                item,
                attempts=2 * tries if in_chunk else tries,
            )
        if fetching:  # the task ran, its result could not come back (it does not pickle, say)
            first = (str(exc).strip().splitlines() or [""])[0]  # distributed appends the worker's traceback
            return ItemError(item, f"result could not be sent back: {type(exc).__name__}: {first}")
        return ItemError(item, exc)

    def _check_timeouts(self, run_id, items):
        running = self._client.run(_dist_running, run_id, on_error="ignore")
        for _addr, (pid, per_item) in running.items():
            for i, ran in per_item.items():
                if ran > self.timeout:
                    return ItemTimeout(items[i], self.timeout, ran), (None if self.external else pid)
        return None, None
