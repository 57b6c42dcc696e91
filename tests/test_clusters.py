"""Scaling studies on real clusters (issue 13): p means p, the cluster's shape in every record,
clusters from a cluster file, no shared filesystem needed, ipyparallel views.

One external Dask cluster serves the module: ``dask scheduler`` + 3 one-thread ``dask worker``
processes on 127.0.0.1, started with the command-line tools in their own mount namespace where
one data folder (``hidden/``) is an empty tmpfs, as on hosts without the dataset's filesystem
(skipped where ``unshare -m`` cannot run). Everything else the workers can see.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _backend_funcs as funcs
import _clusters
import numpy as np
import pytest

from genre_hpc.backends import ClusterShapeError, get_backend

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hidden_root(tmp_path_factory, tiny_dataset) -> Path:
    """A copy of the tiny dataset in a folder the external workers cannot see."""
    root = tmp_path_factory.mktemp("clusters") / "hidden"
    shutil.copytree(tiny_dataset, root / "tiny")
    return root


@pytest.fixture(scope="module")
def dask3(tmp_path_factory, hidden_root):
    """``(address, sorted worker addresses, {address: name})`` of a scheduler with 3 workers."""
    pytest.importorskip("distributed")
    from distributed import Client

    logs = tmp_path_factory.mktemp("dask3")
    with _clusters.dask_cluster(logs, workers=3, hide=hidden_root) as (address, _file, _procs):
        with Client(address, timeout=60) as c:
            info = c.scheduler_info(n_workers=-1)["workers"]
        from genre_hpc.backends._cluster import natural_key

        addrs = sorted(info, key=natural_key)
        yield address, addrs, {a: str(info[a]["name"]) for a in addrs}


def cli(*args, check=True, cwd=None, timeout=600):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [str(BIN / "genre-hpc"), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"genre-hpc {args} -> {proc.returncode}\n{proc.stderr[-5000:]}")
    return proc


def last_json(proc) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- p means p ---------------------------------------------------------------------------


def test_dask_runs_on_exactly_p_of_the_clusters_workers(dask3):
    address, addrs, names = dask3
    for p in (1, 2):
        expected = {names[a] for a in addrs[:p]}
        with get_backend("dask-distributed", p, scheduler=address, chunksize=1) as b:
            ran = b.map(funcs.where, range(16))
            info = b.cluster_info()
        # where the items ran, asked of the workers themselves
        assert {name for name, _pid in ran} == expected
        assert info["workers_available"] == 3 and info["workers_asked"] == p
        assert set(info["workers_selected"]) == expected
        assert info["workers_used"] == p and set(info["tasks_per_worker"]) == expected
        assert sum(info["tasks_per_worker"].values()) == 16
        assert info["started_by"] == "found" and info["hosts"] == ["127.0.0.1"]
        assert info["threads_per_worker"] == 1
        assert info["versions"]["distributed"] and info["versions"]["genre-hpc"]
        assert b.cluster_info() == info  # recorded when the block ended


def test_too_few_workers_fail_fast_with_a_clear_message(dask3):
    address, _addrs, _names = dask3
    b = get_backend("dask-distributed", 4, scheduler=address, arrival_timeout=2)
    with pytest.raises(ClusterShapeError, match=r"has 3 worker\(s\), 4 asked, and none joined in 2 s"):
        with b:
            pass
    with pytest.raises(ClusterShapeError, match="threads_per_worker=2"):
        with get_backend("dask-distributed", 1, scheduler=address, threads_per_worker=2):
            pass
    with get_backend("dask-distributed", 1, scheduler=address, threads_per_worker=None) as b:
        assert b.cluster_info()["threads_per_worker"] == 1  # accepted and recorded


def test_scale_study_on_an_external_cluster(dask3, tiny_dataset, tmp_path):
    """p = 1, 2 run on exactly 1 and 2 workers; p = 4 on a 3-worker cluster is a skipped row that
    says why, and the rows before it survive."""
    address, addrs, names = dask3
    proc = cli(
        "scale",
        "--data",
        tiny_dataset,
        "--scheduler",
        address,
        "--workers",
        "1,2,4",
        "--arrival-timeout",
        "2",
        "--repeat",
        "1",
        "--out",
        tmp_path / "out",
        "--no-progress",
        "--json",
    )
    rows = {r["workers"]: r for r in last_json(proc)["rows"]}
    assert set(rows) == {1, 2, 4} and {r["backend"] for r in rows.values()} == {"dask-distributed"}
    for p in (1, 2):
        r = rows[p]
        assert r["identical"] is True and "skipped" not in r
        assert r["cluster"]["workers_used"] == p
        assert set(r["cluster"]["tasks_per_worker"]) == {names[a] for a in addrs[:p]}
        assert r["cluster"]["workers_available"] == 3 and r["cluster"]["started_by"] == "found"
        assert r["oversubscribed"] == (p > sum(r["cluster"]["host_cpus"].values()))
    assert "has 3 worker(s), 4 asked" in rows[4]["skipped"]
    # the same request to extract: one line, exit 3 (the backend failed: README's exit codes)
    proc = cli(
        "extract",
        "--data",
        tiny_dataset,
        "--scheduler",
        address,
        "--workers",
        "4",
        "--out",
        tmp_path / "t.parquet",
        check=False,
    )
    assert proc.returncode == 3 and "error: dask-distributed: the cluster at" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cluster" in proc.stderr  # the table shows the cluster column
    csv = (tmp_path / "out" / "extract-scaling.csv").read_text()
    assert "cluster.workers_used" in csv.splitlines()[0]


# --- no shared filesystem ----------------------------------------------------------------


def test_workers_that_cannot_see_the_data(dask3, hidden_root, tmp_path):
    from genre_hpc.extract import extract_features
    from genre_hpc.images import make_images

    address = dask3[0]
    root = hidden_root / "tiny"
    serial = extract_features(root, cache=False, progress=False)
    assert not serial.failures and len(serial.table) == 6
    opts = {"scheduler": address}
    res = extract_features(
        root, backend="dask-distributed", workers=2, backend_options=opts, cache=False, progress=False
    )
    assert res.table.empty and len(res.failures) == 6  # a named failure per track, not a silent table
    for f in res.failures:
        assert f.kind == "unreachable" and "cannot open" in f.reason and "--send-files" in f.reason
    for mode in ("bytes", "auto"):
        res = extract_features(
            root,
            backend="dask-distributed",
            workers=2,
            backend_options=opts,
            cache=False,
            progress=False,
            send_files=mode,
        )
        assert not res.failures and res.table.equals(serial.table), mode
        assert res.sent["sent_tracks"] == 6 and res.sent["sent_bytes"] > 0
    ref = make_images(root, tmp_path / "serial", progress=False)
    img = make_images(
        root, tmp_path / "remote", backend="dask-distributed", workers=2, backend_options=opts, progress=False
    )
    assert len(img.failures) == 6 and all(f.kind == "unreachable" for f in img.failures)
    img = make_images(
        root,
        tmp_path / "remote",
        backend="dask-distributed",
        workers=2,
        backend_options=opts,
        progress=False,
        send_files="bytes",
    )
    assert not img.failures and img.digests == ref.digests
    for a, b in zip(ref.paths, img.paths):  # the client wrote the files the workers computed
        assert np.array_equal(np.load(a), np.load(b))
    assert len(img.png_paths) == 6


def test_a_missing_file_is_an_ordinary_failure_in_every_mode(tmp_path, tiny_dataset):
    from genre_hpc.dataset import Track
    from genre_hpc.extract import extract_features

    gone = Track("blues/gone.wav", "blues", str(tmp_path / "gone.wav"))
    for mode in ("path", "bytes", "auto"):
        res = extract_features([gone], cache=False, progress=False, send_files=mode)
        assert [(f.kind, f.reason) for f in res.failures] == [("unreadable", "no such file")], mode


def test_decoding_bytes_gives_the_same_samples_and_features(tmp_path):
    import soundfile as sf
    from conftest import tone_track, write_wav

    from genre_hpc.audio import load_audio
    from genre_hpc.dataset import Track
    from genre_hpc.extract import TrackTask, extract_track

    y = tone_track(4, seconds=3.4)
    files = [
        write_wav(tmp_path / "a.wav", y),
        write_wav(tmp_path / "a16.wav", y, subtype="PCM_16"),
        write_wav(tmp_path / "a.flac", y),
        write_wav(tmp_path / "a44.ogg", np.repeat(y, 2), sr=44100),
        write_wav(tmp_path / "st.wav", np.stack([y, -y * 0.5], axis=1)),
    ]
    assert sf.info(str(files[3])).samplerate == 44100  # resampled on both paths
    for f in files:
        data = f.read_bytes()
        a, b = load_audio(f), load_audio(f, data=data)
        assert a.dtype == b.dtype and np.array_equal(a, b), f.name
        t = Track(f"x/{f.name}", "x", str(f))
        ra, rb = extract_track(TrackTask(t)), extract_track(TrackTask(t, data=data))
        assert ra.failure is None and rb.failure is None
        assert ra.chunks == rb.chunks and np.array_equal(ra.values, rb.values), f.name


# --- clusters from a cluster file ------------------------------------------------------


def test_cluster_file_localcluster_scaled_1_to_2(tiny_dataset, tmp_path):
    """The issue's file form, deployed once, scaled 1 -> 2, closed; results identical to serial's
    (the images stage: every array compared by hash; it needs no numba warm-up in each fresh
    worker, so the test stays short); with the projection beside the measured points."""
    cfile = tmp_path / "cluster.yaml"
    cfile.write_text("class: distributed.LocalCluster      # a comment\noptions: {threads_per_worker: 1}\n")
    out = tmp_path / "out"
    proc = cli(
        "scale",
        "--stage",
        "images",
        "--data",
        tiny_dataset,
        "--cluster",
        cfile,
        "--workers",
        "1,2",
        "--repeat",
        "1",
        "--out",
        out,
        "--project",
        "--no-progress",
        "--json",
    )
    res = last_json(proc)
    rows = {r["workers"]: r for r in res["rows"]}
    assert set(rows) == {1, 2}
    for p, r in rows.items():
        assert r["backend"] == "dask-distributed" and r["identical"] is True
        c = r["cluster"]
        assert c["workers_used"] == p and c["workers_available"] == p and c["started_by"] == "harness"
        assert "distributed.LocalCluster" in c["deployment"] and c["hosts"] == ["127.0.0.1"]
        assert c["scale_s"] is not None and c["scale_s"] >= 0
    proj = res["projection"]
    assert proj["label"].startswith("MODEL") and proj["rows"]
    assert {r["collection"] for r in proj["rows"]} == {"gtzan", "fma-large"}
    assert {r["workers"] for r in proj["rows"]} == {8, 16, 32, 64, 128, 256, 512, 1024}
    assert all(r["model"] is True and r["projected_s"] > 0 for r in proj["rows"])
    assert (out / "images-projection.png").is_file() and (out / "images-projection.csv").is_file()
    assert "MODEL" in proc.stderr


def test_extract_with_a_cluster_file(tiny_dataset, tmp_path):
    cfile = tmp_path / "local.yaml"
    cfile.write_text("class: distributed.LocalCluster\noptions: {threads_per_worker: 1}\n")
    out = tmp_path / "t.parquet"
    proc = cli(
        "extract", "--data", tiny_dataset, "--cluster", cfile, "--workers", "1", "--out", out, "--json"
    )
    res = last_json(proc)
    assert res["extraction"]["backend"] == "dask-distributed" and res["extraction"]["failed"] == 0
    assert res["cluster"]["workers_used"] == 1 and res["cluster"]["started_by"] == "harness"
    assert out.is_file()


def test_a_deployed_clusters_workers_never_see_a_ctrl_c(tmp_path):
    """As the backend's own LocalCluster (issue 15): the deployment's workers, also those a later
    scale starts, have SIGINT blocked, so a Ctrl-C to the process group reaches only the parent,
    which closes the cluster."""
    from genre_hpc.deploy import Deployment

    cfile = tmp_path / "local.yaml"
    cfile.write_text("class: distributed.LocalCluster\noptions: {threads_per_worker: 1}\n")
    with Deployment(cfile) as dep:
        dep.scale(2)
        with get_backend("dask-distributed", 2, cluster=dep) as b:
            states = b.map(funcs.worker_state, range(4))
    assert all(s["deaf_to_sigint"] for s in states)


def test_a_cluster_file_of_fixed_size_is_not_scaled_but_used_p_of_n(tmp_path):
    """A manager that cannot add workers (SSHCluster; here a SpecCluster of 2 named workers) is never
    scaled (scaling down would lose workers for good): the backend runs on p of its workers, and more
    than it has is a clear error."""
    from genre_hpc.deploy import Deployment

    cfile = tmp_path / "fixed.yaml"
    cfile.write_text(
        "class: distributed.SpecCluster\n"
        "options:\n"
        "  scheduler: {cls: distributed.Scheduler,\n"
        "              options: {host: 127.0.0.1, dashboard_address: '127.0.0.1:0', dashboard: false}}\n"
        "  workers:\n"
        "    a: {cls: distributed.Nanny, options: {nthreads: 1, host: 127.0.0.1, dashboard_address: null}}\n"
        "    b: {cls: distributed.Nanny, options: {nthreads: 1, host: 127.0.0.1, dashboard_address: null}}\n"
    )
    with Deployment(cfile) as dep:
        assert not dep.scales
        for p in (1, 2, 1):
            with get_backend("dask-distributed", p, cluster=dep) as b:
                ran = {name for name, _pid in b.map(funcs.where, range(8))}
                info = b.cluster_info()
            assert ran == {"a", "b"} if p == 2 else ran in ({"a"}, {"b"})
            assert info["workers_available"] == 2 and info["workers_used"] == p
            assert info["scale_s"] == 0.0 and info["started_by"] == "harness"
        with pytest.raises(ClusterShapeError, match="has 2 worker.s. and does not scale; 3 asked"):
            with get_backend("dask-distributed", 3, cluster=dep):
                pass


@pytest.mark.parametrize(
    "text, message",
    [
        ("options: {}\n", "'class' must name a deployment class"),
        ("class: distributed.NoSuchCluster\n", "distributed has no NoSuchCluster"),
        ("class: nosuchmodule.Cluster\n", "cannot import nosuchmodule"),
        ("class: distributed.LocalCluster\nworkers: 3\n", "unknown key(s) workers"),
        ("class: distributed.LocalCluster\noptions: [1]\n", "'options' must be a mapping"),
        ("- [unclosed\n", "not valid YAML"),
        (
            "class: distributed.LocalCluster\noptions: {processes: false}\n",
            "processes: false (workers in this process, inproc://) cannot be used",
        ),
        (
            "class: distributed.LocalCluster\noptions: {processes: 0}\n",
            "processes: false (workers in this process, inproc://) cannot be used",
        ),
    ],
)
def test_bad_cluster_files_are_usage_errors(tmp_path, text, message):
    cfile = tmp_path / "c.yaml"
    cfile.write_text(text)
    proc = cli("extract", "--cluster", cfile, "--out", tmp_path / "t.parquet", check=False)
    assert proc.returncode == 2
    assert f"cluster file {cfile}" in proc.stderr and message in proc.stderr
    assert "synthetic dataset" not in proc.stderr  # found before any work (the dataset's making)


def test_options_the_deployment_class_rejects_are_a_one_line_usage_error(tmp_path, tiny_dataset):
    """Found only when the deployment is made (inside the backend): still one line, exit 2."""
    pytest.importorskip("distributed")
    cfile = tmp_path / "c.yaml"
    cfile.write_text("class: distributed.SpecCluster\noptions: {no_such_option: 1}\n")
    proc = cli(
        "extract",
        "--data",
        tiny_dataset,
        "--cluster",
        cfile,
        "--no-cache",  # a cached track needs no backend, and so no deployment
        "--out",
        tmp_path / "t.parquet",
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"cluster file {cfile}: distributed.SpecCluster rejects the options" in proc.stderr


def _processes_marked(mark: str) -> list[int]:
    """The pids of the live processes whose environment has ``GENRE_HPC_TEST_MARK=mark``."""
    found = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"GENRE_HPC_TEST_MARK={mark}".encode() in env.read_bytes().split(b"\0"):
                found.append(int(env.parent.name))
        except OSError:  # gone meanwhile, or not ours
            pass
    return found


@pytest.mark.parametrize(
    "options",
    [
        "{bogus_opt: 1}",  # the workers are started when scaled: the wait must not last start_timeout
        "{n_workers: 1, bogus_opt: 1}",  # the workers are started by the constructor
    ],
)
def test_options_the_workers_reject_fail_fast_as_a_one_line_usage_error(tmp_path, tiny_dataset, options):
    """A LocalCluster passes its unknown options on to its workers: the cluster is made, its
    workers fail to start. That is exit 2 with the worker's error on the last line, at once (not
    after the 300 s wait for the workers), and no process of the run is left."""
    pytest.importorskip("distributed")
    if not Path("/proc/self/environ").is_file():
        pytest.skip("needs /proc to find the run's processes")
    cfile = tmp_path / "badopt.yaml"
    cfile.write_text(f"class: distributed.LocalCluster\noptions: {options}\n")
    mark = f"{tmp_path}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "GENRE_HPC_TEST_MARK": mark,
        "GENRE_HPC_CACHE": str(tmp_path / "cache"),
    }
    reason = (
        "could not start its workers" if "n_workers" not in options else "failed to start"
    ) + ": TypeError: Server.__init__() got an unexpected keyword argument 'bogus_opt'"
    out = ["--out", tmp_path / "o"]
    for command, extra in (
        ("extract", ["--no-cache", "--out", tmp_path / "t.parquet"]),
        ("scale", ["--workers", "1", "--repeat", "1", "--no-progress", *out]),
    ):
        args = [command, "--data", tiny_dataset, "--cluster", cfile, *extra]
        # without the check the run waited start_timeout (300 s) for the workers: the timeout here
        # stops such a run, and the message below is the workers' own error, not that wait's
        proc = subprocess.run(
            [str(BIN / "genre-hpc"), *map(str, args)], capture_output=True, text=True, env=env, timeout=240
        )
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 2, proc.stderr[-3000:]
        assert last == f"genre-hpc {command}: error: cluster file {cfile}: distributed.LocalCluster {reason}"
    assert not (tmp_path / "t.parquet").exists()
    deadline = time.monotonic() + 10  # a worker process that is exiting by itself may lag a little
    while (left := _processes_marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes of the run left: {left}"


def test_deployment_scale_raises_when_the_workers_cannot_start_and_closes_the_cluster(tmp_path):
    """The library call: ``Deployment.scale`` raises ClusterFileError (naming the file and the
    worker's error) as soon as the workers fail, with the deployment closed: no worker left."""
    pytest.importorskip("distributed")
    import psutil

    from genre_hpc.deploy import ClusterFileError, Deployment

    cfile = tmp_path / "badopt.yaml"
    cfile.write_text("class: distributed.LocalCluster\noptions: {bogus_opt: 1}\n")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with Deployment(cfile, start_timeout=120) as dep:
        # without the check: ClusterShapeError after start_timeout (the workers never arrive)
        with pytest.raises(ClusterFileError, match="unexpected keyword argument 'bogus_opt'") as info:
            dep.scale(2)
        assert str(info.value).startswith(f"cluster file {cfile}: distributed.LocalCluster could not start")
        assert "\n" not in str(info.value)
        assert dep.cluster is None  # closed by scale
    # multiprocessing's resource tracker is the process' own, once started: not the cluster's
    new = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and "multiprocessing.resource_tracker" not in " ".join(p.cmdline())
    ]
    gone, alive = psutil.wait_procs(new, timeout=10)
    assert not alive, f"processes left: {[p.cmdline() for p in alive]}"


