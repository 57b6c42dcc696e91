"""The projection model of ``genre-hpc scale --project``: its terms come back from rows made
with known terms, its predictions follow the documented formula, and it is labelled a model."""

from __future__ import annotations

import math

import pytest

from genre_hpc.projection import COLLECTIONS, DEFAULT_BANDWIDTH, FORMULA, fit, project

W_PER_AUDIO_S, H, F, STARTUP = 0.1, 0.05, 0.1, 3.0
TRACKS, SECONDS = 20, 6.0


def rows(send_files="path", ones=True):
    audio = TRACKS * SECONDS
    base = W_PER_AUDIO_S * audio
    out = []
    for p in (1, 2, 4) if ones else (2, 4):
        t = F * base + (1 - F) * base / p + TRACKS * H / p
        out.append(
            {
                "stage": "extract",
                "backend": "dask-distributed",
                "series": "dask-distributed",
                "workers": p,
                "compute_s": t,
                "startup_s": STARTUP if p == 4 else 1.0,
                "baseline_s": base,
                "tracks": TRACKS,
                "audio_s": audio,
                "result_bytes": 1000 * audio,
                "input_bytes": 44100 * audio,
                "send_files": send_files,
            }
        )
    out.append({**out[0], "workers": 8, "skipped": "has 4 worker(s), 8 asked"})
    out.append({**out[0], "backend": "serial", "series": "serial", "workers": 1, "compute_s": base})
    return out


def test_fit_recovers_the_terms():
    terms, notes = fit(rows())
    assert [t.series for t in terms] == ["dask-distributed"]
    assert any("serial: no measured row with more than 1 worker" in n for n in notes)
    t = terms[0]
    assert t.w == pytest.approx(W_PER_AUDIO_S)
    assert t.h == pytest.approx(H)
    assert t.f == pytest.approx(F)
    assert t.startup_s == STARTUP  # at the largest measured p
    assert t.result_bytes_per_audio_s == pytest.approx(1000)
    assert t.input_bytes_per_audio_s == 0  # a shared filesystem: no audio over the link


def test_prediction_follows_the_formula_and_is_labelled_a_model():
    proj = project(rows("bytes"))
    assert proj["label"].startswith("MODEL") and proj["formula"] == FORMULA
    n, length = COLLECTIONS["gtzan"][:2]
    r = next(r for r in proj["rows"] if r["collection"] == "gtzan" and r["workers"] == 64)
    work = n * length * W_PER_AUDIO_S
    transfer = n * length * (1000 + 44100) / DEFAULT_BANDWIDTH
    expected = STARTUP + F * work + (1 - F) * work / 64 + n * H / 64 + transfer
    assert r["model"] is True and r["projected_s"] == pytest.approx(expected)
    assert r["transfer_s"] == pytest.approx(transfer)
    assert r["speedup"] == pytest.approx(work / expected) and r["efficiency"] == pytest.approx(
        work / expected / 64
    )
    # the serial fraction bounds the speed-up (Amdahl): 1/f at most
    big = [r for r in proj["rows"] if r["collection"] == "fma-large"]
    assert max(r["speedup"] for r in big) < 1 / F
    # beside the measured points: the model there, from the same terms
    # (the start-up is the one at the largest p, so compare the compute parts)
    assert len(proj["fit"]) == 3
    for f in proj["fit"]:
        assert f["model_compute_s"] == pytest.approx(f["measured_compute_s"])


def test_without_a_one_worker_row_the_overhead_is_zero_and_said_so():
    terms, _ = fit(rows(ones=False))
    t = terms[0]
    assert t.h == 0 and any("no 1-worker row" in n for n in t.notes)
    assert 0 <= t.f <= 1 and math.isfinite(t.f)
