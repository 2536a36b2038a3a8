"""``mcpfwd --listen`` with the official MCP Python SDK as the HTTP client.

Each script runs twice: once straight against the stdio server (SDK stdio
client) and once through mcpfwd's Streamable HTTP endpoint (SDK Streamable
HTTP client).  Every result (``model_dump()``, nothing removed) must be
equal, and the notifications seen by the client callbacks too: to a real
client, the proxy is invisible.

The scripts run on SDK 2.x's ``ClientSession`` with its ``initialize``
handshake: the session era (what ``Client(mode="legacy")`` does), the one
mcpfwd serves.  ``Client`` with its default ``mode="auto"`` is exercised once:
its ``server/discover`` probe is refused by mcpfwd, and it falls back to the
same handshake.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, Awaitable, Callable

import anyio
import mcp.types as types
import pytest
from conftest import SERVERS_DIR, everything_long_running
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from pydantic import AnyUrl
from upstream_helpers import http_streams

pytestmark = pytest.mark.timeout(60)

SAMPLING_SERVER = SERVERS_DIR / "fastmcp_sampling_server.py"

Script = Callable[[ClientSession, dict[str, Any]], Awaitable[None]]


class Recorder:
    """Callbacks of one client session, recording what they saw."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []
        self.sampling: list[dict[str, Any]] = []
        self.elicitation: list[dict[str, Any]] = []
        self.roots_asked = 0

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params.model_dump())

    async def on_sampling(self, context: Any, params: types.CreateMessageRequestParams
                          ) -> types.CreateMessageResult:
        self.sampling.append(params.model_dump())
        first = params.messages[0].content
        text = first.text if isinstance(first, types.TextContent) else "?"
        return types.CreateMessageResult(role="assistant", model="fake-model-1",
                                         content=types.TextContent(type="text",
                                                                   text=f"echoed <{text}>"),
                                         stop_reason="endTurn")

    async def on_elicitation(self, context: Any, params: types.ElicitRequestParams
                             ) -> types.ElicitResult:
        self.elicitation.append(params.model_dump())
        return types.ElicitResult(action="accept", content={"name": "Ada Lovelace ✓"})

    async def on_roots(self, context: Any) -> types.ListRootsResult:
        self.roots_asked += 1
        return types.ListRootsResult(roots=[types.Root(uri=AnyUrl("file:///tmp/root-a"), name="a"),
                                            types.Root(uri=AnyUrl("file:///tmp/root-b"))])

    def session_kwargs(self, asking: bool) -> dict[str, Any]:
        kw: dict[str, Any] = dict(logging_callback=self.on_log,
                                  read_timeout_seconds=20)
        if asking:  # advertise sampling, elicitation and roots
            kw.update(sampling_callback=self.on_sampling, elicitation_callback=self.on_elicitation,
                      list_roots_callback=self.on_roots)
        return kw

    def dump(self) -> dict[str, Any]:
        return {"logging_notifications": self.logs, "sampling_requests": self.sampling,
                "elicitation_requests": self.elicitation, "roots_asked": self.roots_asked}


async def _drive(read: Any, write: Any, script: Script, results: dict[str, Any]) -> None:
    rec = Recorder()
    asking = script is asking_script
    async with ClientSession(read, write, **rec.session_kwargs(asking)) as session:
        results["initialize"] = (await session.initialize()).model_dump()
        await script(session, results)
    results.update(rec.dump())


def run_stdio(command: list[str], script: Script) -> dict[str, Any]:
    """``script`` in one SDK stdio session straight against ``command``."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:

        async def main() -> None:
            # the whole environment: the SDK passes only a few variables by default, and
            # the sanitizer options (conftest's log_path) must reach the command
            params = StdioServerParameters(command=command[0], args=command[1:],
                                           env=dict(os.environ))
            async with stdio_client(params, errlog=errlog) as (read, write):
                await _drive(read, write, script, results)

        anyio.run(main)
    return results


def run_http(url: str, script: Script) -> tuple[dict[str, Any], str | None]:
    """``script`` in one SDK Streamable HTTP session; return (results, session id)."""
    results: dict[str, Any] = {}
    sid: list[str | None] = []

    async def main() -> None:
        async with http_streams(url) as (read, write, get_sid):
            await _drive(read, write, script, results)
            sid.append(get_sid())

    anyio.run(main)
    return results, sid[0]


def assert_same(direct: dict[str, Any], via: dict[str, Any]) -> None:
    assert list(via) == list(direct)
    for key in direct:
        assert via[key] == direct[key], f"{key}: result differs through mcpfwd --listen"


def assert_session_ended(proxy) -> None:
    """The SDK DELETEs its session on exit: the session's server must be gone."""
    proxy.wait_children(0, timeout=10)


# --------------------------------------------------------------------------
# the MCPServer test server (tests/servers/fastmcp_server.py)


