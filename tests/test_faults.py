"""Faults cost at most one track, and say so in one line (issue 15).

Real processes and real file systems: a worker that SIGKILLs itself on one file, a scheduler
address where nothing listens, a small tmpfs that fills up during the table write, and SIGINT /
SIGTERM sent to a running ``genre-hpc extract``.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import _faults
import pandas as pd
import psutil
import pytest
from conftest import tone_track, write_wav

from genre_hpc.extract import ExtractionFailed, extract_features, write_table
from genre_hpc.files import WriteFailed, atomic_write, orphans_swept_on_error, remove_orphaned_writes

BIN = Path(sys.executable).parent / "genre-hpc"
#: the track whose worker dies on every attempt
VICTIM = "metal.00001.wav"
#: fork keeps these tests short: the workers inherit this process' warm extractor
FAST_START = {"start_method": "fork"} if "fork" in multiprocessing.get_all_start_methods() else {}


def cli(*args, env=None, timeout=300):
    return subprocess.run(
        [str(BIN), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
    )


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def serial_rows(tiny_dataset):
    """The serial feature table of the tiny dataset (fast extractor): what every backend must give."""
    res = extract_features(tiny_dataset, extractor="fast", cache=False, progress=False)
    assert not res.failures and len(res.table) == 6
    return res.table


# -- a worker that dies on one track -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pool-map", "process", "joblib-loky", "dask-processes"])
def test_a_track_that_kills_its_worker_is_a_worker_lost_failure(name, tiny_dataset, serial_rows):
    if name == "dask-processes":
        pytest.importorskip("dask")
    # loky starts fresh workers after each death (no fork): retries=0 spares one round of them
    opts = {"retries": 0} if name == "joblib-loky" else dict(FAST_START)
    res = extract_features(
        tiny_dataset,
        extractor="fast",
        backend=name,
        workers=2,
        backend_options=opts,
        cache=False,
        progress=False,
        work=functools.partial(_faults.extract_or_die, VICTIM),
    )
    (failure,) = res.failures
    assert Path(failure.path).name == VICTIM and failure.kind == "worker-lost"
    assert failure.track_id == f"metal/{VICTIM}"
    assert "the worker process died (" in failure.reason
    if name != "joblib-loky":
        assert "on all 2 attempts" in failure.reason
    if name != "joblib-loky" or "SIGKILL" in failure.reason:  # loky may not know the exit code
        assert "killed by signal SIGKILL" in failure.reason
    # every other track has its rows, the same as serial's
    expected = serial_rows[serial_rows["track_id"] != f"metal/{VICTIM}"].reset_index(drop=True)
    assert res.table.equals(expected)
    assert res.summary()["failed"] == 1 and res.summary()["tracks"] == 5


@pytest.mark.slow
def test_strict_still_fails_at_the_end_with_the_worker_lost_track(tiny_dataset):
    with pytest.raises(ExtractionFailed) as info:
        extract_features(
            tiny_dataset,
            extractor="fast",
            backend="pool-apply-async",
            workers=2,
            backend_options={**FAST_START, "retries": 0},
            cache=False,
            progress=False,
            strict=True,
            work=functools.partial(_faults.extract_or_die, VICTIM),
        )
    (failure,) = info.value.failures
    assert failure.kind == "worker-lost" and "SIGKILL" in failure.reason and "attempts" not in failure.reason


# -- nothing listens: fail fast, in one line ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_at_the_scheduler_fails_fast_in_one_line(tiny_dataset, tmp_path):
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{free_port()}"
    args = ["extract", "--data", tiny_dataset, "--out", tmp_path / "t.parquet", "--no-cache", "--no-progress"]
    args += ["--backend", "dask-distributed", "--workers", "2", "--scheduler", address]
    t0 = time.monotonic()
    proc = cli(*args, timeout=120)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 3, proc.stderr
    assert last_line(proc.stderr) == (
        f"genre-hpc extract: error: dask-distributed: cannot reach the scheduler at {address}: "
        "connection refused (nothing listens on that port: is it running, is the port right?)"
    )
    assert "Traceback" not in proc.stderr
    assert elapsed < 30  # a hang guard: the long start_timeout (300 s) is not waited for
    assert not (tmp_path / "t.parquet").exists()

    debug = cli("--debug", *args, timeout=120)  # the traceback only on request, same exit code
    assert debug.returncode == 3 and "Traceback" in debug.stderr and "ClusterUnreachable" in debug.stderr


def test_retry_flags_apply_to_the_backends_that_take_them(tiny_dataset, tmp_path):
    proc = cli("extract", "--data", tiny_dataset, "--out", tmp_path / "t.parquet", "--retries", "2")
    assert proc.returncode == 2  # serial runs in the caller: nothing to retry on
    line = last_line(proc.stderr)
    assert line.startswith("genre-hpc extract: error: --retries applies to the pool-apply, ")
    assert line.endswith("backends, not 'serial'")


def test_unresolvable_hosts_and_dead_controllers_fail_at_once(tmp_path):
    from genre_hpc.backends import get_backend
    from genre_hpc.backends.base import ClusterUnreachable

    pytest.importorskip("distributed")
    with pytest.raises(ClusterUnreachable, match="host name 'no-such-host.invalid' does not resolve"):
        with get_backend("dask-distributed", 2, scheduler="tcp://no-such-host.invalid:8786"):
            pass
    # a scheduler file left by a scheduler that is gone
    sched = tmp_path / "scheduler.json"
    sched.write_text(json.dumps({"address": f"tcp://127.0.0.1:{free_port()}"}))
    with pytest.raises(ClusterUnreachable, match="connection refused"):
        with get_backend("dask-distributed", 2, scheduler_file=str(sched)):
            pass
    # an ipyparallel connection file whose controller is gone
    pytest.importorskip("ipyparallel")
    port = free_port()
    conn = tmp_path / "ipcontroller-client.json"
    conn.write_text(
        json.dumps({"interface": "tcp://127.0.0.1", "registration": port, "location": "127.0.0.1"})
    )
    with pytest.raises(ClusterUnreachable, match=f"{conn} at tcp://127.0.0.1:{port}: connection refused"):
        with get_backend("ipyparallel", 2, url_file=str(conn)):
            pass


# -- a full disk -------------------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 512 KiB tmpfs mounted for the test (the tests run as root); skipped where mount is not
    permitted."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill the file system of ``folder`` until fewer than ``leave`` bytes are free."""
    with open(folder / "filler", "wb") as fh:
        block = b"\0" * 4096
        try:
            while shutil.disk_usage(folder).free > leave:
                fh.write(block)
                fh.flush()
        except OSError:
            pass


