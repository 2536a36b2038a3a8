"""mcpfwd demo, part 2: many MCP clients at once through one proxy.

    python docs/examples/python/demo_http.py [N_CLIENTS]

Starts `mcpfwd --listen 127.0.0.1:0 -- python demo_server.py` (the binary is
$MCPFWD_BIN, else `mcpfwd` on PATH), then N official MCP SDK clients (default
8) connect over Streamable HTTP at the same time. Each gets its own session
and its own demo_server process: each adds notes of its own and then lists the
notes it can see, which shows that sessions are isolated. While every session
is open the demo sends mcpfwd SIGUSR1 and prints the session table mcpfwd
writes on stderr; then the clients leave (DELETE) and the proxy shuts down.
Exits 0 on success.

The clients open their sessions with the ``initialize`` handshake
(``mode="legacy"``): the protocol era mcpfwd serves over HTTP.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
from mcp import Client

HERE = Path(__file__).resolve().parent


def find_mcpfwd() -> str:
    env = os.environ.get("MCPFWD_BIN") or shutil.which("mcpfwd")
    if not env:
        sys.exit("demo_http: mcpfwd not found: set MCPFWD_BIN or put mcpfwd on PATH")
    return env


class Proxy:
    """mcpfwd --listen as a subprocess, its stderr collected on a thread."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            sys.exit(f"demo_http: mcpfwd did not start: {self.stderr_text()}")

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def stderr_text(self) -> str:
        with self.lock:
            return "\n".join(self.lines)

    def session_table(self, n: int, timeout: float = 5.0) -> list[str]:
        """Ask for the table (SIGUSR1) and return its header and rows."""
        with self.lock:
            start = len(self.lines)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                new = self.lines[start:]
            table = [ln for ln in new if re.match(r"^(\d+ session\(s\) at |SESSION |[0-9a-f]{32} )", ln)]
            if len(table) >= n + 2:
                return table
            time.sleep(0.05)
        sys.exit("demo_http: no session table on stderr")


async def client(n: int, url: str, ready: anyio.Event, all_ready: anyio.Event,
                 counter: list[int], n_clients: int, seen: dict[int, list[str]]) -> None:
    async with Client(url, mode="legacy") as session:
        for i in range(3):
            await session.call_tool("add_note", {"title": f"client{n}-note{i}",
                                                 "text": f"written by client {n}"})
        listed = await session.call_tool("list_notes", {})
        seen[n] = [c.text for c in listed.content if hasattr(c, "text")]
        counter[0] += 1
        if counter[0] == n_clients:
            all_ready.set()
        await ready.wait()  # stay connected until the table was printed


async def main(n_clients: int) -> int:
    server = [sys.executable, str(HERE / "demo_server.py")]
    argv = [find_mcpfwd(), "--listen", "127.0.0.1:0", "--log-level", "warn", "--", *server]
    print("$ " + " ".join(argv))
    proxy = Proxy(argv)
    print(f"\nmcpfwd listens on {proxy.url}; {n_clients} MCP clients connect at once\n")
    ready, all_ready = anyio.Event(), anyio.Event()
    counter = [0]
    seen: dict[int, list[str]] = {}
    t0 = time.monotonic()
    try:
        async with anyio.create_task_group() as tg:
            for n in range(n_clients):
                tg.start_soon(client, n, proxy.url, ready, all_ready, counter, n_clients, seen)
            with anyio.fail_after(60):
                await all_ready.wait()
            elapsed = time.monotonic() - t0
            table = proxy.session_table(n_clients)
            print(f"all {n_clients} sessions initialized and used in {elapsed:.2f} s; "
                  "mcpfwd's session table (SIGUSR1):\n")
            for line in table:
                print("  " + line)
            ready.set()
    finally:
        proxy.proc.send_signal(signal.SIGTERM)
        rc = proxy.proc.wait(20)

    print("\nwhat each client sees (its own server process, so only its own notes):")
    ok = True
    for n in sorted(seen):
        mine = [t for t in seen[n] if t.startswith("client")]
        isolated = all(t.startswith(f"client{n}-") for t in mine) and len(mine) == 3
        ok &= isolated
        print(f"  client {n}: {', '.join(mine)}  {'(isolated)' if isolated else '(LEAK!)'}")
    pids = {ln.split()[2] for ln in table if re.match(r"^[0-9a-f]{32} ", ln)}
    print(f"\n{len(pids)} distinct upstream pids for {n_clients} sessions; mcpfwd exit status {rc}")
    ok &= len(pids) == n_clients and rc == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 8))
