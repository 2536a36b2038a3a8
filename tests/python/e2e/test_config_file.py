"""The config file (``mcpfwd --config FILE``, docs/configuration.md): named servers served at
/servers/NAME/mcp (and their legacy SSE pair) to the MCP Python SDK's real clients, the
desktop hosts' ``mcpServers`` shape served as is, bad files refused before anything starts,
and SIGHUP reloads (new sessions see the new file, open ones keep theirs, a broken file
keeps the running configuration)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, ClientSession
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError
from prometheus_client.parser import text_string_to_metric_families

from http_helpers import http_request

pytestmark = pytest.mark.timeout(120)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
FASTMCP = [sys.executable, str(REPO / "tests" / "servers" / "fastmcp_server.py")]
EVERYTHING_JS = (REPO / "tests" / "node" / "node_modules" / "@modelcontextprotocol"
                 / "server-everything" / "dist" / "index.js")
EVERYTHING = ["node", str(EVERYTHING_JS)]
ACCEPT = {"Accept": "application/json, text/event-stream"}


def write(path: Path, cfg: Any) -> Path:
    path.write_text(cfg if isinstance(cfg, str) else json.dumps(cfg, indent=2))
    return path


def entry(argv: list[str], **extra: Any) -> dict[str, Any]:
    return {"command": argv[0], "args": argv[1:], **extra}


def base(url: str) -> str:
    assert url.endswith("/mcp"), url
    return url[: -len("/mcp")]


def admin_of(proxy) -> str:
    line = proxy.read_line(10).decode().strip()
    assert line.startswith("http://127.0.0.1:"), line
    return line


def sessions(admin: str) -> list[dict[str, Any]]:
    r = http_request(admin, "GET", path="/sessions")
    assert r.status == 200, r
    return json.loads(r.body)


def reloads(admin: str) -> dict[str, float]:
    r = http_request(admin, "GET", path="/metrics")
    assert r.status == 200, r
    out = {}
    for fam in text_string_to_metric_families(r.body.decode()):
        for s in fam.samples:
            if s.name == "mcpfwd_config_reloads_total":
                out[s.labels["outcome"]] = s.value
    return out


async def echo_round(url: str, mode: str, text: str) -> str:
    """One session with tests/servers/fastmcp_server.py behind url: its echo tool."""
    async with Client(url, mode=mode) as c:
        r = await c.call_tool("echo", {"text": text})
        return r.content[0].text


async def tool_names(url: str, mode: str = "legacy") -> set[str]:
    async with Client(url, mode=mode) as c:
        return {t.name for t in (await c.list_tools()).tools}


def mcp_errors(exc: BaseException) -> list[str]:
    """The MCPError messages inside exc (the SDK wraps them in exception groups)."""
    if isinstance(exc, MCPError):
        return [str(exc)]
    if isinstance(exc, BaseExceptionGroup):
        return [m for e in exc.exceptions for m in mcp_errors(e)]
    return []


async def refusal_of(url: str) -> str:
    """The error a session-era client gets when it tries to open a session at url."""
    try:
        async with Client(url, mode="legacy") as c:
            await c.list_tools()
    except BaseException as e:  # noqa: BLE001 - an exception group of the SDK's tasks
        found = mcp_errors(e)
        assert found, repr(e)
        return found[0]
    raise AssertionError(f"a session opened at {url}")


def init_status(url: str) -> int:
    """The HTTP status of a bare initialize POST at url."""
    r = http_request(url, "POST", {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                   "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                              "clientInfo": {"name": "t", "version": "1"}}},
                     headers=ACCEPT)
    return r.status


@pytest.fixture
def everything() -> list[str]:
    if not EVERYTHING_JS.exists():
        pytest.fail(f"{EVERYTHING_JS} is missing: run packaging/install-deps.sh (npm ci in "
                    "tests/node)")
    return EVERYTHING


# ------------------------------------------------------------------ named servers


def test_two_named_servers_with_real_clients(listen_proxy, tmp_path, everything):
    cfg = write(tmp_path / "mcpfwd.json", {
        "admin": "127.0.0.1:0",
        "servers": {"A": entry(FASTMCP),
                    "B": entry(everything, **{"max-sessions": 1})},
    })
    proxy = listen_proxy("--config", str(cfg))
    admin = admin_of(proxy)
    root = base(proxy.url)

    # Streamable HTTP, session era and auto, on each server.
    assert anyio.run(echo_round, f"{root}/servers/A/mcp", "legacy", "hi A") == "hi A"
    assert anyio.run(echo_round, f"{root}/servers/A/mcp", "auto", "auto A") == "auto A"
    names_b = anyio.run(tool_names, f"{root}/servers/B/mcp", "auto")
    assert {"echo", "get-env"} <= names_b, names_b  # server-everything's, not fastmcp's
    # The auto client was bridged (2026-07-28) onto B, a session-era server: its stateless
    # instance counts against B's limit of 1, so it is closed before the limit is checked.
    inst = [s for s in sessions(admin) if s["server"] == "B" and s["kind"] == "stateless"]
    assert len(inst) == 1, inst
    assert http_request(admin, "DELETE", path=f"/sessions/{inst[0]['id']}").status == 200
    deadline = time.monotonic() + 10
    while any(s["server"] == "B" for s in sessions(admin)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "add" in anyio.run(tool_names, f"{root}/servers/A/mcp")

    # The legacy HTTP+SSE pair of server A: its endpoint event names A's messages path.
    async def legacy_sse() -> tuple[str, list[dict[str, Any]]]:
        async with sse_client(f"{root}/servers/A/sse") as (read, write_):
            async with ClientSession(read, write_, read_timeout_seconds=20) as s:
                await s.initialize()
                listed = sessions(admin)
                r = await s.call_tool("echo", {"text": "over sse"})
                return r.content[0].text, listed

    text, listed = anyio.run(legacy_sse)
    assert text == "over sse"
    sse = [s for s in listed if s["kind"] == "legacy_sse"]
    assert len(sse) == 1 and sse[0]["server"] == "A", listed

    # Each server's sessions are listed with its name; a session is reached at its own
    # server's path only; B's own limit (1) holds.
    async def limits() -> None:
        async with Client(f"{root}/servers/B/mcp", mode="legacy") as b:
            listed = sessions(admin)
            mine = [s for s in listed if s["server"] == "B" and s["state"] == "ready"]
            assert len(mine) == 1, listed
            sid = mine[0]["id"]
            wrong = http_request(f"{root}/servers/A/mcp", "POST",
                                 {"jsonrpc": "2.0", "id": 9, "method": "ping"},
                                 headers={**ACCEPT, "Mcp-Session-Id": sid,
                                          "MCP-Protocol-Version": "2025-06-18"})
            assert wrong.status == 404, wrong
            assert "limit of 1" in await refusal_of(f"{root}/servers/B/mcp")
            # A is not limited by B's limit.
            async with Client(f"{root}/servers/A/mcp", mode="legacy") as a:
                assert (await a.call_tool("echo", {"text": "x"})).content[0].text == "x"
            assert (await b.call_tool("echo", {"message": "b"})).content[0].text == "Echo: b"

    anyio.run(limits)
    # No default upstream here, and no server named C.
    assert init_status(f"{root}/mcp") == 404
    assert init_status(f"{root}/servers/C/mcp") == 404
    assert "server A" in proxy.stderr_text()


def test_default_upstream_and_named_server_side_by_side(listen_proxy, tmp_path):
    cfg = write(tmp_path / "mcpfwd.json", {"servers": {"named": entry(FASTMCP)}})
    # The command line's server is the default upstream, at /mcp.
    proxy = listen_proxy("--config", str(cfg), "--", *FASTMCP)
    root = base(proxy.url)
    assert anyio.run(echo_round, proxy.url, "legacy", "default") == "default"
    assert anyio.run(echo_round, f"{root}/servers/named/mcp", "legacy", "named") == "named"


def test_mcp_servers_shape_of_a_desktop_host_is_served_as_is(listen_proxy, tmp_path, everything):
    # What Claude Desktop's claude_desktop_config.json (and Cursor's mcp.json) hold.
    # Keys a host keeps for itself (here Claude Desktop's and Cline's) are ignored, and said.
    host_cfg = write(tmp_path / "claude_desktop_config.json", {
        "globalShortcut": "Ctrl+Space",
        "mcpServers": {
            "fast": {"command": FASTMCP[0], "args": FASTMCP[1:], "autoApprove": [],
                     "timeout": 60},
            "everything": {"command": "node", "args": everything[1:],
                           "env": {"FROM_CONFIG": "everything-only"}},
        }
    })
    proxy = listen_proxy("--config", str(host_cfg))
    root = base(proxy.url)
    assert anyio.run(echo_round, f"{root}/servers/fast/mcp", "legacy", "as is") == "as is"
    assert "get-env" in anyio.run(tool_names, f"{root}/servers/everything/mcp")

    async def env_seen() -> str:
        async with Client(f"{root}/servers/everything/mcp", mode="legacy") as c:
            r = await c.call_tool("get-env", {})
            return r.content[0].text

    assert "everything-only" in anyio.run(env_seen)  # the entry's env reached its server


# ------------------------------------------------------------------ bad files


BAD_FILES = [
    ("syntax", '{\n  "listen": "127.0.0.1:0",\n  "servers": {"A": {"command": "x"}\n  "oops": 1\n}\n',
     r"bad\.json: line 4, column 3: "),
    ("unknown key", {"servers": {"A": {"command": "x", "max-sesions": 3}}},
     r"bad\.json: servers\.A\.max-sesions: unknown key"),
    ("bad value", {"max-sessions": 0, "servers": {"A": {"command": "x"}}},
     r"bad\.json: max-sessions: --max-sessions must be at least 1"),
    ("bad server value", {"servers": {"A": {"command": "x", "request-timeout-ms": "soon"}}},
     r"bad\.json: servers\.A\.request-timeout-ms: --request-timeout-ms needs a number, got 'soon'"),
    ("missing command", {"mcpServers": {"A": {"args": ["server.py"]}}},
     r"bad\.json: mcpServers\.A: needs a command \(a server to spawn\) or a url"),
]


@pytest.mark.parametrize("content,message", [(c, m) for _, c, m in BAD_FILES],
                         ids=[n for n, _, _ in BAD_FILES])
def test_a_bad_file_is_refused_before_anything_starts(mcpfwd_bin, tmp_path, content, message):
    import re

    cfg = write(tmp_path / "bad.json", content)
    r = subprocess.run([mcpfwd_bin, "--listen", "127.0.0.1:0", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert re.search(message, r.stderr), r.stderr
    assert r.stderr.startswith("mcpfwd: error: "), r.stderr
    assert r.stdout == ""  # no URL: nothing listened
    assert "listening" not in r.stderr


def test_a_missing_file_is_refused(mcpfwd_bin, tmp_path):
    r = subprocess.run([mcpfwd_bin, "--listen", "127.0.0.1:0", "--config",
                        str(tmp_path / "nope.json")], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "cannot read config file" in r.stderr and "nope.json" in r.stderr
    assert r.stdout == ""


# ------------------------------------------------------------------ SIGHUP


def test_sighup_reloads_new_sessions_see_it_open_ones_keep_theirs(listen_proxy, tmp_path,
                                                                   everything):
    path = tmp_path / "mcpfwd.json"
    write(path, {"admin": "127.0.0.1:0",
                 "servers": {"A": entry(FASTMCP),
                             "B": entry(everything, **{"max-sessions": 1})}})
    proxy = listen_proxy("--config", str(path))
    admin = admin_of(proxy)
    root = base(proxy.url)

    async def second_on_b() -> str:
        """With one session open on B: a second one's echo, or its refusal."""
        async with Client(f"{root}/servers/B/mcp", mode="legacy") as b1:
            assert (await b1.call_tool("echo", {"message": "1"})).content[0].text == "Echo: 1"
            try:
                async with Client(f"{root}/servers/B/mcp", mode="legacy") as b2:
                    return (await b2.call_tool("echo", {"message": "2"})).content[0].text
            except BaseException as e:  # noqa: BLE001 - the SDK's exception group
                assert mcp_errors(e), repr(e)
                return mcp_errors(e)[0]

    assert "limit of 1" in anyio.run(second_on_b)  # before the reload: B takes one

    async def scenario() -> None:
        # A session on A, opened before the reload, stays open across it.
        async with Client(f"{root}/servers/A/mcp", mode="legacy") as a:
            assert (await a.call_tool("echo", {"text": "before"})).content[0].text == "before"
            # A removed, C added, B's limit changed.
            write(path, {"admin": "127.0.0.1:0",
                         "servers": {"B": entry(everything, **{"max-sessions": 2}),
                                     "C": entry(FASTMCP)}})
            proxy.proc.send_signal(signal.SIGHUP)
            await anyio.to_thread.run_sync(
                lambda: proxy.wait_stderr(r"reloaded .*mcpfwd\.json: 2 server\(s\) \(B, C\)"))
            # New sessions see the new file.
            assert init_status(f"{root}/servers/A/mcp") == 404
            assert await echo_round(f"{root}/servers/C/mcp", "legacy", "new C") == "new C"
            assert await second_on_b() == "Echo: 2"
            # The open session on the removed server goes on until it ends.
            assert (await a.call_tool("echo", {"text": "after"})).content[0].text == "after"
            assert any(s["server"] == "A" for s in sessions(admin))
        assert proxy.proc.poll() is None

    anyio.run(scenario)
    assert reloads(admin) == {"ok": 1.0, "error": 0.0}

    # A broken file: the running configuration stays, and the log says why.
    write(path, '{"servers": {"C": {"command": "x"}},,}')
    proxy.proc.send_signal(signal.SIGHUP)
    line = proxy.wait_stderr(r"reload failed, keeping the running configuration: ")
    assert "mcpfwd.json: line 1, column" in line, line
    assert anyio.run(echo_round, f"{root}/servers/C/mcp", "legacy", "still C") == "still C"
    assert init_status(f"{root}/servers/A/mcp") == 404
    assert reloads(admin) == {"ok": 1.0, "error": 1.0}
    # A bad value is refused on reload with the option's own message.
    write(path, {"servers": {"C": entry(FASTMCP, **{"max-sessions": -3})}})
    proxy.proc.send_signal(signal.SIGHUP)
    line = proxy.wait_stderr(r"reload failed.*servers\.C\.max-sessions")
    assert "--max-sessions needs a number, got '-3'" in line, line
    assert reloads(admin) == {"ok": 1.0, "error": 2.0}


