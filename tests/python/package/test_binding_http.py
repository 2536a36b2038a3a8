"""The mcpfwd Python package in Streamable HTTP mode: ``mcpfwd.Proxy(listen=...)``, driven in
this process.

Clients are the official MCP Python SDK (``streamable_http_client`` + ``ClientSession`` on
anyio) or the raw HTTP helpers of http_helpers.py; upstreams are real server processes, children
of this process. Like test_binding.py, every test has a timeout and the autouse ``no_leaks``
fixture (imported from there) fails a test that leaves a child process or a descriptor behind.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import pickle
import re
import socket
import subprocess
import sys
import threading
import time
from contextlib import AsyncExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import anyio
import pytest
from http_helpers import McpHttp, http_request
from mcp import ClientSession
from mcp.shared.exceptions import MCPError
from test_binding import (  # noqa: F401  (no_leaks: an autouse fixture, used by being here)
    INLINE_CMD,
    LogRecorder,
    children,
    no_leaks,
    open_fds,
    process_gone,
    proxies,
    wait_until,
)
from upstream_helpers import http_streams

import mcpfwd

pytestmark = [pytest.mark.timeout(60), pytest.mark.inprocess]

REPO_ROOT = Path(__file__).resolve().parents[3]
FASTMCP_CMD = [sys.executable, str(REPO_ROOT / "tests" / "servers" / "fastmcp_server.py")]
RAW_CMD = [sys.executable, str(REPO_ROOT / "tests" / "servers" / "raw_server.py")]
EXAMPLE = REPO_ROOT / "docs" / "examples" / "python" / "http_proxy.py"
LOCAL = ("127.0.0.1", 0)
URL_RX = re.compile(r"^http://127\.0\.0\.1:(\d+)/mcp$")
SDK_TIMEOUT = 20.0


@pytest.fixture
def make_proxy() -> Iterator[Callable[..., mcpfwd.Proxy]]:
    """mcpfwd.Proxy(**kwargs), closed at teardown (see test_binding.proxies)."""
    yield from proxies()


def quiet() -> LogRecorder:
    """An on_log that keeps the proxy's lines out of the test output (and lets tests read
    them)."""
    return LogRecorder()


# --------------------------------------------------------------------------- the SDK


def test_three_sdk_clients_sessions_and_close_session() -> None:
    """Three SDK clients, three sessions with their own server; sessions() and session()
    describe them; close_session() ends one (its client's next call fails, its server is
    gone) and leaves the others working; the with-block leaves nothing behind."""
    kids_before = children()
    fds_before = open_fds()
    log = quiet()
    checked: dict[str, Any] = {}

    async def scenario(proxy: mcpfwd.Proxy) -> None:
        async with AsyncExitStack() as stack:
            clients: list[tuple[ClientSession, str]] = []
            for i in range(3):
                read, write, get_sid = await stack.enter_async_context(
                    http_streams(proxy.url)
                )
                session = await stack.enter_async_context(
                    ClientSession(read, write, read_timeout_seconds=SDK_TIMEOUT)
                )
                init = await session.initialize()
                assert init.server_info.name == "mcpfwd-test-server"
                result = await session.call_tool("echo", {"text": f"client {i} ✓"})
                assert not result.is_error
                assert result.content[0].text == f"client {i} ✓"  # type: ignore[union-attr]
                sid = get_sid()
                assert sid is not None
                clients.append((session, sid))

            infos = proxy.sessions()
            assert all(isinstance(s, mcpfwd.SessionInfo) for s in infos)
            assert len(infos) == 3
            assert {s.id for s in infos} == {sid for _, sid in clients}
            pids = [s.upstream_pid for s in infos]
            assert len(set(pids)) == 3, pids
            assert set(pids) <= children() - kids_before  # our children, one per session
            now = datetime.now(timezone.utc)
            for s in infos:
                assert s.state == "ready"
                assert s.upstream_kind == "stdio"
                assert s.upstream_exit is None
                # initialize, notifications/initialized, tools/call (the SDK may add more)
                assert s.messages_in >= 3 and s.bytes_in > 0
                assert s.messages_out >= 2 and s.bytes_out > 0
                assert s.in_flight == 0 and s.errors == 0 and s.dropped == 0
                assert s.created.tzinfo is timezone.utc
                assert now - timedelta(minutes=2) < s.created <= s.last_activity
                assert s.last_activity <= now + timedelta(seconds=1)
                assert s.raw["id"] == s.id and s.raw["upstream"]["pid"] == s.upstream_pid
            stats = proxy.stats()
            assert {k: stats[k] for k in ("mode", "url", "sessions")} == {
                "mode": "http", "url": proxy.url, "sessions": 3}
            assert stats["connections"]["open"] >= 0 and stats["connections"]["refused"] == 0

            for s in infos:
                one = proxy.session(s.id)
                assert one.id == s.id and one.upstream_pid == s.upstream_pid
                assert one.created == s.created and one.state == s.state
                assert (one.messages_in, one.bytes_in) == (s.messages_in, s.bytes_in)
                assert (one.messages_out, one.bytes_out) == (s.messages_out, s.bytes_out)

            with pytest.raises(KeyError):
                proxy.session("0" * 32)
            with pytest.raises(KeyError):
                proxy.close_session("0" * 32)

            victim, victim_sid = clients[0]
            victim_pid = proxy.session(victim_sid).upstream_pid
            proxy.close_session(victim_sid)
            with pytest.raises(MCPError):
                await victim.call_tool("echo", {"text": "after close_session"})
            assert wait_until(lambda: process_gone(victim_pid)), "its server outlived the session"
            with pytest.raises(KeyError):
                proxy.session(victim_sid)
            with pytest.raises(KeyError):
                proxy.close_session(victim_sid)
            assert {s.id for s in proxy.sessions()} == {sid for _, sid in clients[1:]}

            for i, (session, _) in enumerate(clients[1:], start=1):
                result = await session.call_tool("add", {"a": i, "b": 0.5})
                assert not result.is_error
            checked["pids"] = pids

    with mcpfwd.Proxy(upstream=FASTMCP_CMD, listen=LOCAL, on_log=log) as proxy:
        assert URL_RX.match(proxy.url), proxy.url
        anyio.run(scenario, proxy)
        # The SDK DELETEs its session when it leaves: the servers go.
        assert wait_until(lambda: proxy.sessions() == [])
    assert proxy.closed
    assert all(process_gone(pid) for pid in checked["pids"])
    assert children() <= kids_before
    assert wait_until(lambda: len(open_fds()) <= len(fds_before), timeout=5)
    assert any("session" in text and "opened" in text for text in log.texts("mcpfwd"))


def test_example_http_proxy_runs() -> None:
    """docs/examples/python/http_proxy.py, as documented in docs/python.md."""
    out = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=REPO_ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^proxy listening on http://127\.0\.0\.1:\d+/mcp$", out.stdout, re.M), out
    assert re.search(r"^2 sessions:", out.stdout, re.M), out.stdout
    assert len(re.findall(r"^  [0-9a-f]{32}  pid \d+", out.stdout, re.M)) == 2, out.stdout
    assert "closed: no session, no server process left" in out.stdout, out.stdout


# --------------------------------------------------------------------------- lifecycle


def test_url_stats_and_repr(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    proxy = make_proxy(upstream=INLINE_CMD, listen="127.0.0.1:0", on_log=quiet())
    assert proxy.url == ""  # not bound yet
    assert "listen=('127.0.0.1', 0)" in repr(proxy) and "new" in repr(proxy)
    proxy.start()
    port = int(URL_RX.match(proxy.url).group(1))  # type: ignore[union-attr]
    assert port > 0
    stats = proxy.stats()
    assert {k: stats[k] for k in ("mode", "url", "sessions")} == {
        "mode": "http", "url": proxy.url, "sessions": 0}
    assert stats["connections"] == {"open": 0, "total": 0, "refused": 0,
                                    "max": stats["connections"]["max"]}
    assert stats["rejected"] == {}
    assert proxy.sessions() == []
    assert proxy.url in repr(proxy) and "started" in repr(proxy)
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # it listens
    url = proxy.url
    proxy.close()
    assert proxy.url == url  # still readable
    with pytest.raises(mcpfwd.StateError, match="closed"):
        proxy.sessions()
    with pytest.raises(mcpfwd.StateError, match="closed"):
        proxy.session("0" * 32)
    with pytest.raises(mcpfwd.StateError, match="closed"):
        proxy.close_session("0" * 32)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_stop_ends_wait_with_sessions_open(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    proxy = make_proxy(upstream=INLINE_CMD, listen=LOCAL, on_log=quiet())
    proxy.start()
    clients = [McpHttp(proxy.url) for _ in range(2)]
    for c in clients:
        c.initialize()
        assert c.call("tools/call", {"name": "echo", "arguments": {"text": "hi"}})["result"]
    pids = [s.upstream_pid for s in proxy.sessions()]
    assert len(pids) == 2
    assert proxy.wait(timeout=0.1) is None  # an HTTP proxy runs until stopped
    timer = threading.Timer(0.2, proxy.stop)
    timer.start()
    try:
        assert proxy.wait(timeout=20) == 0
    finally:
        timer.join()
    assert all(process_gone(pid) for pid in pids)
    assert proxy.stats()["sessions"] == 0
    proxy.close()


def test_close_session_with_a_request_in_flight(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    proxy = make_proxy(upstream=RAW_CMD, listen=LOCAL, on_log=quiet(), shutdown_grace=0.5)
    proxy.start()
    client = McpHttp(proxy.url)
    client.initialize()
    sid = client.sid
    assert sid is not None
    answer: list[Any] = []
    held = threading.Thread(
        target=lambda: answer.append(client.post({"jsonrpc": "2.0", "id": 7, "method": "raw/hold"}))
    )
    held.start()
    try:
        assert wait_until(lambda: proxy.session(sid).in_flight == 1)
        pid = proxy.session(sid).upstream_pid
        proxy.close_session(sid)
    finally:
        held.join(15)
    assert not held.is_alive()
    resp = answer[0].response()
    assert resp["id"] == 7 and resp["error"]["code"] == -32000, resp
    assert wait_until(lambda: process_gone(pid))
    r = client.post({"jsonrpc": "2.0", "id": 8, "method": "tools/list"})
    assert r.status == 404, r


def test_garbage_collection_of_an_http_proxy_ends_its_sessions() -> None:
    proxy = mcpfwd.Proxy(upstream=INLINE_CMD, listen=LOCAL, on_log=quiet())
    proxy.start()
    client = McpHttp(proxy.url)
    client.initialize()
    pid = proxy.sessions()[0].upstream_pid
    del proxy
    gc.collect()
    assert process_gone(pid)  # closed synchronously by the finalizer


# --------------------------------------------------------------------------- HTTP options


def test_auth_token_is_required(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    proxy = make_proxy(upstream=INLINE_CMD, listen=LOCAL, auth_token="s3cret", on_log=quiet())
    proxy.start()
    denied = McpHttp(proxy.url).initialize(check=False)
    assert denied.status == 401 and denied.header("WWW-Authenticate") == "Bearer"
    assert proxy.sessions() == []
    ok = McpHttp(proxy.url, headers={"Authorization": "Bearer s3cret"})
    ok.initialize()
    assert [s.id for s in proxy.sessions()] == [ok.sid]


def test_max_sessions_and_allowed_origins(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    proxy = make_proxy(
        upstream=INLINE_CMD,
        listen=LOCAL,
        max_sessions=1,
        allowed_origins=["https://app.example"],
        io_threads=1,
        on_log=quiet(),
    )
    proxy.start()
    first = McpHttp(proxy.url, headers={"Origin": "https://app.example"})
    first.initialize()
    second = McpHttp(proxy.url).initialize(check=False)
    assert second.status == 503, second
    foreign = McpHttp(proxy.url, headers={"Origin": "http://localhost:3000"})
    assert foreign.initialize(check=False).status == 403
    assert len(proxy.sessions()) == 1


def test_idle_timeout_closes_idle_sessions(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    proxy = make_proxy(upstream=INLINE_CMD, listen=LOCAL, idle_timeout=0.3, on_log=quiet())
    proxy.start()
    client = McpHttp(proxy.url)
    client.initialize()
    pid = proxy.session(client.sid).upstream_pid  # type: ignore[arg-type]
    assert wait_until(lambda: proxy.sessions() == [], timeout=10)
    assert wait_until(lambda: process_gone(pid))


def test_request_timeout_answers_with_an_error(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    proxy = make_proxy(
        upstream=RAW_CMD, listen=LOCAL, request_timeout=timedelta(milliseconds=300), on_log=quiet()
    )
    proxy.start()
    client = McpHttp(proxy.url)
    client.initialize()
    started = time.monotonic()
    r = client.post({"jsonrpc": "2.0", "id": 9, "method": "raw/hold"})
    assert time.monotonic() - started < 10
    resp = r.response()
    assert resp["id"] == 9 and resp["error"]["code"] == -32000, resp


# --------------------------------------------------------------------------- arguments


def test_listen_accepts_a_pair_or_a_string() -> None:
    for listen, address in [
        (("127.0.0.1", 0), ("127.0.0.1", 0)),
        (["127.0.0.1", 8931], ("127.0.0.1", 8931)),
        ("127.0.0.1:8931", ("127.0.0.1", 8931)),
        ("[::1]:0", ("::1", 0)),
        (("::1", 0), ("::1", 0)),
        (("[::1]", 0), ("::1", 0)),
    ]:
        proxy = mcpfwd.Proxy(upstream=INLINE_CMD, listen=listen)  # type: ignore[arg-type]
        assert f"listen={address!r} new>" in repr(proxy), (listen, repr(proxy))
        proxy.close()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({}, mcpfwd.InvalidArgumentError, "downstream"),
        ({"stdio": (0, 1), "listen": LOCAL}, mcpfwd.InvalidArgumentError,
         "choose one downstream"),
        ({"listen": "127.0.0.1"}, mcpfwd.InvalidArgumentError, "HOST:PORT"),
        ({"listen": "127.0.0.1:http"}, mcpfwd.InvalidArgumentError, "HOST:PORT"),
        ({"listen": "127.0.0.1:-1"}, mcpfwd.InvalidArgumentError, "HOST:PORT"),
        ({"listen": ("127.0.0.1", 65536)}, mcpfwd.InvalidArgumentError, "65535"),
        ({"listen": "localhost:0"}, mcpfwd.InvalidArgumentError, "IP address"),
        ({"listen": ("", 0)}, mcpfwd.InvalidArgumentError, "IP address"),
        ({"listen": ("127.0.0.1", "0")}, TypeError, "port"),
        ({"listen": ("127.0.0.1", True)}, TypeError, "port"),
        ({"listen": 8931}, TypeError, "pair"),
        ({"listen": ("127.0.0.1",)}, TypeError, "pair"),
        ({"listen": LOCAL, "max_sessions": 0}, mcpfwd.InvalidArgumentError, "at least 1"),
        ({"listen": LOCAL, "max_sessions": -1}, mcpfwd.InvalidArgumentError, "max_sessions"),
        ({"listen": LOCAL, "max_sessions": 2.0}, TypeError, "max_sessions"),
        ({"listen": LOCAL, "idle_timeout": 0}, mcpfwd.InvalidArgumentError, "at least 1 ms"),
        ({"listen": LOCAL, "idle_timeout": -1}, mcpfwd.InvalidArgumentError, "idle_timeout"),
        ({"listen": LOCAL, "idle_timeout": float("nan")}, mcpfwd.InvalidArgumentError, "idle"),
        ({"listen": LOCAL, "idle_timeout": "5"}, TypeError, "idle_timeout"),
        ({"listen": LOCAL, "request_timeout": 5e9}, mcpfwd.InvalidArgumentError, "at most"),
        ({"listen": LOCAL, "io_threads": 1000}, mcpfwd.InvalidArgumentError, "256"),
        ({"listen": LOCAL, "allowed_origins": "*"}, TypeError, "list of str"),
        ({"listen": LOCAL, "allowed_origins": [""]}, mcpfwd.InvalidArgumentError, "origin"),
        ({"listen": LOCAL, "allowed_origins": [1]}, TypeError, "str"),
        ({"listen": LOCAL, "auth_token": b"x"}, TypeError, "auth_token"),
        ({"listen": LOCAL, "auth_token": "a\0b"}, mcpfwd.InvalidArgumentError, "NUL"),
        # the library's rule for an option of another mode: it names the (first) option
        ({"stdio": (0, 1), "max_sessions": 5}, mcpfwd.InvalidArgumentError,
         "--max-sessions applies only to HTTP mode"),
        ({"stdio": (0, 1), "auth_token": "x", "io_threads": 2}, mcpfwd.InvalidArgumentError,
         "--io-threads applies only to HTTP mode"),
    ],
)
def test_bad_http_options_are_rejected(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        mcpfwd.Proxy(upstream=INLINE_CMD, **options)


def test_downstream_errors_are_value_errors() -> None:
    for options in ({}, {"stdio": (0, 1), "listen": LOCAL}):
        with pytest.raises(ValueError):
            mcpfwd.Proxy(upstream=INLINE_CMD, **options)  # type: ignore[arg-type]


def test_session_ids_are_checked(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    proxy = make_proxy(upstream=INLINE_CMD, listen=LOCAL, on_log=quiet())
    proxy.start()
    client = McpHttp(proxy.url)
    client.initialize()
    assert client.sid is not None
    with pytest.raises(TypeError):
        proxy.session(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        proxy.close_session(client.sid.encode())  # type: ignore[arg-type]
    # A NUL would cut the id short in C: never a match, even for a prefix of a real id.
    with pytest.raises(KeyError):
        proxy.session(client.sid + "\0junk")
    with pytest.raises(KeyError):
        proxy.close_session(client.sid + "\0")
    assert proxy.session(client.sid).id == client.sid


def test_stdio_proxy_has_no_url_and_no_sessions(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    r, w = os.pipe()
    try:
        proxy = make_proxy(upstream=INLINE_CMD, stdio=(r, w), on_log=quiet())
        proxy.start()
        assert proxy.url == ""
        assert proxy.sessions() == []
        with pytest.raises(KeyError):
            proxy.session("0" * 32)
        with pytest.raises(KeyError):
            proxy.close_session("0" * 32)
        assert "url=" not in repr(proxy)
        proxy.close()
    finally:
        os.close(r)
        os.close(w)


def test_start_fails_on_an_address_in_use(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proxy = make_proxy(upstream=INLINE_CMD, listen=("127.0.0.1", port), on_log=quiet())
        with pytest.raises(mcpfwd.IoError, match=str(port)):
            proxy.start()
        assert proxy.url == ""


# --------------------------------------------------------------------------- SessionInfo


def test_session_info_is_a_frozen_typed_dataclass(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    proxy = make_proxy(upstream=INLINE_CMD, listen=LOCAL, on_log=quiet())
    proxy.start()
    client = McpHttp(proxy.url)
    client.initialize()
    info = proxy.sessions()[0]
    assert dataclasses.is_dataclass(info) and type(info).__module__ == "mcpfwd"
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.state = "closed"  # type: ignore[misc]
    names = [f.name for f in dataclasses.fields(info)]
    assert names == [
        "id", "state", "created", "last_activity", "upstream_kind", "upstream_pid",
        "upstream_url", "upstream_transport", "messages_in", "bytes_in", "messages_out",
        "bytes_out", "in_flight", "open_streams", "errors", "dropped", "upstream_exit", "kind",
        "era", "key", "server", "raw",
    ]
    assert (info.kind, info.era, info.key, info.server) == ("streamable_http", "session", None,
                                                            None)
    assert isinstance(info.created, datetime) and info.created.tzinfo is timezone.utc
    assert info.created == datetime.fromtimestamp(info.raw["created_ms"] / 1000, timezone.utc)
    assert info.messages_in == info.raw["client_to_server"]["messages"] == 2
    assert info.bytes_in == info.raw["client_to_server"]["bytes"]
    assert info.messages_out == info.raw["server_to_client"]["messages"] == 1
    assert info.bytes_out == info.raw["server_to_client"]["bytes"]
    assert "raw" not in repr(info) and info.id in repr(info)
    hash(info)  # raw (a dict) takes no part in hashing and equality
    assert dataclasses.replace(info, raw={}) == info
    assert pickle.loads(pickle.dumps(info)) == info

    mangled = dict(info.raw)
    del mangled["upstream"]
    with pytest.raises(mcpfwd.InternalError, match="upstream"):
        mcpfwd.SessionInfo.from_json(mangled)
    done = dict(info.raw, upstream_exit="exited with status 0", state="closed")
    assert mcpfwd.SessionInfo.from_json(done).upstream_exit == "exited with status 0"
