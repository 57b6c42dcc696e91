"""``ipyparallel``: a load-balanced view over ipyparallel engines.

By default the backend starts its own cluster: a controller listening on
127.0.0.1 and ``workers`` local engines, with a throw-away profile folder
(removed at exit, so nothing is written to ``~/.ipython``). With
``profile=``, ``profile_dir=``, ``cluster_id=`` or ``url_file=`` it connects
to a running cluster instead (``ipcluster start -n N ...``) and runs on exactly
``workers`` of its engines (the lowest engine ids; the others stay idle): a
cluster with fewer, where none registers for ``arrival_timeout`` seconds, fails
at once (:class:`~.base.ClusterShapeError`). It never stops a cluster it did
not start.

The thread limit and ``warmup`` run once on every selected engine with
``DirectView.apply_sync`` during start-up. Items go through
``LoadBalancedView(targets=selected).map_async(..., ordered=False, chunksize=c)``, so
progress is reported as chunks finish; ``c`` is the option ``chunksize``,
by default :func:`~._workers.auto_chunksize` over the engines (each
task costs the client, the hub and the scheduler some milliseconds, which
one item per task paid on every 15 ms image). No per-item timeout: a
running engine task cannot be cancelled from the client.

ipyparallel is imported only when this backend is made; without it the
backend raises :class:`~.base.BackendUnavailable`.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile

from ..threads import patched_environ, thread_env
from ._cluster import ClusterBackend, worker_facts
from ._workers import auto_chunksize, init_worker, portable_item_error
from .base import BackendError, BackendUnavailable, WorkerLost


def require_ipyparallel(name: str = "ipyparallel"):
    """Import ipyparallel or raise :class:`~.base.BackendUnavailable`.

    The message is :func:`genre_hpc.extras.unavailable_reason`'s (``"ipyparallel is not
    installed: install genre-hpc[ipp]"``), the same as ``backends.unavailable_reason(name)``;
    an installed ipyparallel that fails to import is named with its import error.
    """
    from ..extras import unavailable_reason

    reason = unavailable_reason(("ipp",))
    if reason is None:
        try:
            import ipyparallel
        except ImportError as exc:
            reason = f"ipyparallel does not import ({exc}): install genre-hpc[ipp]"
    if reason is not None:
        raise BackendUnavailable(reason)
    return ipyparallel


def _ipp_setup(thread_limit, warmup) -> dict:
    """Set-up on one engine: thread limit, warm-up; returns the engine's facts."""
    init_worker(thread_limit, warmup)
    return worker_facts()


def _ipp_call(fn, i, item):
    """Run one item on an engine; failures come back as data, keeping the exception."""
    try:
        return (i, True, fn(item))
    except Exception as exc:
        return (i, False, portable_item_error(item, exc))


class IPyParallelBackend(ClusterBackend):
    """``ipyparallel``: own local cluster, or an existing one via ``profile``/``cluster_id``.

    Options
    -------
    profile : str, optional
        Profile name of a running cluster (``ipcluster start --profile=NAME``).
    profile_dir : str, optional
        Profile folder of a running cluster (``ipcluster start --profile-dir=DIR``).
    cluster_id : str, optional
        ``--cluster-id`` of a running cluster.
    url_file : str, optional
        The cluster's ``ipcontroller-*-client.json`` connection file.
    arrival_timeout : float
        Seconds an existing cluster with too few engines may go without one registering.
    start_timeout : float
        Seconds to wait for the engines and the warm-up.
    chunksize : int, optional
        Items per task (default: ``auto_chunksize(n_items, engines)``).
    """

    name = "ipyparallel"
    requires = ("ipp",)
    connect_options = ("profile", "profile_dir", "cluster_id", "url_file")
    option_names = connect_options + ("arrival_timeout", "start_timeout", "chunksize")

    def __init__(self, workers: int = 1, **kwargs):
        super().__init__(workers, **kwargs)
        require_ipyparallel(self.name)
        self._tmp: str | None = None

    def worker_count(self) -> int:
        return len(self._client.ids) if self._client is not None else 0

    def _worker_table(self) -> dict:
        # an engine runs one task at a time; its host is known from its facts after set-up
        return {
            eid: {
                "name": f"engine-{eid}",
                "host": (self._facts.get(eid) or {}).get("hostname"),
                "nthreads": 1,
                "memory_limit": None,
            }
            for eid in self._client.ids
        }

    def _task_counts(self) -> dict:
        status = self._client.queue_status()
        return {k: v.get("completed", 0) for k, v in status.items() if isinstance(k, int)}

    def _where(self) -> str:
        if self.external:
            return "the cluster " + ", ".join(f"{k}={v}" for k, v in self.connect.items())
        return "the local ipyparallel cluster"

    def _deployment_name(self) -> str:
        if self.external:
            return "ipcluster " + ", ".join(f"{k}={v}" for k, v in self.connect.items())
        return "ipyparallel cluster started by the backend"

    def _describe_cluster(self) -> dict:
        d = {"chunksize": self.options.get("chunksize") or "auto", **self.connect}
        if self._client is not None:
            d["engines"] = self.worker_count()
        return d

    def _connect_external(self):
        import ipyparallel as ipp

        try:
            self._client = ipp.Client(**self.connect, timeout=min(self.start_timeout, 60))
        except (OSError, TimeoutError) as exc:
            raise BackendError(f"{self.name}: cannot connect to the cluster {self.connect}: {exc}") from exc

    def _start_local(self):
        import ipyparallel as ipp

        self._tmp = tempfile.mkdtemp(prefix="genre-hpc-ipp-")
        with patched_environ(thread_env(self.thread_limit)):
            self._cluster = ipp.Cluster(
                n=self.workers,
                profile_dir=self._tmp,
                cluster_id=f"genre-hpc-{os.getpid()}",
                controller_ip="127.0.0.1",
                delay=0,
                engine_timeout=int(self.start_timeout),
                log_level=logging.WARNING,
                load_profile=False,
            )
            self._client = self._cluster.start_and_connect_sync()

    def _setup_workers(self) -> dict:
        import ipyparallel as ipp

        try:
            facts = self._client[list(self.selected)].apply_sync(_ipp_setup, self.thread_limit, self.warmup)
        except ipp.error.CompositeError as exc:
            raise BackendError(f"{self.name}: engine set-up (thread limit, warm-up) failed: {exc}") from exc
        except ipp.error.RemoteError as exc:
            raise BackendError(
                f"{self.name}: engine set-up (thread limit, warm-up) failed: {exc.ename}: {exc.evalue}"
            ) from exc
        self._lview = self._client.load_balanced_view(targets=list(self.selected))
        return dict(zip(self.selected, facts))

    def _stop_local(self, cluster):
        cluster.stop_cluster_sync()

    def _after_stop(self):
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _map(self, fn, items, progress):
        import ipyparallel as ipp

        out = [None] * len(items)
        chunk = self.options.get("chunksize") or auto_chunksize(len(items), len(self.selected))
        ar = self._lview.map_async(
            functools.partial(_ipp_call, fn), range(len(items)), items, ordered=False, chunksize=int(chunk)
        )
        # on an error the remaining tasks are left to finish: aborting an
        # AsyncMapResult makes ipyparallel fail inside its own callback
        try:
            for i, ok, value in ar:
                if not ok:
                    raise value
                out[i] = value
                progress(1)
        except ipp.error.EngineError as exc:
            raise WorkerLost(f"{self.name}: an engine died during the map ({exc})") from exc
        except ipp.error.RemoteError as exc:
            raise BackendError(f"{self.name}: {exc.ename}: {exc.evalue}") from exc
        return out
