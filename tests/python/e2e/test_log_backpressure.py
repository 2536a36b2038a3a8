"""Logging never blocks an I/O thread.

mcpfwd's stderr goes to a pipe that nobody reads, and one session's server floods its own
stderr, which mcpfwd relays line by line; another session's server writes a few lines per
call. mcpfwd's log lines wait in a bounded queue
(1 MiB) written by a thread of their own; what does not fit is dropped and counted. So the
flood neither stalls the I/O threads nor grows the proxy's memory: another session's calls
keep being answered promptly, and so is the flooding session. Once the pipe is read again,
the lines come out followed by "mcpfwd: warn: N log lines dropped", and the count is in the
SIGUSR1 table.
"""

from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
import threading
import time

import pytest
from http_helpers import URL_RX, McpHttp

from conftest import LOG_DROPPED_RX, RAW_SERVER, sanitizer_digest

pytestmark = pytest.mark.timeout(120)

def read_line(stream, timeout: float) -> bytes:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"no line within {timeout}s"
    return stream.readline()


def test_an_unread_stderr_stalls_no_session(mcpfwd_bin):
    proc = subprocess.Popen([mcpfwd_bin, "--listen", "127.0.0.1:0", "--io-threads", "2",
                             "--", sys.executable, str(RAW_SERVER)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    lines: list[str] = []
    drain: threading.Thread | None = None
    try:
        assert proc.stdout is not None and proc.stderr is not None
        url = read_line(proc.stdout, 15).decode().strip()
        assert URL_RX.match(url), url

        chatty = McpHttp(url)
        chatty.initialize()
        flood_answer: list[object] = []
        # 40,000 lines of 230 bytes (9 MiB) relayed to a stderr pipe that holds 64 KiB
        flood = threading.Thread(target=lambda: flood_answer.append(
            chatty.call("raw/stderr", {"lines": 40000, "width": 200}, timeout=60)), daemon=True)
        flood.start()
        time.sleep(1.0)  # long enough to fill mcpfwd's stderr pipe many times over

        other = McpHttp(url)
        t0 = time.monotonic()
        other.initialize()  # its server's "ready" line and "session opened" are logged too
        assert time.monotonic() - t0 < 5, "initialize took too long"
        slowest = 0.0
        for _ in range(20):  # a server that logs a little, as most do
            t = time.monotonic()
            assert other.call("raw/stderr", {"lines": 3}, timeout=5)["result"]["method"] \
                == "raw/stderr"
            slowest = max(slowest, time.monotonic() - t)
        assert slowest < 2, f"a ping took {slowest:.2f} s"
        flood.join(60)
        assert flood_answer, "the flooding session got no answer"

        # Now read the pipe: the queued lines come out, then the drop notice.
        cond = threading.Condition()

        def pump() -> None:
            assert proc.stderr is not None
            for raw in iter(proc.stderr.readline, b""):
                with cond:
                    lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    cond.notify_all()

        drain = threading.Thread(target=pump, daemon=True)
        drain.start()

        def wait_line(rx: re.Pattern[str], timeout: float = 15) -> re.Match[str]:
            deadline = time.monotonic() + timeout
            with cond:
                while True:
                    for ln in lines:
                        m = rx.search(ln)
                        if m:
                            return m
                    left = deadline - time.monotonic()
                    assert left > 0, f"no stderr line matching {rx.pattern!r}; tail: {lines[-5:]}"
                    cond.wait(left)

        dropped = int(wait_line(LOG_DROPPED_RX).group(1))
        assert dropped > 1000, dropped  # most of 40,000 lines could not fit
        relayed = sum(1 for ln in list(lines) if ln.startswith("server: raw_server: wide line"))
        assert 0 < relayed < 40000
        assert relayed * 230 <= 2 * (1 << 20) + 64 * 1024  # bounded, in bytes

        proc.send_signal(signal.SIGUSR1)
        table = wait_line(re.compile(r"^2 session\(s\) at \S+, (\d+) log lines dropped"))
        assert int(table.group(1)) >= dropped
        assert other.call("ping")["result"]["method"] == "ping"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        if drain is None:  # never got to read: unblock it now
            drain = threading.Thread(target=lambda: proc.stderr and proc.stderr.read(),
                                     daemon=True)
            drain.start()
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait(10)
        drain.join(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert rc == 0, f"mcpfwd exited with {rc}"
    reports = sanitizer_digest(lines)
    assert not reports, "\n".join(reports)