async def fastmcp_script(s: ClientSession, r: dict[str, Any]) -> None:
    r["tools/list"] = (await s.list_tools()).model_dump()
    r["echo"] = (await s.call_tool("echo", {"text": "hello, wörld ✓ 🎉"})).model_dump()
    r["add"] = (await s.call_tool("add", {"a": 2, "b": 40.5})).model_dump()

    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total, message))

    r["progress"] = (await s.call_tool("progress", {"steps": 4},
                                       progress_callback=on_progress)).model_dump()
    r["progress_notifications"] = progress
    assert progress == [(float(i), 4.0, f"step {i} of 4") for i in range(1, 5)]

    r["log"] = (await s.call_tool("log", {"message": "a log line from the tool"})).model_dump()
    r["ping"] = (await s.send_ping()).model_dump()
    r["resources/list"] = (await s.list_resources()).model_dump()
    r["resources/templates/list"] = (await s.list_resource_templates()).model_dump()
    r["read index"] = (await s.read_resource("notes://index")).model_dump()
    r["read beta"] = (await s.read_resource("notes://beta")).model_dump()
    r["prompts/list"] = (await s.list_prompts()).model_dump()
    r["prompts/get"] = (await s.get_prompt("summarize", {"topic": "the MCP spec"})).model_dump()
    r["unknown tool"] = (await s.call_tool("no_such_tool", {})).model_dump()
    r["stderr_spam"] = (await s.call_tool("stderr_spam", {"lines": 2000})).model_dump()
    big = "x" * 300_000 + "✓"
    r["big echo"] = (await s.call_tool("echo", {"text": big})).model_dump()
    assert r["big echo"]["content"][0]["text"] == big


def test_fastmcp_direct_session_works(fastmcp_server_cmd):
    """The direct half on its own (no mcpfwd needed)."""
    direct = run_stdio(fastmcp_server_cmd, fastmcp_script)
    assert direct["echo"]["content"][0]["text"] == "hello, wörld ✓ 🎉"
    assert direct["add"]["structured_content"] == {"result": 42.5}
    assert direct["logging_notifications"] == [
        {"meta": None, "level": "info", "logger": "fastmcp_server", "data": "a log line from the tool"}
    ]
    assert direct["unknown tool"]["is_error"] is True


@pytest.mark.timeout(60)
def test_fastmcp_same_results_through_http(http_proxy, fastmcp_server_cmd):
    direct = run_stdio(fastmcp_server_cmd, fastmcp_script)
    proxy = http_proxy(fastmcp_server_cmd)
    via, sid = run_http(proxy.url, fastmcp_script)
    assert sid is not None and len(sid) == 32
    assert_same(direct, via)
    assert via["logging_notifications"], "the logging notification did not reach the client"
    assert_session_ended(proxy)
    # the server's stderr came through prefixed, not on stdout
    assert "server: stderr_spam line 1999 of 2000" in proxy.stderr_text()


@pytest.mark.timeout(60)
def test_two_sdk_sessions_one_after_the_other(http_proxy, fastmcp_server_cmd):
    proxy = http_proxy(fastmcp_server_cmd)

    async def script(s: ClientSession, r: dict[str, Any]) -> None:
        r["echo"] = (await s.call_tool("echo", {"text": "again"})).model_dump()

    a, sid_a = run_http(proxy.url, script)
    b, sid_b = run_http(proxy.url, script)
    assert a == b and sid_a != sid_b
    assert_session_ended(proxy)


@pytest.mark.timeout(60)
def test_client_entry_point_with_its_defaults(http_proxy, fastmcp_server_cmd):
    """The entry point the SDK documents, ``Client(url)``, as a user types it.

    Its default ``mode="auto"`` first probes ``server/discover`` (the 2026-07-28 era);
    mcpfwd serves that era (the SDK 2.x server behind it does too), so the client stays in
    it: no session, the request served by the shared stateless instance.
    """
    from mcp import Client

    proxy = http_proxy(fastmcp_server_cmd)
    out: dict[str, Any] = {}

    async def main() -> None:
        async with Client(proxy.url, read_timeout_seconds=20) as client:
            out["version"] = client.protocol_version
            out["server"] = client.server_info.name if client.server_info else None
            out["add"] = (await client.call_tool("add", {"a": 1, "b": 2})).structured_content

    anyio.run(main)
    assert out["version"] == "2026-07-28", out
    assert out["server"] == "mcpfwd-test-server"
    assert out["add"] == {"result": 3.0}


@pytest.mark.timeout(60)
def test_server_crash_mid_call_is_an_error_for_the_sdk(http_proxy, fastmcp_server_cmd):
    proxy = http_proxy(fastmcp_server_cmd)
    caught: list[MCPError] = []

    async def script(s: ClientSession, r: dict[str, Any]) -> None:
        r["echo"] = (await s.call_tool("echo", {"text": "before"})).model_dump()
        with pytest.raises(MCPError) as info:
            await s.call_tool("exit_now", {"code": 3}, read_timeout_seconds=15)
        caught.append(info.value)

    results: dict[str, Any] = {}

    async def main() -> None:
        # the session is gone after the crash: its DELETE at exit gets 404, which the SDK ignores
        async with streamable_http_client(proxy.url) as (read, write):
            await _drive(read, write, script, results)

    anyio.run(main)
    err = caught[0].error
    assert err.code == -32000, err
    assert "status 3" in err.message, err.message
    proxy.wait_children(0, timeout=10)


