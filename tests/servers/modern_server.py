"""A stdio MCP server built on the current MCP Python SDK (`mcp` 2.x, MCPServer), which
serves both eras: the stateless era (2026-07-28) when its first request carries the
envelope, the session era after `initialize`. Its tools expose what the tests check:
which process answers (`whoami`), state kept in that process (`count`), progress,
log lines, a slow call to cancel, and a list change for listen streams."""

import os
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("modern-test-server")
_count = 0


@server.tool()
def echo(text: str) -> str:
    """Returns its argument."""
    return text


@server.tool()
def whoami() -> str:
    """The server process id."""
    return str(os.getpid())


@server.tool()
def count() -> int:
    """A counter kept in this process: each call adds one."""
    global _count
    _count += 1
    return _count


@server.tool()
async def progress(steps: int, ctx: Context) -> str:
    """Reports `steps` progress notifications, then answers."""
    for i in range(steps):
        await ctx.report_progress(i + 1, steps, f"step {i + 1}")
    return f"done {steps}"


@server.tool()
async def chatty(lines: int, ctx: Context) -> str:
    """Logs `lines` lines at info level, then answers."""
    for i in range(lines):
        await ctx.info(f"line {i + 1}")
    return f"logged {lines}"


@server.tool()
async def sleep(seconds: float) -> str:
    """Answers after `seconds` (cancellable)."""
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        print(f"cancelled after a sleep of {seconds}", file=sys.stderr, flush=True)
        raise
    return f"slept {seconds}"


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Registers a new tool and tells listeners that the tool list changed."""
    server.add_tool(lambda: name, name=name, description="added at run time")
    await ctx.notify_tools_changed()
    return f"added {name}"


@server.tool()
def fail(message: str) -> str:
    """Raises: the client gets a tool error."""
    raise ValueError(message)


@server.resource("test://greeting")
def greeting() -> str:
    return "hello from a resource"


@server.prompt()
def greet(name: str) -> str:
    return f"Say hello to {name}."


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":  # its own Streamable HTTP, both eras
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
