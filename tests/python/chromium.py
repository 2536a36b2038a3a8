"""Headless Chromium driven over the DevTools protocol, standard library only.

``chromium --headless --remote-debugging-pipe`` reads protocol commands on its fd 3 and
writes answers and events on its fd 4, each message JSON followed by a NUL byte: no
websocket client is needed. Debian's ``chromium`` package (packaging/install-deps.sh).

    with Browser() as b:
        page = b.open("http://127.0.0.1:9464/")
        page.wait_for("document.title === 'mcpfwd'", 10)
        page.eval("1 + 1")  # -> 2
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("chromium not found: packaging/install-deps.sh installs Debian's chromium")


def _above_9(fd: int) -> int:
    """A copy of fd numbered 10 or more (close-on-exec: pass_fds clears it); fd is closed."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def _reap_orphaned_chromium() -> None:
    """Chromium's helpers (zygotes) may outlive the browser; the tests' process is a child
    subreaper (conftest.py), so they become its children: reap those that have exited."""
    me = os.getpid()
    deadline = time.monotonic() + 5
    while True:
        left = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
            if int(ppid) != me or "chrom" not in comm:
                continue
            if state == "Z":
                try:
                    os.waitpid(int(entry), os.WNOHANG)
                except ChildProcessError:
                    pass
            else:
                left.append(int(entry))
        if not left or time.monotonic() > deadline:
            return
        time.sleep(0.05)


class Page:
    def __init__(self, browser: Browser, session_id: str) -> None:
        self.browser = browser
        self.session_id = session_id

    def send(self, method: str, params: dict[str, Any] | None = None,
             timeout: float = 10.0) -> dict[str, Any]:
        return self.browser.send(method, params, timeout, self.session_id)

    def eval(self, expression: str, timeout: float = 10.0) -> Any:
        """The value of a JavaScript expression in the page (awaited if a promise)."""
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True}, timeout)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression!r} threw: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str = "") -> Any:
        """Polls `expression` until it is truthy; its value, or AssertionError at `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(expression)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for "
                                     f"{what or expression}")
            time.sleep(0.1)

    def events(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.browser.events_snapshot()
                if e.get("sessionId") == self.session_id and e.get("method") == method]


class Browser:
    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="mcpfwd-chromium-")
        # The child's ends above 9, so that the shell's redirections below never close one
        # it has just put on fd 3 or 4.
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        to_child_r, from_child_w = _above_9(to_child_r), _above_9(from_child_w)
        # Chromium reads commands on its fd 3 and writes on its fd 4: a shell puts the pipes
        # there (subprocess closes every descriptor but pass_fds after any preexec_fn; bash, as
        # dash takes only one-digit descriptors).
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c",
             f'exec "$@" 3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-',
             "bash", chromium_binary(), "--headless", "--remote-debugging-pipe", "--no-sandbox",
             "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--mute-audio",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, pass_fds=(to_child_r, from_child_w))
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._answers: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_child, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._answers[msg["id"]] = msg
                    else:
                        self._events.append(msg)
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def events_snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0,
             session_id: str | None = None) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            mid = self._next_id
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session_id:
            msg["sessionId"] = session_id
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while mid not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise TimeoutError(f"no answer to {method} within {timeout} s"
                                       + (" (chromium exited)" if self._closed else ""))
                self._cond.wait(left)
            answer = self._answers.pop(mid)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def open(self, url: str) -> Page:
        """A new tab, attached, with its console and errors recorded, navigated to `url`."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, sid)
        page.send("Runtime.enable")
        page.send("Log.enable")
        page.send("Page.enable")
        page.send("Page.navigate", {"url": url})
        # Navigation is asynchronous: until it commits, the tab still shows about:blank.
        page.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'",
                      15, f"{url} to load")
        return page

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", timeout=5)
                except (TimeoutError, RuntimeError, OSError):
                    pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        finally:
            for fd in (self._to_child, self._from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)
            _reap_orphaned_chromium()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
