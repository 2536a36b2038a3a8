"""A server that serves ONLY the stateless era (MCP 2026-07-28), built on the MCP Python SDK
(`mcp` 2.3.0, MCPServer): it refuses `initialize` with -32022 naming 2026-07-28, as a
modern-only server does. The other side of mcpfwd's bridge for session-era clients
(docs/eras.md, "Bridging: legacy client, modern server").

Its tools exercise what the bridge translates: multi-round-trip `input_required` results
(sampling, elicitation, roots, two rounds with a changing requestState), progress, log lines
(at info and debug), a resource whose updates reach `subscriptions/listen` streams, a list
change, a prompt and completion.

    python modern_only_server.py            # stdio
    python modern_only_server.py --http     # Streamable HTTP; prints its URL first
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.runner import _serve_modern_stream  # noqa: PLC2701 - no public modern-only entry
from mcp.server.stdio import stdio_server
from mcp_types import (
    CallToolResult,
    Completion,
    CreateMessageRequest,
    CreateMessageRequestParams,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
    ListRootsRequest,
    PromptReference,
    SamplingMessage,
    TextContent,
)

server = MCPServer("modern-only-test-server", instructions="A server of the stateless era only.")
_version = {"n": 1}


def text(t: str) -> TextContent:
    return TextContent(type="text", text=t)


def elicit(message: str, properties: dict[str, Any]) -> ElicitRequest:
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def answer(ctx: Context, key: str) -> Any:
    return (ctx.input_responses or {}).get(key)


@server.tool()
def echo(text: str) -> str:
    """Returns its argument."""
    return text


@server.tool()
def ask_llm(question: str, ctx: Context) -> Any:
    """Asks the client's LLM (input_required: sampling/createMessage)."""
    got = answer(ctx, "llm")
    if got is None or not hasattr(got, "content"):
        return InputRequiredResult(input_requests={"llm": CreateMessageRequest(
            params=CreateMessageRequestParams(
                messages=[SamplingMessage(role="user", content=text(question))], max_tokens=50))},
            request_state="asked-llm")
    said = got.content.text if isinstance(got.content, TextContent) else str(got.content)
    return CallToolResult(content=[text(f"LLM said: {said} (state {ctx.request_state})")])


@server.tool()
def ask_name(ctx: Context) -> Any:
    """Asks the user for a name (input_required: elicitation/create)."""
    got = answer(ctx, "name")
    if not isinstance(got, ElicitResult):
        return InputRequiredResult(input_requests={"name": elicit("Your name?", {"name": {"type": "string"}})})
    if got.action != "accept":
        return f"no name ({got.action})"
    return f"Hello, {(got.content or {}).get('name')}!"


@server.tool()
def two_rounds(ctx: Context) -> Any:
    """Two rounds of elicitation; the requestState changes between them."""
    state = ctx.request_state or ""
    if state.startswith("round-2:") and isinstance(answer(ctx, "color"), ElicitResult):
        return f"{state.removeprefix('round-2:')} likes {answer(ctx, 'color').content.get('color')}"
    if state == "round-1" and isinstance(answer(ctx, "name"), ElicitResult):
        name = answer(ctx, "name").content.get("name")
        return InputRequiredResult(input_requests={"color": elicit("Colour?", {"color": {"type": "string"}})},
                                   request_state=f"round-2:{name}")
    return InputRequiredResult(input_requests={"name": elicit("Name?", {"name": {"type": "string"}})},
                               request_state="round-1")


@server.tool()
def list_roots(ctx: Context) -> Any:
    """Asks for the client's roots (input_required: roots/list)."""
    got = answer(ctx, "roots")
    roots = getattr(got, "roots", None)
    if roots is None:
        return InputRequiredResult(input_requests={"roots": ListRootsRequest(params=None)})
    return "roots: " + ", ".join(str(r.uri) for r in roots)


@server.tool()
async def progress(steps: int, ctx: Context) -> str:
    """Reports `steps` progress notifications, then answers."""
    for i in range(steps):
        await ctx.report_progress(i + 1, steps, f"step {i + 1}")
    return f"done {steps}"


@server.tool()
async def chatty(ctx: Context) -> str:
    """Logs one line at debug and one at warning, then answers."""
    await ctx.debug("a debug line")
    await ctx.warning("a warning line")
    return "logged"


@server.tool()
async def sleep(seconds: float) -> str:
    """Answers after `seconds` (cancellable: says so on stderr)."""
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        print(f"cancelled after a sleep of {seconds}", file=sys.stderr, flush=True)
        raise
    return f"slept {seconds}"


@server.tool()
async def touch(ctx: Context) -> str:
    """Changes test://counter: its listen subscribers get notifications/resources/updated."""
    _version["n"] += 1
    await ctx.notify_resource_updated("test://counter")
    return f"version {_version['n']}"


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Registers a tool and tells listeners that the tool list changed."""
    server.add_tool(lambda: name, name=name, description="added at run time")
    await ctx.notify_tools_changed()
    return f"added {name}"


@server.resource("test://counter", mime_type="text/plain")
def counter() -> str:
    return f"version {_version['n']}"


@server.prompt()
def greet(name: str) -> str:
    return f"Say hello to {name}."


@server.completion()
async def complete(ref: Any, argument: Any, context: Any) -> Completion | None:
    if isinstance(ref, PromptReference) and ref.name == "greet":
        names = [n for n in ("alice", "albert", "bob") if n.startswith(argument.value)]
        return Completion(values=names, total=len(names), has_more=False)
    return Completion(values=[], total=0, has_more=False)


async def _serve_stdio() -> None:
    low = server._lowlevel_server  # noqa: SLF001 - no public accessor in mcp 2.3.0
    async with stdio_server() as (read_stream, write_stream), low.lifespan(low) as state:
        # The modern loop only: `initialize` is refused with -32022 naming 2026-07-28.
        try:
            await _serve_modern_stream(low, read_stream, write_stream, lifespan_state=state,
                                       raise_exceptions=False)
        finally:
            await write_stream.aclose()


def _refusing_initialize(app: Any) -> Any:
    """ASGI middleware: a POST of `initialize` gets 400 with -32022 naming 2026-07-28."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            event = await receive()
            chunks.append(event.get("body", b""))
            if not event.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            msg = json.loads(body)
        except ValueError:
            msg = None
        if isinstance(msg, dict) and msg.get("method") == "initialize":
            requested = (msg.get("params") or {}).get("protocolVersion")
            err = {"jsonrpc": "2.0", "id": msg.get("id"), "error": {
                "code": -32022, "message": "this server serves only the stateless era",
                "data": {"supported": ["2026-07-28"], "requested": requested}}}
            out = json.dumps(err).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(out)).encode())]})
            await send({"type": "http.response.body", "body": out})
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await app(scope, replay, send)

    return wrapped


async def _serve_http() -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # before the URL is printed: a client may connect at once
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/mcp", flush=True)
    app = _refusing_initialize(server.streamable_http_app(host="127.0.0.1"))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    anyio.run(_serve_http if "--http" in sys.argv[1:] else _serve_stdio)
