"""End to end through ``mcpfwd --stdio`` with the official MCP Python SDK as the host.

Each session is run twice, once straight against the server and once with
mcpfwd in between, and every result (``model_dump()``, nothing removed) must
be equal: the proxy is invisible to a real client.

The client is SDK 2.x's ``ClientSession`` with its ``initialize`` handshake:
the session era (what ``Client(mode="legacy")`` does).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any, Awaitable, Callable

import anyio
import pytest
from conftest import assert_no_sanitizer_report, everything_long_running
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

pytestmark = pytest.mark.timeout(60)

STATS_PREFIX = "mcpfwd: info: session stats: "

Script = Callable[[ClientSession, dict[str, Any]], Awaitable[None]]


class Recorder:
    """Collects the server's notifications seen by the client callbacks."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []

    async def on_log(self, params: Any) -> None:
        self.logs.append(params.model_dump())


def run_session(command: list[str], script: Script) -> tuple[dict[str, Any], str]:
    """Run ``script`` in one SDK stdio session with ``command``; return (results, stderr)."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:

        async def main() -> None:
            # the whole environment: the SDK passes only a few variables by default, and
            # the sanitizer options (conftest's log_path) must reach the command
            params = StdioServerParameters(command=command[0], args=command[1:],
                                           env=dict(os.environ))
            rec = Recorder()
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write, logging_callback=rec.on_log,
                                         read_timeout_seconds=20) as session:
                    results["initialize"] = (await session.initialize()).model_dump()
                    await script(session, results)
            results["logging_notifications"] = rec.logs

        anyio.run(main)
        errlog.seek(0)
        stderr = errlog.read()
        assert_no_sanitizer_report(stderr, command[0])
        return results, stderr


def proxied(mcpfwd_bin: str, upstream: list[str]) -> list[str]:
    return [mcpfwd_bin, "--stdio", "--", *upstream]


def assert_same(direct: dict[str, Any], via: dict[str, Any]) -> None:
    assert list(via) == list(direct)
    for key in direct:
        assert via[key] == direct[key], f"{key}: result differs through mcpfwd"


def check_stats(stderr: str) -> dict[str, Any]:
    lines = [ln for ln in stderr.splitlines() if ln.startswith(STATS_PREFIX)]
    assert len(lines) == 1, f"expected one session stats line in mcpfwd stderr:\n{stderr[-3000:]}"
    stats = json.loads(lines[0][len(STATS_PREFIX):])
    assert stats["client_to_server"]["messages"] > 0
    assert stats["server_to_client"]["messages"] > 0
    assert all(v == 0 for v in stats["error_counts"].values()), stats
    assert stats["in_flight"] == 0, stats
    return stats


def assert_stdout_clean_stderr(stderr: str) -> None:
    """mcpfwd's stderr carries only its own log lines and prefixed server lines."""
    for ln in stderr.splitlines():
        assert ln.startswith(("mcpfwd: ", "server: ")), f"unprefixed stderr line: {ln!r}"


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
    # an error result travels unchanged too
    r["unknown tool"] = (await s.call_tool("no_such_tool", {})).model_dump()


def test_fastmcp_direct_session_works(fastmcp_server_cmd):
    """The direct half on its own: the server and the script agree (no mcpfwd needed)."""
    direct, _ = run_session(fastmcp_server_cmd, fastmcp_script)
    assert direct["echo"]["content"][0]["text"] == "hello, wörld ✓ 🎉"
    assert direct["add"]["structured_content"] == {"result": 42.5}
    assert direct["logging_notifications"] == [
        {"meta": None, "level": "info", "logger": "fastmcp_server", "data": "a log line from the tool"}
    ]
    assert direct["read beta"]["contents"][0]["text"].startswith("The second note")
    assert direct["unknown tool"]["is_error"] is True


def test_fastmcp_same_results_through_mcpfwd(mcpfwd_bin, fastmcp_server_cmd):
    direct, _ = run_session(fastmcp_server_cmd, fastmcp_script)
    via, stderr = run_session(proxied(mcpfwd_bin, fastmcp_server_cmd), fastmcp_script)
    assert_same(direct, via)
    assert via["logging_notifications"], "the logging notification did not reach the client"
    check_stats(stderr)
    assert_stdout_clean_stderr(stderr)


def test_server_crash_mid_call_is_an_error_for_the_sdk(mcpfwd_bin, fastmcp_server_cmd):
    """exit_now(3) kills the server mid-call: the SDK gets a -32000 error, it does not hang."""
    caught: list[MCPError] = []

    async def script(s: ClientSession, r: dict[str, Any]) -> None:
        r["echo"] = (await s.call_tool("echo", {"text": "before"})).model_dump()
        with pytest.raises(MCPError) as info:
            await s.call_tool("exit_now", {"code": 3}, read_timeout_seconds=15)
        caught.append(info.value)

    _, stderr = run_session(proxied(mcpfwd_bin, fastmcp_server_cmd), script)
    err = caught[0].error
    assert err.code == -32000
    assert "status 3" in err.message, err.message
    assert "mcpfwd: info: session stats: " in stderr


# --------------------------------------------------------------------------
# @modelcontextprotocol/server-everything (the reference server, in Node)


async def everything_script(s: ClientSession, r: dict[str, Any]) -> None:
    tools = await s.list_tools()
    r["tools/list"] = tools.model_dump()
    names = {t.name for t in tools.tools}
    assert {"echo", "get-sum", "get-tiny-image", "trigger-long-running-operation"} <= names, names
    r["echo"] = (await s.call_tool("echo", {"message": "hi from the test ✓"})).model_dump()
    r["get-sum"] = (await s.call_tool("get-sum", {"a": 2, "b": 3})).model_dump()
    r["get-tiny-image"] = (await s.call_tool("get-tiny-image", {})).model_dump()

    r["long-running"], progress = await everything_long_running(s)
    r["progress_notifications"] = progress
    assert len(progress) == 2, progress

    resources = await s.list_resources()
    r["resources/list"] = resources.model_dump()
    r["resources/templates/list"] = (await s.list_resource_templates()).model_dump()
    r["read first"] = (await s.read_resource(resources.resources[0].uri)).model_dump()
    r["prompts/list"] = (await s.list_prompts()).model_dump()
    r["args-prompt"] = (await s.get_prompt("args-prompt", {"city": "Paris", "state": "IDF"})).model_dump()
    r["ping"] = (await s.send_ping()).model_dump()


def test_everything_direct_session_works(everything_cmd):
    direct, _ = run_session(everything_cmd, everything_script)
    assert "hi from the test ✓" in direct["echo"]["content"][0]["text"]
    assert "5" in direct["get-sum"]["content"][0]["text"]


def test_everything_same_results_through_mcpfwd(mcpfwd_bin, everything_cmd):
    direct, _ = run_session(everything_cmd, everything_script)
    via, stderr = run_session(proxied(mcpfwd_bin, everything_cmd), everything_script)
    assert_same(direct, via)
    check_stats(stderr)
    assert_stdout_clean_stderr(stderr)
    # server-everything announces itself on stderr: it must come through prefixed
    assert any(ln.startswith("server: ") for ln in stderr.splitlines()), stderr[-2000:]


if __name__ == "__main__":  # pragma: no cover - manual use
    sys.exit(pytest.main([__file__, "-v"]))
