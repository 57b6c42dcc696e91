"""Named parameter spaces: the axes a stage is measured over.

A stage's work is measured at *cells* of its space: one value per axis, kept in a dict in axis
order, e.g. ``{"backend": "pool-map", "workers": 2}`` for extraction, ``{"mode": "xgb-threads",
"threads": 2}`` for training, ``{"intra_op": 2, "inter_op": 1, "omp": 1}`` for the CNN. Nothing
is encoded in a name: the scaling study, the asv parameters, the plots and the availability
check all read the axes.

An :class:`Axis` is one of three kinds:

- ``"backend"``: a registered backend (:mod:`genre_hpc.backends`); whether it can run here is
  the backends' answer (:func:`genre_hpc.backends.unavailable_reason`);
- ``"choice"``: one of a fixed set of names (training modes, tuning backends), each of which may
  need an extra (``requires={"xgboost-dask": ("dask",)}``);
- ``"count"``: a positive integer (workers, threads).

A :class:`Space` also says which axis plays the part of the *backend* and which the *workers* in
the rows outside tools read (``backend``/``workers`` keys, the ``--backends``/``--workers``
options); a space without a backend axis names its ``engine`` instead (the CNN's
``tensorflow``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

KINDS = ("backend", "choice", "count")


@dataclass(frozen=True)
class Axis:
    """One named parameter of a stage.

    Attributes
    ----------
    name : str
        The key of the axis in a cell, a row and the asv parameters (``mode``, ``intra_op``).
    kind : str
        ``"backend"``, ``"choice"`` or ``"count"`` (see the module docstring).
    values : tuple or callable or None
        The values ``all`` means (a callable is asked when needed: the backend registry);
        ``None`` for a count axis whose values the caller gives (worker counts).
    requires : mapping
        ``value -> extras`` (keys of :data:`genre_hpc.extras.EXTRAS`) a value needs.
    flags : tuple of str
        Command-line spellings of the axis in ``genre-hpc scale`` (default ``--<name>``).
    help : str
        One line for ``--help`` and the docs.
    """

    name: str
    kind: str = "choice"
    values: tuple | Callable[[], Iterable] | None = None
    requires: Mapping[str, tuple] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    help: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"axis {self.name!r}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")

    def choices(self) -> tuple:
        """The values ``all`` means (empty for a count axis without defaults)."""
        vals = self.values() if callable(self.values) else self.values
        return tuple(vals or ())

    def cli_flags(self) -> tuple[str, ...]:
        return self.flags or ("--" + self.name.replace("_", "-"),)

    def check(self, value) -> None:
        """Raise ``ValueError`` for a value the axis can never take (an unknown name, a count < 1)."""
        if self.kind == "count":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{self.name} must be a positive integer, not {value!r}")
            return
        known = self.choices()
        if value not in known:
            raise ValueError(f"unknown {self.name} {value!r}; known: {', '.join(map(str, known))}")


@dataclass(frozen=True)
class Space:
    """The ordered axes of a stage and the roles two of them play.

    Attributes
    ----------
    axes : tuple of Axis
    backend : str or None
        The axis reported as ``backend`` (and given with ``--backends``); None when the stage
        has no such axis (then ``engine`` is reported).
    workers : str or None
        The axis reported as ``workers`` (and given with ``--workers``); None when the stage
        has none (then the stage's ``threads(cell)`` is reported).
    engine : str or None
        The ``backend`` of every row of a space without a backend axis (``"tensorflow"``).
    """

    axes: tuple[Axis, ...]
    backend: str | None = None
    workers: str | None = None
    engine: str | None = None

    def __post_init__(self):
        names = [a.name for a in self.axes]
        if len(set(names)) != len(names):
            raise ValueError(f"axis names repeat: {names}")
        for role in (self.backend, self.workers):
            if role is not None and role not in names:
                raise ValueError(f"role axis {role!r} is not one of {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def axis(self, name: str) -> Axis:
        for a in self.axes:
            if a.name == name:
                return a
        raise KeyError(f"no axis {name!r}; axes: {', '.join(self.names)}")

    def cell(self, *args, **kwargs) -> dict:
        """A cell in axis order from positional values (axis order) and/or keywords.

        Raises ``TypeError`` for a missing or unknown axis; values are not checked (see
        :meth:`check`).
        """
        if len(args) > len(self.axes):
            raise TypeError(f"{len(args)} values for {len(self.axes)} axes ({', '.join(self.names)})")
        given = dict(zip(self.names, args))
        for k, v in kwargs.items():
            if k in given:
                raise TypeError(f"axis {k!r} given twice")
            given[k] = v
        unknown = [k for k in given if k not in self.names]
        missing = [n for n in self.names if n not in given]
        if unknown or missing:
            raise TypeError(
                f"a cell has the axes {', '.join(self.names)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        return {n: given[n] for n in self.names}

    def check(self, cell: Mapping) -> None:
        """``ValueError`` naming the first value no axis can take."""
        for a in self.axes:
            a.check(cell[a.name])

    def cells(self, **values) -> list[dict]:
        """Every combination of the given value lists, in axis order (the first axis varies
        slowest). An axis without a list takes its ``choices()``; values are checked."""
        unknown = [k for k in values if k not in self.names]
        if unknown:
            raise ValueError(f"no axis {', '.join(unknown)}; the axes are {', '.join(self.names)}")
        lists = []
        for a in self.axes:
            vals = values.get(a.name)
            vals = list(vals) if vals is not None else list(a.choices())
            if not vals:
                raise ValueError(f"no values for axis {a.name!r}")
            for v in vals:
                a.check(v)
            lists.append(vals)
        return [dict(zip(self.names, combo)) for combo in itertools.product(*lists)]

    def key(self, cell: Mapping) -> tuple:
        """A hashable key of a cell."""
        return tuple(cell[n] for n in self.names)