# --------------------------------------------------------------------------
# server->client requests: sampling, elicitation, roots


async def asking_script(s: ClientSession, r: dict[str, Any]) -> None:
    r["sample"] = (await s.call_tool("sample", {"prompt": "say hi ✓"})).model_dump()
    assert r["sample"]["content"][0]["text"] == "fake-model-1: echoed <say hi ✓>", r["sample"]
    r["ask_name"] = (await s.call_tool("ask_name", {})).model_dump()
    assert r["ask_name"]["content"][0]["text"] == "accept: Ada Lovelace ✓", r["ask_name"]
    r["roots"] = (await s.call_tool("roots", {})).model_dump()
    assert r["roots"]["content"][0]["text"] == "file:///tmp/root-a\nfile:///tmp/root-b", r["roots"]
    r["echo"] = (await s.call_tool("echo", {"text": "after asking"})).model_dump()
    # twice more, so request-id mapping across several server->client requests is exercised
    r["sample 2"] = (await s.call_tool("sample", {"prompt": "second"})).model_dump()
    r["sample 3"] = (await s.call_tool("sample", {"prompt": "third"})).model_dump()


def test_sampling_server_direct_session_works():
    direct = run_stdio([sys.executable, str(SAMPLING_SERVER)], asking_script)
    assert len(direct["sampling_requests"]) == 3
    assert direct["elicitation_requests"][0]["message"] == "What is your name?"
    assert direct["roots_asked"] == 1


@pytest.mark.timeout(60)
def test_sampling_elicitation_roots_through_http(http_proxy):
    cmd = [sys.executable, str(SAMPLING_SERVER)]
    direct = run_stdio(cmd, asking_script)
    proxy = http_proxy(cmd)
    via, _ = run_http(proxy.url, asking_script)
    assert_same(direct, via)
    assert_session_ended(proxy)


# --------------------------------------------------------------------------
# @modelcontextprotocol/server-everything (the reference server, in Node)


async def everything_script(s: ClientSession, r: dict[str, Any]) -> None:
    tools = await s.list_tools()
    r["tools/list"] = tools.model_dump()
    names = {t.name for t in tools.tools}
    assert {"echo", "get-sum"} <= names, names
    r["echo"] = (await s.call_tool("echo", {"message": "hi from the test ✓"})).model_dump()
    r["get-sum"] = (await s.call_tool("get-sum", {"a": 2, "b": 3})).model_dump()
    if "trigger-long-running-operation" in names:
        r["long-running"], progress = await everything_long_running(s)
        r["progress_notifications"] = progress
        assert len(progress) == 2, progress
    r["prompts/list"] = (await s.list_prompts()).model_dump()
    r["ping"] = (await s.send_ping()).model_dump()


def test_everything_direct_session_works(everything_cmd):
    direct = run_stdio(everything_cmd, everything_script)
    assert "hi from the test ✓" in direct["echo"]["content"][0]["text"]


@pytest.mark.timeout(60)
def test_everything_same_results_through_http(http_proxy, everything_cmd):
    direct = run_stdio(everything_cmd, everything_script)
    proxy = http_proxy(everything_cmd)
    via, _ = run_http(proxy.url, everything_script)
    assert_same(direct, via)
    assert_session_ended(proxy)


# --------------------------------------------------------------------------
# the bearer token, as an SDK client would send it


@pytest.mark.timeout(60)
def test_sdk_with_bearer_token(http_proxy, fastmcp_server_cmd):
    import os

    import httpx2
    from mcp.shared._httpx_utils import create_mcp_http_client

    env = dict(os.environ, MCPFWD_SDK_TOKEN="tok-123-abc")
    proxy = http_proxy(fastmcp_server_cmd, "--auth-token-env", "MCPFWD_SDK_TOKEN", env=env)
    out: dict[str, Any] = {}

    async def main() -> None:
        client = create_mcp_http_client(headers={"Authorization": "Bearer tok-123-abc"})
        async with client:
            async with streamable_http_client(proxy.url, http_client=client) as (read, write):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    out["echo"] = (await s.call_tool("echo", {"text": "authed"})).content[0].text

    anyio.run(main)
    assert out["echo"] == "authed"

    async def bad() -> None:
        client = create_mcp_http_client(headers={"Authorization": "Bearer wrong"})
        async with client:
            async with streamable_http_client(proxy.url, http_client=client) as (read, write):
                async with ClientSession(read, write) as s:
                    with anyio.fail_after(15):
                        await s.initialize()

    with pytest.raises(BaseException) as info:
        anyio.run(bad)
    text = repr(info.value)
    assert "401" in text or isinstance(info.value, (httpx2.HTTPStatusError, MCPError, ExceptionGroup)), text
    assert_session_ended(proxy)
