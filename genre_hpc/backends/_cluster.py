"""What the cluster backends share (private to :mod:`genre_hpc.backends`).

``dask-distributed`` and ``ipyparallel`` either connect to a cluster that
runs already (an *external* one, named by the options in
``connect_options``) or start a local one on 127.0.0.1 for the ``with``
block. :class:`ClusterBackend` holds that choice once:

- ``__enter__`` -> :meth:`ClusterBackend._start`: :meth:`~ClusterBackend._connect_external`
  (external) or :meth:`~ClusterBackend._start_local`, then
  :meth:`~ClusterBackend._wait_for_workers` (``workers`` workers; a cluster that was found
  and has fewer, with none joining for ``arrival_timeout`` seconds, fails at once with
  :class:`~.base.ClusterShapeError`), :meth:`~ClusterBackend._select_workers` (exactly
  ``workers`` of them, the first by sorted address: *p means p*), the thread-count check
  (``threads_per_worker``), and :meth:`~ClusterBackend._setup_workers` (thread limit,
  warm-up and the worker's facts, on the selected workers only);
- ``__exit__`` -> :meth:`ClusterBackend._stop`: records the cluster's shape, closes the
  client, and stops the cluster only when this backend started it;
- :attr:`~ClusterBackend.external`, :attr:`~ClusterBackend.client`,
  :meth:`~ClusterBackend.worker_count`, :meth:`~ClusterBackend.describe` and
  :meth:`~ClusterBackend.cluster_info` (hosts, workers available / selected / used, threads
  and memory per worker, library versions, started by the harness or found) answer the same
  way for both.
"""

from __future__ import annotations

import re
import time

from .base import Backend, ClusterShapeError

#: seconds a cluster that was found (not started here) may go without a new worker joining
#: while it has fewer than ``workers``: then the start fails at once (``arrival_timeout``)
DEFAULT_ARRIVAL_TIMEOUT = 10.0
#: how often the worker count is polled while waiting (seconds)
WAIT_POLL_S = 0.1

#: distributions whose versions are recorded on every worker (the first installed name counts)
VERSION_DISTS: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "pandas": ("pandas",),
    "librosa": ("librosa",),
    "soundfile": ("soundfile",),
    "numba": ("numba",),
    "scikit-learn": ("scikit-learn",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "dask": ("dask",),
    "distributed": ("distributed",),
    "ipyparallel": ("ipyparallel",),
}


def worker_facts() -> dict:
    """What a worker process says about itself: host name, pid, host memory and cores, and the
    versions of Python, genre-hpc and the libraries of :data:`VERSION_DISTS` (read from the
    installed metadata, nothing is imported). Runs in the set-up task of every worker."""
    import os
    import platform
    import socket
    from importlib import metadata

    import psutil

    from .. import __version__

    versions = {"python": platform.python_version(), "genre-hpc": __version__}
    for key, dists in VERSION_DISTS.items():
        for dist in dists:
            try:
                versions[key] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "host_memory": int(psutil.virtual_memory().total),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "versions": versions,
    }


