"""The worker toolkit the process backends share (private to :mod:`genre_hpc.backends`).

``pool-*``, ``process``, ``dask-processes`` and ``joblib-loky`` start worker processes of their
own; ``dask-distributed`` and ``ipyparallel`` run items on workers they start or find. What they
have in common lives here, once, so a change of worker behaviour is made in one place:

================================  ===========================================================
start                             :func:`get_context` (the start method, the one place that
                                  makes a ``multiprocessing`` context), :class:`ProcessWorkers`
                                  (the ``start_method`` option, the children's environment,
                                  the initializer arguments)
set-up in every worker            :func:`init_worker` (thread limit, then warm-up),
                                  :func:`pool_initializer` + :func:`ready_task` (the start-up
                                  barrier: every worker set up and warm before ``__enter__``
                                  returns), :func:`init_error`
running one item                  :func:`run_item` (every item of a pool, ``process``,
                                  ``dask-processes``, ``joblib-loky`` and ``dask-distributed``
                                  goes through it), recording *which item runs since when* in
                                  an item log: :class:`WorkerSlots` (shared memory, pools and
                                  ``dask-processes``), :class:`FileLog` (``joblib-loky``) or
                                  this process's own table (:func:`running_here`)
errors that cross processes       :func:`call_portable`, :func:`portable_item_error`
watching                          :class:`Watchdog`, :func:`kill_pid`, :func:`describe_exitcode`,
                                  :func:`worker_lost` (the one message for a dead worker)
losing a worker                   :class:`LostItems` (the one retry policy: which items a dead
                                  worker took down, which run again, alone or not, which are
                                  lost for good and what ``on_lost`` makes of them)
interrupts                        :func:`interrupts_blocked` (children start with SIGINT
                                  blocked), :func:`ignore_interrupts` (in every worker): a
                                  Ctrl-C reaches only the parent, which stops the workers
sizing                            :func:`auto_chunksize`
================================  ===========================================================

``start_timeout`` is parsed once, by :class:`~.base.Backend`.

Where later work lands: a start method with preloaded modules goes into :func:`get_context`
(and :class:`ProcessWorkers` for its option); replacing a dead worker and retrying its item
starts from :func:`worker_lost`, which every process backend calls with the item the dead
worker ran; per-item timing traces go into :func:`run_item`, which sees the start and the end
of every item in every process backend.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from ..threads import limit_threads, patched_environ, thread_env
from . import _preload
from ._preload import already_warm
from .base import BackendError, ItemError, WorkerLost

#: start methods in order of preference for safety, then speed
START_METHODS = ("spawn", "forkserver", "fork")
#: "forkserver" where the platform has it (Linux, macOS), else "spawn". Both are
#: safe when the parent already runs threads (tqdm's monitor, BLAS and OpenMP
#: pools, a Dask client, TensorFlow), which "fork" is not: a worker is forked
#: from a clean, single-threaded server process (or is a fresh interpreter).
#: The server is started with the backend's warm-up already run in it
#: (:mod:`genre_hpc.backends.forkserver`), so workers start warm in a fraction
#: of a second where "spawn" re-imports and recompiles in every worker
#: (docs/backends.md). ``start_method="spawn"`` stays available.
DEFAULT_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
#: how often a waiting parent checks its workers (seconds)
POLL_S = 0.1
#: upper bound of the automatic chunk size
MAX_AUTO_CHUNK = 64


# -- start --------------------------------------------------------------------------------


def get_context(start_method: str | None = None):
    """The ``multiprocessing`` context of ``start_method`` (default :data:`DEFAULT_START_METHOD`).

    Raises
    ------
    ValueError
        When the method does not exist on this platform.
    """
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
    the per-task overhead (well under a millisecond for the pools, a few
    milliseconds of client, scheduler and nanny time for dask-distributed) is
    negligible either way; the chunks matter for many short items.
    """
    return max(1, min(MAX_AUTO_CHUNK, math.ceil(n_items / (8 * max(1, workers)))))


