"""Protocols and intervals through the `genre-hpc` command, on tiny clips with GTZAN file names.

The clips come from the synthetic generator, named and laid out as GTZAN's
``<genre>/<genre>.000NN.wav`` so the packaged fault-filtered lists know them:
per genre one track of the valid list, two of the train list and two of the
test list, plus one track in no list.
"""

from __future__ import annotations

import importlib.util

import pytest
from test_cli import cli, last_json

#: per genre: (valid, train, train, test, test) indexes of the fault-filtered lists
LAYOUT = {
    "blues": {"valid": [0], "train": [29, 30], "test": [12, 13]},
    "metal": {"valid": [0], "train": [2, 3], "test": [12, 13]},
    "reggae": {"valid": [61], "train": [0, 1], "test": [34, 35]},
}
UNLISTED = "reggae/reggae.00003.wav"  # in none of the three lists
MODELS = "svm,xgboost"  # KNN's 19 neighbours need more training chunks than these clips have
needs_tf = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None, reason="tensorflow not installed (genre-hpc[tf])"
)


def _name(genre: str, index: int) -> str:
    return f"{genre}/{genre}.{index:05d}.wav"


@pytest.fixture(scope="module")
def gtzan_named(tmp_path_factory):
    import soundfile as sf

    from genre_hpc import synthesize_track

    root = tmp_path_factory.mktemp("gtzan-named")
    names = [_name(g, i) for g, roles in LAYOUT.items() for idx in roles.values() for i in idx] + [UNLISTED]
    for name in names:
        genre, file = name.split("/")
        index = int(file.split(".")[1])
        (root / genre).mkdir(exist_ok=True)
        sf.write(str(root / name), synthesize_track(genre, index, seconds=3.5, seed=0), 22050)
    return root


@pytest.fixture(scope="module")
def table(gtzan_named, tmp_path_factory):
    out = tmp_path_factory.mktemp("table") / "features.parquet"
    cli("extract", "--data", gtzan_named, "--out", out, "--no-progress")
    return out


def _expected(role):
    return sorted(_name(g, i) for g, roles in LAYOUT.items() for i in roles[role])


def _check_models(models):
    assert models
    for m in models:
        assert {"name", "chunk_accuracy", "track_accuracy", "fit_s", "predict_s"} <= set(m)
        for key in ("chunk_accuracy", "track_accuracy"):
            ci = m[f"{key}_ci"]
            assert isinstance(ci, list) and len(ci) == 2, (key, ci)
            assert 0.0 <= ci[0] <= m[key] <= ci[1] <= 1.0, (m["name"], key, m[key], ci)


def test_run_split_gtzan_filtered_picks_the_listed_tracks(gtzan_named):
    proc = cli(
        "run",
        "--data",
        gtzan_named,
        "--split",
        "gtzan-filtered",
        "--models",
        MODELS,
        "--json",
        "--no-progress",
    )
    result = last_json(proc.stdout)
    _check_models(result["models"])
    proto = result["protocol"]
    assert proto["protocol"] == "split-file" and proto["split_file"] == "gtzan-filtered"
    assert proto["matched"] == {"train": 6, "valid": 3, "test": 6}
    assert proto["unlisted_tracks"] == 1 and proto["missing_entries"] == 930 - 15
    assert proto["valid_use"].startswith("merged into train")
    assert proto["train_tracks"] == 9 and proto["test_tracks"] == 6
    assert all(m["test_tracks"] == 6 for m in result["models"])
    assert result["intervals"]["confidence"] == 0.95 and result["split"] == "gtzan-filtered"
    # and for the person: what was left out, and a value printed with its interval
    assert UNLISTED in proc.stderr and "merged into train" in proc.stderr
    assert "915 list entries not in the data" in proc.stderr
    assert "[95 % CI]" in proc.stderr


def test_gtzan_filtered_on_other_names_fails_clearly(tmp_path, gtzan_named):
    import shutil

    for i, name in enumerate(_expected("train")[:2] + _expected("test")[:2]):
        dst = tmp_path / name.split("/")[0] / f"song{i}.wav"
        dst.parent.mkdir(exist_ok=True)
        shutil.copy(gtzan_named / name, dst)
    proc = cli("run", "--data", tmp_path, "--split", "gtzan-filtered", "--no-progress", check=False)
    assert proc.returncode == 2
    assert "no track of the data is in train_filtered.txt" in proc.stderr and "song0.wav" in proc.stderr
    assert "extracted" not in proc.stderr  # refused before any extraction


