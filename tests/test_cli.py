"""The `genre-hpc` command end to end, as a user runs it (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_dataset_audio import make_bad_file

from genre_hpc.features import ID_COLUMNS, STUDY_87

BIN = Path(sys.executable).parent / "genre-hpc"


def cli(*args, check=True, timeout=600):
    proc = subprocess.run(
        [str(BIN), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    cli("synth", "--out", out, "--per-genre", 2, "--seconds", 6.5, "--seed", 3, "--no-progress")
    return out


@pytest.mark.parametrize("command", ["synth", "extract", "train", "run", "scale"])
def test_help(command):
    assert "usage" in cli(command, "--help").stdout


def test_synth_layout(synth_data):
    genres = sorted(p.name for p in synth_data.iterdir() if p.is_dir())
    assert genres == sorted(
        ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
    )
    assert sorted(p.name for p in (synth_data / "jazz").glob("*.wav")) == ["jazz.00000.wav", "jazz.00001.wav"]


def test_extract_then_train(synth_data, tmp_path):
    out = tmp_path / "features.parquet"
    proc = cli("extract", "--data", synth_data, "--out", out, "--no-progress", "--json", "--csv")
    summary = last_json(proc.stdout)["extraction"]
    assert summary["tracks"] == 20 and summary["chunks"] == 40 and summary["failed"] == 0
    table = pd.read_parquet(out)
    assert list(table.columns) == list(ID_COLUMNS) + list(STUDY_87.columns)
    assert len(pd.read_csv(out.with_suffix(".csv"))) == 40
    proc = cli("train", "--table", out, "--models", "knn,random-forest", "--json")
    models = last_json(proc.stdout)["models"]
    assert [m["name"] for m in models] == ["knn", "random-forest"]


def test_run_json_contract_and_failures(synth_data, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synth_data, data)
    make_bad_file(data / "rock" / "broken.wav", "corrupt")
    proc = cli("run", "--data", data, "--json", "--no-progress", "--models", "knn,xgboost")
    result = last_json(proc.stdout)
    assert set(result) >= {"models", "extraction", "failures"}
    for m in result["models"]:
        assert set(m) >= {"name", "chunk_accuracy", "track_accuracy", "fit_s", "predict_s"}
        for key in ("chunk_accuracy", "track_accuracy"):  # every accuracy with its 95 % interval
            lo, hi = m[f"{key}_ci"]
            assert lo <= m[key] <= hi
    assert set(result["extraction"]) >= {"tracks", "chunks", "seconds"}
    assert result["extraction"]["tracks"] == 20
    assert [f["path"] for f in result["failures"]] == [str((data / "rock" / "broken.wav").resolve())]
    assert "broken.wav" in proc.stderr  # named for the person too
    strict = cli("run", "--data", data, "--json", "--no-progress", "--strict", "--models", "knn", check=False)
    assert strict.returncode != 0
    strict = cli(
        "extract", "--data", data, "--out", tmp_path / "t.parquet", "--strict", "--no-progress", check=False
    )
    assert strict.returncode != 0 and (tmp_path / "t.parquet").exists()
    ok = cli("extract", "--data", data, "--out", tmp_path / "t2.parquet", "--no-progress", check=False)
    assert ok.returncode == 0


def test_bad_data_folder_is_a_clear_error(tmp_path):
    proc = cli("extract", "--data", tmp_path / "missing", "--out", tmp_path / "x.parquet", check=False)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