class ProcessWorkers:
    """Mixin of the backends that start ``multiprocessing`` workers (pools, ``process``,
    ``dask-processes``): the ``start_method`` option, its context, the environment and the
    initializer arguments the children get.

    Put it before the :class:`~.base.Backend` subclass in the bases; list
    :data:`OPTION_NAMES` in the class' ``option_names``.
    """

    #: the options this mixin reads
    OPTION_NAMES = ("start_method", "start_timeout")
    uses_processes = True
    supports_timeout = True

    def __init__(self, workers: int = 1, **kwargs):
        super().__init__(workers, **kwargs)
        self.start_method = self.options.get("start_method") or DEFAULT_START_METHOD
        self._ctx = get_context(self.start_method)

    def start_server(self) -> None:
        """Start the start method's server now, if it has one (``forkserver``), so that its
        start is part of ``startup_s`` rather than of the first item: the process' forkserver,
        warmed with this backend's ``warmup`` (:func:`genre_hpc.backends.forkserver.acquire`;
        released when the backend stops)."""
        if self.start_method == "forkserver" and not getattr(self, "_server_held", False):
            from . import forkserver

            self.server = forkserver.acquire([self.warmup], env=self.child_environ())
            self._server_held = True

    def release_server(self) -> None:
        """This backend's workers are gone: the forkserver may be restarted by others."""
        if getattr(self, "_server_held", False):
            from . import forkserver

            self._server_held = False
            forkserver.release()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            self.release_server()

    def _cleanup_after_failed_start(self):
        try:
            super()._cleanup_after_failed_start()
        finally:
            self.release_server()

    def child_environ(self) -> dict:
        """Environment variables the worker processes are started with (the thread limit)."""
        return thread_env(self.thread_limit)

    def starting_children(self):
        """Context manager around the start of worker processes: their environment in place,
        SIGINT blocked (:func:`interrupts_blocked`: workers, and the threads that replace them,
        never see a Ctrl-C; the parent stops them)."""
        stack = contextlib.ExitStack()
        stack.enter_context(patched_environ(self.child_environ()))
        stack.enter_context(interrupts_blocked())
        return stack

    def initargs(self, slots: WorkerSlots | None) -> tuple:
        """The arguments of :func:`pool_initializer` for this backend's workers."""
        return (self.thread_limit, self.warmup, slots)

    def describe(self) -> dict:
        return {**super().describe(), "start_method": self.start_method}


# -- set-up in every worker -------------------------------------------------------------------

#: keeps the threadpoolctl limiter of a worker process alive
_WORKER_LIMIT = None
#: this worker's item log (a slot of the parent's WorkerSlots), set by pool_initializer
_SLOTS: WorkerSlots | None = None
_SLOT = -1
#: what went wrong in pool_initializer, reported by ready_task
_INIT_ERROR: str | None = None


def init_worker(thread_limit: int | None = 1, warmup: Callable[[], Any] | None = None) -> int:
    """Prepare a worker process: thread limit, then ``warmup()``; returns the pid.

    Called once in every worker (pool initializer, the set-up task pinned to
    each Dask worker, ``DirectView.apply_sync`` on ipyparallel engines); the
    limiter is kept for the life of the process.
    """
    global _WORKER_LIMIT
    warm = warmup is not None and already_warm(warmup)  # run in the forkserver before the fork
    if not (warm and _preload.THREAD_LIMIT == thread_limit):  # else applied there too
        _WORKER_LIMIT = limit_threads(thread_limit)
    if warmup is not None and not warm:
        warmup()
    return os.getpid()


def init_in_caller(thread_limit: int | None, warmup: Callable[[], Any] | None):
    """:func:`init_worker` for items that run in this process: the limit is restorable.

    Returns
    -------
    threadpoolctl limiter or None
        ``restore_original_limits()`` undoes the limit.
    """
    limiter = limit_threads(thread_limit, set_env=False)
    if warmup is not None:
        try:
            warmup()
        except BaseException:
            if limiter is not None:
                limiter.restore_original_limits()
            raise
    return limiter


