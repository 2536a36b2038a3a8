"""Three mcpfwd instances behind HAProxy (packaging/haproxy/haproxy.cfg, docs/scale-out.md).

The recipe runs as written, only its ports changed: Debian's haproxy in front of three
``mcpfwd --node-id nK`` instances on loopback, each spawning tests/servers/echo_node_server.py,
whose ``echo`` answers ``"<node>:<text>"`` ($ECHO_NODE, set per instance with ``--env``), so
every answer says which instance served it. Clients are the MCP Python SDK's (mcp 2.3.0,
``mode="legacy"``: the session era), over Streamable HTTP and legacy HTTP+SSE; stateless-era
requests are raw HTTP.

One run, every loop bounded in time:
 1. stateless era: a tenant's requests (header X-Tenant, ``--stateless-key header:X-Tenant``)
    always meet one instance, and the tenants spread;
 2. 100 sessions open through the balancer and spread over the instances (each instance's
    /sessions agrees with what the clients saw, every id is ``nK.`` + 32 hex digits); each
    keeps calling echo and checks every answer against its own session (node and text);
 3. n2 is killed (SIGKILL): only n2's sessions fail, with mcpfwd's 404 from another instance
    (or with their connection, as the SDK client sees it), and their clients re-initialize
    on n1 or n3; no other session sees an error;
 4. n3 gets SIGTERM while one of its requests is in flight: that request finishes, /readyz
    says 503, HAProxy takes n3 out of the new-session pool, and the sessions opened from then
    on all land on n1; n3 exits 0.

A second test checks --node-id on one instance: bad values refused, the id's form in
Mcp-Session-Id and in the legacy SSE endpoint, 404 for an id naming another node.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from conftest import reap_leftovers
from http_helpers import ACCEPT_BOTH, SseStream, http_request, init_request, wait_until

HERE = Path(__file__).resolve().parent.parent  # tests/python
ROOT = HERE.parent.parent
RECIPE = ROOT / "packaging" / "haproxy" / "haproxy.cfg"
ECHO = [sys.executable, str(HERE.parent / "servers" / "echo_node_server.py")]
NODES = ("n1", "n2", "n3")
SESSIONS = 100
SSE_SESSIONS = 10  # of the 100, over legacy HTTP+SSE (POST /messages?sessionId=...)
MODERN = "2026-07-28"
ID_RX = re.compile(r"^n[123]\.[0-9a-f]{32}$")

pytestmark = pytest.mark.timeout(150)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def haproxy_config(front: int, stats: int, mcp: list[int], admin: list[int]) -> str:
    """The recipe with this run's ports (each replacement must hit, or the recipe changed)."""
    text = RECIPE.read_text()
    subs = [("127.0.0.1:8930", f"127.0.0.1:{front}"), ("127.0.0.1:8404", f"127.0.0.1:{stats}")]
    for i in range(3):
        subs += [(f"127.0.0.1:{8931 + i} ", f"127.0.0.1:{mcp[i]} "),
                 (f"port {9461 + i}", f"port {admin[i]}")]
    for old, new in subs:
        assert old in text, f"{RECIPE} no longer has {old!r}"
        text = text.replace(old, new)
    return text


def stats_rows(stats: int) -> dict[tuple[str, str], str]:
    """HAProxy's server states: (backend, server) -> "UP", "DOWN", ..."""
    r = http_request(f"http://127.0.0.1:{stats}", "GET", path="/;csv", timeout=5)
    assert r.status == 200, r
    rows = csv.DictReader(io.StringIO(r.body.decode().lstrip("# ")))
    return {(row["pxname"], row["svname"]): row["status"] for row in rows
            if row["svname"] not in ("FRONTEND", "BACKEND")}


def listed(admin: str) -> list[dict[str, Any]]:
    r = http_request(admin, "GET", path="/sessions", timeout=5)
    assert r.status == 200, r
    return r.json()


