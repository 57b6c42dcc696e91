"""The standard library's process backends.

=====================  ===============================================================
``pool-apply``         ``multiprocessing.Pool``, one blocking ``apply`` per item: serial
                       by construction (the study's anti-pattern, kept to show it)
``pool-apply-async``   ``apply_async`` for every item, then gather
``pool-map``           ``Pool.map`` over chunks of :func:`auto_chunksize` items
``pool-map-async``     ``Pool.map_async(...).get()``, same chunks
``process``            one ``multiprocessing.Process`` per item, at most ``workers``
                       alive, each result sent back through a pipe
=====================  ===============================================================

A blocking ``Pool.apply``/``Pool.map``/``AsyncResult.get()`` waits forever
when a worker dies (the pool replaces the process and forgets its task).
Here every wait is a poll: the parent watches the worker processes' exit
codes and a small shared-memory table where each worker writes which item it
runs since when, so a dead worker gives :class:`~.base.WorkerLost` naming the
item and a slow item gives :class:`~.base.ItemTimeout`, both within about
``POLL_S`` seconds. ``Pool.apply(...)`` and ``Pool.map(...)`` are
``apply_async(...).get()`` and ``map_async(...).get()`` in CPython, so the
watched forms run the same code path.

Options: ``start_method`` (``"spawn"`` by default, see
:data:`~._workers.DEFAULT_START_METHOD`), ``start_timeout`` (seconds to wait
for every worker to be started and warm), and ``chunksize`` for the two map
backends. The worker side (initializer, start-up barrier, the shared item
table, the ``process`` child's body) is :mod:`genre_hpc.backends._workers`.
"""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.connection
import queue
import time
from collections import deque