def test_train_split_file_reports_missing_and_refuses_overlap(table, tmp_path):
    d = tmp_path / "lists"
    d.mkdir()
    (d / "train.txt").write_text("\n".join(_expected("train") + _expected("valid") + ["jazz/jazz.00001.wav"]))
    (d / "test.txt").write_text("\n".join(_expected("test")))
    proc = cli("train", "--table", table, "--split-file", d, "--models", MODELS, "--json")
    result = last_json(proc.stdout)
    _check_models(result["models"])
    assert result["protocol"]["missing_entries"] == 1 and result["protocol"]["unlisted_tracks"] == 1
    assert "jazz/jazz.00001.wav" in proc.stderr
    assert result["protocol"]["valid_use"] is None  # no valid list
    (d / "valid.txt").write_text(_expected("test")[0] + "\n")
    bad = cli("train", "--table", table, "--split-file", d, check=False)
    assert bad.returncode == 2 and "in both valid.txt and test.txt" in bad.stderr


def test_train_cv_and_groups(table, tmp_path):
    proc = cli("train", "--table", table, "--cv", "3", "--models", "svm", "--json")
    result = last_json(proc.stdout)
    _check_models(result["models"])
    (m,) = result["models"]
    assert m["folds"] == 3 and len(m["fold_chunk_accuracy"]) == len(m["fold_track_accuracy"]) == 3
    assert {"chunk_accuracy_std", "track_accuracy_std"} <= set(m) and m["test_tracks"] == 16
    assert result["protocol"]["cv"] == 3 and "mean ± std [95 % CI]" in proc.stderr
    groups = tmp_path / "artists.csv"
    # an "artist" per genre and index parity: with --groups, one artist never on both sides
    rows = [
        f"{n},{n.split('/')[0]}-{int(n.split('.')[1]) % 2}" for n in _expected("train") + _expected("test")
    ]
    groups.write_text("path,artist\n" + "\n".join(rows) + "\n")
    proc = cli("train", "--table", table, "--groups", groups, "--models", "svm", "--json")
    result = last_json(proc.stdout)
    _check_models(result["models"])
    assert result["protocol"]["protocol"] == "group" and result["protocol"]["groups"] == 6


def test_scale_train_stage_with_a_split_file(table):
    from genre_hpc.splits import builtin_split_dir

    proc = cli(
        "scale",
        "--stage",
        "train",
        "--data",
        table,
        "--split-file",
        builtin_split_dir("gtzan-filtered"),
        "--backends",
        "xgb-threads",
        "--workers",
        "1",
        "--repeat",
        "1",
        "--json",
        "--no-progress",
        "--out",
        table.parent,
    )
    (row,) = last_json(proc.stdout)["rows"]
    assert (
        row["protocol"] == "split-file"
        and row["valid_use"] == "merged into train"
        and row["test_tracks"] == 6
    )
    for key in ("accuracy", "chunk_accuracy"):
        lo, hi = row[f"{key}_ci"]
        assert lo <= row[key] <= hi
    assert "1 track(s) of the data in no list" in proc.stderr


@needs_tf
@pytest.mark.slow
def test_run_cnn_on_the_same_split(gtzan_named):
    proc = cli(
        "run",
        "--data",
        gtzan_named,
        "--split",
        "gtzan-filtered",
        "--models",
        "svm",
        "--cnn",
        "--cnn-epochs",
        "1",
        "--json",
        "--no-progress",
    )
    models = last_json(proc.stdout)["models"]
    _check_models(models)
    assert [m["name"] for m in models] == ["svm", "cnn"]
    cnn = models[1]
    assert (
        cnn["test_tracks"] == 6
        and cnn["train_tracks"] == 9
        and cnn["epochs"] == 1
        and cnn["preset"] == "quick"
    )
    assert "scored on the same 6 test tracks" in proc.stderr


def test_run_cnn_without_tensorflow_says_what_to_install(monkeypatch, capsys, tmp_path):
    from genre_hpc import extras
    from genre_hpc.cli import main

    monkeypatch.setitem(extras.EXTRAS, "tf", ("genre_hpc_no_such_module",))
    code = main(["run", "--data", str(tmp_path / "never-read"), "--cnn", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "install genre-hpc[tf]" in err and "--cnn" in err
