"""The pytest plugin shipped in the mcpfwd package (mcpfwd.pytest_plugin, entry point
``pytest11: mcpfwd``): its ``mcpfwd_proxy`` fixture, exercised by inner pytest runs
(pytester, in a subprocess, so the plugin is loaded through its entry point exactly as in a
user's project).

The inner tests drive tests/servers/fastmcp_server.py through the fixture's proxy with the MCP
SDK's ``Client`` (Streamable HTTP) and assert on what crossed the proxy; one of them is the example
of docs/python.md, as written there.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.timeout(180), pytest.mark.inprocess]

REPO_ROOT = Path(__file__).resolve().parents[3]
FASTMCP_SERVER = REPO_ROOT / "tests" / "servers" / "fastmcp_server.py"
PYTHON_DOC = REPO_ROOT / "docs" / "python.md"
INNER_TIMEOUT = 150  # seconds for one inner pytest run

# Warnings are errors in the inner runs too: the plugin must be clean.
INNER_INI = """
[pytest]
addopts = -ra --strict-markers -p no:cacheprovider
filterwarnings = error
"""

INNER_SDK_TEST = f'''
import json
import sys
import urllib.request

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

import mcpfwd
from mcpfwd.pytest_plugin import RecordingProxy

SERVER = [sys.executable, {str(FASTMCP_SERVER)!r}]


async def use_server(url, text):
    """A session-era SDK client (the initialize handshake); returns the session id the
    proxy gave it (read off the initialize's answer, as the SDK's transport reads it)."""
    sid = []

    async def on_response(response):
        given = response.headers.get("mcp-session-id")
        if given and "mcp-session-id" not in response.request.headers:
            sid.append(given)

    async with create_mcp_http_client() as http:
        http.event_hooks["response"].append(on_response)
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode="legacy", read_timeout_seconds=30) as client:
            result = await client.call_tool("echo", {{"text": text}})
            assert result.content[0].text == text
    return sid[0]


def raw_initialize(url):
    body = json.dumps({{
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {{"protocolVersion": "2025-06-18", "capabilities": {{}},
                   "clientInfo": {{"name": "raw", "version": "0"}}}},
    }}).encode()
    request = urllib.request.Request(url, data=body, headers={{
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
    }})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response.headers["Mcp-Session-Id"]


@pytest.mark.timeout(90)
def test_what_crossed_the_proxy(mcpfwd_proxy):
    rec = mcpfwd_proxy(upstream=SERVER, shutdown_grace=1)
    assert isinstance(rec, RecordingProxy) and isinstance(rec.proxy, mcpfwd.Proxy)
    assert rec.url.startswith("http://127.0.0.1:") and rec.url.endswith("/mcp")
    assert rec.sessions() == []

    sid = anyio.run(use_server, rec.url, "through the plugin ✓")
    assert rec.wait_for_event(mcpfwd.EventKind.OPENED).session_id == sid
    closed = rec.wait_for_event(mcpfwd.EventKind.CLOSED, session_id=sid)
    assert closed.detail == "session deleted by the client"
    assert [e.kind for e in rec.events] == [
        mcpfwd.EventKind.OPENED, mcpfwd.EventKind.READY, mcpfwd.EventKind.CLOSED]

    assert all(isinstance(m, mcpfwd.Message) and m.session_id == sid for m in rec.messages)
    sent = rec.methods()
    assert sent[:2] == ["initialize", "notifications/initialized"]
    assert "tools/call" in sent
    call = next(m.json() for m in rec.messages
                if m.direction is mcpfwd.Direction.CLIENT_TO_SERVER
                and m.json().get("method") == "tools/call")
    assert call["params"]["arguments"] == {{"text": "through the plugin ✓"}}
    answer = next(m.json() for m in rec.messages
                  if m.direction is mcpfwd.Direction.SERVER_TO_CLIENT
                  and m.json().get("id") == call["id"])
    assert answer["result"]["content"][0]["text"] == "through the plugin ✓"
    assert rec.methods(mcpfwd.Direction.SERVER_TO_CLIENT) == []  # only answers came back
    print("INNER-OK", len(rec.messages), "messages")


@pytest.mark.timeout(90)
def test_user_callbacks_are_chained_and_sessions_stay_open(mcpfwd_proxy):
    refused = []

    def on_event(event):
        if event.kind is mcpfwd.EventKind.OPENED and not refused:
            refused.append(event.session_id)
            return False  # the first session is refused
        return None

    rec = mcpfwd_proxy(upstream=SERVER, on_event=on_event, max_sessions=5)
    with pytest.raises(Exception):
        anyio.run(use_server, rec.url, "refused")
    closed = rec.wait_for_event(mcpfwd.EventKind.CLOSED, session_id=refused[0])
    assert closed.detail == "session refused by the event callback"

    # A session still open at teardown: the fixture closes the proxy, then checks that its
    # upstream server is gone.
    sid = raw_initialize(rec.url)
    infos = rec.sessions()
    assert [s.id for s in infos] == [sid]
    assert sid in rec.status_text()
    print("OPEN-PID", infos[0].upstream_pid)
'''

INNER_LEAK_TEST = '''
import os
import sys

import pytest

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.mark.timeout(60)
def test_leaves_an_upstream_like_process_running(mcpfwd_proxy):
    rec = mcpfwd_proxy(upstream=SLEEPER)
    # What a proxy leaking a session's server would leave behind: a child of this process
    # running the upstream command after the proxy has closed.
    pid = os.posix_spawn(SLEEPER[0], SLEEPER, dict(os.environ))
    print("LEAKED-PID", pid)
'''


def test_entry_point_is_registered() -> None:
    found = [ep for ep in metadata.entry_points(group="pytest11") if ep.name == "mcpfwd"]
    assert [ep.value for ep in found] == ["mcpfwd.pytest_plugin"]


def test_fixture_records_an_sdk_session(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_inner_sdk=INNER_SDK_TEST)
    result = pytester.runpytest_subprocess("-s", timeout=INNER_TIMEOUT)
    output = result.stdout.str()
    result.assert_outcomes(passed=2)
    assert "INNER-OK" in output, output
    assert "PytestUnraisableExceptionWarning" not in output, output
    # The session left open was closed with the proxy: its server is gone (the fixture checked).
    assert re.search(r"OPEN-PID \d+", output), output


def documented_example() -> str:
    """The pytest example of docs/python.md (the code block defining test_echo_goes_through)."""
    blocks = re.findall(r"^```python\n(.*?)^```", PYTHON_DOC.read_text(encoding="utf-8"),
                        re.MULTILINE | re.DOTALL)
    found = [b for b in blocks if "def test_echo_goes_through(mcpfwd_proxy)" in b]
    assert len(found) == 1, f"{PYTHON_DOC}: {len(found)} blocks define test_echo_goes_through"
    return found[0]


def test_documented_example_works(pytester: pytest.Pytester) -> None:
    """The example as a user copies it: its server.py is the test server (it has ``echo``).

    Its ``Client(rec.url)`` has the SDK's default ``mode="auto"``: it offers the 2026-07-28
    era (``server/discover``), which mcpfwd serves, so that offer is the first method the
    example finds recorded and no session is opened."""
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_doc_example=documented_example())
    (pytester.path / "server.py").write_text(FASTMCP_SERVER.read_text(encoding="utf-8"),
                                             encoding="utf-8")
    result = pytester.runpytest_subprocess(timeout=INNER_TIMEOUT)
    result.assert_outcomes(passed=1)


def test_fixture_fails_a_test_that_leaves_an_upstream_running(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_inner_leak=INNER_LEAK_TEST)
    result = pytester.runpytest_subprocess("-s", timeout=INNER_TIMEOUT)
    output = result.stdout.str()
    result.assert_outcomes(passed=1, errors=1)  # the test body passed, its teardown failed
    match = re.search(r"LEAKED-PID (\d+)", output)
    assert match, output
    pid = match.group(1)
    assert re.search(
        rf"mcpfwd_proxy: upstream process {pid} \({re.escape(sys.executable)} -c .*\) of the "
        r"mcpfwd proxy at http://127\.0\.0\.1:\d+/mcp was left running after the proxy "
        r"closed; killed",
        output,
    ), output
