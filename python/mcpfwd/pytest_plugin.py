"""pytest plugin of the mcpfwd package: the ``mcpfwd_proxy`` fixture.

Installed with the package (entry point ``pytest11: mcpfwd``), so any test can put an
in-process mcpfwd HTTP proxy in front of an MCP server and assert on what crossed it::

    def test_my_server(mcpfwd_proxy):
        rec = mcpfwd_proxy(upstream=["python", "my_server.py"])
        ...                                  # drive an MCP client against rec.url
        assert "tools/call" in rec.methods()
        assert rec.events[0].kind is mcpfwd.EventKind.OPENED

``mcpfwd_proxy(upstream=[...], **options)`` starts a :class:`mcpfwd.Proxy` listening on
``127.0.0.1`` (a free port), records every message and event, and returns a
:class:`RecordingProxy` (``upstream`` may also be a remote server's URL). At teardown every
proxy it made is closed, and the test fails if an upstream server process of theirs is still
running (or was never reaped) afterwards; such a process is killed.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any, Callable, Iterator, Sequence

import pytest

from . import Direction, Event, EventKind, Message, Proxy, SessionInfo

__all__ = ["RecordingProxy", "mcpfwd_proxy"]

_LOCAL = ("127.0.0.1", 0)


# ----------------------------------------------------------------------------- /proc (Linux)


def _children() -> set[int]:
    """This process's children, whichever thread started them."""
    kids: set[int] = set()
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                kids.update(int(pid) for pid in f.read().split())
        except OSError:
            pass  # the thread ended meanwhile
    return kids


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1]]


def _state(pid: int) -> str:
    """``"gone"`` (exited and reaped, or no longer our child), ``"zombie"`` (exited, never
    reaped) or ``"running"``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return "gone"
    fields = stat[stat.rindex(")") + 2 :].split()
    if int(fields[1]) != os.getpid() or fields[0] == "X":
        return "gone"
    return "zombie" if fields[0] == "Z" else "running"


def _runs(argv: list[str], cmdline: list[str]) -> bool:
    """Whether a process with this command line runs ``argv`` (directly, or through the
    interpreter of a ``#!`` script)."""
    return bool(cmdline) and (cmdline == argv or cmdline[1:] == argv)


# ------------------------------------------------------------------------------ the recorder


class RecordingProxy:
    """A started :class:`mcpfwd.Proxy` that records everything crossing it.

    Attributes:
        proxy: the :class:`mcpfwd.Proxy` itself (for what this class does not wrap).
        messages: every :class:`mcpfwd.Message` forwarded, either way, in the order the
            proxy's I/O threads saw them (in order within one session).
        events: every :class:`mcpfwd.Event` (sessions opened, closed, rejected).

    Both lists are appended to from the proxy's threads while it runs; read them once the
    client is done (or poll, e.g. with :meth:`wait_for_event`).
    """

    def __init__(
        self,
        upstream: Sequence[str | os.PathLike[str]] | str,
        options: dict[str, Any],
    ) -> None:
        self.messages: list[Message] = []
        self.events: list[Event] = []
        self._user_on_event: Callable[[Event], bool | None] | None = options.pop("on_event", None)
        self._user_on_message: Callable[[Message], bool | None] | None = options.pop(
            "on_message", None
        )
        if "stdio" not in options:
            options.setdefault("listen", _LOCAL)
        self._pids: set[int] = set()
        self._children_before = _children()
        self.proxy = Proxy(
            upstream=upstream,
            on_event=self._on_event,
            on_message=self._on_message,
            **options,
        )

    # Both run on the proxy's I/O threads: append (atomic under the GIL), then ask the
    # user's callback, if any, whether to go on.
    def _on_event(self, event: Event) -> bool | None:
        self.events.append(event)
        return None if self._user_on_event is None else self._user_on_event(event)

    def _on_message(self, message: Message) -> bool | None:
        self.messages.append(message)
        return None if self._user_on_message is None else self._user_on_message(message)

    @property
    def url(self) -> str:
        """The proxy's endpoint, ``http://127.0.0.1:PORT/mcp``."""
        return self.proxy.url

    @property
    def upstream(self) -> list[str] | str:
        """The upstream server command, or the remote server's URL."""
        return self.proxy.upstream

    def _note_pids(self, infos: list[SessionInfo]) -> None:
        self._pids.update(s.upstream_pid for s in infos if s.upstream_pid is not None)

    def sessions(self) -> list[SessionInfo]:
        """The open sessions (see :meth:`mcpfwd.Proxy.sessions`)."""
        infos = self.proxy.sessions()
        self._note_pids(infos)
        return infos

    def session(self, session_id: str) -> SessionInfo:
        """One open session; ``KeyError`` if there is none with that id."""
        info = self.proxy.session(session_id)
        self._note_pids([info])
        return info

    def close_session(self, session_id: str) -> None:
        """Close one session (see :meth:`mcpfwd.Proxy.close_session`)."""
        self.proxy.close_session(session_id)

    def status_text(self) -> str:
        """The proxy's session table, for people."""
        return self.proxy.status_text()

    def methods(
        self,
        direction: Direction = Direction.CLIENT_TO_SERVER,
        session_id: str | None = None,
    ) -> list[str]:
        """The ``method`` of every request and notification recorded in ``direction`` (of one
        session, or of all), in order; responses and batches are skipped."""
        found: list[str] = []
        for m in list(self.messages):
            if m.direction is not direction:
                continue
            if session_id is not None and m.session_id != session_id:
                continue
            try:
                obj = m.json()
            except ValueError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("method"), str):
                found.append(obj["method"])
        return found

    def wait_for_event(
        self, kind: EventKind, session_id: str | None = None, timeout: float = 10.0
    ) -> Event:
        """The first recorded event of this kind (and session), waiting up to ``timeout``
        seconds for it; fails the test if none comes."""
        deadline = time.monotonic() + timeout
        while True:
            for event in list(self.events):
                if event.kind is kind and (session_id is None or event.session_id == session_id):
                    return event
            if time.monotonic() >= deadline:
                pytest.fail(
                    f"no {kind.name} event"
                    + ("" if session_id is None else f" for session {session_id}")
                    + f" within {timeout} s; events: {self.events!r}",
                    pytrace=False,
                )
            time.sleep(0.02)

    def close(self) -> None:
        """Close the proxy (every session ends, every upstream server is reaped). The
        fixture does this at teardown; idempotent."""
        if not self.proxy.closed:
            try:
                self._note_pids(self.proxy.sessions())
            except Exception:  # the sessions are only needed for the leak check
                pass
        self.proxy.close()

    def _leftovers(self) -> dict[int, str]:
        """Upstream processes of this proxy still running or unreaped: pid -> state (none
        with a remote upstream)."""
        argv = self.proxy.upstream
        suspects = set(self._pids)
        if not isinstance(argv, str):
            suspects.update(
                pid
                for pid in _children() - self._children_before
                if _runs(argv, _cmdline(pid))
            )
        states = {pid: _state(pid) for pid in suspects}
        return {pid: state for pid, state in states.items() if state != "gone"}

    def __repr__(self) -> str:
        return (
            f"<mcpfwd RecordingProxy {self.url or self.proxy!r}: {len(self.messages)} "
            f"messages, {len(self.events)} events>"
        )


