"""An MCPServer (the MCP Python SDK 2.x server, FastMCP's successor) over HTTP (or stdio)
used as the *upstream* of mcpfwd in the tests.

Run it as::

    python fastmcp_http_server.py [--transport streamable-http|sse|stdio]
        [--json-response] [--certfile PEM --keyfile PEM]
        [--keep-alive-timeout S] [--session-idle-timeout S]

For the HTTP transports it binds 127.0.0.1 on an ephemeral port itself (the
listening socket is handed to uvicorn, so there is no port race) and, once
uvicorn has started, prints its endpoint URL as one stdout line:
``http://127.0.0.1:PORT/mcp`` (streamable-http) or ``http://127.0.0.1:PORT/sse``
(legacy HTTP+SSE), ``https://`` with TLS.  Nothing else goes to stdout.

DNS-rebinding protection (Host/Origin checks, on by default in the SDK's apps
for host 127.0.0.1) is turned OFF: a proxy in front of this server sends
whatever Host its upstream URL names.

The SDK's server serves both protocol eras; the tests drive the session era
(``initialize``, then ``Mcp-Session-Id``), the one mcpfwd forwards.

Access log: every HTTP request writes stderr lines ``ACCESS {json}`` with
``ev`` = ``begin`` (request received), ``start`` (response status sent) and
``end`` (the ASGI app returned: for an SSE stream, the stream is over).  Each
carries ``rid`` (request number), ``method``, ``path``, ``query``,
``port`` (the client's TCP source port: one value per TCP connection),
``sid`` (the request's Mcp-Session-Id header), ``t`` (time.monotonic());
``start`` adds ``status``, ``resp_sid`` (the response's Mcp-Session-Id) and
``ctype`` (its Content-Type, parameters dropped); a legacy SSE stream adds
``ev`` = ``endpoint`` with ``endpoint`` (the data of its ``endpoint`` event,
which names the session: ``/messages/?session_id=…``); a request body, once
read whole, adds ``ev`` = ``body`` with ``rpc`` (its JSON-RPC method, or
``response``), ``rpc_id`` and ``tool`` (the tool a tools/call names).
With TLS, each handshake writes ``SNI {"name": <server name or null>}``.

Tools
    echo(text)              returns ``text`` unchanged
    add(a, b)               returns a + b
    progress(steps)         ``steps`` notifications/progress tied to the call
                            (on the POST's SSE answer), then returns
    log(message)            one notifications/message (info level)
    sample(prompt)          sampling/createMessage tied to the call; returns
                            "<model>: <text of the client's answer>"
    slow(seconds)           sleeps, then returns "slept <seconds>"
    progress_via_get(steps) ``steps`` progress notifications NOT tied to the
                            call (Streamable HTTP: they travel on the session's
                            GET stream), then a ping to the client on the same
                            stream, answered before the tool returns
    sample_via_get(prompt)  like ``sample``, but the request is not tied to the
                            call (Streamable HTTP: it travels on the GET stream)
    get_stream_open()       Streamable HTTP only: whether this session has its
                            standalone GET stream open right now
    request_info()          {"method", "path", "query", "headers"} of the HTTP
                            request that carried this call (null on stdio)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import socket
import ssl
import sys
import time
import warnings
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.types import SamplingMessage, TextContent

# Logging, sampling and ping are session-era features (2026-07-28 deprecates them); the
# SDK's warnings about that would only add stderr lines between the ACCESS records.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

mcp = MCPServer(
    "mcpfwd-upstream-test-server",
    instructions="Deterministic upstream server for the mcpfwd tests.",
)
NO_DNS_REBINDING_CHECK = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def _err_line(prefix: str, obj: Any) -> None:
    sys.stderr.write(f"{prefix} {json.dumps(obj, separators=(',', ':'))}\n")
    sys.stderr.flush()


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@mcp.tool()
def pad(size: int) -> str:
    """A text of ``size`` bytes: an answer as large as asked for, from a small request."""
    return "p" * size


@mcp.tool()
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@mcp.tool()
async def progress(steps: int, ctx: Context) -> str:
    """Report `steps` progress notifications (tied to this call), then finish."""
    for i in range(1, steps + 1):
        await ctx.report_progress(i, steps, message=f"step {i} of {steps}")
    return f"completed {steps} steps"


@mcp.tool()
async def log(message: str, ctx: Context) -> str:
    """Send `message` to the client as an MCP logging notification."""
    await ctx.log("info", message, logger_name="fastmcp_http_server")
    return "logged"


@mcp.tool()
async def sample(prompt: str, ctx: Context) -> str:
    """Ask the client's model to answer ``prompt`` (request tied to this call)."""
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
        max_tokens=50,
        related_request_id=ctx.request_id,
    )
    content = result.content
    text = content.text if isinstance(content, TextContent) else repr(content)
    return f"{result.model}: {text}"


