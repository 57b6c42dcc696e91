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
:data:`DEFAULT_START_METHOD`), ``start_timeout`` (seconds to wait for every
worker to be started and warm), and ``chunksize`` for the two map backends.
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import threading
import time
import traceback
from collections import deque

from ..threads import patched_environ, thread_env
from .base import (
    Backend,
    BackendError,
    ItemError,
    ItemTimeout,
    WorkerLost,
    call_portable,
    describe_exitcode,
    init_worker,
    portable_item_error,
)

#: start methods in order of preference for safety, then speed
START_METHODS = ("spawn", "forkserver", "fork")
#: "spawn": a fresh interpreter per worker. It is the only method that is
#: safe when the parent already runs threads (tqdm's monitor, BLAS and
#: OpenMP pools, a Dask client, TensorFlow): fork copies locks held by
#: other threads. It is also the only one on Windows and the default on
#: macOS, so results compare across machines. Its extra start-up cost is
#: measured in ``startup_s``, never in the timed map (docs/backends.md).
DEFAULT_START_METHOD = "spawn"
#: seconds to wait for all workers to start and run ``warmup``
DEFAULT_START_TIMEOUT = 300.0
#: how often a waiting parent checks its workers (seconds)
POLL_S = 0.1
#: upper bound of the automatic chunk size
MAX_AUTO_CHUNK = 64


def get_context(start_method: str | None = None):
    """The ``multiprocessing`` context of ``start_method`` (default :data:`DEFAULT_START_METHOD`)."""
    method = start_method or DEFAULT_START_METHOD
    available = multiprocessing.get_all_start_methods()
    if method not in available:
        raise ValueError(f"start_method {method!r} is not available here; choose one of {available}")
    return multiprocessing.get_context(method)


def auto_chunksize(n_items: int, workers: int) -> int:
    """Items per task for the map backends: ``ceil(n / (8 * workers))``, at most 64.

    At least eight chunks per worker bound the tail (one worker finishing
    its last chunk while the others idle) to about an eighth of a worker's
    share, and small inputs (``n <= 8 * workers``) go one item per task;
    the cap keeps each message small. For work items of seconds (a track)
    the per-task overhead (well under a millisecond) is negligible either
    way; the chunks matter for many tiny items.
    """
    return max(1, min(MAX_AUTO_CHUNK, math.ceil(n_items / (8 * max(1, workers)))))


# -- the worker side --------------------------------------------------------------

#: item indexes in the shared table carry the map's generation in the high bits
_GEN_SHIFT = 32


class WorkerSlots:
    """Shared memory where every worker writes its pid, its current item and since when.

    Made in the parent and handed to the workers as an initializer argument;
    also carries the start-up barrier.
    """

    def __init__(self, ctx, n_workers: int):
        self.n = 2 * n_workers + 2  # room for a replacement worker or two
        self.counter = ctx.Value("i", 0)
        self.pid = ctx.RawArray("q", self.n)
        self.index = ctx.RawArray("q", [-1] * self.n)
        self.since = ctx.RawArray("d", self.n)
        self.barrier = ctx.Barrier(n_workers)

    def claim(self) -> int:
        """Take a slot for this process (worker side)."""
        with self.counter.get_lock():
            s = self.counter.value % self.n
            self.counter.value += 1
        self.index[s] = -1
        self.since[s] = 0.0
        self.pid[s] = os.getpid()
        return s

    def running(self) -> list[tuple[int, int, int, float]]:
        """``(pid, generation, index, seconds)`` of every item running now (parent side)."""
        now = time.monotonic()
        out = []
        for s in range(self.n):
            t = self.since[s]
            code = self.index[s]
            if t > 0.0 and code >= 0 and self.since[s] == t:
                out.append((self.pid[s], code >> _GEN_SHIFT, code & ((1 << _GEN_SHIFT) - 1), now - t))
        return out

    def item_of(self, pid: int) -> tuple[int, int] | None:
        """``(generation, index)`` of the item ``pid`` was running, if any."""
        for s in range(self.n):
            code = self.index[s]
            if self.pid[s] == pid and code >= 0:
                return code >> _GEN_SHIFT, code & ((1 << _GEN_SHIFT) - 1)
        return None


_SLOTS: WorkerSlots | None = None
_SLOT = -1
_INIT_ERROR: str | None = None


def pool_initializer(thread_limit, warmup, slots: WorkerSlots | None) -> None:
    """Pool initializer: claim a slot, limit threads, warm up; never raises.

    A raising initializer makes ``multiprocessing.Pool`` restart the worker
    forever, so a failure is kept and reported by :func:`ready_task`.
    """
    global _SLOTS, _SLOT, _INIT_ERROR
    _SLOTS = slots
    _SLOT = slots.claim() if slots is not None else -1
    try:
        init_worker(thread_limit, warmup)
    except BaseException as exc:  # reported to the parent by ready_task
        _INIT_ERROR = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"


def ready_task(timeout: float) -> int:
    """Run once per worker at start-up: returns when every worker is initialised and warm.

    Each worker blocks on the shared barrier, so ``workers`` of these tasks
    must run on ``workers`` distinct processes.
    """
    if _INIT_ERROR is not None:
        if _SLOTS is not None:
            _SLOTS.barrier.abort()
        raise BackendError(f"worker {os.getpid()} failed to start: {_INIT_ERROR}")
    if _SLOTS is not None:
        try:
            _SLOTS.barrier.wait(timeout)
        except threading.BrokenBarrierError:
            raise BackendError(
                "start-up barrier broken: another worker failed to start, or start-up timed out"
            ) from None
    return os.getpid()