def pool_initializer(thread_limit, warmup, slots: WorkerSlots | None) -> None:
    """Worker initializer: claim a slot, limit threads, warm up; never raises.

    A raising initializer makes ``multiprocessing.Pool`` restart the worker
    forever, so a failure is kept and reported by :func:`ready_task`.
    """
    global _SLOTS, _SLOT, _INIT_ERROR
    ignore_interrupts()
    _SLOTS = slots
    _SLOT = slots.claim() if slots is not None else -1
    try:
        init_worker(thread_limit, warmup)
    except BaseException as exc:  # reported to the parent by ready_task
        _INIT_ERROR = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    if slots is not None:
        slots.ready(_SLOT)


def init_error() -> str | None:
    """What went wrong in this worker's :func:`pool_initializer` (None when nothing did)."""
    return _INIT_ERROR


def check_init() -> None:
    """Raise :class:`~.base.BackendError` if this worker's initializer failed."""
    if _INIT_ERROR is not None:
        raise BackendError(f"worker {os.getpid()} failed to start: {_INIT_ERROR}")


def ready_task(timeout: float) -> int:
    """Run once per worker at start-up: returns when every worker is initialised and warm.

    Each worker blocks on the shared barrier, so ``workers`` of these tasks
    must run on ``workers`` distinct processes.
    """
    if _INIT_ERROR is not None and _SLOTS is not None:
        _SLOTS.barrier.abort()
    check_init()
    if _SLOTS is not None:
        try:
            _SLOTS.barrier.wait(timeout)
        except threading.BrokenBarrierError:
            raise BackendError(
                "start-up barrier broken: another worker failed to start, or start-up timed out"
            ) from None
    return os.getpid()


# -- running one item -------------------------------------------------------------------------

#: item keys in the shared table carry the map's generation in the high bits
GEN_SHIFT = 32
#: the item key of a slot whose worker is still being set up
STARTING = -2


def job_key(gen: int, index: int) -> int:
    """The integer key of item ``index`` of map ``gen`` (as :class:`WorkerSlots` stores it)."""
    return (gen << GEN_SHIFT) | index


def split_key(key: int) -> tuple[int, int]:
    """``(gen, index)`` of a :func:`job_key`."""
    return key >> GEN_SHIFT, key & ((1 << GEN_SHIFT) - 1)


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
        """Take a free slot for this process (worker side); a slot is free until a worker
        claims it and again once the parent :meth:`release` s it (after the worker ended)."""
        with self.counter.get_lock():
            free = [s for s in range(self.n) if self.pid[s] == 0]
            s = free[0] if free else self.counter.value % self.n
            self.counter.value += 1
            self.index[s] = STARTING
            self.since[s] = 0.0
            self.pid[s] = os.getpid()
        return s

    def ready(self, slot: int) -> None:
        """Worker side: set-up (thread limit, warm-up) is over; the worker waits for items."""
        self.index[slot] = -1

    def idle(self, pid: int) -> bool | None:
        """Parent side: True when ``pid`` is set up and runs no item, False when it starts or
        runs one, None when it has no slot (yet)."""
        for s in range(self.n):
            if self.pid[s] == pid:
                return self.index[s] == -1
        return None

    def release(self, pid: int) -> None:
        """Parent side: ``pid`` ended (and what it ran was read): its slot is free again."""
        with self.counter.get_lock():
            for s in range(self.n):
                if self.pid[s] == pid:
                    self.since[s] = 0.0
                    self.index[s] = -1
                    self.pid[s] = 0

    def begin(self, slot: int, key: int) -> None:
        """Worker side: item ``key`` starts in ``slot``."""
        self.index[slot] = key
        self.since[slot] = time.monotonic()

    def end(self, slot: int) -> None:
        """Worker side: the item of ``slot`` ended."""
        self.since[slot] = 0.0
        self.index[slot] = -1

    def running(self) -> list[tuple[int, int, int, float]]:
        """``(pid, generation, index, seconds)`` of every item running now (parent side)."""
        now = time.monotonic()
        out = []
        for s in range(self.n):
            t = self.since[s]
            code = self.index[s]
            if t > 0.0 and code >= 0 and self.since[s] == t:
                out.append((self.pid[s], *split_key(code), now - t))
        return out

    def pids(self) -> list[int]:
        """The pids holding a slot: the workers that claimed one and were not released."""
        return [pid for pid in self.pid[:] if pid]

    def item_of(self, pid: int) -> tuple[int, int] | None:
        """``(generation, index)`` of the item ``pid`` was running, if any."""
        for s in range(self.n):
            code = self.index[s]
            if self.pid[s] == pid and code >= 0:
                return split_key(code)
        return None


