"""Process lifecycle of ``mcpfwd --stdio``: startup, shutdown, crashes, signals,
stderr, stats, process groups and file descriptors.

Timing assertions are lower bounds (mcpfwd must wait the grace period) or
generous upper bounds; no test depends on precise scheduling.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
from conftest import LOG_DROPPED_RX, assert_no_sanitizer_report

pytestmark = pytest.mark.timeout(30)

INIT_PARAMS = {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "mcpfwd-tests", "version": "0"}}


def rpc(method, params=None, msg_id=1):
    req = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        req["params"] = params
    return json.dumps(req, separators=(",", ":"))


INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}'


def started(p, msg_id=1):
    """One round trip (so the upstream is surely up); return the upstream's pid."""
    resp = p.request("echo", {"hello": 1}, msg_id=msg_id)
    assert resp["result"]["params"] == {"hello": 1}
    return p.wait_child()


# --------------------------------------------------------------------------
# orderly shutdown


def test_client_eof_clean_exit(start_proxy, raw_server_cmd):
    p = start_proxy(raw_server_cmd)
    child = started(p)
    p.close_stdin()
    assert p.read_eof() == []
    assert p.wait() == 0
    p.assert_children_gone()
    assert any(ln == "server: raw_server: stdin closed" for ln in p.stderr_lines()), \
        "the server's stdin was not closed (or its stderr not relayed)"
    assert p.stats()["upstream_pid"] == child


def test_eof_exit_does_not_wait_the_whole_grace(start_proxy, raw_server_cmd):
    """The grace period is an upper bound: a server that exits on EOF ends the session at once."""
    p = start_proxy(raw_server_cmd, "--shutdown-grace-ms", "8000")
    started(p)
    t0 = time.monotonic()
    p.close_stdin()
    assert p.wait(15) == 0
    elapsed = time.monotonic() - t0
    assert elapsed < 4.0, f"mcpfwd took {elapsed:.1f}s to exit although its server exited at EOF"
    p.assert_children_gone()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_to_mcpfwd_clean_exit(start_proxy, raw_server_cmd, sig):
    p = start_proxy(raw_server_cmd, "--shutdown-grace-ms", "500")
    started(p)
    p.signal(sig)
    assert p.wait() == 0
    p.assert_children_gone()


def test_sigkill_escalation_for_stubborn_server(start_proxy, raw_server_cmd):
    """A server ignoring EOF and SIGTERM is SIGKILLed after about 2x the grace period."""
    p = start_proxy([*raw_server_cmd, "--ignore-eof", "--ignore-sigterm"],
                    "--shutdown-grace-ms", "200")
    started(p)
    t0 = time.monotonic()
    p.close_stdin()
    assert p.wait(15) == 0
    elapsed = time.monotonic() - t0
    p.assert_children_gone()
    assert elapsed >= 0.35, f"exited after {elapsed:.2f}s: the grace periods were not honoured"


def test_sigterm_ends_server_that_ignores_eof(start_proxy, raw_server_cmd):
    p = start_proxy([*raw_server_cmd, "--ignore-eof"], "--shutdown-grace-ms", "200")
    started(p)
    t0 = time.monotonic()
    p.close_stdin()
    assert p.wait(15) == 0
    assert time.monotonic() - t0 >= 0.15
    p.assert_children_gone()


def test_sigterm_to_mcpfwd_with_stubborn_server(start_proxy, raw_server_cmd):
    p = start_proxy([*raw_server_cmd, "--ignore-eof", "--ignore-sigterm"],
                    "--shutdown-grace-ms", "200")
    started(p)
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0
    p.assert_children_gone()


# --------------------------------------------------------------------------
# the server ends first


def test_server_exit_fails_every_in_flight_request(start_proxy, raw_server_cmd):
    p = start_proxy(raw_server_cmd)
    child = started(p)
    p.send(rpc("raw/hold", msg_id=10))
    p.send(rpc("raw/hold", msg_id="abc"))
    p.send(rpc("raw/exit", {"code": 3}, msg_id=12))
    errors = [p.read_json() for _ in range(3)]
    assert sorted(map(str, (e["id"] for e in errors))) == ["10", "12", "abc"]
    for e in errors:
        assert e == {"jsonrpc": "2.0", "id": e["id"], "error": {
            "code": -32000, "message": "upstream server exited with status 3 before responding"}}
    assert {type(e["id"]) for e in errors} == {int, str}
    assert p.read_eof() == []
    assert p.wait() == 3
    p.assert_children_gone()
    stats = p.stats()
    assert stats["upstream_pid"] == child and stats["exit_code"] == 3, stats


