"""Feature extractors: ``extract_chunk(y, sr) -> dict[str, float]`` over a schema.

Extractors are looked up by name so that every entry point (library, CLI,
benchmarks) takes ``extractor="reference" | "fast"``. Modules load lazily.
"""

from __future__ import annotations

import importlib

from .schema import DEFAULT_SCHEMA, ID_COLUMNS, STUDY_87, Schema, get_schema

#: extractor name -> module path (each module defines NAME, SCHEMA, extract_chunk)
EXTRACTORS = {
    "reference": "genre_hpc.features.reference",
    "fast": "genre_hpc.features.fast",
}


def get_extractor(name: str = "reference"):
    """Return the extractor module called ``name``.

    The module has ``NAME``, ``SCHEMA`` and ``extract_chunk(y, sr)``; it may
    also have ``extract_chunks(list_of_y, sr)`` for batched work.

    Raises
    ------
    KeyError
        For an unknown name, listing the known ones.
    """
    try:
        path = EXTRACTORS[name]
    except KeyError:
        raise KeyError(f"unknown extractor {name!r}; known: {sorted(EXTRACTORS)}") from None
    return importlib.import_module(path)


__all__ = ["DEFAULT_SCHEMA", "EXTRACTORS", "ID_COLUMNS", "STUDY_87", "Schema", "get_extractor", "get_schema"]
