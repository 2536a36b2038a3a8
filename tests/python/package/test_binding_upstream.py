"""The mcpfwd Python package with a remote upstream: ``mcpfwd.Proxy(upstream="http://...")``,
driven in this process.

The upstream is the FastMCP test server over HTTP (tests/servers/fastmcp_http_server.py, in
Streamable HTTP or legacy HTTP+SSE mode), started once per module before any test's leak check
begins; clients are the official MCP Python SDK (through upstream_helpers.sdk_session) or raw
JSON-RPC lines over pipes (stdio mode). Like test_binding.py, every test has a timeout and the
autouse ``no_leaks`` fixture (imported from there) fails a test that leaves a child process or
a descriptor behind.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from test_binding import (  # noqa: F401  (client, no_leaks: fixtures, used by being here)
    INLINE_CMD,
    LogRecorder,
    PipeClient,
    children,
    client,
    no_leaks,
    proxies,
    wait_until,
)
from upstream_helpers import UpstreamServer, closed_port, run_async, sdk_session, start_fastmcp_http

import mcpfwd
from mcpfwd import _mcpfwd

pytestmark = [pytest.mark.timeout(60), pytest.mark.inprocess]

LOCAL = ("127.0.0.1", 0)
SERVER_NAME = "mcpfwd-upstream-test-server"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def http_upstream() -> Iterator[UpstreamServer]:
    """fastmcp_http_server.py --transport streamable-http, for the whole module (started
    before the first test's leak check, so it is not counted as a leak)."""
    srv = start_fastmcp_http("streamable-http")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sse_upstream() -> Iterator[UpstreamServer]:
    """fastmcp_http_server.py --transport sse (a legacy HTTP+SSE server at .../sse)."""
    srv = start_fastmcp_http("sse")
    yield srv
    srv.stop()


@pytest.fixture
def make_proxy() -> Iterator[Callable[..., mcpfwd.Proxy]]:
    """mcpfwd.Proxy(**kwargs) with its log recorded (kept out of the test output), closed at
    teardown even if the test fails half-way."""
    yield from proxies(LogRecorder)


def text_of(result: Any) -> str:
    assert not result.is_error, result
    return str(result.content[0].text)


def origin_of(url: str) -> str:
    """``http://127.0.0.1:PORT`` of ``http://127.0.0.1:PORT/mcp``: the key of its pool."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def sdk_script(proxy: mcpfwd.Proxy, checks: Callable[[str], None] | None = None,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    """One SDK client through ``proxy``: initialize, tools/list, tools/call echo and
    request_info; ``checks(session_id)`` runs while the session is still open."""

    async def go() -> dict[str, Any]:
        async with sdk_session("http", proxy.url, headers=headers) as conn:
            tools = await conn.session.list_tools()
            echo = await conn.session.call_tool("echo", {"text": "héllo ✓"})
            info = await conn.session.call_tool("request_info", {})
            sid = conn.sid()
            assert sid is not None
            if checks is not None:
                checks(sid)
            return {
                "server": conn.init.server_info.name,
                "tools": {t.name for t in tools.tools},
                "echo": text_of(echo),
                "info": json.loads(text_of(info)),
                "sid": sid,
            }

    return run_async(go, timeout=40)


def headers_of(info: dict[str, Any]) -> dict[str, str]:
    """The headers the upstream saw on a request (names lowercase)."""
    return {name.lower(): value for name, value in info["headers"]}


# --------------------------------------------------------------------------- Streamable HTTP


def test_streamable_http_upstream_through_the_sdk(
    make_proxy: Callable[..., mcpfwd.Proxy], http_upstream: UpstreamServer
) -> None:
    """An SDK client reaches the remote server through the proxy; the session describes the
    remote upstream (no pid), the stats show its connection pool, and the client's exit ends
    the upstream session too (DELETE), leaving no session behind."""
    kids_before = children()
    proxy = make_proxy(upstream=http_upstream.url, listen=LOCAL)
    assert proxy.upstream == http_upstream.url
    assert repr(proxy) == f"<mcpfwd.Proxy upstream={http_upstream.url!r} listen={LOCAL!r} new>"
    proxy.start()
    seen: dict[str, Any] = {}

    def checks(sid: str) -> None:
        infos = proxy.sessions()
        assert len(infos) == 1
        s = infos[0]
        assert s.id == sid and s.state == "ready"
        assert s.upstream_kind == "http"
        assert s.upstream_pid is None
        assert s.upstream_url == http_upstream.url
        assert s.upstream_transport == "streamable-http"
        assert s.upstream_exit is None
        assert s.raw["upstream"]["kind"] == "http" and "pid" not in s.raw["upstream"]
        assert s.messages_in >= 4 and s.messages_out >= 3 and s.errors == 0
        one = proxy.session(sid)
        assert (one.id, one.upstream_url, one.upstream_transport, one.created) == (
            s.id, s.upstream_url, s.upstream_transport, s.created)
        stats = proxy.stats()
        assert stats["mode"] == "http" and stats["sessions"] == 1
        pool = stats["upstream_pool"]["pools"][origin_of(http_upstream.url)]
        assert pool["created"] >= 1 and pool["max"] == 128
        assert pool["open"] >= pool["idle"] >= 0 and pool["waiting"] == 0
        assert isinstance(stats["upstream_pool"]["stream_connections"], int)
        assert children() == kids_before  # nothing spawned for a remote upstream
        seen["status"] = proxy.status_text()

    r = sdk_script(proxy, checks)
    assert r["server"] == SERVER_NAME
    assert {"echo", "request_info"} <= r["tools"]
    assert r["echo"] == "héllo ✓"
    upstream_sid = headers_of(r["info"]).get("mcp-session-id")
    assert upstream_sid and upstream_sid != r["sid"]  # a session of its own upstream
    assert r["sid"] in seen["status"]

    # The client's DELETE closes the proxy session, which ends the upstream session.
    assert wait_until(lambda: proxy.sessions() == [], timeout=10), proxy.sessions()
    http_upstream.wait_request(lambda q: q["method"] == "DELETE" and q["sid"] == upstream_sid,
                               timeout=10, what="the DELETE of the upstream session")
    pool = proxy.stats()["upstream_pool"]["pools"][origin_of(http_upstream.url)]
    assert pool["created"] >= 1 and pool["reused"] >= 1
    proxy.close()
    assert proxy.closed and proxy.upstream == http_upstream.url


def test_upstream_options_reach_the_library(
    make_proxy: Callable[..., mcpfwd.Proxy], http_upstream: UpstreamServer
) -> None:
    """upstream_headers are sent on every upstream request; forward_authorization passes the
    client's own Authorization header; the pool size shows in the stats; the transport,
    timeouts and the TLS options (unused on http://) are accepted."""
    proxy = make_proxy(
        upstream=http_upstream.url,
        listen=LOCAL,
        upstream_transport="streamable-http",
        upstream_headers={"X-Mcpfwd-Test": "yes", "X-Other": "2"},
        forward_authorization=True,
        upstream_insecure=False,
        upstream_pool_max=3,
        upstream_connect_timeout=5,
        upstream_timeout=timedelta(seconds=30),
    )
    assert "transport='streamable-http'" in repr(proxy)
    proxy.start()
    r = sdk_script(proxy, headers={"Authorization": "Bearer client-token"})
    seen = headers_of(r["info"])
    assert seen["x-mcpfwd-test"] == "yes"
    assert seen["x-other"] == "2"
    assert seen["authorization"] == "Bearer client-token"
    pool = proxy.stats()["upstream_pool"]["pools"][origin_of(http_upstream.url)]
    assert pool["max"] == 3

    # Without forward_authorization the client's token stays with the proxy; a configured
    # Authorization header is sent instead.
    proxy2 = make_proxy(upstream=http_upstream.url, listen=LOCAL,
                        upstream_headers={"Authorization": "Bearer configured"})
    proxy2.start()
    r2 = sdk_script(proxy2, headers={"Authorization": "Bearer client-token"})
    assert headers_of(r2["info"])["authorization"] == "Bearer configured"
    proxy3 = make_proxy(upstream=http_upstream.url, listen=LOCAL)
    proxy3.start()
    r3 = sdk_script(proxy3, headers={"Authorization": "Bearer client-token"})
    assert "authorization" not in headers_of(r3["info"])


# --------------------------------------------------------------------------- legacy SSE


@pytest.mark.parametrize("transport", [None, "sse", mcpfwd.UpstreamTransport.SSE])
def test_sse_upstream(
    make_proxy: Callable[..., mcpfwd.Proxy], sse_upstream: UpstreamServer,
    transport: str | mcpfwd.UpstreamTransport | None
) -> None:
    """A legacy HTTP+SSE server at .../sse, named as such or detected (auto)."""
    assert sse_upstream.url.endswith("/sse")
    proxy = make_proxy(upstream=sse_upstream.url, listen=LOCAL, upstream_transport=transport)
    proxy.start()

    def checks(sid: str) -> None:
        s = proxy.session(sid)
        assert s.upstream_kind == "http" and s.upstream_pid is None
        assert s.upstream_url == sse_upstream.url
        assert s.upstream_transport == "sse"

    r = sdk_script(proxy, checks)
    assert r["server"] == SERVER_NAME and r["echo"] == "héllo ✓"
    assert r["info"]["path"].startswith("/messages")  # posted to the session's endpoint


# --------------------------------------------------------------------------- stdio downstream


def test_stdio_downstream_with_a_remote_upstream(
    client: PipeClient, make_proxy: Callable[..., mcpfwd.Proxy],
    http_upstream: UpstreamServer
) -> None:
    """Proxy(stdio=..., upstream=URL): raw JSON-RPC lines over pipes reach the remote server;
    the stats describe it (no pid); end of input ends the upstream session and the proxy
    with status 0."""
    kids_before = children()
    proxy = make_proxy(upstream=http_upstream.url, stdio=client.proxy_fds)
    assert proxy.stats() == {"state": "new"}
    proxy.start()
    client.release_proxy_ends()

    init = client.initialize()
    assert init["result"]["serverInfo"]["name"] == SERVER_NAME
    tools = client.request(2, "tools/list")
    assert "echo" in {t["name"] for t in tools["result"]["tools"]}
    echo = client.request(3, "tools/call", {"name": "echo", "arguments": {"text": "pipes ✓"}})
    assert echo["result"]["content"][0]["text"] == "pipes ✓"
    info = client.request(4, "tools/call", {"name": "request_info", "arguments": {}})
    upstream_sid = headers_of(json.loads(info["result"]["content"][0]["text"]))["mcp-session-id"]

    stats = proxy.stats()
    assert stats["state"] == "ready"
    assert stats["upstream_pid"] is None
    assert stats["upstream"]["kind"] == "http"
    assert stats["upstream"]["url"] == http_upstream.url
    # "auto" here: see test_stdio_stats_show_the_transport_in_use.
    assert stats["upstream"]["transport"] in ("auto", "streamable-http")
    assert stats["client_to_server"]["messages"] == 5  # 4 requests + 1 notification
    assert stats["server_to_client"]["messages"] >= 4
    assert stats["in_flight"] == 0
    assert proxy.sessions() == []  # stdio mode
    assert children() == kids_before

    assert proxy.wait(timeout=0.05) is None
    client.close_input()
    assert proxy.wait(timeout=15) == 0
    assert client.read_eof() == b""
    final = proxy.stats()
    assert final["state"] == "closed" and final["exit_code"] == 0
    assert isinstance(final["upstream_exit"], str) and final["upstream_exit"]
    http_upstream.wait_request(lambda q: q["method"] == "DELETE" and q["sid"] == upstream_sid,
                               timeout=10, what="the DELETE of the upstream session")


def test_stdio_stats_show_the_transport_in_use(
    client: PipeClient, make_proxy: Callable[..., mcpfwd.Proxy],
    http_upstream: UpstreamServer
) -> None:
    proxy = make_proxy(upstream=http_upstream.url, stdio=client.proxy_fds)
    proxy.start()
    client.release_proxy_ends()
    assert client.initialize()["result"]["serverInfo"]["name"] == SERVER_NAME
    try:
        assert proxy.stats()["upstream"]["transport"] == "streamable-http"
    finally:
        client.close_input()
        assert proxy.wait(timeout=15) == 0


def test_unreachable_remote_upstream_fails_the_request_not_start(
    client: PipeClient, make_proxy: Callable[..., mcpfwd.Proxy]
) -> None:
    """start() does not contact the remote server; the client's initialize gets a JSON-RPC
    error naming the refused connection when nothing listens there, and the session ends (the
    proxy exits 1, as when a spawned server dies)."""
    proxy = make_proxy(upstream=f"http://127.0.0.1:{closed_port()}/mcp", stdio=client.proxy_fds,
                       upstream_connect_timeout=5)
    proxy.start()
    client.release_proxy_ends()
    resp = client.request(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                            "clientInfo": {"name": "t", "version": "0"}})
    assert resp["error"]["code"] == -32000, resp
    assert "cannot connect to upstream" in resp["error"]["message"], resp
    assert "refused" in resp["error"]["message"].lower(), resp
    assert proxy.wait(timeout=15) == 1
    client.close_input()


# --------------------------------------------------------------------------- argument errors


def test_a_url_with_another_scheme_is_an_invalid_argument(client: PipeClient) -> None:
    """The library validates the URL when the proxy is created."""
    with pytest.raises(mcpfwd.InvalidArgumentError, match="http:// or https://") as info:
        mcpfwd.Proxy(upstream="ftp://x", stdio=client.proxy_fds)
    assert info.value.status is mcpfwd.Status.INVALID_ARG
    with pytest.raises(mcpfwd.InvalidArgumentError, match="credentials"):
        mcpfwd.Proxy(upstream="http://user:pw@127.0.0.1:1/mcp", listen=LOCAL)
    with pytest.raises(mcpfwd.InvalidArgumentError, match="NUL"):
        mcpfwd.Proxy(upstream="http://127.0.0.1:1/mcp\0", listen=LOCAL)


def test_a_plain_string_is_still_not_a_command(client: PipeClient) -> None:
    for text in ("python server.py", "127.0.0.1:8000/mcp", ""):
        with pytest.raises(TypeError, match="not a single string"):
            mcpfwd.Proxy(upstream=text, stdio=client.proxy_fds)
    for other in (Path("server.py"), b"http://127.0.0.1/mcp"):
        with pytest.raises(TypeError, match="not a single string"):
            mcpfwd.Proxy(upstream=other, stdio=client.proxy_fds)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"upstream_headers": {"Authorization": "Bearer x"}},
        {"upstream_transport": "sse"},
        {"forward_authorization": True},
        {"upstream_ca_file": "/etc/ssl/certs/ca-certificates.crt"},
        {"upstream_insecure": True},
        {"upstream_pool_max": 4},
        {"upstream_connect_timeout": 1.5},
        {"upstream_timeout": 30, "upstream_headers": {}},
    ],
)
def test_remote_options_with_a_command_are_invalid(
    client: PipeClient, options: dict[str, Any]
) -> None:
    with pytest.raises(mcpfwd.InvalidArgumentError, match="need --upstream URL") as info:
        mcpfwd.Proxy(upstream=INLINE_CMD, stdio=client.proxy_fds, **options)
    # the library names the option it refuses (the first of those given, in its table)
    named = [o.name for o in mcpfwd.options() if o.keyword in options and f"--{o.name} " in
             str(info.value)]
    assert named, str(info.value)


