"""Evaluation protocols: which tracks train and which test.

Four ways of choosing the test tracks, all at the level of whole tracks (the
leaky ``chunk`` split is row level and lives in :mod:`genre_hpc.models`):

``track``
    30 % of the tracks held out, stratified by genre (the default; on data so small that 30 %
    is fewer tracks than genres, one test track per genre).
``group``
    ``groups=FILE.csv`` maps tracks to groups (e.g. artists); no group has
    tracks on both sides (``StratifiedGroupKFold``'s first fold, or
    ``GroupShuffleSplit`` when there are too few groups for folds).
split file
    ``split_file=DIR``: a folder with text files whose names start with
    ``train``, ``test`` and optionally ``valid``, each a list of
    dataset-relative paths (``blues/blues.00012.wav``), one per line.
    ``split="gtzan-filtered"`` names the packaged fault-filtered,
    artist-conditional GTZAN lists (Kereliuk, Sturm and Larsen 2015;
    ``genre_hpc/data/gtzan_filtered``).
cross-validation
    ``cv=K``: K folds, stratified by genre and grouped by track (or by the
    ``groups`` column); every track is tested exactly once.

:func:`plan_tracks` resolves a protocol on a list of track ids and returns
:class:`Protocol` (the folds, and what happened: unlisted tracks, list
entries missing from the data, what the valid list was used for, ...).
Everything is numpy and scikit-learn; nothing here reads audio.
"""

from __future__ import annotations

import csv
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset import AUDIO_EXTENSIONS, DatasetError

#: the roles a split file can have, in report order
ROLES = ("train", "valid", "test")
#: named split files shipped with the package: name -> folder under ``genre_hpc/data``
BUILTIN_SPLITS = {"gtzan-filtered": "gtzan_filtered"}
#: the track-level split modes (besides the builtin names)
TRACK_SPLITS = ("track",)
#: how many examples a message quotes
_EXAMPLES = 3


class SplitError(DatasetError):
    """A split file, a groups file or a protocol that cannot be used (the message says why)."""


# --- track names ------------------------------------------------------------------------


def _strip_ext(name: str) -> str:
    """``blues/blues.00012.wav`` -> ``blues/blues.00012`` (only audio / image endings are removed)."""
    lower = name.lower()
    for ext in (*AUDIO_EXTENSIONS, ".npy"):
        if lower.endswith(ext):
            return name[: -len(ext)]
    return name


def normalise_entry(entry: str) -> str:
    """The ``<genre>/<file>`` part of a list entry or path (the last two components)."""
    parts = [p for p in str(entry).strip().replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts[-2:])


def _key(entry: str) -> str:
    """:func:`normalise_entry` in Unicode's composed form (NFC), to compare names: a list written
    on macOS spells ``é`` as ``e`` and a combining accent (NFD) where Linux file names have one
    character, and the two print alike."""
    return unicodedata.normalize("NFC", normalise_entry(entry))


class TrackIndex:
    """Find the track id a list entry names.

    An entry matches a track id when their ``<genre>/<file>`` parts are equal
    (so ``./blues/blues.00012.wav``, ``genres/blues/blues.00012.wav`` and an
    absolute path all name ``blues/blues.00012.wav``), or, failing that, when
    they are equal without the audio file ending (a list of ``.wav`` names on
    the original ``.au`` files, or image ids without an ending) and only one
    track has that name. Names are compared in Unicode's composed form (NFC).
    """

    def __init__(self, track_ids: Sequence[str]):
        self.track_ids = [str(t) for t in track_ids]
        self._exact = {_key(t): t for t in self.track_ids}
        stems: dict[str, list[str]] = {}
        for t in self.track_ids:
            stems.setdefault(_strip_ext(_key(t)), []).append(t)
        self._stem = {k: v[0] for k, v in stems.items() if len(v) == 1}

    def lookup(self, entry: str) -> str | None:
        """The track id ``entry`` names, or None."""
        key = _key(entry)
        hit = self._exact.get(key)
        return hit if hit is not None else self._stem.get(_strip_ext(key))


def _examples(items, n: int = _EXAMPLES) -> str:
    items = list(items)
    more = f", ... ({len(items)} in all)" if len(items) > n else ""
    return ", ".join(str(i) for i in items[:n]) + more