def modern_echo(front: str, tenant: str, text: str) -> str:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": text},
                       "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                                 "io.modelcontextprotocol/clientCapabilities": {},
                                 "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"}}}}
    r = http_request(front, "POST", body, headers={
        "Accept": ACCEPT_BOTH, "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call",
        "Mcp-Name": "echo", "X-Tenant": tenant}, timeout=15)
    assert r.status == 200, r
    return r.response()["result"]["content"][0]["text"]


class Worker:
    """One client: a session through the balancer, calling echo about once a second and
    checking each answer; on an error it records it and re-initializes."""

    def __init__(self, i: int, front: str, sse: bool) -> None:
        self.i, self.front, self.sse = i, front, sse
        self.nodes: list[str] = []          # the node of each session it opened, in order
        self.sse_ids: list[str] = []        # legacy SSE: the session ids announced
        self.failures: list[tuple[str, float, str]] = []  # (node, when, error)
        self.misrouted: list[str] = []
        self.calls = 0
        self.delay_next = 0.0               # the next call's server-side delay (in flight)
        self.slow_done: str | None = None   # the answer to that slow call
        self.open_errors = 0

    def client(self) -> Client:
        if self.sse:
            return Client(sse_client(self.front.replace("/mcp", "/sse"),
                                     on_session_created=self.sse_ids.append), mode="legacy")
        return Client(self.front, mode="legacy")

    async def run(self, stop: anyio.Event, gate: anyio.Semaphore) -> None:
        k = 0
        while not stop.is_set():
            node = None
            try:
                # Structured (async with, not __aenter__/__aexit__ by hand), so the SDK's
                # task groups and cancel scopes nest as anyio requires.
                async with gate:
                    client = self.client()
                    await client.__aenter__()
                async with _Entered(client) as c:
                    r = await c.call_tool("echo", {"text": f"s{self.i}-{k}"})
                    node, _, got = r.content[0].text.partition(":")
                    if got != f"s{self.i}-{k}":
                        self.misrouted.append(f"{r.content[0].text} for s{self.i}-{k}")
                    self.nodes.append(node)
                    k += 1
                    while not stop.is_set():
                        with anyio.move_on_after(1.0):
                            await stop.wait()
                        if stop.is_set():
                            break
                        args: dict[str, Any] = {"text": f"s{self.i}-{k}"}
                        slow = self.delay_next
                        if slow:
                            args["delay"] = slow
                            self.delay_next = 0.0
                        r = await c.call_tool("echo", args)
                        want = f"{node}:s{self.i}-{k}"
                        if r.content[0].text != want:
                            self.misrouted.append(f"{r.content[0].text} != {want}")
                        if slow:
                            self.slow_done = r.content[0].text
                        self.calls += 1
                        k += 1
            except Exception as e:  # noqa: BLE001 - MCPError or a transport error ends it
                if node is None:
                    self.open_errors += 1
                else:
                    what = str(e) if isinstance(e, MCPError) else f"{type(e).__name__}: {e}"
                    self.failures.append((node, time.monotonic(), what))
                await anyio.sleep(0.2)
            except anyio.get_cancelled_exc_class():
                # When its connection breaks, the SDK client at times ends with a bare
                # cancellation of its own instead of an error (seen twice under load, after
                # n2's kill). Left to escape, it would cancel the scenario's task group,
                # which then ends early without an error. Recorded as the session's end; a
                # real cancellation of the scenario comes again at the next await.
                if node is None:
                    self.open_errors += 1
                else:
                    self.failures.append((node, time.monotonic(),
                                          "Connection closed: the SDK client was cancelled"))
                await anyio.sleep(0.2)