def test_responses_drained_after_client_eof(start_proxy, raw_server_cmd):
    """Answers the server writes after the client's EOF still reach the client."""
    p = start_proxy(raw_server_cmd)
    n = 200
    p.send("\n".join(rpc("echo", {"i": i}, msg_id=i) for i in range(n)))
    p.close_stdin()
    lines = p.read_eof()
    assert [json.loads(ln)["id"] for ln in lines] == list(range(n))
    assert p.wait() == 0
    p.assert_children_gone()


def test_server_stderr_without_final_newline(start_proxy):
    p = start_proxy(["/bin/sh", "-c", "printf 'first line\\nlast words without newline' >&2; exec cat"])
    p.wait_stderr("^server: first line$")
    p.close_stdin()
    assert p.wait() == 0
    assert "server: last words without newline" in p.stderr_lines(), p.stderr_tail()


def test_very_long_server_stderr_line(start_proxy, raw_server_cmd):
    """A 2 MB stderr line neither blocks nor kills the session."""
    p = start_proxy(raw_server_cmd)
    resp = p.request("raw/stderr", {"lines": 2, "width": 2 * 1024 * 1024}, msg_id=1, timeout=20)
    assert resp["result"]["seq"] == 1
    started(p, msg_id=2)
    p.close_stdin()
    assert p.wait() == 0
    # each long line shows up in some form (mcpfwd may cut it: bounded buffering)
    relayed = [ln for ln in p.stderr_lines()
               if ln.startswith("server: ") and not ln.startswith("server: raw_server: pid ")
               and ln != "server: raw_server: stdin closed"]
    assert len(relayed) >= 2, p.stderr_tail()
    assert max(len(ln) for ln in p.stderr_lines()) < 4 * 1024 * 1024


def test_exit_after_n_requests(start_proxy, raw_server_cmd):
    p = start_proxy([*raw_server_cmd, "--exit-after", "2", "--exit-code", "5"])
    started(p)
    p.send(rpc("echo", msg_id=2))
    assert p.read_json() == {"jsonrpc": "2.0", "id": 2, "error": {
        "code": -32000, "message": "upstream server exited with status 5 before responding"}}
    assert p.wait() == 5
    p.assert_children_gone()


def test_server_exit_status_zero_mid_call_gives_exit_1(start_proxy, raw_server_cmd):
    p = start_proxy(raw_server_cmd)
    started(p)
    p.send(rpc("raw/exit", {"code": 0}, msg_id=7))
    assert p.read_json()["error"] == {
        "code": -32000, "message": "upstream server exited with status 0 before responding"}
    assert p.wait() == 1
    p.assert_children_gone()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV],
                         ids=["SIGKILL", "SIGTERM", "SIGSEGV"])
def test_server_killed_by_signal(start_proxy, raw_server_cmd, sig):
    p = start_proxy(raw_server_cmd)
    started(p)
    p.send(rpc("raw/kill", {"signal": int(sig)}, msg_id=8))
    assert p.read_json()["error"] == {
        "code": -32000, "message": f"upstream server was killed by signal {int(sig)} ({sig.name}) before responding"}
    assert p.wait() == 128 + int(sig)
    p.assert_children_gone()


def test_fastmcp_server_crash_mid_call(start_proxy, fastmcp_server_cmd):
    p = start_proxy(fastmcp_server_cmd)
    init = p.request("initialize", INIT_PARAMS, msg_id=0)
    assert init["result"]["serverInfo"]["name"] == "mcpfwd-test-server"
    p.send(INITIALIZED)
    p.wait_child()
    p.send(rpc("tools/call", {"name": "exit_now", "arguments": {"code": 3}}, msg_id=1))
    assert p.read_json() == {"jsonrpc": "2.0", "id": 1, "error": {
        "code": -32000, "message": "upstream server exited with status 3 before responding"}}
    assert p.wait() == 3
    p.assert_children_gone()


