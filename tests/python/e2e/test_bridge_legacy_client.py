"""A session-era client in front of a server that serves only the stateless era (2026-07-28),
through mcpfwd's bridge (docs/eras.md, "Bridging: legacy client, modern server").

The server is tests/servers/modern_only_server.py (``mcp`` 2.3.0, MCPServer), which refuses
``initialize`` with -32022 naming 2026-07-28, over stdio (spawned by mcpfwd) and over its own
Streamable HTTP (``--upstream URL``). The client is the same SDK's session-era
``ClientSession`` (what ``Client(mode="legacy")`` drives), with sampling, elicitation and roots
callbacks that answer the server's ``input_required`` results through the bridge.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError
from pydantic import AnyUrl
from upstream_helpers import http_streams

pytestmark = [pytest.mark.timeout(90),
              pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")]

HERE = Path(__file__).resolve().parent.parent  # tests/python
SERVER = [sys.executable, "-W", "ignore", str(HERE.parent / "servers" / "modern_only_server.py")]
NODE_DIR = HERE.parent / "node"


class Recorder:
    """The client's callbacks, recording what the bridge asked."""

    def __init__(self) -> None:
        self.sampling: list[str] = []
        self.elicitation: list[str] = []
        self.roots_asked = 0
        self.logs: list[tuple[str, Any]] = []
        self.notes: list[str] = []

    async def on_sampling(self, ctx: Any, params: types.CreateMessageRequestParams
                          ) -> types.CreateMessageResult:
        first = params.messages[0].content
        self.sampling.append(first.text if isinstance(first, types.TextContent) else "?")
        return types.CreateMessageResult(role="assistant", model="fake", stop_reason="endTurn",
                                         content=types.TextContent(type="text", text="Paris"))

    async def on_elicitation(self, ctx: Any, params: Any) -> types.ElicitResult:
        self.elicitation.append(params.message)
        answer = {"Colour?": {"color": "blue"}}.get(params.message, {"name": "Ada ✓"})
        return types.ElicitResult(action="accept", content=answer)

    async def on_roots(self, ctx: Any) -> types.ListRootsResult:
        self.roots_asked += 1
        return types.ListRootsResult(roots=[types.Root(uri=AnyUrl("file:///tmp/root-a"))])

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append((params.level, params.data))

    async def on_message(self, msg: Any) -> None:
        method = getattr(msg, "method", None)
        if isinstance(method, str) and method.endswith(("list_changed", "updated")):
            self.notes.append(method)


@asynccontextmanager
async def legacy_session(target: list[str] | str, rec: Recorder, asking: bool = True,
                         errlog: Any = None):
    """A session-era ClientSession on a command (stdio) or a URL (Streamable HTTP)."""
    kw: dict[str, Any] = dict(logging_callback=rec.on_log, message_handler=rec.on_message,
                              read_timeout_seconds=20)
    if asking:
        kw.update(sampling_callback=rec.on_sampling, elicitation_callback=rec.on_elicitation,
                  list_roots_callback=rec.on_roots)
    if isinstance(target, str) and target.endswith("/sse"):  # legacy HTTP+SSE (2024-11-05)
        from mcp.client.sse import sse_client

        async with sse_client(target) as (read, write):
            async with ClientSession(read, write, **kw) as s:
                yield s
    elif isinstance(target, str):
        async with http_streams(target) as (read, write, _):
            async with ClientSession(read, write, **kw) as s:
                yield s
    else:
        params = StdioServerParameters(command=target[0], args=target[1:], env=dict(os.environ))
        with open(os.devnull, "w") as devnull:
            async with stdio_client(params, errlog=errlog or devnull) as (read, write):
                async with ClientSession(read, write, **kw) as s:
                    yield s


def text_of(result: types.CallToolResult) -> str:
    assert not result.is_error, result
    return result.content[0].text


