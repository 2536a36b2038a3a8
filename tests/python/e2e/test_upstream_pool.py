"""mcpfwd's upstream connection pool, measured from outside mcpfwd.

Many downstream sessions on one remote upstream: their POSTs must share at
most ``--upstream-pool-max`` keep-alive TCP connections, reused request after
request; each upstream session may hold one long-lived GET stream of its own
(Streamable HTTP: the optional server stream; legacy SSE: the session's
``GET /sse``), on a dedicated connection that never carries a POST.

Two independent witnesses:
  * /proc/net/tcp, sampled every 10 ms during the load: the ESTABLISHED
    connections accepted by the upstream's port (their client ports);
  * the upstream's own access log (tests/servers/fastmcp_http_server.py): for
    every request its method, session, client port, and when it began/ended.
The upstream keeps idle connections 30 s, so nothing but mcpfwd closes them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import anyio
import pytest
from upstream_helpers import ClientCallbacks, TcpSampler, run_async, sdk_session

pytestmark = pytest.mark.timeout(90)

N_SESSIONS = 12
POOL_MAX = 3
CALLS = 4      # concurrent slow calls per session
SLOW = 0.15    # seconds per slow call


def session_of(q: dict[str, Any]) -> str | None:
    """The upstream session a request belongs to (header, legacy query or SSE endpoint)."""
    if q["sid"]:
        return q["sid"]
    if q["resp_sid"]:
        return q["resp_sid"]
    text = q["endpoint"] or q["query"] or ""
    for part in text.replace("?", "&").split("&"):
        if part.startswith("session_id="):
            return part[len("session_id="):]
    return None


def max_concurrent_ports(reqs: list[dict[str, Any]]) -> int:
    """Most distinct client ports with a request of ``reqs`` in flight at one instant."""
    events = []
    for q in reqs:
        events.append((q["t_begin"], 1, q["port"]))
        events.append((q["t_end"], 0, q["port"]))
    events.sort()  # at equal times an end (0) comes before a begin (1)
    busy: dict[int, int] = defaultdict(int)
    best = 0
    for _, kind, port in events:
        busy[port] += 1 if kind else -1
        if busy[port] == 0:
            del busy[port]
        best = max(best, len(busy))
    return best


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals],
                    key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def run_load(url: str) -> None:
    """N_SESSIONS SDK clients; all initialize, then each runs CALLS slow calls and an
    echo at once; every session stays open until all are done."""
    ready = [0, 0]
    all_ready, all_done = anyio.Event(), anyio.Event()

    async def client(n: int) -> None:
        async with sdk_session("http", url, ClientCallbacks()) as conn:
            s = conn.session
            ready[0] += 1
            if ready[0] == N_SESSIONS:
                all_ready.set()
            await all_ready.wait()
            results: dict[int, str] = {}

            async def slow(i: int) -> None:
                res = await s.call_tool("slow", {"seconds": SLOW})
                results[i] = res.content[0].text

            async def echo() -> None:
                res = await s.call_tool("echo", {"text": f"session {n}"})
                results[-1] = res.content[0].text

            async with anyio.create_task_group() as tg:
                for i in range(CALLS):
                    tg.start_soon(slow, i)
                tg.start_soon(echo)
            assert results == {**{i: f"slept {SLOW}" for i in range(CALLS)}, -1: f"session {n}"}
            ready[1] += 1
            if ready[1] == N_SESSIONS:
                all_done.set()
            await all_done.wait()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for n in range(N_SESSIONS):
                tg.start_soon(client, n)

    run_async(main, timeout=60)


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_pool_bounds_and_reuses_post_connections(transport, fresh_upstreams, listen_proxy):
    srv = fresh_upstreams.fastmcp(transport, "--keep-alive-timeout", "30")
    proxy = listen_proxy("--upstream", srv.url, "--upstream-pool-max", str(POOL_MAX))
    with TcpSampler(srv.port) as sampler:
        run_load(proxy.url)
    # every upstream session ends with its client: its GET stream closes and (Streamable
    # HTTP) it is DELETEd; then the access log is complete
    sessions = {session_of(q) for q in srv.requests() if q["method"] != "GET"} - {None}
    assert len(sessions) == N_SESSIONS, f"expected {N_SESSIONS} upstream sessions: {sessions}"
    if transport == "streamable-http":
        for sid in sessions:
            srv.wait_request(lambda r, sid=sid: r["method"] == "DELETE" and r["sid"] == sid,
                             timeout=10, what=f"DELETE of upstream session {sid}")
    srv.wait_request(lambda r: all(q["t_end"] is not None for q in srv.requests()),
                     timeout=10, what="the end of every request and stream")
    reqs = srv.requests()
    gets = [q for q in reqs if q["method"] == "GET"]
    others = [q for q in reqs if q["method"] != "GET"]
    get_ports = {q["port"] for q in gets}
    post_ports = {q["port"] for q in others}

    # 1. GET streams ride on dedicated connections, never on a pooled one
    assert not get_ports & post_ports, \
        f"connections carried both a GET stream and POSTs: {sorted(get_ports & post_ports)}"

    # 2. POST connections open at once, seen by the kernel, never above the pool size
    assert sampler.samples, "no /proc/net/tcp sample taken"
    post_conns = [len(s - get_ports) for s in sampler.samples]
    assert max(post_conns) <= POOL_MAX, \
        f"{max(post_conns)} POST connections open at once (pool max {POOL_MAX})"
    assert max(len(s) for s in sampler.samples) <= POOL_MAX + N_SESSIONS

    # 3. ... nor as seen by the upstream: requests in flight on distinct connections
    in_flight = max_concurrent_ports(others)
    assert in_flight <= POOL_MAX, f"POSTs in flight on {in_flight} connections at once"
    if transport == "streamable-http":  # calls hold their connection while the tool runs
        assert in_flight >= 2, f"the pool never grew past one connection under load ({in_flight})"

    # 4. connections are reused: far fewer connections than requests
    assert len(post_ports) <= 2 * POOL_MAX, \
        f"{len(others)} POST/DELETE requests used {len(post_ports)} connections"
    assert len(others) >= 10 * len(post_ports), (len(others), len(post_ports))

    # 5. at most one GET stream per upstream session at any time
    by_session: dict[str | None, list[tuple[float, float]]] = defaultdict(list)
    for q in gets:
        by_session[session_of(q)].append((q["t_begin"], q["t_end"]))
    assert None not in by_session, [q for q in gets if session_of(q) is None]
    for sid, spans in by_session.items():
        assert max_overlap(spans) <= 1, f"session {sid} held {max_overlap(spans)} GET streams"
    if transport == "sse":  # the legacy session *is* its GET /sse stream
        assert len(gets) == N_SESSIONS and len(get_ports) == N_SESSIONS, gets
        assert set(by_session) == sessions


@pytest.mark.parametrize("server_options", [
    pytest.param(("streamable-http",), id="sse_answers"),
    pytest.param(("streamable-http", "--json-response"), id="json_answers"),
    pytest.param(("sse",), id="legacy_sse"),
])
@pytest.mark.parametrize(("pool_max", "sessions"), [(2, 3), (3, 5)],
                         ids=lambda v: str(v))
def test_sampling_with_a_small_pool(pool_max, sessions, server_options, fresh_upstreams,
                                    listen_proxy):
    """More sessions than pooled connections, each with a call waiting for its client's
    sampling answer: those answers must still reach the upstream (no deadlock), however
    many requests are queued for a connection meanwhile."""
    srv = fresh_upstreams.fastmcp(*server_options)
    proxy = listen_proxy("--upstream", srv.url, "--upstream-pool-max", str(pool_max))
    tool = "sample_via_get" if "--json-response" in server_options else "sample"
    labels = [chr(ord("A") + i) for i in range(sessions)]
    out: dict[str, str] = {}
    all_ready = anyio.Event()
    ready: list[str] = []

    async def client(label: str) -> None:
        async with sdk_session("http", proxy.url, ClientCallbacks(model=label),
                               read_timeout=8) as conn:
            if tool == "sample_via_get":
                with anyio.fail_after(10):
                    while not (await conn.session.call_tool("get_stream_open", {})
                               ).structured_content["result"]:
                        await anyio.sleep(0.05)
            ready.append(label)
            if len(ready) == len(labels):
                all_ready.set()
            await all_ready.wait()  # every call starts at once
            res = await conn.session.call_tool(tool, {"prompt": label})
            out[label] = res.content[0].text

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for label in labels:
                tg.start_soon(client, label)

    run_async(main, timeout=40)
    assert out == {label: f"{label}: echoed <{label}>" for label in labels}
