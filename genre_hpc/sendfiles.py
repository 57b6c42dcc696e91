"""How workers get a track's audio: by its path (a shared filesystem) or as bytes in its task.

Three modes (``send_files=`` of :func:`genre_hpc.extract.extract_features` and
:func:`genre_hpc.images.make_images`, ``--send-files`` on the command line):

- ``path`` (default): the task carries the path and the worker opens it. A worker that cannot
  open it (no shared filesystem, another mount, a relative path from another working
  directory) gives that track a failure of kind ``unreachable`` that says so, naming the worker's
  host and pid, never a silent empty table. A file the client cannot open either is an ordinary
  failure (``no such file``).
- ``bytes``: the client reads every file and sends its bytes with the task; the worker decodes
  them from memory (:func:`genre_hpc.audio.load_audio` ``data=``: the same decoders on the same
  bytes, so the same samples, bit for bit).
- ``auto``: ``path`` first; the tracks a worker could not open (and the client can) are sent
  again with their bytes, in a second map on the same workers (its time is part of the
  compute time).

Workers write no cache entries and no image files for tracks sent as bytes (the client does,
where the data is).
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable

#: the modes, and the default
SEND_FILES = ("path", "bytes", "auto")
DEFAULT_SEND_FILES = "path"
#: Failure.kind of a track a worker could not open
UNREACHABLE = "unreachable"


def check_mode(mode: str | None) -> str:
    """The mode (``None``: the default), or ``ValueError`` naming the known ones."""
    mode = DEFAULT_SEND_FILES if mode is None else str(mode)
    if mode not in SEND_FILES:
        raise ValueError(f"unknown send_files mode {mode!r}; known: {', '.join(SEND_FILES)}")
    return mode


def unreachable(track):
    """Worker side, path mode: a :class:`~genre_hpc.extract.Failure` of kind ``unreachable``
    when this process cannot open ``track.path``; None when it can."""
    try:
        with open(track.path, "rb"):
            pass
        return None
    except OSError as exc:
        from .extract import Failure

        why = exc.strerror or type(exc).__name__
        return Failure(
            track.path,
            f"the worker cannot open the file ({why}; host {socket.gethostname()}, pid {os.getpid()}): "
            "the workers do not see this path (no shared filesystem, or a relative path from "
            "another working directory); send the audio with the tasks: --send-files bytes or auto "
            "(send_files='bytes' or 'auto')",
            UNREACHABLE,
            track.track_id,
        )


def read_bytes(path) -> bytes | None:
    """The file's content, or None when this process cannot read it."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _local_failure(track):
    """The ordinary failure of a file that this process cannot open either."""
    from .extract import Failure

    if not os.path.exists(track.path):
        from .audio import missing_reason

        return Failure(track.path, missing_reason(track.path), "unreadable", track.track_id)
    try:
        with open(track.path, "rb"):
            pass
    except OSError as exc:
        return Failure(track.path, f"cannot open ({exc.strerror or exc})", "unreadable", track.track_id)
    return None


def _with_data(task, data):
    return dataclasses.replace(task, data=data)


def _failure_of(result):
    return result.failure


def map_tracks(
    backend,
    fn: Callable,
    tasks: list,
    *,
    send_files: str,
    with_failure: Callable,
    with_data: Callable | None = None,
    failure_of: Callable | None = None,
    progress=None,
    on_lost: Callable | None = None,
) -> tuple[list, dict]:
    """``backend.map(fn, tasks)`` with each track's audio sent as ``send_files`` says.

    Parameters
    ----------
    backend : genre_hpc.backends.Backend
        Started (inside its ``with`` block).
    fn : callable
        The per-task function (``extract_track``, ``image_track``).
    tasks : list
        Tasks with a ``track`` attribute, carrying paths.
    send_files : {"path", "bytes", "auto"}
    with_failure : callable
        ``with_failure(result, failure)``: the result with another failure.
    with_data : callable, optional
        ``with_data(task, data)``: the task carrying the file's bytes (default: the dataclass
        ``task`` with its ``data`` field replaced).
    failure_of : callable, optional
        ``failure_of(result)``: its Failure or None (default: ``result.failure``).
    progress : callable, optional
    on_lost : callable, optional
        ``on_lost(task, error)``: the result of a task whose worker died on every attempt
        (:meth:`~genre_hpc.backends.base.Backend.map`); passed to both maps.

    Returns
    -------
    (list, dict)
        The results in task order and ``{"send_files", "sent_tracks", "sent_bytes"}``.
    """
    mode = check_mode(send_files)
    if with_data is None:
        with_data = _with_data
    if failure_of is None:
        failure_of = _failure_of
    sent = {"send_files": mode, "sent_tracks": 0, "sent_bytes": 0}

    def attach(task):
        data = read_bytes(task.track.path)
        if data is None:
            return task  # the client cannot read it: the worker's path attempt reports it
        sent["sent_tracks"] += 1
        sent["sent_bytes"] += len(data)
        return with_data(task, data)

    if mode == "bytes":
        tasks = [attach(t) for t in tasks]
    results = list(backend.map(fn, tasks, progress=progress, on_lost=on_lost))
    retry = []
    for i, r in enumerate(results):
        f = failure_of(r)
        if f is None or f.kind != UNREACHABLE:
            continue
        local = _local_failure(tasks[i].track)
        if local is not None:  # missing here too: an ordinary failure, not the workers' view
            results[i] = with_failure(r, local)
        elif mode == "auto":
            retry.append(i)
    if retry:
        again = backend.map(fn, [attach(tasks[i]) for i in retry], on_lost=on_lost)
        for i, r in zip(retry, again):
            results[i] = r
    return results, sent