class FileLog:
    """An item log in a folder: one file per worker pid, holding ``"<key> <start>"``.

    For executors whose initializer arguments cannot carry shared memory
    (loky pickles them with its own reducers); a :class:`FileLog` pickles as
    its folder name.
    """

    def __init__(self, folder: str):
        self.folder = folder

    def begin(self, key: int) -> str | None:
        """Worker side: item ``key`` starts here (None when the folder is gone: the log is
        best effort, an item never fails for it)."""
        path = os.path.join(self.folder, str(os.getpid()))
        tmp = f"{path}.tmp"
        try:
            with open(tmp, "w") as fh:
                fh.write(f"{key} {time.monotonic()!r}")
            os.replace(tmp, path)
        except OSError:  # a task of an earlier, abandoned map whose log was removed
            return None
        return path

    @staticmethod
    def end(path: str | None) -> None:
        if path is None:
            return
        try:
            os.remove(path)
        except OSError:
            pass

    def running(self) -> list[tuple[int, int, float]]:
        """``[(pid, key, seconds)]`` of the items running now (parent side)."""
        now = time.monotonic()
        rows = []
        for name in os.listdir(self.folder):
            if not name.isdigit():
                continue
            try:
                with open(os.path.join(self.folder, name)) as fh:
                    key, t0 = fh.read().split()
                rows.append((int(name), int(key), now - float(t0)))
            except (OSError, ValueError):
                continue  # finished meanwhile
        return rows


#: key -> monotonic start, of the items running in this process (workers without a slot)
_RUNNING: dict = {}


def run_item(fn, job, log: FileLog | None = None):
    """Run ``fn(item)`` for ``job = (key, item)``, logged as running from start to end.

    The log is ``log`` when given, else this worker's slot of the parent's
    :class:`WorkerSlots` (pools, ``dask-processes``), else this process's own
    table (:func:`running_here`). An exception becomes a picklable
    :class:`~.base.ItemError` naming the item (:func:`call_portable`).
    """
    key, item = job
    if log is not None:
        mark = log.begin(key)
    elif _SLOTS is not None:
        _SLOTS.begin(_SLOT, key)
    else:
        _RUNNING[key] = time.monotonic()
    try:
        return call_portable(fn, item)
    finally:
        if log is not None:
            log.end(mark)
        elif _SLOTS is not None:
            _SLOTS.end(_SLOT)
        else:
            _RUNNING.pop(key, None)


def running_here(match: Callable[[Any], bool] | None = None) -> tuple[int, dict]:
    """``(pid, {key: seconds running})`` of this process's items logged in its own table.

    ``match(key)`` selects the keys (e.g. one map's); asked of remote workers
    with ``client.run``.
    """
    now = time.monotonic()
    return os.getpid(), {k: now - t for k, t in list(_RUNNING.items()) if match is None or match(k)}


def run_jobs(fn, jobs: list) -> list:
    """Run a list of ``(key, item)`` jobs in order (a pool task: one item or a chunk)."""
    return [run_item(fn, job) for job in jobs]


