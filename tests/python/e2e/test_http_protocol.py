"""``mcpfwd --listen``: Streamable HTTP behaviour checked byte by byte with raw HTTP.

The upstream is tests/servers/raw_server.py (standard library only, fast to
spawn): it answers every request with what it received, so each test can see
exactly what crossed the proxy.  Every status code of the multi-session mode is
exercised, together with session lifetime (DELETE, idle reaping, crashes,
timeouts), streams (POST SSE, GET SSE, replacement, disconnects) and the
guards (Origin, bearer token, --max-sessions, body size) that must reject a
request before anything is spawned.

The ``http_proxy`` fixture (conftest.py) SIGTERMs mcpfwd at teardown and
requires exit status 0, no child left behind and no sanitizer report.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import sys
import time

import pytest
from conftest import SERVERS_DIR
from http_helpers import (
    ACCEPT_BOTH,
    INITIALIZED,
    SESSION_HEADER,
    SESSION_ID_RX,
    HttpResult,
    McpHttp,
    SseStream,
    http_request,
    init_request,
    raw_exchange,
    rpc,
    split_url,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

ALL_VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]


# --------------------------------------------------------------------------
# helpers


def assert_jsonrpc_error(r: HttpResult, code: int | None = None, required: bool = False) -> dict:
    """An error answer's body, when present (always when ``required``), is a JSON-RPC error."""
    if not r.body:
        assert not required, f"expected a JSON-RPC error body: {r}"
        return {}
    body = r.json()
    assert isinstance(body, dict) and body.get("jsonrpc") == "2.0", f"not JSON-RPC: {r}"
    err = body.get("error")
    assert isinstance(err, dict) and isinstance(err.get("code"), int) \
        and isinstance(err.get("message"), str), f"not a JSON-RPC error object: {r}"
    assert "result" not in body, r
    if code is not None:
        assert err["code"] == code, f"expected error code {code}: {r}"
    return body


def spawned(proxy) -> int:
    """How many upstream processes mcpfwd has started so far (watched since it started)."""
    proxy.child_pids()
    return len(proxy.tracked)


def server_pid_of(proxy, before: set[int]) -> int:
    """The one new child that appeared since ``before``."""
    deadline = time.monotonic() + 10
    while True:
        new = set(proxy.child_pids()) - before
        if len(new) == 1:
            return new.pop()
        assert time.monotonic() < deadline, f"expected one new child, got {new}"
        time.sleep(0.02)


def new_session(proxy, **kw) -> tuple[McpHttp, int]:
    """Initialize a session; return it and its upstream pid."""
    before = set(proxy.child_pids())
    s = McpHttp(proxy.url, **kw)
    s.initialize()
    return s, server_pid_of(proxy, before)


def ping_ok(s: McpHttp) -> None:
    resp = s.call("ping")
    assert "result" in resp, resp


class InFlight:
    """A POST whose answer is awaited on a background thread (e.g. raw/hold)."""

    def __init__(self, s: McpHttp, msg: dict, accept: str = ACCEPT_BOTH) -> None:
        self.stream = SseStream(s.url, "POST", json.dumps(msg).encode(),
                                {**s.headers(accept=accept), "Content-Type": "application/json"})

    def result(self, timeout: float = 10.0) -> HttpResult:
        return self.stream.result(timeout)

    def close(self) -> None:
        self.stream.close()


# --------------------------------------------------------------------------
# startup, initialize, session ids


