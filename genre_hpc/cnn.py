"""The Keras CNN on mel-spectrogram images, trained in a fresh, thread-configured process.

TensorFlow sizes its thread pools once, at first use, so every thread
configuration runs in a **new Python process** (:func:`train_cnn` starts it
with :mod:`subprocess`). The parent sets ``OMP_NUM_THREADS``,
``TF_NUM_INTRAOP_THREADS`` and ``TF_NUM_INTEROP_THREADS`` in the child's
environment; the child imports TensorFlow, calls
``tf.config.threading.set_intra_op_parallelism_threads`` /
``set_inter_op_parallelism_threads`` before any TensorFlow op, then **reads
the settings back** (``get_intra_op_parallelism_threads()``, ...) and
returns them with the timings: a result reports the settings in effect,
never the ones asked for. This module never imports TensorFlow in the
calling process.

Data (parent side, no TensorFlow): the ``.npy`` images of
:func:`genre_hpc.images.make_images` are found under ``<dir>/<genre>/``, split
**by track** (every window of a track on the same side; stratified by genre,
fixed seed), cut into 3 s windows (129 frames at hop 512; a square thumbnail
or a shorter image is one window), resized to ``image_size x image_size``,
scaled from [-80, 0] dB to [0, 1] and standardised with the training
windows' mean and standard deviation. Validation accuracy is per track: the
mean of its windows' class probabilities (soft vote).

Presets: ``seed`` is the study's network (two Conv2D per block, 32/64,
64/64, 128/128, MaxPool, Dropout 0.25; Dense 512, Dropout 0.5, softmax;
RMSprop lr 5e-4): 2.68 M parameters at 64x64 with ten genres. ``quick`` is a
small network for tests and fast studies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .audio import CHUNK_SAMPLES
from .dataset import DatasetError
from .images import HOP_LENGTH, TOP_DB, ImageFileError, load_image, read_manifest, resize_array

#: frames in one 3 s window at hop 512 (66150 / 512, rounded down)
CHUNK_FRAMES = CHUNK_SAMPLES // HOP_LENGTH

#: per preset: learning rate (RMSprop) and default epochs
PRESETS: dict[str, dict] = {
    "quick": {"learning_rate": 3e-3, "epochs": 5},
    "seed": {"learning_rate": 5e-4, "epochs": 20},
}

#: the child's environment variables that size the thread pools
THREAD_VARS = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


class CnnError(RuntimeError):
    """The training process failed: carries its error message and the tail of its log."""

    def __init__(self, message: str, log: str = ""):
        self.log = log
        super().__init__(message + (f"\n--- child log (tail) ---\n{log}" if log else ""))

    def __reduce__(self):
        return (type(self), (self.args[0], ""))


# --- data (parent side, no TensorFlow) ----------------------------------------------


def find_images(images_dir) -> list[tuple[str, str, Path]]:
    """``(track_id, genre, path)`` of every ``<dir>/<genre>/<stem>.npy``, sorted.

    Raises
    ------
    DatasetError
        When the folder is missing or holds no ``.npy`` image.
    """
    root = Path(images_dir)
    if not root.is_dir():
        raise DatasetError(f"images folder {root} does not exist or is not a folder")
    out = []
    for gdir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(gdir.glob("*.npy")):
            if not f.name.startswith("."):
                out.append((f"{gdir.name}/{f.stem}", gdir.name, f))
    if not out:
        raise DatasetError(
            f"{root} has no images: expected <dir>/<genre>/<track>.npy (see genre_hpc.images.make_images)"
        )
    return out


def split_tracks(
    track_ids, genres, *, val_fraction: float = 0.3, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Fixed train/validation split **by track**, stratified by genre.

    Per genre (sorted), a seeded permutation of its sorted tracks puts
    ``round(n * val_fraction)`` of them (at least 1 and at most ``n - 1``
    when ``n >= 2``; none when ``n == 1``) in validation.

    Returns
    -------
    (train_ids, val_ids) : two sorted lists
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    by_genre: dict[str, list[str]] = {}
    for tid, g in zip(track_ids, genres):
        by_genre.setdefault(g, []).append(tid)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for g in sorted(by_genre):
        ids = sorted(by_genre[g])
        n = len(ids)
        n_val = 0 if n < 2 else min(n - 1, max(1, int(round(n * val_fraction))))
        perm = rng.permutation(n)
        val += [ids[i] for i in perm[:n_val]]
        train += [ids[i] for i in perm[n_val:]]
    return sorted(train), sorted(val)


def windows(a: np.ndarray, chunk_frames: int | None) -> list[np.ndarray]:
    """Non-overlapping windows of ``chunk_frames`` columns (the whole image when None or too short)."""
    if not chunk_frames or a.shape[1] < chunk_frames:
        return [a]
    return [a[:, i * chunk_frames : (i + 1) * chunk_frames] for i in range(a.shape[1] // chunk_frames)]


def to_input(a: np.ndarray, image_size: int) -> np.ndarray:
    """One window -> ``(image_size, image_size)`` float32 in [0, 1] (before standardisation)."""
    x = resize_array(a, image_size)
    return np.clip((x + np.float32(TOP_DB)) / np.float32(TOP_DB), 0.0, 1.0).astype(np.float32, copy=False)


def build_dataset(
    images_dir,
    path,
    *,
    image_size: int = 64,
    chunk_frames="auto",
    val_fraction: float = 0.3,
    seed: int = 0,
    split: tuple | None = None,
) -> dict:
    """Read, split, window and resize the images once; write them to ``path`` (``.npz``).

    Every image is read with :func:`genre_hpc.images.load_image`, so a bad
    file raises :class:`~genre_hpc.images.ImageFileError` naming it, before
    any training process starts.

    Parameters
    ----------
    images_dir : path
        A folder made by :func:`genre_hpc.images.make_images`.
    path : path
        The ``.npz`` to write (atomically).
    image_size : int
        Side of the square network input.
    chunk_frames : int, None or "auto"
        Window width in frames; ``None`` uses whole images; ``"auto"``
        (default) is :data:`CHUNK_FRAMES` (3 s) for native images and
        ``None`` for the square thumbnails of ``make_images(image_size=...)``.
    val_fraction, seed
        The track split (:func:`split_tracks`).
    split : (train_ids, val_ids), optional
        A given track split instead (e.g. the feature models' test tracks, a
        split file): image track ids ``<genre>/<stem>`` or audio track ids
        ``<genre>/<file>``. Images of tracks in neither list are left out;
        listed tracks without an image are skipped (counted in the result).

    Returns
    -------
    dict
        Counts and settings (also stored in the file).
    """
    from .files import atomic_write

    if int(image_size) < 8:
        raise ValueError(f"image_size must be >= 8, got {image_size}")
    image_size = int(image_size)
    found = find_images(images_dir)
    if chunk_frames == "auto":
        chunk_frames = None if read_manifest(images_dir).get("image_size") else CHUNK_FRAMES
    genres = sorted({g for _, g, _ in found})
    if len(genres) < 2:
        raise DatasetError(
            f"{images_dir} has images of {len(genres)} genre(s); a classifier needs at least 2"
        )
    label = {g: i for i, g in enumerate(genres)}
    given = split is not None
    if given:
        train_ids, val_ids, not_found = _given_split(split, [t for t, _, _ in found])
        found = [f for f in found if f[0] in set(train_ids) | set(val_ids)]
        if not train_ids:
            raise DatasetError(f"{images_dir}: no image of the given training tracks")
        if not val_ids:
            raise DatasetError(f"{images_dir}: no image of the given test tracks")
    else:
        not_found = 0
        train_ids, val_ids = split_tracks(
            [t for t, _, _ in found], [g for _, g, _ in found], val_fraction=val_fraction, seed=seed
        )
    if not val_ids:
        raise DatasetError(f"{images_dir}: no genre has 2 tracks, so no track is left for validation")
    side = {t: "val" for t in val_ids}
    parts: dict[str, dict[str, list]] = {
        "train": {"x": [], "y": [], "g": []},
        "val": {"x": [], "y": [], "g": []},
    }
    val_index = {t: i for i, t in enumerate(val_ids)}
    train_index = {t: i for i, t in enumerate(train_ids)}
    for tid, genre, p in found:
        a = load_image(p)
        s = side.get(tid, "train")
        for w in windows(a, chunk_frames):
            parts[s]["x"].append(to_input(w, image_size))
            parts[s]["y"].append(label[genre])
            parts[s]["g"].append(val_index[tid] if s == "val" else train_index[tid])

    def stack(xs):
        return np.stack(xs)[..., None] if xs else np.zeros((0, image_size, image_size, 1), np.float32)

    x_train, x_val = stack(parts["train"]["x"]), stack(parts["val"]["x"])
    # standardise with the training windows' statistics (the network learns several times faster)
    mean = float(x_train.mean(dtype=np.float64))
    std = float(x_train.std(dtype=np.float64)) or 1.0
    x_train = ((x_train - np.float32(mean)) / np.float32(std)).astype(np.float32, copy=False)
    x_val = ((x_val - np.float32(mean)) / np.float32(std)).astype(np.float32, copy=False)
    arrays = {
        "x_train": x_train,
        "y_train": np.array(parts["train"]["y"], dtype=np.int64),
        "g_train": np.array(parts["train"]["g"], dtype=np.int64),
        "x_val": x_val,
        "y_val": np.array(parts["val"]["y"], dtype=np.int64),
        "g_val": np.array(parts["val"]["g"], dtype=np.int64),
        "genres": np.array(genres),
        "train_tracks": np.array(train_ids),
        "val_tracks": np.array(val_ids),
    }
    info = {
        "image_size": image_size,
        "chunk_frames": chunk_frames,
        "val_fraction": None if given else val_fraction,
        "split": "given" if given else "split_tracks",
        "split_tracks_without_image": not_found,
        "seed": seed,
        "n_train_tracks": len(train_ids),
        "n_val_tracks": len(val_ids),
        "n_train_samples": int(len(arrays["y_train"])),
        "n_val_samples": int(len(arrays["y_val"])),
        "input_mean": mean,
        "input_std": std,
        "genres": genres,
        "images_dir": str(images_dir),
    }
    arrays["info"] = np.array(json.dumps(info))

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    atomic_write(path, write)
    return info


def image_track_id(track_id: str) -> str:
    """The image id of an audio track id: ``blues/blues.00012.wav`` -> ``blues/blues.00012``."""
    from .splits import _strip_ext, normalise_entry

    return _strip_ext(normalise_entry(track_id))


def _given_split(split, image_ids) -> tuple[list[str], list[str], int]:
    """Map a given ``(train, val)`` of track ids onto the images found: sorted lists + count not found."""
    train, val = split
    have = set(image_ids)
    out, not_found = [], 0
    for ids in (train, val):
        mapped = {image_track_id(str(t)) for t in ids}
        not_found += len(mapped - have)
        out.append(sorted(mapped & have))
    both = set(out[0]) & set(out[1])
    if both:
        raise ValueError(f"{len(both)} track(s) on both sides of the given split (e.g. {sorted(both)[0]})")
    return out[0], out[1], not_found


def read_dataset_info(path) -> dict:
    """The settings and counts stored by :func:`build_dataset`."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["info"]))
    except Exception as exc:
        raise ImageFileError(
            path, f"not a dataset made by build_dataset ({type(exc).__name__}: {exc})"
        ) from None