@pytest.mark.parametrize("code,expected", [(4, 4), (0, 1)])
def test_idle_server_exit_ends_mcpfwd(start_proxy, code, expected):
    p = start_proxy(["/bin/sh", "-c", f"sleep 0.2; exit {code}"])
    assert p.read_eof() == []
    assert p.wait() == expected
    p.assert_children_gone()


# --------------------------------------------------------------------------
# stderr


def test_stderr_flood_does_not_block_the_server(start_proxy, raw_server_cmd):
    n = 20000
    p = start_proxy([*raw_server_cmd, "--stderr-lines", "5000"])
    resp = p.request("raw/stderr", {"lines": n}, msg_id=1, timeout=20)
    assert resp["result"]["seq"] == 1
    started(p, msg_id=2)  # and it goes on answering
    p.wait_stderr_accounted(("server: raw_server: stderr line ",
                             "server: raw_server: startup stderr"), n + 5000)
    lines = p.stderr_lines()
    relayed = [ln for ln in lines if ln.startswith("server: raw_server: stderr line ")]
    startup = [ln for ln in lines if ln.startswith("server: raw_server: startup stderr")]
    # mcpfwd's own standard error is a bounded queue: a reader slower than the flood loses
    # lines, and mcpfwd says how many ("N log lines dropped"). Every line is accounted for,
    # and those relayed are in order.
    dropped = sum(int(m.group(1)) for ln in lines if (m := LOG_DROPPED_RX.match(ln)))
    numbers = [int(ln.split()[4]) for ln in relayed]
    assert numbers == sorted(set(numbers)), "lines duplicated or reordered"
    assert len(relayed) + len(startup) + dropped >= n + 5000, (len(relayed), len(startup), dropped)
    if not dropped:
        assert numbers == list(range(n)) and len(startup) == 5000, "lines lost"
    assert any(ln.startswith("server: raw_server: pid ") for ln in p.stderr_lines())


def test_fastmcp_stderr_spam(start_proxy, fastmcp_server_cmd):
    p = start_proxy(fastmcp_server_cmd)
    p.request("initialize", INIT_PARAMS, msg_id=0)
    p.send(INITIALIZED)
    resp = p.request("tools/call", {"name": "stderr_spam", "arguments": {"lines": 20000}},
                     msg_id=1, timeout=20)
    assert resp["result"]["isError"] is False
    p.wait_stderr_accounted(("server: stderr_spam line ",), 20000)
    assert p.request("ping", msg_id=2)["result"] == {}


# --------------------------------------------------------------------------
# stats


def test_stats_line_counts(start_proxy, raw_server_cmd):
    p = start_proxy(raw_server_cmd)
    sent = [rpc("echo", {"i": i}, msg_id=i) for i in range(1, 4)]
    sent.append('{"jsonrpc":"2.0","method":"notifications/something","params":{"x":"ü"}}')
    received = []
    for line in sent[:3]:
        p.send(line)
        received.append(p.read_line())
    p.send(sent[3])
    child = p.wait_child()
    p.close_stdin()
    assert p.read_eof() == []
    assert p.wait() == 0
    stats = p.stats()
    assert stats["upstream_pid"] == child
    assert stats["exit_code"] == 0
    assert isinstance(stats["state"], str)
    assert stats["client_to_server"] == {
        "messages": 4, "bytes": sum(len(s.encode()) + 1 for s in sent)}
    assert stats["server_to_client"] == {
        "messages": 3, "bytes": sum(len(r) for r in received)}
    assert stats["error_counts"] == {"parse": 0, "invalid": 0, "oversize": 0, "server_invalid": 0,
                                     "server_oversize": 0, "timeouts": 0}
    assert stats["errors"] == 0
    assert stats["in_flight"] == 0


def test_stats_in_flight_when_server_dies(start_proxy, raw_server_cmd):
    p = start_proxy(raw_server_cmd)
    started(p)
    p.send(rpc("raw/hold", msg_id=2))
    p.send(rpc("raw/exit", {"code": 9}, msg_id=3))
    assert {p.read_json()["id"] for _ in range(2)} == {2, 3}
    assert p.wait() == 9
    stats = p.stats()
    assert stats["exit_code"] == 9
    assert stats["client_to_server"]["messages"] == 3


