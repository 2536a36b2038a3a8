"""mcpfwd.SessionInfo: one session of an HTTP proxy, decoded from the C API's session JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from ._errors import InternalError

__all__ = ["SessionInfo"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _utc(ms: int) -> datetime:
    # Exact to the millisecond (no float rounding), timezone-aware.
    return _EPOCH + timedelta(milliseconds=ms)


def _int(obj: Mapping[str, Any], key: str) -> int:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is {type(value).__name__}, not an integer")
    return value


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is {type(value).__name__}, not a string")
    return value


@dataclass(frozen=True)
class SessionInfo:
    """A snapshot of one Streamable HTTP session of a :class:`Proxy` started with ``listen=``.

    Each session is one MCP client with its own upstream server process, or with its own
    session on a remote upstream server. Counters are read in place while the session runs,
    so a snapshot taken mid-message may be off by one.

    Attributes:
        id: the session id (the ``Mcp-Session-Id`` the client got; 32 hex characters).
        state: ``"starting"``, ``"ready"``, ``"draining"`` or ``"closed"``.
        created: when the session was opened (UTC, timezone-aware).
        last_activity: when the session last saw traffic (UTC, timezone-aware).
        upstream_kind: how the upstream server is reached: ``"stdio"`` (a spawned process) or
            ``"http"`` (a remote server).
        upstream_pid: the upstream server's process id; None for a remote server.
        upstream_url: the remote server's URL as mcpfwd reaches it: scheme, host, port and
            path, always with the port and never with the query
            (``"https://example.com:443/mcp"`` for ``https://example.com/mcp?key=...``); None
            for a spawned server.
        upstream_transport: how the remote server is spoken to: ``"streamable-http"`` or
            ``"sse"`` (``"auto"`` until the first exchange decided it, with
            ``upstream_transport="auto"``); None for a spawned server.
        messages_in, bytes_in: JSON-RPC messages (and their bytes) from the client to the
            server.
        messages_out, bytes_out: messages (and bytes) from the server to the client.
        in_flight: client requests the server has not answered yet.
        open_streams: HTTP responses streaming to the client now (SSE on POST or GET).
        errors: errors of this session (bad server output, an upstream that exited early...).
        dropped: server messages dropped because no stream was open and the buffer was full.
        upstream_exit: how the upstream server ended (``"exited with status 0"``, ``"was killed
            by signal 9 (SIGKILL)"``; for a remote server ``"ended"``, ``"session expired (HTTP
            404)"``, ...), or None while it runs.
        kind: ``"streamable_http"``, ``"legacy_sse"``, or ``"stateless"`` (an upstream
            instance serving the stateless era's requests of one isolation key).
        era: ``"session"`` or ``"stateless"``.
        key: a stateless instance's isolation key as shown (``"shared"``, ``"X-Tenant: acme"``,
            ``"authorization sha256:..."``); None for a session.
        server: the config file's named server the session belongs to (served at
            ``/servers/NAME/mcp``, docs/configuration.md); None for the default upstream.
        raw: the decoded JSON object the library returned, with every field, including ones
            newer than this package.
    """

    id: str
    state: str
    created: datetime
    last_activity: datetime
    upstream_kind: str
    upstream_pid: int | None
    upstream_url: str | None
    upstream_transport: str | None
    messages_in: int
    bytes_in: int
    messages_out: int
    bytes_out: int
    in_flight: int
    open_streams: int
    errors: int
    dropped: int
    upstream_exit: str | None
    kind: str = "streamable_http"
    era: str = "session"
    key: str | None = None
    server: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SessionInfo:
        """Build one from a session object of ``mcpfwd_proxy_sessions_json`` /
        ``mcpfwd_proxy_session_json`` (already decoded).

        Raises:
            InternalError: the object does not have the documented shape.
        """
        try:
            upstream = obj["upstream"]
            c2s = obj["client_to_server"]
            s2c = obj["server_to_client"]
            exit_text = obj["upstream_exit"]
            if exit_text is not None and not isinstance(exit_text, str):
                raise TypeError(f"upstream_exit is {type(exit_text).__name__}")
            kind = _str(upstream, "kind")
            pid: int | None = None
            url: str | None = None
            transport: str | None = None
            if kind == "stdio":
                pid = _int(upstream, "pid")
            elif kind == "http":
                url = _str(upstream, "url")
                transport = _str(upstream, "transport")
            # Another kind (newer than this package): only what it has; see raw.
            elif upstream.get("pid") is not None:
                pid = _int(upstream, "pid")
            return cls(
                id=str(obj["id"]),
                state=str(obj["state"]),
                created=_utc(_int(obj, "created_ms")),
                last_activity=_utc(_int(obj, "last_activity_ms")),
                upstream_kind=kind,
                upstream_pid=pid,
                upstream_url=url,
                upstream_transport=transport,
                messages_in=_int(c2s, "messages"),
                bytes_in=_int(c2s, "bytes"),
                messages_out=_int(s2c, "messages"),
                bytes_out=_int(s2c, "bytes"),
                in_flight=_int(obj, "in_flight"),
                open_streams=_int(obj, "open_streams"),
                errors=_int(obj, "errors"),
                dropped=_int(obj, "dropped"),
                upstream_exit=exit_text,
                kind=str(obj.get("kind", "streamable_http")),
                era=str(obj.get("era", "session")),
                key=obj.get("key") if isinstance(obj.get("key"), str) else None,
                server=obj.get("server") if isinstance(obj.get("server"), str) else None,
                raw=dict(obj),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            # Not a KeyError: Proxy.session() raises KeyError only for an unknown id.
            raise InternalError(
                f"unexpected session object from the mcpfwd library ({type(e).__name__}: {e}): "
                f"{dict(obj)!r}"
            ) from e
