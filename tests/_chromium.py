"""A real headless Chromium for the dashboard test, driven over the DevTools protocol.

No extra package: Chromium's ``--remote-debugging-pipe`` speaks the DevTools protocol as
NUL-terminated JSON messages on file descriptors 3 (commands in) and 4 (replies and events out).
The browser starts with a fresh profile, without background services, and with the network
unreachable: every host name resolves to nothing and every proxied request goes to a closed
port, except 127.0.0.1, where the test serves the published folder.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    # the network is unreachable: no name resolves, the proxy is a closed port; only 127.0.0.1
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-pipe",
]


def chromium_path() -> str | None:
    """Debian's ``chromium`` (or another Chromium/Chrome on the PATH), or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _high_fd(fd: int) -> int:
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Chromium:
    """One headless browser and one page (tab); :meth:`evaluate` runs JavaScript in it."""

    def __init__(self, exe: str, profile: Path, log: Path):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # the browser's ends, moved above 9 so that they cannot be fds 3 or 4 themselves
        to_child_r, from_child_w = (_high_fd(fd) for fd in (to_child_r, from_child_w))
        # the pipe ends must be fds 3 and 4 in the browser: bash moves them there (dash: one-digit fds)
        script = f'exec "$0" "$@" 3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-'
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [
                shutil.which("bash") or "/bin/bash",
                "-c",
                script,
                exe,
                *FLAGS,
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._next = 0
        self._replies: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable", session=True)

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_child, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        q = self._replies.get(msg["id"])
                    if q is not None:
                        q.put(msg)
                else:
                    self.events.append(msg)

    def send(self, method: str, session: bool = False, timeout: float = 60, **params) -> dict:
        """One DevTools command; its result (raises on a protocol error)."""
        with self._lock:
            self._next += 1
            ident = self._next
            self._replies[ident] = q = queue.Queue()
        msg = {"id": ident, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        try:
            reply = q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no reply to {method} within {timeout} s") from None
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", session=True, url=url)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        res = self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"JavaScript error: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60, interval: float = 0.25):
        """Poll ``expression`` until it is truthy; its last value (falsy on timeout)."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):  # e.g. while the page is being replaced
                value = self.evaluate(expression)
                if value:
                    return value
            time.sleep(interval)
        return value

    def requests(self) -> list[str]:
        """URLs of every request the page made."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def failures(self) -> list[str]:
        """Requests that failed (no response) or got an HTTP error status."""
        bad = []
        urls = {
            e["params"]["requestId"]: e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        }
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Network.loadingFailed":
                bad.append(f"{urls.get(p.get('requestId'), '?')}: {p.get('errorText')}")
            elif e.get("method") == "Network.responseReceived" and p["response"]["status"] >= 400:
                bad.append(f"{p['response']['url']}: HTTP {p['response']['status']}")
        return bad

    def close(self):
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """An HTTP server for ``folder`` on 127.0.0.1 (a free port); yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


#: JavaScript: the page's state as the dashboard test reads it
PAGE_STATE = """(() => {
  const canvases = Array.from(document.querySelectorAll('canvas'));
  let drawn = 0;
  for (const c of canvases) {
    if (!c.width || !c.height) continue;
    try {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) { drawn++; break; } }
    } catch (e) {}
  }
  const text = document.body ? document.body.innerText : '';
  return {
    href: location.href,
    asv: !!(window.$ && $.asv && $.asv.main_json),
    canvases: canvases.length,
    drawn: drawn,
    swallow: text.includes('continental origin'),
    text: text.slice(0, 20000),
  };
})()"""