def vote(proba: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group (track), the mean of its rows' class probabilities: ``(n_groups, n_classes)``."""
    proba = np.asarray(proba, dtype=np.float64)
    out = np.zeros((n_groups, proba.shape[1]))
    counts = np.bincount(groups, minlength=n_groups).astype(float)
    np.add.at(out, groups, proba)
    return out / np.maximum(counts, 1.0)[:, None]


# --- the model (child side) ---------------------------------------------------------


def build_model(preset: str, input_shape, n_classes: int):
    """The Keras model of ``preset`` (imports Keras: call it in the training process).

    ``seed``: the study's network. ``quick``: two small conv blocks.
    """
    import keras
    from keras import layers

    if preset not in PRESETS:
        raise KeyError(f"unknown CNN preset {preset!r}; known: {', '.join(PRESETS)}")
    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    if preset == "seed":
        for filters in ((32, 64), (64, 64), (128, 128)):
            x = layers.Conv2D(filters[0], 3, padding="same", activation="relu")(x)
            x = layers.Conv2D(filters[1], 3, activation="relu")(x)
            x = layers.MaxPooling2D(2)(x)
            x = layers.Dropout(0.25)(x)
        x = layers.Flatten()(x)
        x = layers.Dense(512, activation="relu")(x)
        x = layers.Dropout(0.5)(x)
    else:
        for filters in (8, 16):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.25)(x)
        x = layers.Flatten()(x)
        x = layers.Dense(32, activation="relu")(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name=f"genre_cnn_{preset}")
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=PRESETS[preset]["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def input_pipeline(tf, x, y, batch_size: int, seed: int):
    """The training batches as ``model.fit`` gets them: a ``tf.data`` pipeline, autotuning off.

    Shuffled anew every epoch (seeded), batched, one batch prefetched. tf.data's autotuning is
    **off**: with it on (as for the NumPy arrays Keras wraps by itself), every epoch's iterator
    starts a thread that re-optimises the pipeline after 20, 40, 80, ... ms, and in part of the
    epochs the iterator's end waited for that thread's next wake-up: an epoch of 2.6 s took
    5.1 s, idle (docs/benchmarks.md, "The CNN's threads"). Nothing here needs tuning: the
    arrays are in memory and one batch ahead is enough.
    """
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True).batch(batch_size).prefetch(1)
    return ds.with_options(_untuned(tf))


