"""The one contract every backend keeps.

::

    with get_backend("pool-map", workers=2) as b:   # start-up timed in b.startup_s
        results = b.map(fn, items)                  # results in input order

``fn`` must be a picklable top-level function for process-based backends.
An exception raised by ``fn`` reaches the caller as :class:`ItemError`,
naming the item; callers that want per-item failures as data (extraction
does) catch inside ``fn`` and return a record instead.

A worker process that dies while running an item (killed, crashed, out of
memory) costs at most that item: the process backends replace the worker and
run the item again, up to ``retries`` more times (option, default
:data:`DEFAULT_RETRIES`); an item whose worker died on every attempt is
*lost*. By default a lost item raises :class:`WorkerLost`; with
``map(fn, items, on_lost=callback)`` its slot in the results holds
``callback(item, error)`` instead and every other item completes.

Besides the contract, this module declares what every backend is asked
before it starts: the extras it ``requires`` (:mod:`genre_hpc.extras`), the
worker counts it accepts (:meth:`Backend.workers_reason`) and the start-up
timeout (``start_timeout``, parsed here once). The machinery the process
backends share (worker set-up, item logs, watchdogs, portable errors) is in
:mod:`genre_hpc.backends._workers`; the cluster backends' common part in
:mod:`genre_hpc.backends._cluster`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ..extras import unavailable_reason as extras_unavailable_reason

#: seconds to wait for all workers (or a cluster) to start and run ``warmup``
DEFAULT_START_TIMEOUT = 300.0
#: how many more times an item runs after its worker died while running it
DEFAULT_RETRIES = 1


class BackendError(RuntimeError):
    """A backend could not start, lost a worker, or timed out."""


class BackendUnavailable(BackendError):
    """An optional dependency is missing (the message says which extra to install)."""


class ClusterShapeError(BackendError):
    """The cluster cannot run the map as asked: fewer workers than ``workers`` (and none
    arriving), or workers with another thread count than ``threads_per_worker``.

    The scaling study records such a cell as skipped with this message; the other cells run.
    """


class ItemError(BackendError):
    """``fn(item)`` raised: carries the item and the original exception."""

    def __init__(self, item, cause: BaseException | str):
        self.item = item
        self.cause = cause
        super().__init__(
            f"item {item!r} failed: {cause!r}"
            if not isinstance(cause, str)
            else f"item {item!r} failed: {cause}"
        )

    def __reduce__(self):
        return (type(self), (self.item, self.cause))


class ItemTimeout(ItemError):
    """``fn(item)`` ran longer than the backend's per-item ``timeout``."""

    def __init__(self, item, timeout: float, elapsed: float | None = None):
        self.timeout = timeout
        self.elapsed = elapsed
        ran = f" (ran {elapsed:.1f} s)" if elapsed is not None else ""
        super().__init__(item, f"timeout: exceeded the per-item timeout of {timeout:g} s{ran}")

    def __reduce__(self):
        return (type(self), (self.item, self.timeout, self.elapsed))


class ClusterUnreachable(BackendError):
    """Nothing answers at a cluster's address (refused, unresolvable host, no route): nothing can
    come, so the backend says so at once instead of waiting ``start_timeout``."""


class WorkerLost(BackendError):
    """A worker process died (killed, crashed) while running ``item`` (None if unknown or idle).

    ``exitcode`` is the dead process' exit code when known (negative: killed by that signal),
    ``attempts`` how many times the item ran and took its worker down (set when the item is
    lost for good after its retries).
    """

    def __init__(self, message: str, item=None, *, exitcode: int | None = None, attempts: int | None = None):
        self.item = item
        self.exitcode = exitcode
        self.attempts = attempts
        super().__init__(message)

    @property
    def how(self) -> str:
        """How the worker died: ``"killed by signal SIGKILL"``, ``"exit code 1"`` or ``"unknown"``."""
        from ._workers import describe_exitcode

        return describe_exitcode(self.exitcode) if self.exitcode is not None else "exit status unknown"

    def __reduce__(self):
        return (type(self), (str(self), self.item), {"exitcode": self.exitcode, "attempts": self.attempts})


