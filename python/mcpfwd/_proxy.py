"""mcpfwd.Proxy: one proxy instance, a Pythonic wrapper over the native ``_mcpfwd._Proxy``."""

from __future__ import annotations

import atexit
import ipaddress
import json
import math
import numbers
import os
import weakref
from datetime import timedelta
from types import TracebackType
from typing import Any, Callable, Protocol, Sequence, Tuple, Union

from . import _mcpfwd
from ._enums import LogLevel
from ._errors import InvalidArgumentError, NotFoundError
from ._session import SessionInfo

__all__ = ["FdLike", "ListenAddress", "LogCallback", "Proxy", "Seconds"]

_UINT32_MAX = 2**32 - 1
_INT_MAX = 2**31 - 1


class _SupportsFileno(Protocol):
    def fileno(self) -> int: ...


#: A file descriptor, or an object with a ``fileno()`` method (a file, a socket).
FdLike = Union[int, _SupportsFileno]

#: ``on_log(level, source, text)``: ``source`` is ``"mcpfwd"`` for the proxy's own lines and
#: ``"server"`` for lines the upstream server wrote to its stderr.
LogCallback = Callable[[LogLevel, str, str], object]

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


def _listen_address(listen: object) -> tuple[str, int]:
    host: object
    port: object
    if isinstance(listen, str):
        host, sep, port_text = listen.rpartition(":")
        if not sep or not port_text.isascii() or not port_text.isdigit():
            raise InvalidArgumentError(
                f"listen must be 'HOST:PORT' such as '127.0.0.1:0', got {listen!r}"
            )
        port = int(port_text)
    elif isinstance(listen, (tuple, list)) and len(listen) == 2:
        host, port = listen
    else:
        raise TypeError(
            "listen must be a (host, port) pair or a 'HOST:PORT' string, "
            f"not {type(listen).__name__}"
        )
    if not isinstance(host, str):
        raise TypeError(f"the listen host must be str, not {type(host).__name__}")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"the listen port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise InvalidArgumentError(f"the listen port must be between 0 and 65535, got {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise InvalidArgumentError(
            f"the listen host must be an IP address such as 127.0.0.1 or ::1, got {host!r}"
        ) from None
    return host, port


def _duration_ms(value: object, name: str) -> int:
    """Seconds (a real number or a timedelta) as whole milliseconds for the C API: rounded,
    at least 1 ms when positive, within uint32."""
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
    if ms > _UINT32_MAX:
        raise InvalidArgumentError(f"{name} is too large: {value!r}")
    return ms


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= _UINT32_MAX:
        raise InvalidArgumentError(f"{name} is out of range: {value}")
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


def _command(upstream: Sequence[str | os.PathLike[str]]) -> list[str]:
    if isinstance(upstream, (str, bytes, os.PathLike)):
        raise TypeError(
            "upstream must be a sequence of arguments such as ['python', 'server.py'], "
            "not a single string"
        )
    args: list[str] = []
    for arg in upstream:
        arg = os.fspath(arg)
        if not isinstance(arg, str):
            raise TypeError(f"upstream arguments must be str, not {type(arg).__name__}")
        args.append(arg)
    return args


class _LogDispatch:
    """The callable the native proxy holds: forwards to the Proxy's ``on_log``.

    It refers to the Proxy only weakly, so ``on_log`` may reference the proxy (a bound method
    of an object holding it) without creating a cycle the garbage collector cannot see.
    """

    __slots__ = ("_proxy",)

    def __init__(self, proxy: Proxy) -> None:
        self._proxy = weakref.ref(proxy)

    def __call__(self, level: int, source: str, text: str) -> None:
        proxy = self._proxy()
        callback = None if proxy is None else proxy._on_log
        if callback is None:
            return
        try:
            log_level = LogLevel(level)
        except ValueError:  # a level newer than this package: the nearest one it knows
            log_level = LogLevel.TRACE if level < LogLevel.TRACE else LogLevel.ERROR
        callback(log_level, source, text)

    def __repr__(self) -> str:
        # Shown as "Exception ignored in: ..." when on_log raises.
        proxy = self._proxy()
        callback = None if proxy is None else proxy._on_log
        return f"<mcpfwd.Proxy on_log={callback!r}>"


class Proxy:
    """An MCP forward proxy in front of an upstream server command.

    Two downstream modes; pass exactly one of ``stdio`` and ``listen``:

    - ``stdio=(in_fd, out_fd)``: serves one client over a pair of file descriptors carrying
      newline-delimited JSON-RPC (the stdio transport), with one upstream server process.
    - ``listen=(host, port)``: serves many clients over Streamable HTTP at
      ``http://host:port/mcp`` (read :attr:`url` after :meth:`start`); every client session
      gets its own freshly spawned upstream server process. See :meth:`sessions`.

    Args:
        upstream: the server command, e.g. ``["python", "server.py"]``; ``upstream[0]`` is
            looked up in PATH, no shell is involved.
        stdio: ``(in_fd, out_fd)``: the proxy reads the client's messages from ``in_fd`` and
            writes its replies to ``out_fd`` (ints or objects with ``fileno()``). The proxy
            duplicates both when it starts; the caller keeps ownership of its descriptors.
        listen: ``(host, port)`` or ``"host:port"`` (``"[::1]:port"`` for IPv6): the IP
            address to bind (use 127.0.0.1 unless you mean to expose the proxy); port 0 picks a
            free port.
        max_message_bytes: largest JSON-RPC message in either direction (library default
            4 MiB, at least 64); in HTTP mode also the largest request body.
        shutdown_grace: seconds shutdown waits at each step: for the server to exit after its
            stdin is closed, then again after SIGTERM, before SIGKILL (library default 2.0).
        log_level: lowest level logged: a :class:`LogLevel`, its name (``"info"``) or value;
            None keeps the library default (INFO).
        on_log: ``on_log(level, source, text)`` receives every log line instead of standard
            error; ``source`` is ``"server"`` for the upstream servers' stderr lines and
            ``"mcpfwd"`` for the proxy's own. It runs on a proxy I/O thread (in HTTP mode, on
            any of them, so possibly on several at once) and must not block. Exceptions it
            raises are reported through ``sys.unraisablehook`` and ignored.

    HTTP mode only (passing any of them with ``stdio`` is an :class:`InvalidArgumentError`):

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

    Durations are seconds (int or float) or :class:`datetime.timedelta`, converted to whole
    milliseconds.

    A Proxy is a context manager: ``with Proxy(...) as p:`` starts it (unless already started)
    and closes it on exit: a graceful shutdown (every session closed, every upstream server
    terminated and reaped, every thread joined). :meth:`close` is idempotent and also runs when
    the object is garbage collected and at interpreter exit.

    Thread safety: :meth:`stop`, :meth:`stats`, :meth:`sessions`, :meth:`session`,
    :meth:`close_session` and :meth:`close` may be called from any thread (``stop`` also from
    ``on_log``, the others not); :meth:`start` and :meth:`wait` from one thread at a time.
    Every call into the library that can block releases the GIL.
    """

    def __init__(
        self,
        *,
        upstream: Sequence[str | os.PathLike[str]],
        stdio: tuple[FdLike, FdLike] | None = None,
        listen: ListenAddress | None = None,
        max_message_bytes: int | None = None,
        shutdown_grace: Seconds | None = None,
        log_level: LogLevel | str | int | None = None,
        on_log: LogCallback | None = None,
        max_sessions: int | None = None,
        idle_timeout: Seconds | None = None,
        request_timeout: Seconds | None = None,
        allowed_origins: Sequence[str] | None = None,
        auth_token: str | None = None,
        io_threads: int | None = None,
    ) -> None:
        self._on_log = on_log
        self._started = False
        self._url = ""
        self._upstream = _command(upstream)

        if stdio is None and listen is None:
            raise InvalidArgumentError(
                "no downstream configured: pass stdio=(in_fd, out_fd) or listen=(host, port)"
            )
        if stdio is not None and listen is not None:
            raise InvalidArgumentError("choose one downstream: stdio= or listen=, not both")

        fds: tuple[int, int] | None = None
        if stdio is not None:
            if len(stdio) != 2:
                raise TypeError("stdio must be a pair (in_fd, out_fd)")
            fds = (_fileno(stdio[0], "stdio[0]"), _fileno(stdio[1], "stdio[1]"))

        address = None if listen is None else _listen_address(listen)
        self._listen = address

        http_only = {
            "max_sessions": max_sessions,
            "idle_timeout": idle_timeout,
            "request_timeout": request_timeout,
            "allowed_origins": allowed_origins,
            "auth_token": auth_token,
            "io_threads": io_threads,
        }
        if address is None:
            given = [name for name, value in http_only.items() if value is not None]
            if given:
                raise InvalidArgumentError(
                    f"{', '.join(given)}: only for a proxy with listen=, not with stdio="
                )

        if max_message_bytes is not None:
            if isinstance(max_message_bytes, bool) or not isinstance(max_message_bytes, int):
                raise TypeError("max_message_bytes must be an int")
            if max_message_bytes < 0:
                raise InvalidArgumentError(
                    f"max_message_bytes must not be negative, got {max_message_bytes}"
                )

        grace_ms = (
            None if shutdown_grace is None else _duration_ms(shutdown_grace, "shutdown_grace")
        )
        level = None if log_level is None else int(LogLevel.parse(log_level))

        if on_log is not None and not callable(on_log):
            raise TypeError("on_log must be callable or None")

        if auth_token is not None and not isinstance(auth_token, str):
            raise TypeError(f"auth_token must be str or None, not {type(auth_token).__name__}")

        self._native: _mcpfwd._Proxy = _mcpfwd._Proxy(
            upstream=self._upstream,
            stdio=fds,
            listen=address,
            max_message_bytes=max_message_bytes,
            shutdown_grace_ms=grace_ms,
            log_level=level,
            on_log=None if on_log is None else _LogDispatch(self),
            max_sessions=None if max_sessions is None else _count(max_sessions, "max_sessions"),
            idle_timeout_ms=(
                None if idle_timeout is None else _duration_ms(idle_timeout, "idle_timeout")
            ),
            request_timeout_ms=(
                None
                if request_timeout is None
                else _duration_ms(request_timeout, "request_timeout")
            ),
            allowed_origins=(
                None if allowed_origins is None else _strings(allowed_origins, "allowed_origins")
            ),
            auth_token=auth_token,
            io_threads=None if io_threads is None else _count(io_threads, "io_threads"),
        )
        _live.add(self)

    def start(self) -> None:
        """Start the proxy on its own I/O thread(s).

        In stdio mode: spawn the upstream server and start forwarding; returns once the server
        process exists. In HTTP mode: bind the listening socket and start accepting clients
        (each session spawns its own server); returns once :attr:`url` is known.

        Raises:
            IoError: the server could not be spawned (e.g. the command was not found), or the
                address could not be bound.
            StateError: already started, or closed.
        """
        self._native.start()
        self._started = True
        self._url = self._native.url()

    def stop(self) -> None:
        """Ask the proxy to shut down gracefully and return at once: the server's stdin is
        closed, then SIGTERM and SIGKILL follow after the grace periods; in HTTP mode the proxy
        stops accepting and does this for every session (requests in flight are answered with
        a JSON-RPC error). Idempotent; a no-op on a closed proxy. Any thread, including from
        ``on_log``."""
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
        upstream pid and state (schema in docs/c-api.md). HTTP mode:
        ``{"mode": "http", "url": ..., "sessions": N}``; see :meth:`sessions` for the rest.
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

        Idempotent. No ``on_log`` call happens after it returns (unless it is called from
        inside ``on_log`` itself, where the release completes on a helper thread)."""
        native = getattr(self, "_native", None)  # None if __init__ failed
        if native is not None:
            native.close()
        _live.discard(self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        native = getattr(self, "_native", None)
        return native is None or native.closed

    @property
    def upstream(self) -> list[str]:
        """The upstream server command."""
        return list(self._upstream)

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

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("started" if self._started else "new")
        where = ""
        listen = getattr(self, "_listen", None)
        if listen is not None:
            where = f" url={self._url!r}" if self._url else f" listen={listen!r}"
        return f"<mcpfwd.Proxy upstream={self._upstream!r}{where} {state}>"