def prediction_pipeline(tf, x, batch_size: int):
    """The windows to predict, in order, batched, autotuning off (as :func:`input_pipeline`).

    Keras' own wrapping of an array autotunes, so the same wait could inflate the prediction
    time.
    """
    return tf.data.Dataset.from_tensor_slices(x).batch(batch_size).with_options(_untuned(tf))


def _untuned(tf):
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def _child_main(spec_path: str, result_path: str) -> int:
    """Entry point of the training process: configure threads, train, write JSON."""
    t_begin = time.time()
    spec = json.loads(Path(spec_path).read_text())
    out: dict = {"child_begin_wall": t_begin, "pid": os.getpid()}
    try:
        t0 = time.perf_counter()
        import tensorflow as tf

        # before any op: the pools are created at the first one and fixed afterwards
        tf.config.threading.set_intra_op_parallelism_threads(int(spec["intra_op"]))
        tf.config.threading.set_inter_op_parallelism_threads(int(spec["inter_op"]))
        import keras

        out["import_s"] = time.perf_counter() - t0
        out["ready_wall"] = time.time()
        keras.utils.set_random_seed(int(spec["seed"]))
        if spec.get("deterministic", True):
            tf.config.experimental.enable_op_determinism()

        t0 = time.perf_counter()
        with np.load(spec["dataset"], allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        out["load_s"] = time.perf_counter() - t0
        n_classes = len(data["genres"])

        t0 = time.perf_counter()
        model = build_model(spec["preset"], data["x_train"].shape[1:], n_classes)
        out["build_s"] = time.perf_counter() - t0
        out["n_params"] = int(model.count_params())

        epoch_s: list[float] = []

        class EpochTimer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self._t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                epoch_s.append(time.perf_counter() - self._t)

        batch_size, seed = int(spec["batch_size"]), int(spec["seed"])
        train = input_pipeline(tf, data["x_train"], data["y_train"], batch_size, seed)
        out["data_autotune"] = train.options().autotune.enabled
        t0 = time.perf_counter()
        hist = model.fit(train, epochs=int(spec["epochs"]), verbose=0, callbacks=[EpochTimer()])
        out["train_s"] = time.perf_counter() - t0
        out["epoch_s"] = epoch_s
        out["history"] = {k: [float(v) for v in vals] for k, vals in hist.history.items()}

        t0 = time.perf_counter()
        if len(data["x_val"]):
            val = prediction_pipeline(tf, data["x_val"], max(batch_size, 64))
            proba = model.predict(val, verbose=0)
        else:
            proba = np.zeros((0, n_classes))
        out["predict_s"] = time.perf_counter() - t0
        out["val_proba"] = np.asarray(proba, dtype=np.float64).tolist()

        # what is in effect, read back (never assumed)
        out["intra_op"] = int(tf.config.threading.get_intra_op_parallelism_threads())
        out["inter_op"] = int(tf.config.threading.get_inter_op_parallelism_threads())
        env = {k: os.environ.get(k) for k in THREAD_VARS}
        out["env"] = env
        out["omp"] = int(env["OMP_NUM_THREADS"]) if (env["OMP_NUM_THREADS"] or "").isdigit() else None
        try:
            from threadpoolctl import threadpool_info

            pools = threadpool_info()
            out["threadpools"] = [
                {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "prefix")} for p in pools
            ]
        except Exception:  # threadpoolctl is optional here
            out["threadpools"] = []
        out["tf_version"] = tf.__version__
        out["keras_version"] = keras.__version__
        out["deterministic"] = bool(spec.get("deterministic", True))
        code = 0
    except BaseException as exc:  # report everything to the parent, then fail
        import traceback

        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        code = 1
    tmp = Path(result_path).with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    os.replace(tmp, result_path)
    return code