# --------------------------------------------------------------------------
# spawning


@pytest.mark.parametrize("kind", ["missing", "not-executable"])
def test_spawn_failure(start_proxy, tmp_path, kind):
    command = str(tmp_path / "mcp-server-xyz")
    if kind == "not-executable":
        with open(command, "w") as f:
            f.write("#!/bin/sh\necho hi\n")
        os.chmod(command, 0o644)
    p = start_proxy([command, "--flag"])
    rc = p.wait(10)
    assert rc != 0 and rc > 0, rc
    errors = [ln for ln in p.stderr_lines() if ln.startswith("mcpfwd: error: ")]
    assert errors, f"no 'mcpfwd: error:' line; stderr:\n{p.stderr_tail()}"
    assert any(command in ln for ln in errors), f"the error should name {command}: {errors}"
    assert p.read_eof() == []


def test_spawn_failure_bare_name_not_on_path(start_proxy):
    p = start_proxy(["mcpfwd-no-such-command-anywhere"])
    assert p.wait(10) > 0
    assert any(ln.startswith("mcpfwd: error: ") and "mcpfwd-no-such-command-anywhere" in ln
               for ln in p.stderr_lines()), p.stderr_tail()


def test_command_found_on_path(start_proxy):
    """COMMAND without a slash is looked up on PATH (execvp semantics)."""
    p = start_proxy(["cat"], env={**os.environ, "PATH": "/usr/bin:/bin"})
    line = '{"jsonrpc":"2.0","method":"notifications/x","params":{}}'
    p.send(line)  # cat echoes it back: a server -> client notification
    assert p.read_line() == line.encode() + b"\n"
    p.close_stdin()
    assert p.wait() == 0


def test_child_in_own_process_group(start_proxy, raw_server_cmd):
    p = start_proxy(raw_server_cmd)
    child = started(p)
    assert os.getpgid(child) == child
    assert os.getpgid(p.pid) != child
    assert os.getpgid(child) != os.getpgid(p.pid)


def test_child_inherits_only_stdio_fds(start_proxy, raw_server_cmd):
    p = start_proxy(raw_server_cmd)
    started(p)
    fds = p.request("raw/fds", msg_id=2)["result"]["fds"]
    assert sorted(fds, key=int) == ["0", "1", "2"], fds


def test_child_fds_seen_from_outside(start_proxy):
    p = start_proxy(["/bin/cat"])
    p.send('{"jsonrpc":"2.0","method":"notifications/x"}')
    p.read_line()
    child = p.wait_child()
    fds = sorted(int(x) for x in os.listdir(f"/proc/{child}/fd"))
    assert fds == [0, 1, 2], {fd: os.readlink(f"/proc/{child}/fd/{fd}") for fd in fds}
    p.close_stdin()
    assert p.wait() == 0


def test_mcpfwd_does_not_leak_fds(start_proxy, raw_server_cmd):
    p = start_proxy(raw_server_cmd, "--max-message-bytes", "2048")
    started(p)
    before = len(os.listdir(f"/proc/{p.pid}/fd"))
    for i in range(200):
        p.send(rpc("echo", {"i": i}, msg_id=i + 10))
        assert p.read_json()["id"] == i + 10
        if i % 20 == 0:
            for bad in ("{", "[]", "x" * 3000):
                p.send(bad)
                assert "error" in p.read_json()
    p.request("raw/stderr", {"lines": 500}, msg_id=1)
    after = len(os.listdir(f"/proc/{p.pid}/fd"))
    assert after <= before + 1, f"mcpfwd fd count grew from {before} to {after}"
    p.close_stdin()
    assert p.wait() == 0
    p.assert_children_gone()


# --------------------------------------------------------------------------
# command line


def test_version(run_process, mcpfwd_bin):
    p = run_process([mcpfwd_bin, "--version"])
    assert p.wait(10) == 0
    text = b"".join(p.read_eof()).decode() + "\n".join(p.stderr_lines())
    assert any(ch.isdigit() for ch in text), f"--version printed no version: {text!r}"


