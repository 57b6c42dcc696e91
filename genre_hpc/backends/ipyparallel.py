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
from ._workers import LostItems, auto_chunksize, init_worker, portable_item_error, worker_lost
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
        # with the engine's traceback as its cause (a RemoteTraceback), as the pools' errors come
        from multiprocessing.pool import ExceptionWithTraceback

        return (i, False, ExceptionWithTraceback(portable_item_error(item, exc), exc.__traceback__))


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
    option_names = connect_options + ("arrival_timeout", "start_timeout", "chunksize", "retries")

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

        from ._reach import ipp_connection_address, ipp_connection_file, probe

        # a connection file whose controller is gone: say so now, not after the timeout
        path = ipp_connection_file(self.connect)
        address = ipp_connection_address(path) if path else None
        if address:
            probe(address, backend=self.name, what=f"the controller of {path}")
        kw = {k: v for k, v in self.connect.items() if k != "url_file"}
        args = (os.fspath(self.connect["url_file"]),) if self.connect.get("url_file") else ()
        try:
            self._client = ipp.Client(*args, **kw, timeout=min(self.start_timeout, 60))
        except (OSError, TimeoutError) as exc:
            detail = " ".join(str(exc).split())
            raise BackendError(
                f"{self.name}: cannot connect to the cluster {self.connect}: {detail}"
            ) from exc

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
        self._engine_pids: dict[int, int] = {}  # selected engine id -> pid
        facts = self._setup_engines(list(self.selected))
        self._lview = self._client.load_balanced_view(targets=list(self.selected))
        return facts

    def _setup_engines(self, ids: list[int]) -> dict:
        """Thread limit and warm-up on the engines ``ids``; remember their pids and return
        their facts (:func:`~._cluster.worker_facts`)."""
        import ipyparallel as ipp

        try:
            facts = self._client[ids].apply_sync(_ipp_setup, self.thread_limit, self.warmup)
        except ipp.error.CompositeError as exc:
            raise BackendError(f"{self.name}: engine set-up (thread limit, warm-up) failed: {exc}") from exc
        except ipp.error.RemoteError as exc:
            raise BackendError(
                f"{self.name}: engine set-up (thread limit, warm-up) failed: {exc.ename}: {exc.evalue}"
            ) from exc
        facts = dict(zip(ids, facts if isinstance(facts, list) else [facts]))
        self._engine_pids.update({e: f["pid"] for e, f in facts.items()})
        return facts

    def _stop_local(self, cluster):
        import psutil

        # each engine runs a nanny process of its own, which notices a stopped engine only
        # seconds later: collect them now and make sure they are gone with the cluster
        procs = []
        for pid in getattr(self, "_engine_pids", {}).values():
            try:
                engine = psutil.Process(pid)
                procs += [engine, *engine.children(recursive=True)]
            except psutil.Error:
                continue
        cluster.stop_cluster_sync()
        _, alive = psutil.wait_procs(procs, timeout=3)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass

    def _after_stop(self):
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _map(self, fn, items, progress):
        """Map chunks over the engines; when an engine dies (the hub notices it within seconds)
        the other tasks finish, the items of its task run again one per task (only a task of
        one item names its item, :class:`~._workers.LostItems`), on a replacement engine (a new
        one when the cluster is ours, an idle one of an external cluster)."""
        import ipyparallel as ipp

        out = [None] * len(items)
        done: set[int] = set()
        lost = LostItems(self.name, items, self.retries, self._on_lost, idle_budget=2 * self.workers + 2)
        chunk = int(self.options.get("chunksize") or auto_chunksize(len(items), len(self.selected)))
        pending = list(range(len(items)))

        def take(row):
            i, ok, value = row
            if not ok:
                raise value
            if i not in done:
                out[i] = value
                done.add(i)
                progress(1)

        while pending:
            ar = self._lview.map_async(
                functools.partial(_ipp_call, fn),
                pending,
                [items[i] for i in pending],
                ordered=False,
                chunksize=chunk,
            )
            # on an error the remaining tasks are left to finish: aborting an
            # AsyncMapResult makes ipyparallel fail inside its own callback
            try:
                for row in ar:
                    take(row)
            except ipp.error.RemoteError as exc:
                if not _engine_died(exc):
                    raise BackendError(f"{self.name}: {exc.ename}: {exc.evalue}") from exc
                self._engines_died(ar, pending, chunk, take, lost, items)
            except ipp.error.EngineError:  # pragma: no cover - raised bare by older versions
                self._engines_died(ar, pending, chunk, take, lost, items)
            for i, value in lost.lost.items():
                if i not in done:
                    out[i] = value
                    done.add(i)
                    progress(1)
            pending = [i for i in range(len(items)) if i not in done]
            chunk = 1  # what runs again runs one item per task: a second death names its item
        return out

    def _engines_died(self, ar, pending, chunk, take, lost: LostItems, items) -> None:
        """Engines died under ``ar``: keep what the other tasks returned, charge the items of
        one-item tasks that died (:class:`~._workers.LostItems`), replace the engines."""
        import ipyparallel as ipp

        ar.wait()  # the other tasks run to completion
        failed = []
        for k, msg_id in enumerate(ar.msg_ids):
            try:
                rows = self._client.get_result(msg_id).get(0)
            except ipp.error.RemoteError as exc:
                if not _engine_died(exc):
                    raise BackendError(f"{self.name}: {exc.ename}: {exc.evalue}") from exc
                failed.append((k, msg_id))
                continue
            for row in rows:
                take(row)
        before = dict(self._engine_pids)
        self._replace_engines()
        gone = [e for e in before if e not in self._engine_pids]
        pid = before[gone[0]] if len(gone) == 1 else None  # which engine ran which task: not said
        for k, _msg_id in failed:
            if chunk != 1:
                continue
            i = pending[k]  # map_async's tasks follow the sequence in order
            if pid is not None:
                error = worker_lost(self.name, pid=pid, exitcode=self._exit_code(pid), item=items[i])
            else:
                error = WorkerLost(f"{self.name}: an engine died while running item {items[i]!r}", items[i])
            lost.died(i, error)
        if not failed:
            lost.idle_death(WorkerLost(f"{self.name}: an engine died during the map"))

    def _replace_engines(self) -> None:
        """Put engines in the place of the selected ones that died, so the map keeps running on
        ``workers`` engines: new ones started (own cluster) or idle engines of an external
        cluster (the lowest ids first; none left: the map goes on with fewer); set them up and
        point the view at them. Raise when no selected engine is left."""
        import time

        deadline = time.monotonic() + 10
        while set(self._client.ids) >= set(self._engine_pids) and time.monotonic() < deadline:
            time.sleep(0.1)  # the hub unregisters a dead engine shortly after its task failed
        alive = set(self._client.ids)
        gone = [e for e in self._engine_pids if e not in alive]
        if not gone:
            return
        for e in gone:
            del self._engine_pids[e]
        self.selected = [e for e in self.selected if e in alive]
        if not self.external:
            self._cluster.start_engines_sync(n=len(gone))
            self._client.wait_for_engines(len(alive) + len(gone), timeout=self.start_timeout)
            new = sorted(e for e in self._client.ids if e not in alive)
        else:
            new = sorted(e for e in alive if e not in self.selected)[: len(gone)]
        if new:
            self._facts.update(self._setup_engines(new))
            self.selected = sorted(self.selected + new)
        if not self.selected:
            raise WorkerLost(f"{self.name}: every selected engine died; none is left to run the items")
        self._lview = self._client.load_balanced_view(targets=list(self.selected))

    def _exit_code(self, pid) -> int | None:
        """The exit code of engine process ``pid`` of our own cluster (None when not known)."""
        if pid is None or self._cluster is None:
            return None
        for engine_set in list(getattr(self._cluster, "engines", {}).values()):
            for launcher in list(getattr(engine_set, "launchers", {}).values()):
                if getattr(launcher, "pid", None) != pid:
                    continue
                code = (getattr(launcher, "stop_data", None) or {}).get("exit_code")
                if code is None:
                    try:  # a psutil.Process of our child: its exit status, if not reaped yet
                        code = launcher.process.wait(timeout=0)
                    except Exception:
                        code = None
                return None if code is None else int(code)
        return None


def _engine_died(exc) -> bool:
    """Whether an ipyparallel RemoteError (or CompositeError) says an engine died."""
    if getattr(exc, "ename", "") == "EngineError":
        return True
    return any(e[0] == "EngineError" for e in getattr(exc, "elist", ()) or ())
