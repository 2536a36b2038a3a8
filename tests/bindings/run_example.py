"""Run one example of docs/bindings.md against a real MCP server and a real MCP client.

    python3 run_example.py EXAMPLE_COMMAND...

Every example (Java, Go, Node koffi, Python ctypes) behaves the same: it is started as
``EXAMPLE_COMMAND... python3 tests/servers/fastmcp_server.py`` (the upstream command comes last),
prints ``listening <url>``, prints ``event SESSION_OPENED <id>`` / ``event SESSION_READY <id>`` /
``event SESSION_CLOSED <id>`` for each session event, and when its standard input ends it closes
the proxy, prints ``closed`` and exits 0. This script drives it with the MCP Python SDK client
(initialize, call echo, leave), checks the lines (in that order), and checks that the session's
server process is gone afterwards. Bounded: 60 s.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import anyio
from mcp import ClientSession
from sdk_http import http_streams

ROOT = Path(__file__).resolve().parents[2]
SERVER = [os.environ.get("PYTHON", sys.executable), str(ROOT / "tests" / "servers" / "fastmcp_server.py")]


def children_of(pid: int) -> set[int]:
    kids: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.update(int(x) for x in f.read().split())
    except OSError:
        pass
    return kids


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(")") + 2:].split()[0] != "Z"


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: run_example.py EXAMPLE_COMMAND...", file=sys.stderr)
        return 2
    argv = sys.argv[1:] + SERVER
    print("running:", " ".join(argv), flush=True)
    ex = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert ex.stdout is not None
        for line in ex.stdout:
            print("example:", line.rstrip("\n"), flush=True)
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()

    def expect(prefix: str) -> str:
        while True:
            try:
                line = lines.get(timeout=30)
            except queue.Empty:
                raise AssertionError(f"no line starting with {prefix!r} within 30 s") from None
            if line is None:
                raise AssertionError(f"the example ended before printing {prefix!r}")
            if line.startswith(prefix):
                return line[len(prefix):].strip()

    upstream: set[int] = set()
    try:
        url = expect("listening ")

        async def client() -> str:
            with anyio.fail_after(30):
                async with http_streams(url) as (read, write, get_sid):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        result = await session.call_tool("echo", {"text": "hi"})
                        assert not result.is_error, result
                        sid = get_sid()
                        assert sid
                        # the example's session server, seen while the session lives
                        upstream.update(children_of(ex.pid))
                        return sid

        sid = anyio.run(client)  # leaving the client deletes the session
        opened = expect("event SESSION_OPENED ")
        assert opened == sid, (opened, sid)
        ready = expect("event SESSION_READY ")
        assert ready.startswith(sid), (ready, sid)
        closed = expect("event SESSION_CLOSED ")
        assert closed.startswith(sid), (closed, sid)
        assert upstream, "the example had no child process while the session was open"
        assert ex.stdin is not None
        ex.stdin.close()
        expect("closed")
        rc = ex.wait(30)
        assert rc == 0, f"the example exited with {rc}"
        left = [p for p in upstream if alive(p)]
        assert not left, f"server processes left behind: {left}"
        print("example OK", flush=True)
        return 0
    except AssertionError as e:
        print(f"example FAILED: {e}", flush=True)
        return 1
    finally:
        if ex.poll() is None:
            ex.kill()
            ex.wait(10)


if __name__ == "__main__":
    sys.exit(main())
