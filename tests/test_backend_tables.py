"""Every backend gives the feature table that the serial backend gives: same rows, order, values."""

from __future__ import annotations

import pandas as pd
import psutil
import pytest

from genre_hpc.backends import backend_names
from genre_hpc.extract import extract_features, warm_up


@pytest.fixture(scope="module")
def synth_tiny(tmp_path_factory):
    from genre_hpc.synth import write_dataset

    root = tmp_path_factory.mktemp("synth-tiny")
    write_dataset(root, per_genre=1, seconds=3.5, seed=7, progress=False)
    return root


@pytest.fixture(scope="module")
def serial_table(synth_tiny):
    res = extract_features(synth_tiny, extractor="fast", cache=False, progress=False)
    assert len(res.table) == 10 and not res.failures
    return res.table


@pytest.mark.parametrize("name", [b for b in backend_names() if b != "serial"])
def test_backend_table_identical_to_serial(name, synth_tiny, serial_table):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    res = extract_features(
        synth_tiny,
        extractor="fast",
        backend=name,
        workers=1 if name == "dask-synchronous" else 2,  # one thread: it refuses more
        cache=False,
        progress=False,
        backend_options={"warmup": warm_up("fast")},
    )
    pd.testing.assert_frame_equal(res.table, serial_table, check_exact=True)
    assert res.startup_s > 0 and res.compute_s > 0
    leaked = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    gone, alive = psutil.wait_procs(leaked, timeout=10)
    helpers = ("resource_tracker", "semaphore_tracker", "forkserver")
    assert not [p for p in alive if not any(h in " ".join(p.cmdline()) for h in helpers)]
