"""When a session ends, its server's whole process group ends: grandchildren included.

The server command is ``sh -c 'sleep 300 & exec python3 raw_server.py'``: the shell is
spawned by mcpfwd as the leader of a new process group, starts a ``sleep`` in that group,
then becomes the server. The server exits on stdin EOF and mcpfwd reaps it; the ``sleep``
must not live on. In the ``ignores-sigterm`` variant the shell first runs ``trap '' TERM``,
so the sleep (and the server) ignore SIGTERM and only the follow-up SIGKILL, after the
shutdown grace, ends the sleep; at proxy shutdown that SIGKILL is sent at once.

Every end of a session is covered: DELETE, idle reaping, proxy shutdown (HTTP), client EOF
and the server exiting first (stdio). A process of the group counts as gone once it is
gone or a zombie (this test process is a child subreaper: an orphaned sleep becomes its
child, and is reaped here).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest
from http_helpers import McpHttp, wait_until

from conftest import RAW_SERVER

pytestmark = pytest.mark.timeout(60)

SPAWN_SLEEP = 'sleep 300 & exec "$0" "$@"'
VARIANTS = {
    "plain": SPAWN_SLEEP,
    "ignores-sigterm": "trap '' TERM; " + SPAWN_SLEEP,
}


def grouped_server(variant: str) -> list[str]:
    return ["sh", "-c", VARIANTS[variant], sys.executable, str(RAW_SERVER)]


def group_members(pgid: int) -> dict[int, str]:
    """{pid: state} of every process whose process group is pgid."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        rest = data[data.rindex(")") + 2:].split()
        if int(rest[2]) == pgid:
            found[int(entry)] = rest[0]
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return "?"


def live_members(pgid: int) -> list[int]:
    """The members that are not zombies; zombies that are our own children are reaped."""
    live = []
    for pid, state in group_members(pgid).items():
        if state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        else:
            live.append(pid)
    return live


@pytest.fixture
def groups():
    """A list to add the process groups a test watches; whatever is left is killed."""
    watched: list[int] = []
    yield watched
    for pgid in watched:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.monotonic() + 5
        while live_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)


def wait_group_started(pgid: int) -> None:
    """The leader (now the server) and the sleep are both running."""
    wait_until(lambda: len(live_members(pgid)) >= 2, timeout=10,
               what=f"the server and its sleep in process group {pgid}")


def assert_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = live_members(pgid)
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"process group {pgid} outlived its session: "
                                 f"{ {p: cmdline(p) for p in left} }")
        time.sleep(0.05)


# ------------------------------------------------------------------ HTTP mode


def open_session(p, groups) -> tuple[McpHttp, int]:
    s = McpHttp(p.url)
    s.initialize()
    leader = p.wait_children(1)[0]
    groups.append(leader)
    wait_group_started(leader)
    return s, leader


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_delete_ends_the_group(http_proxy, groups, variant):
    p = http_proxy(grouped_server(variant), "--shutdown-grace-ms", "500")
    s, leader = open_session(p, groups)
    assert s.delete().status == 200
    assert_group_gone(leader, timeout=6)
    if variant == "ignores-sigterm":  # the sleep ignored SIGTERM: the SIGKILL came on time
        p.wait_stderr(rf"process group {leader} outlived its server by 500 ms: sent SIGKILL")
    assert p.proc.poll() is None  # the proxy goes on
    s2, leader2 = open_session(p, groups)  # and serves new sessions
    assert s2.call("ping")["result"]["method"] == "ping"


def test_idle_reap_ends_the_group(http_proxy, groups):
    p = http_proxy(grouped_server("plain"), "--idle-timeout-ms", "400", "--shutdown-grace-ms",
                   "500")
    _, leader = open_session(p, groups)
    p.wait_stderr(r"idle for", timeout=10)
    assert_group_gone(leader, timeout=6)
    assert p.proc.poll() is None


def test_proxy_shutdown_kills_the_group_without_waiting_for_the_grace(http_proxy, groups):
    # The grace is long; mcpfwd must not wait it out before the group's SIGKILL.
    p = http_proxy(grouped_server("ignores-sigterm"), "--shutdown-grace-ms", "20000")
    _, leader = open_session(p, groups)
    t0 = time.monotonic()
    assert p.stop(15) == 0
    assert time.monotonic() - t0 < 8
    assert_group_gone(leader, timeout=2)


# ------------------------------------------------------------------ stdio mode


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_stdio_eof_ends_the_group(start_proxy, groups, variant):
    p = start_proxy(grouped_server(variant), "--shutdown-grace-ms", "20000")
    assert p.request("ping", msg_id=1)["result"]["method"] == "ping"
    leader = p.wait_child()
    groups.append(leader)
    wait_group_started(leader)
    t0 = time.monotonic()
    p.close_stdin()
    assert p.wait(15) == 0
    assert time.monotonic() - t0 < 8  # the exit does not wait out the grace either
    assert_group_gone(leader, timeout=2)


def test_stdio_server_exiting_first_ends_the_group(start_proxy, groups):
    p = start_proxy(grouped_server("plain"), "--shutdown-grace-ms", "500")
    assert p.request("ping", msg_id=1)["result"]["method"] == "ping"
    leader = p.wait_child()
    groups.append(leader)
    wait_group_started(leader)
    p.send_json({"jsonrpc": "2.0", "id": 2, "method": "raw/exit", "params": {"code": 3}})
    assert p.wait(15) == 3
    assert_group_gone(leader, timeout=2)
