"""The stateless era (MCP 2026-07-28) through ``mcpfwd --listen``, beside the session era.

Clients are the current MCP Python SDK's (``mcp`` 2.x ``Client`` in auto, pinned and legacy
mode); the upstream is a stdio server on the same SDK (tests/servers/modern_server.py) or the
TypeScript SDK's ``@modelcontextprotocol/server-everything`` (session era only). Raw HTTP
requests check the validation ladder, status codes and headers byte for byte.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from http_helpers import ACCEPT_BOTH, http_request, split_url, wait_until

HERE = Path(__file__).resolve().parent.parent  # tests/python
MODERN_SERVER = [sys.executable, str(HERE.parent / "servers" / "modern_server.py")]
MODERN = "2026-07-28"
EVERYTHING = HERE.parent / "node" / "node_modules" / ".bin" / "mcp-server-everything"

pytestmark = pytest.mark.timeout(90)


def envelope(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "mcpfwd-tests", "version": "0"}}
    meta.update(extra or {})
    return meta


def modern_request(method: str, params: dict[str, Any] | None = None, msg_id: Any = 1,
                   meta: dict[str, Any] | None = None) -> dict[str, Any]:
    p = dict(params or {})
    p["_meta"] = envelope(meta)
    return {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": p}


def modern_headers(method: str, name: str | None = None, **extra: str) -> dict[str, str]:
    h = {"Accept": ACCEPT_BOTH, "MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if name is not None:
        h["Mcp-Name"] = name
    h.update(extra)
    return h


def post(url: str, body: Any, headers: dict[str, str], timeout: float = 30.0):
    return http_request(url, "POST", body, headers=headers, timeout=timeout)


def call(url: str, tool: str, args: dict[str, Any], msg_id: Any = 1, **headers: str):
    r = post(url, modern_request("tools/call", {"name": tool, "arguments": args}, msg_id),
             modern_headers("tools/call", tool, **headers))
    assert r.status == 200, r
    return r


def tool_text(r) -> str:
    res = r.response()
    assert res.get("result", {}).get("isError") is not True, res
    return res["result"]["content"][0]["text"]


def flatten(e: BaseException) -> str:
    """The messages of an exception and of those it groups."""
    parts = [str(e)]
    for sub in getattr(e, "exceptions", ()):
        parts.append(flatten(sub))
    return " | ".join(parts)


def session_table(proxy) -> list[str]:
    """The rows of the SIGUSR1 session table."""
    n = len(proxy.stderr_lines())
    proxy.proc.send_signal(signal.SIGUSR1)
    proxy.wait_stderr(r"^SESSION +STATE +PID")
    time.sleep(0.2)
    lines = proxy.stderr_lines()[n:]
    start = next(i for i, ln in enumerate(lines) if ln.startswith("SESSION "))
    return [ln for ln in lines[start + 1:] if len(ln.split()) >= 10 and len(ln.split()[0]) == 32]


# ------------------------------------------------------------ the SDK's clients


async def _client_round(url: str, mode: str) -> dict[str, Any]:
    async with Client(url, mode=mode) as c:
        tools = await c.list_tools()
        echo = await c.call_tool("echo", {"text": "hi"})
        who = await c.call_tool("whoami", {})
        return {"version": c.protocol_version, "tools": {t.name for t in tools.tools},
                "echo": echo.content[0].text, "pid": int(who.content[0].text)}


def test_auto_and_pinned_clients_speak_2026_and_a_legacy_client_keeps_its_session(http_proxy):
    proxy = http_proxy(MODERN_SERVER)
    auto = anyio.run(_client_round, proxy.url, "auto")
    pinned = anyio.run(_client_round, proxy.url, MODERN)
    legacy = anyio.run(_client_round, proxy.url, "legacy")
    assert auto["version"] == MODERN and pinned["version"] == MODERN
    assert legacy["version"] == "2025-11-25"
    for r in (auto, pinned, legacy):
        assert r["echo"] == "hi" and {"echo", "count", "progress"} <= r["tools"]
    # The two stateless clients shared the one instance (--stateless-key shared);
    # the legacy session had its own server.
    assert auto["pid"] == pinned["pid"] != legacy["pid"]
    rows = session_table(proxy)
    stateless = [r for r in rows if "stateless (key shared)" in r]
    assert len(stateless) == 1 and str(auto["pid"]) in stateless[0], rows


def test_a_modern_answer_has_no_session_id_and_maps_error_codes_to_status(http_proxy):
    proxy = http_proxy(MODERN_SERVER)
    r = call(proxy.url, "echo", {"text": "x"})
    assert r.header("Mcp-Session-Id") is None and r.content_type == "application/json"
    assert r.json() == {"jsonrpc": "2.0", "id": 1,
                        "result": r.json()["result"]} and tool_text(r) == "x"
    # An error from the server travels with the status the era's table gives it.
    r = post(proxy.url, modern_request("no/such", {}, 7), modern_headers("no/such"))
    assert r.status == 404 and r.json()["error"]["code"] == -32601 and r.json()["id"] == 7
    # A tool error is a result.
    r = call(proxy.url, "fail", {"message": "boom"}, msg_id="s")
    assert r.json()["id"] == "s" and r.json()["result"]["isError"] is True


# ------------------------------------------------------------ the validation ladder


@pytest.mark.parametrize("case", [
    "missing_meta", "missing_pair", "method_mismatch", "name_mismatch", "version_mismatch",
    "duplicated_header", "unsupported_version", "removed_method", "batch", "parse_error",
])
def test_the_validation_ladder_answers_with_the_specified_status_and_code(http_proxy, case):
    proxy = http_proxy(MODERN_SERVER)
    body: Any = modern_request("tools/call", {"name": "echo", "arguments": {"text": "x"}}, 5)
    headers = modern_headers("tools/call", "echo")
    want = (400, -32020)
    if case == "missing_meta":
        del body["params"]["_meta"]
        want = (400, -32602)
    elif case == "missing_pair":
        del body["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]
        want = (400, -32602)
    elif case == "method_mismatch":
        headers["Mcp-Method"] = "tools/list"
    elif case == "name_mismatch":
        headers["Mcp-Name"] = "other"
    elif case == "version_mismatch":
        body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2026-01-01"
    elif case == "unsupported_version":
        body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01"
        headers["MCP-Protocol-Version"] = "2099-01-01"
        want = (400, -32022)
    elif case == "removed_method":
        body = modern_request("initialize", {"protocolVersion": MODERN, "capabilities": {},
                                             "clientInfo": {"name": "t", "version": "0"}}, 5)
        headers = modern_headers("initialize")
        want = (404, -32601)
    elif case == "batch":
        body = [body]
        want = (400, -32600)
    elif case == "parse_error":
        body = b'{"jsonrpc": "2.0", "id": 5,'
        want = (400, -32700)
    if case == "duplicated_header":
        host, port, _ = split_url(proxy.url)
        raw = json.dumps(body).encode()
        head = (f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Accept: {ACCEPT_BOTH}\r\nMCP-Protocol-Version: {MODERN}\r\n"
                f"Mcp-Method: tools/call\r\nMcp-Method: tools/call\r\nMcp-Name: echo\r\n"
                f"Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n").encode()
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(head + raw)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        status = int(data.split(b" ", 2)[1])
        answer = json.loads(data.partition(b"\r\n\r\n")[2])
    else:
        r = post(proxy.url, body, headers)
        status, answer = r.status, r.json()
    assert (status, answer["error"]["code"]) == want, answer
    if case not in ("parse_error", "batch"):
        assert answer["id"] == 5  # the request's id is echoed
    if case == "unsupported_version":
        assert answer["error"]["data"] == {"supported": [MODERN], "requested": "2099-01-01"}
    # Nothing was spawned for a refused request.
    assert proxy.child_pids() == []


def test_get_and_delete_are_405_and_a_notification_is_202_with_nothing_spawned(http_proxy):
    proxy = http_proxy(MODERN_SERVER)
    for method in ("GET", "DELETE"):
        r = http_request(proxy.url, method, headers={"Accept": "text/event-stream",
                                                    "MCP-Protocol-Version": MODERN})
        assert r.status == 405 and r.header("Allow") == "POST", r
    note = {"jsonrpc": "2.0", "method": "notifications/roots/list_changed",
            "params": {"_meta": envelope()}}
    r = post(proxy.url, note, modern_headers("notifications/roots/list_changed"))
    assert r.status == 202 and r.body == b"", r
    assert proxy.child_pids() == []


# ------------------------------------------------------------ isolation keys


def test_shared_key_shares_one_counter(http_proxy):
    proxy = http_proxy(MODERN_SERVER)
    counts = [int(tool_text(call(proxy.url, "count", {}, msg_id=i))) for i in range(3)]
    assert counts == [1, 2, 3]


def test_header_key_gives_each_value_its_own_instance(http_proxy):
    proxy = http_proxy(MODERN_SERVER, "--stateless-key", "header:X-Tenant")
    seen = {}
    for tenant in ("a", "b", "a", "b", "a"):
        seen.setdefault(tenant, []).append(
            int(tool_text(call(proxy.url, "count", {}, **{"X-Tenant": tenant}))))
    assert seen == {"a": [1, 2, 3], "b": [1, 2]}
    pids = {t: tool_text(call(proxy.url, "whoami", {}, **{"X-Tenant": t})) for t in "ab"}
    assert pids["a"] != pids["b"]
    rows = session_table(proxy)
    assert any("(key X-Tenant: a)" in r for r in rows) and any("(key X-Tenant: b)" in r
                                                               for r in rows), rows


def test_authorization_key_is_never_shown_in_clear(http_proxy):
    proxy = http_proxy(MODERN_SERVER, "--stateless-key", "authorization")
    a = tool_text(call(proxy.url, "whoami", {}, Authorization="Bearer alice-secret"))
    b = tool_text(call(proxy.url, "whoami", {}, Authorization="Bearer bob-secret"))
    assert a != b
    rows = session_table(proxy)
    assert sum("authorization sha256:" in r for r in rows) == 2, rows
    assert "secret" not in proxy.stderr_text()


def test_sixteen_concurrent_clients_with_the_same_ids_get_only_their_own_answers(http_proxy):
    proxy = http_proxy(MODERN_SERVER)

    def one(i: int) -> None:
        for round_ in range(5):
            # Every client uses id 1 and progress token "p": the instance must keep them apart.
            text = f"client {i} round {round_}"
            body = modern_request("tools/call", {"name": "progress", "arguments": {"steps": 3}},
                                  1, meta={"progressToken": "p"})
            r = post(proxy.url, body, modern_headers("tools/call", "progress"))
            msgs = r.messages()
            assert [m["params"]["progressToken"] for m in msgs[:-1]] == ["p"] * 3, msgs
            assert msgs[-1]["id"] == 1 and msgs[-1]["result"]["content"][0]["text"] == "done 3"
            e = call(proxy.url, "echo", {"text": text})
            assert tool_text(e) == text and e.json()["id"] == 1

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for f in [pool.submit(one, i) for i in range(16)]:
            f.result(timeout=80)
    assert len(proxy.child_pids()) == 1  # one shared instance


def test_progress_streams_as_sse_with_the_clients_token(http_proxy):
    proxy = http_proxy(MODERN_SERVER)
    body = modern_request("tools/call", {"name": "progress", "arguments": {"steps": 2}}, "r1",
                          meta={"progressToken": 42})
    r = post(proxy.url, body, modern_headers("tools/call", "progress"))
    assert r.status == 200 and r.content_type == "text/event-stream", r
    assert r.header("X-Accel-Buffering") == "no"
    msgs = r.messages()
    assert [m["method"] for m in msgs[:-1]] == ["notifications/progress"] * 2
    assert all(m["params"]["progressToken"] == 42 for m in msgs[:-1])
    assert msgs[-1]["id"] == "r1"


# ------------------------------------------------------------ cancellation, listen, crash


def test_closing_the_response_stream_cancels_the_request_upstream(http_proxy):
    proxy = http_proxy(MODERN_SERVER)
    tool_text(call(proxy.url, "echo", {"text": "warm"}))  # the instance is up
    host, port, _ = split_url(proxy.url)
    raw = json.dumps(modern_request("tools/call", {"name": "sleep", "arguments": {"seconds": 30}},
                                    9)).encode()
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall((f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                   f"Accept: {ACCEPT_BOTH}\r\nMCP-Protocol-Version: {MODERN}\r\n"
                   f"Mcp-Method: tools/call\r\nMcp-Name: sleep\r\n"
                   f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw)
        time.sleep(1.0)
    proxy.wait_stderr(r"^server: cancelled after a sleep of 30", timeout=20)
    assert tool_text(call(proxy.url, "echo", {"text": "after"})) == "after"


async def _listen_and_trigger(url: str) -> list[str]:
    got: list[str] = []
    async with Client(url, mode=MODERN) as listener, Client(url, mode=MODERN) as other:
        async with listener.listen(tools_list_changed=True) as sub:
            await other.call_tool("add_tool", {"name": "late_tool"})
            with anyio.fail_after(20):
                async for event in sub:
                    got.append(type(event).__name__)
                    break
        tools = await listener.list_tools()
        got += [t.name for t in tools.tools if t.name == "late_tool"]
    return got


def test_a_listen_stream_receives_a_list_change_triggered_by_another_client(http_proxy):
    proxy = http_proxy(MODERN_SERVER)
    assert anyio.run(_listen_and_trigger, proxy.url) == ["ToolsListChanged", "late_tool"]


def test_a_crashed_instance_fails_its_requests_and_the_next_request_gets_a_new_one(http_proxy):
    proxy = http_proxy(MODERN_SERVER)
    first = tool_text(call(proxy.url, "whoami", {}))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(call, proxy.url, "sleep", {"seconds": 30}, 3)
        time.sleep(1.0)
        os.kill(int(first), signal.SIGKILL)
        r = slow.result(timeout=20)
    err = r.response()
    assert err["id"] == 3 and err["error"]["code"] == -32000, err
    assert "killed by signal 9" in err["error"]["message"] or "signal" in err["error"]["message"]
    second = tool_text(call(proxy.url, "whoami", {}))
    assert second != first


# ------------------------------------------------------------ a session-era-only upstream


async def _version_of(url: str, mode: str) -> str:
    async with Client(url, mode=mode) as c:
        await c.list_tools()
        return c.protocol_version


@pytest.mark.skipif(not EVERYTHING.exists(), reason="npm peers not installed (packaging/install-deps.sh --test)")
def test_a_session_era_only_server_is_bridged_for_auto_and_pinned_clients(http_proxy):
    """The probe finds a session-era server; mcpfwd bridges (tests/python/e2e/
    test_bridge_modern_client.py has the rest), and a legacy client keeps its own session."""
    proxy = http_proxy([str(EVERYTHING)])
    assert anyio.run(_version_of, proxy.url, "auto") == MODERN
    proxy.wait_stderr(r"serves only the session era", timeout=10)
    proxy.wait_stderr(r"bridging modern clients to the session-era upstream", timeout=10)
    r = post(proxy.url, modern_request("tools/list", {}, 4), modern_headers("tools/list"))
    assert r.status == 200 and r.json()["result"]["resultType"] == "complete"
    assert anyio.run(_version_of, proxy.url, MODERN) == MODERN
    assert anyio.run(_version_of, proxy.url, "legacy") == "2025-11-25"


def test_upstream_era_legacy_bridges_without_probing(http_proxy):
    proxy = http_proxy(MODERN_SERVER, "--upstream-era", "legacy")
    r = post(proxy.url, modern_request("tools/list", {}, 4), modern_headers("tools/list"))
    assert r.status == 200 and r.json()["id"] == 4, r
    assert r.json()["result"]["resultType"] == "complete"
    proxy.wait_stderr(r"bridging modern clients to the session-era upstream", timeout=10)
    assert not any("serves only the session era" in ln for ln in proxy.stderr_lines())
    assert anyio.run(_version_of, proxy.url, "auto") == MODERN
    assert anyio.run(_version_of, proxy.url, "legacy") == "2025-11-25"


# ------------------------------------------------------------ a remote upstream


@pytest.fixture
def remote_modern_server():
    """tests/servers/modern_server.py on its own Streamable HTTP (both eras), on a free port."""
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*MODERN_SERVER, "--http", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _remote_round(url: str, mode: str) -> dict[str, Any]:
    progress: list[float] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append(p)

    async with Client(url, mode=mode) as c:
        r = await c.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
        n = await c.call_tool("count", {})
        return {"version": c.protocol_version, "text": r.content[0].text, "progress": progress,
                "count": int(n.content[0].text)}


def test_a_remote_modern_server_is_reached_one_post_per_request(listen_proxy, remote_modern_server):
    url = listen_proxy("--upstream", remote_modern_server).url
    auto = anyio.run(_remote_round, url, "auto")
    pinned = anyio.run(_remote_round, url, MODERN)
    legacy = anyio.run(_remote_round, url, "legacy")
    for r in (auto, pinned, legacy):
        assert r["text"] == "done 3" and r["progress"] == [1, 2, 3], r
    assert auto["version"] == pinned["version"] == MODERN and legacy["version"] == "2025-11-25"
    assert [auto["count"], pinned["count"], legacy["count"]] == [1, 2, 3]  # one remote process
    # The routing headers reached the remote server (it checks them against the body) and
    # its SSE answer streamed through with the proxy's headers.
    body = modern_request("tools/call", {"name": "progress", "arguments": {"steps": 2}}, 8,
                          meta={"progressToken": "t"})
    r = post(url, body, modern_headers("tools/call", "progress"))
    assert r.status == 200 and r.content_type == "text/event-stream", r
    assert r.header("X-Accel-Buffering") == "no" and r.header("Mcp-Session-Id") is None
    assert [m.get("method") for m in r.messages()] == ["notifications/progress"] * 2 + [None]
    # An error status of the remote server passes through as it is.
    r = post(url, modern_request("no/such", {}, 9), modern_headers("no/such"))
    assert r.status == 404 and r.json()["error"]["code"] == -32601 and r.json()["id"] == 9


# ------------------------------------------------------------ the Python package


@pytest.mark.inprocess
def test_python_sessions_list_a_stateless_instance_with_its_key_and_close_it():
    import mcpfwd

    with mcpfwd.Proxy(upstream=MODERN_SERVER, listen=("127.0.0.1", 0),
                      stateless_key="header:X-Tenant") as proxy:
        first = tool_text(call(proxy.url, "whoami", {}, **{"X-Tenant": "acme"}))
        infos = proxy.sessions()
        assert [(s.kind, s.era, s.key, s.upstream_pid) for s in infos] == \
            [("stateless", "stateless", "X-Tenant: acme", int(first))]
        proxy.close_session(infos[0].id)  # the same kill call as any session
        wait_until(lambda: proxy.sessions() == [], timeout=10, what="the instance to close")
        second = tool_text(call(proxy.url, "whoami", {}, **{"X-Tenant": "acme"}))
        assert second != first  # the key's next request got a fresh instance


async def _stdio_round(argv: list[str], mode: str, errlog) -> tuple[str, str, int]:
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))
    async with Client(stdio_client(params, errlog=errlog), mode=mode) as c:
        echo = await c.call_tool("echo", {"text": "over stdio"})
        n = await c.call_tool("count", {})
        return c.protocol_version, echo.content[0].text, int(n.content[0].text)


def test_stdio_toward_a_remote_server_takes_the_era_of_the_clients_first_request(
        mcpfwd_bin, remote_modern_server):
    """``mcpfwd --stdio --upstream URL``: a 2026-07-28 client gets no upstream session, each
    request one POST with its routing headers; a legacy client its own upstream session."""
    import tempfile

    from conftest import assert_no_sanitizer_report

    argv = [mcpfwd_bin, "--stdio", "--upstream", remote_modern_server]
    got = []
    for mode in ("auto", MODERN, "legacy"):
        with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
            got.append(anyio.run(_stdio_round, argv, mode, errlog))
            errlog.seek(0)
            stderr = errlog.read()
        assert_no_sanitizer_report(stderr, "mcpfwd --stdio")
        assert "warn" not in stderr, stderr
    assert got == [(MODERN, "over stdio", 1), (MODERN, "over stdio", 2),
                   ("2025-11-25", "over stdio", 3)]


# ------------------------------------------------------------ multi-round trips


async def _elicit_through(url: str) -> tuple[str, list[str]]:
    import mcp_types as types

    asked: list[str] = []

    async def on_elicit(context, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with Client(url, mode=MODERN, elicitation_callback=on_elicit) as c:
        r = await c.call_tool("test_input_required_result_elicitation", {})
        return r.content[0].text, asked


def test_an_elicitation_through_input_required_reaches_the_client_and_the_retry_completes(
        http_proxy):
    """The server answers input_required (an elicitation); the SDK client asks its callback and
    retries with inputResponses; both rounds pass through the shared instance untouched."""
    fixture = [sys.executable, str(HERE.parent / "conformance" / "fixture_server.py")]
    proxy = http_proxy(fixture)
    text, asked = anyio.run(_elicit_through, proxy.url)
    assert asked == ["What is your name?"] and text == "Hello, Ada!"
