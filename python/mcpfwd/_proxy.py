"""mcpfwd.Proxy: one proxy instance, a Pythonic wrapper over the native ``_mcpfwd._Proxy``."""

from __future__ import annotations

import asyncio
import atexit
import ipaddress
import json
import math
import numbers
import os
import re
import threading
import weakref
from datetime import timedelta
from types import TracebackType
from typing import (
    Any,
    Callable,
    ClassVar,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Union,
    cast,
)

from . import _mcpfwd
from ._enums import Direction, EventKind, LogLevel, UpstreamTransport
from ._errors import Error, InvalidArgumentError, NotFoundError
from ._events import DEFAULT_EVENT_BUFFER, Event, EventStream, Message
from ._options import Option, OptionType, options
from ._session import SessionInfo

__all__ = [
    "EventCallback",
    "FdLike",
    "ListenAddress",
    "LogCallback",
    "MessageCallback",
    "Proxy",
    "Seconds",
]

_INT_MAX = 2**31 - 1


class _SupportsFileno(Protocol):
    def fileno(self) -> int: ...


#: A file descriptor, or an object with a ``fileno()`` method (a file, a socket).
FdLike = Union[int, _SupportsFileno]

#: ``on_log(level, source, text)``: ``source`` is ``"mcpfwd"`` for the proxy's own lines and
#: ``"server"`` for lines the upstream server wrote to its stderr.
LogCallback = Callable[[LogLevel, str, str], object]

#: ``on_event(event)``: return False for an :attr:`EventKind.OPENED` event to close that
#: session at once; None or True goes on (the return value of other events is ignored).
EventCallback = Callable[[Event], Optional[bool]]

#: ``on_message(message)``: return False to drop the message and close its session; None or
#: True goes on.
MessageCallback = Callable[[Message], Optional[bool]]

#: Where an HTTP proxy listens: ``("127.0.0.1", 8931)`` or ``"127.0.0.1:8931"``
#: (``"[::1]:8931"`` for IPv6). Port 0 picks a free port.
ListenAddress = Union[Tuple[str, int], str]

#: A duration: a number of seconds (int or float) or a :class:`datetime.timedelta`.
Seconds = Union[float, timedelta]

# Proxies not closed yet; closed at interpreter exit, while the proxy's I/O threads can still
# take the GIL to deliver their last log lines.
_live: weakref.WeakSet[Proxy] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for proxy in list(_live):
        proxy.close()