class _Entered:
    """An entered Client as an async context manager: its exit gets the real exception."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def __aenter__(self) -> Client:
        return self.client

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.client.__aexit__(*exc)
        except Exception:  # noqa: BLE001 - closing a session already gone
            pass


@pytest.fixture
def haproxy(tmp_path):
    """Factory: haproxy(config_text) -> Popen of ``haproxy -db -f FILE``; stopped at teardown."""
    exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert os.path.exists(exe), "haproxy not found: packaging/install-deps.sh installs it"
    procs: list[subprocess.Popen[bytes]] = []

    def start(config: str) -> subprocess.Popen[bytes]:
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(config)
        check = subprocess.run([exe, "-c", "-f", str(cfg)], capture_output=True, timeout=10)
        assert check.returncode == 0, check.stderr.decode()
        with open(tmp_path / "haproxy.log", "wb") as log:
            p = subprocess.Popen([exe, "-db", "-f", str(cfg)], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def test_three_instances_behind_haproxy(http_proxy, haproxy):
    t_start = time.monotonic()
    front_port, stats_port = free_port(), free_port()
    front = f"http://127.0.0.1:{front_port}/mcp"
    inst, admins = {}, {}
    for n in NODES:
        p = http_proxy(ECHO, "--admin", "127.0.0.1:0", "--node-id", n,
                       "--allow-host", f"127.0.0.1:{front_port}",
                       "--stateless-key", "header:X-Tenant", "--env", f"ECHO_NODE={n}",
                       "--drain-timeout-ms", "10000")
        inst[n] = p
        admins[n] = p.read_line(10).decode().strip()
    haproxy(haproxy_config(front_port, stats_port, [port_of(inst[n].url) for n in NODES],
                           [port_of(admins[n]) for n in NODES]))
    wait_until(lambda: _all_up(stats_port), 15, 0.1, "HAProxy to see every server up")

    # 1. The stateless era: affinity on the isolation key's header.
    by_tenant: dict[str, set[str]] = {}
    for rnd in range(2):
        for t in range(12):
            node, _, text = modern_echo(front, f"t{t}", f"m{t}-{rnd}").partition(":")
            assert text == f"m{t}-{rnd}"
            by_tenant.setdefault(f"t{t}", set()).add(node)
    assert all(len(v) == 1 for v in by_tenant.values()), by_tenant
    assert len(set().union(*by_tenant.values())) >= 2, by_tenant
    for n in NODES:  # each instance holds one stateless instance per tenant it was sent
        keys = {s["key"] for s in listed(admins[n]) if s["kind"] == "stateless"}
        assert keys == {f"X-Tenant: {t}" for t, v in by_tenant.items() if v == {n}}, (n, keys)

    workers = [Worker(i, front, sse=i < SSE_SESSIONS) for i in range(SESSIONS)]

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        stop = anyio.Event()
        gate = anyio.Semaphore(20)  # sessions being opened at once
        async with anyio.create_task_group() as tg:
            for w in workers:
                tg.start_soon(w.run, stop, gate)
            # 2. 100 sessions, spread.
            out["stage"] = "2. 100 sessions, spread"
            await _until(lambda: all(w.nodes for w in workers), 45, "100 sessions open")
            await anyio.sleep(1.5)
            out["spread"] = {n: [s for s in await anyio.to_thread.run_sync(listed, admins[n])
                                 if s["kind"] != "stateless"] for n in NODES}
            out["first_nodes"] = [w.nodes[0] for w in workers]
            # 3. Kill n2.
            out["stage"] = "3. kill n2"
            on_n2 = [w for w in workers if w.nodes[-1] == "n2"]
            killed_at = time.monotonic()
            inst["n2"].child_pids()
            inst["n2"].proc.kill()
            await _until(lambda: all(len(w.nodes) >= 2 for w in on_n2), 20,
                         "n2's clients to re-initialize elsewhere")
            await anyio.sleep(2.0)
            out["killed_at"] = killed_at
            # 4. SIGTERM n3 while one of its requests is in flight.
            out["stage"] = "4. SIGTERM n3"
            on_n3 = [w for w in workers if w.nodes[-1] == "n3"]
            # A Streamable HTTP session's (a legacy SSE session is closed at once by the
            # drain, its request in flight lost: see docs/scale-out.md, Limits).
            slow = next(w for w in on_n3 if not w.sse)
            slow.delay_next = 3.0
            await anyio.sleep(1.3)  # its next call (about 1 s apart) is now in flight
            drained_at = out["drained_at"] = time.monotonic()
            inst["n3"].proc.send_signal(signal.SIGTERM)
            out["readyz_draining"] = await anyio.to_thread.run_sync(_readyz_503, admins["n3"])
            await _until(lambda: _state(stats_port, "new_sessions", "n3").startswith("DOWN"),
                         5, "HAProxy to take n3 out of new_sessions")
            out["pool_down_after"] = time.monotonic() - drained_at
            out["stage"] = "4. late sessions"
            late = [Worker(1000 + i, front, sse=False) for i in range(10)]
            for w in late:
                tg.start_soon(w.run, stop, gate)
            await _until(lambda: all(w.nodes for w in late), 20, "10 late sessions")
            await _until(lambda: slow.slow_done is not None or bool(slow.failures), 10,
                         "the request in flight at SIGTERM to end")
            await _until(lambda: all(len(w.nodes) >= 2 for w in on_n3), 20,
                         "n3's clients to re-initialize elsewhere")
            await anyio.sleep(1.0)
            out["late"] = late
            out["on_n2"], out["on_n3"], out["slow"] = on_n2, on_n3, slow
            stop.set()
        return out

    try:
        out = anyio.run(scenario)
    finally:
        # n2's servers, orphaned when it was killed (they exit on stdin EOF), are ours to reap.
        reap_leftovers(list(inst["n2"].tracked.values()))
    # A worker task ending in a bare CancelledError would cancel the task group and end the
    # scenario early without an error: say so, and where.
    assert "late" in out, f"the scenario ended early, in step {out.get('stage')}"
    every = workers + out["late"]
    assert not [m for w in every for m in w.misrouted], [m for w in every for m in w.misrouted]

    # 2. The spread, as each instance lists it, and the ids' form.
    first = out["first_nodes"]
    for n in NODES:
        ids = [s["id"] for s in out["spread"][n]]
        assert all(ID_RX.match(i) and i.startswith(n + ".") for i in ids), ids
        assert len(ids) == first.count(n), (n, len(ids), first.count(n))
        assert first.count(n) >= SESSIONS // 6, {m: first.count(m) for m in NODES}
    sse_ids = [i for w in workers[:SSE_SESSIONS] for i in w.sse_ids]
    assert sse_ids and all(ID_RX.match(i) for i in sse_ids), sse_ids
    assert {s["kind"] for n in NODES for s in out["spread"][n]} == {"streamable_http",
                                                                    "legacy_sse"}

    # 3. Only n2's (and, after its SIGTERM, n3's) sessions failed; n2's with mcpfwd's 404
    #    from another instance; every client re-initialized on a live instance.
    on_n2, on_n3 = out["on_n2"], out["on_n3"]
    for w in every:
        if w in on_n2 or w in on_n3:
            continue
        assert not w.failures and set(w.nodes) <= {"n1", "n3"}, (w.i, w.nodes, w.failures)
        assert w.calls >= (3 if w in workers else 1), (w.i, w.calls)
    met_404 = 0
    for w in on_n2:
        first_fail = w.failures[0]
        assert first_fail[0] == "n2" and first_fail[1] >= out["killed_at"], w.failures
        # Streamable HTTP: the next request reaches another instance, which answers 404;
        # or the SDK client ends with its connection first (a bare cancellation of its
        # own, seen under ASan, when a response through the balancer is cut). Legacy SSE:
        # the session is its event stream, which ends with the instance.
        if w.sse:
            assert "Connection closed" in first_fail[2], w.failures
        else:
            assert any(e in first_fail[2] for e in ("Session not found", "Connection closed")), \
                w.failures
            met_404 += "Session not found" in first_fail[2]
        assert w.nodes[1] in ("n1", "n3"), w.nodes
    assert on_n2, "no session on n2"
    assert met_404, "no session of n2 met another instance's 404"

    # 4. The SIGTERM'd instance: its request in flight finished, it said not ready, no new
    #    session reached it, and it exited cleanly.
    slow = out["slow"]
    assert slow.slow_done is not None and slow.slow_done.startswith(f"n3:s{slow.i}-"), \
        (slow.slow_done, slow.failures)
    assert out["readyz_draining"], "/readyz never answered 503 while n3 drained"
    assert all(w.nodes == ["n1"] for w in out["late"]), [w.nodes for w in out["late"]]
    for w in on_n3:
        assert w.nodes[-1] == "n1", (w.nodes, w.failures)
    # Every failure of the run: a session of n2 after its kill, or of n3 after its SIGTERM.
    for w in every:
        for node, when, err in w.failures:
            assert (node == "n2" and when >= out["killed_at"]) or \
                (node == "n3" and when >= out["drained_at"]), (w.i, w.nodes, w.failures)
    assert inst["n3"].proc.wait(15) == 0, inst["n3"].stderr_tail()
    assert time.monotonic() - t_start < 90


def _readyz_503(admin: str) -> bool:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if http_request(admin, "GET", path="/readyz", timeout=5).status == 503:
            return True
        time.sleep(0.02)
    return False


def _state(stats: int, backend: str, server: str) -> str:
    try:
        return stats_rows(stats).get((backend, server), "?")
    except (OSError, AssertionError):
        return "?"


def _all_up(stats: int) -> bool:
    try:
        rows = stats_rows(stats)
    except (OSError, AssertionError):
        return False
    return len(rows) == 15 and all(s.startswith("UP") for s in rows.values())


async def _until(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await anyio.sleep(0.05)


def test_node_id_shapes_every_session_id_and_other_nodes_ids_get_404(http_proxy, mcpfwd_bin):
    """--node-id: its checks at startup, the id in Mcp-Session-Id and in the legacy SSE
    endpoint, and an id that names another node (or none) answered 404 "Session not found"."""
    for bad, why in (("a.b", "may hold only letters"), ("", "must be 1 to 32"),
                     ("x" * 33, "must be 1 to 32"), ("é", "may hold only letters")):
        r = subprocess.run([mcpfwd_bin, "--listen", "127.0.0.1:0", "--node-id", bad, "--", "true"],
                           capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        assert r.returncode == 2 and f"--node-id {why}" in r.stderr, (bad, r.stderr)

    proxy = http_proxy(ECHO, "--node-id", "eu-1_a")
    r = http_request(proxy.url, "POST", init_request(), headers={"Accept": ACCEPT_BOTH})
    assert r.status == 200, r
    sid = r.session_id
    assert re.fullmatch(r"eu-1_a\.[0-9a-f]{32}", sid or ""), sid

    with SseStream(proxy.url[: -len("/mcp")] + "/sse", "GET", None,
                   {"Accept": "text/event-stream"}) as st:
        assert st.wait_headers() == 200
        ev = st.next_event()
        assert ev is not None and ev.get("event") == "endpoint", ev
        assert re.fullmatch(r"/messages\?sessionId=eu-1_a\.[0-9a-f]{32}", ev["data"]), ev

    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    ok = http_request(proxy.url, "POST", ping, headers={"Accept": ACCEPT_BOTH,
                                                       "Mcp-Session-Id": sid})
    assert ok.status == 200, ok
    for other in ("n2" + sid[len("eu-1_a"):], sid[len("eu-1_a."):], "eu-1_b" + sid[6:]):
        r = http_request(proxy.url, "POST", ping, headers={"Accept": ACCEPT_BOTH,
                                                          "Mcp-Session-Id": other})
        assert r.status == 404 and "Session not found" in r.body.decode(), (other, r)
        r = http_request(proxy.url, "POST", ping, headers={"Accept": ACCEPT_BOTH},
                         path=f"/messages?sessionId={other}")
        assert r.status == 404, (other, r)
