"""Mel-spectrogram images: values, files, determinism across backends, failures as data, bad image files."""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import tone_track

from genre_hpc.images import (
    MANIFEST,
    TOP_DB,
    ImageFileError,
    ImageTask,
    colormap_lut,
    image_paths,
    image_track,
    load_image,
    log_mel,
    make_images,
    to_levels,
)

SR = 22050
GENRES = ("blues", "metal", "reggae")
SECONDS = 3.5
#: 1 + samples // hop (centred frames)
FRAMES = 1 + int(SECONDS * SR) // 512
#: a second backend to compare with serial, first registered one wins
OTHER_BACKENDS = ("pool-map", "joblib-loky", "dask-processes", "pool-map-async", "process")


def write_tiny(root: Path) -> Path:
    import soundfile as sf

    for g, genre in enumerate(GENRES):
        (root / genre).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            sf.write(str(root / genre / f"{genre}.0000{i}.wav"), tone_track(3 * g + i, SECONDS, seed=i), SR)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("images-audio"))


@pytest.fixture(scope="module")
def serial_images(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("images-serial")
    return make_images(tiny, out, progress=False)


def test_log_mel_is_librosas_mel_spectrogram_in_db():
    import librosa

    y = tone_track(4, seconds=5.0)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y, sr=SR, n_fft=2048, hop_length=512, n_mels=128),
        ref=np.max,
        top_db=TOP_DB,
    )
    db = log_mel(y)
    assert db.dtype == np.float32 and db.shape == ref.shape == (128, 1 + len(y) // 512)
    np.testing.assert_allclose(db, ref, atol=1e-3)
    assert db.max() == 0.0 and db.min() >= -TOP_DB


def test_serial_images_files_shapes_and_png(serial_images, tiny):
    res = serial_images
    assert res.failures == [] and len(res.paths) == len(res.png_paths) == 6
    out = Path(res.out)
    for genre in GENRES:
        for i in range(2):
            npy, png = out / genre / f"{genre}.0000{i}.npy", out / genre / f"{genre}.0000{i}.png"
            assert str(npy) in res.paths and str(png) in res.png_paths
            a = load_image(npy)
            assert a.dtype == np.float32 and a.shape == (128, FRAMES)
            rgb = load_image(png)
            assert rgb.dtype == np.uint8 and rgb.shape == (128, FRAMES, 3)
            # the PNG is the array through the fixed dB range and the colormap, high bands on top
            np.testing.assert_array_equal(rgb, colormap_lut()[to_levels(a)])
            np.testing.assert_array_equal(rgb[-1], colormap_lut()[to_levels(a)[-1]])
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["n_mels"] == 128 and manifest["tracks"] == 6 and manifest["image_size"] is None
    assert not list(out.rglob(".*")), "no temporary files left behind"


def test_images_are_deterministic(serial_images, tiny, tmp_path):
    again = make_images(tiny, tmp_path, progress=False)
    assert again.digests == serial_images.digests
    for a, b in zip(serial_images.png_paths, again.png_paths):
        assert Path(a).read_bytes() == Path(b).read_bytes()


def test_two_backends_make_identical_images(serial_images, tiny, tmp_path):
    from genre_hpc.backends import REGISTRY
    from genre_hpc.images import warm_up

    other = next((b for b in OTHER_BACKENDS if b in REGISTRY), None)
    if other is None:
        pytest.skip(f"none of {OTHER_BACKENDS} is registered yet")
    res = make_images(
        tiny, tmp_path, backend=other, workers=2, backend_options={"warmup": warm_up()}, progress=False
    )
    assert res.failures == []
    assert res.digests == serial_images.digests
    for a in serial_images.paths:
        rel = Path(a).relative_to(serial_images.out)
        np.testing.assert_array_equal(np.load(a), np.load(tmp_path / rel))


def test_image_track_pickles_into_a_spawned_process(serial_images, tiny, tmp_path):
    from genre_hpc.dataset import discover

    tasks = [ImageTask(t, str(tmp_path)) for t in discover(tiny)[:2]]
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as ex:
        results = list(ex.map(image_track, tasks))
    for r in results:
        assert r.failure is None and r.digest == serial_images.digests[r.track.track_id]


def test_bad_audio_is_a_failure_named_by_path_and_others_are_made(tiny, tmp_path):
    import soundfile as sf

    data = tmp_path / "audio"
    shutil.copytree(tiny, data)
    corrupt = data / "metal" / "metal.00009.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 3)
    short = data / "reggae" / "reggae.00009.wav"
    sf.write(str(short), tone_track(1, seconds=1.0), SR)
    out = tmp_path / "img"
    stale = out / "metal" / "metal.00009.npy"
    stale.parent.mkdir(parents=True)
    np.save(stale, np.zeros((2, 2), np.float32))  # an image from an older run of a now-broken file

    res = make_images(data, out, progress=False)
    assert len(res.paths) == 6 and all(Path(p).is_file() for p in res.paths)
    by_path = {f.path: f for f in res.failures}
    assert set(by_path) == {str(corrupt), str(short)}
    assert by_path[str(corrupt)].kind == "unreadable"
    assert by_path[str(short)].kind == "too-short" and "shorter" in by_path[str(short)].reason
    assert by_path[str(corrupt)].track_id == "metal/metal.00009.wav"
    assert not stale.exists(), "a stale image of a failed track must not survive"


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("garbage.png", b"\x89PNG\r\n\x1a\n this is not a png", "not a readable image"),
        ("garbage.npy", b"\x93NUMPY garbage", "not a readable .npy"),
        ("empty.npy", b"", "empty file"),
    ],
)
def test_bad_image_file_gets_an_error_naming_it(tmp_path, name, content, words):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ImageFileError) as err:
        load_image(p)
    assert str(p) in str(err.value) and words in str(err.value) and err.value.path == str(p)


