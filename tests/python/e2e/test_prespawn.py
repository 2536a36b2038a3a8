"""--prespawn N: server processes started before any client asks, one per session.

mcpfwd starts N servers at once (a spawner thread, not an I/O thread); a new session
takes one of them instead of spawning (its server is one of the processes that were
already there), the pool is refilled in the background, no process serves two
sessions, and at shutdown every process, pooled or in use, is killed and reaped
(the http_proxy fixture checks that no child is left and that mcpfwd exits 0).
Descriptors: once a session has ended and the pool is full again, mcpfwd holds as
many as it did with a full pool and no session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from http_helpers import McpHttp, wait_until

from conftest import RAW_SERVER

pytestmark = pytest.mark.timeout(60)


def fd_count(pid: int) -> int:
    """mcpfwd's pipes, pidfds and sockets (an I/O thread's own epoll, eventfd and timerfd
    are made when it first serves a connection: not a leak)."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        n += target.startswith(("pipe:", "socket:", "anon_inode:[pidfd]"))
    return n


def test_sessions_take_prespawned_servers(http_proxy):
    p = http_proxy([sys.executable, str(RAW_SERVER)], "--prespawn", "2")
    pooled = set(p.wait_children(2))  # started before any client
    time.sleep(0.3)  # the spawner has stored both (pipes and pidfd)
    fds_full_pool = fd_count(p.pid)

    a = McpHttp(p.url)
    a.initialize()
    assert a.call("ping")["result"]["method"] == "ping"
    # the pool is refilled: 1 in use + 2 ready, and the two first ones still run
    kids = set(p.wait_children(3))
    assert pooled <= kids, f"a pooled server was lost: {pooled} vs {kids}"
    fresh = kids - pooled
    assert len(fresh) == 1

    # a's server is one of the prespawned: ending a ends exactly one of them
    assert a.delete().status == 200
    wait_until(lambda: len(set(p.child_pids()) & pooled) == 1, timeout=10,
               what="the session's server, one of the prespawned, to exit")
    kids = set(p.wait_children(2))  # the other prespawned one and the fresh one: ready
    assert fresh <= kids
    wait_until(lambda: fd_count(p.pid) == fds_full_pool, timeout=10,
               what=f"mcpfwd's descriptors back to {fds_full_pool} (a full pool, no session)")

    # two sessions at once: two different servers, each its own
    b, c = McpHttp(p.url), McpHttp(p.url)
    b.initialize()
    c.initialize()
    assert b.call("ping")["result"]["method"] == "ping"
    assert c.call("ping")["result"]["method"] == "ping"
    p.wait_children(4)  # 2 sessions + 2 ready
    assert b.delete().status == 200
    p.wait_children(3)
    assert c.call("ping")["result"]["method"] == "ping"  # c's server was not b's

    # shutdown: every server (ready or in use) is killed and reaped
    tracked = list(p.tracked.values())
    assert p.stop() == 0
    left = {t.pid: t.status() for t in tracked if t.status() != "gone"}
    assert not left, f"processes left after shutdown: {left}"


def test_prespawn_refused_with_a_remote_upstream(mcpfwd_bin):
    r = subprocess.run([mcpfwd_bin, "--listen", "127.0.0.1:0", "--prespawn", "2", "--upstream",
                        "http://127.0.0.1:9/mcp"], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "prespawn" in r.stderr


def test_pooled_servers_are_warmed_by_one_ping(http_proxy):
    # Before a pooled process is handed out it has answered one ping (MCP allows a ping
    # before initialize), so the session's first message meets a warm process; the session
    # sees none of it.
    p = http_proxy([sys.executable, str(RAW_SERVER)], "--prespawn", "1", "--log-level", "debug")
    p.wait_stderr(r"prespawn: server pid \d+ pooled \(it answered a ping\)$")
    a = McpHttp(p.url)
    r = a.initialize()
    assert r.response()["id"] == 1, r.response()
    lines = [json.loads(x) for x in a.call("raw/history")["result"]["lines"]]
    assert [m.get("method") for m in lines[:2]] == ["ping", "initialize"], lines
    assert lines[0]["id"] == "mcpfwd-warm-up", lines[0]
    assert "did not answer a ping" not in p.stderr_text()


# A server that exits on a ping before initialize (stricter than MCP asks).
STRICT_SERVER = r"""
import json, sys
ready = False
for line in sys.stdin:
    m = json.loads(line)
    if m.get("method") == "ping" and not ready:
        sys.exit(3)
    if m.get("method") == "initialize":
        ready = True
    if "id" in m and "method" in m:
        res = {"protocolVersion": "2025-06-18", "capabilities": {},
               "serverInfo": {"name": "strict", "version": "1"}} \
            if m["method"] == "initialize" else {}
        print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": res}), flush=True)
"""


def test_a_server_that_refuses_the_warm_up_ping_is_pooled_cold(http_proxy, tmp_path):
    server = tmp_path / "strict_server.py"
    server.write_text(STRICT_SERVER)
    p = http_proxy([sys.executable, str(server)], "--prespawn", "2", "--log-level", "debug")
    p.wait_stderr(r"prespawn: the server did not answer a ping before initialize \(it closed "
                  r"its stdout")
    wait_until(lambda: sum("pooled" in ln for ln in p.stderr_lines()) >= 2, timeout=20,
               what="the pool refilled, without warming")
    assert not any("answered a ping" in ln for ln in p.stderr_lines())
    a = McpHttp(p.url)
    assert a.initialize().response()["result"]["serverInfo"]["name"] == "strict"
    assert a.call("ping")["result"] == {}
    assert len([ln for ln in p.stderr_lines() if "did not answer a ping" in ln]) == 1
