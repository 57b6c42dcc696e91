"""The optional stacks (pip extras) and the one question asked of them: is it installed?

Backends and stages declare the extras they need (``requires = ("dask",)``);
:func:`unavailable_reason` answers for all of them, without importing the stack, with the same
message everywhere: ``"distributed is not installed: install genre-hpc[dask]"``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

#: extra -> the top-level modules it installs (checked in order)
EXTRAS: dict[str, tuple[str, ...]] = {
    "dask": ("dask", "distributed"),
    "ipp": ("ipyparallel",),
    "cluster": ("dask_jobqueue", "yaml"),
    "tf": ("tensorflow",),
    "bench": ("asv",),
}


def missing_module(extra: str) -> str | None:
    """The first module of ``extra`` that is not installed (None when all are)."""
    try:
        modules = EXTRAS[extra]
    except KeyError:
        raise KeyError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}") from None
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return module
    return None


def unavailable_reason(requires: Iterable[str]) -> str | None:
    """Why something that needs the extras ``requires`` cannot run here (None when it can).

    Parameters
    ----------
    requires : iterable of str
        Names of extras (keys of :data:`EXTRAS`).

    Returns
    -------
    str or None
        ``"<module> is not installed: install genre-hpc[<extra>]"`` for the first missing one.
    """
    for extra in requires:
        module = missing_module(extra)
        if module is not None:
            return f"{module} is not installed: install genre-hpc[{extra}]"
    return None