class Backend:
    """Base class: a context manager that starts workers, maps, and stops.

    Subclasses implement :meth:`_start`, :meth:`_map` and :meth:`_stop`.

    Parameters
    ----------
    workers : int
        Number of worker processes or threads.
    thread_limit : int or None
        BLAS/OpenMP threads allowed inside each worker (threadpoolctl).
        ``None`` leaves the libraries' defaults. Backends that run items in
        the calling process (``runs_in_caller``) apply it process-wide for
        the duration of the ``with`` block.
    timeout : float or None
        Per-item timeout in seconds; only backends with
        ``supports_timeout = True`` accept one (others raise ``ValueError``).
    warmup : callable or None
        Picklable top-level function of no argument, run once in every
        worker during start-up (so its cost is in ``startup_s``, not in the
        timed map), e.g. :func:`genre_hpc.backends.warm.warm_librosa`.
    **options
        Backend-specific options, listed in the class' ``option_names``;
        an unknown option raises ``TypeError``. ``start_timeout`` (seconds
        to wait for the workers to be started and warm, default
        :data:`DEFAULT_START_TIMEOUT`) is read here for every backend that
        lists it, into :attr:`start_timeout`.

    Raises
    ------
    BackendUnavailable
        When an extra in ``requires`` is not installed.
    ValueError
        For a worker count the backend does not run (:meth:`workers_reason`)
        or a bad ``thread_limit``, ``timeout`` or ``start_timeout``.
    """

    name = "base"
    #: True when items run in other processes (fn and items must pickle)
    uses_processes = False
    #: True when items run in the calling process (thread limit is process-wide)
    runs_in_caller = False
    #: True when the backend honours ``timeout=``
    supports_timeout = False
    #: backend-specific option names accepted by ``__init__``
    option_names: tuple[str, ...] = ()
    #: the extras (keys of :data:`genre_hpc.extras.EXTRAS`) this backend needs installed
    requires: tuple[str, ...] = ()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this backend cannot be made here: the first missing extra of ``requires``
        (``"distributed is not installed: install genre-hpc[dask]"``), None when none is
        missing. Does not import the extras."""
        return extras_unavailable_reason(cls.requires)

    @classmethod
    def workers_reason(cls, workers: int) -> str | None:
        """Why this backend does not run ``workers`` workers (None when it does)."""
        if int(workers) < 1:
            return f"workers must be >= 1, got {workers}"
        return None

    def __init__(
        self,
        workers: int = 1,
        *,
        thread_limit: int | None = 1,
        timeout: float | None = None,
        warmup: Callable[[], Any] | None = None,
        **options,
    ):
        why = self.workers_reason(workers)
        if why:
            raise ValueError(why)
        missing = self.unavailable_reason()
        if missing:
            raise BackendUnavailable(missing)
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            known = ", ".join(("thread_limit", "timeout", "warmup") + tuple(self.option_names))
            raise TypeError(
                f"backend {self.name!r} got unknown option(s) {', '.join(unknown)}; known: {known}"
            )
        if thread_limit is not None and int(thread_limit) < 1:
            raise ValueError(f"thread_limit must be >= 1 or None, got {thread_limit}")
        if timeout is not None:
            if not self.supports_timeout:
                raise ValueError(
                    f"backend {self.name!r} does not support a per-item timeout "
                    "(see docs/backends.md for the backends that do)"
                )
            if not float(timeout) > 0:
                raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
            timeout = float(timeout)
        if warmup is not None and not callable(warmup):
            raise TypeError(f"warmup must be a callable, got {warmup!r}")
        start_timeout = options.get("start_timeout")
        if start_timeout is None:
            start_timeout = DEFAULT_START_TIMEOUT
        elif not float(start_timeout) > 0:
            raise ValueError(f"start_timeout must be > 0 seconds, got {start_timeout}")
        retries = options.get("retries")
        retries = DEFAULT_RETRIES if retries is None else int(retries)
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        max_tasks = options.get("max_tasks_per_worker")
        if max_tasks is not None and int(max_tasks) < 1:
            raise ValueError(f"max_tasks_per_worker must be >= 1 or None, got {max_tasks}")
        self.workers = int(workers)
        self.thread_limit = None if thread_limit is None else int(thread_limit)
        self.timeout = timeout
        self.warmup = warmup
        self.options = options
        #: seconds to wait for the workers (or the cluster) to be started and warm
        self.start_timeout = float(start_timeout)
        #: how many more times an item runs after its worker died while running it
        self.retries = retries
        #: replace a worker process after this many tasks (None: never)
        self.max_tasks_per_worker = None if max_tasks is None else int(max_tasks)
        self._on_lost: Callable[[Any, WorkerLost], Any] | None = None
        self.startup_s = float("nan")
        self.shutdown_s = float("nan")
        self._started = False
        self._caller_limit = None

    # -- lifecycle -------------------------------------------------------
    def __enter__(self):
        t0 = time.perf_counter()
        try:
            if self.runs_in_caller:
                from ._workers import init_in_caller

                try:
                    self._caller_limit = init_in_caller(self.thread_limit, self.warmup)
                except Exception as exc:
                    raise BackendError(f"{self.name}: warm-up failed: {type(exc).__name__}: {exc}") from exc
            self._start()
        except BaseException:
            self._cleanup_after_failed_start()
            raise
        self._started = True
        self.startup_s = time.perf_counter() - t0
        return self

    def __exit__(self, exc_type, exc, tb):
        t0 = time.perf_counter()
        try:
            if exc_type is None:
                self._stop()
            else:
                # an error or an interrupt (KeyboardInterrupt, a SIGTERM turned into an
                # exception): stop the workers now, do not wait for their work
                self._abort()
        finally:
            self._restore_caller_limit()
            self._started = False
            self.shutdown_s = time.perf_counter() - t0
        return False

    def _cleanup_after_failed_start(self):
        try:
            self._abort()
        except Exception:
            pass
        finally:
            self._restore_caller_limit()

    def _restore_caller_limit(self):
        if self._caller_limit is not None:
            try:
                self._caller_limit.restore_original_limits()
            finally:
                self._caller_limit = None

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Iterable,
        progress: Callable[[int], None] | None = None,
        *,
        on_lost: Callable[[Any, WorkerLost], Any] | None = None,
    ) -> list:
        """Apply ``fn`` to every item; return the results in input order.

        Parameters
        ----------
        fn : callable
            Top-level function of one argument.
        items : iterable
            The work items.
        progress : callable, optional
            Called with the number of newly finished items as they finish
            (or once at the end for backends that only return everything).
        on_lost : callable, optional
            ``on_lost(item, error)`` for an item whose worker process died on every one of
            its ``1 + retries`` attempts (``error`` is a :class:`WorkerLost` with ``item``,
            ``exitcode`` and ``attempts``): its return value takes the item's place in the
            results, and the map goes on. Called in the calling thread. Default: raise the
            :class:`WorkerLost` (the map ends).

        Raises
        ------
        ItemError
            ``fn`` raised for an item (the first such item ends the map).
        WorkerLost
            An item was lost and ``on_lost`` is None, or the workers kept dying while idle.
        BackendError
            The backend is broken or used outside its ``with`` block.
        """
        if not self._started:
            raise BackendError(f"backend {self.name!r} used outside its 'with' block")
        items = list(items)
        if not items:
            return []
        self._on_lost = on_lost
        try:
            return self._map(fn, items, progress or (lambda n: None))
        finally:
            self._on_lost = None

    def describe(self) -> dict:
        """The settings that define this run (for reports and benchmarks)."""
        d = {"backend": self.name, "workers": self.workers, "thread_limit": self.thread_limit}
        if self.timeout is not None:
            d["timeout"] = self.timeout
        if self.warmup is not None:
            d["warmup"] = callable_name(self.warmup)
        if self.max_tasks_per_worker is not None:
            d["max_tasks_per_worker"] = self.max_tasks_per_worker
        return d

    # -- to implement ----------------------------------------------------
    def _start(self) -> None:
        pass

    def _map(self, fn, items: list, progress) -> list:
        raise NotImplementedError

    def _stop(self) -> None:
        pass

    def _abort(self) -> None:
        """Stop after an error or an interrupt: like :meth:`_stop`, without waiting for work in
        flight (the pools terminate their workers instead of joining them)."""
        self._stop()


def call_item(fn, item):
    """Run ``fn(item)``, turning an exception into :class:`ItemError` naming the item."""
    try:
        return fn(item)
    except ItemError:
        raise
    except Exception as exc:
        raise ItemError(item, exc) from exc


# -- helpers ----------------------------------------------------------------------------


def callable_name(f) -> str:
    """``module.qualname`` of a callable (of the wrapped function for a partial), for reports."""
    import functools

    if isinstance(f, functools.partial):
        args = ", ".join([repr(a) for a in f.args] + [f"{k}={v!r}" for k, v in f.keywords.items()])
        return f"{callable_name(f.func)}({args})"
    mod = getattr(f, "__module__", None) or ""
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)
    return f"{mod}.{name}" if mod else name
