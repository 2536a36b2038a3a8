"""Raw HTTP helpers for the ``mcpfwd --listen`` (Streamable HTTP) tests.

Only the standard library is used (``http.client`` and ``socket``): every
status code, header and byte of the proxy's answers is visible to the tests,
with nothing an HTTP client library would smooth over.

``HttpProxy``      mcpfwd --listen 127.0.0.1:0 ... -- SERVER, with the endpoint
                   URL read from its stdout, child processes watched in the
                   background (so a session's upstream that comes and goes
                   between two looks is still checked for leaks).
``http_request``   one request on a fresh connection, the whole answer read;
                   SSE bodies are parsed into events and JSON-RPC messages.
``McpHttp``        a minimal hand-driven MCP session (initialize, call, notify,
                   delete, GET stream, streamed POST).
``SseStream``      an open SSE answer read by a background thread, so every
                   wait has a timeout and "nothing arrives" can be asserted.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import socket
import threading
import time
import urllib.parse
from typing import Any

from conftest import ProxyProcess, sanitizer_digest

PROTOCOL_VERSION = "2025-06-18"
ACCEPT_BOTH = "application/json, text/event-stream"
SESSION_HEADER = "Mcp-Session-Id"
SESSION_ID_RX = re.compile(r"^[0-9a-f]{32}$")
URL_RX = re.compile(r"^http://127\.0\.0\.1:(\d+)/mcp$")

CLIENT_INFO = {"name": "mcpfwd-http-tests", "version": "0"}


def init_request(msg_id: Any = 1, protocol_version: str = PROTOCOL_VERSION,
                 capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": "initialize",
            "params": {"protocolVersion": protocol_version,
                       "capabilities": capabilities or {},
                       "clientInfo": dict(CLIENT_INFO)}}


def rpc(method: str, params: Any = None, msg_id: Any = None) -> dict[str, Any]:
    """A request (msg_id given) or a notification (msg_id None)."""
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if msg_id is not None:
        msg["id"] = msg_id
    if params is not None:
        msg["params"] = params
    return msg


INITIALIZED = rpc("notifications/initialized")


# --------------------------------------------------------------------------
# SSE parsing


def parse_sse(text: str) -> list[dict[str, str]]:
    """Events of a complete SSE body: [{"event":..., "data":..., "id":...}] (comments dropped)."""
    events = []
    parser = _SseParser()
    for line in text.splitlines(keepends=True):
        ev = parser.feed(line)
        if ev is not None:
            events.append(ev)
    ev = parser.finish()
    if ev is not None:
        events.append(ev)
    return events


class _SseParser:
    """Line-at-a-time SSE event parser (WHATWG rules that matter here)."""

    def __init__(self) -> None:
        self.data: list[str] = []
        self.fields: dict[str, str] = {}

    def feed(self, line: str) -> dict[str, str] | None:
        line = line.rstrip("\r\n")
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self.data.append(value)
        else:
            self.fields[name] = value
        return None

    def finish(self) -> dict[str, str] | None:
        # an event not terminated by a blank line is discarded (WHATWG); report it anyway
        # only if it carried data, so a truncated stream is visible to the tests
        return self._dispatch() if self.data else None

    def _dispatch(self) -> dict[str, str] | None:
        if not self.data and not self.fields:
            return None
        ev = dict(self.fields)
        ev.setdefault("event", "message")
        ev["data"] = "\n".join(self.data)
        self.data, self.fields = [], {}
        return ev


def event_message(ev: dict[str, str]) -> Any:
    """The JSON-RPC message of an SSE event (None for an empty-data priming event)."""
    if ev["data"] == "":
        return None
    try:
        return json.loads(ev["data"])
    except ValueError:
        raise AssertionError(f"SSE event data is not JSON: {ev!r}") from None


# --------------------------------------------------------------------------
# one-shot requests


class HttpResult:
    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.header_list = headers
        self.body = body

    def header(self, name: str) -> str | None:
        vals = self.headers_named(name)
        return vals[0] if vals else None

    def headers_named(self, name: str) -> list[str]:
        return [v for k, v in self.header_list if k.lower() == name.lower()]

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def session_id(self) -> str | None:
        return self.header(SESSION_HEADER)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError(f"body is not JSON ({self}): {self.body[:500]!r}") from None

    def events(self) -> list[dict[str, str]]:
        assert self.content_type == "text/event-stream", f"not an SSE answer: {self}"
        return parse_sse(self.body.decode("utf-8"))

    def messages(self) -> list[Any]:
        """The JSON-RPC messages of the answer, whether JSON or SSE."""
        if self.content_type == "text/event-stream":
            return [m for m in (event_message(e) for e in self.events()) if m is not None]
        if self.content_type == "application/json":
            return [self.json()]
        raise AssertionError(f"answer carries no JSON-RPC messages: {self}")

    def response(self) -> Any:
        """The one JSON-RPC response in the answer (the last message; nothing after it)."""
        msgs = self.messages()
        assert msgs, f"no messages in {self}"
        last = msgs[-1]
        assert isinstance(last, dict) and "method" not in last and \
            ("result" in last or "error" in last), f"last message is not a response: {msgs}"
        return last

    def __repr__(self) -> str:
        return (f"<HTTP {self.status} {self.reason} {self.header_list!r} "
                f"body={self.body[:300]!r}>")


def split_url(url: str) -> tuple[str, int, str]:
    u = urllib.parse.urlsplit(url)
    assert u.hostname and u.port, url
    return u.hostname, u.port, u.path or "/"


def http_request(url: str, method: str = "POST", body: Any = None,
                 headers: dict[str, str] | None = None, timeout: float = 15.0,
                 path: str | None = None) -> HttpResult:
    """One request on a fresh connection; ``body`` may be bytes, str or a JSON value."""
    host, port, default_path = split_url(url)
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body, separators=(",", ":"))
    if isinstance(body, str):
        body = body.encode("utf-8")
    hdrs = dict(headers or {})
    if body is not None:
        hdrs.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path or default_path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return HttpResult(resp.status, resp.reason, resp.getheaders(), data)
    finally:
        conn.close()


def _response_complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if "content-length" in hdrs:
        return len(body) >= int(hdrs["content-length"])
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        return body.endswith(b"0\r\n\r\n")
    return False  # until close


def raw_exchange(url: str, raw: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes; return the server's bytes up to one complete answer, its close or timeout.

    A connection reset while sending is tolerated (the answer may already be there).
    """
    host, port, _ = split_url(url)
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                if chunks:
                    break
                raise
            if not b:
                break
            chunks.append(b)
            if _response_complete(b"".join(chunks)):
                break
        return b"".join(chunks)


