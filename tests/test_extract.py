"""Reference features against direct librosa, the table, failures as data, strict mode, the cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import tone_track, write_wav
from test_dataset_audio import make_bad_file

from genre_hpc.extract import ExtractionFailed, TableError, extract_features, read_table, write_table
from genre_hpc.features import ID_COLUMNS, STUDY_87, get_extractor


def librosa_direct(y, sr=22050):
    """The 87 features computed straight from librosa, sharing one STFT (a different route
    from the extractor's, which recomputes each from ``y``)."""
    import librosa

    D = librosa.stft(y, n_fft=2048, hop_length=512)
    S = np.abs(D)
    P = S**2
    out = {
        "zero_crossing_rate_mean": np.mean(
            librosa.feature.zero_crossing_rate(y, frame_length=2048, hop_length=512)
        ),
        "zero_crossings_mean": int(np.count_nonzero(librosa.zero_crossings(y, pad=False))),
        "spectrogram_mean": np.mean(librosa.amplitude_to_db(S, ref=np.max)[0]),
    }
    mel = librosa.feature.melspectrogram(S=P, sr=sr)
    out["mel_spectrogram_mean"] = np.mean(librosa.amplitude_to_db(mel, ref=np.max)[0])
    h, p = librosa.decompose.hpss(D)
    out["harmonics_mean"] = np.mean(librosa.istft(h, length=len(y)))
    out["perceptual_shock_wave_mean"] = np.mean(librosa.istft(p, length=len(y)))
    c = librosa.feature.spectral_centroid(S=S, sr=sr)[0]
    out["spectral_centroids_mean"] = c.mean()
    out["spectral_centroids_delta_mean"] = librosa.feature.delta(c, width=9, order=1).mean()
    out["spectral_centroids_accelerate_mean"] = librosa.feature.delta(c, width=9, order=2).mean()
    chroma = librosa.feature.chroma_stft(S=P, sr=sr)
    for i in range(12):
        out[f"chroma{i + 1}_mean"] = chroma[i].mean()
    onset_env = librosa.onset.onset_strength(y=y, sr=sr)
    out["tempo_bpm"] = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset_env, sr=sr))[0])
    out["spectral_rolloff_mean"] = librosa.feature.spectral_rolloff(S=S, sr=sr).mean()
    out["spectral_flux_mean"] = onset_env.mean()
    for q in (2, 3, 4):
        out[f"spectral_bandwidth_{q}_mean"] = librosa.feature.spectral_bandwidth(S=S, sr=sr, p=q).mean()
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20)
    for i in range(20):
        out[f"mfcc{i}_mean"] = mfcc[i].mean()
        out[f"mfcc_delta_{i}_mean"] = librosa.feature.delta(mfcc[i]).mean()
        out[f"mfcc_accelerate_{i}_mean"] = librosa.feature.delta(mfcc[i], order=2).mean()
    return out


@pytest.mark.parametrize("kind,seconds", [(0, 3.0), (4, 2.2)])
def test_reference_equals_direct_librosa(kind, seconds):
    y = tone_track(kind, seconds=seconds)
    got = get_extractor("reference").extract_chunk(y)
    want = librosa_direct(y)
    assert list(got) == list(STUDY_87.columns)
    assert set(want) == set(got)
    for name in STUDY_87.columns:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-7, err_msg=name)


