"""Resource limits of the HTTP listener: running out of descriptors."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import time

import pytest
from conftest import assert_no_sanitizer_report
from http_helpers import ACCEPT_BOTH, http_request, init_request, split_url


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.timeout(60)
def test_emfile_in_accept_backs_off_and_recovers(mcpfwd_bin, raw_server_cmd):
    """With a tiny descriptor limit, a flood of connections makes accept()
    fail with EMFILE: mcpfwd logs it, backs off instead of spinning (little
    CPU while the table is full), and serves again once descriptors free up."""
    def low_limit() -> None:  # soft = hard = 48: mcpfwd cannot raise it
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

    # --max-connections above the descriptor limit, so that accept() itself fails (the
    # default, half the descriptor limit, refuses connections before EMFILE)
    proc = subprocess.Popen([mcpfwd_bin, "--listen", "127.0.0.1:0", "--io-threads", "1",
                             "--max-connections", "1000", "--", *raw_server_cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=low_limit)
    socks: list[socket.socket] = []
    try:
        url = proc.stdout.readline().strip()
        host, port, _ = split_url(url)
        for _ in range(80):  # more than the limit: the last ones wait in the backlog
            s = socket.create_connection((host, port), timeout=5)
            socks.append(s)
        time.sleep(1.0)  # let mcpfwd hit EMFILE
        before = cpu_seconds(proc.pid)
        time.sleep(1.0)
        used = cpu_seconds(proc.pid) - before
        assert used < 0.3, f"mcpfwd used {used:.2f} s of CPU in 1 s while at EMFILE: spinning?"
        for s in socks:
            s.close()
        socks.clear()
        deadline = time.monotonic() + 20
        while True:  # the idle connections close, accept() works again
            try:
                r = http_request(url, "POST", json.dumps(init_request()).encode(),
                                 {"Accept": ACCEPT_BOTH, "Content-Type": "application/json"},
                                 timeout=5)
                if r.status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mcpfwd did not recover after EMFILE"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        err = proc.stderr.read()
        assert_no_sanitizer_report(err)
        assert "accept failed: Too many open files" in err, err[-2000:]
    finally:
        for s in socks:
            s.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