_CHILD_CODE = (
    "import sys; from genre_hpc.cnn import _child_main; sys.exit(_child_main(sys.argv[1], sys.argv[2]))"
)


# --- the parent API ------------------------------------------------------------------


@dataclass
class CnnResult:
    """One training run: timings, the thread settings read back in the child, accuracy.

    ``intra_op``, ``inter_op`` and ``omp`` are what the training process
    read back from TensorFlow and its environment; ``requested`` is what was
    asked. ``train_s`` (= :attr:`compute_s`) is ``model.fit`` only;
    ``startup_s`` is process start plus the TensorFlow import and thread
    set-up (parent clock to the child's ready time); ``epoch_s`` are the
    per-epoch times (the first includes graph tracing). ``accuracy`` is the
    track-level validation accuracy, ``chunk_accuracy`` the per-window one,
    ``accuracy_ci`` / ``chunk_accuracy_ci`` their 95 % bootstrap intervals over
    the validation tracks (:mod:`genre_hpc.uncertainty`); ``val_pred`` the predicted genre of each
    ``val_tracks`` entry and ``val_proba`` its voted probabilities (columns in
    ``genres`` order).
    """

    epoch_s: list[float]
    train_s: float
    accuracy: float
    intra_op: int
    inter_op: int
    omp: int | None
    startup_s: float
    chunk_accuracy: float = float("nan")
    accuracy_ci: tuple = (float("nan"), float("nan"))
    chunk_accuracy_ci: tuple = (float("nan"), float("nan"))
    import_s: float = float("nan")
    load_s: float = float("nan")
    build_s: float = float("nan")
    predict_s: float = float("nan")
    wall_s: float = float("nan")
    preset: str = "quick"
    epochs: int = 0
    batch_size: int = 32
    image_size: int = 64
    seed: int = 0
    n_params: int = 0
    genres: list[str] = field(default_factory=list)
    val_tracks: list[str] = field(default_factory=list)
    val_true: list[str] = field(default_factory=list)
    val_pred: list[str] = field(default_factory=list)
    val_proba: list[list[float]] = field(default_factory=list)
    n_train_tracks: int = 0
    n_train_samples: int = 0
    n_val_samples: int = 0
    history: dict = field(default_factory=dict)
    requested: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    threadpools: list = field(default_factory=list)
    deterministic: bool = True
    tf_version: str = ""
    #: tf.data's autotuning of the training input, read back from the pipeline (off: see
    #: :func:`input_pipeline`)
    data_autotune: bool | None = None

    @property
    def compute_s(self) -> float:
        """Training time (``model.fit``), without process start-up and TensorFlow import."""
        return self.train_s

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """Scalars only (for tables)."""
        return {k: v for k, v in self.to_dict().items() if not isinstance(v, (list, dict))}


