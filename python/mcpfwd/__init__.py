"""mcpfwd: a forward proxy for the Model Context Protocol (MCP).

Python bindings of the mcpfwd C library::

    import mcpfwd

    with mcpfwd.Proxy(upstream=["python", "server.py"], stdio=(0, 1)) as proxy:
        code = proxy.wait()

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
    StateError,
    WaitTimeoutError,
)
from ._mcpfwd import __version__
from ._proxy import FdLike, LogCallback, Proxy

__all__ = [
    "CallbackError",
    "Error",
    "FdLike",
    "InternalError",
    "InvalidArgumentError",
    "IoError",
    "LogCallback",
    "LogLevel",
    "NoMemoryError",
    "Proxy",
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
    Proxy,
    StateError,
    Status,
    WaitTimeoutError,
):
    _cls.__module__ = __name__
del _cls
