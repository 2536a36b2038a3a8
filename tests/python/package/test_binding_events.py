"""Session events and the message hook of the mcpfwd Python package, in this process:
``Proxy(on_event=..., on_message=...)``, ``Proxy.events()`` (an asyncio iterator),
``async with Proxy(...)``, ``drain_timeout`` and ``status_text()``.

Clients are the MCP Python SDK or the raw HTTP helpers of http_helpers.py; upstreams are real
server processes. Every test has a timeout and the autouse ``no_leaks`` fixture (from
test_binding.py) fails a test that leaves a child process or a descriptor behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import pickle
import re
import socket
import sys
import threading
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Callable, Iterator

import anyio
import pytest
from http_helpers import McpHttp, rpc
from mcp import ClientSession
from mcp.shared.exceptions import MCPError
from test_binding import (  # noqa: F401  (client, no_leaks: fixtures, used by being here)
    INLINE_CMD,
    LogRecorder,
    PipeClient,
    children,
    client,
    no_leaks,
    process_gone,
    proxies,
    wait_until,
)
from upstream_helpers import http_streams

import mcpfwd
from mcpfwd import _mcpfwd

pytestmark = [pytest.mark.timeout(60), pytest.mark.inprocess]

REPO_ROOT = Path(__file__).resolve().parents[3]
FASTMCP_CMD = [sys.executable, str(REPO_ROOT / "tests" / "servers" / "fastmcp_server.py")]
RAW_CMD = [sys.executable, str(REPO_ROOT / "tests" / "servers" / "raw_server.py")]
LOCAL = ("127.0.0.1", 0)
OPENED, CLOSED, REJECTED, READY = (
    mcpfwd.EventKind.OPENED,
    mcpfwd.EventKind.CLOSED,
    mcpfwd.EventKind.REJECTED,
    mcpfwd.EventKind.READY,
)
PROTOCOL_VERSION_RX = r"^\d{4}-\d{2}-\d{2}$"
C2S, S2C = mcpfwd.Direction.CLIENT_TO_SERVER, mcpfwd.Direction.SERVER_TO_CLIENT
# Ten FastMCP servers starting at once on a small machine take a while.
SDK_TIMEOUT = 45.0


@pytest.fixture
def make_proxy() -> Iterator[Callable[..., mcpfwd.Proxy]]:
    """mcpfwd.Proxy(**kwargs) (on_log quiet unless given), closed at teardown even if the
    test fails half-way."""
    yield from proxies(LogRecorder)


class Recorder:
    """An on_event / on_message callback recording what it gets, from any thread, and on which
    thread; ``answer`` decides what it returns."""

    def __init__(self, answer: Callable[[Any], bool | None] = lambda item: None) -> None:
        self.items: list[Any] = []
        self.threads: set[int] = set()
        self.answer = answer
        self._lock = threading.Lock()

    def __call__(self, item: Any) -> bool | None:
        with self._lock:
            self.items.append(item)
            self.threads.add(threading.get_ident())
        return self.answer(item)

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.items)

    def of_kind(self, kind: mcpfwd.EventKind) -> list[mcpfwd.Event]:
        return [e for e in self.snapshot() if e.kind is kind]

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = 20.0) -> list[Any]:
        assert wait_until(lambda: predicate(self.snapshot()), timeout), self.snapshot()
        return self.snapshot()


class Unraisable:
    """sys.unraisablehook replacement recording (exc_type, message, repr(object))."""

    def __init__(self) -> None:
        self.seen: list[tuple[type[BaseException], str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, args: Any) -> None:
        with self._lock:
            self.seen.append((args.exc_type, str(args.exc_value), repr(args.object)))

    def snapshot(self) -> list[tuple[type[BaseException], str, str]]:
        with self._lock:
            return list(self.seen)


async def sdk_session(
    stack: AsyncExitStack, url: str
) -> tuple[ClientSession, Callable[[], str | None]]:
    read, write, get_sid = await stack.enter_async_context(http_streams(url))
    session = await stack.enter_async_context(
        ClientSession(read, write, read_timeout_seconds=SDK_TIMEOUT)
    )
    await session.initialize()
    return session, get_sid


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (possibly nested) exception groups."""
    inner = getattr(exc, "exceptions", None)
    if inner is None:
        return [exc]
    return [leaf for e in inner for leaf in leaf_errors(e)]


