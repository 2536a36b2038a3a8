"""The config file from Python: ``mcpfwd.Proxy(config=...)``, ``Proxy.reload()`` and
``SessionInfo.server`` (docs/configuration.md), driven in this process with the MCP Python
SDK's client."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterator

import anyio
import pytest
from mcp import Client
from test_binding import (  # noqa: F401  (no_leaks: an autouse fixture, used by being here)
    LogRecorder,
    no_leaks,
)

import mcpfwd

pytestmark = [pytest.mark.timeout(60), pytest.mark.inprocess]

REPO_ROOT = Path(__file__).resolve().parents[3]
FASTMCP_CMD = [sys.executable, str(REPO_ROOT / "tests" / "servers" / "fastmcp_server.py")]


@pytest.fixture
def config_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "mcpfwd.json"
    path.write_text(json.dumps({"max-sessions": 5, "servers": {
        "one": {"command": FASTMCP_CMD[0], "args": FASTMCP_CMD[1:]}}}))
    yield path


def test_named_server_reload_and_session_server(config_file: Path) -> None:
    with mcpfwd.Proxy(upstream=FASTMCP_CMD, listen=("127.0.0.1", 0), config=config_file,
                      on_log=LogRecorder()) as p:
        root = p.url[: -len("/mcp")]

        async def round_trip(url: str, check) -> str:  # type: ignore[no-untyped-def]
            async with Client(url, mode="legacy") as c:
                check()
                return (await c.call_tool("echo", {"text": "hi"})).content[0].text

        def one_named() -> None:
            servers = [s.server for s in p.sessions()]
            assert servers == ["one"], servers

        def one_default() -> None:
            servers = [s.server for s in p.sessions()]
            assert servers == [None], servers

        assert anyio.run(round_trip, f"{root}/servers/one/mcp", one_named) == "hi"
        assert anyio.run(round_trip, p.url, one_default) == "hi"

        config_file.write_text(json.dumps({"servers": {
            "two": {"command": FASTMCP_CMD[0], "args": FASTMCP_CMD[1:]}}}))
        p.reload()
        assert anyio.run(round_trip, f"{root}/servers/two/mcp", lambda: None) == "hi"

        config_file.write_text('{"servers": ')
        with pytest.raises(mcpfwd.InvalidArgumentError, match=r"mcpfwd\.json: line 1"):
            p.reload()
        assert anyio.run(round_trip, f"{root}/servers/two/mcp", lambda: None) == "hi"


def test_reload_without_a_config_file_is_a_state_error() -> None:
    with mcpfwd.Proxy(upstream=FASTMCP_CMD, listen=("127.0.0.1", 0), on_log=LogRecorder()) as p:
        with pytest.raises(mcpfwd.StateError, match="no config file"):
            p.reload()


def test_a_bad_config_file_refuses_the_proxy(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"servers": {"x": {"args": []}}}))
    with pytest.raises(mcpfwd.InvalidArgumentError, match=r"servers\.x: needs a command"):
        mcpfwd.Proxy(upstream=FASTMCP_CMD, listen=("127.0.0.1", 0), config=bad)


def test_named_servers_only_from_python(tmp_path: Path) -> None:
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps({"mcpServers": {
        "fast": {"command": FASTMCP_CMD[0], "args": FASTMCP_CMD[1:]}}}))
    with mcpfwd.Proxy(listen=("127.0.0.1", 0), config=path, on_log=LogRecorder()) as p:
        assert p.upstream == []
        root = p.url[: -len("/mcp")]

        async def echo() -> str:
            async with Client(f"{root}/servers/fast/mcp", mode="legacy") as c:
                return (await c.call_tool("echo", {"text": "only named"})).content[0].text

        assert anyio.run(echo) == "only named"
    with pytest.raises(mcpfwd.InvalidArgumentError, match="no upstream configured"):
        mcpfwd.Proxy(listen=("127.0.0.1", 0))
