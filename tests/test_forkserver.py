"""The warm forkserver (genre_hpc.backends.forkserver): started once per process with the
backends' warm-ups, reused while it covers them, restarted with the new ones only when no
worker of it is alive; the start-method options of joblib-loky and dask-distributed."""

from __future__ import annotations

import functools
import multiprocessing
import subprocess
import sys

import _backend_funcs as funcs
import pytest

from genre_hpc.backends import forkserver, get_backend
from genre_hpc.threads import thread_env

pytestmark = pytest.mark.skipif(not forkserver.available(), reason="no forkserver on this platform")

#: two cheap, picklable warm-ups
A = funcs.mark_warm
B = functools.partial(pow, 2, 10)


def test_one_server_reused_while_it_covers_the_warm_ups_restarted_with_their_union():
    env = thread_env(1)
    forkserver.ensure_server([A], env)
    pid = forkserver.describe()["pid"]
    assert forkserver.ensure_server([A], env) == {"started": False, "warm": True, "pid": pid}
    assert forkserver.ensure_server([], env)["warm"]  # nothing asked: covered

    forkserver.acquire([A], env)  # a backend's workers are alive: the server must stay
    try:
        busy = forkserver.ensure_server([B], env)
        assert busy == {"started": False, "warm": False, "pid": pid}  # its workers warm themselves
    finally:
        forkserver.release()

    fresh = forkserver.ensure_server([B], env)  # nobody uses it now: restarted with B
    assert fresh["started"] and fresh["pid"] != pid
    assert forkserver.describe() == {"pid": fresh["pid"], "ours": True, "warmups": 1, "users": 0}
    both = forkserver.ensure_server([A, B], env)  # asked for both at once: one server with both
    assert both["started"] and forkserver.ensure_server([A], env) == {
        "started": False,
        "warm": True,
        "pid": both["pid"],
    }
    assert forkserver.ensure_server([B], env)["pid"] == both["pid"]


def test_prestart_waits_until_the_server_serves_and_workers_skip_its_warm_up():
    seconds = forkserver.prestart([A], thread_env(1))
    assert seconds >= 0 and forkserver.describe()["ours"]
    with get_backend("pool-map", 2, warmup=A) as b:
        assert b.describe()["start_method"] == "forkserver"
        assert b.map(funcs.is_warm, range(4)) == [True] * 4  # warm from the server, not re-run
        assert forkserver.describe()["users"] == 1  # held while the workers live
    assert forkserver.describe()["users"] == 0


def test_spawn_stays_an_option():
    with get_backend("pool-map", 2, start_method="spawn", warmup=A) as b:
        assert b.describe()["start_method"] == "spawn"
        assert b.map(funcs.is_warm, range(3)) == [True] * 3
    assert multiprocessing.get_start_method(allow_none=True) in (None, "fork", "forkserver", "spawn")


def test_joblib_loky_start_methods():
    with get_backend("joblib-loky", 2, warmup=A) as b:
        assert b.describe()["start_method"] == "forkserver"
        assert all(b.map(funcs.is_warm, range(4)))
    assert get_backend("joblib-loky", 2, start_method="loky").describe()["start_method"] == "loky"
    with pytest.raises(ValueError, match="start_method 'teleport'"):
        get_backend("joblib-loky", 2, start_method="teleport")


def test_dask_distributed_start_methods():
    pytest.importorskip("distributed")
    assert get_backend("dask-distributed", 2).describe()["start_method"] == "forkserver"
    # a malloc threshold reaches the workers only through a spawned process' environment
    trimmed = get_backend("dask-distributed", 2, malloc_trim_threshold="dask")
    assert trimmed.describe()["start_method"] == "spawn"
    with pytest.raises(ValueError, match="needs start_method='spawn'"):
        get_backend("dask-distributed", 2, start_method="forkserver", malloc_trim_threshold=65536)
    with pytest.raises(ValueError, match="not available"):
        get_backend("dask-distributed", 2, start_method="fork")


def test_uses_forkserver():
    assert forkserver.uses_forkserver("pool-map") and forkserver.uses_forkserver("joblib-loky")
    assert forkserver.uses_forkserver("dask-distributed")
    assert not forkserver.uses_forkserver("dask-distributed", scheduler="tcp://127.0.0.1:8786")
    assert not forkserver.uses_forkserver("pool-map", start_method="spawn")
    assert not forkserver.uses_forkserver("serial") and not forkserver.uses_forkserver("ipyparallel")


