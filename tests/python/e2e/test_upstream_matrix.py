"""mcpfwd between the official MCP Python SDK and remote upstreams: every transport pair.

Downstream (the SDK client talking to mcpfwd):
    stdio   ``stdio_client`` launching ``mcpfwd --stdio <upstream>``
    http    ``streamable_http_client`` to ``mcpfwd --listen``'s /mcp
    sse     ``sse_client`` to ``mcpfwd --listen``'s legacy /sse
Upstream (what mcpfwd talks to), all the same MCPServer (the SDK's server)
(tests/servers/fastmcp_http_server.py):
    stdio   spawned by mcpfwd per session (``-- python server --transport stdio``)
    http    Streamable HTTP (``--upstream http://127.0.0.1:P/mcp``)
    sse     legacy HTTP+SSE (``--upstream http://127.0.0.1:P/sse``, found by the
            ``auto`` probe: POST gets 405, GET gets the ``endpoint`` event)

Each combination runs one script (initialize, tools/list, echo, add, a call
streaming progress notifications, a logging notification, two sampling round
trips, a ping, a 300 kB echo) and must give exactly the results of the same script run straight
against the same upstream with no proxy (the ``direct`` baselines, which also
validate the servers and fixtures on their own).  With a remote upstream the
upstream's session id must stay inside mcpfwd and the upstream session must
be ended when the client leaves.  Then: two clients at once (each sampling
request reaches its own client), an upstream answering in application/json
(server->client traffic then travels on the upstream GET stream), and the
Node reference server (server-everything) over stdio, Streamable HTTP and SSE.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import pytest
from conftest import everything_long_running
from upstream_helpers import HTTP_SERVER, ClientCallbacks, ClientConn, run_async, sdk_session

pytestmark = pytest.mark.timeout(90)

DOWNSTREAMS = ("stdio", "http", "sse")
UPSTREAMS = ("stdio", "http", "sse")
SERVER_STDIO = [sys.executable, str(HTTP_SERVER), "--transport", "stdio"]

TOOLS = {"echo", "pad", "add", "progress", "log", "sample", "slow", "progress_via_get",
         "sample_via_get", "get_stream_open", "request_info"}
TEXT = "hello, wörld ✓ 🎉"


def upstream_args(upstream: str, servers: Any, *server_options: str) -> list[str]:
    """mcpfwd arguments naming the upstream."""
    if upstream == "stdio":
        return ["--", *SERVER_STDIO]
    transport = {"http": "streamable-http", "sse": "sse"}[upstream]
    return ["--upstream", servers.fastmcp(transport, *server_options).url]


def downstream_target(downstream: str, mcpfwd_bin: str, listen_proxy: Any,
                      args: list[str]) -> str | list[str]:
    """What the SDK client connects to: a command (stdio) or a URL."""
    if downstream == "stdio":
        return [mcpfwd_bin, "--stdio", *args]
    proxy = listen_proxy(*args)
    return proxy.url if downstream == "http" else proxy.url[: -len("/mcp")] + "/sse"


def text_of(result: Any) -> str:
    return result.content[0].text


async def core_script(conn: ClientConn, cb: ClientCallbacks) -> dict[str, Any]:
    s = conn.session
    r: dict[str, Any] = {"initialize": conn.init.model_dump()}
    tools = await s.list_tools()
    r["tools/list"] = tools.model_dump()
    assert {t.name for t in tools.tools} == TOOLS
    r["echo"] = (await s.call_tool("echo", {"text": TEXT})).model_dump()
    assert r["echo"]["content"][0]["text"] == TEXT
    r["add"] = (await s.call_tool("add", {"a": 2, "b": 40.5})).model_dump()
    assert r["add"]["structured_content"] == {"result": 42.5}

    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total, message))

    r["progress"] = (await s.call_tool("progress", {"steps": 4},
                                       progress_callback=on_progress)).model_dump()
    assert progress == [(float(i), 4.0, f"step {i} of 4") for i in range(1, 5)], progress
    r["progress_notifications"] = progress
    r["log"] = (await s.call_tool("log", {"message": "a log line ✓"})).model_dump()
    r["sample"] = (await s.call_tool("sample", {"prompt": "say hi ✓"})).model_dump()
    assert r["sample"]["content"][0]["text"] == "fake-model-1: echoed <say hi ✓>", r["sample"]
    r["sample 2"] = (await s.call_tool("sample", {"prompt": "second"})).model_dump()
    assert r["sample 2"]["content"][0]["text"] == "fake-model-1: echoed <second>"
    r["ping"] = (await s.send_ping()).model_dump()
    big = "x" * 300_000 + "✓"
    r["big echo"] = (await s.call_tool("echo", {"text": big})).model_dump()
    assert r["big echo"]["content"][0]["text"] == big
    r["echo after"] = (await s.call_tool("echo", {"text": "after"})).model_dump()
    r["sampling_requests"] = list(cb.sampling)
    r["logging_notifications"] = list(cb.logs)
    assert [x["data"] for x in cb.logs] == ["a log line ✓"], cb.logs
    assert len(cb.sampling) == 2
    return r


async def request_info(conn: ClientConn) -> dict[str, Any]:
    """What the upstream saw of the HTTP request carrying this call."""
    res = await conn.session.call_tool("request_info", {})
    return json.loads(text_of(res))


def upstream_session_of(upstream: str, info: dict[str, Any]) -> str:
    """The upstream's session id, as the upstream saw it on the request."""
    if upstream == "http":
        sids = [v for k, v in info["headers"] if k == "mcp-session-id"]
        assert len(sids) == 1, info
        return sids[0]
    query = dict(p.split("=", 1) for p in info["query"].split("&") if "=" in p)
    assert "session_id" in query, info
    return query["session_id"]