def test_reloads_while_clients_open_sessions(listen_proxy, tmp_path):
    """SIGHUP after SIGHUP while clients keep opening sessions on the servers being swapped:
    every session of a server present in both files works (run under TSan by test.sh)."""
    import threading
    import time

    path = tmp_path / "mcpfwd.json"

    def config(i: int) -> dict[str, Any]:
        return {"servers": {"A": entry(FASTMCP, **{"request-timeout-ms": 20000 + i}),
                            f"extra{i % 3}": entry(FASTMCP)}}

    write(path, config(0))
    proxy = listen_proxy("--config", str(path))
    root = base(proxy.url)
    errors: list[str] = []
    done = threading.Event()

    def client(n: int) -> None:
        k = 0
        while not done.is_set():
            k += 1
            try:
                text = anyio.run(echo_round, f"{root}/servers/A/mcp", "legacy", f"{n}-{k}")
                if text != f"{n}-{k}":
                    errors.append(text)
            except BaseException as e:  # noqa: BLE001 - collected, asserted below
                errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for i in range(1, 11):
        write(path, config(i))
        proxy.proc.send_signal(signal.SIGHUP)
        # The i-th reload's line (earlier ones may name the same servers).
        wait_until_count = time.monotonic() + 20
        while proxy.stderr_text().count("reloaded ") < i:
            assert time.monotonic() < wait_until_count, proxy.stderr_tail()
            time.sleep(0.02)
        # Sessions open between one reload and the next.
        while proxy.stderr_text().count("opened on server A") < i + 2:
            assert time.monotonic() < wait_until_count + 30, proxy.stderr_tail()
            time.sleep(0.02)
    done.set()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert proxy.stderr_text().count("reloaded ") == 10
    assert proxy.stderr_text().count("opened on server A") >= 12  # sessions ran meanwhile


