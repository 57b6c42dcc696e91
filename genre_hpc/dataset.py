"""Discovery of a GTZAN-layout folder: ``<root>/<genre>/<file>``.

The genre is the parent folder's name. Hidden files and folders are ignored;
tracks are sorted so that track ids are stable across runs and machines.
"""

from __future__ import annotations

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
        If ``root`` does not exist, has no genre folders, or no audio files.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist or is not a folder")
    genres = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not genres:
        raise DatasetError(f"{root} has no genre folders: expected <root>/<genre>/<file>")
    tracks = []
    for gdir in genres:
        for f in sorted(gdir.iterdir()):
            if f.name.startswith(".") or not f.is_file():
                continue
            if f.suffix.lower() in extensions:
                tracks.append(Track(f"{gdir.name}/{f.name}", gdir.name, str(f.resolve())))
    if not tracks:
        raise DatasetError(f"{root} has genre folders but no audio files ({', '.join(extensions)})")
    return tracks
