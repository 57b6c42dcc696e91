"""The published dashboard works offline: vendored scripts, the rewrite, and a real browser.

``genre-hpc bench-publish`` runs on a copy of the committed results (``results/``) with the HTML
in a temporary folder; then Debian's ``chromium``, headless, with the network unreachable
(``tests/_chromium.py``), opens the dashboard served from 127.0.0.1 and must draw graphs, load
nothing from another host and never show asv's "continental origin of swallow" error. As a
control, asv's own index.html (the CDN links) in the same browser must show that error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _chromium import PAGE_STATE, Chromium, chromium_path, serve

from genre_hpc.benchruns import BenchRunError
from genre_hpc.dashboard import VENDOR_DIR, add_nav_link, external_loads, manifest, offline_html

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def asv_template() -> str:
    import asv

    return (Path(asv.__file__).parent / "www" / "index.html").read_text(encoding="utf-8")


# --- the vendored files and the rewrite --------------------------------------------------------


def test_vendored_files_are_the_manifests_with_their_licences():
    entries = manifest()
    assert {e["package"] for e in entries} >= {"jquery", "flot", "flot-orderbars", "blueimp-md5", "bootstrap"}
    for e in entries:
        data = (VENDOR_DIR / e["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"], e["file"]
        licence = (VENDOR_DIR / e["license_file"]).read_text(encoding="utf-8")
        assert e["license"] == "MIT" and "Permission is hereby granted" in licence, e["license_file"]
        assert Path(e["license_file"]).parent == Path(e["file"]).parent  # beside the file


def test_every_cdn_load_of_asvs_template_is_vendored():
    html = asv_template()
    urls = external_loads(html)
    assert len(urls) >= 10 and all(u.startswith("https://") for u in urls)
    files = {e["url"]: f"vendor/{e['file']}" for e in manifest()}
    assert set(urls) <= set(files)
    new = offline_html(html, files)
    assert external_loads(new) == []
    assert "integrity=" not in new and "crossorigin=" not in new
    assert 'src="vendor/jquery-3.3.1/jquery.min.js"' in new
    assert new.count('onerror="js_load_failure()"') == html.count('onerror="js_load_failure()"')


def test_a_load_without_a_vendored_copy_is_an_error():
    html = '<script src="https://cdn.example.invalid/x.js"></script>'
    with pytest.raises(BenchRunError, match="cdn.example.invalid/x.js"):
        offline_html(html, {})


def test_nav_link_added_once():
    html = asv_template()
    once = add_nav_link(html, "scaling/index.html", "Scaling", "scaling")
    assert once.count('id="nav-li-scaling"') == 1
    assert once.index("nav-li-regressions") < once.index("nav-li-scaling")
    assert add_nav_link(once, "scaling/index.html", "Scaling", "scaling") == once


# --- a real publish ------------------------------------------------------------------------------


def publish(tmp: Path) -> dict:
    """``genre-hpc bench-publish`` of ``tmp / "results"`` with the project's asv.conf.json (its
    regression thresholds included) into ``tmp / "html"``."""
    conf = json.loads((REPO / "asv.conf.json").read_text())
    conf.update(
        repo=str(REPO),
        benchmark_dir=str(REPO / conf["benchmark_dir"]),
        results_dir=str(tmp / "results"),
        html_dir=str(tmp / "html"),
        env_dir=str(tmp / "env"),
        branches=["HEAD"],  # a detached checkout (CI) has no main
    )
    (tmp / "asv.conf.json").write_text(json.dumps(conf, indent=2))
    (tmp / "home").mkdir()
    proc = subprocess.run(
        [str(BIN / "genre-hpc"), "bench-publish", "--config", str(tmp / "asv.conf.json"), "--json"],
        cwd=REPO,
        env={**os.environ, "HOME": str(tmp / "home"), "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return {"html": tmp / "html", "out": json.loads(proc.stdout.strip().splitlines()[-1])}


def listed_regressions(html: Path, machine: str) -> list[str]:
    """The benchmarks the dashboard's Regressions page lists for ``machine``."""
    regressions = json.loads((html / "regressions.json").read_text())["regressions"]
    return [r[0] for r in regressions if f"/machine-{machine}/" in r[1]]


def drawn_points(html: Path, machine: str, benchmark: str) -> int:
    """How many commits of ``machine`` a graph of ``benchmark`` draws."""
    graphs = list(html.glob(f"graphs/**/machine-{machine}/**/{benchmark}.json"))
    assert graphs, f"no graph of {benchmark} for {machine}"
    points = json.loads(graphs[0].read_text())
    return len([p for p in points if p[1] is not None and any(v is not None for v in p[1])])


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """``genre-hpc bench-publish`` of a copy of the committed results into a temporary folder."""
    tmp = tmp_path_factory.mktemp("publish")
    shutil.copytree(REPO / "results", tmp / "results")
    return publish(tmp)


