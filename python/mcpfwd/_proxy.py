"""mcpfwd.Proxy: one proxy instance, a Pythonic wrapper over the native ``_mcpfwd._Proxy``."""

from __future__ import annotations

import atexit
import json
import math
import os
import weakref
from types import TracebackType
from typing import Any, Callable, Protocol, Sequence, Union

from . import _mcpfwd
from ._enums import LogLevel
from ._errors import InvalidArgumentError

__all__ = ["FdLike", "LogCallback", "Proxy"]

_UINT32_MAX = 2**32 - 1
_INT_MAX = 2**31 - 1


class _SupportsFileno(Protocol):
    def fileno(self) -> int: ...


#: A file descriptor, or an object with a ``fileno()`` method (a file, a socket).
FdLike = Union[int, _SupportsFileno]

#: ``on_log(level, source, text)``: ``source`` is ``"mcpfwd"`` for the proxy's own lines and
#: ``"server"`` for lines the upstream server wrote to its stderr.
LogCallback = Callable[[LogLevel, str, str], object]

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
    """An MCP forward proxy: serves one client over a pair of file descriptors (the stdio
    transport) and forwards its JSON-RPC messages to an upstream server process.

    Args:
        upstream: the server command, e.g. ``["python", "server.py"]``; ``upstream[0]`` is
            looked up in PATH, no shell is involved.
        stdio: ``(in_fd, out_fd)``: the proxy reads the client's messages from ``in_fd`` and
            writes its replies to ``out_fd`` (ints or objects with ``fileno()``). The proxy
            duplicates both when it starts; the caller keeps ownership of its descriptors.
            Required for now (other downstream transports come later).
        max_message_bytes: largest JSON-RPC message in either direction (library default
            4 MiB, at least 64).
        shutdown_grace: seconds shutdown waits at each step: for the server to exit after its
            stdin is closed, then again after SIGTERM, before SIGKILL (library default 2.0).
        log_level: lowest level logged: a :class:`LogLevel`, its name (``"info"``) or value;
            None keeps the library default (INFO).
        on_log: ``on_log(level, source, text)`` receives every log line instead of standard
            error; ``source`` is ``"server"`` for the upstream server's stderr lines and
            ``"mcpfwd"`` for the proxy's own. It runs on a proxy I/O thread and must not block.
            Exceptions it raises are reported through ``sys.unraisablehook`` and ignored.

    A Proxy is a context manager: ``with Proxy(...) as p:`` starts it (unless already started)
    and closes it on exit. :meth:`close` is idempotent and also runs when the object is garbage
    collected and at interpreter exit.

    Thread safety: :meth:`stop`, :meth:`stats` and :meth:`close` may be called from any thread
    (``stop`` also from ``on_log``); :meth:`start` and :meth:`wait` from one thread at a time.
    """

    def __init__(
        self,
        *,
        upstream: Sequence[str | os.PathLike[str]],
        stdio: tuple[FdLike, FdLike] | None = None,
        max_message_bytes: int | None = None,
        shutdown_grace: float | None = None,
        log_level: LogLevel | str | int | None = None,
        on_log: LogCallback | None = None,
    ) -> None:
        self._on_log = on_log
        self._started = False
        self._upstream = _command(upstream)

        fds: tuple[int, int] | None = None
        if stdio is not None:
            if len(stdio) != 2:
                raise TypeError("stdio must be a pair (in_fd, out_fd)")
            fds = (_fileno(stdio[0], "stdio[0]"), _fileno(stdio[1], "stdio[1]"))

        if max_message_bytes is not None:
            if isinstance(max_message_bytes, bool) or not isinstance(max_message_bytes, int):
                raise TypeError("max_message_bytes must be an int")
            if max_message_bytes < 0:
                raise InvalidArgumentError(
                    f"max_message_bytes must not be negative, got {max_message_bytes}"
                )

        grace_ms: int | None = None
        if shutdown_grace is not None:
            seconds = float(shutdown_grace)
            if not math.isfinite(seconds) or seconds < 0:
                raise InvalidArgumentError(
                    "shutdown_grace must be a non-negative number of seconds, "
                    f"got {shutdown_grace!r}"
                )
            grace_ms = round(seconds * 1000)
            if grace_ms > _UINT32_MAX:
                raise InvalidArgumentError(f"shutdown_grace is too large: {shutdown_grace!r}")

        level = None if log_level is None else int(LogLevel.parse(log_level))

        if on_log is not None and not callable(on_log):
            raise TypeError("on_log must be callable or None")

        self._native: _mcpfwd._Proxy = _mcpfwd._Proxy(
            upstream=self._upstream,
            stdio=fds,
            max_message_bytes=max_message_bytes,
            shutdown_grace_ms=grace_ms,
            log_level=level,
            on_log=None if on_log is None else _LogDispatch(self),
        )
        _live.add(self)

    def start(self) -> None:
        """Spawn the upstream server and start forwarding on the proxy's own I/O thread.

        Returns once the server process exists.

        Raises:
            IoError: the server could not be spawned (e.g. the command was not found).
            StateError: already started, or closed.
        """
        self._native.start()
        self._started = True

    def stop(self) -> None:
        """Ask the proxy to shut down gracefully and return at once (the server's stdin is
        closed, then SIGTERM and SIGKILL follow after the grace periods). Idempotent; a no-op
        on a closed proxy. Any thread, including from ``on_log``."""
        self._native.stop()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait until the proxy has finished and the server has been reaped.

        Args:
            timeout: seconds; None waits without limit.

        Returns:
            None if the proxy still runs when the timeout expires; otherwise the exit status:
            0 when the client ended the session (end of input, or :meth:`stop`); when the
            server exited first, its exit code (1 if that was 0), or 128 + the signal number
            if a signal killed it.

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
        """A snapshot of the proxy's counters (messages and bytes each way, errors by kind,
        requests in flight, the upstream pid and state), as decoded JSON."""
        stats: dict[str, Any] = json.loads(self._native.stats_json())
        return stats

    def close(self) -> None:
        """Stop the proxy if it runs, wait for the server to exit, and release everything.

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
        return f"<mcpfwd.Proxy upstream={self._upstream!r} {state}>"
