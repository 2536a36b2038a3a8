"""An MCPServer (SDK 2.x) stdio server that tells which process it is (mcpfwd session isolation tests).

Tools
    pid()           this server process's pid
    echo(text)      returns ``text`` unchanged
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("mcpfwd-pid-test-server")


@mcp.tool()
def pid() -> int:
    """The pid of this server process."""
    return os.getpid()


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


if __name__ == "__main__":
    mcp.run("stdio")
