"""The warm-ups cover the real per-track path, checked by state, not by timing.

After a warm-up, what a real track needs (decoding, chunking at the real chunk length,
trimming, every feature; the spectrogram and the PNG) is imported, compiled (numba's
dispatchers have the signatures a real chunk uses) and cached: extracting real tracks
afterwards imports nothing and compiles nothing new. And workers forked from the forkserver
start in that state (the warm-up ran in the server, the collector's view is frozen).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import _warm_state
import pytest

TESTS = Path(__file__).resolve().parent


def _fresh_process_difference(kind: str, paths) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, _warm_state; _warm_state.main(sys.argv[1:])",
            kind,
            *map(str, paths),
        ],
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _tracks(root: Path) -> list[Path]:
    return sorted(root.rglob("*.wav"))


@pytest.mark.parametrize("kind", ["fast", "reference", "images"])
def test_warm_up_covers_the_real_track_path(kind, tiny_dataset):
    """In a fresh interpreter: the warm-up, then three real tracks: nothing new is imported,
    compiled or cached (an lru_cache keyed by the chunk's frame count would grow here when the
    warm-up used another chunk length)."""
    diff = _fresh_process_difference(kind, [str(p) for p in _tracks(tiny_dataset)[:3]])
    assert diff == {"modules": [], "state": {}}


def test_the_old_noise_warm_up_misses_the_real_chunk_length(tiny_dataset):
    """The control: 1.5 s of noise through ``extract_chunk`` (the former warm-up) leaves the
    fast extractor's HPSS layout cache without the real chunk length, so the test above can
    fail."""
    code = (
        "import sys, json, _warm_state\n"
        "from genre_hpc.backends.warm import warm_librosa\n"
        "from genre_hpc.dataset import Track\n"
        "from genre_hpc.extract import TrackTask, extract_track\n"
        "warm_librosa('fast'); before = _warm_state.snapshot()\n"
        "p = sys.argv[1]; assert extract_track(TrackTask(Track('x/a', 'x', p), 'fast')).failure is None\n"
        "print(json.dumps(_warm_state.difference(before, _warm_state.snapshot())))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(_tracks(tiny_dataset)[0])], cwd=TESTS, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    diff = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "genre_hpc.features.fast._hpss_layout" in diff["state"]


def test_pool_workers_fork_warm_from_the_forkserver(tiny_dataset):
    """``pool-map`` on the default start method: its workers fork from the forkserver that ran
    the fast extractor's warm-up (so they skip it), with the collector's view frozen; a real
    track in a worker then imports and compiles nothing new."""
    from genre_hpc.backends import get_backend
    from genre_hpc.backends._workers import DEFAULT_START_METHOD
    from genre_hpc.extract import warm_up

    if DEFAULT_START_METHOD != "forkserver":
        pytest.skip("no forkserver on this platform: workers are spawned")
    path = str(_tracks(tiny_dataset)[0])
    with get_backend("pool-map", 2, warmup=warm_up("fast")) as b:
        assert b.describe()["start_method"] == "forkserver"
        before = b.map(_warm_state.worker_state, ["fast", "fast"])
        after = b.map(_warm_state.extract_then_state, [("fast", path)] * 4)
    assert all(s["warm_in_server"] and s["frozen"] > 0 for s in before)
    by_pid = {s["pid"]: s for s in before}
    assert len(by_pid) >= 1
    some = next(iter(by_pid.values()))
    for state in after:
        assert _warm_state.difference(some, state) == {"modules": [], "state": {}}