def process_main(conn, fn, item, thread_limit, warmup) -> None:
    """Body of one ``process``-backend child: set up, run one item, send the result."""
    ignore_interrupts()
    try:
        init_worker(thread_limit, warmup)
    except BaseException as exc:
        _send_to_parent(conn, ("init", f"{type(exc).__name__}: {exc}"))
        conn.close()
        return
    try:
        out = ("ok", run_item(fn, (0, item)))
    except ItemError as exc:
        # with the worker's traceback as its cause, as the pools' errors come (RemoteTraceback)
        from multiprocessing.pool import ExceptionWithTraceback

        out = ("item", ExceptionWithTraceback(exc, exc.__traceback__))
    try:
        _send_to_parent(conn, out)
    except Exception as exc:  # the result does not pickle
        _send_to_parent(
            conn, ("item", ItemError(item, f"result could not be sent back: {type(exc).__name__}: {exc}"))
        )
    finally:
        conn.close()


def _send_to_parent(conn, message) -> None:
    """Send ``message``; a parent that has gone (stopped by Ctrl-C while this child finished
    its item) no longer wants it, so a closed pipe ends the child quietly rather than with a
    traceback on the terminal the user just interrupted."""
    try:
        conn.send(message)
    except (BrokenPipeError, ConnectionResetError):
        pass


# -- errors that cross processes --------------------------------------------------------------


def portable_item_error(item, exc: BaseException) -> ItemError:
    """An :class:`~.base.ItemError` for ``exc`` that survives pickling.

    The original exception is kept when it pickles; otherwise its type and
    message are kept as text.
    """
    if isinstance(exc, ItemError):
        err = exc
    else:
        err = ItemError(item, exc)
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return ItemError(item, f"{type(exc).__name__}: {exc}")


def raise_portable(item, exc: BaseException):
    """Raise :func:`portable_item_error` of ``exc``, chained to ``exc`` only when that pickles.

    Call it outside the ``except`` block (as :func:`call_portable` does):
    inside, Python would attach ``exc`` as ``__context__``, and tracebacks
    pickled with tblib (Dask installs it) would carry it along.
    """
    err = portable_item_error(item, exc)
    if err is exc:
        raise err
    if err.cause is exc:
        raise err from exc
    raise err from None


def call_portable(fn, item):
    """Worker side of :func:`~.base.call_item`: ``fn(item)``; an exception becomes a picklable
    :class:`~.base.ItemError`."""
    try:
        return fn(item)
    except Exception as exc:
        failed = exc
    raise_portable(item, failed)


# -- watching ---------------------------------------------------------------------------------


