"""Discovery of a GTZAN-layout folder: ``<root>/<genre>/<file>``.

The genre is the parent folder's name. Hidden files and folders are ignored;
tracks are sorted so that track ids are stable across runs and machines.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

GTZAN_GENRES = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)
AUDIO_EXTENSIONS = (".wav", ".au", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


class DatasetError(ValueError):
    """The dataset folder is missing, empty or not in GTZAN layout."""


@dataclass(frozen=True, order=True)
class Track:
    """One audio file of the dataset.

    Attributes
    ----------
    track_id : str
        ``<genre>/<file name>``: unique and stable within a dataset.
    genre : str
        Parent folder name.
    path : str
        Absolute path of the file.
    """

    track_id: str
    genre: str
    path: str


def discover(root, extensions=AUDIO_EXTENSIONS) -> list[Track]:
    """List the tracks of a GTZAN-layout folder.

    A file whose name ends in an audio extension is a track even when it is a broken symbolic
    link (a git-annex or DataLad copy whose content was not fetched): it then fails by name
    when read, rather than being left out in silence. Paths are absolute but not resolved, so a
    failure names the file the user sees, not a link's target. What is skipped in silence here
    (empty folders, broken links beside the genres, genres that differ only in case) is said by
    :func:`folder_notes`.

    Parameters
    ----------
    root : str or Path
        Folder with one sub-folder per genre.
    extensions : tuple of str
        File endings taken as audio (case-insensitive).

    Returns
    -------
    list of Track
        Sorted by genre then file name.

    Raises
    ------
    DatasetError
        If ``root`` does not exist, cannot be read, has no genre folders or no audio files
        (naming the sub-folder that looks like the dataset, such as Kaggle's
        ``Data/genres_original``), or a genre folder or a file in it cannot be read.
    """
    return _scan(root, extensions)[0]


def folder_notes(root, extensions=AUDIO_EXTENSIONS) -> list[str]:
    """What :func:`discover` skips in silence that a user may not expect, one line each: folders
    with no audio file (an empty genre), broken links beside the genre folders (a genre whose
    content was not fetched), genre names that differ only in case (two genres).

    Parameters
    ----------
    root : str or Path
        A folder :func:`discover` accepts.

    Returns
    -------
    list of str
        Empty when there is nothing to say, or when :func:`discover` would fail (it says why).
    """
    try:
        return _scan(root, extensions)[1]
    except DatasetError:
        return []


def _scan(root, extensions) -> tuple[list[Track], list[str]]:
    """The tracks of ``root`` and the notes of what was skipped (one listing serves both)."""
    root = Path(root).expanduser()
    try:
        if not root.is_dir():
            raise DatasetError(f"dataset folder {root} does not exist or is not a folder")
        entries = [p for p in _list(root) if not p.name.startswith(".")]
        broken = [p for p in entries if p.is_symlink() and not p.exists()]
        genres = sorted(p for p in entries if p.is_dir())
        if not genres:
            hint = (
                ": it holds audio files itself, so give the folder above it"
                if any(p.suffix.lower() in extensions for p in entries)
                else ""
            )
            raise DatasetError(f"{root} has no genre folders: expected <root>/<genre>/<file>{hint}")
        tracks, empty = [], []
        for gdir in genres:
            found = [
                Track(f"{gdir.name}/{f.name}", gdir.name, str(f.absolute()))
                for f in sorted(_list(gdir))
                if _is_track(f, extensions)
            ]
            tracks.extend(found)
            if not found:
                empty.append(gdir.name)
    except OSError as exc:  # a folder that can be listed but not entered, a file that cannot be stat'ed
        raise DatasetError(f"cannot read {exc.filename or root}: {exc.strerror or exc}") from None
    if not tracks:
        raise DatasetError(
            f"{root} has genre folders but no audio files ({', '.join(extensions)})"
            + _nested_dataset_hint(genres, extensions)
        )
    notes = []
    if empty:
        notes.append(f"skipped {len(empty)} folder(s) of {root} with no audio file: {', '.join(empty)}")
    if broken:
        links = ", ".join(f"{p.name} (to {os.readlink(p)})" for p in broken)
        notes.append(f"skipped {len(broken)} broken link(s) in {root}: {links}")
    by_case: dict[str, list[str]] = {}
    for g in genres:
        if g.name not in empty:
            by_case.setdefault(g.name.casefold(), []).append(g.name)
    same = [names for names in by_case.values() if len(names) > 1]
    if same:
        notes.append(
            "genre folders that differ only in case are separate genres: "
            + "; ".join(" and ".join(names) for names in same)
        )
    return tracks, notes


def _is_track(f: Path, extensions) -> bool:
    """An audio file of a genre folder, or a broken link named as one (it fails by name when read)."""
    if f.name.startswith(".") or f.suffix.lower() not in extensions:
        return False
    return f.is_file() or (f.is_symlink() and not f.exists())


def _list(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise DatasetError(f"cannot list {folder}: {exc.strerror or exc}") from None


def _nested_dataset_hint(folders, extensions) -> str:
    """``: did you mean <folder>?`` for a sub-folder laid out as a dataset (Kaggle's
    ``Data/genres_original`` beside ``Data/images_original``), else ``""``."""
    for folder in folders:
        try:
            subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
            if any(_is_track(f, extensions) for sub in subs for f in sub.iterdir()):
                return f"; {folder} is laid out as one: did you mean --data {folder}?"
        except OSError:
            continue
    return ""
