"""Faults injected by tests/test_faults.py (test-only: importable by spawned workers, never part of
the package, so no user can trip them)."""

from __future__ import annotations

import os
import signal

from genre_hpc.extract import extract_track


def extract_or_die(victim: str, task):
    """:func:`genre_hpc.extract.extract_track`, except that the worker process kills itself
    (SIGKILL, as the out-of-memory killer would) on the track whose file is named ``victim``.

    Use it as ``extract_features(..., work=functools.partial(extract_or_die, "x.wav"))``.
    """
    if os.path.basename(task.track.path) == victim:
        os.kill(os.getpid(), signal.SIGKILL)
    return extract_track(task)
