"""The embedded synthetic GTZAN dataset (genre_hpc.synth): determinism, layout, format, caching."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from genre_hpc import synth
from genre_hpc.audio import load_chunks
from genre_hpc.dataset import GTZAN_GENRES, discover

SECONDS = 3.5
SR = 22050

#: the generator version the digests below were recorded with (main 46c1757, before the split into a
#: package, which kept every byte); numpy 2.4 / scipy 1.17 on x86-64 (AVX2)
PINNED_VERSION = "1"

#: synthesize_track(genre, 0, seconds=SECONDS, seed=0): SHA-256 of the float32 samples, RMS and peak
PINNED_TRACKS = {
    "blues": ("2f82ffcc2491756cb0a5a628cb685b36b70f2bc4ee0408f2d377b00c87c87c8a", 0.2409896, 0.8293071),
    "classical": ("db9df321f17c14102312f01f09059a741c6877484a4aeae3ead9d499cfcb4bf9", 0.2515623, 0.8499692),
    "country": ("8b19bb42aa58f83cd4decbc82abdb33c64dab3e683bf8216fa2070f3a932f44c", 0.2677532, 0.6788247),
    "disco": ("5210707c3f63d3cbd42dfe2b2dec8eef620bdb696e2230fb17efe81ffad5c664", 0.3088894, 0.5540054),
    "hiphop": ("8fd83643c481f0df251d00a8720a5da1c1d89e594cf7cda80757688f36f1badd", 0.3471564, 0.6740949),
    "jazz": ("42e32da8e1437afaeaab8b798913a19f4c163d130774dcb4db8b56f6260cf4af", 0.1723733, 0.5286909),
    "metal": ("710df4f54ef73fa5e64e94503f815604fc72cd36e7d6aa7dc9530a66d809753f", 0.4668028, 0.664874),
    "pop": ("989190f74ceb2c73e7e99e536b30354f29b1abbb11f7a6f6c097464e32240216", 0.4637109, 0.7871104),
    "reggae": ("42284865d563ab8fa3b422c986f08e921cde2633e68007829e2bf4467f56e1c2", 0.2196851, 0.7270021),
    "rock": ("a715330afd1bfaa59f784ba40186279fec04497e0f99ab483322a56671d2e21d", 0.2350596, 0.5537702),
}

#: SHA-256 of files of write_dataset(out, per_genre=2, seconds=SECONDS, seed=0)
PINNED_FILES = {
    "jazz/jazz.00001.wav": "de6517b9b16ea9da5ac5f8948e0aff04de701c79c2f18d230f54fb980d025a2d",
    "synth.json": "65535d89996be7a99ab270d8d09a1041cb623e9ea8b1964f0983d52976e1e566",
}

BUMP = (
    "the synthetic sound changed: if that is intended, bump genre_hpc.synth.VERSION (it renames the cached "
    "dataset) and re-pin PINNED_VERSION and the digests in tests/test_synth.py; if not, a refactor changed "
    "the random draws or the arithmetic"
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    paths = synth.write_dataset(out, per_genre=2, seconds=SECONDS, seed=0)
    return out, paths


@pytest.fixture(scope="module")
def tracks():
    """One short track per genre."""
    return {g: synth.synthesize_track(g, 0, seconds=SECONDS) for g in synth.GENRES}


def test_genres_are_gtzans():
    assert synth.GENRES == tuple(GTZAN_GENRES)
    assert list(synth.TEMPO_RANGES) == list(synth.GENRES)
    assert all(0 < lo < hi for lo, hi in synth.TEMPO_RANGES.values())


def test_one_arranger_module_per_genre():
    from genre_hpc.synth.genres import GENRE_MODULES, arranger

    assert tuple(GENRE_MODULES) == synth.GENRES
    for g, module in GENRE_MODULES.items():
        assert module.__name__ == f"genre_hpc.synth.genres.{g}"
        assert arranger(g) is module.arrange
        assert synth.TEMPO_RANGES[g] == module.TEMPO_RANGE
    with pytest.raises(ValueError, match="unknown genre 'polka'"):
        arranger("polka")


def test_public_names():
    import genre_hpc

    # the names other modules, benchmarks and docs import from genre_hpc.synth
    from genre_hpc.synth import (  # noqa: F401
        GENRES,
        MANIFEST,
        SAMPLE_RATE,
        TEMPO_RANGES,
        VERSION,
        default_dataset,
        synthesize_track,
        track_name,
        track_tempo,
        write_dataset,
    )

    assert (SAMPLE_RATE, MANIFEST) == (22050, "synth.json")
    assert sorted(synth.__all__) == sorted(
        ["GENRES", "VERSION", "SAMPLE_RATE", "TEMPO_RANGES", "MANIFEST"]
        + ["synthesize_track", "write_dataset", "default_dataset", "track_name", "track_tempo"]
    )
    assert genre_hpc.synthesize_track is synthesize_track
    assert genre_hpc.write_dataset is write_dataset and genre_hpc.default_dataset is default_dataset


def test_version_is_the_pinned_one():
    # the digests below are of this version: a bump must come with new digests (and the other way round)
    assert synth.VERSION == PINNED_VERSION, BUMP


def test_tracks_are_bit_identical_to_the_pinned_digests(tracks):
    got = {g: hashlib.sha256(y.tobytes()).hexdigest() for g, y in tracks.items()}
    assert got == {g: pinned[0] for g, pinned in PINNED_TRACKS.items()}, BUMP


def test_track_levels_match_the_pinned_ones(tracks):
    # coarser than the digests (floating-point noise of another CPU's math library passes, a change of the
    # music does not): tells a platform difference from a changed generator when the digests differ
    for g, y in tracks.items():
        x = y.astype(np.float64)
        rms, peak = float(np.sqrt(np.mean(x * x))), float(np.max(np.abs(x)))
        assert (rms, peak) == pytest.approx(PINNED_TRACKS[g][1:], rel=1e-5), (g, BUMP)


def test_written_files_are_bit_identical_to_the_pinned_digests(dataset):
    out, _ = dataset
    got = {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in PINNED_FILES}
    assert got == PINNED_FILES, BUMP


def test_track_shape_dtype_range(tracks):
    for g, y in tracks.items():
        assert y.dtype == np.float32 and y.ndim == 1, g
        assert len(y) == round(SECONDS * SR), g
        assert np.all(np.isfinite(y)), g
        assert np.max(np.abs(y)) <= 1.0, g
        assert np.max(np.abs(y)) > 0.3, g  # peak between -6 and -0.5 dBFS
        assert np.sqrt(np.mean(y.astype(np.float64) ** 2)) > 0.02, f"{g} is (nearly) silent"


def test_track_is_deterministic(tracks):
    for g in ("blues", "classical", "metal"):
        again = synth.synthesize_track(g, 0, seconds=SECONDS)
        assert np.array_equal(again, tracks[g]), g


def test_track_depends_only_on_seed_genre_index():
    # rendering other tracks first (any order) does not change a track
    a = synth.synthesize_track("jazz", 1, seconds=2.0, seed=3)
    synth.synthesize_track("rock", 0, seconds=2.0, seed=3)
    synth.synthesize_track("jazz", 0, seconds=2.0, seed=5)
    b = synth.synthesize_track("jazz", 1, seconds=2.0, seed=3)
    assert np.array_equal(a, b)


def test_seed_and_index_change_the_track():
    a = synth.synthesize_track("pop", 0, seconds=2.0, seed=0)
    assert not np.array_equal(a, synth.synthesize_track("pop", 0, seconds=2.0, seed=1))
    assert not np.array_equal(a, synth.synthesize_track("pop", 1, seconds=2.0, seed=0))


def test_every_genre_differs(tracks):
    genres = list(tracks)
    for i, g in enumerate(genres):
        for h in genres[i + 1 :]:
            assert not np.array_equal(tracks[g], tracks[h]), (g, h)
    # and not just by a detail: their long-term spectra differ
    spectra = {}
    for g, y in tracks.items():
        s = np.abs(np.fft.rfft(y[:65536].astype(np.float64)))
        s = s[:32768].reshape(64, 512).mean(axis=1)  # 64 bands of ~170 Hz
        spectra[g] = s / np.linalg.norm(s)
    for i, g in enumerate(genres):
        for h in genres[i + 1 :]:
            assert float(spectra[g] @ spectra[h]) < 0.999, (g, h)


def test_drums_or_not():
    # classical has no drums, so its onsets are much less "peaky" than metal's or disco's
    def crest(y):
        frames = y[: len(y) // 256 * 256].reshape(-1, 256).astype(np.float64)
        hf = np.abs(np.diff(frames, axis=1)).mean(axis=1)  # high-passed energy per frame
        return float(np.percentile(hf, 95) / (np.median(hf) + 1e-9))

    c = {g: crest(synth.synthesize_track(g, 0, seconds=6.0)) for g in ("classical", "disco", "reggae")}
    assert c["classical"] < min(c["disco"], c["reggae"]), c


def test_tempo_in_range():
    for g in synth.GENRES:
        lo, hi = synth.TEMPO_RANGES[g]
        tempos = [synth.track_tempo(g, i) for i in range(5)]
        assert all(lo <= t <= hi for t in tempos), g
        assert len(set(tempos)) == 5
    assert synth.track_tempo("rock", 0, seed=1) != synth.track_tempo("rock", 0, seed=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown genre"):
        synth.synthesize_track("polka", 0)
    with pytest.raises(ValueError):
        synth.synthesize_track("rock", -1)
    with pytest.raises(ValueError):
        synth.synthesize_track("rock", 0, seed=-1)
    with pytest.raises(ValueError):
        synth.synthesize_track("rock", 0, seconds=0)
    with pytest.raises(ValueError):
        synth.write_dataset("/nonexistent-never-created", per_genre=0)


def test_layout_and_names(dataset):
    out, paths = dataset
    assert len(paths) == 20
    expected = [out / g / f"{g}.{i:05d}.wav" for g in synth.GENRES for i in range(2)]
    assert paths == expected
    assert (out / "blues" / "blues.00000.wav").is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted(list(synth.GENRES) + [synth.MANIFEST])
    for g in synth.GENRES:
        assert sorted(p.name for p in (out / g).iterdir()) == [
            f"{g}.00000.wav",
            f"{g}.00001.wav",
        ]  # no temp files
    tracks = discover(out)
    assert [t.track_id for t in tracks] == [f"{g}/{g}.{i:05d}.wav" for g in synth.GENRES for i in range(2)]
    assert [t.genre for t in tracks] == [g for g in synth.GENRES for _ in range(2)]


def test_file_format(dataset):
    _, paths = dataset
    for p in paths:
        info = sf.info(str(p))
        assert info.samplerate == SR
        assert info.channels == 1
        assert info.subtype == "PCM_16"
        assert info.format == "WAV"
        assert info.frames == round(SECONDS * SR)
        assert abs(info.duration - SECONDS) < 1e-3


def test_files_hold_the_tracks_and_do_not_clip(dataset, tracks):
    _, paths = dataset
    for p in paths:
        y, sr = sf.read(str(p), dtype="float32")
        assert sr == SR
        assert np.max(np.abs(y)) < 0.999, p  # peak at most -0.5 dBFS: no clipped samples
        assert np.sqrt(np.mean(y.astype(np.float64) ** 2)) > 0.02, p
        genre = p.parent.name
        if p.name.endswith(".00000.wav"):
            np.testing.assert_allclose(y, tracks[genre], atol=1.0 / 32767 + 1e-6)


def test_files_load_through_the_pipeline(dataset):
    _, paths = dataset
    chunks = load_chunks(paths[0])
    assert len(chunks) == 1 and chunks[0][0] == 0 and len(chunks[0][1]) > SR


def test_manifest(dataset):
    out, paths = dataset
    m = json.loads((out / synth.MANIFEST).read_text())
    assert m["version"] == synth.VERSION
    assert (m["per_genre"], m["seconds"], m["seed"], m["sr"]) == (2, SECONDS, 0, SR)
    assert m["genres"] == list(synth.GENRES)
    assert m["files"] == [p.relative_to(out).as_posix() for p in paths]


def test_same_seed_same_bytes(tmp_path, dataset):
    out, _ = dataset
    again = synth.write_dataset(tmp_path / "again", per_genre=1, seconds=SECONDS, seed=0)
    for p in again:
        assert p.read_bytes() == (out / p.parent.name / p.name).read_bytes(), p
    other = synth.write_dataset(tmp_path / "other", per_genre=1, seconds=SECONDS, seed=1)
    assert all(p.read_bytes() != (out / p.parent.name / p.name).read_bytes() for p in other)


def test_progress_callback(tmp_path):
    calls = []
    synth.write_dataset(tmp_path, per_genre=1, seconds=1.0, progress=calls.append)
    assert calls == [1] * len(synth.GENRES)


def test_default_dataset_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_HPC_CACHE", str(tmp_path / "cache"))
    written = []
    real = synth.write_dataset

    def spy(*args, **kwargs):
        written.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(synth.dataset, "write_dataset", spy)  # the module default_dataset calls it from
    folder = synth.default_dataset(per_genre=1, seconds=1.0, seed=0)
    assert folder == tmp_path / "cache" / "synth" / f"gtzan-synth-v{synth.VERSION}-n1-s1-seed0"
    assert len(written) == 1
    assert len(discover(folder)) == len(synth.GENRES)
    stamp = (folder / "rock" / "rock.00000.wav").stat().st_mtime_ns

    assert synth.default_dataset(per_genre=1, seconds=1.0, seed=0) == folder  # reused
    assert len(written) == 1
    assert (folder / "rock" / "rock.00000.wav").stat().st_mtime_ns == stamp

    other = synth.default_dataset(per_genre=1, seconds=1.0, seed=1)  # other parameters, other folder
    assert other != folder and len(written) == 2

    (folder / "jazz" / "jazz.00000.wav").unlink()  # incomplete: regenerated
    assert synth.default_dataset(per_genre=1, seconds=1.0, seed=0) == folder
    assert len(written) == 3 and (folder / "jazz" / "jazz.00000.wav").is_file()

    (folder / synth.MANIFEST).unlink()  # no manifest: regenerated
    synth.default_dataset(per_genre=1, seconds=1.0, seed=0)
    assert len(written) == 4 and (folder / synth.MANIFEST).is_file()

    # VERSION keys the cache: another generator version never reuses this folder, nor a folder whose
    # manifest names another version
    monkeypatch.setattr(synth.dataset, "VERSION", "bumped")
    bumped = synth.default_dataset(per_genre=1, seconds=1.0, seed=0)
    assert bumped == folder.with_name("gtzan-synth-vbumped-n1-s1-seed0") and len(written) == 5
    assert json.loads((bumped / synth.MANIFEST).read_text())["version"] == "bumped"
    shutil.rmtree(bumped)
    shutil.copytree(folder, bumped)  # right name, old manifest: regenerated
    synth.default_dataset(per_genre=1, seconds=1.0, seed=0)
    assert len(written) == 6 and json.loads((bumped / synth.MANIFEST).read_text())["version"] == "bumped"