# --------------------------------------------------------------------------
# streamed answers


class SseStream:
    """A request whose answer is read on a background thread (SSE parsed as it arrives).

    The request is sent at construction; the thread then waits for the status
    line, so a request the proxy holds (an in-flight call, a GET stream) never
    blocks the test.  ``wait_headers`` waits for the status; ``next_message``
    and ``wait_end`` read SSE events; a non-SSE answer is read whole into
    ``body``.  ``abort`` drops the TCP connection (a client disconnect).
    """

    def __init__(self, url: str, method: str, body: bytes | None, headers: dict[str, str],
                 timeout: float = 15.0) -> None:
        host, port, path = split_url(url)
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.conn.request(method, path, body=body, headers=headers)
        # keep the socket: http.client forgets it (conn.sock = None) for a will-close answer
        self.sock = self.conn.sock
        assert self.sock is not None
        self.sock.settimeout(None)  # the reader blocks; abort()/close() unblock it
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body: bytes | None = None
        self.resp: http.client.HTTPResponse | None = None
        self.error: BaseException | None = None
        self._q: queue.Queue[dict[str, str] | None | BaseException] = queue.Queue()
        self._closed = False
        self.headers_ready = threading.Event()
        self.ended = threading.Event()
        self.events_seen: list[dict[str, str]] = []
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def _pump(self) -> None:
        try:
            self.resp = self.conn.getresponse()
            self.status = self.resp.status
            self.headers = self.resp.getheaders()
            self.headers_ready.set()
            if not (self.status == 200 and self.content_type == "text/event-stream"):
                self.body = self.resp.read()
                return
            parser = _SseParser()
            while True:
                line = self.resp.readline()
                if not line:
                    break
                ev = parser.feed(line.decode("utf-8"))
                if ev is not None:
                    self._q.put(ev)
        except (OSError, ValueError, AttributeError, http.client.HTTPException) as e:
            # AttributeError: http.client after the response was closed under our feet
            self.error = e
            if not self._closed:
                self._q.put(e)
        finally:
            self.headers_ready.set()
            self.ended.set()
            self._q.put(None)

    def wait_headers(self, timeout: float = 10.0) -> int:
        """Wait for the status line; return the status (fails if none came)."""
        if not self.headers_ready.wait(timeout):
            raise AssertionError(f"no HTTP answer within {timeout}s")
        if self.status is None:
            raise AssertionError(f"connection ended without an HTTP answer: {self.error!r}")
        return self.status

    def result(self, timeout: float = 10.0) -> HttpResult:
        """Wait for the whole answer of a non-SSE reply (or collected SSE) as an HttpResult."""
        self.wait_headers(timeout)
        if not self.ended.wait(timeout):
            raise AssertionError(f"answer not complete within {timeout}s")
        if self.body is not None:
            body = self.body
        else:
            parts = []
            for ev in self.events_seen + self._drain():
                parts.append("".join(f"{k}: {v}\n" for k, v in ev.items() if k != "data"))
                parts.append("".join(f"data: {d}\n" for d in ev["data"].split("\n")) + "\n")
            body = "".join(parts).encode("utf-8")
        assert self.status is not None
        return HttpResult(self.status, "", self.headers, body)

    def _drain(self) -> list[dict[str, str]]:
        out = []
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return out
            if item is None:
                self._q.put(None)
                return out
            if isinstance(item, BaseException):
                raise AssertionError(f"SSE stream broke: {item!r}")
            out.append(item)

    def next_event(self, timeout: float = 10.0) -> dict[str, str] | None:
        """The next event, or None at the end of the stream; fails on timeout."""
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no SSE event within {timeout}s") from None
        if item is None:
            self._q.put(None)
            return None
        if isinstance(item, BaseException):
            raise AssertionError(f"SSE stream broke: {item!r}")
        self.events_seen.append(item)
        return item

    def next_message(self, timeout: float = 10.0) -> Any:
        """The next JSON-RPC message (priming events skipped); None at end of stream."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next_event(max(0.01, deadline - time.monotonic()))
            if ev is None:
                return None
            msg = event_message(ev)
            if msg is not None:
                return msg

    def expect_no_message(self, quiet: float = 0.5) -> None:
        """Nothing but priming/keep-alive events for ``quiet`` seconds (an end is fine)."""
        deadline = time.monotonic() + quiet
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                item = self._q.get(timeout=remaining)
            except queue.Empty:
                return
            if item is None:
                self._q.put(None)
                return
            if isinstance(item, BaseException):
                raise AssertionError(f"SSE stream broke: {item!r}")
            self.events_seen.append(item)
            if event_message(item) is not None:
                raise AssertionError(f"unexpected SSE event: {item!r}")

    def is_open(self) -> bool:
        return not self.ended.is_set()

    def wait_end(self, timeout: float = 10.0) -> list[Any]:
        """Read until the stream ends; return the JSON-RPC messages seen on the way."""
        deadline = time.monotonic() + timeout
        msgs = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"SSE stream did not end within {timeout}s (got {msgs})")
            try:
                msg = self.next_message(remaining)
            except AssertionError as e:
                if "no SSE event within" in str(e):
                    raise AssertionError(f"SSE stream did not end within {timeout}s "
                                         f"(got {msgs})") from None
                raise
            if msg is None:
                return msgs
            msgs.append(msg)

    def abort(self) -> None:
        """Drop the TCP connection abruptly (client disconnect mid-request/mid-stream)."""
        self.close()

    def close(self) -> None:
        self._closed = True
        if not self.ended.is_set():
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._t.join(10)
        assert not self._t.is_alive(), "SSE reader thread did not stop"
        if self.resp is not None:
            self.resp.close()
        self.conn.close()
        self.sock.close()

    def __enter__(self) -> SseStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------
# a hand-driven MCP session


class McpHttp:
    """One MCP session over raw HTTP."""

    def __init__(self, url: str, headers: dict[str, str] | None = None,
                 protocol_version: str = PROTOCOL_VERSION) -> None:
        self.url = url
        self.extra = dict(headers or {})
        self.protocol_version = protocol_version
        self.sid: str | None = None
        self._next_id = 100
        self._id_lock = threading.Lock()
        self.init_result: HttpResult | None = None

    def next_id(self) -> int:
        with self._id_lock:  # several threads may share one session
            self._next_id += 1
            return self._next_id

    def headers(self, extra: dict[str, str] | None = None, session: bool = True,
                accept: str = ACCEPT_BOTH) -> dict[str, str]:
        h = {"Accept": accept, **self.extra}
        if session and self.sid is not None:
            h[SESSION_HEADER] = self.sid
            h["MCP-Protocol-Version"] = self.protocol_version
        h.update(extra or {})
        return h

    def initialize(self, check: bool = True, initialized: bool = True,
                   capabilities: dict[str, Any] | None = None) -> HttpResult:
        r = http_request(self.url, "POST", init_request(1, self.protocol_version, capabilities),
                         self.headers(session=False))
        self.init_result = r
        if not check:
            return r
        assert r.status == 200, f"initialize failed: {r}"
        sid = r.session_id
        assert sid is not None and SESSION_ID_RX.match(sid), f"bad Mcp-Session-Id: {r}"
        resp = r.response()
        assert resp.get("id") == 1 and "result" in resp, resp
        self.sid = sid
        if initialized:
            n = self.post(INITIALIZED)
            assert n.status == 202 and n.body == b"", f"notifications/initialized: {n}"
        return r

    def post(self, msg: Any, headers: dict[str, str] | None = None, session: bool = True,
             accept: str = ACCEPT_BOTH, timeout: float = 15.0) -> HttpResult:
        return http_request(self.url, "POST", msg, self.headers(headers, session, accept),
                            timeout=timeout)

    def call(self, method: str, params: Any = None, accept: str = ACCEPT_BOTH,
             timeout: float = 15.0) -> Any:
        """A request that must succeed at the HTTP level; return its JSON-RPC response."""
        msg_id = self.next_id()
        r = self.post(rpc(method, params, msg_id), accept=accept, timeout=timeout)
        assert r.status == 200, f"{method}: {r}"
        assert r.content_type in ("application/json", "text/event-stream"), r
        resp = r.response()
        assert resp["id"] == msg_id, (resp, msg_id)
        return resp

    def notify(self, method: str, params: Any = None) -> HttpResult:
        return self.post(rpc(method, params))

    def delete(self, headers: dict[str, str] | None = None) -> HttpResult:
        return http_request(self.url, "DELETE", None, self.headers(headers))

    def get_stream(self, headers: dict[str, str] | None = None, expect: int | None = 200) -> SseStream:
        """Open the GET stream; by default wait for and require 200 text/event-stream."""
        h = self.headers(headers, accept="text/event-stream")
        st = SseStream(self.url, "GET", None, h)
        if expect is not None:
            try:
                status = st.wait_headers()
                assert status == expect, f"GET stream: status {status} {st.headers} {st.body!r}"
                if expect == 200:
                    assert st.content_type == "text/event-stream", st.headers
            except BaseException:
                st.close()
                raise
        return st

    def post_stream(self, msg: Any, headers: dict[str, str] | None = None) -> SseStream:
        body = json.dumps(msg, separators=(",", ":")).encode("utf-8")
        h = self.headers(headers)
        h["Content-Type"] = "application/json"
        return SseStream(self.url, "POST", body, h)


# --------------------------------------------------------------------------
# the proxy process


class HttpProxy(ProxyProcess):
    """``mcpfwd --listen 127.0.0.1:0 <options> -- <server>`` with its URL and child watch."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None,
                 url_timeout: float = 15.0) -> None:
        super().__init__(argv, env=env)
        self.url = ""
        self._watch_stop = threading.Event()
        self._watch_lock = threading.Lock()
        self._watch = threading.Thread(target=self._watch_children, daemon=True)
        self._watch.start()
        try:
            line = self.read_line(url_timeout)
            text = line.decode("utf-8", "replace").rstrip("\n")
            assert URL_RX.match(text), f"first stdout line is not the endpoint URL: {line!r}; " \
                                       f"stderr:\n{self.stderr_tail()}"
        except BaseException:
            self.cleanup()
            raise
        self.url = text

    def _watch_children(self) -> None:
        while not self._watch_stop.is_set():
            if self.proc.poll() is None:
                try:
                    self.child_pids()
                except Exception:  # noqa: BLE001 - /proc races; the next round sees it
                    pass
            self._watch_stop.wait(0.03)

    def child_pids(self) -> list[int]:
        with self._watch_lock:
            return super().child_pids()

    def stderr_text(self) -> str:
        return "\n".join(self.stderr_lines())

    def sanitizer_reports(self) -> list[str]:
        return sanitizer_digest(self.stderr_lines())

    def wait_children(self, n: int, timeout: float = 10.0) -> list[int]:
        """Wait until mcpfwd has exactly n children; return them."""
        deadline = time.monotonic() + timeout
        while True:
            kids = self.child_pids()
            if len(kids) == n:
                return kids
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} children of mcpfwd, found {kids}; "
                                     f"stderr tail:\n{self.stderr_tail()}")
            time.sleep(0.02)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; return the exit status."""
        self.child_pids()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(timeout)
        self._watch_stop.set()
        self._watch.join(5)
        return rc

    def cleanup(self) -> None:
        self._watch_stop.set()
        self._watch.join(5)
        super().cleanup()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(pred, timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
