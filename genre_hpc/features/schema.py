"""The named, versioned feature schema shared by every extractor.

A schema is an ordered tuple of column names plus a version string. Extractors
return ``dict[str, float]`` over exactly these names; the feature table keeps
this order. Changing a definition means bumping the version, which also
invalidates the on-disk feature cache.
"""

from __future__ import annotations

from dataclasses import dataclass

N_MFCC = 20
SAMPLE_RATE = 22050
N_FFT = 2048
HOP_LENGTH = 512


@dataclass(frozen=True)
class Schema:
    """An ordered, versioned list of feature names."""

    name: str
    version: str
    columns: tuple[str, ...]

    @property
    def key(self) -> str:
        """``name@version``: the identity used by the cache."""
        return f"{self.name}@{self.version}"

    def __len__(self) -> int:
        return len(self.columns)


def _study_columns() -> tuple[str, ...]:
    cols = [
        "zero_crossing_rate_mean",
        "zero_crossings_mean",
        "spectrogram_mean",
        "mel_spectrogram_mean",
        "harmonics_mean",
        "perceptual_shock_wave_mean",
        "spectral_centroids_mean",
        "spectral_centroids_delta_mean",
        "spectral_centroids_accelerate_mean",
    ]
    cols += [f"chroma{i}_mean" for i in range(1, 13)]
    cols += [
        "tempo_bpm",
        "spectral_rolloff_mean",
        "spectral_flux_mean",
        "spectral_bandwidth_2_mean",
        "spectral_bandwidth_3_mean",
        "spectral_bandwidth_4_mean",
    ]
    for i in range(N_MFCC):
        cols += [f"mfcc{i}_mean", f"mfcc_delta_{i}_mean", f"mfcc_accelerate_{i}_mean"]
    return tuple(cols)


#: The 87 documented features of the report study (``study-87``).
STUDY_87 = Schema(name="study-87", version="1", columns=_study_columns())
assert len(STUDY_87) == 87

SCHEMAS = {STUDY_87.name: STUDY_87}
DEFAULT_SCHEMA = STUDY_87

#: Columns that identify a row of the feature table (before the features).
ID_COLUMNS = ("track_id", "chunk", "genre", "path")


def get_schema(name: str = DEFAULT_SCHEMA.name) -> Schema:
    """Return the schema called ``name``.

    Raises
    ------
    KeyError
        With the list of known schemas when ``name`` is unknown.
    """
    try:
        return SCHEMAS[name]
    except KeyError:
        raise KeyError(f"unknown feature schema {name!r}; known: {sorted(SCHEMAS)}") from None