@pytest.mark.slow
def test_publish_is_offline_and_links_the_scaling_report(published):
    html = published["html"]
    index = (html / "index.html").read_text(encoding="utf-8")
    assert external_loads(index) == []
    assert len(published["out"]["vendored"]) == len(external_loads(asv_template()))
    for e in manifest():
        assert (html / "vendor" / e["file"]).is_file() and (html / "vendor" / e["license_file"]).is_file()
    assert 'href="scaling/index.html"' in index
    scaling = (html / "scaling" / "index.html").read_text(encoding="utf-8")
    assert 'href="../index.html"' in scaling
    assert list((html / "scaling").glob("scaling-*.png"))  # speed-up / efficiency plots
    assert published["out"]["scaling"] == str(html / "scaling" / "index.html")


@pytest.mark.slow
def test_the_committed_history_draws_lines(published):
    """Every commit of the committed reference results is a point of a stage benchmark's graph
    (asv leaves out a result whose benchmark version is not the suite's), and asv computed
    the regressions over them."""
    html = published["html"]
    commits = {p.name.split("-", 1)[0] for p in (REPO / "results" / "gh-2core-ref").glob("*-*.json")}
    assert drawn_points(html, "gh-2core-ref", "bench_extract.TimeExtractFast.time_run") == len(commits) >= 5
    regressions = json.loads((html / "regressions.json").read_text())
    assert "regressions" in regressions


#: the committed runs of epyc-2core, oldest first: the same pipeline (in between only scripts,
#: docs, the scale command's arguments, an error message and a new track_error benchmark
#: changed; nothing a benchmark times)
EPYC_RUNS = ("41d19252", "f669c26b", "cad6e561")


@pytest.mark.slow
def test_a_rerun_of_the_same_code_lists_no_regression(published):
    """The runs of epyc-2core differ by the host's drift alone (stage cells up to 1.45x, a
    millisecond micro-benchmark 1.52x, start-ups up to 2x, speed-ups either way): with asv's
    default threshold (5 %) and its reading of every figure as lower-is-better, the Regressions
    page listed 43 entries for the first two. With the project's thresholds (asv.conf.json) it
    lists none, and every run is drawn (a page with nothing to compare lists nothing too)."""
    found = sorted(p.name.split("-", 1)[0] for p in (REPO / "results" / "epyc-2core").glob("*-*.json"))
    assert set(EPYC_RUNS) <= set(found)
    html = published["html"]
    assert drawn_points(html, "epyc-2core", "bench_extract.TimeExtractFast.time_run") == len(found)
    assert listed_regressions(html, "epyc-2core") == []


def _later_commits(commit: str) -> list[str]:
    """The commits after ``commit`` on HEAD's first-parent line (asv's branch), oldest first;
    none in a shallow clone or when ``commit`` is not an ancestor of HEAD."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)

    if git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        return []
    if git("merge-base", "--is-ancestor", commit, "HEAD").returncode != 0:
        return []
    return git("rev-list", "--first-parent", "--reverse", f"{commit}..HEAD").stdout.split()


@pytest.mark.slow
def test_a_sustained_slowdown_and_a_worse_model_are_listed(tmp_path):
    """The same history plus two runs after the newest one (a change that stays), each with the
    fast-extraction stage twice as slow (samples, quartiles and interval doubled), KNN one test
    track worse (``track_error`` up by 1/60, ``track_accuracy`` down as much) and twice the chunks
    per stage (``Workload.track_stage_chunks``): the Regressions page lists the doubled stage's
    cells and KNN's error, and not its accuracy (higher is better: never listed), nor the workload
    (a count: asv would read more work as a regression), nor anything else."""
    src = REPO / "results" / "epyc-2core"
    runs = sorted((json.loads(p.read_text()) for p in src.glob("*-*.json")), key=lambda r: r["date"])
    newest = runs[-1]
    later = _later_commits(newest["commit_hash"])[:2]
    if len(later) < 2:
        pytest.skip(
            f"fewer than two commits after {newest['commit_hash'][:8]} on HEAD's line (a shallow clone?)"
        )
    results = tmp_path / "results"
    (results / "epyc-2core").mkdir(parents=True)
    shutil.copy(REPO / "results" / "benchmarks.json", results)
    for p in src.iterdir():
        shutil.copy(p, results / "epyc-2core")
    key = "bench_extract.TimeExtractFast.time_run"
    for i, commit in enumerate(later, 1):
        run = json.loads(json.dumps(newest))
        run["commit_hash"], run["date"] = commit, newest["date"] + i * 3_600_000
        cols = run["result_columns"]
        row = run["results"][key]
        for col in ("result", "stats_ci_99_a", "stats_ci_99_b", "stats_q_25", "stats_q_75"):
            row[cols.index(col)] = [None if v is None else 2 * v for v in row[cols.index(col)]]
        samples = row[cols.index("samples")]
        row[cols.index("samples")] = [None if s is None else [2 * v for v in s] for s in samples]
        for name, step in (("track_error", 1 / 60), ("track_accuracy", -1 / 60)):
            vals = run["results"][f"bench_pipeline.Models.{name}"][cols.index("result")]
            knn = run["results"][f"bench_pipeline.Models.{name}"][cols.index("params")][0].index("'knn'")
            vals[knn] += step
        # a larger workload (more chunks per stage): a count, neither better nor worse
        workload = run["results"]["bench_env.Workload.track_stage_chunks"][cols.index("result")]
        workload[:] = [2 * v for v in workload]
        (results / "epyc-2core" / f"{commit[:8]}-{run['env_name']}.json").write_text(json.dumps(run))
    listed = listed_regressions(publish(tmp_path)["html"], "epyc-2core")
    assert sorted(set(listed)) == [
        f"{key}('pool-map', 2, 'fast')",
        f"{key}('serial', 1, 'fast')",
        "bench_pipeline.Models.track_error('knn')",
    ], listed


def _workers_benchmark(html: Path) -> str:
    """A stage benchmark with a ``workers`` parameter, preferably the extraction's speed-up."""
    benchmarks = json.loads((html / "index.json").read_text())["benchmarks"]
    names = [n for n, b in benchmarks.items() if "workers" in (b.get("param_names") or [])]
    assert names, "the committed results have no benchmark with a workers parameter"
    return (
        "bench_extract.TimeExtract.track_speedup"
        if "bench_extract.TimeExtract.track_speedup" in names
        else names[0]
    )


