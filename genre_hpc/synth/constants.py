"""What every part of the generator agrees on: the generator version, the genres, the sample rate."""

from __future__ import annotations

from ..dataset import GTZAN_GENRES

#: version of the generator: bump whenever the rendered sound changes (it is
#: part of the cached dataset's folder name and of the manifest, and
#: tests/test_synth.py pins digests of tracks rendered by this version)
VERSION = "1"

#: the ten GTZAN genres, in GTZAN's (alphabetical) order
GENRES: tuple[str, ...] = tuple(GTZAN_GENRES)

#: the sample rate of the written files
SAMPLE_RATE = 22050
