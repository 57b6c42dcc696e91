"""``genre-hpc bench-publish``: the asv dashboard, working offline, with the scaling report.

``asv publish`` writes an HTML dashboard whose ``index.html`` loads jQuery, flot and its
plugins, Bootstrap, stupidtable and an MD5 script from CDNs, with SRI hashes. Without a network
(an HPC login node, a lab network) the page shows only "Can not determine continental origin of
swallow". This module publishes with asv, then

1. copies the vendored copies of those files (``genre_hpc/dashboard_vendor``: versions, sources,
   hashes in its ``MANIFEST.json``, each file's MIT licence beside it) to ``<html>/vendor/`` and
   rewrites ``index.html`` to load them; the ``integrity``, ``crossorigin`` and
   ``referrerpolicy`` attributes go (a CORS-mode request for a local file fails where the page is
   opened from disk). A script or style of the template that has no vendored copy is an error,
   not a silent network load;
2. writes the static scaling report of ``genre-hpc compare-machines`` (speed-up, efficiency and
   Karp-Flatt per worker count, per machine) into ``<html>/scaling/`` and links it from the
   dashboard's navigation bar ("Scaling"), and back.

The dashboard reads its data with XMLHttpRequest, which browsers refuse for ``file://`` pages:
serve the folder (``asv preview``, or ``python -m http.server -d .asv/html``), no network needed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .benchruns import BenchRunError, asv_command, config_dir_path, load_config, require_asv, toplevel
from .files import atomic_write_text

#: the vendored files and their manifest
VENDOR_DIR = Path(__file__).with_name("dashboard_vendor")
#: where they go inside the published folder
VENDOR_OUT = "vendor"
#: where the scaling report goes inside the published folder
SCALING_OUT = "scaling"

_TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
_EXTERNAL = re.compile(r'\b(src|href)\s*=\s*"((?:https?:)?//[^"]+)"', re.IGNORECASE)
_DROP = re.compile(r'\s+(integrity|crossorigin|referrerpolicy)(\s*=\s*"[^"]*")?', re.IGNORECASE)


def _say(*args):
    print(*args, file=sys.stderr, flush=True)


def manifest() -> list[dict]:
    """The vendored files: ``url`` (what asv's template loads), ``file`` (inside
    :data:`VENDOR_DIR`), ``package``, ``version``, ``license``, ``license_file``, ``source``,
    ``sha256``, ``same_bytes_as_cdn``."""
    return json.loads((VENDOR_DIR / "MANIFEST.json").read_text())["files"]


def external_loads(html: str) -> list[str]:
    """The URLs of the scripts and styles a page loads from another host."""
    urls = []
    for tag in _TAG.finditer(html):
        m = _EXTERNAL.search(tag.group(0))
        if m:
            urls.append(m.group(2))
    return urls


def offline_html(html: str, files: dict[str, str]) -> str:
    """``html`` with every external ``<script src>`` / ``<link href>`` pointing at its local copy.

    Parameters
    ----------
    files : dict
        URL -> path relative to the page.

    Raises
    ------
    BenchRunError
        The page loads something that has no local copy.
    """
    missing = [u for u in external_loads(html) if u not in files]
    if missing:
        raise BenchRunError(
            "asv's index.html loads files that are not vendored in genre_hpc/dashboard_vendor "
            f"(another asv version?): {', '.join(missing)}"
        )

    def local(tag_match):
        tag = tag_match.group(0)
        m = _EXTERNAL.search(tag)
        if not m:
            return tag
        tag = tag[: m.start(2)] + files[m.group(2)] + tag[m.end(2) :]
        return _DROP.sub("", tag)

    return _TAG.sub(local, html)


def vendor_into(html_dir) -> list[str]:
    """Copy the vendored files and their licences to ``<html_dir>/vendor`` and rewrite
    ``index.html`` to use them; the URLs that were replaced."""
    html_dir = Path(html_dir)
    index = html_dir / "index.html"
    text = index.read_text(encoding="utf-8")
    entries = manifest()
    files = {e["url"]: f"{VENDOR_OUT}/{e['file']}" for e in entries}
    new = offline_html(text, files)
    out = html_dir / VENDOR_OUT
    for rel in {e["file"] for e in entries} | {e["license_file"] for e in entries} | {"MANIFEST.json"}:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(VENDOR_DIR / rel, out / rel)
    atomic_write_text(index, new)
    return [u for u in external_loads(text) if u in files]


def add_nav_link(html: str, href: str, label: str, key: str) -> str:
    """``html`` (asv's index.html) with one more entry in its navigation bar."""
    item = f'<li id="nav-li-{key}"><a href="{href}">{label}</a></li>'
    if item in html:
        return html
    m = re.search(r'<li id="nav-li-regressions">.*?</li>', html, re.DOTALL)
    if m:
        return html[: m.end()] + "\n\t" + item + html[m.end() :]
    m = re.search(r"</ul>", html)
    if not m:
        raise BenchRunError("asv's index.html has no navigation list to link the scaling report from")
    return html[: m.start()] + item + "\n" + html[m.start() :]


def write_scaling_report(html_dir, results_dir, log=_say) -> Path | None:
    """``genre-hpc compare-machines`` of ``results_dir`` into ``<html_dir>/scaling/``, linked
    both ways with the dashboard; ``None`` (and why, on ``log``) when there is nothing to report."""
    from .machines import compare

    html_dir = Path(html_dir)
    out = html_dir / SCALING_OUT
    try:
        res = compare(results_dir, out=out)
    except (ValueError, FileNotFoundError) as exc:
        log(f"bench-publish: no scaling report ({exc})")
        return None
    page = Path(res["files"]["html"])
    text = page.read_text(encoding="utf-8")
    back = (
        '<p><a href="../index.html">&larr; the asv dashboard</a> (times, speed-ups and efficiencies '
        "per commit; choose <em>workers</em> as the x axis of a stage benchmark's graph to see "
        "speed-up against workers)</p>"
    )
    icon = '<link rel="icon" href="../swallow.ico">'  # the dashboard's, not a missing /favicon.ico
    if back not in text:
        text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + "\n" + back, text, count=1)
        text = text.replace("</head>", icon + "</head>", 1)
        atomic_write_text(page, text)
    index = html_dir / "index.html"
    atomic_write_text(
        index,
        add_nav_link(
            index.read_text(encoding="utf-8"), f"{SCALING_OUT}/index.html", "Scaling (machines)", "scaling"
        ),
    )
    return page


