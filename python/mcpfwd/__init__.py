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

The command-line proxy is installed as the ``mcpfwd`` console script.
"""

from __future__ import annotations

from ._enums import LogLevel, Status
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
from ._mcpfwd import __version__
from ._proxy import FdLike, ListenAddress, LogCallback, Proxy, Seconds
from ._session import SessionInfo

__all__ = [
    "CallbackError",
    "Error",
    "FdLike",
    "InternalError",
    "InvalidArgumentError",
    "IoError",
    "ListenAddress",
    "LogCallback",
    "LogLevel",
    "NoMemoryError",
    "NotFoundError",
    "Proxy",
    "Seconds",
    "SessionInfo",
    "StateError",
    "Status",
    "WaitTimeoutError",
    "__version__",
]

# Public classes print as mcpfwd.X (tracebacks, reprs, pickles), not as the private module.
for _cls in (
    CallbackError,
    Error,
    InternalError,
    InvalidArgumentError,
    IoError,
    LogLevel,
    NoMemoryError,
    NotFoundError,
    Proxy,
    SessionInfo,
    StateError,
    Status,
    WaitTimeoutError,
):
    _cls.__module__ = __name__
del _cls
