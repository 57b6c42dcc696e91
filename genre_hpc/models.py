"""The model zoo, the two split modes, and chunk- and track-level evaluation.

Every model is a scikit-learn ``Pipeline(StandardScaler, classifier)`` trained
on the 87 features; labels go through a ``LabelEncoder``. Two presets:
``seed`` (the study's settings) and ``quick`` (small enough for tests and the
demo). All randomness has fixed seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .features.schema import ID_COLUMNS

RANDOM_STATE = 0
MODEL_NAMES = ("knn", "random-forest", "svm", "mlp", "xgboost", "xgboost-rf")
PRESETS = ("quick", "seed")


def make_classifier(name: str, preset: str = "quick", n_jobs: int = 1, random_state: int = RANDOM_STATE):
    """Return an unfitted classifier.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`.
    preset : {"quick", "seed"}
        ``seed``: KNN(n_neighbors=19), RandomForest(1000 trees, max_depth=10),
        SVC(decision_function_shape="ovo"), MLP(lbfgs, alpha=1e-5,
        hidden=(5000, 10)), XGBClassifier(1000 rounds, lr=0.05),
        XGBRFClassifier (xgboost defaults). ``quick``: the same families,
        smaller (fewer trees / rounds, a narrow MLP).
    n_jobs : int
        Threads for the estimators that have them (RF, KNN, XGBoost).
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {PRESETS}")
    seed = preset == "seed"
    if name == "knn":
        return KNeighborsClassifier(n_neighbors=19, n_jobs=n_jobs)
    if name == "random-forest":
        return RandomForestClassifier(
            n_estimators=1000 if seed else 100, max_depth=10, random_state=random_state, n_jobs=n_jobs
        )
    if name == "svm":
        return SVC(decision_function_shape="ovo", random_state=random_state)
    if name == "mlp":
        return MLPClassifier(
            solver="lbfgs",
            alpha=1e-5,
            hidden_layer_sizes=(5000, 10) if seed else (64, 10),
            max_iter=200 if seed else 300,
            random_state=random_state,
        )
    if name in ("xgboost", "xgboost-rf"):
        import xgboost as xgb

        if name == "xgboost":
            return xgb.XGBClassifier(
                n_estimators=1000 if seed else 100,
                learning_rate=0.05,
                n_jobs=n_jobs,
                random_state=random_state,
                tree_method="hist",
            )
        return xgb.XGBRFClassifier(
            n_estimators=100 if seed else 50, n_jobs=n_jobs, random_state=random_state, tree_method="hist"
        )
    raise ValueError(f"unknown model {name!r}; known: {MODEL_NAMES}")


def make_pipeline(name: str, preset: str = "quick", n_jobs: int = 1, random_state: int = RANDOM_STATE):
    """``Pipeline([("scale", StandardScaler()), ("model", make_classifier(...))])``."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [("scale", StandardScaler()), ("model", make_classifier(name, preset, n_jobs, random_state))]
    )


# --- data and splits -------------------------------------------------------------


@dataclass
class Dataset:
    """Features, encoded labels and groups of a feature table."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray  # track id per row
    classes: np.ndarray  # genre names, index = encoded label
    feature_names: list[str]


def table_to_dataset(table) -> Dataset:
    """Split a feature table into X, encoded y, and track groups."""
    from sklearn.preprocessing import LabelEncoder

    if len(table) == 0:
        raise ValueError("the feature table is empty: no track produced features")
    feats = [c for c in table.columns if c not in ID_COLUMNS]
    enc = LabelEncoder().fit(table["genre"].to_numpy())
    return Dataset(
        X=table[feats].to_numpy(dtype=np.float64),
        y=enc.transform(table["genre"].to_numpy()),
        groups=table["track_id"].to_numpy(),
        classes=enc.classes_,
        feature_names=feats,
    )


def split_indices(ds: Dataset, mode: str = "track", test_size: float = 0.3, random_state: int = RANDOM_STATE):
    """Return ``(train_idx, test_idx)`` row indices.

    Parameters
    ----------
    mode : {"track", "chunk"}
        ``track`` (default): whole tracks go to one side, stratified by genre
        (no track's chunks on both sides). ``chunk``: the study's random
        split over chunks, which leaks: chunks of one track land on both sides
        and accuracy is optimistic.
    """
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(ds.y))
    if mode == "chunk":
        return train_test_split(
            rows, test_size=test_size, random_state=random_state, stratify=_stratify(ds.y, test_size)
        )
    if mode != "track":
        raise ValueError(f"unknown split mode {mode!r}; use 'track' or 'chunk'")
    tracks, first = np.unique(ds.groups, return_index=True)
    labels = ds.y[first]
    tr_tracks, te_tracks = train_test_split(
        tracks, test_size=test_size, random_state=random_state, stratify=_stratify(labels, test_size)
    )
    test_mask = np.isin(ds.groups, te_tracks)
    return rows[~test_mask], rows[test_mask]


def _stratify(labels, test_size):
    """Stratify when every class can appear on both sides, else None (tiny data)."""
    _, counts = np.unique(labels, return_counts=True)
    n_test = int(np.ceil(test_size * len(labels)))
    ok = counts.min() >= 2 and n_test >= len(counts) and len(labels) - n_test >= len(counts)
    return labels if ok else None


# --- evaluation ------------------------------------------------------------------


def track_vote(pred: np.ndarray, groups: np.ndarray, n_classes: int):
    """Majority vote of chunk predictions per track.

    Ties go to the lowest class index (deterministic). Returns
    ``(track_ids, voted_labels)`` sorted by track id.
    """
    tracks, inv = np.unique(groups, return_inverse=True)
    counts = np.zeros((len(tracks), n_classes), dtype=np.int64)
    np.add.at(counts, (inv, pred), 1)
    return tracks, counts.argmax(axis=1)


@dataclass
class ModelResult:
    """One model's scores and timings on one split."""

    name: str
    chunk_accuracy: float
    track_accuracy: float
    fit_s: float
    predict_s: float
    confusion: np.ndarray = field(repr=False, default=None)
    report: str = field(repr=False, default="")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "chunk_accuracy": round(float(self.chunk_accuracy), 6),
            "track_accuracy": round(float(self.track_accuracy), 6),
            "fit_s": round(self.fit_s, 4),
            "predict_s": round(self.predict_s, 4),
        }


def evaluate(model, ds: Dataset, train_idx, test_idx, name: str = "model") -> ModelResult:
    """Fit ``model`` on the train rows, score chunk and track accuracy on the test rows."""
    from sklearn.metrics import classification_report, confusion_matrix

    t0 = time.perf_counter()
    model.fit(ds.X[train_idx], ds.y[train_idx])
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = np.asarray(model.predict(ds.X[test_idx])).astype(np.int64)
    predict_s = time.perf_counter() - t0
    y_true = ds.y[test_idx]
    tracks, voted = track_vote(pred, ds.groups[test_idx], len(ds.classes))
    _, truth = track_vote(y_true, ds.groups[test_idx], len(ds.classes))
    labels = np.arange(len(ds.classes))
    return ModelResult(
        name=name,
        chunk_accuracy=float(np.mean(pred == y_true)),
        track_accuracy=float(np.mean(voted == truth)),
        fit_s=fit_s,
        predict_s=predict_s,
        confusion=confusion_matrix(y_true, pred, labels=labels),
        report=classification_report(
            y_true, pred, labels=labels, target_names=list(ds.classes), zero_division=0
        ),
    )


def train_models(
    table,
    *,
    models=MODEL_NAMES,
    preset: str = "quick",
    split: str = "track",
    test_size: float = 0.3,
    n_jobs: int = 1,
    random_state: int = RANDOM_STATE,
    progress: bool | None = None,
) -> list[ModelResult]:
    """Train and evaluate each model of the zoo on one fixed split.

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table (see :func:`genre_hpc.extract.extract_features`).
    models : sequence of str
        Names from :data:`MODEL_NAMES`.
    preset : {"quick", "seed"}
    split : {"track", "chunk"}
    n_jobs : int
        Threads for estimators that take ``n_jobs``.

    Returns
    -------
    list of ModelResult
    """
    import sys

    from tqdm.auto import tqdm

    ds = table_to_dataset(table)
    train_idx, test_idx = split_indices(ds, split, test_size, random_state)
    out = []
    enabled = sys.stderr.isatty() if progress is None else progress
    for name in tqdm(list(models), desc="train", unit="model", disable=not enabled, leave=False):
        out.append(evaluate(make_pipeline(name, preset, n_jobs, random_state), ds, train_idx, test_idx, name))
    return out
