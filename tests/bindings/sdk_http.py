"""The MCP Python SDK's Streamable HTTP client transport, with the session id the server gave.

SDK 2.x's ``streamable_http_client`` yields the read and write streams only, so
``http_streams(url)`` reads the Mcp-Session-Id the way the transport does, off the response to
the one request sent without a session id (the initialize), with an httpx2 response hook:

    async with http_streams(url) as (read, write, get_sid):
        async with ClientSession(read, write) as session:
            await session.initialize()        # the session era: what Client(mode="legacy") does
            print(get_sid())
"""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, AsyncIterator, Callable

from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


@asynccontextmanager
async def http_streams(url: str) -> AsyncIterator[tuple[Any, Any, Callable[[], str | None]]]:
    sid: list[str] = []

    async def on_response(response: Any) -> None:
        given = response.headers.get("mcp-session-id")
        if given and "mcp-session-id" not in response.request.headers:
            sid[:] = [given]

    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(create_mcp_http_client())
        client.event_hooks["response"].append(on_response)
        read, write = await stack.enter_async_context(streamable_http_client(url, http_client=client))
        yield read, write, lambda: sid[0] if sid else None