def publish(repo=".", config=None, scaling: bool = True, log=_say) -> dict:
    """``asv publish``, then the offline rewrite and the scaling report.

    Parameters
    ----------
    repo : path
        The project (its ``asv.conf.json`` unless ``config`` is given).
    config : path, optional
        The asv configuration (its ``html_dir`` and ``results_dir`` are used).
    scaling : bool
        Write and link the scaling report.

    Returns
    -------
    dict
        ``html_dir``, ``vendored`` (the URLs now served locally), ``scaling`` (the report's
        page or ``None``).
    """
    require_asv()
    try:
        root = toplevel(repo)
    except BenchRunError:
        root = Path(repo).resolve()
    config_path, conf = load_config(root, config)
    html_dir = config_dir_path(config_path, conf.get("html_dir", "html"))
    results_dir = config_dir_path(config_path, conf.get("results_dir", "results"))
    proc = subprocess.run(
        asv_command("publish", "--config", config_path), cwd=config_path.parent, stdout=sys.stderr
    )
    if proc.returncode != 0 or not (html_dir / "index.html").is_file():
        raise BenchRunError(f"asv publish failed (exit status {proc.returncode}): see its log above")
    vendored = vendor_into(html_dir)
    log(f"bench-publish: {len(vendored)} scripts and styles served from {html_dir / VENDOR_OUT} (no network)")
    page = write_scaling_report(html_dir, results_dir, log) if scaling else None
    if page:
        log(f"bench-publish: scaling report {page}, linked from the dashboard")
    log(f"bench-publish: open it with `asv preview` or `python -m http.server -d {html_dir}`")
    return {"html_dir": str(html_dir), "vendored": vendored, "scaling": str(page) if page else None}


# --- the command -------------------------------------------------------------------------------


def cmd_bench_publish(args) -> int:
    """The command; a :class:`~genre_hpc.benchruns.BenchRunError` (a request that cannot run, a
    git or asv step that failed) is reported in one line, exit 2."""
    from .benchruns import BenchRunError
    from .cli import UsageError

    try:
        return _cmd_bench_publish(args)
    except BenchRunError as exc:
        raise UsageError(str(exc)) from None


def _cmd_bench_publish(args) -> int:
    res = publish(config=args.config, scaling=not args.no_scaling)
    if args.json:
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()
    return 0


def register(subparsers) -> None:
    """Add ``bench-publish`` to the ``genre-hpc`` command (see ``genre_hpc.cli.PLUGIN_COMMANDS``)."""
    p = subparsers.add_parser(
        "bench-publish",
        help="asv publish, made to work offline, with the scaling report linked (make publish)",
        description="Run `asv publish`, serve the dashboard's third-party scripts and styles from "
        "vendored copies (no network needed), and write the compare-machines scaling report into "
        "<html_dir>/scaling/, linked from the dashboard.",
    )
    p.add_argument("--config", type=Path, default=None, help="asv configuration (default: asv.conf.json)")
    p.add_argument("--no-scaling", action="store_true", help="do not write the scaling report")
    p.add_argument("--json", action="store_true", help="print one JSON object last on stdout")
    p.set_defaults(func=cmd_bench_publish)