def test_slurm_cluster_file_gives_its_job_script(tmp_path):
    pytest.importorskip("dask_jobqueue")
    from genre_hpc.deploy import job_script

    cfile = tmp_path / "slurm.yaml"
    cfile.write_text(
        "class: dask_jobqueue.SLURMCluster\n"
        "options:\n"
        "  queue: compute\n  account: genre\n  cores: 4\n  processes: 4\n  memory: 16GB\n"
        "  walltime: '01:00:00'\n  job_extra_directives: ['--exclusive']\n"
        "  scheduler_options: {host: 127.0.0.1, dashboard_address: '127.0.0.1:0'}\n"
    )
    script = job_script(cfile)
    assert script.startswith("#!/usr/bin/env bash") and "#SBATCH -p compute" in script
    assert "#SBATCH -A genre" in script and "--nworkers 4" in script and "--nthreads 1" in script
    assert "#SBATCH --exclusive" in script


# --- ipyparallel -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ipcluster3(tmp_path_factory):
    pytest.importorskip("ipyparallel")
    tmp = tmp_path_factory.mktemp("ipp3")
    profile = tmp / "profile"
    profile.mkdir()
    cid = f"genre-hpc-test3-{os.getpid()}"
    args = ["--profile-dir", profile, "--cluster-id", cid]
    proc = _clusters.start(
        [BIN / "ipcluster", "start", "-n", "3", "--ip", "127.0.0.1", *args], tmp / "ipc.log"
    )
    try:
        _clusters.wait_for(profile / "security" / f"ipcontroller-{cid}-client.json", [proc], "ipcluster")
        _clusters.wait_for_engines(str(profile), cid, 3)
        yield str(profile), cid
    finally:
        subprocess.run(
            [str(BIN / "ipcluster"), "stop", *map(str, args)],
            env=_clusters._env(),
            timeout=120,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        _clusters.stop([proc])


def test_ipyparallel_view_over_p_of_n_engines(ipcluster3):
    import ipyparallel as ipp

    profile_dir, cid = ipcluster3
    with ipp.Client(profile_dir=profile_dir, cluster_id=cid, timeout=60) as c:
        engine_pid = dict(zip(c.ids, c[:].apply_sync(os.getpid)))
    with get_backend("ipyparallel", 2, profile_dir=profile_dir, cluster_id=cid) as b:
        ran = b.map(funcs.where, range(12))
        info = b.cluster_info()
    selected = sorted(engine_pid)[:2]
    assert {pid for _n, pid in ran} == {engine_pid[e] for e in selected}
    assert info["workers_available"] == 3 and info["workers_used"] == 2
    assert info["workers_selected"] == [f"engine-{e}" for e in selected]
    assert set(info["tasks_per_worker"]) == {f"engine-{e}" for e in selected}
    assert info["started_by"] == "found" and info["versions"]["ipyparallel"]
    with pytest.raises(ClusterShapeError, match="has 3 worker"):
        with get_backend("ipyparallel", 4, profile_dir=profile_dir, cluster_id=cid, arrival_timeout=1):
            pass


# --- asv against a cluster ------------------------------------------------------------------


def test_asv_dask_cells_run_on_the_cluster_of_the_environment(dask3, tmp_path):
    """GENRE_HPC_BENCH_CLUSTER=<scheduler address>: the suite's dask-distributed cell at the worker
    count of GENRE_HPC_BENCH_WORKERS runs on exactly that many of the cluster's workers; the results
    go to the machine named with ``--machine``."""
    from asv.results import Results
    from test_asv import ASV, _value, asv_env, head_commit, run, tmp_config

    address = dask3[0]
    home = tmp_path / "home"
    home.mkdir()
    env = {**asv_env(home), "GENRE_HPC_BENCH_CLUSTER": address, "GENRE_HPC_BENCH_WORKERS": "2"}
    conf = tmp_config(tmp_path)
    machine = "dask3-cluster"
    run([ASV, "machine", "--yes", "--machine", machine, "--config", conf], env)
    commit = head_commit()
    cell = r"\('dask-distributed', 2, 'reference'\)"
    before = _executed(address)
    proc = run(
        [
            ASV,
            "run",
            "--config",
            conf,
            "--python=same",
            "--quick",
            "--set-commit-hash",
            commit,
            "--machine",
            machine,
            "--show-stderr",
            "--bench",
            rf"TimeExtract\.(time_run|track_workers_used|track_speedup){cell}",
        ],
        env,
    )
    files = sorted((tmp_path / "results" / machine).glob(f"{commit[:8]}-*.json"))
    assert len(files) == 1, proc.stdout[-3000:]
    res = Results.load(str(files[0]))
    key = ("'dask-distributed'", "2", "'reference'")
    assert _value(res, "bench_extract.TimeExtract.track_workers_used", key) == 2
    assert _value(res, "bench_extract.TimeExtract.time_run", key) > 0
    assert _value(res, "bench_extract.TimeExtract.track_speedup", key) > 0
    # the work ran on this cluster (its workers counted the tasks: chunks of tracks), on 2 of its 3 workers
    ran = {w: n - before.get(w, 0) for w, n in _executed(address).items() if n > before.get(w, 0)}
    assert len(ran) == 2 and sum(ran.values()) >= 10


def _executed(address) -> dict:
    from distributed import Client

    from genre_hpc.backends.dask import _executed_count

    with Client(address, timeout=60) as c:
        return c.run(_executed_count)