def _fileno(value: FdLike, what: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a file descriptor, not bool")
    if isinstance(value, int):
        return value
    fileno = getattr(value, "fileno", None)
    if fileno is None:
        raise TypeError(
            f"{what} must be a file descriptor or have a fileno() method, "
            f"not {type(value).__name__}"
        )
    fd = fileno()
    if not isinstance(fd, int):
        raise TypeError(f"{what}.fileno() returned {type(fd).__name__}, not int")
    return fd


def _listen_address(listen: object, name: str = "listen") -> tuple[str, int]:
    host: object
    port: object
    if isinstance(listen, str):
        host, sep, port_text = listen.rpartition(":")
        if not sep or not port_text.isascii() or not port_text.isdigit():
            raise InvalidArgumentError(
                f"{name} must be 'HOST:PORT' such as '127.0.0.1:0', got {listen!r}"
            )
        port = int(port_text)
    elif isinstance(listen, (tuple, list)) and len(listen) == 2:
        host, port = listen
    else:
        raise TypeError(
            f"{name} must be a (host, port) pair or a 'HOST:PORT' string, "
            f"not {type(listen).__name__}"
        )
    if not isinstance(host, str):
        raise TypeError(f"the {name} host must be str, not {type(host).__name__}")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"the {name} port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise InvalidArgumentError(f"the {name} port must be between 0 and 65535, got {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise InvalidArgumentError(
            f"the {name} host must be an IP address such as 127.0.0.1 or ::1, got {host!r}"
        ) from None
    return host, port


def _duration_ms(value: object, name: str) -> int:
    """Seconds (a real number or a timedelta) as whole milliseconds for the library: rounded,
    at least 1 ms when positive. The library checks the option's bounds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a number of seconds or a timedelta, not {type(value).__name__}"
        )
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidArgumentError(
            f"{name} must be a non-negative number of seconds, got {value!r}"
        )
    ms = round(seconds * 1000)
    if ms == 0 and seconds > 0:
        ms = 1
    return ms


def _integer(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def _strings(value: object, name: str) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of str, not {type(value).__name__}")
    items: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{name} must contain str, not {type(item).__name__}")
        items.append(item)
    return items


def _session_id(session_id: object) -> str:
    if not isinstance(session_id, str):
        raise TypeError(f"a session id is a str, not {type(session_id).__name__}")
    if "\0" in session_id:
        raise KeyError(session_id)  # no session has such an id
    return session_id


# A string naming a scheme ("https://...") is meant as a URL: the library checks the rest
# (http:// or https://, a host, no credentials) and says what is wrong with it.
_URL_RX = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _command(upstream: Sequence[str | os.PathLike[str]]) -> list[str]:
    if isinstance(upstream, (str, bytes, os.PathLike)):
        raise TypeError(
            "upstream must be a sequence of arguments such as ['python', 'server.py'] "
            "or an http:// or https:// URL, not a single string"
        )
    args: list[str] = []
    for arg in upstream:
        arg = os.fspath(arg)
        if not isinstance(arg, str):
            raise TypeError(f"upstream arguments must be str, not {type(arg).__name__}")
        args.append(arg)
    return args


def _upstream(upstream: Sequence[str | os.PathLike[str]] | str) -> list[str] | str:
    """The server command (a list) or the remote server's URL (a str)."""
    if isinstance(upstream, str) and _URL_RX.match(upstream):
        return upstream
    return _command(upstream)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be bool, not {type(value).__name__}")
    return value


def _text(option: Option, value: object, name: str) -> str:
    """A string option's value: a str (or, for a path, an os.PathLike)."""
    if option.metavar in ("PATH", "DIR") and isinstance(value, os.PathLike):
        value = os.fspath(value)
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str path, not {type(value).__name__}")
    if not isinstance(value, str):
        kinds = "str or os.PathLike" if option.metavar in ("PATH", "DIR") else "str"
        raise TypeError(f"{name} must be {kinds}, not {type(value).__name__}")
    return value


def _option_texts(option: Option, value: object, name: str) -> list[str]:
    """The value of one keyword argument as the option's text (a list: one entry each; a
    flag that is False sets nothing). Type conversions only: the library checks the values."""
    kind = option.type
    if kind is OptionType.FLAG:
        return ["true"] if _flag(value, name) else []
    if kind is OptionType.DURATION_MS:
        return [str(_duration_ms(value, name))]
    if kind in (OptionType.INTEGER, OptionType.BYTES):
        return [str(_integer(value, name))]
    if kind is OptionType.LIST:
        return _strings(value, name)
    return [_text(option, value, name)]


def _listen_text(address: object) -> list[tuple[str, str]]:
    host, port = _listen_address(address)
    return [("listen", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")]


def _admin_text(address: object) -> list[tuple[str, str]]:
    host, port = _listen_address(address, "admin")
    return [("admin", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")]


def _env_texts(value: object) -> list[tuple[str, str]]:
    """upstream_env: {"NAME": "value"} sets (option env), {"NAME": None} removes (unset-env),
    in order."""
    if not isinstance(value, Mapping):
        raise TypeError("upstream_env must be a mapping of names to str (or None: unset)")
    out: list[tuple[str, str]] = []
    for name, text in value.items():
        if not isinstance(name, str) or not (text is None or isinstance(text, str)):
            raise TypeError("upstream_env must map str names to str values or None")
        out.append(("unset-env", name) if text is None else ("env", f"{name}={text}"))
    return out


def _header_texts(value: object) -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        raise TypeError(
            f"upstream_headers must be a mapping of str to str, not {type(value).__name__}"
        )
    out: list[tuple[str, str]] = []
    for name, text in value.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise TypeError(
                "upstream_headers must map str to str, not "
                f"{type(name).__name__} to {type(text).__name__}"
            )
        out.append(("upstream-header", f"{name}: {text}"))
    return out


def _log_level_text(value: object) -> list[tuple[str, str]]:
    level = LogLevel.parse(cast("LogLevel | str | int", value))  # parse checks the type
    return [("log-level", level.name.lower())]


def _transport_text(value: object) -> list[tuple[str, str]]:
    transport = UpstreamTransport.parse(cast("UpstreamTransport | str", value))  # checks too
    return [("upstream-transport", transport.label)]


# Keyword arguments given as Python types of their own: (option, text) pairs for each.
_CONVERTERS: dict[str, Callable[[object], list[tuple[str, str]]]] = {
    "listen": _listen_text,
    "admin": _admin_text,
    "upstream_env": _env_texts,
    "upstream_headers": _header_texts,
    "log_level": _log_level_text,
    "upstream_transport": _transport_text,
}


def _configure(config: _mcpfwd._Config, given: Mapping[str, object]) -> None:
    """Sets every option of the table whose keyword argument is in ``given`` and not None,
    through the one generic setter: the library parses and checks each value, and its
    message, prefixed with the keyword, is the error."""
    done: set[str] = set()
    for option in options():
        keyword = option.keyword
        value = given.get(keyword)
        if keyword in done or value is None:
            continue
        done.add(keyword)
        converter = _CONVERTERS.get(keyword)
        if converter is not None:
            pairs = converter(value)
        else:
            pairs = [(option.name, text) for text in _option_texts(option, value, keyword)]
        for name, text in pairs:
            try:
                config.set(name, text)
            except Error as e:
                raise type(e)(f"{keyword}: {e.message}", e.status) from None


class _Dispatch:
    """Base of the callables the native proxy holds: each forwards to one callback attribute
    of the Proxy.

    They refer to the Proxy only weakly, so a callback may reference the proxy (a bound method
    of an object holding it) without creating a cycle the garbage collector cannot see.
    """

    __slots__ = ("_proxy",)
    _attr: ClassVar[str]

    def __init__(self, proxy: Proxy) -> None:
        self._proxy = weakref.ref(proxy)

    def _callback(self) -> Any:
        proxy = self._proxy()
        return None if proxy is None else getattr(proxy, self._attr)

    def __repr__(self) -> str:
        # Shown as "Exception ignored in: ..." when the callback raises.
        return f"<mcpfwd.Proxy {self._attr.lstrip('_')}={self._callback()!r}>"


class _LogDispatch(_Dispatch):
    __slots__ = ()
    _attr = "_on_log"

    def __call__(self, level: int, source: str, text: str) -> None:
        callback = self._callback()
        if callback is None:
            return
        try:
            log_level = LogLevel(level)
        except ValueError:  # a level newer than this package: the nearest one it knows
            log_level = LogLevel.TRACE if level < LogLevel.TRACE else LogLevel.ERROR
        callback(log_level, source, text)


class _Subscribers:
    """The EventStreams of one proxy. Read lock-free from I/O threads (an immutable tuple,
    replaced as a whole); changed under a lock."""

    __slots__ = ("_lock", "_closed", "streams")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self.streams: tuple[weakref.ref[EventStream], ...] = ()

    def add(self, stream: EventStream) -> None:
        with self._lock:
            if not self._closed:
                live = tuple(ref for ref in self.streams if ref() is not None)
                self.streams = (*live, weakref.ref(stream))
                return
        stream._end()  # the proxy is closed: nothing will come

    def close(self) -> None:
        with self._lock:
            self._closed = True
            refs, self.streams = self.streams, ()
        for ref in refs:
            stream = ref()
            if stream is not None:
                stream._end()


class _EventDispatch(_Dispatch):
    __slots__ = ("_subscribers",)
    _attr = "_on_event"

    def __init__(self, proxy: Proxy, subscribers: _Subscribers) -> None:
        super().__init__(proxy)
        self._subscribers = subscribers

    def __call__(self, kind: int, session_id: str, detail: str) -> bool:
        """False closes the session (for OPENED)."""
        try:
            event_kind = EventKind(kind)
        except ValueError:  # a kind newer than this package: not delivered
            return True
        event = Event(event_kind, session_id, detail)
        for ref in self._subscribers.streams:
            stream = ref()
            if stream is not None:
                stream._put(event)
        callback = self._callback()
        if callback is None:
            return True
        return callback(event) is not False


class _MessageDispatch(_Dispatch):
    __slots__ = ()
    _attr = "_on_message"

    def __call__(self, direction: int, session_id: str, data: bytes) -> bool:
        """False drops the message and closes its session."""
        callback = self._callback()
        if callback is None:
            return True
        try:
            message = Message(Direction(direction), session_id, data)
        except ValueError:  # a direction newer than this package: not shown
            return True
        return callback(message) is not False


class Proxy:
    """An MCP forward proxy in front of an upstream MCP server: a server command it spawns, or
    a remote server it reaches over HTTP.

    Two downstream modes; pass exactly one of ``stdio`` and ``listen``:

    - ``stdio=(in_fd, out_fd)``: serves one client over a pair of file descriptors carrying
      newline-delimited JSON-RPC (the stdio transport), with one upstream server process (or
      one session on the remote server).
    - ``listen=(host, port)``: serves many clients over Streamable HTTP at
      ``http://host:port/mcp`` (read :attr:`url` after :meth:`start`); every client session
      gets its own freshly spawned upstream server process (or its own session on the remote
      server). See :meth:`sessions`.

    Args:
        upstream: the server command, e.g. ``["python", "server.py"]``; ``upstream[0]`` is
            looked up in PATH, no shell is involved. Or the URL of a remote MCP server, a
            ``str`` starting with ``http://`` or ``https://``: its Streamable HTTP endpoint
            (``"https://host/mcp"``) or the SSE endpoint of a legacy HTTP+SSE server
            (``"http://host/sse"``). A URL must not carry credentials: use
            ``upstream_headers``. None (only with ``config``): the file gives the default
            upstream, or only named servers.
        stdio: ``(in_fd, out_fd)``: the proxy reads the client's messages from ``in_fd`` and
            writes its replies to ``out_fd`` (ints or objects with ``fileno()``). The proxy
            duplicates both when it starts; the caller keeps ownership of its descriptors.
        listen: ``(host, port)`` or ``"host:port"`` (``"[::1]:port"`` for IPv6): the IP
            address to bind (use 127.0.0.1 unless you mean to expose the proxy); port 0 picks a
            free port.
        max_message_bytes: largest JSON-RPC message in either direction (library default
            4 MiB, at least 64); in HTTP mode also the largest request body.
        max_batch: most messages in one JSON-RPC batch (protocol 2025-03-26; library
            default 100).
        shutdown_grace: seconds shutdown waits at each step: for the server to exit after its
            stdin is closed, then again after SIGTERM, before SIGKILL (library default 2.0).
            With a remote upstream: the longest wait for the answer to the HTTP DELETE that
            ends a session there.
        log_level: lowest level logged: a :class:`LogLevel`, its name (``"info"``) or value;
            None keeps the library default (INFO).
        log_format: ``"text"`` (library default) or ``"json"``: the lines written to standard
            error, as one JSON object per line (``time``, ``level``, ``source``, ``session``
            when the line is about one, ``event`` and ``fields`` for named events, ``msg``).
            ``on_log`` always receives the text.
        on_log: ``on_log(level, source, text)`` receives every log line instead of standard
            error; ``source`` is ``"server"`` for the upstream servers' stderr lines and
            ``"mcpfwd"`` for the proxy's own. It runs on a proxy I/O thread (in HTTP mode, on
            any of them, so possibly on several at once) and must not block. Exceptions it
            raises are reported through ``sys.unraisablehook`` and ignored.
        on_event: ``on_event(event)`` receives every :class:`Event`: a session opened, closed
            (with the reason) or was rejected. Returning False for an OPENED event closes that
            session at once (its client's requests then fail); None or True goes on. Runs on
            an I/O thread like ``on_log``; one session's events come in order. See also
            :meth:`events`.
        on_message: ``on_message(message)`` sees every JSON-RPC :class:`Message` a session
            forwards, either way, before it is forwarded. Returning False drops the message
            and closes its session; None or True goes on. It runs on the forwarding path of
            the session's I/O thread (taking the GIL for every message): keep it short.
            Without it nothing is spent on messages.

    Exceptions raised by ``on_log``, ``on_event`` or ``on_message`` are reported through
    ``sys.unraisablehook`` and count as "go on": they never close a session. Inside any of
    them only :meth:`stop` (and :meth:`close`) may be called; the other methods raise
    :class:`StateError`.

    A server command only (passing any of them with a remote upstream is an
    :class:`InvalidArgumentError`, raised by the library):

    Args:
        upstream_env: changes to the spawned server's environment, applied in order to a copy
            of this process's environment: ``{"NAME": "value"}`` sets, ``{"NAME": None}``
            removes. The command itself is still looked up in this process's ``PATH``.
        upstream_clear_env: start the server's environment empty instead (``upstream_env``
            is then applied to the empty one).
        upstream_cwd: the server's working directory (it must exist; checked by the
            constructor). A relative command such as ``"./server"`` is found from there.

    A remote upstream only (passing any of them with a server command is an
    :class:`InvalidArgumentError`, raised by the library; the flags count only when True):

    Args:
        upstream_transport: how the remote server is spoken to: an :class:`UpstreamTransport`
            or its name, ``"auto"`` (the library default: Streamable HTTP, falling back to
            legacy HTTP+SSE when ``initialize`` gets HTTP 400, 404 or 405),
            ``"streamable-http"`` or ``"sse"``.
        upstream_headers: headers sent with every request to the remote server, e.g.
            ``{"Authorization": "Bearer ..."}``. Host, Content-Length, Transfer-Encoding,
            Connection, Mcp-Session-Id, MCP-Protocol-Version and Last-Event-ID are mcpfwd's
            own and refused.
        forward_authorization: pass each client's own ``Authorization`` header on to the
            remote server (default False: never; the MCP specification forbids token
            passthrough, this is for test harnesses and trusted setups). A header in
            ``upstream_headers`` takes precedence. Do not combine it with ``auth_token``: the
            clients' header then carries the proxy's own token, and it is passed on too.
        upstream_ca_file: a PEM file of CA certificates to verify the remote server's TLS
            certificate with, instead of the system store. Loaded by the constructor.
        upstream_insecure: do not verify the remote server's TLS certificate (default False;
            a warning is logged at start: anyone on the path can then read and alter the
            traffic).
        upstream_pool_max: keep-alive connections per upstream origin that carry POSTs and
            DELETEs (library default 128, at least 2; requests use at most all but one); more
            exchanges wait for one. A session's long-lived GET stream uses a connection of its
            own.
        upstream_connect_timeout: seconds allowed for the TCP connect plus TLS handshake
            (library default 10.0).
        upstream_timeout: seconds allowed for the remote server to start answering a request,
            waiting for a pooled connection included (library default 120.0); a streamed
            answer may then take as long as it takes (see ``request_timeout``).

    HTTP mode only (passing any of them with ``stdio`` is an :class:`InvalidArgumentError`,
    raised by the library):

    Args:
        max_sessions: sessions at once (library default 1000); beyond it a new client's
            ``initialize`` gets HTTP 503.
        idle_timeout: seconds after which a session without traffic is closed (library
            default 1800), never one with a stream open or a request in flight.
        request_timeout: seconds after which a request the server has not answered gets a
            JSON-RPC error (library default: no limit; 0 also means no limit).
        allowed_origins: the ``Origin`` values to accept (exact match, ``"*"`` for any).
            Without any, only http(s) origins on localhost, 127.0.0.1 and [::1] are accepted;
            requests without ``Origin`` always are.
        auth_token: require ``Authorization: Bearer <auth_token>`` on every request (HTTP 401
            otherwise). It is never passed to the upstream server.
        io_threads: I/O threads (library default: one per core).
        prespawn: server processes started ahead of new sessions by a spawner thread (HTTP
            mode with a server command; library default 0: each session spawns its own).
        drain_timeout: seconds shutdown lets requests in flight finish (library default 5.0);
            what is left then is answered with a JSON-RPC error.
        stream_buffer_bytes: server messages queued for one client stream (library default
            1 MiB); a client that falls further behind loses that stream.
        allowed_hosts: the ``Host`` header values to accept besides the default (exact,
            ``"*"`` for any); on a loopback bind the default is the loopback names with the
            listener's port.
        max_connections: client connections at once (library default 0: half the descriptor
            limit); more are refused with HTTP 503.
        header_timeout: seconds a request's head may take from its first byte (library
            default 10).
        body_timeout: seconds a request's body may take after its head (library default 30).
        keepalive_timeout: seconds a client connection may sit idle between requests (library
            default 60).
        stateless_key: what isolates stateless-era (2026-07-28) requests: ``"shared"``
            (library default: one upstream instance for every stateless client),
            ``"header:NAME"`` (one per value of request header NAME) or ``"authorization"``
            (one per Authorization value, shown only hashed). See docs/eras.md.
        upstream_era: ``"auto"`` (library default: each new upstream instance is probed with
            ``server/discover``), ``"legacy"`` (taken for a session-era server without a probe;
            session-era clients are never bridged) or ``"modern"`` (no probe). Stateless-era
            clients of a session-era server are bridged (docs/eras.md, "Bridging: modern client,
            legacy server"); ``auto`` and ``modern`` also bridge a session-era client to a server
            that serves only the stateless era (docs/eras.md, "Bridging: legacy client, modern
            server").
        admin: the admin listener's address, a ``(host, port)`` pair or ``"HOST:PORT"``
            (port 0 picks one; :attr:`admin_url` tells which): a second HTTP listener serving
            ``/metrics`` (Prometheus), ``/healthz``, ``/readyz`` and ``/sessions``
            (docs/operations.md). Keep it on a loopback address, or set ``admin_token``.
        admin_token: require ``Authorization: Bearer <admin_token>`` on the admin listener's
            ``/metrics`` and ``/sessions`` (``/healthz`` and ``/readyz`` stay open).
        node_id: this instance's name among several behind a load balancer (letters, digits,
            ``-``, ``_``; 1 to 32): session ids become ``"<node_id>.<32 hex digits>"``, so the
            balancer routes each session by its id (docs/scale-out.md).
        config: a JSON config file (docs/configuration.md): options by name, and named
            servers served at ``/servers/NAME/mcp`` (the ``mcpServers`` shape of desktop hosts
            too). Keyword arguments win over the file; :meth:`reload` reads it again.

    Durations are seconds (int or float) or :class:`datetime.timedelta`, converted to whole
    milliseconds.

    Every option is one row of the library's options table (:func:`mcpfwd.options`,
    ``docs/options.md``) and is set through its generic setter: the library checks each value
    (bounds, forms) and the modes it applies to, so an error names the option as the table
    does (``"max_sessions: --max-sessions must be at least 1"``). This class checks only
    Python types and converts seconds to milliseconds.

    A Proxy is a context manager: ``with Proxy(...) as p:`` starts it (unless already started)
    and closes it on exit: a graceful shutdown (every session closed, every upstream server
    terminated and reaped, every thread joined). :meth:`close` is idempotent and also runs when
    the object is garbage collected and at interpreter exit.

    In asyncio code, ``async with Proxy(...) as p:`` does the same with :meth:`start` and
    :meth:`close` run in a worker thread (``asyncio.to_thread``), so the event loop is not
    blocked; :meth:`events` gives the events as an asynchronous iterator.

    Thread safety: :meth:`stop`, :meth:`stats`, :meth:`sessions`, :meth:`session`,
    :meth:`close_session`, :meth:`status_text`, :meth:`events` and :meth:`close` may be called
    from any thread (``stop`` and ``close`` also from the callbacks, the others not);
    :meth:`start` and :meth:`wait` from one thread at a time. Every call into the library that
    can block releases the GIL.
    """

    def __init__(
        self,
        *,
        upstream: Sequence[str | os.PathLike[str]] | str | None = None,
        stdio: tuple[FdLike, FdLike] | None = None,
        listen: ListenAddress | None = None,
        max_message_bytes: int | None = None,
        max_batch: int | None = None,
        shutdown_grace: Seconds | None = None,
        log_level: LogLevel | str | int | None = None,
        log_format: str | None = None,
        on_log: LogCallback | None = None,
        max_sessions: int | None = None,
        idle_timeout: Seconds | None = None,
        request_timeout: Seconds | None = None,
        allowed_origins: Sequence[str] | None = None,
        auth_token: str | None = None,
        io_threads: int | None = None,
        prespawn: int | None = None,
        on_event: EventCallback | None = None,
        on_message: MessageCallback | None = None,
        drain_timeout: Seconds | None = None,
        stream_buffer_bytes: int | None = None,
        allowed_hosts: Sequence[str] | None = None,
        max_connections: int | None = None,
        header_timeout: Seconds | None = None,
        body_timeout: Seconds | None = None,
        keepalive_timeout: Seconds | None = None,
        stateless_key: str | None = None,
        upstream_era: str | None = None,
        admin: ListenAddress | None = None,
        admin_token: str | None = None,
        node_id: str | None = None,
        config: str | os.PathLike[str] | None = None,
        upstream_transport: UpstreamTransport | str | None = None,
        upstream_headers: Mapping[str, str] | None = None,
        forward_authorization: bool = False,
        upstream_ca_file: str | os.PathLike[str] | None = None,
        upstream_insecure: bool = False,
        upstream_pool_max: int | None = None,
        upstream_connect_timeout: Seconds | None = None,
        upstream_timeout: Seconds | None = None,
        upstream_env: Mapping[str, str | None] | None = None,
        upstream_clear_env: bool = False,
        upstream_cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        # Every keyword argument by name: the options among them are set from the table.
        given: dict[str, object] = dict(locals())
        self._on_log = on_log
        self._on_event = on_event
        self._on_message = on_message
        self._subscribers = _Subscribers()
        self._started = False
        self._url = ""
        self._admin_url = ""
        # None: the config file gives the default upstream, or only named servers.
        self._upstream = [] if upstream is None else _upstream(upstream)
        url = self._upstream if isinstance(self._upstream, str) else None
        self._transport = (
            None if upstream_transport is None else UpstreamTransport.parse(upstream_transport)
        )
        self._listen = None if listen is None else _listen_address(listen)

        for name, callback in (
            ("on_log", on_log),
            ("on_event", on_event),
            ("on_message", on_message),
        ):
            if callback is not None and not callable(callback):
                raise TypeError(f"{name} must be callable or None")

        native_config = _mcpfwd._Config()
        if url is None and self._upstream:  # a command (a URL is the option "upstream", below)
            native_config.set_upstream_command(list(self._upstream))
        if stdio is not None:
            if len(stdio) != 2:
                raise TypeError("stdio must be a pair (in_fd, out_fd)")
            in_fd, out_fd = _fileno(stdio[0], "stdio[0]"), _fileno(stdio[1], "stdio[1]")
            native_config.set_downstream_stdio(in_fd, out_fd)
        given["upstream"] = url
        # The library refuses a missing or doubled downstream or upstream, a value out of
        # bounds and an option of another mode, naming it.
        _configure(native_config, given)

        self._native: _mcpfwd._Proxy = _mcpfwd._Proxy(
            config=native_config,
            on_log=None if on_log is None else _LogDispatch(self),
            # Always: events() may be used without on_event. Sessions open and close rarely.
            on_event=_EventDispatch(self, self._subscribers),
            # Only when asked for: it is on the forwarding path of every message.
            on_message=None if on_message is None else _MessageDispatch(self),
        )
        _live.add(self)

    def start(self) -> str:
        """Start the proxy on its own I/O thread(s) and return :attr:`url` (the bound
        ``http://host:port/mcp``, with the real port when 0 was asked; ``""`` in stdio mode).

        In stdio mode: spawn the upstream server and start forwarding; returns once the server
        process exists (a remote upstream is first contacted when the client's first message
        arrives). In HTTP mode: bind the listening socket and start accepting clients (each
        session spawns its own server, or opens its own session on the remote server);
        returns once :attr:`url` is known.

        Raises:
            IoError: the server could not be spawned (e.g. the command was not found), or the
                address could not be bound. An unreachable remote server is not detected
                here: its clients' requests fail.
            StateError: already started, or closed.
        """
        self._url = self._native.start()
        self._started = True
        return self._url

    def stop(self) -> None:
        """Ask the proxy to shut down gracefully and return at once: the server's stdin is
        closed, then SIGTERM and SIGKILL follow after the grace periods (a remote upstream
        session is ended with an HTTP DELETE instead); in HTTP mode the proxy
        stops accepting and does this for every session (requests in flight are answered with
        a JSON-RPC error). Idempotent; a no-op on a closed proxy. Any thread, including from
        inside ``on_log``, ``on_event`` and ``on_message``."""
        self._native.stop()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait until the proxy has finished and its server(s) have been reaped.

        A stdio proxy finishes when the client ends the session, the server exits, or
        :meth:`stop` is called; an HTTP proxy only after :meth:`stop` (or :meth:`close` from
        another thread). Ctrl-C (KeyboardInterrupt) interrupts the wait within 0.1 s.

        Args:
            timeout: seconds; None waits without limit.

        Returns:
            None if the proxy still runs when the timeout expires; otherwise the exit status:
            0 when the client ended the session (end of input, or :meth:`stop`, and always in
            HTTP mode); when the server exited first, its exit code (1 if that was 0), or
            128 + the signal number if a signal killed it.

        Raises:
            StateError: the proxy was never started, or is closed.
        """
        if timeout is None:
            timeout_ms = -1
        else:
            seconds = float(timeout)
            if math.isnan(seconds):
                raise ValueError("timeout must be a number of seconds, not NaN")
            timeout_ms = 0 if seconds <= 0 else min(math.ceil(seconds * 1000), _INT_MAX)
        return self._native.wait(timeout_ms)

    def stats(self) -> dict[str, Any]:
        """A snapshot of the proxy's counters, as decoded JSON.

        stdio mode: messages and bytes each way, errors by kind, requests in flight, the
        upstream pid (None for a remote upstream), ``"upstream"`` (as in
        :attr:`SessionInfo.raw`) and the state (schema in docs/c-api.md). HTTP mode:
        ``{"mode": "http", "url": ..., "sessions": N}``, with a remote upstream also
        ``"upstream_pool"``: ``{"pools": {origin: {"open", "idle", "waiting", "max",
        "created", "reused", "waited", "stale"}}, "stream_connections": N}``; see
        :meth:`sessions` for the rest.
        """
        stats: dict[str, Any] = json.loads(self._native.stats_json())
        return stats

    @property
    def url(self) -> str:
        """The endpoint of an HTTP proxy, e.g. ``"http://127.0.0.1:43123/mcp"`` (with the port
        actually bound); ``""`` before :meth:`start` and in stdio mode. Still readable after
        :meth:`close`."""
        return self._url

    def sessions(self) -> list[SessionInfo]:
        """The open sessions of an HTTP proxy (``[]`` in stdio mode). A session disappears
        from the list as soon as it starts closing.

        Raises:
            StateError: the proxy is closed.
        """
        data = json.loads(self._native.sessions_json())
        return [SessionInfo.from_json(obj) for obj in data]

    def session(self, session_id: str) -> SessionInfo:
        """One open session of an HTTP proxy, by id (the ``Mcp-Session-Id`` its client got).

        Raises:
            KeyError: there is no open session with that id.
            StateError: the proxy is closed.
        """
        sid = _session_id(session_id)
        try:
            text = self._native.session_json(sid)
        except NotFoundError:
            raise KeyError(session_id) from None
        return SessionInfo.from_json(json.loads(text))

    def metrics(self) -> str:
        """The proxy's metrics in the Prometheus text exposition format 0.0.4: what the admin
        listener serves at ``/metrics`` (with or without one). docs/operations.md lists every
        metric with its type and labels; ``prometheus_client.parser`` reads it.

        Raises:
            StateError: the proxy is closed, or this runs inside a callback.
        """
        return self._native.metrics_text()

    @property
    def admin_url(self) -> str:
        """The admin listener's base URL, e.g. ``"http://127.0.0.1:9464"`` (with the port
        actually bound); ``""`` without one or before :meth:`start`."""
        if self._admin_url == "" and self._started:
            self._admin_url = self._native.admin_url()
        return self._admin_url

    def status_text(self) -> str:
        """A table of the proxy and its sessions for people (what the CLI prints on SIGUSR1):
        one line per session with its id, state, pid, age, idle time, message counts, requests
        in flight, streams and errors. The format may change: use :meth:`sessions` in code.

        Raises:
            StateError: the proxy is closed, or this runs inside a callback.
        """
        return self._native.status_text()

    def events(self, maxsize: int = DEFAULT_EVENT_BUFFER) -> EventStream:
        """The proxy's events from now on, as an asynchronous iterator::

            async for event in proxy.events():
                if event.kind is mcpfwd.EventKind.CLOSED:
                    print(event.session_id, event.detail)

        Events come from the proxy's I/O threads (through ``loop.call_soon_threadsafe``) and
        are read on the event loop that first iterates. Up to ``maxsize`` of them wait for a
        slow reader; beyond that the oldest are dropped and the next read emits a
        :class:`RuntimeWarning`. Iteration ends when the proxy is closed (at once if it
        already is); ``await stream.aclose()`` ends it earlier. Each call gives a new,
        independent stream; ``on_event`` still receives every event too.
        """
        stream = EventStream(maxsize)
        self._subscribers.add(stream)
        return stream

    def reload(self) -> None:
        """Read the config file (``config``) again: sessions opened from now on use it, open
        ones keep their configuration until they end; a server no longer in the file takes no
        new session (404).

        Raises:
            InvalidArgumentError: the file is bad (the message names the file, the line or key,
                and the problem); the running configuration stays.
            StateError: no config file, the proxy is not serving HTTP, or it is closed.
        """
        self._native.reload()

    def close_session(self, session_id: str) -> None:
        """Close one session of an HTTP proxy and return at once: its requests in flight get a
        JSON-RPC error, its upstream server is terminated (stdin closed, then SIGTERM and
        SIGKILL after the grace periods), and its id answers HTTP 404 from now on.

        Raises:
            KeyError: there is no open session with that id.
            StateError: the proxy is closed.
        """
        sid = _session_id(session_id)
        try:
            self._native.close_session(sid)
        except NotFoundError:
            raise KeyError(session_id) from None

    def close(self) -> None:
        """Stop the proxy if it runs, wait for its server(s) to exit, and release everything.

        Idempotent. No callback runs after it returns (unless it is called from inside a
        callback, where the release completes on a helper thread). Iterators from
        :meth:`events` end once they have given the events that came before."""
        native = getattr(self, "_native", None)  # None if __init__ failed
        if native is not None:
            native.close()
        subscribers = getattr(self, "_subscribers", None)
        if subscribers is not None:
            subscribers.close()
        _live.discard(self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        native = getattr(self, "_native", None)
        return native is None or native.closed

    @property
    def upstream(self) -> list[str] | str:
        """The upstream server command (a new list), or the remote server's URL (a str); ``[]``
        when the config file gives it."""
        return self._upstream if isinstance(self._upstream, str) else list(self._upstream)

    def __enter__(self) -> Proxy:
        if not self._started:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Proxy:
        """``async with``: start (unless already started) in a worker thread."""
        if not self._started:
            try:
                await asyncio.to_thread(self.start)
            except BaseException:
                await asyncio.to_thread(self.close)
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close in a worker thread: the event loop keeps running while sessions drain."""
        await asyncio.to_thread(self.close)

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("started" if self._started else "new")
        where = ""
        listen = getattr(self, "_listen", None)
        if listen is not None:
            where = f" url={self._url!r}" if self._url else f" listen={listen!r}"
        transport = getattr(self, "_transport", None)
        if transport is not None:
            where = f" transport={transport.label!r}{where}"
        return f"<mcpfwd.Proxy upstream={self._upstream!r}{where} {state}>"
