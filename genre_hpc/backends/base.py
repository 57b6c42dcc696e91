"""The one contract every backend keeps.

::

    with get_backend("pool-map", workers=2) as b:   # start-up timed in b.startup_s
        results = b.map(fn, items)                  # results in input order

``fn`` must be a picklable top-level function for process-based backends.
An exception raised by ``fn`` reaches the caller as :class:`ItemError`,
naming the item; callers that want per-item failures as data (extraction
does) catch inside ``fn`` and return a record instead.

Besides the contract, this module holds what every family shares: the
thread limit applied inside workers (:func:`limit_threads`,
:func:`init_worker`), the environment given to spawned children
(:mod:`genre_hpc.threads`), and helpers that keep errors
portable across process boundaries.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..threads import limit_threads, thread_info


class BackendError(RuntimeError):
    """A backend could not start, lost a worker, or timed out."""


class BackendUnavailable(BackendError):
    """An optional dependency is missing (the message says which extra to install)."""


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


class WorkerLost(BackendError):
    """A worker process died (killed, crashed); ``item`` is what it ran, if known."""

    def __init__(self, message: str, item=None):
        self.item = item
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (str(self), self.item))


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
        an unknown option raises ``TypeError``.
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

    def __init__(
        self,
        workers: int = 1,
        *,
        thread_limit: int | None = 1,
        timeout: float | None = None,
        warmup: Callable[[], Any] | None = None,
        **options,
    ):
        if int(workers) < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
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
        self.workers = int(workers)
        self.thread_limit = None if thread_limit is None else int(thread_limit)
        self.timeout = timeout
        self.warmup = warmup
        self.options = options
        self.startup_s = float("nan")
        self.shutdown_s = float("nan")
        self._started = False
        self._caller_limit = None

    # -- lifecycle -------------------------------------------------------
    def __enter__(self):
        t0 = time.perf_counter()
        try:
            if self.runs_in_caller:
                self._caller_limit = limit_threads(self.thread_limit, set_env=False)
                if self.warmup is not None:
                    try:
                        self.warmup()
                    except Exception as exc:
                        raise BackendError(
                            f"{self.name}: warm-up failed: {type(exc).__name__}: {exc}"
                        ) from exc
            self._start()
        except BaseException:
            self._cleanup_after_failed_start()
            raise
        self._started = True
        self.startup_s = time.perf_counter() - t0
        return self

    def __exit__(self, *exc):
        t0 = time.perf_counter()
        try:
            self._stop()
        finally:
            self._restore_caller_limit()
            self._started = False
            self.shutdown_s = time.perf_counter() - t0
        return False

    def _cleanup_after_failed_start(self):
        try:
            self._stop()
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
        self, fn: Callable[[Any], Any], items: Iterable, progress: Callable[[int], None] | None = None
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
        """
        if not self._started:
            raise BackendError(f"backend {self.name!r} used outside its 'with' block")
        items = list(items)
        if not items:
            return []
        return self._map(fn, items, progress or (lambda n: None))

    def describe(self) -> dict:
        """The settings that define this run (for reports and benchmarks)."""
        d = {"backend": self.name, "workers": self.workers, "thread_limit": self.thread_limit}
        if self.timeout is not None:
            d["timeout"] = self.timeout
        if self.warmup is not None:
            d["warmup"] = callable_name(self.warmup)
        return d

    # -- to implement ----------------------------------------------------
    def _start(self) -> None:
        pass

    def _map(self, fn, items: list, progress) -> list:
        raise NotImplementedError

    def _stop(self) -> None:
        pass


def call_item(fn, item):
    """Run ``fn(item)``, turning an exception into :class:`ItemError` naming the item."""
    try:
        return fn(item)
    except ItemError:
        raise
    except Exception as exc:
        raise ItemError(item, exc) from exc


# -- shared helpers -----------------------------------------------------------

#: keeps the threadpoolctl limiter of a worker process alive
_WORKER_LIMIT = None


def init_worker(thread_limit: int | None = 1, warmup: Callable[[], Any] | None = None) -> int:
    """Prepare a worker process: thread limit, then ``warmup()``; returns the pid.

    Called once in every worker (pool initializer, ``client.run``-like
    set-up tasks, ``dview.apply_sync``); the limiter is kept for the life of
    the process.
    """
    global _WORKER_LIMIT
    _WORKER_LIMIT = limit_threads(thread_limit)
    if warmup is not None:
        warmup()
    return os.getpid()


#: what threadpoolctl sees in this process (kept under its old name for the tests' workers)
worker_thread_info = thread_info


def portable_item_error(item, exc: BaseException) -> ItemError:
    """An :class:`ItemError` for ``exc`` that survives pickling.

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
    """Worker side of :func:`call_item`: ``fn(item)``; an exception becomes a picklable
    :class:`ItemError`."""
    try:
        return fn(item)
    except Exception as exc:
        failed = exc
    raise_portable(item, failed)


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


def callable_name(f) -> str:
    """``module.qualname`` of a callable (of the wrapped function for a partial), for reports."""
    import functools

    if isinstance(f, functools.partial):
        args = ", ".join([repr(a) for a in f.args] + [f"{k}={v!r}" for k, v in f.keywords.items()])
        return f"{callable_name(f.func)}({args})"
    mod = getattr(f, "__module__", None) or ""
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)
    return f"{mod}.{name}" if mod else name
