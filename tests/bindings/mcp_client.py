"""A real MCP client for the binding tests: the official MCP Python SDK over Streamable HTTP.

    python3 mcp_client.py URL

Connects to URL, initializes, calls the ``echo`` tool of tests/servers/fastmcp_server.py
and prints, one line each, flushed:

    session <id>          the session id the server (mcpfwd) gave it
    echo <text>           the tool's answer

Then it reads commands from stdin, one per line:

    call                  calls echo again; prints ``call-ok <text>`` or ``call-error <reason>``
                          (after the proxy closed the session, the call must fail)
    exit (or EOF)         leaves: closes the transport and exits 0

Everything is bounded in time: each step fails after 20 s, the whole run after 90 s; any
failure prints ``error <what>`` and exits 1. A test (Java, Go, Node, ...) starts this as a
subprocess, so the client is the SDK itself, not an imitation.
"""

from __future__ import annotations

import sys
from contextlib import AsyncExitStack

import anyio
from mcp import ClientSession
from sdk_http import http_streams

STEP = 20.0


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def first_text(result: object) -> str:
    content = getattr(result, "content", None) or []
    return str(getattr(content[0], "text", "")) if content else ""


async def main(url: str) -> int:
    async with AsyncExitStack() as stack:
        # (each request is bounded by read_timeout_seconds; the whole run by bounded())
        read, write, get_sid = await stack.enter_async_context(http_streams(url))
        session = await stack.enter_async_context(
            ClientSession(read, write, read_timeout_seconds=STEP)
        )
        await session.initialize()  # the session era (2.x Client(mode="legacy") does the same)
        say(f"session {get_sid()}")
        result = await session.call_tool("echo", {"text": "héllo ✓ 🎉"})
        if result.is_error:
            say(f"error echo returned an error: {first_text(result)}")
            return 1
        say(f"echo {first_text(result)}")
        while True:
            line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
            command = line.strip()
            if command in ("", "exit"):
                break
            if command == "call":
                try:
                    result = await session.call_tool("echo", {"text": "again"})
                    if result.is_error:
                        say(f"call-error {first_text(result)}")
                    else:
                        say(f"call-ok {first_text(result)}")
                except Exception as e:  # the session is gone: MCPError (404), timeout, ...
                    say(f"call-error {type(e).__name__}: {e}")
            else:
                say(f"error unknown command {command!r}")
        # Leaving the stack closes the session (DELETE; a 404 for a closed session is fine).
    return 0


def run() -> int:
    if len(sys.argv) != 2:
        say("error usage: mcp_client.py URL")
        return 2
    try:
        return anyio.run(bounded, sys.argv[1])
    except BaseException as e:  # noqa: BLE001 - report whatever ended the client
        say(f"error {type(e).__name__}: {e}")
        return 1


async def bounded(url: str) -> int:
    with anyio.fail_after(90):  # never outlive a test
        return await main(url)


if __name__ == "__main__":
    sys.exit(run())
