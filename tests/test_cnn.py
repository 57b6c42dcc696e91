"""The CNN: track split, training arrays, bad images, and real TensorFlow runs in child processes."""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genre_hpc.cnn import CHUNK_FRAMES, CnnError, build_dataset, split_tracks, train_cnn, vote, windows
from genre_hpc.images import ImageFileError, make_images

GENRES = ("blues", "metal", "reggae")
#: the TensorFlow tests need the `tf` extra (found without importing it)
needs_tf = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="tensorflow not installed (pip install genre-hpc[tf])",
)


def _write_tiny(root: Path) -> Path:
    import soundfile as sf

    sr = 22050
    for g, genre in enumerate(GENRES):
        (root / genre).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            rng = np.random.default_rng([g, i])
            t = np.arange(int(3.5 * sr)) / sr
            f0 = 110.0 * 2 ** (g * 7 / 12)
            clicks = (np.sin(2 * np.pi * (1.5 + g) * t) > 0.95).astype(float)
            y = (
                0.2 * np.sin(2 * np.pi * f0 * t)
                + 0.3 * clicks * rng.standard_normal(t.size)
                + 0.01 * rng.standard_normal(t.size)
            )
            sf.write(
                str(root / genre / f"{genre}.0000{i}.wav"), (0.8 * y / np.abs(y).max()).astype(np.float32), sr
            )
    return root


@pytest.fixture(scope="module")
def tiny_images(tmp_path_factory) -> Path:
    audio = _write_tiny(tmp_path_factory.mktemp("cnn-audio"))
    out = tmp_path_factory.mktemp("cnn-images")
    res = make_images(audio, out, progress=False)
    assert len(res.paths) == 6
    return out