@mcp.tool()
async def slow(seconds: float) -> str:
    """Sleep `seconds`, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@mcp.tool()
async def progress_via_get(steps: int, ctx: Context) -> str:
    """Progress notifications not tied to the call, then a ping on the same stream."""
    meta = ctx.request_context.meta
    token = meta.get("progress_token") if meta else None
    if token is None:
        return "no progress token"
    for i in range(1, steps + 1):
        await ctx.session.send_progress_notification(token, i, steps, message=f"step {i} of {steps}")
    # the ping follows the notifications on the same stream: once its answer is
    # back, the client has seen every notification before it
    await ctx.session.send_ping()
    return f"completed {steps} steps"


@mcp.tool()
async def sample_via_get(prompt: str, ctx: Context) -> str:
    """Ask the client's model to answer ``prompt`` (request NOT tied to this call)."""
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
        max_tokens=50,
    )
    content = result.content
    text = content.text if isinstance(content, TextContent) else repr(content)
    return f"{result.model}: {text}"


@mcp.tool()
def get_stream_open(ctx: Context) -> bool:
    """Whether this Streamable HTTP session's standalone GET stream is open now."""
    request = ctx.request_context.request
    if request is None:
        return False
    sid = request.headers.get("mcp-session-id")
    transport = mcp.session_manager._server_instances.get(sid) if sid else None
    if transport is None:
        return False
    from mcp.server.streamable_http import GET_STREAM_KEY

    return GET_STREAM_KEY in transport._request_streams


@mcp.tool()
def request_info(ctx: Context) -> dict[str, Any] | None:
    """Method, path, query and headers of the HTTP request carrying this call."""
    request = ctx.request_context.request
    if request is None:
        return None
    return {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "headers": [[k, v] for k, v in request.headers.items()],
    }


# --------------------------------------------------------------------------
# HTTP serving


