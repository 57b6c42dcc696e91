"""Dask clusters deployed from a configuration file, scaled to each worker count of a study.

A cluster file names a deployment class (any ``distributed.deploy.Cluster``: LocalCluster,
SSHCluster, dask-jobqueue's SLURMCluster/PBSCluster/..., dask-kubernetes' KubeCluster) and
its keyword arguments::

    class: distributed.LocalCluster      # or distributed.SSHCluster, dask_jobqueue.SLURMCluster, ...
    options: {threads_per_worker: 1}

(YAML, or JSON for a ``.json`` file). ``genre-hpc scale --cluster FILE`` deploys it once,
scales it to every worker count in turn (``cluster.scale(n)``, then waits until the scheduler
has exactly ``n`` workers; that time is reported apart, as the row's ``cluster.scale_s``, never
as compute) and closes it at the end; ``genre-hpc extract --cluster FILE`` deploys it for one
run. ``distributed.LocalCluster`` binds to 127.0.0.1 with its dashboard off unless the file
says otherwise, and its workers get the same environment as the ``dask-distributed``
backend's own LocalCluster (thread limit, glibc's adaptive ``MALLOC_TRIM_THRESHOLD_``). See
docs/clusters.md.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

#: keys a cluster file may have
FILE_KEYS = ("class", "options")
#: LocalCluster's options unless the file gives them: loopback, no dashboard, no workers yet
LOCAL_DEFAULTS = {
    "n_workers": 0,
    "threads_per_worker": 1,
    "processes": True,
    "host": "127.0.0.1",
    "scheduler_port": 0,
    # the scheduler's HTTP routes on a free loopback port, without the dashboard
    "dashboard_address": "127.0.0.1:0",
    "scheduler_kwargs": {"dashboard": False},
    "worker_dashboard_address": None,
    "silence_logs": logging.ERROR,
}
#: how often the worker count is polled while scaling (seconds)
POLL_S = 0.1


class ClusterFileError(ValueError):
    """A cluster file that cannot be used; names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cluster file {self.path}: {reason}" if self.path else f"cluster spec: {reason}")


@dataclass(frozen=True)
class ClusterSpec:
    """What a cluster file says: the deployment class (``module.Class``) and its options."""

    cls: str
    options: dict = field(default_factory=dict)
    path: str = ""

    @classmethod
    def load(cls, path) -> ClusterSpec:
        """Read and check a cluster file (YAML; JSON for ``.json``).

        Raises
        ------
        ClusterFileError
            Missing or unreadable file, not a mapping, no ``class``, an unknown key,
            ``options`` that are not a mapping.
        """
        path = Path(path)
        if not path.is_file():
            raise ClusterFileError(path, "no such file")
        try:
            text = path.read_text()
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                try:
                    import yaml
                except ImportError:
                    why = "reading YAML needs pyyaml: install genre-hpc[cluster]"
                    raise ClusterFileError(path, why) from None
                data = yaml.safe_load(text)
        except ClusterFileError:
            raise
        except (OSError, ValueError) as exc:
            raise ClusterFileError(path, f"not readable ({exc})") from None
        except Exception as exc:  # yaml.YAMLError
            raise ClusterFileError(path, f"not valid YAML ({exc})") from None
        return cls.from_dict(data, path)

    @classmethod
    def from_dict(cls, data, path="") -> ClusterSpec:
        """A spec from the file's mapping (see :meth:`load` for the checks)."""
        if not isinstance(data, dict):
            raise ClusterFileError(
                path, f"expected a mapping with 'class' and 'options', got {type(data).__name__}"
            )
        unknown = sorted(set(data) - set(FILE_KEYS))
        if unknown:
            raise ClusterFileError(
                path, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(FILE_KEYS)}"
            )
        name = data.get("class")
        if not isinstance(name, str) or "." not in name:
            raise ClusterFileError(
                path, "'class' must name a deployment class as module.Class, e.g. distributed.LocalCluster"
            )
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise ClusterFileError(path, f"'options' must be a mapping, got {type(options).__name__}")
        return cls(name, dict(options), str(path))

    def resolve(self):
        """Import the deployment class.

        Raises
        ------
        ClusterFileError
            The module is not installed (``dask_jobqueue``: ``install genre-hpc[cluster]``) or
            has no such class.
        """
        mod, _, attr = self.cls.rpartition(".")
        try:
            module = importlib.import_module(mod)
        except ImportError as exc:
            hint = {"dask_jobqueue": "genre-hpc[cluster]", "distributed": "genre-hpc[dask]"}.get(
                mod.split(".")[0]
            )
            extra = f": install {hint}" if hint else ""
            raise ClusterFileError(self.path, f"cannot import {mod} ({exc}){extra}") from None
        try:
            return getattr(module, attr)
        except AttributeError:
            raise ClusterFileError(self.path, f"{mod} has no {attr}") from None

    def is_local(self) -> bool:
        """Whether the class is (a subclass of) ``distributed.LocalCluster``."""
        from distributed import LocalCluster

        c = self.resolve()
        return isinstance(c, type) and issubclass(c, LocalCluster)

    def kwargs(self) -> dict:
        """The class' keyword arguments: the file's options, over :data:`LOCAL_DEFAULTS` for a
        LocalCluster."""
        if self.is_local():
            processes = self.options.get("processes", True)
            if str(processes).strip().lower() in ("false", "no", "off", "0"):  # False, 0 and their spellings
                # worker threads of this process, reached over inproc://, not over TCP
                raise ClusterFileError(
                    self.path,
                    "processes: false (workers in this process, inproc://) cannot be used: the "
                    "backend reaches its scheduler over TCP; leave processes true (the dask-threads "
                    "backend runs threads in this process)",
                )
            return {**LOCAL_DEFAULTS, **self.options}
        return dict(self.options)

    @property
    def name(self) -> str:
        return f"{self.cls} (cluster file {self.path})" if self.path else self.cls