def test_a_variable_to_remove_that_is_not_set_does_not_restart_the_server(monkeypatch):
    """dask-distributed asks for MALLOC_TRIM_THRESHOLD_ removed, the pools do not mention it:
    the same server serves both when the variable is not set."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    env = thread_env(1)
    pid = forkserver.ensure_server([A], env)["pid"]
    assert forkserver.ensure_server([A], {**env, "MALLOC_TRIM_THRESHOLD_": None}) == {
        "started": False,
        "warm": True,
        "pid": pid,
    }


SHADOW = """
import os
def warm():
    pass
def where(_):
    return os.path.dirname(__file__)
"""


def test_the_server_imports_what_the_parent_imports(tmp_path):
    """The server finds code where its parent does, not where its own default path would (asv's
    launcher puts the benchmarked checkout first on sys.path and drops PYTHONPATH; Python 3.11's
    forkserver ignores the parent's sys.path): a module on both paths is the parent's in the
    workers."""
    import os
    import subprocess
    import sys

    for side in ("parent", "default"):
        (tmp_path / side / "shadowmod").mkdir(parents=True)
        (tmp_path / side / "shadowmod" / "__init__.py").write_text(SHADOW)
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path / 'parent')!r})\n"
        "import shadowmod\n"
        "from genre_hpc.backends import get_backend\n"
        "if __name__ == '__main__':\n"
        "    with get_backend('pool-map', 2, warmup=shadowmod.warm) as b:\n"
        "        print(sorted(set(b.map(shadowmod.where, range(4)))))\n"
    )
    script = tmp_path / "probe.py"
    script.write_text(code)
    env = dict(os.environ)
    given = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "default"), *given])
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == repr([str(tmp_path / "parent" / "shadowmod")])


MAIN_SCRIPT = """\
import os, sys
if __name__ == "__mp_main__":  # how multiprocessing imports a parent's script in a child
    with open({log!r}, "a") as f:
        f.write(f"{{os.getpid()}}\\n")


def square(x):  # pickled as __main__.square: a child needs the script to run it
    return os.getpid(), x * x


if __name__ == "__main__":
    from genre_hpc.backends import get_backend

    with get_backend({backend!r}, 2, warmup=None) as b:
        out = b.map(square, range(6))
    pids = {{pid for pid, _ in out}} - {{os.getpid()}}
    print(len(pids), [v for _, v in out])
"""


@pytest.mark.parametrize("backend", ["process", "pool-map"])
def test_the_parents_script_is_imported_once_in_the_server_not_in_every_child(tmp_path, backend):
    """A ``spawn``/``forkserver`` child imports its parent's main script as ``__mp_main__``
    before it runs anything (under asv that script is asv's launcher: ~110 ms of imports per
    ``process`` item). The warm server imports it once; its children find it in place, and a
    function of the script still runs in them."""
    import subprocess
    import sys

    log = tmp_path / "imports.log"
    script = tmp_path / "main_script.py"
    script.write_text(MAIN_SCRIPT.format(log=str(log), backend=backend))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    children, values = proc.stdout.strip().splitlines()[-1].split(" ", 1)
    assert eval(values) == [x * x for x in range(6)]
    assert int(children) >= (2 if backend == "process" else 1)  # ran in children (process: one per item)
    assert len(log.read_text().split()) == 1  # imported once: in the server


def test_a_script_without_a_main_guard_is_told_why_its_workers_died(tmp_path):
    # the forkserver's workers import the main script: one that runs its work at import starts a
    # pool inside a worker, which dies at start-up; the error says what to look for
    script = tmp_path / "noguard.py"
    script.write_text(
        "from genre_hpc.backends import get_backend\n"
        "with get_backend('pool-map', 2) as b:\n"
        "    print(b.map(abs, [-1, -2]))\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert f"its workers import the main script {script}: does it guard its work with" in proc.stderr
    guarded = tmp_path / "guarded.py"
    guarded.write_text(
        "if __name__ == '__main__':\n"
        + "".join("    " + line + "\n" for line in script.read_text().splitlines())
    )
    ok = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and "[1, 2]" in ok.stdout, ok.stderr