def test_truncated_and_wrong_arrays_are_named(tmp_path, serial_images):
    good = Path(serial_images.paths[0])
    cut = tmp_path / "cut.npy"
    cut.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(ImageFileError, match="cut.npy"):
        load_image(cut)
    cube = tmp_path / "cube.npy"
    np.save(cube, np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ImageFileError, match="2-D float"):
        load_image(cube)
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((4, 4), np.nan, np.float32))
    with pytest.raises(ImageFileError, match="NaN"):
        load_image(nan)
    png = Path(serial_images.png_paths[0])
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(png.read_bytes()[: len(png.read_bytes()) // 2])
    with pytest.raises(ImageFileError, match="trunc.png"):
        load_image(trunc)
    with pytest.raises(ImageFileError, match="no such file"):
        load_image(tmp_path / "missing.npy")


def test_square_thumbnails(tiny, tmp_path):
    res = make_images(tiny, tmp_path, image_size=32, png=True, progress=False)
    assert load_image(res.paths[0]).shape == (32, 32)
    assert load_image(res.png_paths[0]).shape == (32, 32, 3)
    assert json.loads((tmp_path / MANIFEST).read_text())["image_size"] == 32


def test_images_stage_same_output_and_weak_scaling(tiny):
    from genre_hpc.stages import get_stage

    stage = get_stage("images")
    assert "serial" in stage.backends
    work = pickle.loads(pickle.dumps(stage.prepare(data=tiny)))
    a = stage.run(work, "serial", 1)
    b = stage.run(work, "serial", 1)
    assert a.compute_s > 0 and a.extra["tracks"] == 6 and a.extra["failed"] == 0
    assert stage.same(a.output, b.output) and len(a.output[0]) == 6
    doubled = stage.run(stage.scaled(work, 2), "serial", 1)
    assert stage.same(doubled.output, stage.scaled_output(a.output, 2))
    assert not stage.same(a.output, doubled.output)


def test_track_names_map_to_files(tiny):
    from genre_hpc.dataset import discover

    t = discover(tiny)[0]
    npy, png = image_paths(t, "/x")
    assert npy == Path("/x/blues/blues.00000.npy") and png == Path("/x/blues/blues.00000.png")


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"n_mels": 0}, "n_mels must be >= 1"),
        ({"image_size": 0}, "image_size must be >= 1"),
        ({"image_size": -5}, "image_size must be >= 1"),
    ],
)
def test_impossible_image_settings_are_refused_up_front(tiny, tmp_path, kw, words):
    # they failed every track with numpy's or PIL's words (0 silently meant the native size)
    with pytest.raises(ValueError, match=words):
        make_images(tiny, tmp_path / "img", **kw)
    assert not (tmp_path / "img").exists()
