"""mcpfwd demo, part 3: a remote upstream, reached over every transport.

    python docs/examples/python/demo_remote.py

Starts the demo notes server as a *remote* MCP server (`demo_server.py --http`:
Streamable HTTP on 127.0.0.1), then `mcpfwd --listen 127.0.0.1:0 --upstream URL`
in front of it (the binary is $MCPFWD_BIN, else `mcpfwd` on PATH). Five official
MCP SDK clients use it at once, one per way in:

- three over Streamable HTTP (mcpfwd's /mcp),
- one over legacy HTTP+SSE (mcpfwd's /sse),
- one over stdio, through `mcpfwd --stdio --upstream URL`, as a desktop host that
  only launches stdio servers would.

Each adds a note and lists the notes. The remote server is one process, so the
clients share its notes; mcpfwd gives each client a session of its own on it
(the server's log shows one new session per client) over pooled keep-alive
connections. Prints mcpfwd's session table (SIGUSR1). Exits 0 on success.

The clients open their sessions with the ``initialize`` handshake
(``mode="legacy"``): the protocol era mcpfwd serves.
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
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client

HERE = Path(__file__).resolve().parent


def find_mcpfwd() -> str:
    env = os.environ.get("MCPFWD_BIN") or shutil.which("mcpfwd")
    if not env:
        sys.exit("demo_remote: mcpfwd not found: set MCPFWD_BIN or put mcpfwd on PATH")
    return env


class Process:
    """A subprocess whose first stdout line is a URL; its stderr collected on a thread."""

    def __init__(self, argv: list[str], what: str) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.proc.kill()
            self.proc.wait(10)
            sys.exit(f"demo_remote: {what} did not start: {self.stderr_text()}")

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def stderr_text(self) -> str:
        with self.lock:
            return "\n".join(self.lines)

    def new_lines(self, start: int) -> list[str]:
        with self.lock:
            return self.lines[start:]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)


async def use(name: str, session: Client, results: dict[str, list[str]],
              done: list[int], all_done: anyio.Event, stay: anyio.Event, n: int) -> None:
    await session.call_tool("add_note", {"title": f"from-{name}", "text": f"written via {name}"})
    listed = await session.call_tool("list_notes", {})
    results[name] = [c.text for c in listed.content if hasattr(c, "text")]
    done[0] += 1
    if done[0] == n:
        all_done.set()
    await stay.wait()  # keep the session open until the table was printed


async def main() -> int:
    mcpfwd = find_mcpfwd()
    server = Process([sys.executable, str(HERE / "demo_server.py"), "--http"], "demo_server")
    print(f"remote MCP server (MCPServer, Streamable HTTP): {server.url}")
    argv = [mcpfwd, "--listen", "127.0.0.1:0", "--log-level", "warn", "--upstream", server.url]
    print("$ " + " ".join(argv))
    proxy = Process(argv, "mcpfwd")
    print(f"mcpfwd listens on {proxy.url} (and {proxy.url[:-4]}/sse for legacy clients)\n")

    results: dict[str, list[str]] = {}
    done = [0]
    all_done, stay = anyio.Event(), anyio.Event()
    n = 5
    common: tuple[Any, ...] = (results, done, all_done, stay, n)

    async def http_client(i: int) -> None:
        async with Client(proxy.url, mode="legacy") as session:
            await use(f"http{i}", session, *common)

    async def legacy_client() -> None:
        async with Client(sse_client(proxy.url[:-4] + "/sse"), mode="legacy") as session:
            await use("sse", session, *common)

    async def stdio_host() -> None:
        params = StdioServerParameters(command=mcpfwd, args=[
            "--stdio", "--log-level", "warn", "--upstream", server.url], env=dict(os.environ))
        async with Client(params, mode="legacy") as session:
            await use("stdio", session, *common)

    t0 = time.monotonic()
    table: list[str] = []
    try:
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(http_client, i)
            tg.start_soon(legacy_client)
            tg.start_soon(stdio_host)
            with anyio.fail_after(60):
                await all_done.wait()
            print(f"{n} clients initialized and used in {time.monotonic() - t0:.2f} s; "
                  "mcpfwd's session table (SIGUSR1):\n")
            start = len(proxy.new_lines(0))
            proxy.proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and len(table) < 4 + 2:
                table = [ln for ln in proxy.new_lines(start)
                         if re.match(r"^(\d+ session\(s\) at |SESSION |[0-9a-f]{32} )", ln)]
                time.sleep(0.05)
            for line in table:
                print("  " + line)
            stay.set()
    finally:
        rc = proxy.stop()
        server.stop()

    print("\n(the stdio client went through its own `mcpfwd --stdio --upstream` process,")
    print(" so it is not in this table)\n\nwhat each client sees (one shared remote server):")
    ok = True
    for name in sorted(results):
        print(f"  {name}: {', '.join(t for t in results[name] if t.startswith('from-'))}")
        ok &= f"from-{name}" in results[name]
    sessions = [ln for ln in server.stderr_text().splitlines()
                if "Created new transport with session ID" in ln]
    print(f"\nthe remote server saw {len(sessions)} sessions opened "
          f"(4 through `mcpfwd --listen` over HTTP and SSE, 1 through `mcpfwd --stdio`)")
    print(f"mcpfwd exit status {rc}")
    ok &= len(results) == n and rc == 0 and len(sessions) == n
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