def test_named_remote_servers_each_with_its_own_pool(listen_proxy, tmp_path, upstream_servers):
    """Named servers given by url (the mcpServers shape's remote entries): one Streamable HTTP,
    one legacy SSE (``"type": "sse"``), each reached through its own connection pool, with its
    own headers."""
    http_srv = upstream_servers.fastmcp("streamable-http")
    sse_srv = upstream_servers.fastmcp("sse")
    cfg = write(tmp_path / "remote.json", {"admin": "127.0.0.1:0", "mcpServers": {
        "web": {"url": http_srv.url, "type": "http", "headers": {"X-From": "mcpfwd"}},
        "old": {"url": sse_srv.url, "type": "sse", "upstream-timeout-ms": 20000},
    }})
    proxy = listen_proxy("--config", str(cfg))
    admin = admin_of(proxy)
    root = base(proxy.url)
    assert anyio.run(echo_round, f"{root}/servers/web/mcp", "legacy", "remote") == "remote"
    assert anyio.run(echo_round, f"{root}/servers/old/mcp", "legacy", "via sse") == "via sse"
    assert anyio.run(echo_round, f"{root}/servers/web/mcp", "auto", "auto") == "auto"

    async def upstream_headers(url: str) -> dict[str, str]:
        async with Client(url, mode="legacy") as c:
            r = await c.call_tool("request_info", {})
            return {k.lower(): v for k, v in json.loads(r.content[0].text)["headers"]}

    assert anyio.run(upstream_headers, f"{root}/servers/web/mcp").get("x-from") == "mcpfwd"
    assert "x-from" not in anyio.run(upstream_headers, f"{root}/servers/old/mcp")

    # Each server's pool shows in /metrics under its origin.
    r = http_request(admin, "GET", path="/metrics")
    created = {s.labels["origin"]: s.value
               for fam in text_string_to_metric_families(r.body.decode()) for s in fam.samples
               if s.name == "mcpfwd_upstream_pool_connections_created_total"}
    for srv in (http_srv, sse_srv):
        origin = srv.url.split("/")[2]
        assert created.get(f"http://{origin}", 0) >= 1, (origin, created)
