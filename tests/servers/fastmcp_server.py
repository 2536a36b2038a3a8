"""An MCPServer (the MCP Python SDK 2.x server, FastMCP's successor) over stdio, used by the
mcpfwd end-to-end tests.

Run it as ``python fastmcp_server.py`` (stdio transport).  Everything it
answers is deterministic, so a session driven through mcpfwd can be compared
result for result with the same session run directly against this server.

Tools
    echo(text)            returns ``text`` unchanged
    add(a, b)             returns a + b
    progress(steps, delay) sends ``steps`` notifications/progress, ``delay``
                          seconds apart (needs a progressToken from the
                          client), then returns
    log(message)          sends one notifications/message (info level)
    stderr_spam(lines)    writes ``lines`` lines to stderr, then returns; a
                          proxy that does not drain stderr deadlocks here
    exit_now(code)        flushes stdout/stderr and calls os._exit(code):
                          the server dies mid-call, the request never answered
Resources
    notes://index         static text resource
    notes://{name}        template: the note called ``name``
Prompts
    summarize(topic)      one user message asking to summarize ``topic``
"""

from __future__ import annotations

import os
import sys
import warnings

import anyio

from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning

# The tests drive the session era (initialize handshake), where logging is current; the
# SDK warns that 2026-07-28 deprecates it, on stderr, which some tests read.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

mcp = MCPServer("mcpfwd-test-server", instructions="Deterministic server for mcpfwd tests.")

NOTES = {
    "alpha": "The first note.",
    "beta": "The second note, with UTF-8: héllo ✓ 日本語 🎉",
}


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@mcp.tool()
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@mcp.tool()
async def progress(steps: int, ctx: Context, delay: float = 0.0) -> str:
    """Report `steps` progress notifications, `delay` seconds apart, then finish."""
    for i in range(1, steps + 1):
        if delay:
            await anyio.sleep(delay)
        await ctx.report_progress(i, steps, message=f"step {i} of {steps}")
    return f"completed {steps} steps"


@mcp.tool()
async def log(message: str, ctx: Context) -> str:
    """Send `message` to the client as an MCP logging notification."""
    await ctx.log("info", message, logger_name="fastmcp_server")
    return "logged"


@mcp.tool()
def stderr_spam(lines: int) -> int:
    """Write `lines` lines to stderr (proves the proxy drains stderr)."""
    err = sys.stderr
    for i in range(lines):
        err.write(f"stderr_spam line {i} of {lines} ................................\n")
    err.flush()
    return lines


@mcp.tool()
def exit_now(code: int) -> str:
    """Exit the whole server process immediately with `code` (never answers)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@mcp.resource("notes://index", mime_type="text/plain")
def notes_index() -> str:
    """The list of note names."""
    return "\n".join(sorted(NOTES))


@mcp.resource("notes://{name}", mime_type="text/plain")
def note(name: str) -> str:
    """The note called `name`."""
    return NOTES.get(name, f"no note named {name}")


@mcp.prompt()
def summarize(topic: str) -> str:
    """Ask for a summary of a topic."""
    return f"Please summarize {topic} in three sentences."


if __name__ == "__main__":
    mcp.run("stdio")