#: JavaScript: pixels of the graph display's canvases in one of asv's series colours
SERIES_PIXELS = """(() => {
  const cols = $.asv.colors.map(h => [1, 3, 5].map(i => parseInt(h.slice(i, i + 2), 16)));
  const near = (k, i, d) => [0, 1, 2].every(j => Math.abs(k[j] - d[i + j]) < 6);
  let n = 0;
  for (const c of document.querySelectorAll('#graph-display canvas')) {
    if (!c.width || !c.height) continue;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] < 200) continue;
      if (cols.some(k => near(k, i, d))) n++;
    }
  }
  return n;
})()"""


@pytest.mark.slow
def test_dashboard_renders_offline_in_chromium(published, tmp_path):
    exe = chromium_path()
    if exe is None:
        pytest.skip("chromium is not installed (`make test` installs Debian's chromium with apt-get)")
    html = published["html"]
    (html / "index-cdn.html").write_text(asv_template(), encoding="utf-8")  # the control: asv's own page
    bench = _workers_benchmark(html)
    with serve(html) as base:
        browser = Chromium(exe, tmp_path / "profile", tmp_path / "chromium.log")
        try:
            # the benchmark grid: asv's scripts ran, the thumbnails' canvases are drawn
            browser.navigate(base + "index.html")
            state = browser.wait_for(f"(s => s.asv && s.drawn > 0 ? s : null)({PAGE_STATE})")
            assert state, browser.evaluate(PAGE_STATE)
            assert not state["swallow"] and state["href"].endswith("/index.html")
            assert state["canvases"] >= 2 and "Scaling (machines)" in state["text"]

            # one stage benchmark with workers on the x axis: the series are drawn
            browser.navigate(f"{base}index.html#{bench}?x-axis=workers")
            pixels = browser.wait_for(f"document.querySelector('#graph-display canvas') && {SERIES_PIXELS}")
            state = browser.evaluate(PAGE_STATE)
            assert pixels and pixels > 10, state
            assert not state["swallow"] and "workers" in state["text"]

            # the scaling report, through the dashboard's link: its plots load
            browser.navigate(base + "index.html")
            browser.wait_for("document.querySelector('#nav-li-scaling a') !== null")
            browser.evaluate("document.querySelector('#nav-li-scaling a').click()")
            images = browser.wait_for(
                "location.pathname.endsWith('/scaling/index.html') && document.readyState === 'complete'"
                " && document.images.length > 0"
                " && Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
                " ? document.images.length : 0"
            )
            assert images, browser.evaluate("location.href")

            # nothing came from another host, nothing failed
            hosts = {u.split("/")[2] for u in browser.requests() if u.startswith("http")}
            assert hosts == {base.split("/")[2]}, hosts
            assert browser.failures() == []

            # the control: asv's page with its CDN links cannot load here (the network is unreachable)
            browser.navigate(base + "index-cdn.html")
            swallow = browser.wait_for(f"({PAGE_STATE}).swallow", timeout=60)
            assert swallow, browser.evaluate(PAGE_STATE)
        finally:
            browser.close()
