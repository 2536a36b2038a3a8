"""mcpfwd demo, part 4: both eras of MCP on one endpoint.

    python docs/examples/python/demo_eras.py

Starts `mcpfwd --listen 127.0.0.1:0 -- python demo_server.py` (the binary is $MCPFWD_BIN,
else `mcpfwd` on PATH). Three clients of the current MCP Python SDK (`mcp` 2.x) connect:
one in `auto` mode and one pinned to 2026-07-28 (both speak the stateless era, no
session, and share one upstream instance: --stateless-key shared), and one in `legacy`
mode (the session era: initialize, Mcp-Session-Id, a server process of its own). Each
adds a note and lists what it sees; then the demo prints mcpfwd's session table
(SIGUSR1), where the stateless instance shows as kind `stateless`. Exits 0 on success.
"""

from __future__ import annotations

import re
import signal
import sys
import time
from pathlib import Path

import anyio
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_http import Proxy, find_mcpfwd  # noqa: E402

HERE = Path(__file__).resolve().parent


async def one_client(url: str, mode: str) -> tuple[str, list[str]]:
    async with Client(url, mode=mode) as c:
        await c.call_tool("add_note", {"title": f"from-{mode}", "text": f"a {mode} client"})
        listed = await c.call_tool("list_notes", {})
        titles = [t.text for t in listed.content if hasattr(t, "text")]
        return c.protocol_version, [t for t in titles if t.startswith("from-")]


async def main() -> int:
    argv = [find_mcpfwd(), "--listen", "127.0.0.1:0", "--log-level", "warn", "--",
            sys.executable, str(HERE / "demo_server.py")]
    print("$ " + " ".join(argv))
    proxy = Proxy(argv)
    ok = True
    try:
        results = {}
        for mode in ("auto", "2026-07-28", "legacy"):
            version, notes = await one_client(proxy.url, mode)
            results[mode] = (version, notes)
            print(f"  Client(mode={mode!r:13}) spoke {version}; sees notes {notes}")
        ok &= results["auto"][0] == results["2026-07-28"][0] == "2026-07-28"
        ok &= results["legacy"][0] != "2026-07-28"
        # The two stateless clients share one instance; the legacy session had its own.
        ok &= sorted(results["2026-07-28"][1]) == ["from-2026-07-28", "from-auto"]
        ok &= results["legacy"][1] == ["from-legacy"]
        with proxy.lock:
            start = len(proxy.lines)
        proxy.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        table: list[str] = []
        while time.monotonic() < deadline and not any("stateless" in ln for ln in table):
            time.sleep(0.05)
            with proxy.lock:
                table = [ln for ln in proxy.lines[start:]
                         if re.match(r"^(\d+ session\(s\) at |SESSION |[0-9a-f]{32} )", ln)]
        print("\nmcpfwd's session table (SIGUSR1): the stateless instance is still up, "
              "the legacy session was deleted by its client\n")
        for line in table:
            print("  " + line)
        ok &= any("stateless (key shared)" in ln for ln in table)
    finally:
        proxy.proc.send_signal(signal.SIGTERM)
        rc = proxy.proc.wait(20)
    print(f"\nmcpfwd exit status {rc}")
    return 0 if ok and rc == 0 else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