def run_script(kind: str, target: str | list[str], want_info: bool = False
               ) -> tuple[dict[str, Any], str | None, Any]:
    """The core script in one SDK session; (results, session id, request_info if wanted)."""
    cb = ClientCallbacks()

    async def go() -> tuple[dict[str, Any], str | None, Any]:
        async with sdk_session(kind, target, cb) as conn:
            r = await core_script(conn, cb)
            info = await request_info(conn) if want_info else None
            return r, conn.sid(), info

    return run_async(go)


@pytest.fixture(scope="module")
def baselines(upstream_servers):
    """baselines(upstream) -> the script's results straight against that upstream (cached)."""
    cache: dict[str, dict[str, Any]] = {}

    def get(upstream: str) -> dict[str, Any]:
        if upstream not in cache:
            if upstream == "stdio":
                r, _, _ = run_script("stdio", SERVER_STDIO)
            else:
                url = upstream_args(upstream, upstream_servers)[1]
                r, _, _ = run_script(upstream, url)
            cache[upstream] = r
        return cache[upstream]

    return get


def assert_same(direct: dict[str, Any], via: dict[str, Any]) -> None:
    assert list(via) == list(direct)
    for key in direct:
        assert via[key] == direct[key], f"{key}: result differs through mcpfwd"


# --------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", UPSTREAMS, ids=lambda v: f"up_{v}")
def test_direct_baseline(upstream, baselines):
    """The script passes straight against each upstream transport (no mcpfwd involved)."""
    r = baselines(upstream)
    assert r["echo"]["content"][0]["text"] == TEXT
    if upstream != "stdio":  # all three transports serve the very same results
        assert_same(baselines("stdio"), r)