def test_import_genre_hpc_does_not_import_tensorflow():
    code = (
        "import sys, genre_hpc, genre_hpc.images, genre_hpc.cnn, genre_hpc.stages.images; "
        "import genre_hpc.stages.cnn; "
        "from genre_hpc.stages import get_stage; get_stage('cnn'); "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; print(bad); "
        "sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_split_is_by_track_stratified_and_fixed():
    ids = [f"{g}/{g}.{i:05d}" for g in ("a", "b", "c") for i in range(10)]
    genres = [t.split("/")[0] for t in ids]
    train, val = split_tracks(ids, genres, val_fraction=0.3, seed=0)
    assert not set(train) & set(val) and sorted(train + val) == sorted(ids)
    assert [sum(t.startswith(g) for t in val) for g in "abc"] == [3, 3, 3]
    assert split_tracks(ids, genres, val_fraction=0.3, seed=0) == (train, val)
    assert split_tracks(ids, genres, val_fraction=0.3, seed=1) != (train, val)
    # two tracks per genre: one each side; one track: training only
    tr, va = split_tracks(["a/1", "a/2", "b/1"], ["a", "a", "b"])
    assert len(va) == 1 and va[0].startswith("a/") and "b/1" in tr


def test_windows_and_vote():
    a = np.zeros((128, 1292), np.float32)
    w = windows(a, CHUNK_FRAMES)
    assert len(w) == 10 and all(x.shape == (128, CHUNK_FRAMES) for x in w)
    assert len(windows(a[:, :100], CHUNK_FRAMES)) == 1 and len(windows(a, None)) == 1
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    np.testing.assert_allclose(vote(proba, np.array([0, 1, 1, 0]), 2), [[0.75, 0.25], [0.25, 0.75]])


def test_training_arrays(tiny_images, tmp_path):
    info = build_dataset(tiny_images, tmp_path / "d.npz", image_size=32, seed=0)
    assert info["genres"] == list(GENRES) and info["n_train_tracks"] == 3 and info["n_val_tracks"] == 3
    with np.load(tmp_path / "d.npz") as z:
        assert z["x_train"].shape == (3, 32, 32, 1) and z["x_val"].shape == (3, 32, 32, 1)
        assert z["x_train"].dtype == np.float32 and abs(float(z["x_train"].mean())) < 1e-4
        assert abs(float(z["x_train"].std()) - 1.0) < 1e-3  # standardised with the training statistics
        assert sorted(z["y_val"].tolist()) == [0, 1, 2]
        assert not set(z["train_tracks"].tolist()) & set(z["val_tracks"].tolist())


def test_training_arrays_on_a_given_split(tiny_images, tmp_path):
    # audio track ids (with the file ending) map onto the image ids; unlisted images are left out
    split = (["blues/blues.00000.wav", "metal/metal.00000.wav"], ["blues/blues.00001.wav", "jazz/x.wav"])
    info = build_dataset(tiny_images, tmp_path / "d.npz", image_size=16, split=split)
    assert info["split"] == "given" and info["split_tracks_without_image"] == 1
    assert info["n_train_tracks"] == 2 and info["n_val_tracks"] == 1
    with np.load(tmp_path / "d.npz") as z:
        assert z["val_tracks"].tolist() == ["blues/blues.00001"]
        assert z["train_tracks"].tolist() == ["blues/blues.00000", "metal/metal.00000"]
    with pytest.raises(ValueError, match="both sides"):
        build_dataset(
            tiny_images, tmp_path / "e.npz", split=(["blues/blues.00000"], ["blues/blues.00000.wav"])
        )


def test_corrupt_image_is_named_before_any_training(tiny_images, tmp_path):
    import shutil

    bad_dir = tmp_path / "imgs"
    shutil.copytree(tiny_images, bad_dir)
    bad = bad_dir / "metal" / "metal.00001.npy"
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(ImageFileError) as err:
        train_cnn(bad_dir, epochs=1, image_size=32)
    assert str(bad) in str(err.value)


def test_bad_arguments():
    with pytest.raises(KeyError, match="preset"):
        train_cnn("/nonexistent", preset="huge")
    with pytest.raises(ValueError, match="intra_op"):
        train_cnn("/nonexistent", intra_op=0)


@needs_tf
def test_both_feeds_have_autotuning_off_and_prediction_keeps_the_order():
    import tensorflow as tf

    from genre_hpc.cnn import input_pipeline, prediction_pipeline

    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    train = input_pipeline(tf, x, np.arange(10), batch_size=4, seed=0)
    pred = prediction_pipeline(tf, x, batch_size=4)
    assert train.options().autotune.enabled is False and pred.options().autotune.enabled is False
    # every window once per epoch, shuffled; the validation windows in order, the last batch kept
    seen = np.concatenate([b[0].numpy().ravel() for b in train])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    assert [b.numpy().ravel().tolist() for b in pred] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@needs_tf
@pytest.mark.slow
def test_quick_cnn_trains_in_a_child_with_the_threads_asked_for(tiny_images):
    res = train_cnn(
        tiny_images,
        intra_op=2,
        inter_op=1,
        omp=1,
        epochs=1,
        image_size=32,
        preset="quick",
        seed=0,
        timeout=600,
    )
    # the settings read back from TensorFlow and the environment of the training process
    assert (res.intra_op, res.inter_op, res.omp) == (2, 1, 1)
    # the training input: a tf.data pipeline with autotuning off (its thread stalled epochs), read back
    assert res.data_autotune is False
    assert res.env == {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "1"}
    assert res.requested == {"intra_op": 2, "inter_op": 1, "omp": 1}
    # timings: one epoch, start-up (process + TF import) apart from training
    assert len(res.epoch_s) == 1 and res.train_s >= res.epoch_s[0] > 0
    assert res.startup_s >= res.import_s > 0 and res.wall_s > res.startup_s
    # predictions: one genre per validation track, from the known genres
    assert res.genres == list(GENRES) and len(res.val_tracks) == 3
    assert sorted(res.val_true) == list(GENRES)
    assert len(res.val_pred) == 3 and set(res.val_pred) <= set(GENRES)
    proba = np.array(res.val_proba)
    assert proba.shape == (3, 3) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    assert 0.0 <= res.accuracy <= 1.0 and res.n_params > 0 and res.tf_version


@needs_tf
@pytest.mark.slow
def test_cnn_stage_cell_reads_back_its_pools(tiny_images, tmp_path):
    from genre_hpc.stages import get_stage

    stage = get_stage("cnn")
    cell = stage.cell(intra_op=1, inter_op=2, omp=1)
    assert stage.backends == ("tensorflow",) and stage.baseline(cell) == stage.cell(1, 1, 1)
    work = stage.prepare(data=_write_tiny(tmp_path / "audio"), epochs=1, image_size=32)
    work = pickle.loads(pickle.dumps(work))  # the asv benchmarks hand the work to other processes
    assert stage.skip(cell) is None and stage.threads(cell) == 2
    run = stage.run(work, **cell)
    assert (run.extra["intra_op"], run.extra["inter_op"], run.extra["omp"]) == (1, 2, 1)
    assert run.extra["data_autotune"] is False  # the training input's tf.data autotuning, recorded
    # one epoch: its time is the first epoch's, and there is no steady epoch to average
    assert run.extra["first_epoch_s"] > 0 and run.extra["epoch_s"] is None
    assert run.compute_s > 0 and run.startup_s > 0
    # track-level accuracy: the share of validation tracks whose genre (the id's folder) was predicted
    truth = [t.split("/")[0] for t in run.output["val_tracks"]]
    assert sorted(truth) == list(GENRES) and len(run.output["val_pred"]) == 3
    accuracy = np.mean([p == t for p, t in zip(run.output["val_pred"], truth)])
    assert run.extra["accuracy"] == run.output["accuracy"] == accuracy
    # a second real run of the same cell is the same training; a moved loss is not
    again = stage.run(work, **cell)
    assert again.output["val_tracks"] == run.output["val_tracks"]
    assert stage.same(run.output, again.output) and stage.same(again.output, run.output)
    other = dict(run.output, loss=tuple(v * 1.05 for v in run.output["loss"]))
    assert not stage.same(run.output, other)


@needs_tf
def test_seed_model_is_the_studys_network():
    """2.68 M parameters at 64x64 with ten genres, as the study's 2.7 M (counted in a child process)."""
    code = (
        "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; from genre_hpc.cnn import build_model; "
        "m = build_model('seed', (64, 64, 1), 10); "
        "print(m.count_params(), sum(l.__class__.__name__ == 'Conv2D' for l in m.layers))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    params, convs = map(int, proc.stdout.split()[-2:])
    assert convs == 6 and params == 2_679_050


def test_not_a_dataset_and_a_timeout_are_reported(tiny_images, tmp_path):
    bad = tmp_path / "not-a-dataset.npz"
    bad.write_bytes(b"nope")
    with pytest.raises(ImageFileError, match="not-a-dataset.npz"):
        train_cnn(bad, epochs=1)
    build_dataset(tiny_images, tmp_path / "d.npz", image_size=16)
    with pytest.raises(CnnError, match="timed out"):
        train_cnn(tmp_path / "d.npz", epochs=1, timeout=0.3)  # still importing TensorFlow: killed