def test_help(run_process, mcpfwd_bin):
    p = run_process([mcpfwd_bin, "--help"])
    assert p.wait(10) == 0
    text = b"".join(p.read_eof()).decode() + "\n".join(p.stderr_lines())
    for opt in ("--stdio", "--max-message-bytes", "--shutdown-grace-ms", "--log-level"):
        assert opt in text, f"--help does not mention {opt}"


@pytest.mark.parametrize("args", [
    ["--stdio", "--no-such-option", "--", "/bin/cat"],
    ["--stdio", "--log-level", "loud", "--", "/bin/cat"],
    ["--stdio", "--max-message-bytes", "lots", "--", "/bin/cat"],
    ["--stdio", "--"],
], ids=["unknown-option", "bad-log-level", "bad-size", "no-command"])
def test_bad_command_line(run_process, mcpfwd_bin, args):
    p = run_process([mcpfwd_bin, *args])
    assert p.wait(10) > 0
    assert p.read_eof() == [], "usage errors belong on stderr"
    assert p.stderr_lines(), "a usage error must say what is wrong"


def test_log_level_off_is_silent(start_proxy, raw_server_cmd):
    p = start_proxy([*raw_server_cmd, "--noise", "junk"], "--log-level", "off")
    started(p)
    p.close_stdin()
    assert p.wait() == 0
    own = [ln for ln in p.stderr_lines() if ln.startswith("mcpfwd:")]
    assert own == [], own


def test_log_level_warn_hides_info(start_proxy, raw_server_cmd):
    p = start_proxy([*raw_server_cmd, "--noise", "junk"], "--log-level", "warn")
    started(p)
    p.close_stdin()
    assert p.wait() == 0
    lines = p.stderr_lines()
    assert any(ln.startswith("mcpfwd: warn: ") for ln in lines), lines
    assert not any(ln.startswith(("mcpfwd: info: ", "mcpfwd: debug: ", "mcpfwd: trace: "))
                   for ln in lines), lines


def test_trace_logging_never_touches_stdout(start_proxy, raw_server_cmd):
    p = start_proxy(raw_server_cmd, "--log-level", "trace")
    for i in range(5):
        assert p.request("echo", {"i": i}, msg_id=i)["result"]["params"] == {"i": i}
    p.close_stdin()
    assert p.read_eof() == []
    assert p.wait() == 0
    for ln in p.stderr_lines():
        assert ln.startswith(("mcpfwd: ", "server: ")), ln


def test_client_closing_its_output_ends_the_session(mcpfwd_bin, raw_server_cmd):
    """A host that closes mcpfwd's stdout but not its stdin: the failed write
    (EPIPE) ends the session instead of leaving it running unseen."""
    import subprocess
    proc = subprocess.Popen([mcpfwd_bin, "--stdio", "--shutdown-grace-ms", "300", "--",
                             *raw_server_cmd],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.stdout.close()  # the client stops reading
        proc.stdin.write((rpc("echo", {"x": 1}) + "\n").encode())
        proc.stdin.flush()
        assert proc.wait(timeout=15) == 0
        err = proc.stderr.read().decode()
        assert_no_sanitizer_report(err)
        assert "cannot write to the client" in err
        stats = json.loads(err.split("mcpfwd: info: session stats: ", 1)[1].splitlines()[0])
        assert stats["state"] == "closed"
        assert stats["upstream_exit"] is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stderr.close()


def test_proxy_replies_and_upstream_exit_in_stats(start_proxy, raw_server_cmd):
    """mcpfwd's own error answers are counted apart from forwarded server
    traffic, and the stats name how the server ended."""
    p = start_proxy(raw_server_cmd)
    p.send("not json")
    assert p.read_json()["error"]["code"] == -32700
    p.send('{"jsonrpc":"2.0","id":5}')
    assert p.read_json()["error"]["code"] == -32600
    p.close_stdin()
    assert p.wait() == 0
    stats = p.stats()
    assert stats["proxy_replies"] == 2
    assert stats["server_to_client"] == {"messages": 0, "bytes": 0}
    assert stats["upstream_exit"] == "exited with status 0"
