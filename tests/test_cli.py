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


def test_help_shows_the_real_defaults():
    """The fast extractor is the default of extract, run and scale; scale's help gives the work
    it really runs (2 tracks per genre x 6 s), extract's and run's theirs (10 x 30 s)."""
    from genre_hpc.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for name in ("extract", "run", "scale"):
        args = sub[name].parse_args(["--out", "x"] if name == "extract" else [])
        assert args.extractor == "fast", name
        assert "default fast" in " ".join(sub[name].format_help().split()), name
    scale = " ".join(sub["scale"].format_help().split())
    assert "tracks per genre (default 2; stage tune: 5)" in scale and "seconds per track (default 6)" in scale
    args = sub["scale"].parse_args([])
    assert (args.per_genre, args.seconds) == (None, 6.0)  # per stage: SCALE_PER_GENRE_OF
    run = " ".join(sub["run"].format_help().split())
    assert "tracks per genre (default 10)" in run and "seconds per track (default 30)" in run
    # the backends, named where the option is (extract's help pointed at scale's, which has none)
    from genre_hpc.backends import backend_names

    (backend,) = [a for a in sub["extract"]._actions if a.dest == "backend"]
    assert all(f" {n}," in backend.help or f" {n} (" in backend.help for n in backend_names())


def test_the_tune_stage_s_default_work_can_be_searched():
    # 2 tracks per genre leave 1 training track per genre: no 3-fold search can fit every fold
    from test_models import feature_table

    from genre_hpc.cli import SCALE_PER_GENRE, SCALE_PER_GENRE_OF
    from genre_hpc.splits import SplitError
    from genre_hpc.training import CV_FOLDS, prepare_data

    with pytest.raises(SplitError):
        prepare_data(feature_table(genres=10, tracks=SCALE_PER_GENRE)).check_search_folds(CV_FOLDS)
    prepare_data(feature_table(genres=10, tracks=SCALE_PER_GENRE_OF["tune"])).check_search_folds(CV_FOLDS)


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
    # 2 tracks of each of 10 genres: one test track per genre, and the header says what was held out
    assert "track split (test 10 of 20 tracks, 50 %)" in proc.stderr
    assert all(m["test_tracks"] == 10 for m in models)


def test_run_json_contract_and_failures(synth_data, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synth_data, data)
    make_bad_file(data / "rock" / "broken.wav", "corrupt")
    table = tmp_path / "run.parquet"
    proc = cli("run", "--data", data, "--json", "--no-progress", "--models", "knn,xgboost", "--out", table)
    result = last_json(proc.stdout)
    assert set(result) >= {"models", "extraction", "failures"}
    assert result["out"] == str(table) and f"wrote {table}" in proc.stderr and table.is_file()
    for m in result["models"]:
        assert set(m) >= {"name", "chunk_accuracy", "track_accuracy", "fit_s", "predict_s"}
        for key in ("chunk_accuracy", "track_accuracy"):  # every accuracy with its 95 % interval
            lo, hi = m[f"{key}_ci"]
            assert lo <= m[key] <= hi
    assert set(result["extraction"]) >= {"tracks", "chunks", "seconds"}
    assert result["extraction"]["tracks"] == 20
    assert [f["path"] for f in result["failures"]] == [str(data / "rock" / "broken.wav")]
    assert "broken.wav" in proc.stderr  # named for the person too
    strict = cli(
        "run", "--data", data, "--json", "--no-progress", "--strict", "--models", "knn",
        "--out", tmp_path / "s.parquet", check=False,
    )  # fmt: skip
    assert strict.returncode == 1 and len(pd.read_parquet(tmp_path / "s.parquet")) == 40  # the good 20
    strict = cli(
        "extract", "--data", data, "--out", tmp_path / "t.parquet", "--strict", "--no-progress", check=False
    )
    assert strict.returncode != 0 and (tmp_path / "t.parquet").exists()
    ok = cli("extract", "--data", data, "--out", tmp_path / "t2.parquet", "--no-progress", check=False)
    assert ok.returncode == 0


