"""mcpfwd and a misbehaving or recording remote upstream.

Most tests use ``RawUpstream`` (upstream_helpers): a hand-written Streamable
HTTP MCP server in the test process that records every request with its
headers and misbehaves on demand (refused connections, HTTP 5xx/4xx, an
answer that never comes or comes late, an expired session).  Errors must
reach the client as JSON-RPC errors (-32000, with a message saying what
happened) for the request concerned, and never disturb other requests or
other sessions.  Then: which headers reach the upstream, the upstream DELETE
when a downstream session ends (DELETE, idle reaping, stdio EOF, shutdown),
a legacy SSE client vanishing mid-call, transport selection and usage errors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from typing import Any

import pytest
from conftest import assert_no_sanitizer_report
from http_helpers import (
    ACCEPT_BOTH,
    INITIALIZED,
    PROTOCOL_VERSION,
    McpHttp,
    SseStream,
    http_request,
    init_request,
    rpc,
)
from upstream_helpers import ClientCallbacks, init_error, run_async, sdk_session

pytestmark = pytest.mark.timeout(60)

TIMEOUT_RX = re.compile(r"timed? ?out|timeout", re.I)


def call_tool(s: McpHttp, name: str, args: dict[str, Any] | None = None,
              timeout: float = 15.0) -> dict[str, Any]:
    """tools/call through mcpfwd; the JSON-RPC response (HTTP 200 required)."""
    return s.call("tools/call", {"name": name, "arguments": args or {}}, timeout=timeout)


def text(resp: dict[str, Any]) -> str:
    assert "result" in resp, f"expected a result: {resp}"
    return resp["result"]["content"][0]["text"]


def assert_upstream_error(resp: dict[str, Any], pattern: str) -> str:
    """A JSON-RPC error -32000 whose message matches ``pattern`` (case-insensitive)."""
    assert "error" in resp, f"expected a JSON-RPC error: {resp}"
    err = resp["error"]
    assert err["code"] == -32000, err
    assert re.search(pattern, err["message"], re.I), f"message {err['message']!r} !~ {pattern!r}"
    return err["message"]


def session(proxy: Any, headers: dict[str, str] | None = None) -> tuple[McpHttp, str]:
    """A hand-driven session through mcpfwd; (it, the upstream's session id)."""
    s = McpHttp(proxy.url, headers=headers)
    s.initialize()
    up_sid = text(call_tool(s, "whoami"))
    assert up_sid != s.sid, "the upstream's session id leaked downstream"
    return s, up_sid


def sdk_echo(url: str, what: str) -> str:
    async def go() -> str:
        async with sdk_session("http", url, ClientCallbacks()) as conn:
            return (await conn.session.call_tool("echo", {"text": what})).content[0].text

    return run_async(go, timeout=30)


# --------------------------------------------------------------------------
# connection refused


def test_connection_refused_then_the_upstream_comes_back(raw_upstream, listen_proxy):
    up = raw_upstream()
    up.stop_listening()
    proxy = listen_proxy("--upstream", up.url)
    err, took = init_error(proxy.url)
    assert err.error.code == -32000, err.error
    assert re.search(r"refused", err.error.message, re.I), err.error.message
    assert took < 5, f"connection refused took {took:.1f}s to report"
    # mcpfwd is still there, and serves new sessions once the upstream is back
    up.start_listening()
    assert sdk_echo(proxy.url, "back") == "echo:back"


def test_upstream_outage_mid_session(raw_upstream, listen_proxy):
    """The upstream goes away (its connections dropped, its port refusing) and comes back:
    calls in between get JSON-RPC errors; the sessions themselves survive."""
    up = raw_upstream()
    proxy = listen_proxy("--upstream", up.url)
    a, _ = session(proxy)
    b, _ = session(proxy)
    up.stop_listening()
    first = call_tool(a, "echo", {"text": "during"})
    assert_upstream_error(first, r".")  # a stale pooled connection may fail differently
    assert_upstream_error(call_tool(a, "echo", {"text": "during"}), r"refused")
    assert_upstream_error(call_tool(b, "echo", {"text": "during"}), r"refused")
    up.start_listening()
    assert text(call_tool(a, "echo", {"text": "after"})) == "echo:after"
    assert text(call_tool(b, "echo", {"text": "after"})) == "echo:after"


# --------------------------------------------------------------------------
# HTTP errors, timeouts


def test_upstream_http_error_statuses(raw_upstream, listen_proxy):
    up = raw_upstream()
    proxy = listen_proxy("--upstream", up.url)
    a, up_a = session(proxy)
    b, _ = session(proxy)
    for code in (500, 503, 400, 403):
        resp = call_tool(a, "status", {"code": code, "body": f"test failure {code}"})
        assert_upstream_error(resp, rf"\b{code}\b")
        # the same session and the other one carry on
        assert text(call_tool(a, "echo", {"text": f"after {code}"})) == f"echo:after {code}"
        assert text(call_tool(b, "echo", {"text": f"b {code}"})) == f"echo:b {code}"
    assert not [r for r in up.recorded() if r.method == "DELETE" and r.sid == up_a], \
        "an HTTP error status ended the upstream session"


def test_upstream_jsonrpc_errors_and_ids_pass_through(raw_upstream, listen_proxy):
    """A JSON-RPC error from the upstream reaches the client unchanged; string ids too."""
    up = raw_upstream()
    proxy = listen_proxy("--upstream", up.url)
    s, _ = session(proxy)
    resp = call_tool(s, "no_such_tool")
    assert resp["error"] == {"code": -32602, "message": "unknown tool no_such_tool"}, resp
    for msg_id in ("req-✓", "", 0, -5, 2**53 - 1):
        r = s.post(rpc("tools/call", {"name": "echo", "arguments": {"text": "id"}}, msg_id))
        assert r.status == 200, r
        resp = r.response()
        assert resp["id"] == msg_id and type(resp["id"]) is type(msg_id), (msg_id, resp)
        assert text(resp) == "echo:id"


def test_upstream_response_timeout(raw_upstream, listen_proxy):
    """--upstream-timeout-ms 500: a call whose answer does not come in time gets a timeout
    error; the connection it used is not reused (its late answer must never be taken
    for another request's, checked with a pool of two connections: one for requests,
    one kept for answers to the server)."""
    up = raw_upstream()
    proxy = listen_proxy("--upstream", up.url, "--upstream-timeout-ms", "500",
                         "--upstream-pool-max", "2")
    a, _ = session(proxy)
    b, _ = session(proxy)
    t0 = time.monotonic()
    resp = call_tool(a, "late", {"seconds": 1.5, "text": "stale"})
    took = time.monotonic() - t0
    assert_upstream_error(resp, TIMEOUT_RX.pattern)
    assert 0.4 <= took < 5, f"timeout error after {took:.2f}s (expected about 0.5s)"
    assert text(call_tool(a, "echo", {"text": "fresh"})) == "echo:fresh"
    late = up.wait_for(lambda r: r.tool == "late", what="the late call")
    fresh = up.wait_for(lambda r: r.tool == "echo" and b'"fresh"' in r.body, what="the echo")
    assert fresh.port != late.port, "the timed-out connection was reused"
    time.sleep(max(0.0, t0 + 1.7 - time.monotonic()))  # the late answer has been sent by now
    assert text(call_tool(a, "echo", {"text": "fresh 2"})) == "echo:fresh 2"
    assert text(call_tool(b, "echo", {"text": "b"})) == "echo:b"
    t0 = time.monotonic()
    assert_upstream_error(call_tool(b, "hang"), TIMEOUT_RX.pattern)
    assert time.monotonic() - t0 < 5
    assert text(call_tool(b, "echo", {"text": "b 2"})) == "echo:b 2"
    assert text(call_tool(a, "echo", {"text": "a 3"})) == "echo:a 3"


def test_upstream_session_expiry(raw_upstream, listen_proxy):
    """The upstream answers 404 for an established session (it expired): that request gets
    a JSON-RPC error, the downstream session is closed (next request: HTTP 404), other
    sessions carry on."""
    up = raw_upstream()
    proxy = listen_proxy("--upstream", up.url)
    a, up_a = session(proxy)
    b, _ = session(proxy)
    assert text(call_tool(a, "echo", {"text": "alive"})) == "echo:alive"
    up.expire(up_a)
    resp = call_tool(a, "echo", {"text": "expired?"})
    assert_upstream_error(resp, r"404|expired|not found")
    r = a.post(rpc("tools/call", {"name": "echo", "arguments": {"text": "again"}}, 999))
    assert r.status == 404, f"expected HTTP 404 for the closed session, got {r}"
    assert text(call_tool(b, "echo", {"text": "b"})) == "echo:b"
    # a new session works
    c, up_c = session(proxy)
    assert up_c != up_a
    assert text(call_tool(c, "echo", {"text": "c"})) == "echo:c"


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_upstream_dies_mid_call(transport, fresh_upstreams, listen_proxy):
    """The upstream process dies while a call is in flight (its answer stream breaks):
    that call gets a JSON-RPC error promptly, not after --upstream-timeout-ms, and the
    next request gets an error too (or HTTP 404 if mcpfwd closed the session)."""
    srv = fresh_upstreams.fastmcp(transport)
    proxy = listen_proxy("--upstream", srv.url)
    s = McpHttp(proxy.url)
    s.initialize()
    assert text(call_tool(s, "echo", {"text": "alive"})) == "alive"
    pending = s.post_stream(rpc("tools/call", {"name": "slow", "arguments": {"seconds": 30}}, 77))
    try:
        srv.wait_request(lambda q: q["tool"] == "slow", timeout=10, what="the slow call")
        t0 = time.monotonic()
        srv.proc.kill()
        srv.proc.wait(10)
        res = pending.result(timeout=15)
        took = time.monotonic() - t0
        assert res.status == 200, res
        resp = res.response()
        assert resp["id"] == 77 and resp["error"]["code"] == -32000, resp
        assert took < 10, f"the broken call was answered after {took:.1f}s"
    finally:
        pending.close()
    r = s.post(rpc("tools/call", {"name": "echo", "arguments": {"text": "x"}}, 78), timeout=15)
    if r.status != 404:
        assert r.status == 200, r
        assert r.response()["error"]["code"] == -32000, r


@pytest.mark.parametrize("kind", ["streamable-http", "json-response", "sse"])
def test_upstream_response_over_max_message_bytes(kind, upstream_servers, listen_proxy):
    """A remote upstream's response over --max-message-bytes (in an SSE event, a JSON body,
    or on a legacy SSE stream) is dropped; the request gets a -32000 error with its id
    naming the limit at once, not at a timeout, and the session carries on."""
    options = ["--json-response"] if kind == "json-response" else []
    srv = upstream_servers.fastmcp("sse" if kind == "sse" else "streamable-http", *options)
    proxy = listen_proxy("--upstream", srv.url, "--max-message-bytes", "8192")
    s = McpHttp(proxy.url)
    s.initialize()
    assert text(call_tool(s, "pad", {"size": 100})) == "p" * 100
    t0 = time.monotonic()
    resp = s.call("tools/call", {"name": "pad", "arguments": {"size": 20000}}, timeout=15)
    took = time.monotonic() - t0
    assert_upstream_error(resp, r"response was over the 8192-byte message limit")
    assert took < 5, f"the dropped response was answered after {took:.1f}s"
    assert text(call_tool(s, "echo", {"text": "after"})) == "after"


# --------------------------------------------------------------------------
# headers


def check_mcp_headers(reqs: list[Any], up_sid: str, port: int) -> None:
    """What every MCP client must send (2025-06-18 transports): Accept and Content-Type on
    POSTs, the session id after initialize, MCP-Protocol-Version after initialize."""
    inits = [r for r in reqs if r.rpc_method == "initialize"]
    assert len(inits) == 1, inits
    assert inits[0].sid is None, inits[0]
    for r in reqs:
        assert r.header("Host") == f"127.0.0.1:{port}", r
        if r.method == "POST":
            accept = r.header("Accept") or ""
            assert "application/json" in accept and "text/event-stream" in accept, r
            assert (r.header("Content-Type") or "").startswith("application/json"), r
        if r is not inits[0]:
            assert r.sid == up_sid, r
            assert r.header("MCP-Protocol-Version") == PROTOCOL_VERSION, r


def test_static_headers_reach_the_upstream_and_authorization_does_not(raw_upstream, listen_proxy):
    up = raw_upstream()
    env = dict(os.environ, MCPFWD_TEST_UPSTREAM_SECRET="s3cr3t-from-env")
    proxy = listen_proxy("--upstream", up.url,
                         "--upstream-header", "X-Static: one",
                         "--upstream-header", "X-With-Colon: a: b",
                         "--upstream-header-env", "X-From-Env=MCPFWD_TEST_UPSTREAM_SECRET",
                         env=env)
    s, up_sid = session(proxy, headers={"Authorization": "Bearer downstream-token"})
    assert text(call_tool(s, "echo", {"text": "hdr"})) == "echo:hdr"
    assert s.delete().status in (200, 204)
    up.wait_delete(up_sid)
    reqs = up.recorded()
    assert {r.method for r in reqs} >= {"POST", "DELETE"}
    for r in reqs:
        assert r.headers_named("X-Static") == ["one"], r
        assert r.headers_named("X-With-Colon") == ["a: b"], r
        assert r.headers_named("X-From-Env") == ["s3cr3t-from-env"], r
        assert r.headers_named("Authorization") == [], f"Authorization forwarded by default: {r}"
    check_mcp_headers(reqs, up_sid, up.port)
    gets = [r for r in reqs if r.method == "GET"]
    assert len(gets) <= 1, f"GET retried after 405 (no server stream here): {gets}"


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
@pytest.mark.parametrize("forward", [False, True], ids=["default", "forward_authorization"])
def test_headers_reach_a_fastmcp_upstream(transport, forward, upstream_servers, listen_proxy):
    """The same through the MCPServer test server (Streamable HTTP and legacy SSE), as its tool
    saw them."""
    srv = upstream_servers.fastmcp(transport)
    args = ["--upstream", srv.url, "--upstream-header", "X-Static: one"]
    if forward:
        args.append("--forward-authorization")
    proxy = listen_proxy(*args)

    async def go() -> dict[str, str]:
        async with sdk_session("http", proxy.url,
                               headers={"Authorization": "Bearer sdk-token"}) as conn:
            res = await conn.session.call_tool("request_info", {})
            return dict(json.loads(res.content[0].text)["headers"])

    headers = run_async(go, timeout=30)
    assert headers.get("x-static") == "one", headers
    if forward:
        assert headers.get("authorization") == "Bearer sdk-token", headers
    else:
        assert "authorization" not in headers, headers


def test_forward_authorization(raw_upstream, listen_proxy):
    """--forward-authorization: each upstream request carries the Authorization of the
    downstream session it belongs to (interleaved sessions on a shared pool)."""
    up = raw_upstream()
    proxy = listen_proxy("--upstream", up.url, "--forward-authorization",
                         "--upstream-pool-max", "2")
    a, up_a = session(proxy, headers={"Authorization": "Bearer tok-A"})
    b, up_b = session(proxy, headers={"Authorization": "Bearer tok-B"})
    for i in range(3):
        assert text(call_tool(a, "echo", {"text": f"a{i}"})) == f"echo:a{i}"
        assert text(call_tool(b, "echo", {"text": f"b{i}"})) == f"echo:b{i}"
    a.delete()
    b.delete()
    up.wait_delete(up_a)
    up.wait_delete(up_b)
    want = {up_a: "Bearer tok-A", up_b: "Bearer tok-B"}
    reqs = up.recorded()
    inits = [r for r in reqs if r.rpc_method == "initialize"]
    assert sorted(r.header("Authorization") or "" for r in inits) == ["Bearer tok-A", "Bearer tok-B"]
    for r in reqs:
        if r.rpc_method != "initialize":
            assert r.headers_named("Authorization") == [want[r.sid or ""]], r


# --------------------------------------------------------------------------
# the upstream session ends with the downstream one


def test_downstream_delete_deletes_the_upstream_session(raw_upstream, listen_proxy):
    up = raw_upstream()
    proxy = listen_proxy("--upstream", up.url)
    s, up_sid = session(proxy)
    d = s.delete()
    assert d.status in (200, 204), d
    up.wait_delete(up_sid, timeout=5)
    assert s.post(rpc("ping", None, 5)).status == 404


def test_idle_reaping_deletes_the_upstream_session(raw_upstream, listen_proxy):
    up = raw_upstream()
    proxy = listen_proxy("--upstream", up.url, "--idle-timeout-ms", "500")
    s, up_sid = session(proxy)
    up.wait_delete(up_sid, timeout=10)
    assert s.post(rpc("ping", None, 5)).status == 404


def test_stdio_downstream_eof_deletes_the_upstream_session(raw_upstream, run_process, mcpfwd_bin):
    """``mcpfwd --stdio --upstream URL``: one session; mcpfwd itself sends the MCP headers;
    on stdin EOF it DELETEs the upstream session and exits 0."""
    up = raw_upstream()
    p = run_process([mcpfwd_bin, "--stdio", "--upstream", up.url])
    init = p.request("initialize", init_request()["params"], msg_id=1)
    assert init["result"]["protocolVersion"] == PROTOCOL_VERSION, init
    p.send_json(INITIALIZED)
    resp = p.request("tools/call", {"name": "whoami", "arguments": {}}, msg_id=2)
    up_sid = text(resp)
    resp = p.request("tools/call", {"name": "status", "arguments": {"code": 500}}, msg_id=3)
    assert_upstream_error(resp, r"\b500\b")
    assert resp["id"] == 3
    p.close_stdin()
    assert p.wait(15) == 0, p.stderr_tail()
    up.wait_delete(up_sid, timeout=2)
    check_mcp_headers(up.recorded(), up_sid, up.port)


def test_shutdown_deletes_open_upstream_sessions(raw_upstream, listen_proxy):
    up = raw_upstream()
    proxy = listen_proxy("--upstream", up.url)
    _, up_a = session(proxy)
    _, up_b = session(proxy)
    assert proxy.stop(20) == 0, proxy.stderr_tail()
    up.wait_delete(up_a, timeout=2)
    up.wait_delete(up_b, timeout=2)


def legacy_open(base: str) -> tuple[SseStream, str]:
    st = SseStream(base + "/sse", "GET", None, {"Accept": "text/event-stream"})
    assert st.wait_headers() == 200
    ev = st.next_event()
    assert ev is not None and ev.get("event") == "endpoint", ev
    return st, ev["data"]


def legacy_post(base: str, endpoint: str, msg: Any) -> None:
    r = http_request(base + endpoint, "POST", msg,
                     {"Accept": ACCEPT_BOTH, "Content-Type": "application/json"}, path=endpoint)
    assert r.status == 202, r


def test_legacy_sse_client_vanishing_mid_call(upstream_servers, listen_proxy):
    """A legacy SSE client drops its stream while a call is in flight: its upstream session
    is ended (DELETE), other sessions, old and new, keep working."""
    srv = upstream_servers.fastmcp("streamable-http")
    proxy = listen_proxy("--upstream", srv.url)
    base = proxy.url[: -len("/mcp")]
    streams: dict[str, tuple[SseStream, str]] = {}
    try:
        up_sid: dict[str, str] = {}
        for label in ("A", "B"):
            st, endpoint = legacy_open(base)
            streams[label] = (st, endpoint)
            legacy_post(base, endpoint, init_request())
            assert st.next_message()["id"] == 1
            legacy_post(base, endpoint, INITIALIZED)
            legacy_post(base, endpoint, rpc("tools/call", {"name": "request_info",
                                                           "arguments": {}}, 2))
            msg = st.next_message()
            assert msg["id"] == 2, msg
            info = json.loads(msg["result"]["content"][0]["text"])
            up_sid[label] = dict(info["headers"])["mcp-session-id"]
        st_a, ep_a = streams["A"]
        legacy_post(base, ep_a, rpc("tools/call", {"name": "slow", "arguments": {"seconds": 5}}, 3))
        srv.wait_request(lambda q: q["sid"] == up_sid["A"] and q["method"] == "POST"
                         and q["t_begin"] is not None and q["status"] is not None
                         and q["t_end"] is None, timeout=5, what="the slow call upstream")
        st_a.abort()
        srv.wait_request(lambda q: q["method"] == "DELETE" and q["sid"] == up_sid["A"],
                         timeout=10, what="DELETE of the vanished client's upstream session")
        st_b, ep_b = streams["B"]
        legacy_post(base, ep_b, rpc("tools/call", {"name": "echo", "arguments": {"text": "B"}}, 4))
        msg = st_b.next_message()
        assert msg["id"] == 4 and msg["result"]["content"][0]["text"] == "B", msg
        assert not [q for q in srv.requests()
                    if q["method"] == "DELETE" and q["sid"] == up_sid["B"]], \
            "the other client's upstream session was ended too"
    finally:
        for st, _ in streams.values():
            st.close()
    assert sdk_echo(proxy.url, "new") == "new"


# --------------------------------------------------------------------------
# transport selection and usage errors


@pytest.mark.parametrize(("transport", "server"), [
    ("streamable-http", "streamable-http"), ("sse", "sse"), ("auto", "streamable-http"),
    ("auto", "sse"),
])
def test_upstream_transport_option(transport, server, upstream_servers, listen_proxy):
    srv = upstream_servers.fastmcp(server)
    proxy = listen_proxy("--upstream", srv.url, "--upstream-transport", transport)
    assert sdk_echo(proxy.url, f"{transport}/{server}") == f"{transport}/{server}"


def test_forced_streamable_http_on_a_legacy_server_is_an_error(upstream_servers, listen_proxy):
    srv = upstream_servers.fastmcp("sse")
    proxy = listen_proxy("--upstream", srv.url, "--upstream-transport", "streamable-http")
    err, _ = init_error(proxy.url)
    assert err.error.code == -32000, err.error
    assert re.search(r"\b405\b", err.error.message), err.error.message


@pytest.mark.parametrize("args", [
    pytest.param(["--upstream", "ftp://127.0.0.1:1/mcp"], id="bad_scheme"),
    pytest.param(["--upstream", "not a url"], id="not_a_url"),
    pytest.param(["--upstream", "http://127.0.0.1:1/mcp", "--", "true"], id="url_and_command"),
    pytest.param(["--upstream", "http://127.0.0.1:1/mcp", "--upstream-transport", "carrier-pigeon"],
                 id="bad_transport"),
    pytest.param(["--upstream", "http://127.0.0.1:1/mcp", "--upstream-header", "no colon"],
                 id="bad_header"),
    pytest.param(["--upstream", "http://127.0.0.1:1/mcp", "--upstream-pool-max", "0"],
                 id="pool_max_0"),
    # one connection would be taken by a call waiting for the client's sampling answer,
    # leaving none to carry that answer: at least 2
    pytest.param(["--upstream", "http://127.0.0.1:1/mcp", "--upstream-pool-max", "1"],
                 id="pool_max_1"),
    pytest.param(["--upstream-insecure", "--", "true"], id="upstream_option_without_upstream"),
])
def test_usage_errors(args, mcpfwd_bin):
    """Bad upstream arguments are usage errors: exit status 2, a message on stderr."""
    try:
        p = subprocess.run([mcpfwd_bin, "--listen", "127.0.0.1:0", *args], capture_output=True,
                           timeout=5, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"mcpfwd accepted {args} and kept running (expected exit 2); "
                             f"stdout {e.stdout!r}") from None
    assert_no_sanitizer_report(p.stderr)
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert p.stdout == b"", p.stdout
    assert p.stderr.strip(), "no message on stderr"


def test_header_env_naming_an_unset_variable_is_a_usage_error(mcpfwd_bin):
    env = {k: v for k, v in os.environ.items() if k != "MCPFWD_TEST_SURELY_UNSET"}
    p = subprocess.run([mcpfwd_bin, "--listen", "127.0.0.1:0", "--upstream",
                        "http://127.0.0.1:1/mcp", "--upstream-header-env",
                        "X-Token=MCPFWD_TEST_SURELY_UNSET"],
                       capture_output=True, timeout=5, stdin=subprocess.DEVNULL, env=env)
    assert_no_sanitizer_report(p.stderr)
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert b"MCPFWD_TEST_SURELY_UNSET" in p.stderr, p.stderr

