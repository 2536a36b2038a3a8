"""mcpfwd: a forward proxy for the Model Context Protocol (MCP).

Python bindings of the mcpfwd C library::

    import mcpfwd

    # one client on stdin/stdout
    with mcpfwd.Proxy(upstream=["python", "server.py"], stdio=(0, 1)) as proxy:
        code = proxy.wait()

    # many clients over Streamable HTTP, one server process per session
    with mcpfwd.Proxy(upstream=["python", "server.py"], listen=("127.0.0.1", 0)) as proxy:
        print(proxy.url)              # http://127.0.0.1:PORT/mcp
        for s in proxy.sessions():
            print(s.id, s.upstream_pid, s.messages_in)

    # a remote upstream server: one session on it per client session
    with mcpfwd.Proxy(upstream="https://mcp.example.com/mcp", listen=("127.0.0.1", 0),
                      upstream_headers={"Authorization": "Bearer ..."}) as proxy:
        for s in proxy.sessions():
            print(s.id, s.upstream_url, s.upstream_transport)

    # session events and forwarded messages, as callbacks or (events) an async iterator
    def on_message(m: mcpfwd.Message) -> None:
        print(m.direction.name, m.session_id, m.json())

    async with mcpfwd.Proxy(upstream=[...], listen=("127.0.0.1", 0), on_message=on_message) as p:
        async for event in p.events():
            print(event.kind.name, event.session_id, event.detail)

    # every option of the library, and the keyword argument of Proxy that sets it
    for o in mcpfwd.options():
        print(o.name, o.keyword, o.default, o.help)

The command-line proxy is installed as the ``mcpfwd`` console script.
"""

from __future__ import annotations

from ._enums import Direction, EventKind, LogLevel, Status, UpstreamTransport
from ._errors import (
    CallbackError,
    Error,
    InternalError,
    InvalidArgumentError,
    IoError,
    NoMemoryError,
    NotFoundError,
    StateError,
    WaitTimeoutError,
)
from ._events import Event, EventStream, Message
from ._mcpfwd import __version__
from ._options import Mode, Option, OptionType, options
from ._proxy import (
    EventCallback,
    FdLike,
    ListenAddress,
    LogCallback,
    MessageCallback,
    Proxy,
    Seconds,
)
from ._session import SessionInfo

__all__ = [
    "CallbackError",
    "Direction",
    "Error",
    "Event",
    "EventCallback",
    "EventKind",
    "EventStream",
    "FdLike",
    "InternalError",
    "InvalidArgumentError",
    "IoError",
    "ListenAddress",
    "LogCallback",
    "LogLevel",
    "Message",
    "MessageCallback",
    "Mode",
    "NoMemoryError",
    "NotFoundError",
    "Option",
    "OptionType",
    "Proxy",
    "Seconds",
    "SessionInfo",
    "StateError",
    "Status",
    "UpstreamTransport",
    "WaitTimeoutError",
    "__version__",
    "options",
]

# Public classes print as mcpfwd.X (tracebacks, reprs, pickles), not as the private module.
for _cls in (
    CallbackError,
    Direction,
    Error,
    Event,
    EventKind,
    EventStream,
    InternalError,
    InvalidArgumentError,
    IoError,
    LogLevel,
    Message,
    Mode,
    NoMemoryError,
    NotFoundError,
    Option,
    OptionType,
    Proxy,
    SessionInfo,
    StateError,
    Status,
    UpstreamTransport,
    WaitTimeoutError,
):
    _cls.__module__ = __name__
del _cls
