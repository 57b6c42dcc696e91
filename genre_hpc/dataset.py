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
    failure names the file the user sees, not a link's target.

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
        If ``root`` does not exist, cannot be listed, has no genre folders or no audio files
        (naming the sub-folder that looks like the dataset, such as Kaggle's
        ``Data/genres_original``), or a genre folder cannot be listed or is a broken link.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist or is not a folder")
    entries = [p for p in _list(root) if not p.name.startswith(".")]
    for p in entries:
        if p.is_symlink() and not p.exists() and not p.suffix:  # a genre's name has no suffix
            raise DatasetError(f"genre folder {p} is a broken link (to {os.readlink(p)})")
    genres = sorted(p for p in entries if p.is_dir())
    if not genres:
        hint = (
            ": it holds audio files itself, so give the folder above it"
            if any(p.suffix.lower() in extensions for p in entries)
            else ""
        )
        raise DatasetError(f"{root} has no genre folders: expected <root>/<genre>/<file>{hint}")
    tracks = []
    for gdir in genres:
        for f in sorted(_list(gdir)):
            if f.name.startswith(".") or f.suffix.lower() not in extensions:
                continue
            if f.is_file() or (f.is_symlink() and not f.exists()):
                tracks.append(Track(f"{gdir.name}/{f.name}", gdir.name, os.path.abspath(f)))
    if not tracks:
        raise DatasetError(
            f"{root} has genre folders but no audio files ({', '.join(extensions)})"
            + _nested_dataset_hint(genres, extensions)
        )
    return tracks


def _list(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise DatasetError(f"cannot list {folder}: {exc.strerror or exc}") from None


def _has_audio(folder: Path, extensions, unreadable: bool = False) -> bool:
    """Whether ``folder`` holds an audio file (``unreadable`` when it cannot be listed)."""
    try:
        return any(f.suffix.lower() in extensions and not f.name.startswith(".") for f in folder.iterdir())
    except OSError:
        return unreadable


def _nested_dataset_hint(folders, extensions) -> str:
    """``: did you mean <folder>?`` for a sub-folder laid out as a dataset (Kaggle's
    ``Data/genres_original`` beside ``Data/images_original``), else ``""``."""
    for folder in folders:
        try:
            subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        except OSError:
            continue
        if any(_has_audio(sub, extensions) for sub in subs):
            return f"; {folder} is laid out as one: did you mean --data {folder}?"
    return ""


def folder_notes(root, extensions=AUDIO_EXTENSIONS) -> list[str]:
    """What :func:`discover` took in silence that a user may not expect, one line each: folders
    with no audio file (an empty genre), and genre names that differ only in case (two genres).

    Parameters
    ----------
    root : str or Path
        A folder :func:`discover` accepts.

    Returns
    -------
    list of str
        Empty when there is nothing to say (or the folder cannot be read: :func:`discover`
        says why).
    """
    try:
        genres = sorted(
            p for p in Path(root).expanduser().iterdir() if p.is_dir() and not p.name.startswith(".")
        )
    except OSError:
        return []
    notes = []
    empty = [g.name for g in genres if not _has_audio(g, extensions, unreadable=True)]
    if empty:
        notes.append(f"skipped {len(empty)} folder(s) of {root} with no audio file: {', '.join(empty)}")
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
    return notes