def as_spec(cluster) -> ClusterSpec:
    """A :class:`ClusterSpec` from a path, a mapping or a spec."""
    if isinstance(cluster, ClusterSpec):
        return cluster
    if isinstance(cluster, dict):
        return ClusterSpec.from_dict(cluster)
    return ClusterSpec.load(cluster)


class Deployment:
    """A cluster made from a :class:`ClusterSpec`, scaled on demand; a context manager.

    ::

        with Deployment("cluster.yaml") as dep:
            for n in (1, 2, 4):
                dep.scale(n)                       # waits until the scheduler has n workers
                with get_backend("dask-distributed", n, cluster=dep) as b: ...

    Parameters
    ----------
    cluster : path, dict or ClusterSpec
    thread_limit : int or None
        BLAS/OpenMP threads of a LocalCluster's workers (its nannies' environment).
    start_timeout : float
        Seconds :meth:`scale` waits for the workers by default.
    """

    def __init__(self, cluster, *, thread_limit: int | None = 1, start_timeout: float = 300.0):
        self.spec = as_spec(cluster)
        self.thread_limit = thread_limit
        self.start_timeout = float(start_timeout)
        self.cluster = None
        self._client = None
        self._local = False
        #: worker count -> seconds the last scale to it took
        self.scale_times: dict[int, float] = {}
        self.startup_s = float("nan")

    @property
    def name(self) -> str:
        return self.spec.name

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    def _environ(self):
        import contextlib

        if not self._local:
            return contextlib.nullcontext()
        from .backends.dask import nanny_environ, worker_env

        return nanny_environ(worker_env(self.thread_limit))

    def start(self) -> Deployment:
        """Make the cluster (no workers for a LocalCluster unless the file asks) and a client.

        The cluster is made with SIGINT blocked (:func:`~genre_hpc.backends._workers.interrupts_blocked`):
        its event-loop thread and every process it starts then or later, when scaled (nannies,
        workers, ``ssh``, job submissions), inherit the block, so a Ctrl-C to the process group
        reaches only this process, which closes the cluster (as the backend's own LocalCluster).

        Raises
        ------
        ClusterFileError
            The class rejects the options, or fails to start with them (e.g. the workers of a
            LocalCluster's ``n_workers`` reject its other options).
        """
        from .backends._workers import interrupts_blocked
        from .backends.dask import require_dask

        require_dask()
        if self.cluster is not None:
            return self
        cls = self.spec.resolve()
        self._local = self.spec.is_local()
        kwargs = self.spec.kwargs()
        t0 = time.perf_counter()
        try:
            with self._environ(), interrupts_blocked():
                self.cluster = cls(**kwargs)
        except TypeError as exc:
            raise ClusterFileError(self.spec.path, f"{self.spec.cls} rejects the options: {exc}") from None
        except Exception as exc:  # e.g. the workers a file's n_workers asks for reject its options
            raise ClusterFileError(
                self.spec.path, f"{self.spec.cls} failed to start: {_error_line(exc)}"
            ) from exc
        try:
            from distributed import Client

            self._client = Client(self.cluster, set_as_default=False, timeout=f"{self.start_timeout}s")
        except BaseException:
            self.close()
            raise
        self.startup_s = time.perf_counter() - t0
        return self

    @property
    def address(self) -> str:
        """The scheduler's address."""
        return self.cluster.scheduler_address

    def worker_count(self) -> int:
        return len(self._client.scheduler_info(n_workers=-1)["workers"])

    def scale(self, n: int, timeout: float | None = None) -> float:
        """Scale to ``n`` workers and wait until the scheduler has them.

        A manager that starts workers in groups (dask-jobqueue: ``processes`` workers per job)
        may plan more than ``n``: the wait is for every planned worker, and the backend then
        runs on exactly ``n`` of them.

        Returns the seconds it took (0 when the cluster had them already).

        Raises
        ------
        ClusterShapeError
            The workers did not arrive (or leave) within ``timeout`` (default ``start_timeout``).
        ClusterFileError
            The manager could not start the workers (:meth:`_settle`: a LocalCluster's
            ``options`` that its workers reject, a job submission that fails); the deployment is
            closed then, its other workers with it.
        """
        from .backends import ClusterShapeError

        if self.cluster is None:
            self.start()
        timeout = self.start_timeout if timeout is None else float(timeout)
        t0 = time.perf_counter()
        deadline = time.monotonic() + timeout
        with self._environ():
            if self.scales:
                self.cluster.scale(n)
            target = self._target(n)
            if target < n:  # a cluster of fixed size (it does not scale) with fewer workers
                raise ClusterShapeError(f"{self.name}: has {target} worker(s) and does not scale; {n} asked")
            if self.worker_count() == target:
                return 0.0
            if self.scales:
                self._settle(deadline)
            while (have := self.worker_count()) != target:
                if time.monotonic() > deadline:
                    raise ClusterShapeError(
                        f"{self.name}: scaled to {n} workers ({target} planned), {have} after {timeout:g} s"
                    )
                time.sleep(POLL_S)
        took = time.perf_counter() - t0
        self.scale_times[n] = took
        return took

    def _settle(self, deadline: float) -> None:
        """Wait (until ``deadline``, ``time.monotonic``) for a ``SpecCluster`` to start or stop the
        workers of its plan, and fail fast when it could not start them.

        ``SpecCluster.scale`` only schedules the change (``_correct_state``, on the cluster's event
        loop), and a worker that fails to start is not retried: the scheduler would never get it,
        and the wait for the worker count would last the whole timeout. So the change is awaited
        here (``_correct_state`` again: it runs after the one ``scale`` started, under the same
        lock; it raises when a worker cannot even be made), then each worker of the plan is
        checked: a ``Nanny``/``Worker`` that failed to start has ``Status.failed`` (awaiting it
        again gives its error), a ``ProcessInterface`` (a dask-jobqueue job, an SSH process)
        that failed is still ``created``. A change that is slow (still running at ``deadline``)
        is left to the wait. Other managers (not a ``SpecCluster``) are not checked.

        Raises
        ------
        ClusterFileError
            A worker could not start: names the cluster file and the worker's error; the
            deployment is closed first.
        """
        try:
            from distributed.deploy.spec import SpecCluster
        except ImportError:  # pragma: no cover - distributed is required to deploy
            return
        cluster = self.cluster
        if not isinstance(cluster, SpecCluster):
            return
        try:
            cluster.sync(_corrected, cluster, callback_timeout=max(deadline - time.monotonic(), 0.01))
        except TimeoutError:
            # the wait's own timeout (slow, not failed yet: the wait for the worker count reports
            # it), or a worker's start that timed out (death_timeout): only the latter is a failure
            if time.monotonic() >= deadline:
                return
        except Exception as exc:
            self._failed_to_start(exc)
        failed = _failed_worker(cluster)
        if failed is not None:
            self._failed_to_start(failed)

    def _failed_to_start(self, error) -> None:
        """Close the deployment and raise :class:`ClusterFileError` with the worker's ``error``."""
        reason = f"{self.spec.cls} could not start its workers: {_error_line(error)}"
        try:
            self.close()
        except Exception as exc:  # the cluster's own close failing must not hide the cause
            reason += f" (closing the cluster then failed too: {_error_line(exc)})"
        raise ClusterFileError(self.spec.path, reason) from (
            error if isinstance(error, BaseException) else None
        )

    @property
    def scales(self) -> bool:
        """Whether the manager can add workers (``SSHCluster`` cannot: it runs the workers its
        hosts list names, and the backend uses ``p`` of them)."""
        return bool(getattr(self.cluster, "_supports_scaling", True))

    def _target(self, n: int) -> int:
        """The workers the manager plans after ``scale(n)`` (``SpecCluster.plan``; else ``n``);
        for a manager that does not scale, all of its workers."""
        plan = getattr(self.cluster, "plan", None)
        try:
            if plan is None:
                return n
            return len(plan) if not self.scales else max(n, len(plan))
        except TypeError:
            return n

    def job_script(self) -> str | None:
        """The batch script of a dask-jobqueue cluster (None for other classes)."""
        fn = getattr(self.cluster, "job_script", None)
        return fn() if callable(fn) else None

    def describe(self) -> dict:
        return {"class": self.spec.cls, "file": self.spec.path, "options": dict(self.spec.options)}

    def close(self, timeout: float = 30) -> None:
        """Close the client and the cluster (every worker it started)."""
        client, self._client = self._client, None
        cluster, self.cluster = self.cluster, None
        try:
            if client is not None:
                client.close(timeout=timeout)
        finally:
            if cluster is not None:
                with self._environ():
                    cluster.close(timeout=timeout)


