"""Is anything there? A quick look at a cluster's address before waiting for it (private).

A client of a Dask scheduler or an ipyparallel controller retries its connection until its
timeout (``start_timeout``, 300 s by default), which is right for a cluster that is starting
but makes a typo in ``--scheduler`` cost five minutes. :func:`probe` answers first, within
:data:`PROBE_TIMEOUT_S`: an address whose host does not resolve, whose port refuses the
connection, or that gives no answer at all raises :class:`~.base.ClusterUnreachable` at once,
in one line naming the address. Only an address that answers goes on to the long wait.
"""

from __future__ import annotations

import json
import os
import socket
from urllib.parse import urlsplit

from .base import BackendError, ClusterUnreachable

#: seconds a probe waits for a TCP connection (a live scheduler accepts in milliseconds)
PROBE_TIMEOUT_S = 5.0


def split_address(address: str) -> tuple[str, int]:
    """``"tcp://host:8786"`` (or ``"host:8786"``, ``"tls://[::1]:8786"``) -> ``(host, port)``.

    Raises
    ------
    ValueError
        When the address has no host or no port.
    """
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ValueError(f"not an address of the form tcp://host:port: {address!r}")
    return parts.hostname, port


def probe(address: str, *, backend: str, what: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Connect to ``address`` once (TCP) and close; raise when nothing can answer there.

    Parameters
    ----------
    address : str
        ``tcp://host:port`` (the scheme is not checked: TLS and ZeroMQ listen on TCP too).
    backend, what : str
        For the message: ``"dask-distributed"``, ``"the scheduler"``.
    timeout : float
        Seconds to wait for the connection.

    Raises
    ------
    ClusterUnreachable
        The host does not resolve, the connection is refused, the network has no route to
        it, or there is no answer within ``timeout``.
    BackendError
        For an address that is not ``host:port``.
    """
    try:
        host, port = split_address(address)
    except ValueError as exc:
        raise BackendError(f"{backend}: {what}: {exc}") from None
    where = f"{backend}: cannot reach {what} at {address}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ClusterUnreachable(
            f"{where}: the host name {host!r} does not resolve ({exc.strerror})"
        ) from None
    last: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        try:
            with socket.socket(family, kind, proto) as s:
                s.settimeout(timeout)
                s.connect(sockaddr)
            return
        except ConnectionRefusedError as exc:
            last = exc
        except TimeoutError:
            last = TimeoutError(f"no answer within {timeout:g} s")
        except OSError as exc:
            last = exc
    if isinstance(last, ConnectionRefusedError):
        reason = "connection refused (nothing listens on that port: is it running, is the port right?)"
    elif isinstance(last, TimeoutError):
        reason = f"{last} (a firewall, or a host that is down)"
    else:
        reason = getattr(last, "strerror", None) or str(last)
    raise ClusterUnreachable(f"{where}: {reason}")


def scheduler_file_address(path) -> str | None:
    """The ``address`` a ``dask scheduler --scheduler-file`` wrote, or None while the file is
    missing or incomplete (the scheduler may still be starting)."""
    try:
        with open(path) as fh:
            return json.load(fh).get("address")
    except (OSError, ValueError):
        return None


def ipp_connection_address(path) -> str | None:
    """``tcp://host:port`` of the controller's registration socket in an ipyparallel client
    connection file (``ipcontroller-*-client.json``); None when the file is missing or
    unreadable."""
    try:
        with open(path) as fh:
            info = json.load(fh)
        interface, port = info["interface"], info["registration"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    host = interface.split("://", 1)[-1]
    location = info.get("location")
    if host in ("0.0.0.0", "*", "") and location:  # the controller listens everywhere
        host = location
    elif host in ("0.0.0.0", "*", ""):
        host = "127.0.0.1"
    return f"tcp://{host}:{port}"


def ipp_connection_file(connect: dict) -> str | None:
    """The client connection file an ipyparallel backend's options point at (``url_file``, or
    ``security/ipcontroller[-<cluster_id>]-client.json`` of the profile); None when the profile
    folder does not exist."""
    if connect.get("url_file"):
        return os.fspath(connect["url_file"])
    try:
        from IPython.core.profiledir import ProfileDir, ProfileDirError
        from IPython.paths import get_ipython_dir
    except ImportError:  # pragma: no cover - ipyparallel depends on IPython
        return None
    try:
        if connect.get("profile_dir"):
            pd = ProfileDir.find_profile_dir(os.fspath(connect["profile_dir"]))
        else:
            pd = ProfileDir.find_profile_dir_by_name(get_ipython_dir(), connect.get("profile") or "default")
    except ProfileDirError:
        return None
    cid = connect.get("cluster_id")
    return os.path.join(
        pd.security_dir, f"ipcontroller-{cid}-client.json" if cid else "ipcontroller-client.json"
    )
