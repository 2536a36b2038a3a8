"""mcpfwd from Python: a Streamable HTTP proxy in front of a stdio MCP server.

    python docs/examples/python/http_proxy.py

Starts ``mcpfwd.Proxy(listen=("127.0.0.1", 0))`` in front of demo_server.py (next to this file),
connects two clients with the official MCP Python SDK's ``Client`` (Streamable HTTP), shows the
sessions the proxy holds (one server process each), then leaves: the clients end their sessions
and the ``with`` block shuts the proxy down. Needs the mcpfwd package (``pip install .``) and the
MCP SDK (``pip install mcp``). Exits 0 on success.

The clients open their sessions with the ``initialize`` handshake (``mode="legacy"``), the
protocol era mcpfwd serves over HTTP.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from mcp import Client

import mcpfwd

SERVER = Path(__file__).resolve().parent / "demo_server.py"


async def client(url: str, name: str, connected: anyio.Event, done: anyio.Event) -> None:
    """One MCP client: adds a note, then stays connected until `done`."""
    async with Client(url, mode="legacy") as session:
        result = await session.call_tool("add_note", {"title": name, "text": f"from {name}"})
        print(f"{name}: {result.content[0].text}")  # type: ignore[union-attr]
        connected.set()
        await done.wait()


async def main(proxy: mcpfwd.Proxy) -> None:
    done = anyio.Event()
    connected = [anyio.Event(), anyio.Event()]
    async with anyio.create_task_group() as tg:
        for i, ready in enumerate(connected):
            tg.start_soon(client, proxy.url, f"client-{i + 1}", ready, done)
        for ready in connected:
            await ready.wait()
        sessions = proxy.sessions()
        print(f"{len(sessions)} sessions:")
        for s in sessions:
            print(f"  {s.id}  pid {s.upstream_pid}  {s.messages_in} messages in, "
                  f"{s.messages_out} out, since {s.created:%H:%M:%S} UTC")
        done.set()  # the clients leave (the SDK ends its session with an HTTP DELETE)


if __name__ == "__main__":
    with mcpfwd.Proxy(
        upstream=[sys.executable, str(SERVER)],
        listen=("127.0.0.1", 0),
        log_level="warn",
    ) as proxy:
        print(f"proxy listening on {proxy.url}")
        anyio.run(main, proxy)
    # Leaving the with-block stopped the proxy: every server process has been reaped.
    print("closed: no session, no server process left")
