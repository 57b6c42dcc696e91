"""Discovery, loading, resampling, chunking, and every kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import SR, tone_track, write_wav

from genre_hpc.audio import (
    CHUNK_SAMPLES,
    NonFiniteAudio,
    SilentAudio,
    TooShortAudio,
    UnreadableAudio,
    load_audio,
    load_chunks,
    split_chunks,
)
from genre_hpc.dataset import DatasetError, discover


def test_discover_layout_sorted_hidden_ignored(tmp_path):
    write_wav(tmp_path / "rock" / "b.wav", tone_track(1))
    write_wav(tmp_path / "rock" / "a.flac", tone_track(2), format="FLAC")
    write_wav(tmp_path / "jazz" / "z.wav", tone_track(3))
    (tmp_path / "jazz" / ".hidden.wav").write_bytes(b"x")
    (tmp_path / "jazz" / "notes.txt").write_text("not audio")
    (tmp_path / ".git").mkdir()
    tracks = discover(tmp_path)
    assert [t.track_id for t in tracks] == ["jazz/z.wav", "rock/a.flac", "rock/b.wav"]
    assert [t.genre for t in tracks] == ["jazz", "rock", "rock"]
    assert discover(tmp_path) == tracks  # stable


def test_discover_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        discover(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no genre folders"):
        discover(tmp_path)
    (tmp_path / "blues").mkdir()
    with pytest.raises(DatasetError, match="no audio files"):
        discover(tmp_path)


def test_discover_names_what_a_user_pointed_at_wrongly(tmp_path):
    # Kaggle's zip: Data/genres_original/<genre>/*.wav beside Data/images_original/<genre>/*.png
    data = tmp_path / "Data"
    write_wav(data / "genres_original" / "blues" / "blues.00000.wav", tone_track(0))
    (data / "images_original" / "blues").mkdir(parents=True)
    (data / "images_original" / "blues" / "blues00000.png").write_bytes(b"png")
    with pytest.raises(DatasetError, match="did you mean --data .*Data/genres_original\\?"):
        discover(data)
    assert [t.track_id for t in discover(data / "genres_original")] == ["blues/blues.00000.wav"]
    # one genre's folder: its files are the tracks, so the dataset is the folder above
    with pytest.raises(DatasetError, match="holds audio files itself, so give the folder above it"):
        discover(data / "genres_original" / "blues")


def test_broken_links_are_tracks_that_fail_by_name_not_silence(tmp_path):
    # a git-annex/DataLad copy whose content was not all fetched: the links of the missing files
    # dangle; they were left out without a word (even with --strict)
    import os

    from genre_hpc.audio import UnreadableAudio, load_audio
    from genre_hpc.dataset import folder_notes

    good = write_wav(tmp_path / "objects" / "k1.wav", tone_track(0))
    (tmp_path / "data" / "blues").mkdir(parents=True)
    os.symlink(good, tmp_path / "data" / "blues" / "blues.00000.wav")
    os.symlink(tmp_path / "objects" / "k2.wav", tmp_path / "data" / "blues" / "blues.00001.wav")
    tracks = discover(tmp_path / "data")
    assert [t.track_id for t in tracks] == ["blues/blues.00000.wav", "blues/blues.00001.wav"]
    # the path a user sees, not the link's target
    assert tracks[0].path == str(tmp_path / "data" / "blues" / "blues.00000.wav")
    assert load_audio(tracks[0].path).size > 0
    with pytest.raises(
        UnreadableAudio, match=f"blues.00001.wav: a broken link \\(to {tmp_path}/objects/k2.wav\\)"
    ):
        load_audio(tracks[1].path)
    # what discover skips is said (the CLI prints it): a whole genre not fetched (or a README),
    # an empty folder, genres that differ only in case
    os.symlink(tmp_path / "nowhere", tmp_path / "data" / "jazz")
    (tmp_path / "data" / "country").mkdir()
    write_wav(tmp_path / "data" / "Blues" / "x.wav", tone_track(1))
    assert [t.genre for t in discover(tmp_path / "data")] == ["Blues", "blues", "blues"]
    assert folder_notes(tmp_path / "data") == [
        f"skipped 1 folder(s) of {tmp_path / 'data'} with no audio file: country",
        f"skipped 1 broken link(s) in {tmp_path / 'data'}: jazz (to {tmp_path / 'nowhere'})",
        "genre folders that differ only in case are separate genres: Blues and blues",
    ]
    # a path through a link and "..": made absolute as written, not folded ("link/.." is not ".")
    (tmp_path / "far" / "sub").mkdir(parents=True)
    os.symlink(tmp_path / "data", tmp_path / "far" / "data")
    os.symlink(tmp_path / "far" / "sub", tmp_path / "link")
    via = discover(tmp_path / "link" / ".." / "data")
    assert load_audio(via[0].path).size > 0 and ".." in via[0].path
    assert folder_notes(tmp_path / "data" / "blues") == []  # no sub-folders: nothing to say


def test_mixed_rates_and_channels_resampled(tmp_path):
    """A 16 kHz stereo WAV and a 44.1 kHz FLAC load as 22050 Hz mono float32 of the right length."""
    t16 = np.arange(16000 * 4) / 16000
    stereo = np.stack([np.sin(2 * np.pi * 440 * t16), 0.5 * np.sin(2 * np.pi * 660 * t16)], axis=1) * 0.5
    p16 = write_wav(tmp_path / "pop" / "s16.wav", stereo.astype(np.float32), sr=16000)
    t44 = np.arange(44100 * 4) / 44100
    p44 = write_wav(
        tmp_path / "pop" / "s44.flac",
        (0.5 * np.sin(2 * np.pi * 440 * t44)).astype(np.float32),
        sr=44100,
        format="FLAC",
    )
    assert sf.info(str(p16)).channels == 2
    for p in (p16, p44):
        y = load_audio(p)
        assert y.dtype == np.float32 and y.ndim == 1
        assert abs(len(y) - 4 * SR) <= 2
    # the 440 Hz tone survives resampling: spectral peak at 440 Hz
    y = load_audio(p44)
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * SR / len(y) - 440) < 2


def test_chunk_counts():
    y = np.ones(10 * CHUNK_SAMPLES, dtype=np.float32)
    assert len(split_chunks(y)) == 10
    assert len(split_chunks(y[:-1])) == 9  # a final partial chunk is dropped
    assert all(len(c) == CHUNK_SAMPLES for c in split_chunks(y))
    with pytest.raises(TooShortAudio, match="shorter than one"):
        split_chunks(y[: CHUNK_SAMPLES - 1], "x.wav")


def test_load_chunks_trims_silence(tmp_path):
    y = tone_track(0, seconds=6.0)
    y[:SR] = 0.0  # one silent second at the start of chunk 0
    p = write_wav(tmp_path / "a" / "t.wav", y)
    chunks = load_chunks(p)
    assert [i for i, _ in chunks] == [0, 1]
    assert len(chunks[0][1]) < CHUNK_SAMPLES - SR // 2  # trimmed signal is used
    assert len(chunks[1][1]) <= CHUNK_SAMPLES


@pytest.mark.parametrize(
    "kind", ["corrupt", "truncated", "cut", "empty", "nonaudio", "short", "silent", "nan"]
)
def test_bad_input_named_errors(tmp_path, kind):
    p = tmp_path / "g" / f"{kind}.wav"
    p.parent.mkdir()
    expected = {
        "corrupt": UnreadableAudio,
        "truncated": UnreadableAudio,
        "cut": UnreadableAudio,
        "empty": UnreadableAudio,
        "nonaudio": UnreadableAudio,
        "short": TooShortAudio,
        "silent": SilentAudio,
        "nan": NonFiniteAudio,
    }[kind]
    make_bad_file(p, kind)
    with pytest.raises(expected) as info:
        load_chunks(p)
    assert str(p) in str(info.value)
    assert info.value.reason
    if kind == "cut":  # read as a shorter track before; from bytes (sent files) alike
        assert info.value.reason.startswith("truncated: the header declares 5.00 s of audio, the file holds")
        with pytest.raises(UnreadableAudio, match="truncated"):
            load_chunks(p, data=p.read_bytes())


def make_bad_file(p, kind):
    """Write a file of one bad kind at ``p``."""
    if kind == "corrupt":
        good = write_wav(p, tone_track(0))
        data = bytearray(good.read_bytes())
        data[:12] = b"\x00" * 12  # destroy the RIFF header
        p.write_bytes(bytes(data))
    elif kind == "truncated":
        good = write_wav(p, tone_track(0))
        p.write_bytes(good.read_bytes()[:30])  # header cut in the middle
    elif kind == "cut":  # a whole header, the data cut short (an interrupted copy)
        good = write_wav(p, tone_track(0, seconds=5.0))
        p.write_bytes(good.read_bytes()[: 44 + 2 * int(3.5 * SR)])
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "nonaudio":
        p.write_text("this is a text file pretending to be audio\n" * 100)
    elif kind == "short":
        write_wav(p, tone_track(0, seconds=1.0))
    elif kind == "silent":
        write_wav(p, np.zeros(4 * SR, dtype=np.float32))
    elif kind == "nan":
        y = tone_track(0)
        y[100] = np.nan
        write_wav(p, y, subtype="FLOAT")
    return p


@pytest.mark.parametrize("header", ["streamed", "a frame off"])
def test_wav_headers_that_are_not_cuts_are_read(tmp_path, header):
    # a WAV written to a pipe says 0xFFFFFFFF for its length (unknown); a writer a frame off: both
    # hold the whole audio, and neither is "truncated"
    import struct

    p = write_wav(tmp_path / "g" / "x.wav", tone_track(0, seconds=4.0))
    data = bytearray(p.read_bytes())
    at = data.index(b"data") + 4
    size = struct.unpack("<I", data[at : at + 4])[0]
    data[at : at + 4] = struct.pack("<I", 0xFFFFFFFF if header == "streamed" else size + 2)
    p.write_bytes(bytes(data))
    assert len(load_audio(p)) == 4 * SR


def test_a_folder_that_cannot_be_listed_is_a_named_dataset_error(tmp_path):
    # it was PermissionError's traceback; as root, drop the capability that reads any folder
    import os
    import shutil
    import subprocess
    import sys

    write_wav(tmp_path / "blues" / "a.wav", tone_track(0))
    (tmp_path / "jazz").mkdir()
    os.chmod(tmp_path / "jazz", 0)
    # a folder that can be listed but not entered: its files' names, not their kinds
    write_wav(tmp_path / "other" / "rock" / "b.wav", tone_track(0))
    os.chmod(tmp_path / "other" / "rock", 0o444)
    code = (
        "import sys; from genre_hpc.dataset import DatasetError, discover, folder_notes\n"
        "for root in sys.argv[1:]:\n"
        "    print(folder_notes(root))\n"
        "    try: discover(root)\n"
        "    except DatasetError as e: print(e)\n"
    )
    argv = [sys.executable, "-c", code, str(tmp_path), str(tmp_path / "other")]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("as root, needs setpriv to drop CAP_DAC_OVERRIDE")
        argv = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", *argv]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()
    finally:
        os.chmod(tmp_path / "jazz", 0o755)
        os.chmod(tmp_path / "other" / "rock", 0o755)
    assert out == [
        "[]",
        f"cannot list {tmp_path / 'jazz'}: Permission denied",
        "[]",
        f"cannot read {tmp_path / 'other' / 'rock' / 'b.wav'}: Permission denied",
    ]
