"""Named parallel backends behind one contract (see :mod:`genre_hpc.backends.base`).

``get_backend(name, workers, **options)`` returns a context manager; every
module is imported only when its backend is asked for, so the heavy stacks
(Dask, ipyparallel) load lazily. ``docs/backends.md`` lists the options.
"""

from __future__ import annotations

import importlib

from .base import (
    Backend,
    BackendError,
    BackendUnavailable,
    ClusterShapeError,
    ItemError,
    ItemTimeout,
    WorkerLost,
)
from .warm import warm_librosa

#: backend name -> "module:Class", in the documented order
REGISTRY: dict[str, str] = {
    "serial": "genre_hpc.backends.serial:SerialBackend",
    "pool-apply": "genre_hpc.backends.multiprocessing:PoolApplyBackend",
    "pool-apply-async": "genre_hpc.backends.multiprocessing:PoolApplyAsyncBackend",
    "pool-map": "genre_hpc.backends.multiprocessing:PoolMapBackend",
    "pool-map-async": "genre_hpc.backends.multiprocessing:PoolMapAsyncBackend",
    "process": "genre_hpc.backends.multiprocessing:ProcessBackend",
    "dask-synchronous": "genre_hpc.backends.dask:DaskSynchronousBackend",
    "dask-threads": "genre_hpc.backends.dask:DaskThreadsBackend",
    "dask-processes": "genre_hpc.backends.dask:DaskProcessesBackend",
    "dask-distributed": "genre_hpc.backends.dask:DaskDistributedBackend",
    "ipyparallel": "genre_hpc.backends.ipyparallel:IPyParallelBackend",
    "joblib-threading": "genre_hpc.backends.joblib:JoblibThreadingBackend",
    "joblib-loky": "genre_hpc.backends.joblib:JoblibLokyBackend",
}


def unavailable_reason(name: str, workers: int = 1) -> str | None:
    """Why ``name`` cannot run with ``workers`` here (None when it can).

    Asks the backend's class, without making it and without importing its
    optional stack: the worker counts it runs (:meth:`Backend.workers_reason`),
    then the extras it ``requires`` (:func:`genre_hpc.extras.unavailable_reason`:
    ``"distributed is not installed: install genre-hpc[dask]"``, the message
    :class:`BackendUnavailable` carries when the backend is made anyway).

    A name that is not a registered backend (a stage's training mode, say)
    gives None: it is not this registry's to judge, and :func:`get_backend`
    raises ``KeyError`` for it.
    """
    if name not in REGISTRY:
        return None
    cls = get_backend_class(name)
    return cls.workers_reason(workers) or cls.unavailable_reason()


def backend_names() -> list[str]:
    """All registered backend names, in a stable, documented order."""
    return list(REGISTRY)


def get_backend_class(name: str) -> type[Backend]:
    """Return the class registered as ``name`` (imports its module, not its heavy stack)."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(REGISTRY)}") from None
    mod, cls = target.split(":")
    return getattr(importlib.import_module(mod), cls)


def get_backend(name: str = "serial", workers: int = 1, **options) -> Backend:
    """Make the backend ``name`` with ``workers`` workers (use it in a ``with`` block).

    Raises
    ------
    KeyError
        For an unknown name.
    BackendUnavailable
        When the backend's optional dependency is missing (the message names
        the extra to install).
    """
    return get_backend_class(name)(workers, **options)


def use_backend(backend, workers: int = 1, **options):
    """A context manager yielding a started backend: ``backend`` itself when it already is one
    (started by the caller, who keeps it for several maps and stops it), else
    ``get_backend(backend, workers, **options)`` started for the block.

    The pipeline functions (:func:`genre_hpc.extract.extract_features`,
    :func:`genre_hpc.images.make_images`) take either, so a measurement can start workers once
    and time warm maps (the asv suite's sessions).
    """
    import contextlib

    if isinstance(backend, Backend):
        if not backend._started:
            raise BackendError(
                f"backend {backend.name!r} was given but is not started (use it in a 'with' block)"
            )
        return contextlib.nullcontext(backend)
    return get_backend(backend, workers, **options)


__all__ = [
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "ClusterShapeError",
    "ItemError",
    "ItemTimeout",
    "WorkerLost",
    "REGISTRY",
    "backend_names",
    "unavailable_reason",
    "get_backend",
    "get_backend_class",
    "use_backend",
    "warm_librosa",
]