async def full_round(target: list[str] | str) -> dict[str, Any]:
    rec = Recorder()
    out: dict[str, Any] = {}
    async with legacy_session(target, rec) as s:
        init = await s.initialize()
        out["version"] = init.protocol_version
        out["server"] = init.server_info.name
        out["instructions"] = init.instructions
        out["tools_list_changed"] = init.capabilities.tools.list_changed
        await s.send_ping()
        out["tools"] = sorted(t.name for t in (await s.list_tools()).tools)
        out["echo"] = text_of(await s.call_tool("echo", {"text": "hi ✓"}))
        out["ask_llm"] = text_of(await s.call_tool("ask_llm", {"question": "Capital of France?"}))
        out["ask_name"] = text_of(await s.call_tool("ask_name", {}))
        out["two_rounds"] = text_of(await s.call_tool("two_rounds", {}))
        out["roots"] = text_of(await s.call_tool("list_roots", {}))
        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            progress.append((p, total, message))

        out["progress"] = text_of(await s.call_tool("progress", {"steps": 3},
                                                    progress_callback=on_progress))
        out["progress_notes"] = progress
        await s.call_tool("chatty", {})
        out["logs_default"] = list(rec.logs)
        rec.logs.clear()
        await s.set_logging_level("warning")
        await s.call_tool("chatty", {})
        out["logs_warning"] = list(rec.logs)
        await s.subscribe_resource("test://counter")
        await s.call_tool("touch", {})
        await s.call_tool("add_tool", {"name": "late_tool"})
        with anyio.fail_after(10):
            while not {"notifications/resources/updated",
                       "notifications/tools/list_changed"} <= set(rec.notes):
                await anyio.sleep(0.05)
        out["notes"] = sorted(set(rec.notes))
        out["read"] = (await s.read_resource("test://counter")).contents[0].text
        out["prompt"] = (await s.get_prompt("greet", {"name": "Bo"})).messages[0].content.text
        ref = types.PromptReference(type="ref/prompt", name="greet")
        out["complete"] = (await s.complete(ref, {"name": "name", "value": "al"})).completion.values
    out["sampling"] = rec.sampling
    out["elicitation"] = rec.elicitation
    out["roots_asked"] = rec.roots_asked
    return out


def check_full_round(out: dict[str, Any]) -> None:
    assert out["version"] == "2025-11-25"  # the client's own handshake version, negotiated
    assert out["server"] == "modern-only-test-server"
    assert out["instructions"] == "A server of the stateless era only."
    assert out["tools_list_changed"] is True
    assert {"echo", "ask_llm", "ask_name", "two_rounds", "touch"} <= set(out["tools"])
    assert out["echo"] == "hi ✓"
    # sampling through input_required: the requestState came back byte for byte (the SDK
    # seals it; a changed byte would be refused)
    assert out["ask_llm"] == "LLM said: Paris (state asked-llm)"
    assert out["sampling"] == ["Capital of France?"]
    assert out["ask_name"] == "Hello, Ada ✓!"
    assert out["two_rounds"] == "Ada ✓ likes blue"
    assert out["elicitation"] == ["Your name?", "Name?", "Colour?"]
    assert out["roots"] == "roots: file:///tmp/root-a" and out["roots_asked"] == 1
    assert out["progress"] == "done 3"
    assert out["progress_notes"] == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"),
                                     (3.0, 3.0, "step 3")]
    # before logging/setLevel: every level, as a session-era server sends; after: its level
    assert out["logs_default"] == [("debug", "a debug line"), ("warning", "a warning line")]
    assert out["logs_warning"] == [("warning", "a warning line")]
    assert out["notes"] == ["notifications/resources/updated", "notifications/tools/list_changed"]
    assert out["read"] == "version 2"
    assert out["prompt"] == "Say hello to Bo."
    assert out["complete"] == ["alice", "albert"]