@pytest.mark.parametrize("upstream", UPSTREAMS, ids=lambda v: f"up_{v}")
@pytest.mark.parametrize("downstream", DOWNSTREAMS, ids=lambda v: f"down_{v}")
def test_matrix(downstream, upstream, mcpfwd_bin, listen_proxy, upstream_servers, baselines):
    direct = baselines(upstream)
    args = upstream_args(upstream, upstream_servers)
    target = downstream_target(downstream, mcpfwd_bin, listen_proxy, args)
    via, down_sid, info = run_script(downstream, target, want_info=upstream != "stdio")
    assert_same(direct, via)
    if downstream == "http":
        assert down_sid, "mcpfwd gave the Streamable HTTP client no session id"
    if upstream == "stdio":
        return
    srv = upstream_servers.fastmcp({"http": "streamable-http", "sse": "sse"}[upstream])
    up_sid = upstream_session_of(upstream, info)
    assert down_sid != up_sid, "the upstream's session id leaked to the downstream client"
    if upstream == "http":
        # the client left (DELETE to mcpfwd, or EOF on stdio, or its SSE stream closed):
        # mcpfwd must end the upstream session
        d = srv.wait_request(lambda q: q["method"] == "DELETE" and q["sid"] == up_sid
                             and q["status"] is not None,
                             timeout=10, what=f"DELETE of upstream session {up_sid}")
        assert d["status"] == 200, d
        ctypes = {q["ctype"] for q in srv.requests()
                  if q["sid"] == up_sid and q["method"] == "POST" and q["status"] == 200}
        assert "text/event-stream" in ctypes, ctypes  # the SSE-answer path was exercised
    else:
        stream = srv.sse_session_request(up_sid)
        srv.wait_request(lambda q: q["rid"] == stream["rid"] and q["t_end"] is not None,
                         timeout=10, what=f"the end of the GET /sse stream of {up_sid}")


@pytest.mark.parametrize("upstream", ("http", "sse"), ids=lambda v: f"up_{v}")
@pytest.mark.parametrize("downstream", ("http", "sse"), ids=lambda v: f"down_{v}")
def test_two_clients_each_get_their_own_upstream_session(downstream, upstream, mcpfwd_bin,
                                                         listen_proxy, upstream_servers):
    """Two concurrent clients: separate upstream sessions, and every sampling request
    (three in flight per client) is answered by the client whose call caused it."""
    target = downstream_target(downstream, mcpfwd_bin, listen_proxy,
                               upstream_args(upstream, upstream_servers))
    out: dict[str, Any] = {}

    async def client(label: str) -> None:
        cb = ClientCallbacks(model=f"model-{label}")
        async with sdk_session(downstream, target, cb) as conn:
            info = await request_info(conn)
            answers: dict[int, str] = {}

            async def one(i: int) -> None:
                res = await conn.session.call_tool("sample", {"prompt": f"{label}{i}"})
                answers[i] = text_of(res)

            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(one, i)
                tg.start_soon(conn.session.call_tool, "slow", {"seconds": 0.2})
            out[label] = (upstream_session_of(upstream, info), conn.sid(), answers)

    async def both() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client, "A")
            tg.start_soon(client, "B")

    run_async(both)
    for label in ("A", "B"):
        _, _, answers = out[label]
        assert answers == {i: f"model-{label}: echoed <{label}{i}>" for i in range(3)}, answers
    up_a, down_a, _ = out["A"]
    up_b, down_b, _ = out["B"]
    assert up_a != up_b, "two downstream sessions shared one upstream session"
    assert not {up_a, up_b} & {down_a, down_b}


# --------------------------------------------------------------------------
# an upstream answering POSTs with application/json


@pytest.mark.parametrize("downstream", ("direct", *DOWNSTREAMS), ids=lambda v: f"down_{v}")
def test_json_response_upstream(downstream, mcpfwd_bin, listen_proxy, upstream_servers):
    """MCPServer with ``json_response``: each POST is answered with one JSON object.

    Messages tied to a call cannot travel on a JSON answer (the SDK drops them),
    so this upstream's progress notifications and sampling requests go on the
    session's GET stream: mcpfwd must hold that stream open upstream (for every
    kind of downstream client, stdio included) and relay what comes on it."""
    srv = upstream_servers.fastmcp("streamable-http", "--json-response")
    if downstream == "direct":
        kind, target = "http", srv.url
    else:
        kind = downstream
        target = downstream_target(downstream, mcpfwd_bin, listen_proxy, ["--upstream", srv.url])
    cb = ClientCallbacks()

    async def go() -> str:
        async with sdk_session(kind, target, cb) as conn:
            s = conn.session
            assert {t.name for t in (await s.list_tools()).tools} == TOOLS
            assert text_of(await s.call_tool("echo", {"text": TEXT})) == TEXT
            assert (await s.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3.0}
            up_sid = upstream_session_of("http", await request_info(conn))
            with anyio.fail_after(10):  # the GET stream is opened in the background
                while not (await s.call_tool("get_stream_open", {})).structured_content["result"]:
                    await anyio.sleep(0.05)
            progress: list[tuple[float, float | None, str | None]] = []

            async def on_progress(p: float, total: float | None, message: str | None) -> None:
                progress.append((p, total, message))

            res = await s.call_tool("progress_via_get", {"steps": 3}, progress_callback=on_progress)
            assert text_of(res) == "completed 3 steps"
            assert progress == [(float(i), 3.0, f"step {i} of 3") for i in range(1, 4)], progress
            res = await s.call_tool("sample_via_get", {"prompt": "over the GET stream"})
            assert text_of(res) == "fake-model-1: echoed <over the GET stream>"
            return up_sid

    up_sid = run_async(go)
    posts = [q for q in srv.requests() if q["sid"] == up_sid and q["method"] == "POST"]
    answered = [q for q in posts if q["status"] == 200]
    assert len(answered) >= 7, posts  # list, echo, add, request_info, get_stream_open, two more
    assert {q["ctype"] for q in answered} == {"application/json"}, answered
    gets = [q for q in srv.requests() if q["sid"] == up_sid and q["method"] == "GET"]
    assert [q["status"] for q in gets][:1] == [200], gets