def run_item(fn, job):
    """Run ``fn(item)`` for ``job = (code, item)`` and record it in this worker's slot."""
    code, item = job
    slots, s = _SLOTS, _SLOT
    if slots is not None:
        slots.index[s] = code
        slots.since[s] = time.monotonic()
    try:
        return call_portable(fn, item)
    finally:
        if slots is not None:
            slots.since[s] = 0.0
            slots.index[s] = -1


def _process_main(conn, fn, item, thread_limit, warmup) -> None:
    """Body of one ``process``-backend child: set up, run one item, send the result."""
    try:
        init_worker(thread_limit, warmup)
    except BaseException as exc:
        conn.send(("init", f"{type(exc).__name__}: {exc}"))
        conn.close()
        return
    try:
        out = ("ok", fn(item))
    except Exception as exc:
        out = ("item", portable_item_error(item, exc))
    try:
        conn.send(out)
    except Exception as exc:  # the result does not pickle
        conn.send(("item", ItemError(item, f"result could not be sent back: {type(exc).__name__}: {exc}")))
    finally:
        conn.close()


# -- the parent side --------------------------------------------------------------


def kill_pid(pid: int) -> None:
    """Kill a process now (SIGKILL; TerminateProcess on Windows); ignore if gone."""
    try:
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    except (ProcessLookupError, PermissionError, OSError):
        pass


class Watchdog(threading.Thread):
    """Per-item timeout for executors that only notice dead workers.

    Every ``POLL_S`` it calls ``running()`` -> ``[(pid, key, seconds)]``; the
    first item past ``timeout`` is recorded in :attr:`fired` and its worker
    is killed, so the executor fails fast (``BrokenProcessPool``, loky's
    ``TerminatedWorkerError``) and the backend raises :class:`~.base.ItemTimeout`.
    """

    def __init__(self, timeout: float, running):
        super().__init__(name="genre-hpc-watchdog", daemon=True)
        self.timeout = timeout
        self.running = running
        self.fired: tuple | None = None
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(POLL_S):
            try:
                rows = self.running()
            except Exception:
                continue
            for pid, key, ran in rows:
                if ran > self.timeout:
                    self.fired = (key, ran)
                    kill_pid(pid)
                    return

    def stop(self):
        self._halt.set()
        self.join()


class _MPBackend(Backend):
    """What the ``multiprocessing`` backends share: start method and start-up timeout."""

    uses_processes = True
    supports_timeout = True
    option_names: tuple[str, ...] = ("start_method", "start_timeout")

    def __init__(self, workers: int = 1, **kwargs):
        super().__init__(workers, **kwargs)
        self.start_method = self.options.get("start_method") or DEFAULT_START_METHOD
        self._ctx = get_context(self.start_method)
        self.start_timeout = float(self.options.get("start_timeout") or DEFAULT_START_TIMEOUT)

    def describe(self) -> dict:
        return {**super().describe(), "start_method": self.start_method}


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
        with patched_environ(thread_env(self.thread_limit)):
            self._pool = self._ctx.Pool(
                self.workers,
                initializer=pool_initializer,
                initargs=(self.thread_limit, self.warmup, self._slots),
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
                item = self._label(*where)[0] if where else None
                what = f"while running item {item!r}" if where else f"while idle ({self._phase})"
                msg = (
                    f"{self.name}: worker process {p.pid} died ({describe_exitcode(code)}) {what}; "
                    "the pool was terminated"
                )
                self._break(msg)
                raise WorkerLost(msg, item)
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
        jobs = [((self._gen << _GEN_SHIFT) | i, item) for i, item in enumerate(items)]
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
        if self.start_method == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def _map(self, fn, items, progress):
        out = [None] * len(items)
        todo = deque(range(len(items)))
        live: dict = {}  # read end -> (process, index, started)
        env = thread_env(self.thread_limit)
        try:
            while todo or live:
                while todo and len(live) < self.workers:
                    i = todo.popleft()
                    r, w = self._ctx.Pipe(duplex=False)
                    p = self._ctx.Process(
                        target=_process_main,
                        args=(w, fn, items[i], self.thread_limit, self.warmup),
                        name=f"genre-hpc-item-{i}",
                        daemon=True,
                    )
                    with patched_environ(env):
                        p.start()
                    w.close()
                    live[r] = (p, i, time.monotonic())
                waitables = list(live) + [p.sentinel for p, _, _ in live.values()]
                multiprocessing.connection.wait(waitables, timeout=POLL_S)
                for r in list(live):
                    p, i, t0 = live[r]
                    if r.poll():
                        try:
                            kind, value = r.recv()
                        except (EOFError, OSError):
                            p.join(5)
                            raise WorkerLost(
                                f"{self.name}: the process of item {items[i]!r} died "
                                f"({describe_exitcode(p.exitcode)})",
                                items[i],
                            ) from None
                        del live[r]
                        r.close()
                        p.join(30)
                        if p.exitcode is None:
                            p.kill()
                            p.join()
                        p.close()
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
                        raise WorkerLost(
                            f"{self.name}: the process of item {items[i]!r} died "
                            f"({describe_exitcode(p.exitcode)})",
                            items[i],
                        )
                    elif self.timeout is not None and time.monotonic() - t0 > self.timeout:
                        raise ItemTimeout(items[i], self.timeout, time.monotonic() - t0)
        finally:
            for r, (p, _, _) in live.items():
                if p.exitcode is None:
                    p.kill()
                p.join(10)
                r.close()
        return out