from ._workers import (
    DEFAULT_START_METHOD,
    POLL_S,
    ProcessWorkers,
    WorkerSlots,
    auto_chunksize,
    get_context,
    job_key,
    pool_initializer,
    process_main,
    ready_task,
    run_item,
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
    """What the ``multiprocessing`` backends share: start method and start-up timeout."""

    option_names: tuple[str, ...] = ProcessWorkers.OPTION_NAMES


class _Events:
    """Pool callbacks push ``(kind, key, value)`` here; the main thread consumes them."""

    def __init__(self):
        self.q: queue.SimpleQueue = queue.SimpleQueue()

    def done(self, key, value):
        self.q.put(("ok", key, value))

    def failed(self, key, exc):
        self.q.put(("err", key, exc))


class PoolBackend(_MPBackend):
    """Base of the ``pool-*`` backends: a watched ``multiprocessing.Pool``."""

    name = "pool"

    def _start(self):
        self._pool = None
        self._broken: str | None = None
        self._dirty = False
        self._gen = 0
        self._items: list | None = None
        self._phase = "start-up"
        self._slots = WorkerSlots(self._ctx, self.workers)
        self.start_server()
        with self.starting_children():
            self._pool = self._ctx.Pool(
                self.workers, initializer=pool_initializer, initargs=self.initargs(self._slots)
            )
        self._procs = list(self._pool._pool)  # the original workers; a replacement means one died
        deadline = time.monotonic() + self.start_timeout
        events = _Events()
        for k in range(self.workers):
            self._pool.apply_async(
                ready_task,
                (self.start_timeout,),
                callback=functools.partial(events.done, k),
                error_callback=functools.partial(events.failed, k),
            )
        self._collect(events, self.workers, lambda k, v: None, deadline=deadline)
        self._phase = "between maps"

    def _stop(self):
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is None:
            return
        if self._dirty or self._broken:
            pool.terminate()
        else:
            pool.close()
        pool.join()

    # -- watching -------------------------------------------------------------
    def _break(self, reason: str):
        """Stop a pool that lost a worker or has a stuck item; later maps raise."""
        self._broken = reason
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
            pool.join()

    def _label(self, gen: int, idx: int):
        if gen == self._gen and self._items is not None and 0 <= idx < len(self._items):
            return self._items[idx], True
        return f"<item #{idx} of an earlier map>", False

    def _check(self, deadline: float | None):
        """Raise if a worker died, an item overran the timeout, or start-up took too long."""
        for p in self._procs:
            code = p.exitcode
            if code is not None:
                where = self._slots.item_of(p.pid)
                lost = worker_lost(
                    self.name,
                    pid=p.pid,
                    exitcode=code,
                    item=self._label(*where)[0] if where else None,
                    running=where is not None,
                    detail=self._phase,
                    consequence="the pool was terminated",
                )
                self._break(str(lost))
                raise lost
        if self.timeout is not None:
            for _pid, gen, idx, ran in self._slots.running():
                if ran > self.timeout:
                    item = self._label(gen, idx)[0]
                    self._break(f"item {item!r} exceeded the timeout")
                    raise ItemTimeout(item, self.timeout, ran)
        if deadline is not None and time.monotonic() > deadline:
            self._break("start-up timed out")
            raise BackendError(
                f"{self.name}: workers not ready after {self.start_timeout:g} s (start_timeout)"
            )

    def _collect(self, events: _Events, n_events: int, on_done, deadline=None, items=None):
        """Consume ``n_events`` callback events, checking the workers every ``POLL_S``."""
        got = 0
        last = time.monotonic()
        while got < n_events:
            try:
                kind, key, value = events.q.get(timeout=POLL_S)
            except queue.Empty:
                kind = None
            if kind is None:
                self._check(deadline)
                last = time.monotonic()
                continue
            if kind == "err":
                self._dirty = True  # other tasks may still run: terminate, do not join, at exit
                raise self._as_error(value, key, items)
            on_done(key, value)
            got += 1
            if time.monotonic() - last > POLL_S:
                self._check(deadline)
                last = time.monotonic()

    def _as_error(self, exc, key, items):
        if isinstance(exc, BackendError):
            return exc
        if items is not None and isinstance(key, int):
            return ItemError(items[key], exc)
        return BackendError(f"{self.name}: {type(exc).__name__}: {exc}")

    # -- mapping -----------------------------------------------------------------
    def _map(self, fn, items, progress):
        if self._broken or self._pool is None:
            raise BackendError(
                f"{self.name}: the pool is stopped ({self._broken or 'not running'}); start a new backend"
            )
        self._gen += 1
        self._items = items
        self._phase = "during a map"
        jobs = [(job_key(self._gen, i), item) for i, item in enumerate(items)]
        try:
            return self._run(functools.partial(run_item, fn), jobs, items, progress)
        finally:
            self._phase = "between maps"

    def _run(self, call, jobs, items, progress) -> list:
        raise NotImplementedError


class PoolApplyBackend(PoolBackend):
    """``pool-apply``: one blocking ``apply`` per item, so one worker busy at a time."""

    name = "pool-apply"

    def _run(self, call, jobs, items, progress):
        out = [None] * len(jobs)

        def done(k, v):
            out[k] = v

        for k, job in enumerate(jobs):
            events = _Events()
            self._pool.apply_async(
                call,
                (job,),
                callback=functools.partial(events.done, k),
                error_callback=functools.partial(events.failed, k),
            )
            self._collect(events, 1, done, items=items)
            progress(1)
        return out


class PoolApplyAsyncBackend(PoolBackend):
    """``pool-apply-async``: submit every item with ``apply_async``, then gather."""

    name = "pool-apply-async"

    def _run(self, call, jobs, items, progress):
        out = [None] * len(jobs)
        events = _Events()
        for k, job in enumerate(jobs):
            self._pool.apply_async(
                call,
                (job,),
                callback=functools.partial(events.done, k),
                error_callback=functools.partial(events.failed, k),
            )

        def done(k, v):
            out[k] = v
            progress(1)

        self._collect(events, len(jobs), done, items=items)
        return out


class PoolMapBackend(PoolBackend):
    """``pool-map``: ``Pool.map`` over chunks (option ``chunksize``, default :func:`auto_chunksize`).

    Progress is reported once, at the end.
    """

    name = "pool-map"
    option_names = _MPBackend.option_names + ("chunksize",)

    def chunksize_for(self, n_items: int) -> int:
        c = self.options.get("chunksize")
        return int(c) if c else auto_chunksize(n_items, self.workers)

    def describe(self) -> dict:
        return {**super().describe(), "chunksize": self.options.get("chunksize") or "auto"}

    def _run(self, call, jobs, items, progress):
        box = {}
        events = _Events()
        self._pool.map_async(
            call,
            jobs,
            chunksize=self.chunksize_for(len(jobs)),
            callback=functools.partial(events.done, None),
            error_callback=functools.partial(events.failed, None),
        )
        self._collect(events, 1, lambda k, v: box.setdefault("out", v), items=items)
        progress(len(jobs))
        return list(box["out"])


class PoolMapAsyncBackend(PoolMapBackend):
    """``pool-map-async``: ``Pool.map_async(...).get()`` (what ``Pool.map`` does inside)."""

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
        out = [None] * len(items)
        todo = deque(range(len(items)))
        live: dict = {}  # read end -> (process, index, started)
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
                            p.join(5)
                            raise worker_lost(
                                self.name, pid=p.pid, exitcode=p.exitcode, item=items[i]
                            ) from None
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
                        raise worker_lost(self.name, pid=p.pid, exitcode=p.exitcode, item=items[i])
                    elif self.timeout is not None and time.monotonic() - t0 > self.timeout:
                        raise ItemTimeout(items[i], self.timeout, time.monotonic() - t0)
        finally:
            for r, (p, _, _) in live.items():
                if p.exitcode is None:
                    p.kill()
                p.join(10)
                r.close()
            for p in exiting:
                p.join(30)
                if p.exitcode is None:
                    p.kill()
                    p.join()
                p.close()
        return out


def _reaped(p) -> bool:
    """Close ``p`` if it has exited (True); False while it still runs."""
    if p.exitcode is None:
        return False
    p.close()
    return True
