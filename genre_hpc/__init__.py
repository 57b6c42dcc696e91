"""genre-hpc: music-genre classification on GTZAN, as a library and a scaling study.

The data flows one way::

    dataset -> audio chunks -> features -> table -> models
                                        \\-> images -> cnn

and beside it, ``backends`` (how per-item work is mapped over workers) and
``scaling`` (how timed runs become speed-up tables). Public names load
lazily, so ``import genre_hpc`` imports neither TensorFlow, Dask nor
ipyparallel (nor librosa).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    # dataset and audio
    "Track": "genre_hpc.dataset",
    "discover": "genre_hpc.dataset",
    "DatasetError": "genre_hpc.dataset",
    "GTZAN_GENRES": "genre_hpc.dataset",
    "load_audio": "genre_hpc.audio",
    "split_chunks": "genre_hpc.audio",
    "load_chunks": "genre_hpc.audio",
    "AudioError": "genre_hpc.audio",
    # synthetic dataset
    "synthesize_track": "genre_hpc.synth",
    "write_dataset": "genre_hpc.synth",
    "default_dataset": "genre_hpc.synth",
    # features
    "get_extractor": "genre_hpc.features",
    "get_schema": "genre_hpc.features",
    "extract_features": "genre_hpc.extract",
    "extract_track": "genre_hpc.extract",
    "write_table": "genre_hpc.extract",
    "read_table": "genre_hpc.extract",
    "Failure": "genre_hpc.extract",
    "ExtractionFailed": "genre_hpc.extract",
    # models
    "make_pipeline": "genre_hpc.models",
    "train_models": "genre_hpc.models",
    "split_indices": "genre_hpc.models",
    "table_to_dataset": "genre_hpc.models",
    # parallel training and tuning
    "train_xgb": "genre_hpc.training",
    "tune_xgb": "genre_hpc.training",
    "prepare_data": "genre_hpc.training",
    "TRAIN_MODES": "genre_hpc.training",
    "TUNE_BACKENDS": "genre_hpc.training",
    # images path
    "make_images": "genre_hpc.images",
    "load_image": "genre_hpc.images",
    "train_cnn": "genre_hpc.cnn",
    # parallel
    "get_backend": "genre_hpc.backends",
    "backend_names": "genre_hpc.backends",
    "get_stage": "genre_hpc.stages",
    "run_study": "genre_hpc.scaling",
    "measure_cell": "genre_hpc.measure",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name):
    try:
        module = _API[name]
    except KeyError:
        raise AttributeError(f"module 'genre_hpc' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