def _child_env(intra_op: int, inter_op: int, omp: int, seed: int) -> dict:
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OMP_NUM_THREADS"] = str(omp)
    env["TF_NUM_INTRAOP_THREADS"] = str(intra_op)
    env["TF_NUM_INTEROP_THREADS"] = str(inter_op)
    env["PYTHONHASHSEED"] = str(seed)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def train_cnn(
    images_dir,
    *,
    intra_op: int = 1,
    inter_op: int = 1,
    omp: int | None = None,
    epochs: int | None = None,
    batch_size: int = 32,
    image_size: int = 64,
    preset: str = "quick",
    seed: int = 0,
    val_fraction: float = 0.3,
    chunk_frames="auto",
    deterministic: bool = True,
    timeout: float | None = None,
) -> CnnResult:
    """Train the CNN on a folder of images in a fresh process with the given thread counts.

    Parameters
    ----------
    images_dir : path
        A folder made by :func:`genre_hpc.images.make_images`, or a ``.npz``
        made by :func:`build_dataset` (then ``image_size``, ``chunk_frames``,
        ``val_fraction`` are those it was built with).
    intra_op, inter_op : int
        TensorFlow's intra-op and inter-op pool sizes (>= 1).
    omp : int, optional
        ``OMP_NUM_THREADS`` of the training process (default: ``intra_op``).
    epochs : int, optional
        Default: the preset's (quick 5, seed 20).
    batch_size, image_size : int
        Mini-batch size (the study: 32) and network input side (the study: 64).
    preset : {"quick", "seed"}
        Network size (see module doc).
    seed : int
        Seeds the split, weight initialisation, shuffling and dropout
        (``keras.utils.set_random_seed``); with ``deterministic`` TensorFlow's
        op determinism is on too.
    timeout : float, optional
        Kill the training process after this many seconds (:class:`CnnError`).

    Returns
    -------
    CnnResult

    Raises
    ------
    ImageFileError
        A bad image file, named (raised here, before the process starts).
    CnnError
        The training process failed or timed out (with the tail of its log).
    """
    if preset not in PRESETS:
        raise KeyError(f"unknown CNN preset {preset!r}; known: {', '.join(PRESETS)}")
    for name, v in (("intra_op", intra_op), ("inter_op", inter_op), ("batch_size", batch_size)):
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    omp = int(intra_op) if omp is None else int(omp)
    if omp < 1:
        raise ValueError(f"omp must be >= 1, got {omp}")
    epochs = int(PRESETS[preset]["epochs"] if epochs is None else epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    requested = {"intra_op": int(intra_op), "inter_op": int(inter_op), "omp": omp}
    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="genre-hpc-cnn-"))
    try:
        src = Path(images_dir)
        if src.is_file():
            dataset = src
            info = read_dataset_info(src)
        else:
            dataset = tmp / "dataset.npz"
            info = build_dataset(
                src,
                dataset,
                image_size=image_size,
                chunk_frames=chunk_frames,
                val_fraction=val_fraction,
                seed=seed,
            )
        with np.load(dataset, allow_pickle=False) as z:
            val_tracks, y_val, g_val = list(z["val_tracks"].tolist()), z["y_val"], z["g_val"]
        spec = {
            "dataset": str(dataset),
            "preset": preset,
            "epochs": epochs,
            "batch_size": int(batch_size),
            "seed": int(seed),
            "deterministic": bool(deterministic),
            **requested,
        }
        spec_path, result_path, log_path = tmp / "spec.json", tmp / "result.json", tmp / "child.log"
        spec_path.write_text(json.dumps(spec))
        env = _child_env(int(intra_op), int(inter_op), omp, int(seed))
        t_launch = time.time()
        with open(log_path, "wb") as log:
            try:
                proc = subprocess.run(
                    [sys.executable, "-c", _CHILD_CODE, str(spec_path), str(result_path)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                raise CnnError(
                    f"CNN training process timed out after {timeout:g} s "
                    f"(preset {preset}, intra {intra_op}, inter {inter_op})",
                    _tail(log_path),
                ) from None
        if not result_path.is_file():
            raise CnnError(
                f"CNN training process died without a result (exit code {proc.returncode})", _tail(log_path)
            )
        out = json.loads(result_path.read_text())
        if "error" in out:
            raise CnnError(
                f"CNN training process failed: {out['error']}", out.get("traceback", "") or _tail(log_path)
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    genres = list(info["genres"])
    # one probability row per validation sample, in the dataset file's order
    proba = np.asarray(out["val_proba"], dtype=np.float64)
    chunk_acc = float(np.mean(proba.argmax(axis=1) == y_val)) if len(y_val) else float("nan")
    track_proba = vote(proba, g_val, len(val_tracks))
    true_idx = np.zeros(len(val_tracks), dtype=int)
    true_idx[g_val] = y_val
    pred_idx = track_proba.argmax(axis=1)
    from .uncertainty import accuracy_intervals

    cis = accuracy_intervals(proba.argmax(axis=1) == y_val, g_val, pred_idx == true_idx)
    return CnnResult(
        epoch_s=[float(v) for v in out["epoch_s"]],
        train_s=float(out["train_s"]),
        accuracy=float(np.mean(pred_idx == true_idx)),
        intra_op=out["intra_op"],
        inter_op=out["inter_op"],
        omp=out["omp"],
        startup_s=float(out["ready_wall"] - t_launch),
        chunk_accuracy=chunk_acc,
        accuracy_ci=tuple(cis["track_accuracy_ci"]),
        chunk_accuracy_ci=tuple(cis["chunk_accuracy_ci"]),
        import_s=float(out["import_s"]),
        load_s=float(out["load_s"]),
        build_s=float(out["build_s"]),
        predict_s=float(out["predict_s"]),
        wall_s=time.perf_counter() - t_start,
        preset=preset,
        epochs=epochs,
        batch_size=int(batch_size),
        image_size=int(info["image_size"]),
        seed=int(seed),
        n_params=int(out["n_params"]),
        genres=genres,
        val_tracks=list(val_tracks),
        val_true=[genres[i] for i in true_idx],
        val_pred=[genres[i] for i in pred_idx],
        val_proba=track_proba.tolist(),
        n_train_tracks=int(info["n_train_tracks"]),
        n_train_samples=int(info["n_train_samples"]),
        n_val_samples=int(info["n_val_samples"]),
        history=out.get("history", {}),
        requested=requested,
        env=out.get("env", {}),
        threadpools=out.get("threadpools", []),
        deterministic=bool(out.get("deterministic", True)),
        tf_version=out.get("tf_version", ""),
        data_autotune=out.get("data_autotune"),
    )


def train_cnn_on_split(
    tracks,
    train_ids,
    test_ids,
    *,
    preset: str = "quick",
    epochs: int | None = None,
    image_size: int = 64,
    backend: str = "serial",
    workers: int = 1,
    threads: int = 1,
    seed: int = 0,
    timeout: float | None = None,
    progress: bool | None = False,
):
    """The CNN on a given track split: images of the tracks, training in a child, track scores.

    This is how the images path is compared with the feature models on the
    same tracks (``genre-hpc run --cnn``): the training tracks' images train
    the network, the test tracks' images are scored per window and per track
    (soft vote).

    Parameters
    ----------
    tracks : list of genre_hpc.dataset.Track
        The tracks to make images of (only those in ``train_ids``/``test_ids`` are used).
    train_ids, test_ids : sequences of str
        Track ids (``<genre>/<file>``) of the two sides.
    preset, epochs, image_size, seed, timeout
        As in :func:`train_cnn` (default: the ``quick`` network, its 5 epochs, 64x64).
    backend, workers
        How the images are made (:func:`genre_hpc.images.make_images`).
    threads : int
        TensorFlow's intra-op = inter-op = OpenMP threads in the training process.

    Returns
    -------
    (CnnResult, list of genre_hpc.extract.Failure)
        The result, and the tracks whose image could not be made (left out).
    """
    from .images import make_images

    wanted = {str(t) for t in train_ids} | {str(t) for t in test_ids}
    chosen = [t for t in tracks if t.track_id in wanted]
    tmp = Path(tempfile.mkdtemp(prefix="genre-hpc-cnn-split-"))
    try:
        res = make_images(chosen, tmp / "images", backend=backend, workers=workers, progress=progress)
        if not res.paths:
            raise DatasetError(
                "no image could be made: " + "; ".join(f"{f.path}: {f.reason}" for f in res.failures[:3])
            )
        build_dataset(
            tmp / "images", tmp / "dataset.npz", image_size=image_size, seed=seed, split=(train_ids, test_ids)
        )
        result = train_cnn(
            tmp / "dataset.npz",
            intra_op=threads,
            inter_op=threads,
            omp=threads,
            epochs=epochs,
            preset=preset,
            seed=seed,
            timeout=timeout,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result, list(res.failures)