async def _corrected(cluster) -> None:
    """Await a SpecCluster's change to its plan (shielded: a timeout of the wait leaves it running)."""
    import asyncio

    await asyncio.shield(cluster._correct_state())


async def _start_error(worker) -> BaseException | None:
    """The error a ``distributed`` server (Nanny, Worker) that failed to start keeps: awaiting it
    again raises it, without another start."""
    try:
        await worker
    except Exception as exc:
        return exc
    return None


def _failed_worker(cluster):
    """The error (or a description) of the first worker of a SpecCluster's plan that failed to
    start, or None."""
    from distributed.core import Server, Status
    from distributed.deploy.spec import ProcessInterface

    for name, worker in list(cluster.workers.items()):
        if name not in cluster.worker_spec:
            continue  # on its way out
        status = getattr(worker, "status", None)
        if isinstance(worker, Server) and status == Status.failed:
            try:
                error = cluster.sync(_start_error, worker, callback_timeout=10)
            except Exception as exc:
                error = exc
            return error or f"worker {name!r} failed to start"
        if status == Status.failed or (isinstance(worker, ProcessInterface) and status == Status.created):
            return f"worker {name!r} failed to start (status {status.name})"
    return None


def _error_line(error) -> str:
    """An error on one line: the innermost cause of an exception (``Nanny failed to start.`` is
    raised from the worker's own error) as ``Type: message``."""
    if not isinstance(error, BaseException):
        return " ".join(str(error).split())
    while error.__cause__ is not None:
        error = error.__cause__
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def job_script(cluster) -> str:
    """The batch script a dask-jobqueue cluster file produces (``SLURMCluster(...).job_script()``),
    made without submitting anything (no ``sbatch`` needed).

    Raises
    ------
    ClusterFileError
        The class has no job script (not a dask-jobqueue class).
    """
    spec = as_spec(cluster)
    cls = spec.resolve()
    if not hasattr(cls, "job_cls"):
        raise ClusterFileError(spec.path, f"{spec.cls} is not a dask-jobqueue class: it has no job script")
    with cls(**spec.kwargs()) as c:
        return c.job_script()
