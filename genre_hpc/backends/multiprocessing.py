"""The standard library's process backends.

=====================  ===============================================================
``pool-apply``         ``multiprocessing.Pool``, one blocking ``apply`` per item: serial
                       by construction (the study's anti-pattern, kept to show it)
``pool-apply-async``   ``apply_async`` for every item, then gather
``pool-map``           the chunks ``Pool.map`` makes (:func:`auto_chunksize` items), one
                       ``apply_async`` task per chunk
``pool-map-async``     the same (``Pool.map`` is ``map_async(...).get()`` in CPython)
``process``            one ``multiprocessing.Process`` per item, at most ``workers``
                       alive, each result sent back through a pipe
=====================  ===============================================================

A blocking ``Pool.apply``/``Pool.map``/``AsyncResult.get()`` waits forever
when a worker dies (the pool replaces the process and forgets its task).
Here every wait is a poll: the parent watches the worker processes' exit
codes and a small shared-memory table where each worker writes which item it
runs since when, so a dead worker's item is known within about ``POLL_S``
seconds and runs again (or is lost, :class:`~._workers.LostItems`), and a
slow item gives :class:`~.base.ItemTimeout`. ``Pool.apply(...)`` is
``apply_async(...).get()`` in CPython, so the watched form runs the same code
path; ``Pool.map`` sends its chunks as one generator and returns all results
together, so the map backends send each chunk as its own task instead (the
same chunks, the same loop over a chunk in the worker): a chunk lost with its
worker is sent again while the others keep their results.

Options: ``start_method`` (``"spawn"`` by default, see
:data:`~._workers.DEFAULT_START_METHOD`), ``start_timeout`` (seconds to wait
for every worker to be started and warm), ``retries``, ``max_tasks_per_worker``
for the pools, and ``chunksize`` for the two map backends. The worker side
(initializer, start-up barrier, the shared item table, the ``process`` child's
body) is :mod:`genre_hpc.backends._workers`.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import multiprocessing.connection
import os
import queue
import sys
import time
from collections import deque

from ._workers import (
    DEFAULT_START_METHOD,
    POLL_S,
    LostItems,
    ProcessWorkers,
    WorkerSlots,
    auto_chunksize,
    get_context,
    interrupts_deferred,
    job_key,
    pool_initializer,
    process_main,
    ready_task,
    run_jobs,
    stop_processes,
    worker_lost,
)
from .base import DEFAULT_START_TIMEOUT, Backend, BackendError, ItemError, ItemTimeout

#: names the other modules and older code import from here
__all__ = [
    "DEFAULT_START_METHOD",
    "DEFAULT_START_TIMEOUT",
    "POLL_S",
    "auto_chunksize",
    "get_context",
    "PoolApplyBackend",
    "PoolApplyAsyncBackend",
    "PoolMapBackend",
    "PoolMapAsyncBackend",
    "ProcessBackend",
]


class _MPBackend(ProcessWorkers, Backend):
    """What the ``multiprocessing`` backends share: start method, start-up timeout, retries."""

    option_names: tuple[str, ...] = ProcessWorkers.OPTION_NAMES + ("retries",)

    def _check_importable(self, fn) -> None:
        """``multiprocessing`` pickles a function by its module and name, and a worker that is not
        forked from this process imports it: a function of an interactive session (``__main__``
        without a file: a notebook, ``python -c``, the REPL) cannot be found there, and every
        worker died at its first task (the map hung or gave up on idle deaths). Refused at once."""
        if self.start_method == "fork":
            return
        target = getattr(fn, "func", fn)  # a functools.partial
        main = sys.modules.get("__main__")
        if getattr(target, "__module__", None) == "__main__" and not getattr(main, "__file__", None):
            name = getattr(target, "__qualname__", repr(target))
            raise BackendError(
                f"{self.name}: {name} is defined in an interactive session (__main__ has no file), "
                f"which {self.start_method} workers cannot import: define it in a module (a .py file "
                "beside the notebook), or use joblib-loky or a dask backend, which send functions by value"
            )


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a pid reaped and not reused is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a reused pid of another user's process
        return True
    return True


class _Events:
    """Pool callbacks push ``(kind, key, value)`` here; the main thread consumes them."""

    def __init__(self):
        self.q: queue.SimpleQueue = queue.SimpleQueue()

    def done(self, key, value):
        self.q.put(("ok", key, value))

    def failed(self, key, exc):
        self.q.put(("err", key, exc))


#: seconds every live worker must sit idle, with tasks outstanding, after a worker died without
#: a known item, before those tasks count as lost with it and are submitted again
STALL_S = 2.0


class PoolBackend(_MPBackend):
    """Base of the ``pool-*`` backends: a watched ``multiprocessing.Pool``.

    Each task (one item, or a chunk of items for the map backends) goes to the pool with
    ``apply_async(run_jobs, ...)``; the parent waits by polling its callbacks while it watches
    the workers. A worker that dies is replaced by the pool itself; the shared item table says
    which item it ran, so that item runs again (or is lost, :class:`~._workers.LostItems`) and
    the rest of its chunk is submitted again.
    """

    name = "pool"
    option_names = _MPBackend.option_names + ("max_tasks_per_worker",)
    #: True: one task at a time (``pool-apply``)
    one_at_a_time = False

    def _start(self):
        self._pool = None
        self._broken: str | None = None
        self._dirty = False
        self._gen = 0
        self._slots = WorkerSlots(self._ctx, self.workers)
        # the start-up task every worker runs counts as one of its tasks
        maxtasks = self.max_tasks_per_worker + 1 if self.max_tasks_per_worker else None
        # the deadline covers the forkserver's warm-up too: the first fork waits for it
        deadline = time.monotonic() + self.start_timeout
        self.start_server()
        with self.starting_children(), interrupts_deferred():  # the pool is assigned, then stopped
            self._pool = self._ctx.Pool(
                self.workers,
                initializer=pool_initializer,
                initargs=self.initargs(self._slots),
                maxtasksperchild=maxtasks,
            )
        # the workers, by pid; the pool replaces a dead one, which is how we notice a death
        self._known = {p.pid: p for p in self._pool._pool}
        self._check_start(deadline)
        events = _Events()
        for k in range(self.workers):
            self._pool.apply_async(
                ready_task,
                (self.start_timeout,),
                callback=functools.partial(events.done, k),
                error_callback=functools.partial(events.failed, k),
            )
        got = 0
        while got < self.workers:
            try:
                kind, _, value = events.q.get(timeout=POLL_S)
            except queue.Empty:
                self._check_start(deadline)
                continue
            if kind == "err":
                self._dirty = True
                raise value if isinstance(value, BackendError) else BackendError(f"{self.name}: {value}")
            got += 1

    def _stop(self):
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is None:
            return
        if self._dirty or self._broken:
            terminate_pool(pool)
        else:
            pool.close()
        pool.join()

    def _abort(self):
        """After an error or an interrupt: terminate the workers (SIGTERM) instead of waiting
        for their tasks, which may never come back."""
        self._dirty = True
        self._stop()

    # -- watching -------------------------------------------------------------
    def _break(self, reason: str):
        """Stop a pool that failed to start or has a stuck item; later maps raise."""
        self._broken = reason
        pool, self._pool = self._pool, None
        if pool is not None:
            terminate_pool(pool)
            pool.join()

    def _check_start(self, deadline: float):
        """During start-up: a dead worker or the start-up timeout stops the pool."""
        for pid, p in self._known.items():
            if p.exitcode is not None:
                lost = worker_lost(
                    self.name,
                    pid=pid,
                    exitcode=p.exitcode,
                    running=False,
                    detail="during start-up" + _main_guard_hint(p.exitcode),
                    consequence="the pool was terminated",
                )
                self._break(str(lost))
                raise lost
        if time.monotonic() > deadline:
            self._break("start-up timed out")
            raise BackendError(
                f"{self.name}: workers not ready after {self.start_timeout:g} s (start_timeout)"
            )

    def _watch(self, run: _PoolRun):
        """Between events of a map: dead workers (their item runs again or is lost), an item
        past the timeout (the pool is stopped), tasks lost without a known item."""
        for p in list(self._pool._pool):  # replacements the pool started
            if p.pid not in run.ended:
                self._known.setdefault(p.pid, p)
        for pid, p in list(self._known.items()):
            if p.exitcode is not None:
                del self._known[pid]
                self._ended(run, pid, p.exitcode)
        # a replacement that started, claimed a slot and died between two looks was taken out of
        # the pool's list (and reaped) by the pool before it was seen: its slot says it existed
        # (every worker dying at its first task went uncounted, and the map waited forever)
        for pid in self._slots.pids():
            if pid not in self._known and pid not in run.ended and not _alive(pid):
                self._ended(run, pid, None)
        if self.timeout is not None:
            for _pid, gen, idx, ran in self._slots.running():
                if gen == self._gen and ran > self.timeout:
                    item = run.items[idx]
                    self._break(f"item {item!r} exceeded the timeout")
                    raise ItemTimeout(item, self.timeout, ran)
        if run.unattributed:
            live = [pid for pid, p in self._known.items() if p.exitcode is None]
            all_idle = bool(live) and all(self._slots.idle(pid) for pid in live)
            run.check_stall(all_idle)

    def _ended(self, run: _PoolRun, pid: int, code: int | None) -> None:
        """Worker ``pid`` ended with exit status ``code`` (None: ended unseen, status unknown):
        the item it ran runs again or is lost, or, without one, it counts as an idle death (not
        when it retired after ``max_tasks_per_worker``, status 0)."""
        run.ended.add(pid)
        where = self._slots.item_of(pid)
        self._slots.release(pid)
        if code != 0:
            # the task it held never completes in the pool's books, and a graceful
            # close() + join() would wait for it forever: terminate at exit instead
            self._dirty = True
        if where is not None and where[0] == self._gen and run.owner(where[1]) is not None:
            run.worker_died(
                where[1], worker_lost(self.name, pid=pid, exitcode=code, item=run.items[where[1]])
            )
        elif code != 0:
            detail = "during a map" if code is not None else "during a map, exit status not seen"
            run.idle_death(worker_lost(self.name, pid=pid, exitcode=code, running=False, detail=detail))

    def _as_error(self, exc, idxs, items):
        if isinstance(exc, BackendError):
            return exc
        if len(idxs) == 1:
            return ItemError(items[idxs[0]], exc)
        return BackendError(f"{self.name}: {type(exc).__name__}: {exc}")

    # -- mapping -----------------------------------------------------------------
    def _tasks(self, n_items: int) -> list[list[int]]:
        """The items of each task (one each; the map backends override it with chunks)."""
        return [[i] for i in range(n_items)]

    def _map(self, fn, items, progress):
        if self._broken or self._pool is None:
            raise BackendError(
                f"{self.name}: the pool is stopped ({self._broken or 'not running'}); start a new backend"
            )
        self._check_importable(fn)
        self._gen += 1
        run = _PoolRun(
            items,
            self._tasks(len(items)),
            LostItems(self.name, items, self.retries, self._on_lost, idle_budget=2 * self.workers + 2),
            progress,
        )
        events = _Events()
        last = time.monotonic()
        while run.todo or run.running:
            while run.todo and not (self.one_at_a_time and run.running):
                tid, idxs = run.submit()
                self._pool.apply_async(
                    run_jobs,
                    (fn, [(job_key(self._gen, i), items[i]) for i in idxs]),
                    callback=functools.partial(events.done, tid),
                    error_callback=functools.partial(events.failed, tid),
                )
            try:
                kind, tid, value = events.q.get(timeout=POLL_S)
            except queue.Empty:
                kind = None
            if kind == "err" and tid in run.running:
                self._dirty = True  # other tasks may still run: terminate, do not join, at exit
                raise self._as_error(value, run.running[tid], items)
            if kind == "ok":
                run.finished(tid, value)
            if kind is None or time.monotonic() - last > POLL_S:
                self._watch(run)
                last = time.monotonic()
        return run.out


class _PoolRun:
    """The state of one pool map: tasks to submit, tasks running, results, lost items."""

    def __init__(self, items: list, tasks: list[list[int]], lost: LostItems, progress):
        self.items = items
        self.todo: deque[list[int]] = deque(tasks)
        self.running: dict[int, list[int]] = {}  # task id -> item indices
        self.out: list = [None] * len(items)
        self.lost = lost
        self.progress = progress
        self.ended: set[int] = set()  # pids of workers seen dead (or retired)
        self.unattributed = False  # a worker died in this map without a known item
        self._ids = itertools.count()
        self._stall_since: float | None = None

    def submit(self) -> tuple[int, list[int]]:
        idxs = self.todo.popleft()
        tid = next(self._ids)
        self.running[tid] = idxs
        return tid, idxs

    def finished(self, tid: int, values: list) -> None:
        idxs = self.running.pop(tid, None)
        if idxs is None:  # a task submitted again after a worker death finished twice
            return
        for i, v in zip(idxs, values):
            self.out[i] = v
        self.progress(len(idxs))

    def owner(self, i: int) -> int | None:
        return next((tid for tid, idxs in self.running.items() if i in idxs), None)

    def worker_died(self, i: int, error) -> None:
        """The worker running item ``i`` died: the rest of its task is submitted again, ``i``
        alone again (or it is lost)."""
        idxs = self.running.pop(self.owner(i))
        rest = [j for j in idxs if j != i]
        if self.lost.died(i, error):
            self.todo.appendleft([i])
        else:
            self.out[i] = self.lost.lost[i]
            self.progress(1)
        if rest:  # ran before i in the chunk (results never sent) or not yet: not charged
            self.todo.appendleft(rest)

    def idle_death(self, error) -> None:
        self.lost.idle_death(error)
        self.unattributed = True

    def check_stall(self, all_idle: bool) -> None:
        """After a death without a known item: when every live worker has sat idle for
        :data:`STALL_S` with tasks outstanding, the dead worker had taken them (it died between
        taking a task and logging its item, or while sending the result): submit them again."""
        if not (all_idle and self.running):
            self._stall_since = None
            return
        now = time.monotonic()
        if self._stall_since is None:
            self._stall_since = now
        elif now - self._stall_since > STALL_S:
            for tid in list(self.running):
                self.todo.append(self.running.pop(tid))
            self.unattributed = False
            self._stall_since = None


class PoolApplyBackend(PoolBackend):
    """``pool-apply``: one blocking ``apply`` per item, so one worker busy at a time."""

    name = "pool-apply"
    one_at_a_time = True


class PoolApplyAsyncBackend(PoolBackend):
    """``pool-apply-async``: submit every item with ``apply_async``, then gather."""

    name = "pool-apply-async"


class PoolMapBackend(PoolBackend):
    """``pool-map``: the chunks ``Pool.map`` makes (option ``chunksize``, default
    :func:`auto_chunksize`), one task per chunk; progress per chunk.

    ``Pool.map`` puts its chunks on the pool's task queue as one generator and returns the
    results all together, so a chunk lost with its worker would lose the whole map; here each
    chunk is its own ``apply_async`` task (the same worker code, ``mapstar`` of one chunk),
    so a lost chunk is submitted again and the others keep their results.
    """

    name = "pool-map"
    option_names = PoolBackend.option_names + ("chunksize",)

    def chunksize_for(self, n_items: int) -> int:
        c = self.options.get("chunksize")
        return int(c) if c else auto_chunksize(n_items, self.workers)

    def describe(self) -> dict:
        return {**super().describe(), "chunksize": self.options.get("chunksize") or "auto"}

    def _tasks(self, n_items):
        c = self.chunksize_for(n_items)
        return [list(range(k, min(k + c, n_items))) for k in range(0, n_items, c)]


class PoolMapAsyncBackend(PoolMapBackend):
    """``pool-map-async``: the same chunks and code as ``pool-map`` (``Pool.map`` is
    ``map_async(...).get()`` inside CPython)."""

    name = "pool-map-async"


class ProcessBackend(_MPBackend):
    """``process``: one ``multiprocessing.Process`` per item, at most ``workers`` alive.

    Each child sets the thread limit, runs ``warmup`` (there are no
    long-lived workers to warm, so every child pays it as part of the item)
    and ``fn(item)``, and sends the result through a pipe. ``timeout``
    counts from the child's start, so it includes the child's start-up.
    """

    name = "process"

    def _start(self):
        self.start_server()

    def _map(self, fn, items, progress):
        self._check_importable(fn)
        out = [None] * len(items)
        todo = deque(range(len(items)))
        lost = LostItems(self.name, items, self.retries, self._on_lost)
        live: dict = {}  # read end -> (process, index, started)

        def died(p, i):
            """Child ``p`` of item ``i`` ended without a result: ``i`` runs again or is lost."""
            p.join(5)
            error = worker_lost(self.name, pid=p.pid, exitcode=p.exitcode, item=items[i])
            if lost.died(i, error):
                todo.appendleft(i)
            else:
                out[i] = lost.lost[i]
                progress(1)

        # children that sent their result and are exiting: reaped after the next child started
        # (their exit status travels through the forkserver: waiting for it first cost ~15 ms
        # per item)
        exiting: list = []
        try:
            while todo or live:
                while todo and len(live) < self.workers:
                    i = todo.popleft()
                    r, w = self._ctx.Pipe(duplex=False)
                    p = self._ctx.Process(
                        target=process_main,
                        args=(w, fn, items[i], self.thread_limit, self.warmup),
                        name=f"genre-hpc-item-{i}",
                        daemon=True,
                    )
                    with self.starting_children():
                        p.start()
                    w.close()
                    live[r] = (p, i, time.monotonic())
                exiting = [p for p in exiting if not _reaped(p)]
                waitables = list(live) + [p.sentinel for p, _, _ in live.values()]
                multiprocessing.connection.wait(waitables, timeout=POLL_S)
                for r in list(live):
                    p, i, t0 = live[r]
                    if r.poll():
                        try:
                            kind, value = r.recv()
                        except (EOFError, OSError):
                            del live[r]
                            r.close()
                            died(p, i)
                            continue
                        del live[r]
                        r.close()
                        exiting.append(p)
                        if kind == "ok":
                            out[i] = value
                            progress(1)
                        elif kind == "item":
                            raise value
                        else:
                            raise BackendError(
                                f"{self.name}: the process of item {items[i]!r} failed to start: {value}"
                            )
                    elif p.exitcode is not None:
                        del live[r]
                        r.close()
                        died(p, i)
                    elif self.timeout is not None and time.monotonic() - t0 > self.timeout:
                        raise ItemTimeout(items[i], self.timeout, time.monotonic() - t0)
        finally:
            stop_processes([p for p, _, _ in live.values()])
            for r in live:
                r.close()
            for p in exiting:
                p.join(30)
                if p.exitcode is None:
                    p.kill()
                    p.join()
                p.close()
        return out


def terminate_pool(pool, grace: float = 5.0) -> None:
    """``pool.terminate()``, with SIGKILL for the workers still alive after ``grace`` seconds.

    ``Pool.terminate`` sends SIGTERM and then waits for each worker without a limit; a worker
    that does not act on the SIGTERM (its handler runs only when its main thread gets back to
    Python) would hang the caller for ever: seen once in the test suite, 600 s in
    ``Pool._terminate_pool``'s ``join``.
    """
    import os
    import signal
    import threading

    procs = list(getattr(pool, "_pool", None) or [])
    t = threading.Thread(target=pool.terminate, name="genre-hpc-pool-terminate", daemon=True)
    t.start()
    t.join(grace)
    if t.is_alive():
        for p in procs:
            popen = getattr(p, "_popen", None)
            if popen is not None and popen.returncode is None:
                try:
                    os.kill(p.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
                except (ProcessLookupError, PermissionError):
                    pass
        t.join()


def _reaped(p) -> bool:
    """Close ``p`` if it has exited (True); False while it still runs."""
    if p.exitcode is None:
        return False
    p.close()
    return True


def _main_guard_hint(exitcode) -> str:
    """Why a worker of a script may exit 1 at start-up: the forkserver's and spawn's workers import
    the main script as ``__mp_main__``, and a script without ``if __name__ == "__main__":`` runs
    its work (and starts another pool) again in every worker."""
    main = sys.modules.get("__main__")
    if exitcode != 1 or not getattr(main, "__file__", None):
        return ""
    return (
        f"; its workers import the main script {main.__file__}: does it guard its work with "
        '`if __name__ == "__main__":`? (docs/backends.md, "Start method")'
    )