def _shown(upstream: list[str] | str) -> str:
    return upstream if isinstance(upstream, str) else " ".join(upstream)


def _reap(pid: int, state: str) -> None:
    try:
        if state == "running":
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:  # not ours after all, or already gone
        pass


@pytest.fixture
def mcpfwd_proxy() -> Iterator[Callable[..., RecordingProxy]]:
    """Factory: ``mcpfwd_proxy(upstream=[...], **options)`` -> a started
    :class:`RecordingProxy` (an :class:`mcpfwd.Proxy` on ``127.0.0.1``, a free port, unless
    ``listen=`` says otherwise) recording every message and event. Other options go to
    :class:`mcpfwd.Proxy`; ``on_event`` / ``on_message`` given here are called after
    recording, and their return values count.

    Teardown closes every proxy made and fails the test if an upstream server process of
    theirs is left running or unreaped (it is killed and reaped first).
    """
    made: list[RecordingProxy] = []

    def factory(
        upstream: Sequence[str | os.PathLike[str]] | str, **options: Any
    ) -> RecordingProxy:
        rec = RecordingProxy(upstream, options)
        made.append(rec)
        rec.proxy.start()
        return rec

    yield factory

    problems: list[str] = []
    for rec in made:  # all closed before any is checked: they may share a command
        try:
            rec.close()
        except Exception as e:
            problems.append(f"closing {rec!r} failed: {type(e).__name__}: {e}")
    for rec in made:
        deadline = time.monotonic() + 5.0
        left = rec._leftovers()
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = rec._leftovers()
        for pid, state in sorted(left.items()):
            what = "left running" if state == "running" else "never reaped (zombie)"
            problems.append(
                f"upstream process {pid} ({_shown(rec.upstream)}) of the mcpfwd proxy at "
                f"{rec.url or '?'} was {what} after the proxy closed; killed"
            )
            _reap(pid, state)
    if problems:
        pytest.fail("mcpfwd_proxy: " + "\n".join(problems), pytrace=False)
