"""Status codes, log levels, event kinds, message directions and upstream transports,
mirroring the C API's enums."""

from __future__ import annotations

import enum

from . import _mcpfwd

__all__ = ["Direction", "EventKind", "LogLevel", "Status", "UpstreamTransport"]


class Status(enum.IntEnum):
    """A status code of the C API (``mcpfwd_status``): 0 is success, failures are negative."""

    OK = _mcpfwd.STATUS_OK
    INVALID_ARG = _mcpfwd.STATUS_INVALID_ARG
    NOMEM = _mcpfwd.STATUS_NOMEM
    STATE = _mcpfwd.STATUS_STATE
    IO = _mcpfwd.STATUS_IO
    TIMEOUT = _mcpfwd.STATUS_TIMEOUT
    CALLBACK = _mcpfwd.STATUS_CALLBACK
    NOT_FOUND = _mcpfwd.STATUS_NOT_FOUND
    INTERNAL = _mcpfwd.STATUS_INTERNAL

    @property
    def description(self) -> str:
        """The library's description of this status (``mcpfwd_status_str``)."""
        return _mcpfwd.status_str(int(self))


class LogLevel(enum.IntEnum):
    """Log levels (``mcpfwd_log_level``), from most to least verbose."""

    TRACE = _mcpfwd.LOG_TRACE
    DEBUG = _mcpfwd.LOG_DEBUG
    INFO = _mcpfwd.LOG_INFO
    WARN = _mcpfwd.LOG_WARN
    ERROR = _mcpfwd.LOG_ERROR
    OFF = _mcpfwd.LOG_OFF

    @classmethod
    def parse(cls, value: LogLevel | str | int) -> LogLevel:
        """Accept a LogLevel, its value, or its name in any case ("info"; "warning" for WARN).

        Raises ValueError for anything else.
        """
        if isinstance(value, str):
            name = value.strip().upper()
            if name == "WARNING":
                name = "WARN"
            try:
                return cls[name]
            except KeyError:
                names = ", ".join(m.name.lower() for m in cls)
                raise ValueError(
                    f"unknown log level {value!r} (expected one of {names})"
                ) from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"log level must be a LogLevel, str or int, not {type(value).__name__}"
            )
        return cls(value)


class EventKind(enum.IntEnum):
    """What happened to a session (``mcpfwd_event_type``)."""

    #: A session exists and its upstream server has been spawned.
    OPENED = _mcpfwd.EVENT_SESSION_OPENED
    #: A session ended and its upstream server has been reaped; the detail says why.
    CLOSED = _mcpfwd.EVENT_SESSION_CLOSED
    #: A new client's ``initialize`` was refused (the session limit); no session exists.
    REJECTED = _mcpfwd.EVENT_SESSION_REJECTED
    #: The upstream answered the session's ``initialize``: the session is usable. The detail
    #: is the protocol version the server chose. Between OPENED and CLOSED, at most once.
    READY = _mcpfwd.EVENT_SESSION_READY


class Direction(enum.IntEnum):
    """Which way a forwarded message goes (``mcpfwd_direction``)."""

    CLIENT_TO_SERVER = _mcpfwd.CLIENT_TO_SERVER
    SERVER_TO_CLIENT = _mcpfwd.SERVER_TO_CLIENT


class UpstreamTransport(enum.IntEnum):
    """How a remote upstream server is spoken to (``mcpfwd_upstream_transport``)."""

    #: POST ``initialize`` as Streamable HTTP; an HTTP 400, 404 or 405 answer means a legacy
    #: HTTP+SSE server, which is then used as such.
    AUTO = _mcpfwd.UPSTREAM_AUTO
    #: Streamable HTTP (MCP protocol 2025-03-26 and later).
    STREAMABLE_HTTP = _mcpfwd.UPSTREAM_STREAMABLE_HTTP
    #: Legacy HTTP+SSE (protocol 2024-11-05): the URL is the server's SSE endpoint.
    SSE = _mcpfwd.UPSTREAM_SSE

    @property
    def label(self) -> str:
        """The transport's name as session snapshots (:attr:`SessionInfo.upstream_transport`)
        and the command line (``--upstream-transport``) spell it: ``"auto"``,
        ``"streamable-http"`` or ``"sse"``."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def parse(cls, value: UpstreamTransport | str) -> UpstreamTransport:
        """Accept an UpstreamTransport or its name in any case, with ``-`` or ``_``
        (``"streamable-http"``, ``"STREAMABLE_HTTP"``, ``"sse"``).

        Raises ValueError for an unknown name, TypeError for anything but those two types.
        """
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise TypeError(
                f"upstream transport must be an UpstreamTransport or str, "
                f"not {type(value).__name__}"
            )
        name = value.strip().upper().replace("-", "_")
        try:
            return cls[name]
        except KeyError:
            labels = ", ".join(repr(m.label) for m in cls)
            raise ValueError(
                f"unknown upstream transport {value!r} (expected one of {labels})"
            ) from None
