"""Bridging: a 2026-07-28 client through ``mcpfwd --listen`` to a session-era-only server.

The client is the MCP Python SDK 2.x ``Client`` pinned to 2026-07-28 (it never falls back to
``initialize``); the server is the TypeScript SDK's ``@modelcontextprotocol/server-everything``
(session era only), over stdio (``-- SERVER``) and over its own Streamable HTTP
(``--upstream URL``). mcpfwd holds one session-era session for the key's instance and
translates: discover from initialize, results given ``resultType``/caching hints, server
requests (sampling, elicitation) as ``input_required``, listen onto ``resources/subscribe``.
See docs/eras.md, "Bridging: modern client, legacy server".
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client

from http_helpers import ACCEPT_BOTH, http_request

HERE = Path(__file__).resolve().parent.parent  # tests/python
MODERN = "2026-07-28"
EVERYTHING = HERE.parent / "node" / "node_modules" / ".bin" / "mcp-server-everything"

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not EVERYTHING.exists(),
                       reason="npm peers not installed (packaging/install-deps.sh --test)"),
]


def envelope(caps: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": caps if caps is not None else {},
            "io.modelcontextprotocol/clientInfo": {"name": "bridge-tests", "version": "0"}}


def post(url: str, method: str, params: dict[str, Any], msg_id: Any = 1,
         caps: dict[str, Any] | None = None, name: str | None = None):
    p = dict(params)
    p["_meta"] = {**envelope(caps), **p.get("_meta", {})}
    headers = {"Accept": ACCEPT_BOTH, "MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if name is not None:
        headers["Mcp-Name"] = name
    return http_request(url, "POST", {"jsonrpc": "2.0", "id": msg_id, "method": method,
                                      "params": p}, headers=headers, timeout=30)


def answer(r) -> dict[str, Any]:
    """The JSON-RPC answer of a response (JSON, or the last event of an SSE stream)."""
    if "text/event-stream" in (r.header("Content-Type") or ""):
        datas = [ln[5:].strip() for ln in r.body.decode().splitlines() if ln.startswith("data:")]
        return json.loads(datas[-1])
    return r.json()


SAMPLING = {"sampling": {}}


def sampling_call(url: str, msg_id: Any, **extra: Any):
    params = {"name": "trigger-sampling-request", "arguments": {"prompt": f"p{msg_id}"}, **extra}
    return post(url, "tools/call", params, msg_id, caps=SAMPLING, name="trigger-sampling-request")


@pytest.fixture(params=["stdio", "remote", "remote-sse"])
def bridged(request, listen_proxy, upstream_servers):
    """A proxy whose upstream is server-everything, over stdio, its own Streamable HTTP, or its
    legacy HTTP+SSE transport (2024-11-05)."""
    if request.param == "stdio":
        return listen_proxy("--admin", "127.0.0.1:0", "--", str(EVERYTHING))
    mode = "sse" if request.param == "remote-sse" else "streamableHttp"
    srv = upstream_servers.everything(mode, fresh=True)
    # --upstream-era auto (the default): a server/discover POST finds the remote legacy.
    return listen_proxy("--admin", "127.0.0.1:0", "--upstream", srv.url)


def admin_sessions(proxy) -> list[dict[str, Any]]:
    if not hasattr(proxy, "admin"):
        line = proxy.read_line(10).decode().strip()
        assert line.startswith("http://127.0.0.1:"), line
        proxy.admin = line
    r = http_request(proxy.admin, "GET", path="/sessions")
    assert r.status == 200, r
    body = r.json()
    return body["sessions"] if isinstance(body, dict) else body


async def _tour(url: str) -> dict[str, Any]:
    sampled: list[str] = []
    elicited: list[str] = []
    progress: list[float] = []

    async def on_sample(context, params):
        sampled.append(params.messages[0].content.text)
        return types.CreateMessageResult(role="assistant", model="bridge-test",
                                         content=types.TextContent(type="text", text="SAMPLED"))

    async def on_elicit(context, params):
        elicited.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append(p)

    out: dict[str, Any] = {}
    async with Client(url, mode=MODERN, sampling_callback=on_sample,
                      elicitation_callback=on_elicit) as c:
        out["version"] = c.protocol_version
        tools = {t.name for t in (await c.list_tools()).tools}
        out["tools"] = tools
        out["echo"] = (await c.call_tool("echo", {"message": "hi"})).content[0].text
        out["sum"] = (await c.call_tool("get-sum", {"a": 2, "b": 3})).content[0].text
        r = await c.call_tool("trigger-sampling-request", {"prompt": "hello"})
        out["sampling"] = r.content[0].text
        r = await c.call_tool("trigger-elicitation-request", {})
        out["elicitation"] = " ".join(x.text for x in r.content if x.type == "text")
        r = await c.call_tool("trigger-long-running-operation", {"duration": 0.4, "steps": 2},
                              progress_callback=on_progress)
        out["long"] = r.content[0].text
        resources = (await c.list_resources()).resources
        out["resource_uri"] = resources[0].uri
        read = await c.read_resource(resources[0].uri)
        out["read"] = read.contents[0].uri
        prompts = {p.name for p in (await c.list_prompts()).prompts}
        out["prompts"] = prompts
        got = await c.get_prompt("simple-prompt", {})
        out["prompt_text"] = got.messages[0].content.text
        done = await c.complete(types.PromptReference(type="ref/prompt", name="completable-prompt"),
                                {"name": "department", "value": "E"})
        out["completion"] = done.completion.values
    out["sampled"], out["elicited"], out["progress"] = sampled, elicited, progress
    return out


def test_a_pinned_client_uses_every_feature_of_a_legacy_server(bridged):
    out = anyio.run(_tour, bridged.url)
    assert out["version"] == MODERN
    # Tools the server registers only for a client that declared sampling/elicitation at
    # initialize: the bridge's initialize carried the client's _meta capabilities.
    assert {"echo", "trigger-sampling-request", "trigger-elicitation-request"} <= out["tools"]
    assert out["echo"] == "Echo: hi"
    assert "5" in out["sum"]
    assert out["sampled"] == ["Resource trigger-sampling-request context: hello"]
    assert "SAMPLED" in out["sampling"]
    assert len(out["elicited"]) == 1 and "Ada" in out["elicitation"]
    assert out["progress"] == [1, 2] and "completed" in out["long"].lower()
    assert out["read"] == out["resource_uri"]
    assert "simple-prompt" in out["prompts"] and out["prompt_text"]
    assert out["completion"] == ["Engineering"]


def test_discover_and_results_carry_what_the_2026_schema_requires(bridged):
    r = post(bridged.url, "server/discover", {}, 7)
    assert r.status == 200, r
    res = answer(r)["result"]
    assert res["supportedVersions"] == [MODERN] and res["resultType"] == "complete"
    assert res["ttlMs"] == 0 and res["cacheScope"] == "private"
    assert res["_meta"]["serverInfo"]["name"] and "tools" in res["capabilities"]
    assert "tasks" not in res["capabilities"]
    lst = answer(post(bridged.url, "tools/list", {}, 8))
    assert lst["id"] == 8
    assert lst["result"]["resultType"] == "complete"
    assert lst["result"]["ttlMs"] == 0 and lst["result"]["cacheScope"] == "private"
    assert all("execution" not in t for t in lst["result"]["tools"])
    call = answer(post(bridged.url, "tools/call", {"name": "echo", "arguments": {"message": "x"}},
                       9, name="echo"))
    assert call["result"]["resultType"] == "complete" and "ttlMs" not in call["result"]


def test_a_retry_completes_the_waiting_call_and_its_state_is_then_spent(bridged):
    first = answer(sampling_call(bridged.url, 1))["result"]
    assert first["resultType"] == "input_required"
    (key, ask), = first["inputRequests"].items()
    assert ask["method"] == "sampling/createMessage"
    state = first["requestState"]
    reply = {"role": "assistant", "model": "m", "content": {"type": "text", "text": "RAW"}}
    done = answer(sampling_call(bridged.url, 2, inputResponses={key: reply}, requestState=state))
    assert done["id"] == 2 and "RAW" in done["result"]["content"][0]["text"], done
    again = sampling_call(bridged.url, 3, inputResponses={key: reply}, requestState=state)
    assert again.status == 400
    err = answer(again)["error"]
    assert err["code"] == -32602 and "already used" in err["message"], err


def test_a_forged_or_foreign_request_state_gets_a_precise_error(bridged):
    post(bridged.url, "tools/list", {}, 1)  # the instance is bridged
    r = sampling_call(bridged.url, 2, inputResponses={}, requestState="forged")
    assert r.status == 400
    err = answer(r)["error"]
    assert err["code"] == -32602 and "not issued by this proxy" in err["message"], err
    looks_real = "mcpfwd-b1." + "0" * 32 + ".1"
    err = answer(sampling_call(bridged.url, 3, inputResponses={}, requestState=looks_real))["error"]
    assert err["code"] == -32602 and "not issued for this isolation key" in err["message"], err


def test_a_request_without_the_capability_is_refused_toward_the_server(bridged):
    # The instance is opened by a client declaring sampling (so the tool exists) ...
    assert answer(post(bridged.url, "tools/list", {}, 1, caps=SAMPLING))["result"]["tools"]
    # ... then a request that does not declare it: the server's request gets an error, and the
    # tool reports that failure as its result.
    r = post(bridged.url, "tools/call", {"name": "trigger-sampling-request",
                                         "arguments": {"prompt": "x"}}, 2, caps={},
             name="trigger-sampling-request")
    res = answer(r)
    assert "result" in res and res["result"].get("resultType", "complete") == "complete", res
    assert res["result"].get("isError") is True
    assert "does not support sampling" in json.dumps(res["result"]), res


def test_abandoned_round_trips_stay_bounded_and_the_instance_keeps_serving(bridged):
    states = []
    for i in range(80):
        res = answer(sampling_call(bridged.url, i))["result"]
        assert res["resultType"] == "input_required", res
        states.append(res["requestState"])
    bridge = next(s for s in admin_sessions(bridged) if s.get("kind") == "stateless")
    info = bridge["upstream"]["input_required"]
    assert info["limit"] == 64
    assert info["pending"] == 64 and info["given_up"] == 16, info
    assert 0 < info["bytes"] < 1 << 20
    # The oldest were given up (their server requests answered with an error, the calls
    # cancelled); their states say so.
    err = answer(sampling_call(bridged.url, 100, inputResponses={}, requestState=states[0]))
    assert "given up" in err["error"]["message"], err
    assert answer(post(bridged.url, "tools/call", {"name": "echo", "arguments": {"message": "ok"}},
                       101, name="echo"))["result"]["content"][0]["text"] == "Echo: ok"


async def _listen(url: str) -> tuple[list[str], Any]:
    async with Client(url, mode=MODERN) as c:
        uri = (await c.list_resources()).resources[0].uri
        seen: list[str] = []
        async with c.listen(resource_subscriptions=[uri], tools_list_changed=True) as sub:
            honored = sub.honored
            await c.call_tool("toggle-subscriber-updates", {})
            with anyio.fail_after(20):
                async for event in sub:
                    seen.append(str(getattr(event, "uri", event)))
                    break
        await c.call_tool("toggle-subscriber-updates", {})
        return seen, honored


def test_listen_maps_onto_resources_subscribe_and_updates_arrive(bridged):
    seen, honored = anyio.run(_listen, bridged.url)
    assert honored.resource_subscriptions and len(seen) == 1, (seen, honored)


def test_a_log_level_in_meta_sets_the_sessions_level_once(listen_proxy):
    proxy = listen_proxy("--log-level", "debug", "--", str(EVERYTHING))
    for i in range(2):
        r = post(proxy.url, "tools/call", {"name": "echo", "arguments": {"message": "x"},
                                           "_meta": {"io.modelcontextprotocol/logLevel": "error"}},
                 i, name="echo")
        assert answer(r)["result"]["content"][0]["text"] == "Echo: x"
    proxy.wait_stderr(r"bridge: logging/setLevel error", timeout=10)
    assert sum("logging/setLevel" in ln for ln in proxy.stderr_lines()) == 1


def test_closing_the_answer_stream_cancels_the_call_upstream(bridged):
    import socket
    from urllib.parse import urlsplit

    post(bridged.url, "tools/list", {}, 1)  # bridged
    u = urlsplit(bridged.url)
    body = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "trigger-long-running-operation", "arguments": {"duration": 30, "steps": 30},
        "_meta": {**envelope(), "progressToken": "t"}}}).encode()
    head = (f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
            f"Accept: {ACCEPT_BOTH}\r\nMCP-Protocol-Version: {MODERN}\r\n"
            "Mcp-Method: tools/call\r\nMcp-Name: trigger-long-running-operation\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(head + body)
        got = b""
        while b"notifications/progress" not in got:  # the call runs: its progress streams
            got += s.recv(4096)
    bridged.wait_stderr(r"the client of a request in flight went away: cancelling it", timeout=10)
    # The instance goes on serving.
    r = post(bridged.url, "tools/call", {"name": "echo", "arguments": {"message": "y"}}, 3,
             name="echo")
    assert answer(r)["result"]["content"][0]["text"] == "Echo: y"


def test_a_server_request_goes_to_the_one_call_that_can_ask_for_it(bridged):
    """A call that cannot ask (no sampling in its _meta) runs beside one that can: the server's
    sampling request is attributed to the latter."""
    import concurrent.futures

    post(bridged.url, "tools/list", {}, 1, caps=SAMPLING)  # bridged, sampling tool registered
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(post, bridged.url, "tools/call", {
            "name": "trigger-long-running-operation", "arguments": {"duration": 3, "steps": 3}},
            2, caps={}, name="trigger-long-running-operation")
        time.sleep(0.5)
        first = answer(sampling_call(bridged.url, 3))["result"]
        assert first["resultType"] == "input_required", first
        (key, _), = first["inputRequests"].items()
        reply = {"role": "assistant", "model": "m", "content": {"type": "text", "text": "BOTH"}}
        done = answer(sampling_call(bridged.url, 4, inputResponses={key: reply},
                                    requestState=first["requestState"]))
        assert "BOTH" in done["result"]["content"][0]["text"], done
        assert "completed" in answer(slow.result())["result"]["content"][0]["text"].lower()


def test_after_a_legacy_verdict_a_new_instance_is_bridged_without_a_probe(listen_proxy):
    proxy = listen_proxy("--stateless-key", "header:X-Tenant", "--", str(EVERYTHING))

    def tools_of(tenant: str) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": envelope()}}
        r = http_request(proxy.url, "POST", body, timeout=30, headers={
            "Accept": ACCEPT_BOTH, "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list",
            "X-Tenant": tenant})
        return answer(r)

    assert tools_of("a")["result"]["resultType"] == "complete"
    assert tools_of("b")["result"]["resultType"] == "complete"
    deadline = time.monotonic() + 10
    while sum("bridging modern clients" in ln for ln in proxy.stderr_lines()) < 2 \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = proxy.stderr_lines()
    assert sum("bridging modern clients" in ln for ln in lines) == 2, lines
    assert sum("serves only the session era" in ln for ln in lines) == 1, lines
