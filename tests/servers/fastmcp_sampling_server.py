"""An MCPServer (SDK 2.x) stdio server whose tools ask the client something (server->client requests).

Used by the mcpfwd Streamable HTTP tests: each tool sends a request to the
client while its own tools/call is in flight, so a proxy must carry the
request to the client on that call's stream and route the client's answer
(a POSTed JSON-RPC response) back to this process.

Tools
    sample(prompt)    sampling/createMessage with one user message ``prompt``;
                      returns "<model>: <text of the client's answer>"
    ask_name()        elicitation/create asking for {"name": str}; returns
                      "<action>: <name>" (name empty unless accepted)
    roots()           roots/list; returns the root URIs joined by newlines
    echo(text)        returns ``text`` unchanged
"""

from __future__ import annotations

import warnings

from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.types import SamplingMessage, TextContent
from pydantic import BaseModel

# Sampling and roots are session-era features (deprecated by 2026-07-28), which is what
# these tests carry through mcpfwd; the SDK's warnings would only add stderr noise.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

mcp = MCPServer("mcpfwd-sampling-test-server")


class Name(BaseModel):
    name: str


@mcp.tool()
async def sample(prompt: str, ctx: Context) -> str:
    """Ask the client's model to answer ``prompt``."""
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
        max_tokens=50,
        related_request_id=ctx.request_id,
    )
    content = result.content
    text = content.text if isinstance(content, TextContent) else repr(content)
    return f"{result.model}: {text}"


@mcp.tool()
async def ask_name(ctx: Context) -> str:
    """Elicit a name from the user."""
    result = await ctx.elicit(message="What is your name?", schema=Name)
    name = result.data.name if result.action == "accept" else ""
    return f"{result.action}: {name}"


@mcp.tool()
async def roots(ctx: Context) -> str:
    """The client's roots."""
    result = await ctx.session.list_roots()
    return "\n".join(str(r.uri) for r in result.roots)


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


if __name__ == "__main__":
    mcp.run("stdio")