def test_every_track_failing_is_an_error_and_no_table_replaces_the_old_one(tmp_path):
    # it exited 0 and wrote an empty table over the good one (run: before saying nothing to train on)
    data = tmp_path / "allbad"
    (data / "jazz").mkdir(parents=True)
    make_bad_file(data / "jazz" / "jazz.00054.wav", "nonaudio")
    make_bad_file(data / "jazz" / "jazz.00057.wav", "empty")
    out = tmp_path / "keep.parquet"
    out.write_bytes(b"the old table")
    for argv in (["extract", "--csv"], ["extract", "--strict", "--json"], ["run", "--json"]):
        proc = cli(*argv, "--data", data, "--out", out, "--no-progress", check=False)
        if "--json" in argv:  # a script still gets its document: the failures, no table
            doc = last_json(proc.stdout)
            assert doc["out"] is None and len(doc["failures"]) == 2 and doc["extraction"]["failed"] == 2
        assert proc.returncode == 2, proc.stderr
        assert (
            proc.stderr.strip()
            .splitlines()[-1]
            .endswith("error: no track produced features (2 of 2 failed, listed above): no table written")
        )
        assert "jazz.00054.wav: " in proc.stderr and "jazz.00057.wav: empty file (0 bytes)" in proc.stderr
        assert out.read_bytes() == b"the old table" and not out.with_suffix(".csv").exists()


def test_bad_data_folder_is_a_clear_error(tmp_path):
    proc = cli("extract", "--data", tmp_path / "missing", "--out", tmp_path / "x.parquet", check=False)
    assert proc.returncode == 2 and "does not exist" in proc.stderr


# --- exit codes: usage and dataset errors are exit 2 in one line, library bugs are not -------------