def test_a_full_disk_during_the_table_write_keeps_the_old_table(small_tmpfs, tiny_dataset, serial_rows):
    out = small_tmpfs / "features.parquet"
    write_table(serial_rows.head(2), out)
    before = out.read_bytes()
    fill(small_tmpfs)

    with pytest.raises(WriteFailed) as info:
        write_table(serial_rows, out)
    assert str(info.value) == f"cannot write {out}: No space left on device"
    assert info.value.filename == str(out) and isinstance(info.value, OSError)
    assert out.read_bytes() == before  # the previous table is intact
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["features.parquet", "filler"]  # no temp file

    # the command: one line naming the path, exit 4 (the tracks come from the cache: no extraction)
    extract_features(tiny_dataset, extractor="fast", progress=False)
    proc = cli("extract", "--data", tiny_dataset, "--out", out, "--extractor", "fast", "--no-progress")
    assert proc.returncode == 4, proc.stderr
    assert last_line(proc.stderr) == f"genre-hpc extract: error: cannot write {out}: No space left on device"
    assert "Traceback" not in proc.stderr
    assert out.read_bytes() == before
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["features.parquet", "filler"]


def test_a_full_cache_disk_costs_the_cache_entries_not_the_tracks(small_tmpfs, tiny_dataset, serial_rows):
    cache = small_tmpfs / "cache"
    cache.mkdir()
    fill(small_tmpfs)
    res = extract_features(tiny_dataset, extractor="fast", cache_dir=cache, progress=False)
    assert not res.failures and res.table.equals(serial_rows)
    assert len(res.cache_errors) == 6
    assert all(e.startswith(f"cannot write {cache}/features/") for e in res.cache_errors)
    assert all(e.endswith(": No space left on device") for e in res.cache_errors)
    left = [p for p in cache.rglob("*") if p.is_file()]
    assert left == []  # no temporary file, no half-written entry