def natural_key(text) -> tuple:
    """Sort key that orders the numbers inside a string by value (``...:9999`` before ``...:10000``)."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text)))


def _one_or_list(values):
    """The single value of ``values``, or the sorted distinct values when they differ."""
    distinct = sorted(set(values), key=natural_key)
    if not distinct:
        return None
    return distinct[0] if len(distinct) == 1 else distinct


class ClusterBackend(Backend):
    """Base of the backends that run items on a cluster: connect or start, select, set up, stop.

    Subclasses set ``connect_options`` (the option names that point at an existing cluster)
    and implement :meth:`_connect_external`, :meth:`_start_local`, :meth:`_setup_workers`,
    :meth:`_close_client`, :meth:`_stop_local`, :meth:`worker_count`, :meth:`_worker_table`,
    :meth:`_task_counts` and :meth:`_map`; :meth:`_after_stop`, :meth:`_where` and
    :meth:`_describe_cluster` are optional.

    Options read here (when a subclass lists them in ``option_names``):
    ``threads_per_worker`` (default 1: one task slot per worker; ``None`` accepts any count,
    which is then recorded) and ``arrival_timeout`` (seconds, default
    :data:`DEFAULT_ARRIVAL_TIMEOUT`).
    """

    uses_processes = True
    #: options that name an existing cluster; any of them given makes the backend ``external``
    connect_options: tuple[str, ...] = ()

    def __init__(self, workers: int = 1, **kwargs):
        super().__init__(workers, **kwargs)
        #: the given options of ``connect_options`` (empty: start a local cluster)
        self.connect = {k: self.options[k] for k in self.connect_options if self.options.get(k)}
        self._cluster = None  # the cluster this backend started (never an external one)
        self._client = None
        tpw = self.options.get("threads_per_worker", 1)
        if tpw is not None and int(tpw) < 1:
            raise ValueError(f"threads_per_worker must be >= 1 or None, got {tpw}")
        #: the thread count every selected worker must have (None: any, recorded)
        self.threads_per_worker = None if tpw is None else int(tpw)
        arrival = self.options.get("arrival_timeout")
        arrival = DEFAULT_ARRIVAL_TIMEOUT if arrival is None else float(arrival)
        if not arrival > 0:
            raise ValueError(f"arrival_timeout must be > 0 seconds, got {arrival}")
        self.arrival_timeout = arrival
        #: the workers the map runs on (ids: addresses, engine ids), chosen at start-up
        self.selected: list = []
        self._restrict = False  # the cluster has more workers than selected: pin the tasks
        self._table: dict = {}  # worker id -> host, name, nthreads, memory_limit (at selection)
        self._facts: dict = {}  # worker id -> worker_facts() from the set-up task
        self._tasks_before: dict = {}
        self._info: dict | None = None  # the shape recorded when the block ended

    @property
    def external(self) -> bool:
        """True when the backend connects to a cluster it did not start (and will not stop)."""
        return bool(self.connect)

    @property
    def started_by(self) -> str:
        """``"harness"`` when this package started the workers (the backend's own cluster or a
        cluster file's deployment), ``"found"`` when they ran already."""
        return "found" if self.external else "harness"

    @property
    def client(self):
        """The cluster's client (``distributed.Client``, ``ipyparallel.Client``) inside the
        ``with`` block; None outside it."""
        return self._client

    def worker_count(self) -> int:
        """The workers (engines) the cluster has now; 0 outside the ``with`` block."""
        raise NotImplementedError

    def describe(self) -> dict:
        d = {**super().describe(), "external": self.external, "started_by": self.started_by}
        d["threads_per_worker"] = self.threads_per_worker
        if self.external:
            d["arrival_timeout"] = self.arrival_timeout
        d.update(self._describe_cluster())
        return d

    # -- the cluster's shape -------------------------------------------------------------
    def cluster_info(self) -> dict:
        """The shape of the cluster this backend runs on, for every record.

        Inside the ``with`` block it is measured now; after it, the shape recorded when the
        block ended. Keys: ``backend``, ``started_by`` (``harness`` or ``found``),
        ``deployment`` (how the workers came to be), ``hosts``, ``workers_available`` (the
        cluster's workers), ``workers_asked``, ``workers_selected`` (the names of the workers
        the tasks are pinned to), ``workers_used`` (how many workers ran tasks since
        start-up, counted on the workers, whoever submitted them: not the request),
        ``tasks_per_worker``, ``threads_per_worker`` and ``memory_per_worker`` (bytes,
        None without a limit; a list when they differ), ``host_memory`` (bytes per host),
        ``versions`` (per library, a list when the workers differ).
        """
        if self._client is None:
            return dict(self._info or {})
        table = self._worker_table()
        sel = list(self.selected)
        seen = {**self._table, **table}
        counts = self._task_counts()
        ran = {
            w: int(n) - int(self._tasks_before.get(w, 0))
            for w, n in counts.items()
            if int(n) - int(self._tasks_before.get(w, 0)) > 0
        }
        names = {w: str(seen.get(w, {}).get("name", w)) for w in set(seen) | set(ran)}
        hosts = [seen[w].get("host") or self._facts.get(w, {}).get("hostname") for w in sel if w in seen]
        host_memory, host_cpus = {}, {}
        for w in sel:
            f = self._facts.get(w)
            if f:
                host = str(seen.get(w, {}).get("host") or f["hostname"])
                host_memory[host] = f["host_memory"]
                host_cpus[host] = f.get("cpus")
        versions: dict = {}
        for w in sel:
            for k, v in (self._facts.get(w) or {}).get("versions", {}).items():
                versions.setdefault(k, []).append(v)
        mem = [seen.get(w, {}).get("memory_limit") or None for w in sel]
        info = {
            "backend": self.name,
            "started_by": self.started_by,
            "deployment": self._deployment_name(),
            "hosts": sorted({h for h in hosts if h}, key=natural_key),
            "workers_available": len(table),
            "workers_asked": self.workers,
            "workers_selected": [names.get(w, str(w)) for w in sel],
            "workers_used": len(ran),
            "tasks_per_worker": {names[w]: ran[w] for w in sorted(ran, key=natural_key)},
            "threads_per_worker": _one_or_list(seen[w].get("nthreads") for w in sel if w in seen),
            "memory_per_worker": None if any(m is None for m in mem) else _one_or_list(mem),
            "host_memory": host_memory,
            "host_cpus": host_cpus,
            "versions": {k: _one_or_list(v) for k, v in versions.items()},
        }
        info.update(self._cluster_extra())
        return info

    def submit_restrictions(self) -> dict:
        """Keyword arguments that pin submitted work to the selected workers (``workers=...,
        allow_other_workers=False``); empty when the cluster has no other workers. Code that
        submits to :attr:`client` itself (training, tuning) passes them on."""
        if not self._restrict:
            return {}
        return {"workers": list(self.selected), "allow_other_workers": False}

    # -- lifecycle ---------------------------------------------------------------------------
    def _start(self):
        if self.external:
            self._connect_external()
        else:
            self._start_local()
        self._wait_for_workers(arriving=not self.external or self._arriving())
        self._select_workers()
        self._facts = dict(self._setup_workers() or {})
        self._tasks_before = self._task_counts()
        self._info = None

    def _stop(self):
        client = self._client
        if client is not None and self._started and getattr(client, "status", "running") == "running":
            try:
                self._info = _within(STOP_INFO_TIMEOUT_S, self.cluster_info)
            except Exception:  # a lost scheduler must not hide the real error or the clean-up
                self._info = None
        self._client = None
        cluster, self._cluster = self._cluster, None
        try:
            if client is not None:
                self._close_client(client)
        finally:
            try:
                if cluster is not None:
                    self._stop_local(cluster)
            finally:
                self._after_stop()

    def _wait_for_workers(self, arriving: bool) -> None:
        """Wait until the cluster has ``workers`` workers (at most ``start_timeout``).

        ``arriving`` False (a cluster that was found): fail with
        :class:`~.base.ClusterShapeError` as soon as it has fewer and no worker joined for
        ``arrival_timeout`` seconds, instead of waiting ``start_timeout`` for workers that
        nothing is starting.
        """
        t0 = last_change = time.monotonic()
        n = last_n = self.worker_count()
        while n < self.workers:
            now = time.monotonic()
            if now - t0 > self.start_timeout:
                raise ClusterShapeError(
                    f"{self.name}: {self._where()} answers, but has {n} worker(s) after "
                    f"{self.start_timeout:g} s (start_timeout), {self.workers} asked: the workers are "
                    "slow to arrive or too few; start more, or give a larger start_timeout"
                )
            if not arriving and now - last_change > self.arrival_timeout:
                raise ClusterShapeError(
                    f"{self.name}: {self._where()} has {n} worker(s), {self.workers} asked, and none "
                    f"joined in {self.arrival_timeout:g} s (arrival_timeout): ask for at most {n} "
                    "or add workers to the cluster"
                )
            time.sleep(WAIT_POLL_S)
            n = self.worker_count()
            if n != last_n:
                last_n, last_change = n, time.monotonic()

    def _select_workers(self) -> None:
        """Exactly ``workers`` workers, the first by (natural) sort order of their ids; check
        their thread counts against ``threads_per_worker``."""
        table = self._worker_table()
        ids = sorted(table, key=natural_key)
        if len(ids) < self.workers:  # a worker left between the wait and now
            raise ClusterShapeError(
                f"{self.name}: {self._where()} has {len(ids)} worker(s), {self.workers} asked"
            )
        self.selected = ids[: self.workers]
        self._restrict = len(ids) > self.workers
        self._table = {w: table[w] for w in self.selected}
        if self.threads_per_worker is not None:
            wrong = {w: table[w].get("nthreads") for w in self.selected}
            wrong = {w: t for w, t in wrong.items() if t != self.threads_per_worker}
            if wrong:
                shown = ", ".join(f"{table[w].get('name', w)} has {t}" for w, t in list(wrong.items())[:4])
                raise ClusterShapeError(
                    f"{self.name}: worker threads differ from threads_per_worker="
                    f"{self.threads_per_worker} (one task slot per worker unless told otherwise): "
                    f"{shown}; pass threads_per_worker=N (--threads-per-worker N), or None "
                    "(--threads-per-worker any) to accept them"
                )

    # -- to implement ------------------------------------------------------------------------
    def _connect_external(self) -> None:
        """Set ``self._client`` to a client of the external cluster (the base then waits for
        ``workers``)."""
        raise NotImplementedError

    def _start_local(self) -> None:
        """Start a local cluster of ``workers`` workers on 127.0.0.1 (``self._cluster``, set
        as soon as it exists so a failed start still stops it), connect ``self._client``,
        wait for the workers."""
        raise NotImplementedError

    def _arriving(self) -> bool:
        """Whether an external cluster's missing workers are being started (a deployment being
        scaled): then the wait is ``start_timeout``, not ``arrival_timeout``."""
        return False

    def _worker_table(self) -> dict:
        """``{worker id: {"name", "host", "nthreads", "memory_limit"}}`` of the cluster now."""
        raise NotImplementedError

    def _task_counts(self) -> dict:
        """``{worker id: tasks it has run}`` (cumulative, as the workers or the hub count them)."""
        raise NotImplementedError

    def _setup_workers(self) -> dict:
        """Thread limit and warm-up on every selected worker (raise BackendError when it
        fails); return ``{worker id: worker_facts()}``."""
        raise NotImplementedError

    def _close_client(self, client) -> None:
        client.close()

    def _stop_local(self, cluster) -> None:
        raise NotImplementedError

    def _after_stop(self) -> None:
        """Clean up what the start left besides the cluster (temporary folders, environment)."""

    def _where(self) -> str:
        """The cluster in messages (``"the cluster at tcp://host:8786"``)."""
        return "the cluster"

    def _deployment_name(self) -> str:
        """How the workers came to be, for :meth:`cluster_info`."""
        return "found" if self.external else "started by the backend"

    def _cluster_extra(self) -> dict:
        """Backend-specific keys of :meth:`cluster_info`."""
        return {}

    def _describe_cluster(self) -> dict:
        """Backend-specific settings for :meth:`describe`."""
        return {}


#: seconds the cluster's shape may take to collect at the stop (a hub or scheduler already gone
#: never answers: ipyparallel's ``queue_status`` then waits for ever, e.g. at interpreter exit
#: after ipyparallel's own exit handler stopped the controller)
STOP_INFO_TIMEOUT_S = 10.0


def _within(seconds: float, fn):
    """``fn()``, or TimeoutError after ``seconds`` (the call is left to a daemon thread)."""
    import threading

    box: dict = {}

    def call():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    t = threading.Thread(target=call, name="genre-hpc-bounded-call", daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise TimeoutError(f"no answer in {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")