# --------------------------------------------------------------------------
# @modelcontextprotocol/server-everything (the Node reference server)


async def everything_script(conn: ClientConn, cb: ClientCallbacks) -> dict[str, Any]:
    s = conn.session
    r: dict[str, Any] = {}
    tools = await s.list_tools()
    names = {t.name for t in tools.tools}
    assert {"echo", "get-sum", "trigger-long-running-operation",
            "trigger-sampling-request"} <= names, names
    r["tool names"] = sorted(names)
    r["echo"] = (await s.call_tool("echo", {"message": "hi from the test ✓"})).model_dump()
    assert "hi from the test ✓" in r["echo"]["content"][0]["text"]
    r["get-sum"] = (await s.call_tool("get-sum", {"a": 2, "b": 3})).model_dump()
    r["long-running"], progress = await everything_long_running(s)
    assert progress == [(1.0, 2.0, None), (2.0, 2.0, None)], progress
    r["progress"] = progress
    r["sampling"] = (await s.call_tool("trigger-sampling-request",
                                       {"prompt": "sample me", "maxTokens": 5})).model_dump()
    assert "fake-model-1" in r["sampling"]["content"][0]["text"], r["sampling"]
    assert "echoed <Resource trigger-sampling-request context: sample me>" in \
        r["sampling"]["content"][0]["text"], r["sampling"]
    r["ping"] = (await s.send_ping()).model_dump()
    return r


EVERYTHING_MODES = {"stdio": None, "http": "streamableHttp", "sse": "sse"}


@pytest.mark.parametrize(("upstream", "downstream"), [
    pytest.param(up, down, id=f"up_{up}-down_{down}")
    for up, down in [("stdio", "direct"), ("stdio", "http"),
                     ("http", "direct"), ("http", "http"), ("http", "stdio"), ("http", "sse"),
                     ("sse", "direct"), ("sse", "http"), ("sse", "stdio")]
])
def test_everything_server(upstream, downstream, mcpfwd_bin, listen_proxy, upstream_servers,
                           everything_cmd):
    mode = EVERYTHING_MODES[upstream]
    if mode is None:
        direct_kind, direct_target = "stdio", everything_cmd
        args = ["--", *everything_cmd]
    else:
        url = upstream_servers.everything(mode).url
        direct_kind, direct_target = upstream, url
        args = ["--upstream", url]
    if downstream == "direct":
        kind, target = direct_kind, direct_target
    else:
        kind, target = downstream, downstream_target(downstream, mcpfwd_bin, listen_proxy, args)
    cb = ClientCallbacks()

    async def go() -> dict[str, Any]:
        async with sdk_session(kind, target, cb) as conn:
            return await everything_script(conn, cb)

    r = run_async(go)
    assert r["get-sum"]["content"][0]["text"] == "The sum of 2 and 3 is 5.", r["get-sum"]
    assert len(cb.sampling) == 1
