"""The legacy HTTP+SSE transport (2024-11-05) on the downstream side:
GET /sse opens a session and announces its POST endpoint; POSTs to
/messages?sessionId=... get 202 and the answers flow on the stream."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import anyio
import pytest
from http_helpers import ACCEPT_BOTH, SseStream, http_request, init_request, rpc, wait_until
from mcp import ClientSession
from mcp.client.sse import sse_client
from test_stdio_e2e import assert_same, fastmcp_script, run_session

pytestmark = pytest.mark.timeout(60)

ENDPOINT_RX = re.compile(r"^/messages\?sessionId=([0-9a-f]{32})$")


def sse_url(proxy) -> str:
    return proxy.url[: -len("/mcp")] + "/sse"


def run_sse_session(url: str, script) -> dict[str, Any]:
    results: dict[str, Any] = {}

    async def main() -> None:
        logs: list[dict[str, Any]] = []

        async def on_log(params: Any) -> None:
            logs.append(params.model_dump())

        async with sse_client(url) as (read, write):
            async with ClientSession(read, write, logging_callback=on_log,
                                     read_timeout_seconds=20) as session:
                results["initialize"] = (await session.initialize()).model_dump()
                await script(session, results)
        results["logging_notifications"] = logs

    anyio.run(main)
    return results


def test_sdk_sse_client_through_proxy_equals_direct(http_proxy, fastmcp_server_cmd):
    direct, _ = run_session(fastmcp_server_cmd, fastmcp_script)
    proxy = http_proxy(fastmcp_server_cmd)
    via = run_sse_session(sse_url(proxy), fastmcp_script)
    assert_same(direct, via)


def open_legacy(proxy) -> tuple[SseStream, str]:
    st = SseStream(sse_url(proxy), "GET", None, {"Accept": "text/event-stream"})
    assert st.wait_headers() == 200
    ev = st.next_event()
    assert ev is not None and ev.get("event") == "endpoint", ev
    m = ENDPOINT_RX.match(ev["data"])
    assert m, ev
    return st, ev["data"]


def post(proxy, endpoint: str, body: Any) -> Any:
    base = proxy.url[: -len("/mcp")]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http_request(base + endpoint, "POST", data,
                        {"Accept": ACCEPT_BOTH, "Content-Type": "application/json"},
                        path=endpoint)


def test_raw_exchange_and_errors(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd, "--max-message-bytes", "4096")
    st, endpoint = open_legacy(proxy)
    try:
        r = post(proxy, endpoint, init_request())
        assert r.status == 202 and r.body == b"", r
        msg = st.next_message()
        assert msg["id"] == 1 and msg["result"]["method"] == "initialize", msg
        r = post(proxy, endpoint, rpc("tools/list", {"x": 1}, 2))
        assert r.status == 202
        assert st.next_message()["result"]["params"] == {"x": 1}
        # errors, each precise; the session carries on
        assert post(proxy, "/messages?sessionId=" + "0" * 32, rpc("ping", None, 3)).status == 404
        assert post(proxy, "/messages", rpc("ping", None, 3)).status == 400
        bad = post(proxy, endpoint, b"{not json")
        assert bad.status == 400 and bad.json()["error"]["code"] == -32700, bad
        assert post(proxy, endpoint, b"[" + b"1," * 4096 + b"1]").status == 413
        base = proxy.url[: -len("/mcp")]
        assert http_request(base + "/sse", "POST", b"{}", {}).status == 405
        assert http_request(base + endpoint, "GET", None, {}, path=endpoint).status == 405
        r = post(proxy, endpoint, rpc("ping", None, 4))
        assert r.status == 202 and st.next_message()["id"] == 4
    finally:
        st.close()


def test_client_disconnect_ends_the_session(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    st, endpoint = open_legacy(proxy)
    assert post(proxy, endpoint, init_request()).status == 202
    assert st.next_message()["id"] == 1
    kids = proxy.wait_children(1)
    st.abort()  # the SSE client goes away
    wait_until(lambda: post(proxy, endpoint, rpc("ping", None, 2)).status == 404, 10,
               what="the session to close after its SSE client left")
    wait_until(lambda: not set(kids) & set(proxy.child_pids()), 10, what="its server to exit")
    # other clients are unaffected
    st2, endpoint2 = open_legacy(proxy)
    try:
        assert post(proxy, endpoint2, init_request()).status == 202
        assert st2.next_message()["id"] == 1
    finally:
        st2.close()


def test_session_limit_applies_to_sse(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd, "--max-sessions", "1")
    st, _ = open_legacy(proxy)
    try:
        second = SseStream(sse_url(proxy), "GET", None, {"Accept": "text/event-stream"})
        assert second.wait_headers() == 503
        second.close()
    finally:
        st.close()


@pytest.mark.timeout(40)
def test_shutdown_drains_a_legacy_request_in_flight(http_proxy, raw_server_cmd):
    """SIGTERM with a legacy SSE request in flight: its answer still reaches
    the event stream, then the stream ends and mcpfwd exits 0; one the server
    never answers gets the drain deadline's error."""
    import signal
    proxy = http_proxy(raw_server_cmd, "--drain-timeout-ms", "3000")
    st, endpoint = open_legacy(proxy)
    st2, endpoint2 = open_legacy(proxy)
    try:
        for s, e in ((st, endpoint), (st2, endpoint2)):
            assert post(proxy, e, init_request()).status == 202
            assert s.next_message()["id"] == 1
        assert post(proxy, endpoint, rpc("raw/sleep", {"seconds": 0.8}, 2)).status == 202
        assert post(proxy, endpoint2, rpc("raw/hold", None, 3)).status == 202
        time.sleep(0.2)
        proxy.proc.send_signal(signal.SIGTERM)
        answered = st.next_message()
        assert answered["id"] == 2 and answered["result"]["method"] == "raw/sleep", answered
        failed = st2.next_message()
        assert failed["id"] == 3 and failed["error"]["code"] == -32000, failed
        assert "drain deadline" in failed["error"]["message"], failed
        assert proxy.stop(15) == 0
        proxy.assert_children_gone(10)
    finally:
        st.close()
        st2.close()