# -- SIGINT and SIGTERM ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def thirty_tracks(tmp_path_factory) -> Path:
    """3 genres x 10 tracks x 3.5 s: enough that a run is still going when its first track is cached."""
    root = tmp_path_factory.mktemp("thirty")
    for g, genre in enumerate(("blues", "metal", "reggae")):
        for i in range(10):
            write_wav(root / genre / f"{genre}.{i:05d}.wav", tone_track(3 * g + i % 3, seed=i))
    return root


def cache_entries(cache: Path) -> list[Path]:
    """The finished entries of a feature cache (pathlib's ``*`` also matches the ``.name.xxxx``
    temporary file of a write in progress)."""
    return [p for p in cache.glob("features/*/*.npz") if not p.name.startswith(".")]


def tree(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def alive(procs) -> list[str]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {' '.join(p.cmdline())[:80]}")
        except psutil.Error:
            pass
    return out


#: Ctrl-C on every process backend (the pools hung in Pool.join), and SIGTERM where the workers
#: are stopped two different ways (Pool.terminate; loky, whose own shutdown SIGKILLs them
#: mid-write). SIGINT to the main process alone takes the same path as Ctrl-C in the parent, and
#: that Dask's and the other backends' workers never see a Ctrl-C is checked in
#: test_backends.test_contract (deaf_to_sigint).
SIGNALS = [
    ("pool-map", "SIGINT to the group"),
    ("process", "SIGINT to the group"),
    ("joblib-loky", "SIGINT to the group"),
    ("dask-processes", "SIGINT to the group"),
    ("pool-map", "SIGTERM"),
    ("joblib-loky", "SIGTERM"),
]


def test_temporary_files_of_dead_writers_are_swept_and_live_ones_kept(tmp_path):
    # a writer killed with SIGKILL mid-write leaves its temporary file; it names its process and host
    from genre_hpc.files import _host

    seen = []
    atomic_write(tmp_path / "sub" / "entry.npz", lambda tmp: seen.append(Path(tmp).name))
    tag = f"pid{os.getpid()}-{_host()}"
    assert seen[0].startswith(f".entry.{tag}.") and seen[0].endswith(".npz")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_tag = f"pid{int(dead.stdout)}"
    orphan = tmp_path / "sub" / f".other.{dead_tag}-{_host()}.abcd1234.npz"
    mine = tmp_path / "sub" / f".entry.{tag}.abcd1234.npz"  # a write in progress
    elsewhere = tmp_path / "sub" / f".other.{dead_tag}-another-host.abcd1234.npz"  # a shared file system
    unrelated = tmp_path / "sub" / ".hidden"
    for p in (orphan, mine, elsewhere, unrelated):
        p.write_bytes(b"x")
    assert remove_orphaned_writes(tmp_path) == [orphan]
    assert not orphan.exists() and mine.exists() and elsewhere.exists() and unrelated.exists()
    assert (tmp_path / "sub" / "entry.npz").exists()
    assert remove_orphaned_writes(tmp_path / "missing") == []
    # the block around a backend's start and stop (extraction, images) sweeps only when it fails
    orphan.write_bytes(b"x")
    with orphans_swept_on_error(tmp_path):
        pass
    assert orphan.exists()
    with pytest.raises(KeyboardInterrupt), orphans_swept_on_error(tmp_path):
        raise KeyboardInterrupt
    assert not orphan.exists() and mine.exists() and elsewhere.exists()


@pytest.mark.slow
@pytest.mark.parametrize("name,how", SIGNALS)
def test_interrupted_extract_stops_everything_and_resumes(name, how, thirty_tracks, tmp_path):
    if name.startswith("dask"):
        pytest.importorskip("distributed")
    cache, out = tmp_path / "cache", tmp_path / "out" / "features.parquet"
    args = ["extract", "--data", thirty_tracks, "--out", out, "--extractor", "fast", "--no-progress"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "GENRE_HPC_CACHE": str(cache)}
    proc = subprocess.Popen(
        [str(BIN), *map(str, args), "--backend", name, "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        # a background job inherits an ignored SIGINT: restore the default, as a terminal's job has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 180
        while not cache_entries(cache):  # the map is running: a track is done
            assert proc.poll() is None, f"finished before the signal: {proc.communicate()}"
            assert time.monotonic() < deadline, "no track was finished within 180 s"
            time.sleep(0.05)
        started = tree(proc.pid)
        assert started, "the run has no worker processes"
        signum = signal.SIGTERM if how == "SIGTERM" else signal.SIGINT
        if how == "SIGINT to the group":  # what a terminal's Ctrl-C does
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    assert proc.returncode == 128 + signum, stderr  # 130, 143
    name_of = signal.Signals(signum).name
    assert last_line(stderr).startswith(f"genre-hpc extract: stopped by {name_of}: the workers were stopped")
    assert "a rerun resumes from them" in last_line(stderr)
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr  # no resource_tracker warning
    deadline = time.monotonic() + 10
    while alive(started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(started), f"left running: {alive(started)}"
    # no file half-written: no table, no temporary file, no partial cache entry
    assert not out.exists() and (not out.parent.exists() or not list(out.parent.iterdir()))
    assert not [p for p in cache.rglob(".*") if p.is_file()]

    # a rerun resumes from the cache, and says how many tracks came from it
    cached = len(cache_entries(cache))
    assert 0 < cached < 30
    if (name, how) == ("pool-map", "SIGINT to the group"):
        rerun = cli(*args, "--backend", "serial", "--json", env=env)
        assert rerun.returncode == 0, rerun.stderr
        summary = json.loads(last_line(rerun.stdout))["extraction"]
        assert summary["cache_hits"] == cached and summary["tracks"] == 30
        assert f"{cached} from cache" in rerun.stderr
        assert len(pd.read_parquet(out)) == 30
    else:
        res = extract_features(thirty_tracks, extractor="fast", cache_dir=cache, progress=False)
        assert res.cache_hits == cached and len(res.table) == 30


def test_written_files_get_the_umask_s_permissions_or_keep_the_old_file_s(tmp_path):
    # mkstemp's temporary file is 0600: renamed as it was, a table on a shared file system would be
    # unreadable to everyone else. A new file gets 0666 less the umask (as `open` gives), a replaced
    # file keeps its mode. In a child: the umask is per process.
    code = (
        "import os, sys; from pathlib import Path; from genre_hpc.files import atomic_write\n"
        "os.umask(int(sys.argv[2], 8)); d = Path(sys.argv[1])\n"
        "w = lambda tmp: Path(tmp).write_text('x')\n"
        "atomic_write(d / 'new.csv', w); atomic_write(d / 'old.csv', w)\n"
    )
    for umask, expected in (("022", 0o644), ("077", 0o600), ("002", 0o664)):
        out = tmp_path / umask
        out.mkdir()
        (out / "old.csv").write_text("y")
        os.chmod(out / "old.csv", 0o640)
        subprocess.run([sys.executable, "-c", code, str(out), umask], check=True)
        assert oct((out / "new.csv").stat().st_mode & 0o777) == oct(expected), umask
        assert oct((out / "old.csv").stat().st_mode & 0o777) == oct(0o640), umask
        assert (out / "old.csv").read_text() == "x"
    # through the command: the synthetic dataset's audio and its description
    res = cli("synth", "--out", tmp_path / "syn", "--per-genre", "1", "--seconds", "3", env={})
    assert res.returncode == 0, res.stderr
    umask = int(Path("/proc/self/status").read_text().split("Umask:")[1].split()[0], 8)
    files = [p for p in (tmp_path / "syn").rglob("*") if p.is_file()]
    assert files and {p.stat().st_mode & 0o777 for p in files} == {0o666 & ~umask}


def test_a_table_and_its_csv_copy_are_replaced_together_or_not_at_all(tmp_path):
    # `extract --csv`: when the CSV cannot be written, the old parquet must not have been replaced
    import pandas as pd

    from genre_hpc.extract import write_tables
    from genre_hpc.files import atomic_write_all

    old = pd.DataFrame({"track_id": ["a"], "genre": ["jazz"], "f": [1.0]})
    new = old.assign(f=2.0)
    out = tmp_path / "t.parquet"
    write_tables(old, out)
    (tmp_path / "t.csv").mkdir()  # the CSV's rename fails: a folder stands in its place
    with pytest.raises(WriteFailed, match="t.csv"):
        write_tables(new, out, csv=True)
    assert pd.read_parquet(out)["f"].tolist() == [1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.parquet"]  # no temporary left
    (tmp_path / "t.csv").rmdir()
    assert write_tables(new, out, csv=True) == [out, tmp_path / "t.csv"]
    assert pd.read_csv(tmp_path / "t.csv")["f"].tolist() == pd.read_parquet(out)["f"].tolist() == [2.0]
    # a failing first write replaces nothing either, and every write comes before any rename
    events = []

    def fails(tmp):
        raise OSError(28, "No space left on device")

    def logs(name):
        return lambda tmp: (events.append(name), Path(tmp).write_text(name))

    with pytest.raises(WriteFailed, match="No space left"):
        atomic_write_all([(tmp_path / "a.txt", logs("a")), (tmp_path / "b.txt", fails)])
    assert not (tmp_path / "a.txt").exists() and events == ["a"]
    atomic_write_all([(tmp_path / "a.txt", logs("a")), (tmp_path / "b.txt", logs("b"))])
    assert (tmp_path / "a.txt").read_text() == "a" and (tmp_path / "b.txt").read_text() == "b"


def test_an_output_that_is_a_symbolic_link_has_its_target_replaced(tmp_path):
    # the link was replaced by a plain file, and the file it pointed at kept its old content
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "f.csv").write_text("old")
    os.chmod(tmp_path / "store" / "f.csv", 0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "store" / "f.csv")
    assert atomic_write(link, lambda tmp: Path(tmp).write_text("new")) == link
    assert link.is_symlink() and (tmp_path / "store" / "f.csv").read_text() == "new"
    assert (tmp_path / "store" / "f.csv").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["f.csv"]
    dangling = tmp_path / "new.csv"
    dangling.symlink_to(tmp_path / "store" / "g.csv")
    atomic_write(dangling, lambda tmp: Path(tmp).write_text("g"))
    assert dangling.is_symlink() and (tmp_path / "store" / "g.csv").read_text() == "g"
    # a link into a folder that is not there (an unmounted disk) is refused, the folder not made
    away = tmp_path / "away.csv"
    away.symlink_to(tmp_path / "mnt" / "disk" / "f.csv")
    with pytest.raises(
        WriteFailed, match="away.csv: it links to .*/mnt/disk/f.csv, whose folder does not exist"
    ):
        atomic_write(away, lambda tmp: Path(tmp).write_text("x"))
    assert not (tmp_path / "mnt").exists()


def test_a_ctrl_c_during_a_pool_s_construction_waits_for_its_end():
    # SIGINT blocked in this thread is still taken by another thread of the process, and Python
    # then raised KeyboardInterrupt inside multiprocessing.Pool(): the pool was never assigned,
    # so nothing stopped its workers (a worker's traceback after the clean message)
    import threading

    from genre_hpc.backends._workers import interrupts_blocked, interrupts_deferred

    before = signal.getsignal(signal.SIGINT)  # another test of this process may have set its own
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # the thread below inherits it
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # a thread with SIGINT unblocked, as a sampler's
    other.start()
    reached = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupts_blocked(), interrupts_deferred():
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(20):  # the other thread takes it when next scheduled: the handler
                    time.sleep(0.05)  # would run here
                reached.append("end of the block")
        assert reached == ["end of the block"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with pytest.raises(KeyboardInterrupt):  # without the deferral, as it was
            with interrupts_blocked():
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(20):
                    time.sleep(0.05)
                reached.append("not reached")
        assert reached == ["end of the block"]
        # a second signal within the block is not held: the first is handled at once
        with pytest.raises(KeyboardInterrupt):
            with interrupts_blocked(), interrupts_deferred():
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(20):
                    time.sleep(0.05)
                reached.append("after the first")
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(20):
                    time.sleep(0.05)
                reached.append("not reached either")
        assert reached == ["end of the block", "after the first"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        # SIGTERM (a batch system's end of a job) is held as well, by the handler it would meet
        class Stop(Exception):
            pass

        def term(signum, frame):
            raise Stop

        term_before = signal.signal(signal.SIGTERM, term)
        try:
            with pytest.raises(Stop):
                with interrupts_deferred():
                    os.kill(os.getpid(), signal.SIGTERM)
                    for _ in range(20):
                        time.sleep(0.05)
                    reached.append("end of the SIGTERM block")
        finally:
            signal.signal(signal.SIGTERM, term_before)
        assert reached[-1] == "end of the SIGTERM block"
    finally:
        stop.set()
        other.join()
        signal.signal(signal.SIGINT, before)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
