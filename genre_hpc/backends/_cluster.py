"""What the cluster backends share (private to :mod:`genre_hpc.backends`).

``dask-distributed`` and ``ipyparallel`` either connect to a cluster that
runs already (an *external* one, named by the options in
``connect_options``) or start a local one on 127.0.0.1 for the ``with``
block. :class:`ClusterBackend` holds that choice once:

- ``__enter__`` -> :meth:`ClusterBackend._start`: :meth:`~ClusterBackend._connect_external`
  (external) or :meth:`~ClusterBackend._start_local`, each waiting until
  ``workers`` workers are there (at most ``start_timeout``), then
  :meth:`~ClusterBackend._setup_workers` (thread limit and warm-up on every
  worker present);
- ``__exit__`` -> :meth:`ClusterBackend._stop`: closes the client, and stops
  the cluster only when this backend started it;
- :attr:`~ClusterBackend.external`, :attr:`~ClusterBackend.client`,
  :meth:`~ClusterBackend.worker_count` and :meth:`~ClusterBackend.describe`
  answer the same way for both.

Later work on clusters (a cluster deployed from a configuration file, a map
on exactly ``workers`` of a bigger cluster, the cluster's shape in every
record) lands here and in the two subclasses' hooks.
"""

from __future__ import annotations

from .base import Backend


class ClusterBackend(Backend):
    """Base of the backends that run items on a cluster: connect or start, set up, stop.

    Subclasses set ``connect_options`` (the option names that point at an
    existing cluster) and implement :meth:`_connect_external`, :meth:`_start_local`,
    :meth:`_setup_workers`, :meth:`_close_client`, :meth:`_stop_local`,
    :meth:`worker_count` and :meth:`_map`; :meth:`_after_stop` and
    :meth:`_describe_cluster` are optional.
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

    @property
    def external(self) -> bool:
        """True when the backend connects to a cluster it did not start (and will not stop)."""
        return bool(self.connect)

    @property
    def client(self):
        """The cluster's client (``distributed.Client``, ``ipyparallel.Client``) inside the
        ``with`` block; None outside it."""
        return self._client

    def worker_count(self) -> int:
        """The workers (engines) the cluster has now; 0 outside the ``with`` block."""
        raise NotImplementedError

    def describe(self) -> dict:
        d = {**super().describe(), "external": self.external}
        d.update(self._describe_cluster())
        return d

    # -- lifecycle ---------------------------------------------------------------------------
    def _start(self):
        if self.external:
            self._connect_external()
        else:
            self._start_local()
        self._setup_workers()

    def _stop(self):
        client, self._client = self._client, None
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

    # -- to implement ------------------------------------------------------------------------
    def _connect_external(self) -> None:
        """Set ``self._client`` to a client of the external cluster; wait for ``workers``."""
        raise NotImplementedError

    def _start_local(self) -> None:
        """Start a local cluster of ``workers`` workers on 127.0.0.1 (``self._cluster``, set
        as soon as it exists so a failed start still stops it), connect ``self._client``,
        wait for the workers."""
        raise NotImplementedError

    def _setup_workers(self) -> None:
        """Thread limit and warm-up on every worker (raise BackendError when it fails)."""
        raise NotImplementedError

    def _close_client(self, client) -> None:
        client.close()

    def _stop_local(self, cluster) -> None:
        raise NotImplementedError

    def _after_stop(self) -> None:
        """Clean up what the start left besides the cluster (temporary folders, environment)."""

    def _describe_cluster(self) -> dict:
        """Backend-specific settings for :meth:`describe`."""
        return {}
