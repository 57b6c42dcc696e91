"""Stopping on a signal: SIGINT (Ctrl-C) and SIGTERM (a batch scheduler's end of job) as exceptions.

Python turns SIGINT into :class:`KeyboardInterrupt` but lets SIGTERM kill the process on the
spot: no ``finally`` runs, so worker processes, temporary files and the semaphores of
``multiprocessing`` are left behind (the resource tracker then warns of leaked semaphores).
Inside :func:`stop_on_signals` SIGTERM raises :class:`Terminated` instead, so the same clean-up
as for Ctrl-C runs: every ``with`` block of a backend stops its workers (terminating them, not
waiting for their work), an atomic write removes its temporary file, and the command exits with
``128 + signal`` (130 for SIGINT, 143 for SIGTERM, the shells' convention).

While that clean-up runs, a second SIGINT or SIGTERM does not interrupt it (which could leave
workers behind); a third one exits at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading


class Terminated(BaseException):
    """SIGTERM (or another signal given to :func:`stop_on_signals`) arrived; like
    :class:`KeyboardInterrupt`, a ``BaseException`` so that ``except Exception`` does not
    swallow it."""

    def __init__(self, signum: int = signal.SIGTERM):
        self.signum = int(signum)
        super().__init__(f"stopped by {signal_name(self.signum)}")


def signal_name(signum: int) -> str:
    """``2`` -> ``"SIGINT"``."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code(signum: int) -> int:
    """The exit code of a command stopped by ``signum``: ``128 + signum`` (130, 143)."""
    return 128 + int(signum)


def interrupt_signal(exc: BaseException) -> int | None:
    """The signal behind ``exc`` (SIGINT for KeyboardInterrupt), None for other exceptions."""
    if isinstance(exc, KeyboardInterrupt):
        return int(signal.SIGINT)
    if isinstance(exc, Terminated):
        return exc.signum
    return None


@contextlib.contextmanager
def stop_on_signals(signals=(signal.SIGTERM,)):
    """Turn ``signals`` into :class:`Terminated` (SIGINT stays :class:`KeyboardInterrupt`) in
    the main thread for the duration of the block; restore the previous handlers after.

    The first SIGINT or SIGTERM raises; the next one is ignored (the clean-up it started must
    finish); a third exits at once with ``128 + signal``. Does nothing outside the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    count = {"n": 0}
    watched = {int(s) for s in signals}
    int_was = signal.getsignal(signal.SIGINT)
    int_default = int_was is signal.default_int_handler

    def handler(signum, frame):
        count["n"] += 1
        if count["n"] == 1:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise Terminated(signum)
        if count["n"] == 2:
            print(
                f"genre-hpc: {signal_name(signum)} again: still stopping the workers "
                "(once more to exit at once)",
                file=sys.stderr,
                flush=True,
            )
            return
        os._exit(exit_code(signum))

    previous = {}
    for s in watched:
        previous[s] = signal.signal(s, handler)
    if int_default:  # a SIGINT that is ignored (a background job) stays ignored
        previous[int(signal.SIGINT)] = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
