"""``mcpfwd --listen`` under concurrency: many sessions at once, many requests per session.

Every answer must reach the client that asked (its own token comes back),
every session must have its own upstream process, and everything ends with
no process left.  Counts and time are bounded so the file runs in seconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest
from conftest import SERVERS_DIR
from http_helpers import SESSION_ID_RX, McpHttp
from mcp import ClientSession
from upstream_helpers import http_streams

PID_SERVER = SERVERS_DIR / "fastmcp_pid_server.py"

N_SESSIONS = 50
CALLS_PER_SESSION = 20


def upstream_pid_of(proxy, pipe: str) -> int:
    """The child of mcpfwd whose stdin is ``pipe`` (e.g. 'pipe:[1234]')."""
    for kid in proxy.child_pids():
        try:
            if os.readlink(f"/proc/{kid}/fd/0") == pipe:
                return kid
        except OSError:
            pass
    raise AssertionError(f"no child of mcpfwd has stdin {pipe}; children: {proxy.child_pids()}")


@pytest.mark.timeout(120)
def test_fifty_concurrent_sessions_each_with_its_own_server(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    start = threading.Barrier(N_SESSIONS, timeout=30)
    # The children are listed by the barrier's action, i.e. before any worker
    # is released to DELETE its session (listing after the release raced).
    alive: list[int] = []
    mapped = threading.Barrier(N_SESSIONS + 1, timeout=60,
                               action=lambda: alive.extend(proxy.child_pids()))

    def one_session(n: int) -> dict[str, Any]:
        try:
            return _one_session(n)
        except BaseException:
            start.abort()  # fail fast: release everyone waiting at a barrier
            mapped.abort()
            raise

    def _one_session(n: int) -> dict[str, Any]:
        token = f"session-{n}-{os.urandom(6).hex()}"
        s = McpHttp(proxy.url)
        start.wait()
        s.initialize()
        # raw_server reports its own stdin: map it to the process that serves this session
        fds = s.call("raw/fds")["result"]["fds"]
        pid = upstream_pid_of(proxy, fds["0"])
        for k in range(CALLS_PER_SESSION):
            text = f"{token}/{k}"
            resp = s.call("tools/call", {"name": "echo", "arguments": {"text": text}})
            assert "result" in resp, resp
            got = resp["result"]["params"]["arguments"]["text"]
            assert got == text, f"session {n} got someone else's answer: {got!r} != {text!r}"
        hist = s.call("raw/history")["result"]["lines"]
        assert sum(token in ln for ln in hist) == CALLS_PER_SESSION, \
            f"session {n}'s server saw {sum(token in ln for ln in hist)} of its calls"
        assert not any("session-" in ln and token not in ln for ln in hist), \
            f"session {n}'s server saw another session's traffic"
        mapped.wait()  # every session is alive at the same time here
        d = s.delete()
        assert d.status == 200, d
        return {"sid": s.sid, "pid": pid, "token": token}

    t0 = time.monotonic()
    with ThreadPoolExecutor(N_SESSIONS) as pool:
        futures = [pool.submit(one_session, n) for n in range(N_SESSIONS)]
        try:
            mapped.wait()
        except threading.BrokenBarrierError:
            pass
        results = [f.result(timeout=90) for f in futures]
    elapsed = time.monotonic() - t0
    sids = {r["sid"] for r in results}
    pids = {r["pid"] for r in results}
    assert all(SESSION_ID_RX.match(sid) for sid in sids)
    assert len(sids) == N_SESSIONS, "session ids are not unique"
    assert len(pids) == N_SESSIONS, "two sessions shared an upstream process"
    assert pids <= set(alive), "a session's server was not a child of mcpfwd"
    assert len(proxy.tracked) == N_SESSIONS, f"{len(proxy.tracked)} processes spawned for " \
                                             f"{N_SESSIONS} sessions"
    proxy.wait_children(0, timeout=20)  # every DELETE ended its server
    assert elapsed < 90, f"{N_SESSIONS} sessions took {elapsed:.1f}s"


@pytest.mark.timeout(60)
def test_concurrent_requests_in_one_session_are_routed_by_id(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s = McpHttp(proxy.url)
    s.initialize()
    n_threads, per_thread = 16, 10
    go = threading.Barrier(n_threads, timeout=30)

    def worker(t: int) -> int:
        go.wait()
        for k in range(per_thread):
            # each thread uses its own id space; several requests of the session are in flight
            text = f"t{t}-k{k}"
            resp = s.call("echo", {"text": text})
            assert resp["result"]["params"]["text"] == text, (text, resp)
        return t

    with ThreadPoolExecutor(n_threads) as pool:
        done = [f.result(timeout=50) for f in [pool.submit(worker, t) for t in range(n_threads)]]
    assert sorted(done) == list(range(n_threads))
    assert len(proxy.child_pids()) == 1


@pytest.mark.timeout(60)
def test_same_request_ids_in_different_sessions_do_not_collide(http_proxy, raw_server_cmd):
    """Every client numbers its requests from 1: the proxy must not mix them up."""
    proxy = http_proxy(raw_server_cmd)
    sessions = [McpHttp(proxy.url) for _ in range(8)]
    for s in sessions:
        s.initialize()
    go = threading.Barrier(len(sessions), timeout=30)

    def worker(i: int) -> None:
        s = sessions[i]
        go.wait()
        for k in range(15):
            s._next_id = 0  # every session sends id 1 each time
            resp = s.call("echo", {"who": i, "k": k})
            assert resp["id"] == 1 and resp["result"]["params"] == {"who": i, "k": k}, resp

    with ThreadPoolExecutor(len(sessions)) as pool:
        for f in [pool.submit(worker, i) for i in range(len(sessions))]:
            f.result(timeout=50)


@pytest.mark.timeout(90)
def test_concurrent_sdk_sessions_against_fastmcp(http_proxy):
    """Real SDK clients, concurrently, each its own MCPServer process (pid tool)."""
    n_sessions, n_calls = 8, 10
    proxy = http_proxy([sys.executable, str(PID_SERVER)])
    results: list[dict[str, Any]] = []
    seen_children: set[int] = set()

    async def one(n: int) -> None:
        token = f"sdk-{n}-{os.urandom(4).hex()}"
        async with http_streams(proxy.url) as (read, write, get_sid):
            async with ClientSession(read, write) as s:
                await s.initialize()
                pid = (await s.call_tool("pid", {})).structured_content["result"]
                seen_children.update(proxy.child_pids())
                for k in range(n_calls):
                    r = await s.call_tool("echo", {"text": f"{token}:{k}"})
                    assert r.content[0].text == f"{token}:{k}", r
                results.append({"sid": get_sid(), "pid": pid})

    async def main() -> None:
        with anyio.fail_after(75):
            async with anyio.create_task_group() as tg:
                for n in range(n_sessions):
                    tg.start_soon(one, n)

    anyio.run(main)
    assert len(results) == n_sessions
    assert len({r["sid"] for r in results}) == n_sessions
    pids = {r["pid"] for r in results}
    assert len(pids) == n_sessions, f"sessions shared a server: {results}"
    assert pids <= seen_children | set(proxy.tracked), "pid() is not a child of mcpfwd"
    proxy.wait_children(0, timeout=20)