def echo_text(result: Any) -> str:
    assert not result.is_error, result
    text: str = result.content[0].text
    return text


# --------------------------------------------------------------------------- events


@pytest.mark.timeout(150)
def test_events_of_ten_concurrent_sdk_sessions(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    """Ten SDK clients at once: ten OPENED events with distinct ids (the clients' session
    ids), on the proxy's I/O threads; after the clients leave, ten CLOSED events saying why."""
    events = Recorder()
    proxy = make_proxy(upstream=FASTMCP_CMD, listen=LOCAL, on_event=events, io_threads=2)
    proxy.start()
    n = 10
    sids: list[str] = []
    while_open: dict[str, Any] = {}

    async def client(i: int, all_open: anyio.Event, ready: list[int]) -> None:
        async with AsyncExitStack() as stack:
            session, get_sid = await sdk_session(stack, proxy.url)
            assert echo_text(await session.call_tool("echo", {"text": f"client {i}"})) == (
                f"client {i}"
            )
            sid = get_sid()
            assert sid is not None
            sids.append(sid)
            ready.append(i)
            if len(ready) == n:
                all_open.set()
            await all_open.wait()  # every client is connected at once
            if i == 0:
                while_open["events"] = events.snapshot()
                while_open["sessions"] = {s.id for s in proxy.sessions()}

    async def main() -> None:
        all_open = anyio.Event()
        ready: list[int] = []
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for i in range(n):
                    tg.start_soon(client, i, all_open, ready)

    anyio.run(main)
    assert len(set(sids)) == n
    opened = [e for e in while_open["events"] if e.kind is OPENED]
    assert {e.session_id for e in opened} == set(sids) == while_open["sessions"]
    assert len(opened) == n  # one each, no repeat
    assert all(e.detail == "" for e in opened)
    # Each client has called a tool, so each session's initialize was answered: READY.
    ready_events = [e for e in while_open["events"] if e.kind is READY]
    assert {e.session_id for e in ready_events} == set(sids) and len(ready_events) == n
    assert all(re.match(PROTOCOL_VERSION_RX, e.detail) for e in ready_events), ready_events
    assert not [e for e in while_open["events"] if e.kind not in (OPENED, READY)]

    # The SDK deletes its session when it leaves: the proxy closes it and reaps its server.
    final = events.wait_for(lambda items: sum(e.kind is CLOSED for e in items) == n)
    closed = [e for e in final if e.kind is CLOSED]
    assert {e.session_id for e in closed} == set(sids)
    assert all(e.detail == "session deleted by the client" for e in closed), closed
    for sid in sids:  # one session's events are in order
        assert [e.kind for e in final if e.session_id == sid] == [OPENED, READY, CLOSED]
    assert threading.get_ident() not in events.threads  # proxy I/O threads only
    assert proxy.sessions() == []


def test_rejected_at_max_sessions(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    events = Recorder()
    proxy = make_proxy(upstream=INLINE_CMD, listen=LOCAL, max_sessions=2, on_event=events)
    proxy.start()
    clients = [McpHttp(proxy.url) for _ in range(2)]
    for c in clients:
        c.initialize()
    refused = McpHttp(proxy.url).initialize(check=False)
    assert refused.status == 503, refused
    items = events.wait_for(lambda items: any(e.kind is REJECTED for e in items))
    rejected = [e for e in items if e.kind is REJECTED]
    assert rejected == [mcpfwd.Event(REJECTED, "", "session limit of 2 reached")]
    assert {e.session_id for e in items if e.kind is OPENED} == {c.sid for c in clients}
    assert not [e for e in items if e.kind is CLOSED]

    # A place frees up once a session is gone.
    assert clients[0].delete().status in (200, 204)
    events.wait_for(lambda items: any(e.kind is CLOSED for e in items))
    again = McpHttp(proxy.url)
    again.initialize()
    assert again.call("tools/list")["result"]["tools"][0]["name"] == "echo"


def test_on_event_false_closes_the_session(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    """False from on_event for OPENED closes that session at once: its initialize (and
    anything after) answers 404, its server is reaped, a CLOSED event says why. False for
    other events changes nothing."""
    refuse: set[str] = set()

    def answer(event: mcpfwd.Event) -> bool | None:
        if event.kind is OPENED and not refuse:
            refuse.add(event.session_id)  # the first session only
            return False
        return False if event.kind is CLOSED else None  # ignored

    events = Recorder(answer)
    proxy = make_proxy(upstream=RAW_CMD, listen=LOCAL, on_event=events, shutdown_grace=0.5)
    proxy.start()
    kids_before = children()

    victim = McpHttp(proxy.url)
    r = victim.initialize(check=False)
    assert r.status == 403, r  # refused: no session id is handed out
    assert r.session_id is None and "refused" in r.json()["error"]["message"], r
    (refused_id,) = refuse
    victim.sid = refused_id  # even the id the callback saw leads nowhere
    assert victim.post(rpc("tools/list", None, 2)).status == 404
    items = events.wait_for(lambda items: any(e.kind is CLOSED for e in items))
    assert [e for e in items if e.kind is CLOSED] == [
        mcpfwd.Event(CLOSED, refused_id, "session refused by the event callback")
    ]
    assert wait_until(lambda: children() <= kids_before)  # its server is gone

    # The next session is accepted, works, and returning False for its CLOSED is harmless.
    fine = McpHttp(proxy.url)
    fine.initialize()
    assert fine.call("raw/echo", {"x": 1})["result"]["params"] == {"x": 1}
    assert fine.delete().status in (200, 204)
    items = events.wait_for(lambda items: sum(e.kind is CLOSED for e in items) == 2)
    assert items[-1] == mcpfwd.Event(CLOSED, fine.sid or "", "session deleted by the client")


def test_on_event_false_closes_the_sdk_clients_session(
    make_proxy: Callable[..., mcpfwd.Proxy],
) -> None:
    """With the SDK: a refused session's client cannot even initialize; a later one works."""
    refused: list[str] = []

    def answer(event: mcpfwd.Event) -> bool | None:
        if event.kind is OPENED and not refused:
            refused.append(event.session_id)
            return False
        return None

    events = Recorder(answer)
    proxy = make_proxy(upstream=FASTMCP_CMD, listen=LOCAL, on_event=events)
    proxy.start()

    async def main() -> None:
        with anyio.fail_after(45):
            with pytest.raises(Exception) as info:  # maybe in exception groups
                async with AsyncExitStack() as stack:
                    await sdk_session(stack, proxy.url)
            errors = leaf_errors(info.value)
            # refused with 403 and a JSON-RPC error body: the SDK raises that error
            assert any(isinstance(e, MCPError) and e.message ==
                       "Forbidden: the session was refused by the embedding application"
                       for e in errors), errors
            async with AsyncExitStack() as stack:
                session, _ = await sdk_session(stack, proxy.url)
                assert echo_text(await session.call_tool("echo", {"text": "ok"})) == "ok"

    anyio.run(main)
    items = events.wait_for(lambda items: sum(e.kind is CLOSED for e in items) == 2)
    reasons = {e.session_id: e.detail for e in items if e.kind is CLOSED}
    assert reasons[refused[0]] == "session refused by the event callback"


def test_events_in_stdio_mode(client: PipeClient, make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    events = Recorder()
    messages = Recorder()
    proxy = make_proxy(
        upstream=INLINE_CMD, stdio=client.proxy_fds, on_event=events, on_message=messages
    )
    proxy.start()
    client.release_proxy_ends()
    client.initialize()
    events.wait_for(lambda items: len(items) == 2)
    client.close_input()
    assert proxy.wait(timeout=15) == 0
    items = events.wait_for(lambda items: len(items) == 3)
    assert [(e.kind, e.session_id) for e in items] == [
        (OPENED, "stdio"), (READY, "stdio"), (CLOSED, "stdio")]
    assert re.match(PROTOCOL_VERSION_RX, items[1].detail), items[1]
    assert items[2].detail  # the reason the session ended
    seen = messages.snapshot()
    assert [(m.direction, m.session_id) for m in seen] == [
        (C2S, "stdio"),
        (S2C, "stdio"),
        (C2S, "stdio"),
    ]
    assert seen[0].json()["method"] == "initialize"
    assert seen[1].json()["result"]["serverInfo"]["name"] == "inline"
    assert seen[2].json() == {"jsonrpc": "2.0", "method": "notifications/initialized"}


def test_event_and_message_are_frozen_dataclasses() -> None:
    event = mcpfwd.Event(CLOSED, "ab" * 16, "session deleted by the client")
    message = mcpfwd.Message(C2S, "stdio", b'{"jsonrpc":"2.0","method":"x"}')
    for obj, names in ((event, ["kind", "session_id", "detail"]),
                       (message, ["direction", "session_id", "data"])):
        assert dataclasses.is_dataclass(obj) and type(obj).__module__ == "mcpfwd"
        assert [f.name for f in dataclasses.fields(obj)] == names
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.session_id = "other"  # type: ignore[misc]
        assert pickle.loads(pickle.dumps(obj)) == obj
        hash(obj)
    assert message.json() == {"jsonrpc": "2.0", "method": "x"}
    assert [(k.name, int(k)) for k in mcpfwd.EventKind] == [
        ("OPENED", _mcpfwd.EVENT_SESSION_OPENED),
        ("CLOSED", _mcpfwd.EVENT_SESSION_CLOSED),
        ("REJECTED", _mcpfwd.EVENT_SESSION_REJECTED),
        ("READY", _mcpfwd.EVENT_SESSION_READY),
    ] == [("OPENED", 1), ("CLOSED", 2), ("REJECTED", 3), ("READY", 4)]
    assert [(d.name, int(d)) for d in mcpfwd.Direction] == [
        ("CLIENT_TO_SERVER", 1),
        ("SERVER_TO_CLIENT", 2),
    ]


# --------------------------------------------------------------------------- messages


def test_on_message_sees_both_directions_of_each_session(
    make_proxy: Callable[..., mcpfwd.Proxy],
) -> None:
    messages = Recorder()
    proxy = make_proxy(upstream=FASTMCP_CMD, listen=LOCAL, on_message=messages)
    proxy.start()
    sids: list[str] = []

    async def main() -> None:
        with anyio.fail_after(45):
            async with AsyncExitStack() as stack:
                for i in range(2):
                    session, get_sid = await sdk_session(stack, proxy.url)
                    text = f"client {i}: héllo ✓"
                    assert echo_text(await session.call_tool("echo", {"text": text})) == text
                    sid = get_sid()
                    assert sid is not None
                    sids.append(sid)

    anyio.run(main)
    seen: list[mcpfwd.Message] = messages.snapshot()
    assert {m.session_id for m in seen} == set(sids)
    for i, sid in enumerate(sids):
        mine = [m for m in seen if m.session_id == sid]
        assert all(type(m.data) is bytes and isinstance(m.direction, mcpfwd.Direction)
                   for m in mine)
        decoded = [(m.direction, m.json()) for m in mine]
        assert all(isinstance(msg, dict) and msg.get("jsonrpc") == "2.0" for _, msg in decoded)
        requests = {msg["id"]: msg for d, msg in decoded if d is C2S and "method" in msg
                    and "id" in msg}
        responses = {msg["id"]: msg for d, msg in decoded if d is S2C and "method" not in msg}
        assert [msg["method"] for msg in requests.values()][:1] == ["initialize"]
        call = next(msg for msg in requests.values() if msg["method"] == "tools/call")
        assert call["params"] == {"name": "echo", "arguments": {"text": f"client {i}: héllo ✓"}}
        # every request of this session was answered to this session, in the other direction
        assert set(requests) <= set(responses), (requests, responses)
        answer = responses[call["id"]]["result"]["content"][0]["text"]
        assert answer == f"client {i}: héllo ✓"
        assert any(d is C2S and msg.get("method") == "notifications/initialized"
                   for d, msg in decoded)
        assert responses[next(iter(requests))]["result"]["serverInfo"]["name"] == (
            "mcpfwd-test-server"
        )
    assert threading.get_ident() not in messages.threads


def test_on_message_false_drops_the_message_and_closes_the_session(
    make_proxy: Callable[..., mcpfwd.Proxy],
) -> None:
    events = Recorder()
    messages = Recorder(lambda m: False if b"raw/forbidden" in m.data else None)
    proxy = make_proxy(
        upstream=RAW_CMD, listen=LOCAL, on_event=events, on_message=messages, shutdown_grace=0.5
    )
    proxy.start()
    client = McpHttp(proxy.url)
    client.initialize()
    pid = proxy.session(client.sid or "").upstream_pid
    assert client.call("raw/echo")["result"]["method"] == "raw/echo"
    r = client.post(rpc("raw/forbidden", None, 50))
    assert r.status == 404, r  # the session is gone, the message was not forwarded
    assert client.post(rpc("raw/echo", None, 51)).status == 404
    items = events.wait_for(lambda items: any(e.kind is CLOSED for e in items))
    assert items[-1] == mcpfwd.Event(
        CLOSED, client.sid or "", "session aborted by the message callback"
    )
    assert wait_until(lambda: process_gone(pid))
    forwarded = [m.json() for m in messages.snapshot()]
    assert not [m for m in forwarded if m.get("id") == 50 and "method" not in m]  # no answer
    assert not [m for m in forwarded if m.get("id") == 51]  # never seen: the session was gone


def test_server_to_client_false_closes_the_session(
    make_proxy: Callable[..., mcpfwd.Proxy],
) -> None:
    events = Recorder()
    messages = Recorder(
        lambda m: False if m.direction is S2C and b"secret" in m.data else None
    )
    proxy = make_proxy(
        upstream=RAW_CMD, listen=LOCAL, on_event=events, on_message=messages, shutdown_grace=0.5
    )
    proxy.start()
    client = McpHttp(proxy.url)
    client.initialize()
    r = client.post(rpc("raw/echo", {"text": "secret"}, 60))
    # The answer was dropped: the proxy answers the request itself, with an error.
    assert r.response() == {
        "jsonrpc": "2.0",
        "id": 60,
        "error": {"code": -32000, "message": "session aborted by the message callback"},
    }
    assert client.post(rpc("raw/echo", None, 61)).status == 404
    items = events.wait_for(lambda items: any(e.kind is CLOSED for e in items))
    assert items[-1].detail == "session aborted by the message callback"


def test_no_message_hook_is_registered_without_on_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The message hook is on the forwarding path: without on_message the native proxy gets
    no callable (and so registers no C callback)."""
    seen: list[dict[str, Any]] = []
    real = _mcpfwd._Proxy

    def spy(**kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(_mcpfwd, "_Proxy", spy)
    with mcpfwd.Proxy(upstream=INLINE_CMD, listen=LOCAL, on_log=LogRecorder()):
        pass
    with mcpfwd.Proxy(
        upstream=INLINE_CMD, listen=LOCAL, on_log=LogRecorder(), on_message=lambda m: None
    ):
        pass
    assert seen[0]["on_message"] is None
    assert callable(seen[1]["on_message"])
    assert callable(seen[0]["on_event"])  # always: events() may be used without on_event


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"on_event": "print"}, TypeError, "on_event must be callable"),
        ({"on_message": 42}, TypeError, "on_message must be callable"),
        ({"drain_timeout": -1}, mcpfwd.InvalidArgumentError, "drain_timeout"),
        ({"drain_timeout": "5"}, TypeError, "drain_timeout"),
    ],
)
def test_bad_callback_options_are_rejected(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        mcpfwd.Proxy(upstream=INLINE_CMD, listen=LOCAL, **options)


def test_drain_timeout_is_http_only(client: PipeClient) -> None:
    with pytest.raises(mcpfwd.InvalidArgumentError,
                       match="--drain-timeout-ms applies only to HTTP mode"):
        mcpfwd.Proxy(upstream=INLINE_CMD, stdio=client.proxy_fds, drain_timeout=1)


# --------------------------------------------------------------------------- misbehaving


def test_raising_callbacks_are_reported_and_forwarding_goes_on(
    monkeypatch: pytest.MonkeyPatch, make_proxy: Callable[..., mcpfwd.Proxy]
) -> None:
    unraisable = Unraisable()
    # Explicitly expected: captured instead of pytest's hook (which would turn these into a
    # PytestUnraisableExceptionWarning, an error here).
    monkeypatch.setattr(sys, "unraisablehook", unraisable)
    calls = {"event": 0, "message": 0}

    def bad_on_event(event: mcpfwd.Event) -> bool:
        calls["event"] += 1
        raise RuntimeError(f"boom from on_event: {event.kind.name}")

    def bad_on_message(message: mcpfwd.Message) -> bool:
        calls["message"] += 1
        raise ValueError("boom from on_message")

    proxy = make_proxy(
        upstream=FASTMCP_CMD, listen=LOCAL, on_event=bad_on_event, on_message=bad_on_message
    )
    proxy.start()

    async def main() -> None:
        with anyio.fail_after(45):
            async with AsyncExitStack() as stack:
                session, _ = await sdk_session(stack, proxy.url)
                for i in range(3):
                    assert echo_text(await session.call_tool("echo", {"text": str(i)})) == str(i)

    anyio.run(main)
    # OPENED (not an abort), READY, then CLOSED
    assert wait_until(lambda: calls["event"] == 3)
    proxy.close()  # before the hook is restored: no callback runs after close()
    seen = unraisable.snapshot()
    assert len(seen) == calls["event"] + calls["message"]
    assert calls["message"] >= 8  # every message of the session, both ways
    event_errors = [s for s in seen if s[0] is RuntimeError]
    assert [s[1] for s in event_errors] == ["boom from on_event: OPENED",
                                            "boom from on_event: READY",
                                            "boom from on_event: CLOSED"]
    assert all("bad_on_event" in s[2] and "on_event" in s[2] for s in event_errors)
    message_errors = [s for s in seen if s[0] is ValueError]
    assert all("bad_on_message" in s[2] for s in message_errors)


@pytest.mark.parametrize("where", ["on_event", "on_message"])
def test_stop_from_inside_a_callback(
    where: str, make_proxy: Callable[..., mcpfwd.Proxy]
) -> None:
    holder: dict[str, mcpfwd.Proxy] = {}
    stopped = threading.Event()
    events = Recorder()

    def stop_once() -> None:
        if not stopped.is_set():
            holder["proxy"].stop()  # returns at once; allowed in any callback
            stopped.set()

    def on_event(event: mcpfwd.Event) -> None:
        events(event)
        if where == "on_event" and event.kind is OPENED:
            stop_once()

    def on_message(message: mcpfwd.Message) -> None:
        stop_once()

    proxy = holder["proxy"] = make_proxy(
        upstream=INLINE_CMD, listen=LOCAL, on_event=on_event, on_message=on_message
    )
    proxy.start()
    try:
        McpHttp(proxy.url).initialize(check=False)  # answered or cut short: no matter
    except OSError:
        pass
    assert stopped.wait(10)
    assert proxy.wait(timeout=20) == 0  # stop() from the callback ended the proxy
    if where == "on_event":
        items = events.wait_for(lambda items: any(e.kind is CLOSED for e in items))
        # The initialize may still be answered while the proxy drains (then READY comes).
        assert [e.kind for e in items] in ([OPENED, CLOSED], [OPENED, READY, CLOSED])


def test_other_calls_from_inside_callbacks_are_refused(
    make_proxy: Callable[..., mcpfwd.Proxy],
) -> None:
    holder: dict[str, mcpfwd.Proxy] = {}
    errors: dict[str, BaseException] = {}

    def try_calls(name: str) -> None:
        try:
            holder["proxy"].sessions()
        except mcpfwd.StateError as e:
            errors.setdefault(f"{name} sessions", e)
        try:
            holder["proxy"].status_text()
        except mcpfwd.StateError as e:
            errors.setdefault(f"{name} status_text", e)

    proxy = holder["proxy"] = make_proxy(
        upstream=INLINE_CMD,
        listen=LOCAL,
        on_event=lambda e: try_calls("event"),
        on_message=lambda m: try_calls("message"),
    )
    proxy.start()
    client = McpHttp(proxy.url)
    client.initialize()
    assert client.call("tools/list")["result"]["tools"]
    assert wait_until(lambda: len(errors) == 4)
    assert "inside an event callback" in str(errors["event sessions"])
    assert "status_text() cannot be called from inside a message callback" in str(
        errors["message status_text"]
    )
    assert [s.id for s in proxy.sessions()] == [client.sid]  # fine outside


def test_close_from_inside_on_event(client: PipeClient) -> None:
    holder: dict[str, mcpfwd.Proxy] = {}
    closed = threading.Event()

    def on_event(event: mcpfwd.Event) -> None:
        if event.kind is OPENED and not closed.is_set():
            holder["proxy"].close()  # must not join the thread it runs on
            closed.set()

    proxy = holder["proxy"] = mcpfwd.Proxy(
        upstream=INLINE_CMD, stdio=client.proxy_fds, on_event=on_event, on_log=LogRecorder()
    )
    proxy.start()
    server_pid = proxy.stats()["upstream_pid"]
    client.release_proxy_ends()
    assert closed.wait(timeout=10)
    assert proxy.closed
    assert wait_until(lambda: process_gone(server_pid))
    assert client.read_eof() == b""  # the proxy was freed: its copy of our pipe is closed


def test_garbage_collection_with_callbacks_in_a_reference_cycle() -> None:
    class Owner:
        def __init__(self) -> None:
            self.events: list[mcpfwd.Event] = []
            self.proxy = mcpfwd.Proxy(
                upstream=INLINE_CMD,
                listen=LOCAL,
                on_log=LogRecorder(),
                on_event=self.on_event,
                on_message=self.on_message,
            )

        def on_event(self, event: mcpfwd.Event) -> None:
            self.events.append(event)

        def on_message(self, message: mcpfwd.Message) -> None:
            pass

    owner = Owner()
    owner.proxy.start()
    client = McpHttp(owner.proxy.url)
    client.initialize()
    pid = owner.proxy.session(client.sid or "").upstream_pid
    del owner
    gc.collect()
    assert wait_until(lambda: process_gone(pid))


# --------------------------------------------------------------------------- asyncio


def test_async_with_and_events_iterator() -> None:
    """``async with`` starts and closes the proxy off the event loop; ``events()`` streams
    OPENED and CLOSED while clients come and go (including the CLOSED events of the shutdown
    itself), and ends when the proxy closes."""
    got: list[mcpfwd.Event] = []
    ticks: list[float] = []
    state: dict[str, Any] = {}

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():  # proves the loop keeps running during start/close
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def consume(stream: mcpfwd.EventStream) -> None:
        async for event in stream:
            got.append(event)
        state["ended"] = True

    async def main() -> None:
        stop_ticking = asyncio.Event()
        tick_task = asyncio.create_task(ticker(stop_ticking))
        proxy = mcpfwd.Proxy(
            upstream=FASTMCP_CMD, listen=LOCAL, on_log=LogRecorder(), shutdown_grace=1
        )
        async with proxy as p:
            assert p is proxy and p.url.startswith("http://127.0.0.1:")
            stream = p.events()
            other = p.events()
            consumer = asyncio.create_task(consume(stream))
            async with AsyncExitStack() as stack:  # the SDK deletes its session on leaving
                session, get_sid = await sdk_session(stack, p.url)
                assert echo_text(await session.call_tool("echo", {"text": "async"})) == "async"
                state["sid"] = get_sid()
            # A raw client that stays: its session ends with the proxy.
            raw = McpHttp(p.url)
            await asyncio.to_thread(raw.initialize)
            state["raw_sid"] = raw.sid
            first = await asyncio.wait_for(other.__anext__(), 20)
            assert first == mcpfwd.Event(OPENED, state["sid"], "")
            await other.aclose()
            assert other.ended
            before_close = len(ticks)
        assert proxy.closed
        assert len(ticks) > before_close + 2  # the loop ran while the proxy closed
        await asyncio.wait_for(consumer, 20)  # the iterator ended with the proxy
        assert [e async for e in other] != []  # what was buffered before aclose() remains
        stop_ticking.set()
        await tick_task
        # A stream of a closed proxy ends at once.
        assert [e async for e in proxy.events()] == []

    asyncio.run(asyncio.wait_for(main(), 50))
    assert state["ended"]
    sid, raw_sid = state["sid"], state["raw_sid"]
    assert [(e.kind, e.detail) for e in got if e.session_id == sid] == [
        (OPENED, ""),
        (READY, "2025-11-25"),
        (CLOSED, "session deleted by the client"),
    ]
    assert [(e.kind, e.detail) for e in got if e.session_id == raw_sid] == [
        (OPENED, ""),
        (READY, "2025-06-18"),  # what the raw client asked for, and the server accepted
        (CLOSED, "proxy shutting down"),
    ]
    assert len(got) == 6


def test_async_with_closes_when_start_fails() -> None:
    async def main() -> mcpfwd.Proxy:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            proxy = mcpfwd.Proxy(
                upstream=INLINE_CMD, listen=("127.0.0.1", port), on_log=LogRecorder()
            )
            stream = proxy.events()
            with pytest.raises(mcpfwd.IoError):
                async with proxy:
                    pytest.fail("the async-with body must not run")
            assert [e async for e in stream] == []  # closed: the stream ended
        return proxy

    assert asyncio.run(asyncio.wait_for(main(), 30)).closed


def test_event_stream_drops_the_oldest_with_a_warning() -> None:
    stream = mcpfwd.EventStream(maxsize=10)
    for i in range(15):
        stream._put(mcpfwd.Event(OPENED, f"s{i}", ""))
    stream._end()

    async def drain() -> list[str]:
        return [e.session_id async for e in stream]

    with pytest.warns(RuntimeWarning, match=r"5 event\(s\) dropped.*buffer of 10"):
        ids = asyncio.run(asyncio.wait_for(drain(), 10))
    assert ids == [f"s{i}" for i in range(5, 15)]
    assert stream.ended
    with pytest.raises(ValueError):
        mcpfwd.EventStream(maxsize=0)


def test_event_stream_wakes_a_waiting_reader_from_another_thread() -> None:
    stream = mcpfwd.EventStream()

    async def main() -> list[mcpfwd.Event]:
        loop_thread = threading.get_ident()

        def feed() -> None:
            stream._put(mcpfwd.Event(CLOSED, "x", "why"))
            stream._end()

        feeder = threading.Timer(0.2, feed)
        feeder.start()
        try:
            got = [e async for e in stream]
        finally:
            feeder.join()
        assert threading.get_ident() == loop_thread
        return got

    assert asyncio.run(asyncio.wait_for(main(), 10)) == [mcpfwd.Event(CLOSED, "x", "why")]


# --------------------------------------------------------------------------- drain, status


def test_drain_timeout_bounds_requests_in_flight_at_shutdown(
    make_proxy: Callable[..., mcpfwd.Proxy],
) -> None:
    proxy = make_proxy(
        upstream=RAW_CMD, listen=LOCAL, drain_timeout=0.3, shutdown_grace=0.5
    )
    proxy.start()
    client = McpHttp(proxy.url)
    client.initialize()
    sid = client.sid or ""
    answer: list[Any] = []
    held = threading.Thread(target=lambda: answer.append(client.post(rpc("raw/hold", None, 7))))
    held.start()
    try:
        assert wait_until(lambda: proxy.session(sid).in_flight == 1)
        started = time.monotonic()
        proxy.stop()
        assert proxy.wait(timeout=20) == 0
        elapsed = time.monotonic() - started
    finally:
        held.join(15)
    assert not held.is_alive()
    assert elapsed < 4.5, elapsed  # well under the default drain of 5 s
    resp = answer[0].response()
    assert resp["id"] == 7 and "error" in resp, resp


def test_status_text_lists_the_sessions(make_proxy: Callable[..., mcpfwd.Proxy]) -> None:
    proxy = make_proxy(upstream=INLINE_CMD, listen=LOCAL)
    proxy.start()
    clients = [McpHttp(proxy.url) for _ in range(2)]
    for c in clients:
        c.initialize()
    text = proxy.status_text()
    assert isinstance(text, str)
    assert text.startswith("2 session(s) at " + proxy.url), text
    for info in proxy.sessions():
        line = next(ln for ln in text.splitlines() if ln.startswith(info.id))
        assert str(info.upstream_pid) in line.split()
    proxy.close()
    with pytest.raises(mcpfwd.StateError):
        proxy.status_text()
