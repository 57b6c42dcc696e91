"""File helpers every module shares: atomic writes and the cache folder.

Nothing here imports the pipeline, so any module (extraction, images, reports, the benchmarks)
can use it without pulling in librosa or pandas.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import signal
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

#: environment variable that moves the cache (synthetic datasets, the feature cache)
CACHE_ENV = "GENRE_HPC_CACHE"


def default_cache_dir() -> Path:
    """``$GENRE_HPC_CACHE`` or the user cache dir (``~/.cache/genre-hpc`` on Linux)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("genre-hpc"))


class WriteFailed(OSError):
    """Writing ``filename`` failed (a full disk, a quota, a read-only file system, no permission).

    An ``OSError`` with the ``errno`` and ``strerror`` of the cause and the *destination* as
    ``filename`` (the cause often names only a temporary file, or no file at all, as pyarrow's
    "Error writing bytes to file"). The destination was left as it was.
    """

    def __str__(self):
        return f"cannot write {self.filename}: {self.strerror}"


#: temporary files this process is writing now (see :func:`remove_partial_writes`)
_WRITING: set[str] = set()


def remove_partial_writes() -> None:
    """Remove the temporary files of the atomic writes in progress in this process.

    For a signal handler that ends the process without unwinding it (a worker stopped with
    SIGTERM in the middle of a cache write): no ``.name.xxxx`` file is left beside the cache.
    """
    for tmp in list(_WRITING):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def atomic_write(path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file over ``path``.

    A reader never sees a half-written file, and when ``write`` fails (a full disk, an
    interrupt) the previous ``path`` is left as it was and the temporary file is removed.
    The temporary file sits in the destination's folder (so the rename is atomic) and keeps
    the destination's suffix, so writers that infer the format from the name (pandas, numpy)
    do the right thing. A ``path`` that is a symbolic link has its target replaced (the link
    stays a link; a target whose folder is missing is refused, not made).

    Parameters
    ----------
    path : str or Path
        The destination; its folder is created if needed.
    write : callable
        Writes the whole content to the path it is given.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    WriteFailed
        For an ``OSError`` while making the folder or the temporary file, writing or renaming
        (ENOSPC: "No space left on device"), naming ``path``.
    """
    path = Path(path)
    # a symbolic link is followed: its target is replaced, the link stays (a table kept on another
    # disk and linked into the project)
    dest = Path(os.path.realpath(path)) if path.is_symlink() else path
    if dest is not path and not dest.parent.is_dir():  # not made: it may be an unmounted disk's
        raise WriteFailed(errno.ENOENT, f"it links to {dest}, whose folder does not exist", str(path))
    tmp = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with _no_sigterm():  # a SIGTERM handler must find every temporary file in _WRITING
            fd, tmp = tempfile.mkstemp(
                dir=dest.parent, prefix=_tmp_prefix(dest), suffix=dest.suffix or ".tmp"
            )
            _WRITING.add(tmp)
        os.close(fd)
        write(tmp)
        _set_mode(tmp, _mode_for(dest))  # mkstemp's file is 0600 whatever the umask
        os.replace(tmp, dest)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, WriteFailed):
            raise WriteFailed(exc.errno, _reason(exc), str(path)) from exc
        raise
    finally:
        _WRITING.discard(tmp)
    return path


def atomic_write_all(writes) -> list[Path]:
    """:func:`atomic_write` of several files that belong together (a table and its CSV copy):
    every file is written before any replaces its destination, so a write that fails (a full
    disk, an interrupt while writing) leaves every destination as it was. The renames then come
    one after the other (the last file's first): only a failure between two renames, which write
    nothing, could leave the pair mismatched.

    Parameters
    ----------
    writes : sequence of (path, write)
        As :func:`atomic_write`'s arguments.

    Returns
    -------
    list of Path
        The paths, in order.
    """
    writes = list(writes)
    if not writes:
        return []
    (path, write), rest = writes[0], writes[1:]
    done: list[Path] = []

    def write_then_the_rest(tmp):
        write(tmp)
        done.extend(atomic_write_all(rest))  # their renames come after every write, before ours

    return [atomic_write(path, write_then_the_rest), *done]


def _mode_for(path: Path) -> int:
    """The permissions ``path`` gets: those of the file it replaces, else what ``open`` would
    give a new file (0666 less the umask), so a table on a shared file system stays readable."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _set_mode(tmp: str, mode: int) -> None:
    """``chmod``, where the file system has modes: vfat/exFAT mounts refuse one that differs from
    the mount's (EPERM), and their files are readable as the mount says anyway."""
    try:
        if stat.S_IMODE(os.stat(tmp).st_mode) != mode:
            os.chmod(tmp, mode)
    except OSError:
        pass


def _umask() -> int:
    """The process' umask, read without changing it where Linux says it (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # elsewhere: set and put back (a short window; no thread here writes with it)
    os.umask(old)
    return old


@functools.cache
def _host() -> str:
    """This host's short name, as it appears in temporary file names (asked once per process)."""
    import socket

    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "host"


def _tmp_prefix(path: Path) -> str:
    """``.<stem>.pid<pid>-<host>.``: hidden, and naming the process that writes it (for
    :func:`remove_orphaned_writes`; the host, because a shared file system sees other hosts' pids)."""
    return f".{path.stem}.pid{os.getpid()}-{_host()}."


_ORPHAN = re.compile(r"^\..*\.pid(\d+)-([A-Za-z0-9-]+)\.")


class _no_sigterm:
    """Hold SIGTERM back (in this thread) between creating a temporary file and registering it."""

    def __enter__(self):
        mask = getattr(signal, "pthread_sigmask", None)
        self._old = mask(signal.SIG_BLOCK, {signal.SIGTERM}) if mask else None

    def __exit__(self, *exc):
        if self._old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._old)


def remove_orphaned_writes(folder) -> list[Path]:
    """Remove the temporary files that dead processes left in ``folder`` (recursively).

    A worker killed with SIGKILL in the middle of an atomic write (a cache entry) cannot remove
    its ``.<stem>.pid<pid>-<host>.xxxx`` file itself; the parent calls this once its workers
    are stopped. Files of processes still alive (another run sharing the cache) and of other
    hosts (workers on a shared file system) are left alone.

    Parameters
    ----------
    folder : str or Path
        Where to look; a missing folder is nothing to do.

    Returns
    -------
    list of Path
        The files removed.
    """
    import psutil

    removed, host = [], _host()
    for p in Path(folder).rglob(".*"):
        m = _ORPHAN.match(p.name)
        if m is None or m.group(2) != host or not p.is_file() or _alive(int(m.group(1)), psutil):
            continue
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


@contextlib.contextmanager
def orphans_swept_on_error(folder):
    """Run the block; when it ends by an exception (an interrupt, a lost cluster), call
    :func:`remove_orphaned_writes` on ``folder`` (None: nothing to sweep).

    For the block that starts and stops a backend whose workers write into ``folder`` (the
    feature cache, an images folder): put it outside the backend's ``with``, so the sweep runs
    once the workers are stopped.
    """
    try:
        yield
    except BaseException:
        if folder is not None:
            remove_orphaned_writes(folder)
        raise


def _alive(pid: int, psutil) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _reason(exc: OSError) -> str:
    """What went wrong, without the temporary file's name: the errno's text when there is one
    (pyarrow's message carries it only after "Detail:"), else the message."""
    if exc.errno:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc) or type(exc).__name__


def atomic_write_bytes(path, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write` of ``text``."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding=encoding))