def test_the_off_switches_are_fine_with_a_command(client: PipeClient) -> None:
    proxy = mcpfwd.Proxy(upstream=INLINE_CMD, stdio=client.proxy_fds,
                         forward_authorization=False, upstream_insecure=False)
    assert proxy.upstream == INLINE_CMD
    proxy.close()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"upstream_ca_file": "/nonexistent/ca.pem"}, mcpfwd.InvalidArgumentError,
         "/nonexistent/ca.pem"),
        ({"upstream_ca_file": Path("/nonexistent/ca.pem")}, mcpfwd.InvalidArgumentError,
         "/nonexistent/ca.pem"),
        ({"upstream_ca_file": 3}, TypeError, "upstream_ca_file"),
        ({"upstream_headers": {"Mcp-Session-Id": "x"}}, mcpfwd.InvalidArgumentError,
         "Mcp-Session-Id"),
        ({"upstream_headers": {"Bad Name": "x"}}, mcpfwd.InvalidArgumentError, "Bad Name"),
        ({"upstream_headers": {"X-A": "x\0y"}}, mcpfwd.InvalidArgumentError, "NUL"),
        ({"upstream_headers": [("X-A", "x")]}, TypeError, "mapping"),
        ({"upstream_headers": {"X-A": 1}}, TypeError, "str to str"),
        ({"upstream_transport": "websocket"}, ValueError, "unknown upstream transport"),
        ({"upstream_transport": 1}, TypeError, "UpstreamTransport or str"),
        ({"forward_authorization": "yes"}, TypeError, "forward_authorization"),
        ({"upstream_insecure": 1}, TypeError, "upstream_insecure"),
        ({"upstream_pool_max": 0}, mcpfwd.InvalidArgumentError, "pool"),
        ({"upstream_pool_max": -1}, mcpfwd.InvalidArgumentError, "upstream_pool_max"),
        ({"upstream_connect_timeout": 0}, mcpfwd.InvalidArgumentError, "connect-timeout"),
        ({"upstream_timeout": -1}, mcpfwd.InvalidArgumentError, "upstream_timeout"),
        ({"upstream_timeout": "1s"}, TypeError, "upstream_timeout"),
    ],
)
def test_bad_remote_options_are_rejected(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        mcpfwd.Proxy(upstream="http://127.0.0.1:1/mcp", listen=LOCAL, **options)


def test_upstream_transport_mirrors_the_c_enum() -> None:
    assert [(t.name, int(t), t.label) for t in mcpfwd.UpstreamTransport] == [
        ("AUTO", _mcpfwd.UPSTREAM_AUTO, "auto"),
        ("STREAMABLE_HTTP", _mcpfwd.UPSTREAM_STREAMABLE_HTTP, "streamable-http"),
        ("SSE", _mcpfwd.UPSTREAM_SSE, "sse"),
    ] == [("AUTO", 0, "auto"), ("STREAMABLE_HTTP", 1, "streamable-http"), ("SSE", 2, "sse")]
    parse = mcpfwd.UpstreamTransport.parse
    assert parse("streamable-http") is parse("STREAMABLE_HTTP") is mcpfwd.UpstreamTransport(1)
    assert parse(" Sse ") is parse(mcpfwd.UpstreamTransport.SSE) is mcpfwd.UpstreamTransport.SSE
    assert mcpfwd.UpstreamTransport.__module__ == "mcpfwd"
    assert "UpstreamTransport" in mcpfwd.__all__


# --------------------------------------------------------------------------- SessionInfo


def test_session_info_of_a_remote_upstream_is_decoded_strictly() -> None:
    base: dict[str, Any] = {
        "id": "ab" * 16, "state": "ready", "created_ms": 1_700_000_000_000,
        "last_activity_ms": 1_700_000_000_500,
        "upstream": {"kind": "http", "url": "http://127.0.0.1:9/mcp",
                     "transport": "streamable-http", "get_stream": "open"},
        "client_to_server": {"messages": 2, "bytes": 20},
        "server_to_client": {"messages": 1, "bytes": 10},
        "in_flight": 0, "open_streams": 1, "errors": 0, "dropped": 0, "upstream_exit": None,
    }
    info = mcpfwd.SessionInfo.from_json(base)
    assert (info.upstream_kind, info.upstream_pid, info.upstream_url,
            info.upstream_transport) == ("http", None, "http://127.0.0.1:9/mcp",
                                         "streamable-http")
    assert info.raw["upstream"]["get_stream"] == "open"
    ended = mcpfwd.SessionInfo.from_json(dict(base, state="closed",
                                              upstream_exit="session expired (HTTP 404)"))
    assert ended.upstream_exit == "session expired (HTTP 404)"

    stdio = mcpfwd.SessionInfo.from_json(dict(base, upstream={"kind": "stdio", "pid": 42}))
    assert (stdio.upstream_pid, stdio.upstream_url, stdio.upstream_transport) == (42, None, None)
    # A kind newer than this package: what it has.
    other = mcpfwd.SessionInfo.from_json(dict(base, upstream={"kind": "ws"}))
    assert (other.upstream_kind, other.upstream_pid, other.upstream_url) == ("ws", None, None)

    for upstream in (
        {"kind": "stdio"},                                          # no pid
        {"kind": "stdio", "pid": None},
        {"kind": "http", "transport": "sse"},                       # no url
        {"kind": "http", "url": 5, "transport": "sse"},
        {"kind": "http", "url": "http://h:1/mcp", "transport": None},
        {"kind": 1, "pid": 3},
    ):
        with pytest.raises(mcpfwd.InternalError, match="unexpected session object"):
            mcpfwd.SessionInfo.from_json(dict(base, upstream=upstream))


# --------------------------------------------------------------------------- pytest plugin


def test_the_pytest_fixture_takes_a_url(
    mcpfwd_proxy: Callable[..., Any], http_upstream: UpstreamServer
) -> None:
    rec = mcpfwd_proxy(upstream=http_upstream.url, on_log=LogRecorder())
    assert rec.upstream == http_upstream.url

    def checks(sid: str) -> None:
        assert rec.session(sid).upstream_url == http_upstream.url
        assert [s.upstream_pid for s in rec.sessions()] == [None]

    r = sdk_script(rec.proxy, checks)
    assert r["echo"] == "héllo ✓"
    assert rec.methods()[:2] == ["initialize", "notifications/initialized"]
    assert "tools/call" in rec.methods()
    rec.wait_for_event(mcpfwd.EventKind.CLOSED, r["sid"])