def test_table_columns_rows_and_parquet(tiny_dataset, tmp_path):
    res = extract_features(tiny_dataset, cache=False, progress=False)
    t = res.table
    assert list(t.columns) == list(ID_COLUMNS) + list(STUDY_87.columns)
    assert len(t) == 6 and res.n_tracks == 6 and not res.failures  # 3.5 s tracks -> one 3 s chunk each
    assert t["genre"].tolist() == ["blues"] * 2 + ["metal"] * 2 + ["reggae"] * 2
    assert t["track_id"].is_unique and (t["chunk"] == 0).all()
    out = write_table(t, tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(read_table(out), t)
    write_table(t, tmp_path / "f.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv", "f.parquet"]  # no temp files left
    # a CSV keeps the text of genre folders that pandas reads as numbers or missing ("01", "NA"),
    # and a missing feature value is still missing
    odd = t.assign(
        genre=["01", "01", "NA", "NA", "nan", "1e3"], track_id=["01/a", "01/b", "NA/c", "NA/d", "n", "e"]
    )
    odd.loc[0, STUDY_87.columns[0]] = np.nan
    back = read_table(write_table(odd, tmp_path / "odd.csv"))
    assert back["genre"].tolist() == ["01", "01", "NA", "NA", "nan", "1e3"]
    assert back["track_id"].tolist() == odd["track_id"].tolist() and back["chunk"].tolist() == [0] * 6
    assert back[STUDY_87.columns[0]].isna().tolist() == [True] + [False] * 5
    np.testing.assert_allclose(
        back[list(STUDY_87.columns)].to_numpy(), odd[list(STUDY_87.columns)].to_numpy()
    )
    # other tools' spellings of a missing feature value are still missing (pandas' own list)
    csv = (tmp_path / "odd.csv").read_text().splitlines()
    header = csv[0].split(",")
    first = STUDY_87.columns[0]
    cells = csv[2].split(",")
    cells[header.index(first)] = "#N/A"
    (tmp_path / "na.csv").write_text("\n".join([csv[0], ",".join(cells), *csv[3:]]) + "\n")
    assert read_table(tmp_path / "na.csv")[first].isna().tolist() == [True] + [False] * 4
    # a row without its genre is no feature table
    cells[header.index("genre")] = ""
    (tmp_path / "blank.csv").write_text("\n".join([csv[0], ",".join(cells), *csv[3:]]) + "\n")
    with pytest.raises(TableError, match="blank.csv: not a feature table: empty genre cell"):
        read_table(tmp_path / "blank.csv")


def test_failures_are_data_and_others_keep_their_rows(tiny_dataset, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root)
    kinds = ["corrupt", "truncated", "empty", "nonaudio", "short", "silent", "nan"]
    for k in kinds:
        make_bad_file(root / "metal" / f"bad-{k}.wav", k)
    res = extract_features(root, cache=False, progress=False)
    assert len(res.table) == 6  # every good track still has its row
    assert sorted(f.path.rsplit("bad-", 1)[1][:-4] for f in res.failures) == sorted(kinds)
    assert all(f.reason for f in res.failures)
    with pytest.raises(ExtractionFailed, match="7 track"):
        extract_features(root, cache=False, progress=False, strict=True)


def test_cache_hit_on_rerun(tiny_dataset, tmp_path):
    first = extract_features(tiny_dataset, cache_dir=tmp_path, progress=False)
    assert first.cache_hits == 0
    second = extract_features(tiny_dataset, cache_dir=tmp_path, progress=False)
    assert second.cache_hits == 6
    pd.testing.assert_frame_equal(first.table, second.table)
    # a backend that cannot be made fails with every track cached too (it was echoed as used)
    for kw, error in (
        ({"backend": "pool-mapp", "workers": 2}, KeyError),
        ({"backend": "pool-map", "workers": 0}, ValueError),
        ({"backend": "serial", "workers": 2}, ValueError),
        ({"backend": "pool-map", "backend_options": {"bogus": 1}}, TypeError),
    ):
        with pytest.raises(error):
            extract_features(tiny_dataset, cache_dir=tmp_path, progress=False, **kw)
    # a changed file is recomputed (the key is the content), the others still hit
    p = tiny_dataset / "blues" / "blues.00000.wav"
    original = p.read_bytes()
    try:
        write_wav(p, tone_track(9))
        third = extract_features(tiny_dataset, cache_dir=tmp_path, progress=False)
        assert third.cache_hits == 5
    finally:
        p.write_bytes(original)


def test_unknown_extractor():
    with pytest.raises(KeyError, match="unknown extractor"):
        get_extractor("nope")
