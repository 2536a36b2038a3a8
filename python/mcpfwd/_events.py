"""Session events and forwarded messages: mcpfwd.Event, mcpfwd.Message, and the asyncio stream
behind Proxy.events()."""

from __future__ import annotations

import asyncio
import json
import threading
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Any, AsyncIterator, Optional

from ._enums import Direction, EventKind

__all__ = ["DEFAULT_EVENT_BUFFER", "Event", "EventStream", "Message"]

#: How many events :meth:`Proxy.events` buffers for a consumer that falls behind.
DEFAULT_EVENT_BUFFER = 10000


@dataclass(frozen=True)
class Event:
    """Something that happened to a session of a :class:`Proxy`.

    Attributes:
        kind: :attr:`EventKind.OPENED`, :attr:`EventKind.CLOSED` or
            :attr:`EventKind.REJECTED`.
        session_id: the session's id (the ``Mcp-Session-Id`` its client got; ``"stdio"`` in
            stdio mode; ``""`` for a rejection, which has no session).
        detail: for CLOSED, why the session ended (``"session deleted by the client"``,
            ``"upstream server exited with status 3"``, ``"proxy shutting down"``, ...); for
            REJECTED, why it was refused (``"session limit of 10 reached"``); else ``""``.
            Meant for people: the wording may change.
    """

    kind: EventKind
    session_id: str
    detail: str = ""


@dataclass(frozen=True)
class Message:
    """One JSON-RPC message a session forwarded, as seen by ``on_message``.

    Attributes:
        direction: :attr:`Direction.CLIENT_TO_SERVER` or :attr:`Direction.SERVER_TO_CLIENT`.
        session_id: the session's id (``"stdio"`` in stdio mode).
        data: the message's bytes as received (one JSON value, no trailing newline); a copy,
            valid after the callback returns.
    """

    direction: Direction
    session_id: str
    data: bytes

    def json(self) -> Any:
        """The message decoded (``json.loads(data)``): a dict, or a list for a batch."""
        return json.loads(self.data)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventStream(AsyncIterator[Event]):
    """The events of one :class:`Proxy` as an asynchronous iterator (:meth:`Proxy.events`).

    Fed from the proxy's I/O threads, read on one asyncio event loop (the one of the first
    ``__anext__``). It buffers up to ``maxsize`` events; when a slow consumer lets it fill up,
    the oldest are dropped, and the next read emits a :class:`RuntimeWarning` saying how many.
    Iteration ends (after the buffered events) when the proxy is closed, or after
    :meth:`aclose`.
    """

    def __init__(self, maxsize: int = DEFAULT_EVENT_BUFFER) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError(f"maxsize must be an int, not {type(maxsize).__name__}")
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self._maxsize = maxsize
        self._lock = threading.Lock()  # the items and the waiter: I/O threads and the loop
        self._items: deque[Event] = deque()
        self._dropped = 0
        self._ended = False
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._waiter: Optional[asyncio.Future[None]] = None

    # ---- producer side: any thread (the proxy's I/O threads, close())

    def _put(self, event: Event) -> None:
        with self._lock:
            if self._ended:
                return
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self._dropped += 1
            self._items.append(event)
            self._wake_locked()

    def _end(self) -> None:
        with self._lock:
            self._ended = True
            self._wake_locked()

    def _wake_locked(self) -> None:
        # At most one wake-up is scheduled per wait: the loop's queue stays bounded even when
        # the loop is blocked and events keep coming.
        waiter, self._waiter = self._waiter, None
        if waiter is None or self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(_wake, waiter)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    # ---- consumer side: one event loop

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._loop is None:
                    self._loop = loop
                elif self._loop is not loop:
                    raise RuntimeError("an EventStream is read on one event loop only")
                dropped, self._dropped = self._dropped, 0
                event = self._items.popleft() if self._items and not dropped else None
                ended = self._ended and not self._items
                waiter = None
                if event is None and not ended and not dropped:
                    waiter = self._waiter = loop.create_future()
            if dropped:
                warnings.warn(
                    f"mcpfwd: {dropped} event(s) dropped: the consumer of Proxy.events() fell "
                    f"behind (buffer of {self._maxsize})",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            if event is not None:
                return event
            if ended:
                raise StopAsyncIteration
            assert waiter is not None
            await waiter

    async def aclose(self) -> None:
        """Stop reading: iteration ends (after the events already buffered) and no new event
        is buffered. Idempotent."""
        self._end()

    @property
    def ended(self) -> bool:
        """Whether no new event will come (the proxy was closed, or :meth:`aclose` ran)."""
        with self._lock:
            return self._ended

    def __repr__(self) -> str:
        with self._lock:
            state = "ended" if self._ended else "open"
            return f"<mcpfwd.EventStream {state}, {len(self._items)} buffered>"