def describe_exitcode(code: int | None) -> str:
    """``-9`` -> ``"killed by signal SIGKILL"``; ``1`` -> ``"exit code 1"``."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def worker_lost(
    backend: str,
    *,
    pid: int | None = None,
    exitcode: int | None = None,
    item=None,
    running: bool | None = None,
    detail: str = "",
    consequence: str = "",
) -> WorkerLost:
    """The :class:`~.base.WorkerLost` of a worker that died, in one form for every backend.

    ``"<backend>: worker process <pid> died (<how>) while running item <item>[; consequence]"``.

    Parameters
    ----------
    backend : str
        The backend's name.
    pid, exitcode : int, optional
        The dead process and its exit code (described by :func:`describe_exitcode`).
    item : optional
        The item it was running; ``running=False`` says it was idle.
    running : bool, optional
        Whether it ran an item (default: whether ``item`` is known).
    detail : str
        Said instead of the item when neither is known (e.g. the executor's own message),
        or after "while idle".
    consequence : str
        What happens to the backend (e.g. "the pool was terminated").
    """
    who = f"worker process {pid}" if pid is not None else "a worker process"
    how = f" ({describe_exitcode(exitcode)})" if exitcode is not None else ""
    if running is None:
        running = item is not None
    if running:
        what = f" while running item {item!r}"
    elif detail and item is None and exitcode is None:
        what = f" ({detail})"
    elif detail:
        what = f" while idle ({detail})"
    else:
        what = ""
    tail = f"; {consequence}" if consequence else ""
    return WorkerLost(f"{backend}: {who} died{how}{what}{tail}", item if running else None, exitcode=exitcode)


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


# -- losing a worker --------------------------------------------------------------------------


class LostItems:
    """The retry policy of one map, the same for every process backend.

    A worker that dies while running an item costs at most that item. The backend replaces the
    worker and tells this object what the dead worker was running:

    - :meth:`died`: the worker certainly died while running item ``i`` (the pools' and
      ``dask-processes``' item table names it, a ``process`` child runs one item, the item ran
      alone): ``i`` runs again if it has attempts left (``1 + retries`` in all), else it is
      *lost*: ``on_lost(item, WorkerLost)`` fills its slot, or the :class:`~.base.WorkerLost`
      is raised when there is no ``on_lost``;
    - :meth:`suspect`: a worker died and these items were running, but which one took it down
      is not known (an executor that kills all its workers when one dies, an ipyparallel task of
      several items): none is charged an attempt, and each runs again *alone*
      (:meth:`next_alone`), so that a second death names its item;
    - :meth:`idle_death`: a worker died without an item; after ``idle_budget`` of these in one
      map the workers are considered unusable (:class:`~.base.WorkerLost`).

    Parameters
    ----------
    backend : str
        The backend's name (for messages).
    items : list
        The map's items.
    retries : int
        How many more times an item runs after its worker died running it.
    on_lost : callable or None
        ``on_lost(item, error)``: the value of a lost item's slot (see :meth:`Backend.map`).
    idle_budget : int
        Deaths without an item tolerated in one map.
    """

    def __init__(self, backend: str, items: list, retries: int, on_lost=None, idle_budget: int = 8):
        self.backend = backend
        self.items = items
        self.retries = int(retries)
        self.on_lost = on_lost
        self.idle_budget = idle_budget
        #: index -> deaths of its worker while it ran (certain ones)
        self.deaths: dict[int, int] = {}
        #: indices to run alone next (their worker died, the cause is not known)
        self.suspects: list[int] = []
        #: index -> on_lost value of the items lost for good
        self.lost: dict[int, Any] = {}
        self.idle_deaths = 0

    def died(self, i: int, error: WorkerLost, alone: bool = False) -> bool:
        """The worker running item ``i`` died (``error`` says how): True to run ``i`` again,
        False when it is lost (its value is in :attr:`lost`). ``alone=True`` queues the retry
        for :meth:`next_alone` (backends whose executor breaks as a whole run a known crasher
        alone, so that it takes no other item down again).

        Raises
        ------
        WorkerLost
            When ``i`` is lost and there is no ``on_lost``.
        """
        n = self.deaths[i] = self.deaths.get(i, 0) + 1
        if i in self.suspects:
            self.suspects.remove(i)
        if n <= self.retries:
            if alone:
                self.suspects.append(i)
            return True
        detail = f"{error}; lost after {n} attempt{'s' if n > 1 else ''} (retries={self.retries})"
        lost = WorkerLost(detail, self.items[i], exitcode=error.exitcode, attempts=n)
        if self.on_lost is None:
            raise lost
        self.lost[i] = self.on_lost(self.items[i], lost)
        return False

    def suspect(self, indices) -> None:
        """A worker died while these items ran and which one caused it is not known: run each
        again alone (no attempt charged)."""
        for i in indices:
            if i not in self.suspects and i not in self.lost:
                self.suspects.append(i)

    def next_alone(self) -> int | None:
        """The next item to run alone (a suspect), or None."""
        return self.suspects.pop(0) if self.suspects else None

    def idle_death(self, error: WorkerLost) -> None:
        """A worker died without an item (killed from outside while idle, or between items).

        Raises
        ------
        WorkerLost
            After more than ``idle_budget`` of them in this map.
        """
        self.idle_deaths += 1
        if self.idle_deaths > self.idle_budget:
            raise WorkerLost(
                f"{error}; {self.idle_deaths} workers died without an item in this map: giving up "
                "(workers that die before their first item often cannot unpickle their task: a "
                "function or an item's class defined in an interactive session, or a module the "
                "workers cannot import; their own tracebacks are above)",
                exitcode=error.exitcode,
            )


# -- interrupts ---------------------------------------------------------------------------------


@contextlib.contextmanager
def interrupts_blocked():
    """Block SIGINT in this thread while worker processes (or the threads that start them) are
    made: children inherit the blocked signal, so a Ctrl-C, which the terminal sends to the
    whole process group, reaches only the parent, which then stops its workers (instead of
    every worker dying mid-item and a pool waiting forever for their tasks). A SIGINT that
    arrives meanwhile is delivered when the block ends. No-op where ``pthread_sigmask`` does
    not exist (Windows)."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    # the resource tracker's start unblocks SIGINT in the calling thread (bpo-33613's mask
    # dance): start it now, outside the block, so that starting it later cannot undo the block
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    old = mask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def interrupts_deferred(signals=(signal.SIGINT, signal.SIGTERM)):
    """Run a short block (the construction of a pool) whole: a signal that comes meanwhile is
    handled when the block ends, by the handler it would have met.

    :func:`interrupts_blocked` blocks SIGINT in this thread only; another thread of the process
    (a progress bar's, a memory sampler's) still takes it, and Python then runs the handler in
    the main thread at once: a ``KeyboardInterrupt`` inside ``multiprocessing.Pool()`` leaves
    the pool unassigned, so nothing stops its workers, and a worker still starting finds the
    pool's semaphores gone (a traceback after the clean message). SIGTERM (a batch system's end
    of a job) likewise. A second signal within the block is not held: the first is handled at
    once (a block that hangs can still be stopped). Only in the main thread (the only one that
    can set handlers); elsewhere a no-op. Signals whose handler is not a Python function
    (ignored, the default) are left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list = []
    old = {s: h for s in signals if callable(h := signal.getsignal(s))}

    def restore():
        while old:
            signum, handler = old.popitem()
            signal.signal(signum, handler)

    handlers = dict(old)

    def hold(signum, frame):
        got.append((signum, frame))
        if len(got) > 1:  # insisted: stop holding, handle the first now
            restore()
            handlers[got[0][0]](*got[0])

    for signum in old:
        signal.signal(signum, hold)
    try:
        yield
    finally:
        held = bool(old)  # False once a second signal was handled inside the block
        restore()
        if held and got:
            handlers[got[0][0]](*got[0])


def _end_on_sigterm(signum, frame) -> None:
    """A worker's SIGTERM handler: remove the temporary file of a write in progress (a cache
    entry), then die of the signal as without a handler (exit status -SIGTERM)."""
    from ..files import remove_partial_writes

    remove_partial_writes()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def stop_processes(procs, grace: float = 2.0) -> None:
    """Stop worker processes (``multiprocessing`` process objects): SIGTERM (a worker then
    removes a half-written file and exits), SIGKILL what is left after ``grace`` seconds."""
    procs = [p for p in procs if p.exitcode is None]
    for p in procs:
        try:
            p.terminate()
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.exitcode is None:
                _kill(p)
                p.join(5)
        except (OSError, ValueError, AssertionError):
            pass


def _kill(p) -> None:
    """SIGKILL ``p``: ``Process.kill``, or the pid's for a process object without one (the
    ``Popen`` of a worker loky restarted with its own start method)."""
    kill = getattr(p, "kill", None)
    if kill is not None:
        kill()
    elif getattr(p, "pid", None):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)


def ignore_interrupts() -> None:
    """In a worker process: ignore SIGINT (the parent stops the workers) and end on SIGTERM
    after removing the temporary file of a write in progress. Only the main thread may set a
    handler; elsewhere this does nothing."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # SIGTERM, how the parent stops its workers, ends a worker (also one forked with the
        # parent's handler, genre_hpc.interrupts), after removing a half-written file
        signal.signal(signal.SIGTERM, _end_on_sigterm)
        mask = getattr(signal, "pthread_sigmask", None)
        if mask is not None:
            mask(signal.SIG_UNBLOCK, {signal.SIGINT})  # ignored now: a pending one is dropped