# --- split files --------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitLists:
    """The lists of a split folder.

    Attributes
    ----------
    source : str
        The folder, or the builtin name it came from.
    folder : str
        The folder the lists were read from.
    files : dict
        Role (``train``, ``valid``, ``test``) -> file name; ``valid`` may be absent.
    entries : dict
        Role -> the list's entries (normalised ``<genre>/<file>``, duplicates removed, in order).
    """

    source: str
    folder: str
    files: dict
    entries: dict

    @property
    def has_valid(self) -> bool:
        return "valid" in self.files

    def describe(self) -> str:
        return ", ".join(f"{self.files[r]} ({len(self.entries[r])})" for r in ROLES if r in self.files)


def _read_list(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SplitError(f"split list {path}: cannot be read ({exc})") from None
    out, seen = [], set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = normalise_entry(line)
        if entry not in seen:
            seen.add(entry)
            out.append(entry)
    return out


def read_split_dir(folder, *, source: str | None = None) -> SplitLists:
    """Read the split lists of ``folder``.

    The folder holds text files whose names start with ``train``, ``test``
    and optionally ``valid`` (``train.txt``, ``train_filtered.txt``, ...);
    other files (a README, a LICENSE) are ignored. Each list has one
    dataset-relative path per line; blank lines and lines starting with
    ``#`` are skipped, repeated lines count once.

    Parameters
    ----------
    folder : str or Path
    source : str, optional
        What to call the split in messages (default: the folder).

    Returns
    -------
    SplitLists

    Raises
    ------
    SplitError
        The folder is missing, a train or test list is missing, two files
        claim one role, or an entry is in two lists (a track can be on one
        side only).
    """
    folder = Path(folder).expanduser()
    source = source or str(folder)
    if not folder.is_dir():
        raise SplitError(f"split folder {folder} does not exist or is not a folder")
    found: dict[str, list[Path]] = {r: [] for r in ROLES}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file():
            continue
        for role in ROLES:
            if p.name.lower().startswith(role):
                found[role].append(p)
    for role, paths in found.items():
        if len(paths) > 1:
            raise SplitError(
                f"split folder {folder}: {len(paths)} files start with {role!r} "
                f"({', '.join(p.name for p in paths)}); keep one"
            )
    missing = [r for r in ("train", "test") if not found[r]]
    if missing:
        raise SplitError(
            f"split folder {folder} has no {' and no '.join(missing)} list: expected text files whose "
            "names start with 'train' and 'test' (and optionally 'valid'), one path per line"
        )
    files = {r: found[r][0].name for r in ROLES if found[r]}
    entries = {r: tuple(_read_list(found[r][0])) for r in ROLES if found[r]}
    for r in files:
        if not entries[r]:
            raise SplitError(f"split list {folder / files[r]} is empty")
    roles = list(files)
    for i, a in enumerate(roles):
        for b in roles[i + 1 :]:
            both = sorted(set(entries[a]) & set(entries[b]))
            if both:
                raise SplitError(
                    f"split folder {folder}: {len(both)} entr{'y is' if len(both) == 1 else 'ies are'} "
                    f"in both {files[a]} and {files[b]} ({_examples(both)}); a track can be on one side only"
                )
    return SplitLists(source=source, folder=str(folder), files=files, entries=entries)


def builtin_split_dir(name: str) -> Path:
    """The packaged folder of the named split (see :data:`BUILTIN_SPLITS`)."""
    from importlib.resources import files

    try:
        sub = BUILTIN_SPLITS[name]
    except KeyError:
        raise SplitError(f"unknown split {name!r}; known: {', '.join(BUILTIN_SPLITS)}") from None
    return Path(str(files("genre_hpc") / "data" / sub))


def load_split_lists(spec) -> SplitLists:
    """Split lists from a builtin name (``"gtzan-filtered"``) or a folder."""
    if isinstance(spec, SplitLists):
        return spec
    if isinstance(spec, str) and spec in BUILTIN_SPLITS:
        return read_split_dir(builtin_split_dir(spec), source=spec)
    return read_split_dir(spec)


# --- groups -----------------------------------------------------------------------------

_KEY_COLUMNS = ("track_id", "track", "path", "file", "filename")
_GROUP_COLUMNS = ("group", "artist")


def read_groups(path) -> dict[str, str]:
    """Read a groups CSV: track id or path -> group.

    The first row is a header. The key column is the first of ``track_id``,
    ``track``, ``path``, ``file``, ``filename`` present (else the first
    column); the group column is ``group`` or ``artist`` (else the second
    column). Keys are normalised like split-list entries; empty groups are
    skipped.

    Raises
    ------
    SplitError
        A missing or unreadable file, fewer than two columns, one key with two groups.
        (:func:`match_groups` refuses a file none of whose keys names a track.)
    """
    path = Path(path).expanduser()
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SplitError(f"groups file {path}: cannot be read ({exc})") from None
    if not rows:
        raise SplitError(f"groups file {path} is empty")
    header = [c.strip().lower() for c in rows[0]]
    if len(header) < 2:
        raise SplitError(f"groups file {path}: expected two columns (track id or path, group), got {rows[0]}")
    key_col = next((header.index(c) for c in _KEY_COLUMNS if c in header), 0)
    group_col = next((header.index(c) for c in _GROUP_COLUMNS if c in header), 1 if key_col != 1 else 0)
    out: dict[str, str] = {}
    for n, row in enumerate(rows[1:], start=2):
        if max(key_col, group_col) >= len(row):
            raise SplitError(f"groups file {path}, line {n}: expected {len(header)} columns, got {row}")
        key, group = normalise_entry(row[key_col]), unicodedata.normalize("NFC", row[group_col].strip())
        if not key or not group:
            continue
        if out.get(key, group) != group:
            raise SplitError(f"groups file {path}, line {n}: {key} has two groups ({out[key]!r}, {group!r})")
        out[key] = group
    if not out:
        raise SplitError(f"groups file {path} has no (track, group) row")
    return out


def match_groups(groups, track_ids: Sequence[str], *, source: str = "a mapping") -> tuple[np.ndarray, dict]:
    """The group of every track.

    Parameters
    ----------
    groups : str, Path or Mapping
        A groups CSV (:func:`read_groups`) or a mapping track id / path -> group.
    track_ids : sequence of str

    Returns
    -------
    (numpy.ndarray of str, dict)
        One group per track (a track with no group is a group of its own,
        ``"track:<id>"``), and counts: ``groups``, ``ungrouped_tracks``,
        ``unknown_keys`` (keys naming no track) with examples.
    """
    if not isinstance(groups, Mapping):
        source = str(groups)
        groups = read_groups(groups)
    index = TrackIndex(track_ids)
    of_track: dict[str, str] = {}
    unknown = []
    for key, group in groups.items():
        tid = index.lookup(str(key))
        if tid is None:
            unknown.append(str(key))
        else:
            of_track[tid] = str(group)
    if groups and not of_track:  # a wrong key column or other names: grouping nothing is no grouping
        raise SplitError(
            f"{'groups file ' if source != 'a mapping' else 'the groups of '}{source}: none of its "
            f"{len(groups)} keys names a track of the data (keys "
            f"such as {_examples(unknown, 2)}; the data's tracks are named like "
            f"{_examples(list(index.track_ids), 2)}): the key column (track_id, track, path, file or "
            "filename, else the first) must hold track ids or paths <genre>/<file>"
        )
    out = np.array([of_track.get(t, f"track:{t}") for t in index.track_ids], dtype=object)
    info = {
        "groups_file": source,
        "groups": int(len(set(of_track.values()))),
        "grouped_tracks": len(of_track),
        "ungrouped_tracks": len(index.track_ids) - len(of_track),
        "unknown_keys": len(unknown),
        "unknown_examples": unknown[:_EXAMPLES],
    }
    return out, info


# --- protocols --------------------------------------------------------------------------


@dataclass
class Fold:
    """One split of tracks.

    ``train`` are the training tracks (with the valid list merged in unless
    it is kept apart for tuning), ``valid`` the valid list's tracks when kept
    apart (else empty), ``test`` the held-out tracks.
    """

    train: tuple
    test: tuple
    valid: tuple = ()


@dataclass
class Protocol:
    """A protocol resolved on a set of tracks.

    Attributes
    ----------
    name : str
        ``track``, ``group``, ``split-file`` (plus ``+cv`` for cross-validation).
    folds : list of Fold
        One fold for a single split, K for cross-validation.
    notes : list of str
        What a person should read (counts, what was left out and why).
    info : dict
        The same as JSON-ready values.
    track_groups : dict
        Track id -> group, when a groups file was given (the grid search's
        folds use it); else empty.
    """

    name: str
    folds: list
    notes: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    track_groups: dict = field(default_factory=dict)

    @property
    def cv(self) -> int | None:
        return self.info.get("cv")


def _stratify(labels, test_size):
    """Stratify when every class can appear on both sides, else None (tiny data)."""
    _, counts = np.unique(labels, return_counts=True)
    n_test = int(np.ceil(test_size * len(labels)))
    ok = counts.min() >= 2 and n_test >= len(counts) and len(labels) - n_test >= len(counts)
    return labels if ok else None


def track_holdout(track_ids, labels, test_size: float = 0.3, random_state: int = 0):
    """The ``track`` split: ``(train_ids, test_ids)``, stratified by genre when the data allows.

    Where ``test_size`` of the tracks is fewer than the genres but every genre has two tracks,
    the test side takes one track per genre (more than ``test_size``: stratified beats exact).

    ``track_ids`` must be unique and sorted (``numpy.unique`` order), as in
    :func:`genre_hpc.models.split_indices`, whose split this is.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    stratify = _stratify(labels, test_size)
    if stratify is None:
        # tiny data: test_size's share holds fewer tracks than there are genres (20 tracks of 10
        # genres: 6). One test track per genre keeps the split stratified where every genre has 2.
        _, counts = np.unique(labels, return_counts=True)
        too_few = int(np.ceil(test_size * len(labels))) < len(counts)
        if too_few and counts.min() >= 2 and len(labels) >= 2 * len(counts):
            test_size, stratify = len(counts), labels
    tr, te = train_test_split(
        np.asarray(track_ids), test_size=test_size, random_state=random_state, stratify=stratify
    )
    return tr, te


def _quiet_split(splitter, n, labels, groups):
    """``splitter.split`` without scikit-learn's warning on classes smaller than the fold count."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*", category=UserWarning)
        return list(splitter.split(np.zeros(n), labels, groups))


def group_holdout(track_ids, labels, groups, test_size: float = 0.3, random_state: int = 0):
    """The ``group`` split: ``(train_ids, test_ids, method)``; no group on both sides.

    ``StratifiedGroupKFold(n_splits=round(1 / test_size), shuffle=True)``'s
    first fold is the test side (so ``test_size=0.3`` holds out about a third
    of the groups), stratified by genre as far as the groups allow. With
    fewer groups than folds, ``GroupShuffleSplit(test_size)`` instead.
    """
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    track_ids, labels, groups = np.asarray(track_ids), np.asarray(labels), np.asarray(groups)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise SplitError("every track is in one group: a group split needs at least 2 groups")
    k = max(2, int(round(1.0 / test_size)))
    if n_groups >= k:
        folds = _quiet_split(
            StratifiedGroupKFold(k, shuffle=True, random_state=random_state), len(track_ids), labels, groups
        )
        tr, te = folds[0]
        method = f"StratifiedGroupKFold({k}), first fold"
        if len(te) and len(tr):
            return track_ids[tr], track_ids[te], method
    tr, te = next(
        GroupShuffleSplit(1, test_size=test_size, random_state=random_state).split(track_ids, groups=groups)
    )
    return track_ids[tr], track_ids[te], f"GroupShuffleSplit(test_size={test_size:g})"


def cv_folds(track_ids, labels, groups, k: int, random_state: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds of tracks, stratified by genre and grouped: ``[(train_ids, test_ids), ...]``.

    ``StratifiedGroupKFold(k, shuffle=True, random_state)``; every group's
    tracks are in one test fold, every track is tested once.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    k = int(k)
    track_ids, labels, groups = np.asarray(track_ids), np.asarray(labels), np.asarray(groups)
    n_groups = len(np.unique(groups))
    if k < 2:
        raise SplitError(f"cross-validation needs at least 2 folds, got {k}")
    if n_groups < k:
        raise SplitError(
            f"{k}-fold cross-validation needs at least {k} groups/tracks, the data has {n_groups}"
        )
    folds = _quiet_split(
        StratifiedGroupKFold(k, shuffle=True, random_state=random_state), len(track_ids), labels, groups
    )
    out = [(track_ids[tr], track_ids[te]) for tr, te in folds]
    if any(len(te) == 0 or len(tr) == 0 for tr, te in out):
        raise SplitError(f"{k}-fold cross-validation left a fold empty; use fewer folds")
    return out


def _genre_gap(train_ids, test_ids, genre_of) -> list[str]:
    """Genres of test tracks that no training track has."""
    have = {genre_of[t] for t in train_ids}
    return sorted({genre_of[t] for t in test_ids} - have)


def plan_tracks(
    track_ids: Sequence[str],
    genres: Sequence[str],
    *,
    split: str = "track",
    split_file=None,
    groups=None,
    cv: int | None = None,
    test_size: float = 0.3,
    random_state: int = 0,
    keep_valid: bool = False,
) -> Protocol:
    """Resolve an evaluation protocol on a set of tracks.

    Parameters
    ----------
    track_ids, genres : sequences of str
        The tracks of the data (unique ids) and their genres.
    split : str
        ``"track"`` or a builtin split name (``"gtzan-filtered"``, the same
        as ``split_file`` = its packaged folder).
    split_file : str, Path or SplitLists, optional
        A folder of split lists (see :func:`read_split_dir`).
    groups : str, Path or Mapping, optional
        Track -> group (:func:`match_groups`): the holdout and the folds are grouped by it.
    cv : int, optional
        K-fold cross-validation (not with a split file).
    test_size : float
        Held-out fraction of the ``track`` split.
    random_state : int
    keep_valid : bool
        With a split file that has a valid list: keep its tracks apart
        (``Fold.valid``, for tuning) instead of merging them into train.

    Returns
    -------
    Protocol

    Raises
    ------
    SplitError
        Bad lists or groups, a split file whose entries match no training or
        no test track of the data, a protocol combination that makes no sense.
    """
    if cv is not None and int(cv) < 2:
        raise SplitError(f"cross-validation needs at least 2 folds, got {cv}")
    ids = np.asarray([str(t) for t in track_ids])
    genre_of = dict(zip(ids.tolist(), [str(g) for g in genres]))
    if len(genre_of) != len(ids):
        raise SplitError("track ids must be unique")
    if split in BUILTIN_SPLITS:
        if split_file is not None:
            raise SplitError(f"give either split={split!r} or a split file, not both")
        split_file = split
    elif split not in TRACK_SPLITS:
        raise SplitError(
            f"unknown track-level split {split!r}; use 'track', a split file or one of "
            f"{', '.join(BUILTIN_SPLITS)}"
        )
    if split_file is not None and cv:
        raise SplitError("a split file is one fixed split: it cannot be combined with cross-validation")

    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    labels = np.array([genre_of[t] for t in ids])
    notes: list[str] = []
    info: dict = {"cv": int(cv) if cv else None, "split_file": None, "groups_file": None}
    track_groups: dict[str, str] = {}
    group_arr = ids.astype(object)
    if groups is not None:
        group_arr, ginfo = match_groups(groups, ids.tolist())
        info.update(ginfo)
        track_groups = {t: str(g) for t, g in zip(ids.tolist(), group_arr) if not str(g).startswith("track:")}
        line = (
            f"groups from {ginfo['groups_file']}: {ginfo['groups']} group(s) "
            f"over {ginfo['grouped_tracks']} track(s)"
        )
        if ginfo["ungrouped_tracks"]:
            line += f"; {ginfo['ungrouped_tracks']} track(s) with no group are groups of their own"
        notes.append(line)
        if ginfo["unknown_keys"]:
            notes.append(
                f"{ginfo['unknown_keys']} groups-file key(s) name no track of the data "
                f"(e.g. {_examples(ginfo['unknown_examples'])})"
            )

    if split_file is not None:
        lists = load_split_lists(split_file)
        fold = _apply_lists(lists, ids, genre_of, keep_valid, notes, info)
        if track_groups:
            sides = {}
            for side, tracks in (("train", fold.train + fold.valid), ("test", fold.test)):
                for t in tracks:
                    sides.setdefault(track_groups.get(t, t), set()).add(side)
            shared = sorted(g for g, s in sides.items() if len(s) > 1)
            info["groups_on_both_sides"] = len(shared)
            if shared:
                notes.append(
                    f"warning: {len(shared)} group(s) have tracks on both sides of the split file "
                    f"(e.g. {_examples(shared)})"
                )
        folds = [fold]
        name = "split-file"
    elif cv:
        folds = [Fold(tuple(tr), tuple(te)) for tr, te in cv_folds(ids, labels, group_arr, cv, random_state)]
        name = ("group" if groups is not None else "track") + "+cv"
        unit = "groups" if groups is not None else "tracks"
        notes.append(
            f"{cv}-fold cross-validation (StratifiedGroupKFold, by {unit}, seed {random_state}): "
            f"test folds of {', '.join(str(len(f.test)) for f in folds)} tracks"
        )
    elif groups is not None:
        tr, te, method = group_holdout(ids, labels, group_arr, test_size, random_state)
        folds = [Fold(tuple(sorted(tr)), tuple(sorted(te)))]
        name = "group"
        notes.append(
            f"group split ({method}): {len(tr)} train / {len(te)} test tracks, no group on both sides"
        )
        info["group_split"] = method
    else:
        tr, te = track_holdout(ids, labels, test_size, random_state)
        folds = [Fold(tuple(sorted(tr)), tuple(sorted(te)))]
        name = "track"
    info["protocol"] = name
    if len(folds) == 1:
        f = folds[0]
        info.update(
            {"train_tracks": len(f.train), "valid_tracks_apart": len(f.valid), "test_tracks": len(f.test)}
        )
        gap = _genre_gap(f.train + f.valid, f.test, genre_of)  # what the models are fitted on
        if gap:
            info["test_genres_not_trained"] = gap
            notes.append(
                f"warning: no training track of genre(s) {', '.join(gap)}: their test tracks cannot be "
                "classified correctly"
            )
    else:
        info["fold_test_tracks"] = [len(f.test) for f in folds]
    return Protocol(name=name, folds=folds, notes=notes, info=info, track_groups=track_groups)


def _apply_lists(lists: SplitLists, ids, genre_of, keep_valid, notes, info) -> Fold:
    index = TrackIndex(ids.tolist())
    side: dict[str, list[str]] = {r: [] for r in ROLES}
    missing: list[str] = []
    where: dict[str, str] = {}
    for role in ROLES:
        for entry in lists.entries.get(role, ()):
            tid = index.lookup(entry)
            if tid is None:
                missing.append(entry)
                continue
            if tid in where and where[tid] != role:
                raise SplitError(
                    f"split {lists.source}: track {tid} is named in both {lists.files[where[tid]]} "
                    f"and {lists.files[role]}"
                )
            if tid not in where:
                where[tid] = role
                side[role].append(tid)
    for role in ("train", "test"):
        if not side[role]:
            raise SplitError(
                f"split {lists.source}: no track of the data is in {lists.files[role]} "
                f"({len(lists.entries[role])} entries such as {_examples(lists.entries[role], 2)}; "
                f"the data's {len(ids)} tracks are named like {_examples(ids.tolist(), 2)}): "
                "the list entries must be paths relative to the data folder, <genre>/<file>"
            )
    unlisted = [t for t in ids.tolist() if t not in where]
    has_valid = lists.has_valid
    if has_valid and not keep_valid:
        valid_use = "merged into train (nothing is tuned)"
    elif has_valid:
        # prepare_data's: the train stage and the search's refit fit on train + valid
        valid_use = "scores the grid search (tune stage); merged into train for every other fit"
    else:
        valid_use = None
    info.update(
        {
            "split_file": lists.source,
            "split_folder": lists.folder,
            "split_lists": dict(lists.files),
            "listed": {r: len(lists.entries[r]) for r in lists.files},
            "matched": {r: len(side[r]) for r in lists.files},
            "unlisted_tracks": len(unlisted),
            "missing_entries": len(missing),
            "missing_examples": missing[:_EXAMPLES],
            "valid_use": valid_use,
        }
    )
    notes.append(f"split file {lists.source}: {lists.describe()} entries")
    matched = ", ".join(f"{len(side[r])} {r}" for r in ROLES if r in lists.files)
    notes.append(f"  tracks of the data in the lists: {matched}")
    if has_valid:
        notes.append(f"  valid list ({len(side['valid'])} tracks): {valid_use}")
    if unlisted:
        notes.append(
            f"  {len(unlisted)} track(s) of the data in no list, left out (e.g. {_examples(unlisted)})"
        )
    if missing:
        notes.append(
            f"  {len(missing)} list entr{'y' if len(missing) == 1 else 'ies'} not in the data "
            f"(e.g. {_examples(missing)})"
        )
    train = side["train"] if keep_valid else side["train"] + side["valid"]
    valid = side["valid"] if keep_valid else []
    return Fold(tuple(sorted(train)), tuple(sorted(side["test"])), tuple(sorted(valid)))


__all__ = [
    "BUILTIN_SPLITS",
    "Fold",
    "Protocol",
    "ROLES",
    "SplitError",
    "SplitLists",
    "TrackIndex",
    "builtin_split_dir",
    "cv_folds",
    "group_holdout",
    "load_split_lists",
    "match_groups",
    "normalise_entry",
    "plan_tracks",
    "read_groups",
    "read_split_dir",
    "track_holdout",
]