@pytest.mark.timeout(30)
def test_url_line_and_initialize(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    assert proxy.url.startswith("http://127.0.0.1:") and proxy.url.endswith("/mcp")
    assert not proxy.child_pids(), "a server was spawned before any session existed"
    s = McpHttp(proxy.url)
    r = s.initialize(initialized=False)
    assert r.status == 200
    assert SESSION_ID_RX.match(r.session_id), r
    resp = r.response()
    # raw_server answers with what it received: the initialize request went through untouched
    assert resp["id"] == 1 and resp["result"]["method"] == "initialize"
    assert resp["result"]["params"] == init_request()["params"]
    assert len(proxy.wait_children(1)) == 1
    n = s.post(INITIALIZED)
    assert n.status == 202 and n.body == b"", n
    # the server's stderr is relayed with the prefix
    proxy.wait_stderr(r"^server: raw_server: pid \d+ ready$")


def read_head(sock) -> tuple[str, dict[str, str], bytes]:
    """Read one response head from a raw socket: status line, headers, bytes after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed inside a response head: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        assert k.lower() not in headers, f"header {k} twice: {lines}"
        headers[k.lower()] = v.strip()
    return lines[0], headers, rest


@pytest.mark.timeout(30)
def test_response_heads_follow_the_request_version_and_keep_alive(http_proxy, raw_server_cmd):
    """mcpfwd writes a session's response heads by hand (http_session::response_head): the
    status line in the request's version, Connection as HTTP/1.0 and 1.1 want it, an exact
    Content-Length, and a chunked event-stream head; a keep-alive connection serves again."""
    import socket

    proxy = http_proxy(raw_server_cmd)
    s = McpHttp(proxy.url)
    s.initialize()
    host, port, path = split_url(proxy.url)

    def post(sock, version: str, body: dict, extra: str = "", accept: str = "application/json"):
        raw = json.dumps(body).encode()
        sock.sendall(f"POST {path} HTTP/{version}\r\nHost: {host}:{port}\r\n"
                     f"Content-Type: application/json\r\nAccept: {accept}\r\n"
                     f"{SESSION_HEADER}: {s.sid}\r\nMCP-Protocol-Version: {s.protocol_version}\r\n"
                     f"Content-Length: {len(raw)}\r\n{extra}\r\n".encode() + raw)

    with socket.create_connection((host, port), timeout=10) as c:
        for i in (1, 2):  # HTTP/1.0 with keep-alive: the same connection serves twice
            post(c, "1.0", rpc("tools/list", {}, 100 + i), "Connection: keep-alive\r\n")
            status, h, rest = read_head(c)
            assert status == "HTTP/1.0 200 OK", status
            assert h["connection"] == "keep-alive" and h["content-type"] == "application/json", h
            assert h[SESSION_HEADER.lower()] == s.sid and h["server"] == "mcpfwd", h
            n = int(h["content-length"])
            while len(rest) < n:
                rest += c.recv(65536)
            assert len(rest) == n and json.loads(rest)["id"] == 100 + i, rest
    with socket.create_connection((host, port), timeout=10) as c:  # HTTP/1.1, Connection: close
        post(c, "1.1", rpc("tools/list", {}, 103), "Connection: close\r\n")
        status, h, rest = read_head(c)
        assert status == "HTTP/1.1 200 OK" and h["connection"] == "close", (status, h)
        while True:
            more = c.recv(65536)
            if not more:
                break  # mcpfwd closed it, as announced
            rest += more
        assert len(rest) == int(h["content-length"]), (h, rest)
    with socket.create_connection((host, port), timeout=10) as c:  # 202, no body
        post(c, "1.1", INITIALIZED)
        status, h, rest = read_head(c)
        assert status == "HTTP/1.1 202 Accepted" and h["content-length"] == "0", (status, h)
        assert "content-type" not in h and "connection" not in h and rest == b"", h
    with socket.create_connection((host, port), timeout=10) as c:  # an answer as an event stream
        post(c, "1.1", rpc("raw/emit", {"lines": [json.dumps(rpc("notifications/message",
                                                                   {"level": "info"}))]}, 104),
             accept=ACCEPT_BOTH)
        status, h, _ = read_head(c)
        assert status == "HTTP/1.1 200 OK", status
        assert h["content-type"] == "text/event-stream" and h["transfer-encoding"] == "chunked", h
        assert h["cache-control"] == "no-cache" and "content-length" not in h, h


@pytest.mark.timeout(30)
def test_json_only_accept_gets_json(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s = McpHttp(proxy.url)
    s.initialize()
    r = s.post(rpc("tools/list", {"cursor": "x"}, 7), accept="application/json")
    assert r.status == 200 and r.content_type == "application/json", r
    body = r.json()
    assert body["id"] == 7 and body["result"]["params"] == {"cursor": "x"}, body


@pytest.mark.timeout(30)
def test_session_ids_are_unique_and_each_session_has_its_own_server(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    sessions = [new_session(proxy) for _ in range(4)]
    ids = [s.sid for s, _ in sessions]
    pids = [pid for _, pid in sessions]
    assert all(SESSION_ID_RX.match(i) for i in ids), ids
    assert len(set(ids)) == 4, ids
    assert len(set(pids)) == 4, pids
    assert sorted(proxy.child_pids()) == sorted(pids)
    # each session talks to its own server: raw/history of one shows only its own traffic
    for n, (s, _) in enumerate(sessions):
        s.call("tools/call", {"name": "echo", "arguments": {"text": f"only-{n}"}})
    for n, (s, _) in enumerate(sessions):
        hist = s.call("raw/history")["result"]["lines"]
        text = "\n".join(hist)
        assert f"only-{n}" in text
        assert not any(f"only-{m}" in text for m in range(4) if m != n), hist


# --------------------------------------------------------------------------
# POST bodies: notifications, responses, batches, server-initiated messages


@pytest.mark.timeout(30)
def test_notification_and_response_get_202_and_reach_the_server(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s = McpHttp(proxy.url)
    s.initialize()
    r = s.notify("notifications/roots/list_changed")
    assert r.status == 202 and r.body == b"", r
    r = s.post({"jsonrpc": "2.0", "id": "srv-1", "result": {"ok": True}})
    assert r.status == 202 and r.body == b"", r
    r = s.post({"jsonrpc": "2.0", "id": "srv-2", "error": {"code": -1, "message": "no"}})
    assert r.status == 202 and r.body == b"", r
    hist = [json.loads(x) for x in s.call("raw/history")["result"]["lines"]]
    assert hist[-4:] == [
        INITIALIZED,
        {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
        {"jsonrpc": "2.0", "id": "srv-1", "result": {"ok": True}},
        {"jsonrpc": "2.0", "id": "srv-2", "error": {"code": -1, "message": "no"}},
    ], hist


BATCH_SERVER = SERVERS_DIR / "batch_server.py"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("reply", ["array", "lines"])
def test_batch(http_proxy, reply):
    """2025-03-26 batches. The upstream gets single messages (the SDKs' stdio servers do not
    answer a batch line), and the client gets one batch reply with every answer."""
    proxy = http_proxy([sys.executable, str(BATCH_SERVER), "--batch-reply", reply])
    s = McpHttp(proxy.url, protocol_version="2025-03-26")  # batching exists in 2025-03-26
    s.initialize()
    # only notifications: 202
    r = s.post([rpc("notifications/a"), rpc("notifications/b")])
    assert r.status == 202 and r.body == b"", r
    # requests and a notification: the responses
    r = s.post([rpc("first", {"n": 1}, "b1"), rpc("notifications/c"), rpc("second", {"n": 2}, 22)])
    assert r.status == 200, r
    if r.content_type == "application/json":
        got = r.json()
        assert isinstance(got, list), f"a batch must be answered with a JSON array: {r}"
    else:
        got = []
        for m in r.messages():
            got += m if isinstance(m, list) else [m]
    by_id = {m["id"]: m for m in got}
    assert len(got) == 2 and set(by_id) == {"b1", 22}, got
    assert by_id["b1"]["result"] == {"method": "first", "params": {"n": 1}, "batch": False}
    assert by_id[22]["result"] == {"method": "second", "params": {"n": 2}, "batch": False}
    # a batch of responses (answers to server requests): 202
    r = s.post([{"jsonrpc": "2.0", "id": "s1", "result": {}}, {"jsonrpc": "2.0", "id": "s2", "result": {}}])
    assert r.status == 202 and r.body == b"", r
    hist = [json.loads(x) for x in s.call("raw/history")["result"]["lines"]]
    assert not [m for m in hist if isinstance(m, list)], f"a batch reached the upstream: {hist}"
    assert [m.get("method", m.get("id")) for m in hist][-7:] == [
        "notifications/a", "notifications/b", "first", "notifications/c", "second", "s1", "s2"
    ], hist


@pytest.mark.timeout(30)
def test_notifications_before_the_response_come_on_the_post_sse_stream(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s = McpHttp(proxy.url)
    s.initialize()
    progress = {"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": "tok-1", "progress": 1, "total": 2}}
    log = {"jsonrpc": "2.0", "method": "notifications/message",
           "params": {"level": "info", "data": "héllo ✓"}}
    r = s.post(rpc("raw/emit", {"lines": [json.dumps(progress), json.dumps(log, ensure_ascii=False)],
                                "_meta": {"progressToken": "tok-1"}}, 5))
    assert r.status == 200 and r.content_type == "text/event-stream", r
    msgs = r.messages()
    assert msgs[:2] == [progress, log], msgs
    assert len(msgs) == 3 and msgs[2]["id"] == 5 and msgs[2]["result"]["method"] == "raw/emit", msgs


@pytest.mark.timeout(30)
def test_server_request_on_post_stream_and_client_answer_reaches_the_server(http_proxy,
                                                                             raw_server_cmd):
    """A server->client request (sampling) travels on the POST stream; the client's
    response, POSTed back, gets 202 and reaches the server with the id it sent."""
    proxy = http_proxy(raw_server_cmd)
    s = McpHttp(proxy.url)
    s.initialize(capabilities={"sampling": {}})
    sampling = {"jsonrpc": "2.0", "id": "sample-1", "method": "sampling/createMessage",
                "params": {"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
                           "maxTokens": 5}}
    r = s.post(rpc("raw/emit", {"lines": [json.dumps(sampling)]}, 9))
    assert r.status == 200 and r.content_type == "text/event-stream", r
    msgs = r.messages()
    assert len(msgs) == 2, msgs
    req = msgs[0]
    assert req["method"] == "sampling/createMessage" and req["params"] == sampling["params"], req
    assert msgs[1]["id"] == 9 and "result" in msgs[1], msgs
    answer = {"jsonrpc": "2.0", "id": req["id"],
              "result": {"role": "assistant", "content": {"type": "text", "text": "hello"},
                         "model": "test-model"}}
    a = s.post(answer)
    assert a.status == 202 and a.body == b"", a
    hist = [json.loads(x) for x in s.call("raw/history")["result"]["lines"]]
    got = [m for m in hist if "result" in m and "method" not in m]
    assert got == [{"jsonrpc": "2.0", "id": "sample-1", "result": answer["result"]}], hist


# --------------------------------------------------------------------------
# DELETE and 404


@pytest.mark.timeout(30)
def test_delete_then_404_then_reinitialize(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s, pid = new_session(proxy)
    ping_ok(s)
    d = s.delete()
    assert d.status == 200, d
    wait_until(lambda: proxy.tracked[pid].status() == "gone",
               10, what=f"session's server {pid} to end after DELETE")
    assert pid not in proxy.child_pids()
    for r in (s.post(rpc("ping", None, 2)), s.post(INITIALIZED), s.delete(),
              http_request(proxy.url, "GET", None, s.headers(accept="text/event-stream"))):
        assert r.status == 404, r
        assert_jsonrpc_error(r)
    # a fresh initialize without the header starts a new session
    s2, pid2 = new_session(proxy)
    assert s2.sid != s.sid and pid2 != pid
    ping_ok(s2)


@pytest.mark.timeout(30)
def test_unknown_session_id_is_404(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s, _ = new_session(proxy)
    bogus = McpHttp(proxy.url)
    bogus.sid = secrets.token_hex(16)
    for r in (bogus.post(rpc("ping", None, 1)), bogus.post(INITIALIZED), bogus.delete(),
              http_request(proxy.url, "GET", None, bogus.headers(accept="text/event-stream"))):
        assert r.status == 404, r
        assert_jsonrpc_error(r)
    assert spawned(proxy) == 1
    ping_ok(s)  # the real session is untouched


# --------------------------------------------------------------------------
# 400 / 405 / 404-path / 413


@pytest.mark.timeout(30)
def test_missing_session_id_is_400_and_spawns_nothing(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    h = {"Accept": ACCEPT_BOTH}
    for r in (http_request(proxy.url, "POST", rpc("tools/list", None, 1), h),
              http_request(proxy.url, "POST", INITIALIZED, h),
              http_request(proxy.url, "GET", None, {"Accept": "text/event-stream"}),
              http_request(proxy.url, "DELETE", None, h)):
        assert r.status == 400, r
        assert_jsonrpc_error(r)
    time.sleep(0.3)
    assert spawned(proxy) == 0, f"rejected requests spawned servers: {proxy.tracked}"


@pytest.mark.timeout(30)
def test_protocol_version_header(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s, _ = new_session(proxy)
    for v in ALL_VERSIONS:
        r = s.post(rpc("ping", None, 3), headers={"MCP-Protocol-Version": v})
        assert r.status == 200 and r.response()["id"] == 3, (v, r)
    for bad in ("1999-01-01", "2025-06-18x", "", "latest"):
        r = s.post(rpc("ping", None, 4), headers={"MCP-Protocol-Version": bad})
        assert r.status == 400, (bad, r)
        assert_jsonrpc_error(r)
    # absent header: assumed 2025-03-26, accepted
    h = s.headers()
    del h["MCP-Protocol-Version"]
    r = http_request(proxy.url, "POST", rpc("ping", None, 5), h)
    assert r.status == 200, r
    # the bad requests never reached the server
    hist = [json.loads(x) for x in s.call("raw/history")["result"]["lines"]]
    assert [m.get("id") for m in hist if m.get("method") == "ping"] == [3, 3, 3, 3, 5], hist


@pytest.mark.timeout(30)
def test_malformed_json_is_400_parse_error(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    # without a session: nothing is spawned
    for body in (b"{not json", b"", b'{"jsonrpc":"2.0","id":1,"method":"initialize"', b"\xff\xfe"):
        r = http_request(proxy.url, "POST", body, {"Accept": ACCEPT_BOTH})
        assert r.status == 400, (body, r)
        if body != b"":
            err = assert_jsonrpc_error(r, code=-32700, required=True)
            assert err["id"] is None, r
    time.sleep(0.3)
    assert spawned(proxy) == 0
    # within a session the session survives a bad body
    s, _ = new_session(proxy)
    r = s.post(b"[{]")
    assert r.status == 400, r
    err = assert_jsonrpc_error(r, code=-32700, required=True)
    assert err["id"] is None
    ping_ok(s)


@pytest.mark.timeout(30)
def test_other_methods_405_with_allow(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s, _ = new_session(proxy)
    for method in ("PUT", "PATCH"):
        for sess in (False, True):
            r = http_request(proxy.url, method, b"{}", s.headers(session=sess))
            assert r.status == 405, (method, r)
            allow = {m.strip().upper() for m in (r.header("Allow") or "").split(",")}
            assert {"GET", "POST", "DELETE"} <= allow, r
            assert method not in allow
            assert_jsonrpc_error(r)
    ping_ok(s)
    assert spawned(proxy) == 1


@pytest.mark.timeout(30)
def test_other_paths_404_and_spawn_nothing(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    # (/sse and /messages are the legacy HTTP+SSE endpoints: test_sse_downstream.py)
    for path in ("/", "/mcpx", "/mcp/x", "/other", "/MCP", "/ssex", "/messages/x"):
        r = http_request(proxy.url, "POST", init_request(), {"Accept": ACCEPT_BOTH}, path=path)
        assert r.status == 404, (path, r)
        r = http_request(proxy.url, "GET", None, {"Accept": "text/event-stream"}, path=path)
        assert r.status == 404, (path, r)
    time.sleep(0.3)
    assert spawned(proxy) == 0


@pytest.mark.timeout(30)
def test_body_over_max_message_bytes_is_413(http_proxy, raw_server_cmd):
    limit = 2000
    proxy = http_proxy(raw_server_cmd, "--max-message-bytes", str(limit))
    big_init = init_request()
    big_init["params"]["clientInfo"]["name"] = "x" * (limit + 100)
    r = http_request(proxy.url, "POST", big_init, {"Accept": ACCEPT_BOTH})
    assert r.status == 413, r
    assert_jsonrpc_error(r)
    time.sleep(0.3)
    assert spawned(proxy) == 0, "an oversized initialize spawned a server"
    s, _ = new_session(proxy)
    # exactly at the limit: accepted (a notification: raw_server does not answer it, so no
    # answer of the server's can exceed the limit either)
    note = rpc("notifications/pad", {"pad": ""})
    note["params"]["pad"] = "y" * (limit - len(json.dumps(note, separators=(",", ":"))))
    body = json.dumps(note, separators=(",", ":"))
    assert len(body) == limit
    r = s.post(body)
    assert r.status == 202, r
    over = body[:-3] + 'y"}}'  # limit + 1 bytes
    assert len(over) == limit + 1 and json.loads(over)
    r = s.post(over)
    assert r.status == 413, r
    assert_jsonrpc_error(r)
    for size in (limit + 1, limit * 10):
        r = s.post(rpc("echo", {"text": "z" * size}, 8))
        assert r.status == 413, (size, r)
        assert_jsonrpc_error(r)
    # raw: a Content-Length announcing far more than the limit is refused from the headers
    # alone (no body is sent: the proxy must not wait for 100 MiB)
    host_port = proxy.url.split("/")[2]
    head = (f"POST /mcp HTTP/1.1\r\nHost: {host_port}\r\nContent-Type: application/json\r\n"
            f"Accept: {ACCEPT_BOTH}\r\n{SESSION_HEADER}: {s.sid}\r\n"
            f"Content-Length: {100 * 1024 * 1024}\r\n\r\n").encode()
    out = raw_exchange(proxy.url, head, timeout=5)
    assert out.startswith(b"HTTP/1.1 413"), out[:200]
    # a 5 MiB body actually sent: refused (the proxy may reset the connection while we are
    # still sending; then no answer can be read, but nothing may reach the server)
    body = json.dumps(rpc("echo", {"text": "z" * (5 * 1024 * 1024)}, 8)).encode()
    head = (f"POST /mcp HTTP/1.1\r\nHost: {host_port}\r\nContent-Type: application/json\r\n"
            f"Accept: {ACCEPT_BOTH}\r\n{SESSION_HEADER}: {s.sid}\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    try:
        out = raw_exchange(proxy.url, head + body, timeout=10)
    except ConnectionError:
        out = None
    if out is not None and out:
        assert out.startswith(b"HTTP/1.1 413"), out[:200]
    ping_ok(s)
    # what reached the server: the one notification at the limit, none of the oversized ones
    # (raw/emit with nothing to emit would answer with the history: too big, so count seq)
    seq = s.call("ping")["result"]["seq"]
    assert seq == 1 + 1 + 1 + 1 + 1, f"oversized bodies reached the server (seq {seq})"


@pytest.mark.timeout(30)
def test_server_response_over_max_message_bytes_becomes_an_error(http_proxy, raw_server_cmd):
    """The server's answer is over the limit: it is dropped, and the request gets a
    -32000 error with its own id naming the limit (not silence until a timeout)."""
    limit = 2000
    proxy = http_proxy(raw_server_cmd, "--max-message-bytes", str(limit))
    s, _ = new_session(proxy)
    # raw_server's answer carries the request twice (as "raw" and as "params")
    req = rpc("echo", {"text": "q" * 1200}, 31)
    assert len(json.dumps(req, separators=(",", ":"))) < limit
    t0 = time.monotonic()
    r = s.post(req, timeout=15)
    assert r.status == 200, r
    resp = r.response()
    assert resp["id"] == 31 and resp["error"]["code"] == -32000, resp
    assert f"over the {limit}-byte message limit" in resp["error"]["message"], resp
    assert time.monotonic() - t0 < 5
    ping_ok(s)


# --------------------------------------------------------------------------
# Origin, bearer token, --max-sessions


@pytest.mark.timeout(30)
def test_origin_default_allow_list(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    allowed = ["http://localhost", "http://localhost:3000", "https://localhost:8443",
               "http://127.0.0.1", "http://127.0.0.1:6274", "https://127.0.0.1",
               "http://[::1]", "http://[::1]:8080"]
    denied = ["http://evil.example", "https://evil.example:443", "http://localhost.evil.example",
              "http://127.0.0.1.evil.example", "null", "http://10.0.0.1", "file://",
              "http://evil.example@localhost.attacker"]
    for origin in denied:
        r = http_request(proxy.url, "POST", init_request(), {"Accept": ACCEPT_BOTH, "Origin": origin})
        assert r.status == 403, (origin, r)
        assert_jsonrpc_error(r)
    time.sleep(0.3)
    assert spawned(proxy) == 0, "a request with a forbidden Origin spawned a server"
    sessions = []
    for origin in allowed:
        s = McpHttp(proxy.url, headers={"Origin": origin})
        s.initialize()
        ping_ok(s)
        sessions.append(s)
    # no Origin at all (non-browser clients) is allowed: the other tests rely on it
    s, _ = new_session(proxy)
    # a bad Origin on an in-session request is refused, the session lives on
    for r in (s.post(rpc("ping", None, 2), headers={"Origin": "http://evil.example"}),
              s.delete(headers={"Origin": "http://evil.example"}),
              http_request(proxy.url, "GET", None,
                           s.headers({"Origin": "http://evil.example"}, accept="text/event-stream"))):
        assert r.status == 403, r
    ping_ok(s)
    for x in sessions:
        assert x.delete().status == 200


@pytest.mark.timeout(30)
def test_origin_configured_allow_list(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd, "--allow-origin", "https://app.example",
                       "--allow-origin", "http://tool.example:8080")
    for origin in ("https://app.example", "http://tool.example:8080"):
        s = McpHttp(proxy.url, headers={"Origin": origin})
        s.initialize()
        ping_ok(s)
    n = spawned(proxy)
    for origin in ("http://app.example", "https://evil.example", "http://tool.example:8081"):
        r = http_request(proxy.url, "POST", init_request(), {"Accept": ACCEPT_BOTH, "Origin": origin})
        assert r.status == 403, (origin, r)
    time.sleep(0.3)
    assert spawned(proxy) == n


@pytest.mark.timeout(30)
def test_bearer_token_required(http_proxy, raw_server_cmd):
    token = secrets.token_urlsafe(24)
    env = dict(os.environ, MCPFWD_TEST_TOKEN=token)
    proxy = http_proxy(raw_server_cmd, "--auth-token-env", "MCPFWD_TEST_TOKEN", env=env)
    for auth in (None, "Bearer wrong", f"Bearer {token}x", f"Basic {token}", token, "Bearer "):
        h = {"Accept": ACCEPT_BOTH}
        if auth is not None:
            h["Authorization"] = auth
        r = http_request(proxy.url, "POST", init_request(), h)
        assert r.status == 401, (auth, r)
        assert (r.header("WWW-Authenticate") or "").startswith("Bearer"), r
        assert_jsonrpc_error(r)
    time.sleep(0.3)
    assert spawned(proxy) == 0, "an unauthenticated initialize spawned a server"
    good = {"Authorization": f"Bearer {token}"}
    s = McpHttp(proxy.url, headers=good)
    s.initialize()
    ping_ok(s)
    # every request of the session needs the token too
    for r in (s.post(rpc("ping", None, 2), headers={"Authorization": "Bearer nope"}),
              http_request(proxy.url, "POST", rpc("ping", None, 3),
                           {k: v for k, v in s.headers().items() if k != "Authorization"}),
              http_request(proxy.url, "GET", None,
                           {k: v for k, v in s.headers(accept="text/event-stream").items()
                            if k != "Authorization"}),
              http_request(proxy.url, "DELETE", None,
                           {k: v for k, v in s.headers().items() if k != "Authorization"})):
        assert r.status == 401, r
        assert (r.header("WWW-Authenticate") or "").startswith("Bearer"), r
    ping_ok(s)
    # the token is not passed through to the server
    hist = "\n".join(s.call("raw/history")["result"]["lines"])
    assert token not in hist
    assert s.delete().status == 200


@pytest.mark.timeout(30)
def test_max_sessions_503_with_retry_after(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd, "--max-sessions", "2")
    a, _ = new_session(proxy)
    b, _ = new_session(proxy)
    for _ in range(3):
        r = http_request(proxy.url, "POST", init_request(), {"Accept": ACCEPT_BOTH})
        assert r.status == 503, r
        retry = r.header("Retry-After")
        assert retry is not None and retry.strip().isdigit(), r
        assert_jsonrpc_error(r, required=True)
        assert r.session_id is None, r
    time.sleep(0.3)
    assert spawned(proxy) == 2, "an initialize over --max-sessions spawned a server"
    ping_ok(a)
    ping_ok(b)
    assert a.delete().status == 200
    # the DELETE has ended the session (its id is 404 now): its slot is free at once,
    # whether or not its server process has been reaped yet
    assert a.post(rpc("ping", None, 9)).status == 404
    c, _ = new_session(proxy)
    ping_ok(c)


# --------------------------------------------------------------------------
# GET streams


@pytest.mark.timeout(30)
def test_get_stream_receives_unrelated_server_messages(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s, _ = new_session(proxy)
    other, _ = new_session(proxy)
    with s.get_stream() as g, other.get_stream() as g_other:
        note = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
        # the POST cannot carry it (JSON-only Accept): it must go to this session's GET stream
        r = s.post(rpc("raw/emit", {"lines": [json.dumps(note)]}, 4), accept="application/json")
        assert r.status == 200 and r.content_type == "application/json", r
        assert g.next_message(5) == note
        g_other.expect_no_message(0.5)  # never to another session
        assert g.is_open()


@pytest.mark.timeout(30)
def test_second_get_stream_replaces_the_first(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s, pid = new_session(proxy)
    g1 = s.get_stream()
    try:
        g2 = s.get_stream()
        try:
            assert g1.wait_end(5) == [], "the first GET stream carried messages"
            ping_ok(s)
            note = {"jsonrpc": "2.0", "method": "notifications/resources/list_changed"}
            r = s.post(rpc("raw/emit", {"lines": [json.dumps(note)]}, 6), accept="application/json")
            assert r.status == 200, r
            assert g2.next_message(5) == note
            assert g2.is_open()
            assert proxy.child_pids() == [pid]
        finally:
            g2.close()
    finally:
        g1.close()
    ping_ok(s)


@pytest.mark.timeout(30)
def test_delete_ends_the_get_stream(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s, pid = new_session(proxy)
    with s.get_stream() as g:
        assert s.delete().status == 200
        g.wait_end(10)
    wait_until(lambda: proxy.tracked[pid].status() == "gone", 10, what="server end after DELETE")


# --------------------------------------------------------------------------
# lifetime: idle reaping, request timeout, crashes, disconnects


@pytest.mark.timeout(40)
def test_idle_sessions_are_reaped_but_not_busy_ones(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd, "--idle-timeout-ms", "500")
    idle, idle_pid = new_session(proxy)
    streaming, streaming_pid = new_session(proxy)
    busy, busy_pid = new_session(proxy)
    g = streaming.get_stream()
    held = InFlight(busy, rpc("raw/hold", None, 77))
    try:
        time.sleep(2.5)  # no traffic at all meanwhile: 5 idle timeouts
        assert proxy.tracked[idle_pid].status() == "gone", "idle session's server not terminated"
        assert proxy.tracked[streaming_pid].status() == "running", \
            "a session with an open GET stream was reaped"
        assert proxy.tracked[busy_pid].status() == "running", \
            "a session with a request in flight was reaped"
        assert g.is_open(), "the GET stream of a live session ended"
        assert not held.stream.ended.is_set(), f"held request ended: {held.stream.status} " \
                                               f"{held.stream.body!r}"
        r = idle.post(rpc("ping", None, 1))
        assert r.status == 404, r
        ping_ok(streaming)
        ping_ok(busy)
        # once the client drops the stream the session becomes idle and is reaped too
        # (no HTTP traffic meanwhile: only the process is watched)
        g.close()
        deadline = time.monotonic() + 8
        while proxy.tracked[streaming_pid].status() != "gone" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proxy.tracked[streaming_pid].status() == "gone", \
            "session not reaped within 8 s after the client closed its GET stream"
        assert streaming.post(rpc("ping", None, 2)).status == 404
        assert proxy.tracked[busy_pid].status() == "running"
    finally:
        g.close()
        held.close()


@pytest.mark.timeout(30)
def test_request_timeout_answers_with_an_error(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd, "--request-timeout-ms", "300")
    s, pid = new_session(proxy)
    t0 = time.monotonic()
    r = s.post(rpc("raw/hold", None, 31), timeout=15)
    elapsed = time.monotonic() - t0
    assert r.status == 200, r
    resp = r.response()
    assert resp["id"] == 31 and "error" in resp, resp
    assert isinstance(resp["error"]["code"], int) and resp["error"]["message"], resp
    assert 0.25 <= elapsed < 10, elapsed
    # an answered request is not slowed by the timeout; the session lives on
    ping_ok(s)
    assert proxy.tracked[pid].status() == "running"


@pytest.mark.timeout(30)
def test_request_timeouts_are_each_requests_own(http_proxy, raw_server_cmd):
    # One session timer keeps the requests' deadlines (an answer never cancels it): requests
    # started at different times each time out at their own deadline, and one answered in
    # between changes nothing.
    proxy = http_proxy(raw_server_cmd, "--request-timeout-ms", "1000")
    s, _ = new_session(proxy)
    t0 = time.monotonic()
    a = InFlight(s, rpc("raw/hold", None, 41), accept="application/json")
    time.sleep(1.0)
    ping_ok(s)
    b = InFlight(s, rpc("raw/hold", None, 42), accept="application/json")
    try:
        ra = a.result(10)
        ta = time.monotonic() - t0
        rb = b.result(10)
        tb = time.monotonic() - t0
    finally:
        a.close()
        b.close()
    for r, want in ((ra, 41), (rb, 42)):
        resp = r.response()
        assert r.status == 200 and resp["id"] == want and "timed out" in resp["error"]["message"]
    assert 0.95 <= ta, f"the first timed out early: {ta:.2f}s"
    assert tb >= 1.95, f"the second timed out at the first one's deadline: {tb:.2f}s"
    assert ta < tb - 0.5, (ta, tb)
    ping_ok(s)


@pytest.mark.timeout(30)
def test_upstream_crash_mid_call(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s, pid = new_session(proxy)
    other, other_pid = new_session(proxy)
    ping_ok(s)
    r = s.post(rpc("raw/exit", {"code": 3}, 12), timeout=15)
    assert r.status == 200, r
    resp = r.response()
    assert resp["id"] == 12 and resp["error"]["code"] == -32000, resp
    assert "status 3" in resp["error"]["message"], resp
    wait_until(lambda: proxy.tracked[pid].status() == "gone", 10, what="crashed server reaped")
    deadline = time.monotonic() + 5
    while True:  # the session is closed (at once, or very soon after the answer)
        r = s.post(rpc("ping", None, 13))
        if r.status == 404 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status == 404, r
    ping_ok(other)
    assert proxy.tracked[other_pid].status() == "running"
    # and a new session can be made
    s2, _ = new_session(proxy)
    ping_ok(s2)


@pytest.mark.timeout(30)
def test_crash_while_get_stream_open_ends_the_stream(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s, pid = new_session(proxy)
    with s.get_stream() as g:
        r = s.post(rpc("raw/kill", {"signal": 9}, 3), timeout=15)
        assert r.status == 200 and r.response()["error"]["code"] == -32000, r
        g.wait_end(10)
    wait_until(lambda: proxy.tracked[pid].status() == "gone", 10, what="killed server reaped")
    wait_until(lambda: s.post(rpc("ping", None, 4)).status == 404, 5, 0.2, "session closed")


@pytest.mark.timeout(40)
def test_client_disconnect_mid_stream_keeps_the_proxy_serving(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    a, a_pid = new_session(proxy)
    b, b_pid = new_session(proxy)
    # a request held upstream, its progress already streamed: then the client vanishes
    held = InFlight(a, rpc("raw/hold", {"_meta": {"progressToken": "p-held"}}, 50))
    progress = {"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": "p-held", "progress": 1}}
    r = a.post(rpc("raw/emit", {"lines": [json.dumps(progress)]}, 51), accept="application/json")
    assert r.status == 200, r
    st = held.stream
    st.wait_headers(10)
    assert st.status == 200 and st.content_type == "text/event-stream", \
        f"progress for an in-flight request did not open its SSE stream: {st.status} {st.headers}"
    assert st.next_message(5) == progress
    held.close()  # disconnect mid-stream
    # GET streams dropped mid-way as well, several times
    for _ in range(3):
        g = b.get_stream()
        g.abort()
    # raw half-sent requests and garbage
    raw_exchange(proxy.url, b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{", timeout=0.5)
    raw_exchange(proxy.url, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64), timeout=1)
    # everything still works: the other session, the disconnected one, and new ones
    ping_ok(b)
    ping_ok(a)  # a disconnect is not a cancellation of the session
    c, _ = new_session(proxy)
    ping_ok(c)
    assert proxy.tracked[a_pid].status() == "running"
    assert proxy.tracked[b_pid].status() == "running"
    assert proxy.proc.poll() is None


@pytest.mark.timeout(40)
def test_sigterm_with_open_streams_and_held_requests(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    sessions = [new_session(proxy) for _ in range(3)]
    streams = [s.get_stream() for s, _ in sessions]
    held = [InFlight(s, rpc("raw/hold", None, 60)) for s, _ in sessions]
    try:
        time.sleep(0.2)
        t0 = time.monotonic()
        assert proxy.stop(20) == 0
        assert time.monotonic() - t0 < 15
        proxy.assert_children_gone(10)
        for st in streams:
            st.ended.wait(5)
            assert st.ended.is_set(), "a GET stream stayed open after mcpfwd exited"
        for h in held:
            h.stream.ended.wait(5)
            assert h.stream.ended.is_set()
    finally:
        for st in streams:
            st.close()
        for h in held:
            h.close()


def test_helpers_parse_sse():
    """The SSE parser on its own (no mcpfwd needed)."""
    from http_helpers import parse_sse
    text = (": keep-alive\n\nid: 1\ndata:\n\nevent: message\ndata: {\"a\":\ndata: 1}\n\n"
            "data: {\"b\":2}\r\n\r\n")
    evs = parse_sse(text)
    assert evs == [{"id": "1", "event": "message", "data": ""},
                   {"event": "message", "data": "{\"a\":\n1}"},
                   {"event": "message", "data": "{\"b\":2}"}]


@pytest.mark.timeout(40)
def test_shutdown_drains_requests_in_flight(http_proxy, raw_server_cmd):
    """SIGTERM: a request the server answers within --drain-timeout-ms gets
    its real answer; one it never answers gets a JSON-RPC error naming the
    drain deadline; new requests are refused with 503; then mcpfwd exits 0
    with every child gone."""
    proxy = http_proxy(raw_server_cmd, "--drain-timeout-ms", "1500")
    a, _ = new_session(proxy)
    b, _ = new_session(proxy)
    slow = InFlight(a, rpc("raw/sleep", {"seconds": 0.5}, 31))
    held = InFlight(b, rpc("raw/hold", None, 32))
    host, port, path = split_url(proxy.url)
    keep = http.client.HTTPConnection(host, port, timeout=10)  # a keep-alive connection
    hdrs = {**a.headers(accept=ACCEPT_BOTH), "Content-Type": "application/json"}
    keep.request("POST", path, json.dumps(rpc("ping", None, 30)), hdrs)
    first = keep.getresponse()
    first.read()
    assert first.status == 200
    try:
        time.sleep(0.2)
        proxy.proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        keep.request("POST", path, json.dumps(rpc("ping", None, 34)), hdrs)
        refused = keep.getresponse()
        body = json.loads(refused.read())
        assert refused.status == 503 and refused.getheader("Retry-After"), refused.status
        assert "shutting down" in body["error"]["message"], body
        # New work is refused: the listener is closed (connection refused),
        # and a request on an open keep-alive connection would get 503.
        try:
            late = a.post(rpc("ping", None, 33))
            assert late.status == 503, late
        except ConnectionRefusedError:
            pass
        answered = slow.result(10).response()
        assert answered["id"] == 31 and answered["result"]["method"] == "raw/sleep", answered
        failed = held.result(10).response()
        assert failed["id"] == 32 and failed["error"]["code"] == -32000, failed
        assert "drain deadline" in failed["error"]["message"], failed
        assert proxy.stop(15) == 0
        proxy.assert_children_gone(10)
    finally:
        keep.close()
        slow.close()
        held.close()


@pytest.mark.timeout(30)
def test_sigusr1_prints_the_session_table(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    (a, pid_a), (b, pid_b) = new_session(proxy), new_session(proxy)
    proxy.proc.send_signal(signal.SIGUSR1)
    proxy.wait_stderr(r"^2 session\(s\) at " + proxy.url.replace(".", r"\."))
    proxy.wait_stderr(r"^SESSION +STATE +PID")
    for s, pid in ((a, pid_a), (b, pid_b)):
        proxy.wait_stderr(rf"^{s.sid} +ready +{pid} ")
    ping_ok(a)  # the proxy carries on
