"""The model zoo, the evaluation protocols on feature rows, and chunk- and track-level scores.

Every model is a scikit-learn ``Pipeline(StandardScaler, classifier)`` trained
on the 87 features; labels go through a ``LabelEncoder``. Two presets:
``seed`` (the study's settings) and ``quick`` (small enough for tests and the
demo). All randomness has fixed seeds.

Protocols (:func:`protocol_rows`): the ``track`` split (default), the leaky
``chunk`` split, grouped splits, split files and K-fold cross-validation; the
track-level ones are :mod:`genre_hpc.splits`'. Every accuracy comes with a
95 % bootstrap interval over the test tracks (:mod:`genre_hpc.uncertainty`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .features.schema import ID_COLUMNS
from .splits import SplitError, _stratify, track_holdout

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
        and accuracy is optimistic. (Groups, split files and folds:
        :func:`protocol_rows`.)
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
    _, te_tracks = track_holdout(tracks, ds.y[first], test_size, random_state)
    test_mask = np.isin(ds.groups, te_tracks)
    return rows[~test_mask], rows[test_mask]


@dataclass
class RowFold:
    """One fold as row indices: ``train`` (valid merged in unless kept apart), ``test``, ``valid``."""

    train: np.ndarray
    test: np.ndarray
    valid: np.ndarray


def protocol_rows(
    ds: Dataset,
    *,
    split: str = "track",
    split_file=None,
    groups=None,
    cv: int | None = None,
    test_size: float = 0.3,
    random_state: int = RANDOM_STATE,
    keep_valid: bool = False,
):
    """Resolve an evaluation protocol on the rows of a dataset.

    Parameters
    ----------
    ds : Dataset
    split : str
        ``"track"`` (default), ``"chunk"`` (the study's leaky split over
        chunks) or a builtin split name (``"gtzan-filtered"``).
    split_file, groups, cv, test_size, random_state, keep_valid
        See :func:`genre_hpc.splits.plan_tracks`. ``chunk`` takes ``cv``
        (``StratifiedKFold`` over chunks, leaky too) but no groups or split file.

    Returns
    -------
    (genre_hpc.splits.Protocol, list of RowFold)
        Rows of tracks in no list (split file) are in no fold.
    """
    from .splits import Fold, Protocol, SplitError, plan_tracks

    rows = np.arange(len(ds.y))
    if split == "chunk":
        if groups is not None or split_file is not None:
            raise SplitError(
                "the chunk split ignores tracks and groups: use it without --groups/--split-file"
            )
        note = "chunk split: chunks of one track on both sides (leaky, optimistic: the study's protocol)"
        if cv is not None:
            from sklearn.model_selection import StratifiedKFold

            k = int(cv)
            if k < 2:
                raise SplitError(f"cross-validation needs at least 2 folds, got {k}")
            folds = [
                RowFold(tr, te, rows[:0])
                for tr, te in StratifiedKFold(k, shuffle=True, random_state=random_state).split(rows, ds.y)
            ]
            proto = Protocol("chunk+cv", [], [note + f"; {k}-fold StratifiedKFold over chunks"], {"cv": k})
        else:
            tr, te = split_indices(ds, "chunk", test_size, random_state)
            folds = [RowFold(np.asarray(tr), np.asarray(te), rows[:0])]
            proto = Protocol("chunk", [], [note], {"cv": None})
        proto.folds = [
            Fold(tuple(np.unique(ds.groups[f.train])), tuple(np.unique(ds.groups[f.test]))) for f in folds
        ]
        proto.info.update({"protocol": proto.name, "split_file": None, "groups_file": None})
        if len(folds) == 1:
            proto.info.update(
                {"train_tracks": len(proto.folds[0].train), "test_tracks": len(proto.folds[0].test)}
            )
        return proto, folds
    tracks, first = np.unique(ds.groups, return_index=True)
    proto = plan_tracks(
        tracks,
        ds.classes[ds.y[first]],
        split=split,
        split_file=split_file,
        groups=groups,
        cv=cv,
        test_size=test_size,
        random_state=random_state,
        keep_valid=keep_valid,
    )

    def sel(ids):
        return rows[np.isin(ds.groups, np.asarray(ids, dtype=ds.groups.dtype))] if len(ids) else rows[:0]

    return proto, [RowFold(sel(f.train), sel(f.test), sel(f.valid)) for f in proto.folds]


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


def _ci(value) -> list | None:
    return None if value is None else [round(float(v), 6) if math.isfinite(v) else None for v in value]


@dataclass
class ModelResult:
    """One model's scores and timings on one split (or the mean over cross-validation folds).

    ``chunk_accuracy`` / ``track_accuracy`` are the accuracies on the test
    tracks (with cross-validation: the mean over folds); ``*_ci`` their 95 %
    bootstrap intervals over test tracks (:mod:`genre_hpc.uncertainty`);
    ``*_std`` the standard deviation over folds (``numpy.std``, ddof 0, as
    scikit-learn's ``std_test_score``) and ``fold_*`` the per-fold values,
    with cross-validation only. ``fit_s`` / ``predict_s``: per fold (the mean).
    """

    name: str
    chunk_accuracy: float
    track_accuracy: float
    fit_s: float
    predict_s: float
    confusion: np.ndarray = field(repr=False, default=None)
    report: str = field(repr=False, default="")
    chunk_accuracy_ci: tuple = (math.nan, math.nan)
    track_accuracy_ci: tuple = (math.nan, math.nan)
    test_tracks: int = 0
    folds: int = 1
    chunk_accuracy_std: float | None = None
    track_accuracy_std: float | None = None
    fold_chunk_accuracy: list = field(default_factory=list)
    fold_track_accuracy: list = field(default_factory=list)

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "chunk_accuracy": round(float(self.chunk_accuracy), 6),
            "track_accuracy": round(float(self.track_accuracy), 6),
            "fit_s": round(self.fit_s, 4),
            "predict_s": round(self.predict_s, 4),
            "chunk_accuracy_ci": _ci(self.chunk_accuracy_ci),
            "track_accuracy_ci": _ci(self.track_accuracy_ci),
            "test_tracks": int(self.test_tracks),
        }
        if self.folds > 1:
            d.update(
                {
                    "folds": int(self.folds),
                    "chunk_accuracy_std": round(float(self.chunk_accuracy_std), 6),
                    "track_accuracy_std": round(float(self.track_accuracy_std), 6),
                    "fold_chunk_accuracy": [round(float(v), 6) for v in self.fold_chunk_accuracy],
                    "fold_track_accuracy": [round(float(v), 6) for v in self.fold_track_accuracy],
                }
            )
        return d


@dataclass
class _FoldOutcome:
    pred: np.ndarray  # per test chunk
    truth: np.ndarray
    groups: np.ndarray
    track_right: np.ndarray  # per test track (np.unique(groups) order)
    fit_s: float
    predict_s: float

    @property
    def chunk_accuracy(self) -> float:
        return float(np.mean(self.pred == self.truth)) if len(self.truth) else math.nan

    @property
    def track_accuracy(self) -> float:
        return float(np.mean(self.track_right)) if len(self.track_right) else math.nan


def check_training_rows(model, n_rows: int, leave_out: str = "knn") -> None:
    """Raise :class:`~genre_hpc.splits.SplitError` when ``model`` cannot be fit on ``n_rows``
    training rows: KNN (the zoo's asks for 19 neighbours) needs at least as many rows as
    neighbours, and scikit-learn would only fail at predict time, with a message about
    ``n_samples_fit``. ``model``: an estimator or a pipeline of one (``model__n_neighbors``);
    ``leave_out``: what the message tells the user to drop instead."""
    params = model.get_params()
    k = params.get("n_neighbors", params.get("model__n_neighbors"))
    if k is not None and n_rows < k:
        raise SplitError(
            f"KNN asks for {k} neighbours but the training side of the split has {n_rows} chunk(s): "
            f"give it more tracks (or longer ones), or leave {leave_out} out"
        )


def _fit_predict(model, ds: Dataset, train_idx, test_idx) -> _FoldOutcome:
    """Fit on the train rows, predict the test rows; score the tracks by majority vote.

    Labels are compacted to the classes present in the training rows (XGBoost
    wants ``0..k-1``), so a split whose training side lacks a genre still
    trains; that genre's test tracks are then always wrong.
    """
    if len(test_idx) == 0:
        raise ValueError("the test side of the split is empty: nothing to evaluate")
    check_training_rows(model, len(train_idx))
    y_tr = ds.y[train_idx]
    present = np.unique(y_tr)
    t0 = time.perf_counter()
    model.fit(ds.X[train_idx], np.searchsorted(present, y_tr))
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = present[np.asarray(model.predict(ds.X[test_idx])).astype(np.int64)]
    predict_s = time.perf_counter() - t0
    y_true = ds.y[test_idx]
    groups = ds.groups[test_idx]
    _, voted = track_vote(pred, groups, len(ds.classes))
    _, truth = track_vote(y_true, groups, len(ds.classes))
    return _FoldOutcome(pred, y_true, groups, voted == truth, fit_s, predict_s)


def _result(name: str, ds: Dataset, outcomes: list[_FoldOutcome]) -> ModelResult:
    from sklearn.metrics import classification_report, confusion_matrix

    from .uncertainty import accuracy_intervals

    pred = np.concatenate([o.pred for o in outcomes])
    truth = np.concatenate([o.truth for o in outcomes])
    groups = np.concatenate([o.groups for o in outcomes])
    strata = np.concatenate([np.full(len(o.truth), i) for i, o in enumerate(outcomes)])
    track_strata = np.concatenate([np.full(len(o.track_right), i) for i, o in enumerate(outcomes)])
    cis = accuracy_intervals(
        pred == truth,
        groups,
        np.concatenate([o.track_right for o in outcomes]),
        track_strata if len(outcomes) > 1 else None,
        chunk_strata=strata if len(outcomes) > 1 else None,
    )
    chunk = np.array([o.chunk_accuracy for o in outcomes])
    track = np.array([o.track_accuracy for o in outcomes])
    labels = np.arange(len(ds.classes))
    cv = len(outcomes) > 1
    return ModelResult(
        name=name,
        chunk_accuracy=float(chunk.mean()),
        track_accuracy=float(track.mean()),
        fit_s=float(np.mean([o.fit_s for o in outcomes])),
        predict_s=float(np.mean([o.predict_s for o in outcomes])),
        confusion=confusion_matrix(truth, pred, labels=labels),
        report=classification_report(
            truth, pred, labels=labels, target_names=[str(c) for c in ds.classes], zero_division=0
        ),
        chunk_accuracy_ci=cis["chunk_accuracy_ci"],
        track_accuracy_ci=cis["track_accuracy_ci"],
        test_tracks=int(len(track_strata)),
        folds=len(outcomes),
        chunk_accuracy_std=float(chunk.std()) if cv else None,
        track_accuracy_std=float(track.std()) if cv else None,
        fold_chunk_accuracy=chunk.tolist() if cv else [],
        fold_track_accuracy=track.tolist() if cv else [],
    )


def evaluate(model, ds: Dataset, train_idx, test_idx, name: str = "model") -> ModelResult:
    """Fit ``model`` on the train rows, score chunk and track accuracy (with 95 % CIs) on the test rows."""
    return _result(name, ds, [_fit_predict(model, ds, train_idx, test_idx)])


@dataclass
class Evaluation:
    """The results of :func:`evaluate_models` and the protocol they were measured with."""

    results: list
    protocol: object  # genre_hpc.splits.Protocol


def evaluate_models(
    table,
    *,
    models=MODEL_NAMES,
    preset: str = "quick",
    split: str = "track",
    split_file=None,
    groups=None,
    cv: int | None = None,
    test_size: float = 0.3,
    n_jobs: int = 1,
    random_state: int = RANDOM_STATE,
    progress: bool | None = None,
) -> Evaluation:
    """Train and evaluate each model of the zoo under one protocol.

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table (see :func:`genre_hpc.extract.extract_features`).
    models : sequence of str
        Names from :data:`MODEL_NAMES`.
    preset : {"quick", "seed"}
    split : str
        ``"track"``, ``"chunk"`` or a builtin split name (``"gtzan-filtered"``).
    split_file : str or Path, optional
        A folder of split lists (a valid list is merged into train: nothing is tuned here).
    groups : str, Path or Mapping, optional
        Track -> group (e.g. artist): the track split and the folds are grouped by it.
    cv : int, optional
        K-fold cross-validation: accuracies are means over the folds.
    n_jobs : int
        Threads for estimators that take ``n_jobs``.

    Returns
    -------
    Evaluation
        ``results`` (one :class:`ModelResult` per model) and ``protocol``.
    """
    import sys

    from tqdm.auto import tqdm

    names = [models] if isinstance(models, str) else list(models)  # "knn" is one model, not 3 letters
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODEL_NAMES)}")
    ds = table_to_dataset(table)
    protocol, folds = protocol_rows(
        ds,
        split=split,
        split_file=split_file,
        groups=groups,
        cv=cv,
        test_size=test_size,
        random_state=random_state,
    )
    enabled = sys.stderr.isatty() if progress is None else progress
    out = []
    bar = tqdm(total=len(names) * len(folds), desc="train", unit="fit", disable=not enabled, leave=False)
    with bar:
        for name in names:
            outcomes = []
            for f in folds:
                outcomes.append(
                    _fit_predict(make_pipeline(name, preset, n_jobs, random_state), ds, f.train, f.test)
                )
                bar.update(1)
            out.append(_result(name, ds, outcomes))
    return Evaluation(out, protocol)


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
    **protocol,
) -> list[ModelResult]:
    """Train and evaluate each model of the zoo on one fixed split.

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table (see :func:`genre_hpc.extract.extract_features`).
    models : sequence of str
        Names from :data:`MODEL_NAMES`.
    preset : {"quick", "seed"}
    split : {"track", "chunk"} or a builtin split name
    n_jobs : int
        Threads for estimators that take ``n_jobs``.
    **protocol
        ``split_file``, ``groups``, ``cv``: see :func:`evaluate_models`.

    Returns
    -------
    list of ModelResult
    """
    return evaluate_models(
        table,
        models=models,
        preset=preset,
        split=split,
        test_size=test_size,
        n_jobs=n_jobs,
        random_state=random_state,
        progress=progress,
        **protocol,
    ).results
