"""``serial``: a plain loop in the calling process (the baseline of every speed-up).

``thread_limit`` applies to this process for the duration of the ``with``
block (so the baseline uses one core, like one worker of the parallel
backends), and ``warmup`` runs here during start-up.
"""

from __future__ import annotations

from .base import Backend, call_item


class SerialBackend(Backend):
    """Run items one after another in this process; ``workers`` must be 1."""

    name = "serial"
    runs_in_caller = True

    @classmethod
    def workers_reason(cls, workers: int) -> str | None:
        return None if int(workers) == 1 else "serial runs exactly 1 worker"

    def _map(self, fn, items, progress):
        out = []
        for item in items:
            out.append(call_item(fn, item))
            progress(1)
        return out