@pytest.fixture
def modern_http_server():
    """The modern-only server on its own Streamable HTTP endpoint (one per test: its
    resource counts the test's touches): its URL."""
    proc = subprocess.Popen([*SERVER, "--http"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:  # uvicorn waits for open listen streams
            proc.kill()
            proc.wait(5)
        proc.stdout.close()


# ------------------------------------------------------------------ the server refuses initialize


def test_the_server_alone_refuses_a_session_era_client():
    """Without mcpfwd the legacy client fails: what the bridge is for."""
    async def main() -> None:
        async with legacy_session(SERVER, Recorder()) as s:
            with pytest.raises(MCPError) as e:
                await s.initialize()
            assert e.value.error.code == -32022
    anyio.run(main)


def test_upstream_era_legacy_never_bridges(mcpfwd_bin):
    """--upstream-era legacy: the server's refusal reaches the client as it is."""
    async def main() -> None:
        async with legacy_session([mcpfwd_bin, "--stdio", "--upstream-era", "legacy", "--",
                                   *SERVER], Recorder()) as s:
            with pytest.raises(MCPError) as e:
                await s.initialize()
            assert e.value.error.code == -32022
    anyio.run(main)


# ------------------------------------------------------------------ stdio upstreams


@pytest.mark.parametrize("era", ["auto", "modern"])
def test_stdio_client_stdio_server(mcpfwd_bin, era):
    out = anyio.run(full_round, [mcpfwd_bin, "--stdio", "--upstream-era", era, "--", *SERVER])
    check_full_round(out)


def test_http_client_stdio_server(http_proxy):
    proxy = http_proxy(SERVER)
    check_full_round(anyio.run(full_round, proxy.url))
    assert "bridging" in proxy.stderr_text()


def test_legacy_sse_client_stdio_server(http_proxy):
    """The 2024-11-05 HTTP+SSE transport: every message on the session's one event stream."""
    proxy = http_proxy(SERVER)
    check_full_round(anyio.run(full_round, proxy.url.removesuffix("/mcp") + "/sse"))


# ------------------------------------------------------------------ remote upstreams


@pytest.mark.parametrize("era", ["auto", "modern"])
def test_stdio_client_remote_server(mcpfwd_bin, modern_http_server, era):
    out = anyio.run(full_round, [mcpfwd_bin, "--stdio", "--upstream", modern_http_server,
                                 "--upstream-era", era])
    check_full_round(out)


@pytest.mark.parametrize("era", ["auto", "modern"])
def test_http_client_remote_server(listen_proxy, modern_http_server, era):
    proxy = listen_proxy("--upstream", modern_http_server, "--upstream-era", era)
    check_full_round(anyio.run(full_round, proxy.url))


# ------------------------------------------------------------------ what cannot be bridged


def test_input_the_client_cannot_give_is_a_missing_capability_error(mcpfwd_bin):
    """A client that declared no sampling gets -32021 for a tool that needs it; the
    session goes on."""
    async def main() -> None:
        async with legacy_session([mcpfwd_bin, "--stdio", "--", *SERVER], Recorder(),
                                  asking=False) as s:
            await s.initialize()
            with pytest.raises(MCPError) as e:
                await s.call_tool("ask_llm", {"question": "?"})
            assert e.value.error.code == -32021
            assert "sampling/createMessage" in e.value.error.message
            assert text_of(await s.call_tool("echo", {"text": "still here"})) == "still here"
    anyio.run(main)


def test_a_cancelled_call_is_cancelled_on_the_server(mcpfwd_bin, tmp_path):
    """The client's notifications/cancelled names its own id; the server gets the id mcpfwd
    used for the call, stops it, and the session goes on."""
    errlog_path = tmp_path / "stderr"

    async def main() -> None:
        with open(errlog_path, "w") as errlog:
            async with legacy_session([mcpfwd_bin, "--stdio", "--", *SERVER], Recorder(),
                                      errlog=errlog) as s:
                await s.initialize()
                with anyio.move_on_after(1.0):
                    await s.call_tool("sleep", {"seconds": 30})
                with anyio.fail_after(10):
                    while "cancelled after a sleep of 30" not in errlog_path.read_text():
                        await anyio.sleep(0.05)
                assert text_of(await s.call_tool("echo", {"text": "after"})) == "after"
    anyio.run(main)


def test_a_modern_client_is_passed_through_untouched(mcpfwd_bin):
    """A 2026-07-28 client's first request is not initialize: no bridge."""
    from mcp import Client

    async def main() -> str:
        params = StdioServerParameters(command=mcpfwd_bin,
                                       args=["--stdio", "--", *SERVER], env=dict(os.environ))
        async with Client(params, mode="2026-07-28") as c:
            r = await c.call_tool("echo", {"text": "modern"})
            return r.content[0].text
    assert anyio.run(main) == "modern"


# ------------------------------------------------------------------ the TypeScript SDK 1.x client


def _node_round(url: str) -> dict[str, Any]:
    import json
    import shutil

    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.skip("node or tests/node/node_modules (packaging/install-deps.sh) missing")
    r = subprocess.run([node, "bridge_legacy_client.mjs", url], cwd=NODE_DIR,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_node_round(out: dict[str, Any]) -> None:
    assert out["version"]["name"] == "modern-only-test-server"
    assert out["capabilities"]["tools"] == {"listChanged": True}
    assert out["echo"] == "ts"
    assert out["ask_llm"] == "LLM said: Paris (state asked-llm)" and out["sampling"] == ["Capital?"]
    assert out["ask_name"] == "Hello, Tess!"
    assert out["two_rounds"] == "Tess likes red"
    assert out["elicitation"] == ["Your name?", "Name?", "Colour?"]
    assert out["roots"] == "roots: file:///tmp/ts-root" and out["roots_asked"] == 1
    assert out["progress"] == "done 2" and out["progress_notes"] == [[1, 2], [2, 2]]
    assert out["logs"] == [["warning", "a warning line"]]  # after setLoggingLevel("warning")
    assert out["notes"] == ["tools changed", "updated test://counter"]
    assert out["read"] == "version 2"
    assert out["prompt"] == "Say hello to Ts."
    assert out["complete"] == ["bob"]


def test_typescript_sdk_client_stdio_server(http_proxy):
    proxy = http_proxy(SERVER)
    check_node_round(_node_round(proxy.url))


def test_typescript_sdk_client_remote_server(listen_proxy, modern_http_server):
    proxy = listen_proxy("--upstream", modern_http_server, "--upstream-era", "modern")
    check_node_round(_node_round(proxy.url))