class AccessLog:
    """ASGI middleware writing the ``ACCESS`` stderr lines described above."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counter = itertools.count(1)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client") or ("", 0)
        rec = {"rid": next(self.counter), "method": scope["method"], "path": scope["path"],
               "query": scope["query_string"].decode("latin-1"), "port": client[1],
               "sid": headers.get("mcp-session-id")}
        _err_line("ACCESS", {"ev": "begin", **rec, "t": time.monotonic()})

        endpoint_seen = False

        async def send_logged(message: Any) -> None:
            nonlocal endpoint_seen
            if message["type"] == "http.response.start":
                resp = {k.decode("latin-1").lower(): v.decode("latin-1")
                        for k, v in message.get("headers", [])}
                _err_line("ACCESS", {"ev": "start", **rec, "status": message["status"],
                                     "resp_sid": resp.get("mcp-session-id"),
                                     "ctype": resp.get("content-type", "").split(";")[0].strip(),
                                     "t": time.monotonic()})
            elif message["type"] == "http.response.body" and not endpoint_seen:
                # legacy SSE: the `endpoint` event names the session (…?session_id=…)
                m = ENDPOINT_RX.search(message.get("body", b""))
                if m:
                    endpoint_seen = True
                    _err_line("ACCESS", {"ev": "endpoint", **rec,
                                         "endpoint": m.group(1).decode("latin-1"),
                                         "t": time.monotonic()})
            await send(message)

        body = bytearray()
        body_logged = False

        async def receive_logged() -> Any:
            nonlocal body_logged
            message = await receive()
            if message["type"] == "http.request" and not body_logged:
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    body_logged = True
                    _err_line("ACCESS", {"ev": "body", **rec, **_rpc_summary(bytes(body)),
                                         "t": time.monotonic()})
            return message

        try:
            await self.app(scope, receive_logged, send_logged)
        finally:
            _err_line("ACCESS", {"ev": "end", **rec, "t": time.monotonic()})


def _rpc_summary(body: bytes) -> dict[str, Any]:
    """``rpc`` (the JSON-RPC method, or "response"/"invalid") and ``rpc_id`` of a POST body."""
    if not body:
        return {"rpc": None, "rpc_id": None, "tool": None}
    try:
        msg = json.loads(body)
    except ValueError:
        return {"rpc": "invalid", "rpc_id": None, "tool": None}
    if not isinstance(msg, dict):
        return {"rpc": "batch" if isinstance(msg, list) else "invalid", "rpc_id": None, "tool": None}
    method = msg.get("method") or ("response" if "id" in msg else "invalid")
    tool = (msg.get("params") or {}).get("name") if method == "tools/call" else None
    return {"rpc": method, "rpc_id": msg.get("id"), "tool": tool}


ENDPOINT_RX = re.compile(rb"event: endpoint\r?\ndata: ([^\r\n]*)")


def _record_sni(sslobj: Any, name: str | None, ctx: ssl.SSLContext) -> None:
    _err_line("SNI", {"name": name})


async def serve_http(args: argparse.Namespace) -> None:
    import uvicorn

    if args.transport == "sse":
        path = "/sse"
        app = mcp.sse_app(sse_path=path, transport_security=NO_DNS_REBINDING_CHECK)
    else:
        path = "/mcp"
        app = mcp.streamable_http_app(streamable_http_path=path,
                                      json_response=args.json_response,
                                      session_idle_timeout=args.session_idle_timeout,
                                      transport_security=NO_DNS_REBINDING_CHECK)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]

    tls = bool(args.certfile)
    config = uvicorn.Config(
        AccessLog(app),
        http="h11",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=args.keep_alive_timeout,
        timeout_graceful_shutdown=1,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
    )
    config.load()
    if tls:
        assert config.ssl is not None
        config.ssl.sni_callback = _record_sni
    server = uvicorn.Server(config)

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.01)
        scheme = "https" if tls else "http"
        sys.stdout.write(f"{scheme}://127.0.0.1:{port}{path}\n")
        sys.stdout.flush()

    announcer = asyncio.create_task(announce())
    await server.serve(sockets=[sock])
    announcer.cancel()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--transport", choices=["streamable-http", "sse", "stdio"],
                    default="streamable-http")
    ap.add_argument("--json-response", action="store_true",
                    help="Streamable HTTP: answer POSTs with application/json, not SSE")
    ap.add_argument("--certfile", help="PEM certificate (chain): serve https")
    ap.add_argument("--keyfile", help="PEM private key for --certfile")
    ap.add_argument("--keep-alive-timeout", type=float, default=5.0,
                    help="seconds an idle keep-alive connection stays open (uvicorn)")
    ap.add_argument("--session-idle-timeout", type=float, default=1800.0,
                    help="Streamable HTTP: seconds before an idle MCP session is dropped")
    args = ap.parse_args()
    if bool(args.certfile) != bool(args.keyfile):
        ap.error("--certfile and --keyfile go together")
    if args.transport == "stdio":
        mcp.run("stdio")
        return
    asyncio.run(serve_http(args))


if __name__ == "__main__":
    main()
