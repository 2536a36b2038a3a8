"""The admin listener's page (``GET /`` on ``mcpfwd --admin``), end to end in a real browser.

mcpfwd runs as the CLI with a real upstream (tests/servers/fastmcp_server.py) and an admin
token; a session is opened by the MCP Python SDK's client (``Client(url, mode="legacy")``) and
kept open; the page is loaded in headless Chromium (Debian's package, driven over the
DevTools protocol: tests/python/chromium.py). The page must work under its own
Content-Security-Policy (an inline script or style the policy did not allow would not run),
ask for the token, list the session, draw its plots from /metrics, and close the session with
its button, after which the row disappears on a later refresh.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from pathlib import Path

import anyio
import pytest
from mcp import Client

from chromium import Browser
from http_helpers import http_request, wait_until

HERE = Path(__file__).resolve().parent.parent  # tests/python
SERVER = [sys.executable, str(HERE.parent / "servers" / "fastmcp_server.py")]
TOKEN = "page-test-token-7f3a"

pytestmark = pytest.mark.timeout(120)


def admin_url(proxy) -> str:
    line = proxy.read_line(10).decode().strip()
    assert line.startswith("http://127.0.0.1:"), line
    return line


class HeldSession:
    """One SDK client session, opened on a thread and held until release()."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opened = threading.Event()
        self.release = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        async def main() -> None:
            async with Client(self.url, mode="legacy") as c:
                r = await c.call_tool("echo", {"text": "from the page test"})
                assert r.content[0].text == "from the page test"
                self.opened.set()
                while not self.release.is_set():
                    await anyio.sleep(0.05)
        try:
            anyio.run(main)
        except BaseException as e:  # noqa: BLE001 - its end after the kill may fail: recorded
            self.error = e
        finally:
            self.opened.set()

    def stop(self) -> None:
        self.release.set()
        self.thread.join(15)


def session_ids(admin: str) -> list[str]:
    r = http_request(admin, "GET", headers={"Authorization": f"Bearer {TOKEN}"},
                     path="/sessions")
    assert r.status == 200, r
    return [s["id"] for s in r.json()]


def test_page_is_self_contained_under_a_strict_policy(http_proxy):
    proxy = http_proxy(SERVER, "--admin", "127.0.0.1:0", "--admin-token-env", "PAGE_T",
                       env=dict(os.environ, PAGE_T=TOKEN))
    admin = admin_url(proxy)
    r = http_request(admin, "GET", path="/")  # no token: the page holds no data
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    csp = r.header("Content-Security-Policy") or ""
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp, csp
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)", csp), csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    body = r.body.decode("utf-8")
    # No external asset: no src or href attribute at all, no URL but in comments.
    assert not re.search(r"\s(src|href)\s*=", body), "the page loads an asset"
    assert r.header("X-Frame-Options") == "DENY"
    # The data stays behind the token; other methods on / are refused.
    assert http_request(admin, "GET", path="/sessions").status == 401
    assert http_request(admin, "POST", path="/", body=b"").status == 405


def test_page_lists_a_live_session_and_its_button_closes_it(http_proxy):
    proxy = http_proxy(SERVER, "--admin", "127.0.0.1:0", "--admin-token-env", "PAGE_T",
                       env=dict(os.environ, PAGE_T=TOKEN))
    admin = admin_url(proxy)
    held = HeldSession(proxy.url)
    try:
        assert held.opened.wait(30) and held.error is None, held.error
        (sid,) = session_ids(admin)
        with Browser() as browser:
            page = browser.open(admin + "/")
            # Without the token the page says what is missing.
            page.wait_for("document.getElementById('status').textContent.includes('401')", 15,
                          "the page to report that it needs the token")
            page.eval(f"document.getElementById('token').value = {json.dumps(TOKEN)};"
                      "document.getElementById('token-form').requestSubmit(); true")
            row = f"document.querySelector('tr[data-session-id={json.dumps(sid)}]')"
            page.wait_for(f"{row} !== null", 15, "the session's row")
            cells = page.eval(f"Array.from({row}.cells).map(c => c.textContent)")
            assert cells[0] == sid and cells[1] == "streamable_http" and cells[2] == "ready", cells
            # The plots: samples parsed from /metrics, the live session counted, drawn.
            page.wait_for("Number(document.body.dataset.refreshes || 0) >= 2", 15, "2 refreshes")
            last = page.eval("JSON.parse(sessionStorage.getItem('mcpfwd-admin-history')).pop()")
            assert last["sessions"] == 1 and last["requests"] >= 2, last  # initialize + call
            inked = page.eval("""(() => {
                const c = document.getElementById('plot-sessions');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })()""")
            assert inked > 100, inked
            # The button: DELETE /sessions/ID with the token, then the row goes.
            page.eval(f"document.querySelector('button[data-kill={json.dumps(sid)}]').click(); true")
            wait_until(lambda: sid not in session_ids(admin), 15, what="the session to close")
            page.wait_for(f"{row} === null", 15, "the row to disappear")
            assert "HTTP" not in page.eval("document.getElementById('status').textContent")
            # Nothing was blocked by the policy, nothing threw.
            assert not page.events("Runtime.exceptionThrown"), page.events("Runtime.exceptionThrown")
            errors = [e["entry"] for e in page.events("Log.entryAdded")
                      if e["entry"]["level"] == "error"
                      and "401" not in e["entry"].get("text", "")]  # the tokenless fetches
            assert not errors, errors
    finally:
        held.stop()
    closed = [ln for ln in proxy.stderr_lines() if "closed through the admin listener" in ln]
    assert closed and sid in closed[0], proxy.stderr_tail()


def test_the_page_origin_is_accepted_whatever_allow_origin_says(http_proxy):
    """The page's own DELETE carries Origin http://<the admin Host>: accepted even when
    --allow-origin names only other origins; a foreign Origin is still refused."""
    proxy = http_proxy(SERVER, "--admin", "127.0.0.1:0", "--allow-origin", "https://app.example")
    admin = admin_url(proxy)
    own = admin[len("http://"):]
    for origin, status in ((f"http://{own}", 404), ("https://app.example", 404),
                           ("http://evil.example", 403), (f"https://{own}", 403),
                           (f"http://{own}.evil.example", 403)):
        r = http_request(admin, "DELETE", headers={"Origin": origin}, path="/sessions/n1.00")
        assert r.status == status, (origin, r)