def test_unknown_backend_is_a_one_line_usage_error(tmp_path):
    # checked before the data: the (empty) --data folder would be a dataset error
    proc = cli(
        "extract", "--data", tmp_path, "--out", tmp_path / "x.parquet", "--backend", "nope", check=False
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("genre-hpc extract: error: unknown backend 'nope'; known: serial, ")
    assert "pool-map" in lines[0] and not proc.stdout


def _usage_cases(tmp: Path, tiny: Path) -> dict:
    """name -> (argv, words of the message); ``tmp`` holds the files "not-a-table.parquet" and "a-file"."""
    table, a_file = tmp / "not-a-table.parquet", tmp / "a-file"
    out = ["--out", str(tmp / "x.parquet")]
    return {
        "unknown backend": (
            ["extract", "--data", str(tiny), *out, "--backend", "nope"],
            "unknown backend 'nope'",
        ),
        "worker count the backend refuses": (
            ["extract", "--data", str(tiny), *out, "--workers", "2"],
            "backend 'serial' with 2 worker(s): serial runs exactly 1 worker",
        ),
        "a one-thread backend asked for more workers": (
            ["extract", "--data", str(tiny), *out, "--backend", "dask-synchronous", "--workers", "3"],
            "dask-synchronous runs 1 worker (the calling thread) whatever the worker count",
        ),
        "cluster option of another backend": (
            ["run", "--data", str(tiny), "--backend", "pool-map", "--scheduler", "tcp://127.0.0.1:1"],
            "--scheduler applies to the dask-distributed backend, not 'pool-map'",
        ),
        "a table under a file": (
            ["extract", "--data", str(tiny), "--out", str(a_file / "x.parquet")],
            f"--out {a_file / 'x.parquet'}: {a_file} is a file, not a folder",
        ),
        "missing data folder": (["extract", "--data", str(tmp / "missing"), *out], "does not exist"),
        "data folder without genres": (["run", "--data", str(tmp)], "has no genre folders"),
        "unknown model": (["train", "--table", str(table), "--models", "knn,nope"], "unknown model 'nope'"),
        "missing table": (
            ["train", "--table", str(tmp / "missing.parquet")],
            "missing.parquet: no such feature table file",
        ),
        "not a table": (
            ["train", "--table", str(table)],
            "not-a-table.parquet: not a readable feature table",
        ),
        "table without the columns": (
            ["train", "--table", str(tmp / "not-features.csv")],
            "not-features.csv: not a feature table: no genre column",
        ),
        "a folder as the table": (["train", "--table", str(tmp)], "no such feature table file (a folder)"),
        "scale on a table that is not one": (
            ["scale", "--stage", "train", "--data", str(table), "--no-progress"],
            "not-a-table.parquet: not a readable feature table",
        ),
        "scale on a table without the columns": (
            ["scale", "--stage", "tune", "--data", str(tmp / "not-features.csv"), "--no-progress"],
            "not-features.csv: not a feature table: no genre column",
        ),
        "an empty table (every track failed)": (
            ["train", "--table", str(tmp / "empty.csv")],
            "empty.csv: the feature table is empty",
        ),
        "scale on an empty table": (
            ["scale", "--stage", "train", "--data", str(tmp / "empty.csv"), "--no-progress"],
            "empty.csv: the feature table is empty",
        ),
        "scale on a missing table": (
            ["scale", "--stage", "train", "--data", str(tmp / "missing.parquet"), "--no-progress"],
            "missing.parquet: no such feature table file",
        ),
        "a cluster option no chosen cell takes": (
            ["scale", "--stage", "images", "--backends", "pool-map", "--scheduler", "tcp://127.0.0.1:1"],
            "--scheduler/--cluster apply to the dask-distributed cells, and --backends pool-map has none",
        ),
        "an ipyparallel option no chosen cell takes": (
            ["scale", "--backends", "serial", "--profile", "nope"],
            "--profile/--cluster-id apply to the ipyparallel cells, and --backends serial has none",
        ),
        "unknown stage": (["scale", "--stage", "nope"], "unknown stage 'nope'"),
        "unknown extractor": (["scale", "--extractor", "nope"], "unknown extractor 'nope'"),
        "unknown preset": (
            ["scale", "--stage", "train", "--preset", "nope"],
            "preset of stage train: 'nope'",
        ),
        "unknown backend of a stage": (
            ["scale", "--data", str(tiny), "--backends", "serial,nope", "--no-progress"],
            "stage 'extract': unknown backend 'nope'",
        ),
        "a table without its format's suffix": (
            ["extract", "--data", str(tiny), "--out", str(tmp / "features")],
            "name the table .parquet (or .pq, or .csv)",
        ),
        "run writing a table without its format's suffix": (
            ["run", "--data", str(tiny), "--out", str(tmp / "features.txt")],
            "--out " + str(tmp / "features.txt") + ": name the table .parquet (or .pq, or .csv)",
        ),
        "synth into a file": (["synth", "--out", str(a_file)], "is a file, not a folder"),
        "scale into a file": (["scale", "--out", str(a_file)], f"--out {a_file}: {a_file} is a file"),
        "scale into a folder under a file": (
            ["scale", "--out", str(a_file / "sub")],
            f"--out {a_file / 'sub'}: {a_file} is a file, not a folder",
        ),
    }


@pytest.mark.parametrize("case", list(_usage_cases(Path("tmp"), Path("tiny"))))
def test_usage_and_dataset_errors_exit_2_in_one_line(case, tmp_path, tiny_dataset, capsys):
    from genre_hpc.cli import main

    (tmp_path / "not-a-table.parquet").write_text("these are not parquet bytes")
    (tmp_path / "not-features.csv").write_text("track_id,b\n1,2\n")
    (tmp_path / "empty.csv").write_text("track_id,chunk,genre,path,zcr_mean\n")  # write_table's, no rows
    (tmp_path / "a-file").write_text("")
    argv, words = _usage_cases(tmp_path, tiny_dataset)[case]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    if argv[0] == "scale" and err and err[0].startswith("scale: stage "):
        err = err[1:]  # the study's header, printed before its work is prepared
    assert len(err) == 1 and err[0].startswith(f"genre-hpc {argv[0]}: error: ") and words in err[0], err


def test_repeated_names_and_counts_are_taken_once():
    # `scale --workers 2,1,2` made 3 cells and a duplicate row; `compare-machines --machines a,b,a`
    # showed a machine twice
    from genre_hpc.cli import _csv_list, _int_list

    assert _int_list("2,1,2") == [2, 1] and _csv_list("a, b,a,,b") == ["a", "b"]


def test_argparse_errors_exit_2(tmp_path, capsys):
    from genre_hpc.cli import main

    for argv in (
        ["synth", "--out", str(tmp_path), "--per-genre", "0"],
        ["synth", "--out", str(tmp_path), "--seconds", "-1"],
        ["scale", "--workers", "0"],
        ["extract", "--out", str(tmp_path / "x.parquet"), "--extractor", "nope"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2, argv
        assert "error: argument" in capsys.readouterr().err, argv
    assert not list(tmp_path.iterdir())  # nothing was rendered


@pytest.mark.parametrize("exc", [KeyError, ValueError])
def test_a_library_bug_is_not_a_usage_error(exc, tmp_path, monkeypatch, capsys):
    # a KeyError / ValueError raised deep inside the library (here: mixing a synthetic track) is a bug to
    # show with its traceback, not "usage error, exit 2"
    import genre_hpc.synth.track
    from genre_hpc.cli import main

    def broken_mix_down(*args):
        raise exc("a library bug")

    monkeypatch.setattr(genre_hpc.synth.track, "mix_down", broken_mix_down)
    with pytest.raises(exc, match="a library bug"):
        main(["synth", "--out", str(tmp_path), "--per-genre", "1", "--seconds", "0.5", "--no-progress"])
    assert "error:" not in capsys.readouterr().err


def test_a_library_bug_exits_1_with_its_traceback(tmp_path):
    code = (
        "import sys, genre_hpc.synth.track as track\n"
        "def broken_mix_down(*args):\n"
        "    raise KeyError('a library bug')\n"
        "track.mix_down = broken_mix_down\n"
        "from genre_hpc.cli import main\n"
        f"sys.exit(main(['synth', '--out', {str(tmp_path)!r}, '--per-genre', '1', '--seconds', '0.5']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" in proc.stderr and "KeyError: 'a library bug'" in proc.stderr
    assert "usage error" not in proc.stderr and ": error:" not in proc.stderr


def test_out_is_checked_before_the_work_links_and_permissions_included(tmp_path):
    # each of these failed only after the whole extraction ("File exists", or a folder made on an
    # unmounted disk's mount point), or not at all
    import shutil

    from genre_hpc.cli import _unwritable

    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    assert (
        _unwritable(tmp_path / "gone" / "t.parquet")
        == f"{tmp_path / 'gone'} is a broken link (to {tmp_path / 'nowhere'})"
    )
    (tmp_path / "t.parquet").symlink_to(tmp_path / "mnt" / "t.parquet")
    assert _unwritable(tmp_path / "t.parquet") == (
        f"it links to {tmp_path / 'mnt' / 't.parquet'}, whose folder {tmp_path / 'mnt'} does not exist"
    )
    assert _unwritable(tmp_path / "new" / "deeper" / "t.parquet") is None  # folders are made
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    code = (
        "import sys; from pathlib import Path; from genre_hpc.cli import _unwritable\n"
        "print(_unwritable(Path(sys.argv[1])))"
    )
    argv = [sys.executable, "-c", code, str(ro / "t.parquet")]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("as root, needs setpriv to drop CAP_DAC_OVERRIDE")
        argv = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    assert out == f"cannot write in {ro} (permission denied)"


def test_the_folder_notes_are_said_by_scale_too(tiny_dataset, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    (data / "country").mkdir()  # an empty genre: skipped, and said
    args = ["scale", "--stage", "extract", "--data", data, "--backends", "serial", "--workers", "1"]
    proc = cli(*args, "--repeat", "1", "--no-progress", "--out", tmp_path / "o")
    assert f"note: skipped 1 folder(s) of {data} with no audio file: country" in proc.stderr
