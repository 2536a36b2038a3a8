"""Resuming a broken upstream answer stream (spec 2025-11-25 §Resumability).

The upstream is the reference server, server-everything, in streamableHttp mode: it
keeps an event store, so its SSE events carry ids and a GET with Last-Event-ID
replays what came after. Between mcpfwd and it sits a TCP relay that injects one
fault: it cuts the connection carrying the POST of a `trigger-long-running-operation`
call once the first progress notification has passed. mcpfwd must then resume with
GET + Last-Event-ID and still deliver the rest of the progress and the result to the
client, who never notices.

server-everything's event store replays only the events that exist when the GET
arrives (its replayEventsAfter returns an event id where the SDK expects the
stream id, so later events of that stream are not routed to the resumed GET): the
relay therefore holds the resuming GET until the operation has finished, so that
the replay holds the rest of the progress and the result.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from upstream_helpers import ClientCallbacks, run_async, sdk_session, start_everything

pytestmark = pytest.mark.timeout(90)


class CuttingRelay:
    """127.0.0.1:<port> -> target; cuts the first connection whose request is a
    tools/call of `marker` once `after` has come back from the server."""

    def __init__(self, target_port: int, marker: bytes, after: bytes,
                 hold_resume: float) -> None:
        self.hold_resume = hold_resume
        self.target_port = target_port
        self.marker, self.after = marker, after
        self.cut = threading.Event()
        self.requests: list[bytes] = []  # the first bytes of each client->server chunk
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            state: dict[str, Any] = {"victim": False}
            threading.Thread(target=self._pump, args=(client, server, state, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, state, False),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict[str, Any],
              upstream_bound: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream_bound:
                    with self.lock:
                        self.requests.append(data[:4096])
                    if data.startswith(b"GET ") and b"\r\nlast-event-id:" in data.lower():
                        time.sleep(self.hold_resume)
                    if self.marker in data and not self.cut.is_set():
                        state["victim"] = True
                elif state["victim"] and self.after in data and not self.cut.is_set():
                    dst.sendall(data)  # this much arrives, then the connection dies
                    self.cut.set()
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def gets_with_last_event_id(self) -> list[bytes]:
        with self.lock:
            return [r for r in self.requests
                    if r.startswith(b"GET ") and b"\r\nlast-event-id:" in r.lower()]

    def close(self) -> None:
        self.closing = True
        self.listener.close()


def test_a_broken_answer_stream_is_resumed_with_last_event_id(listen_proxy):
    everything = start_everything("streamableHttp")
    relay = CuttingRelay(int(everything.url.split(":")[2].split("/")[0]),
                         marker=b"trigger-long-running-operation",
                         after=b"notifications/progress", hold_resume=2.5)
    try:
        proxy = listen_proxy("--upstream", f"http://127.0.0.1:{relay.port}/mcp",
                             "--log-level", "debug")
        progress: list[float] = []

        async def main() -> Any:
            async with sdk_session("http", proxy.url, ClientCallbacks()) as conn:
                async def on_progress(p: float, total: float | None, msg: str | None) -> None:
                    progress.append(p)
                return await conn.session.call_tool(
                    "trigger-long-running-operation", {"duration": 2, "steps": 4},
                    progress_callback=on_progress)

        result = run_async(main, timeout=60)
        assert relay.cut.is_set(), "the relay never cut the answer stream"
        assert not result.is_error, result
        text = " ".join(c.text for c in result.content if hasattr(c, "text"))
        assert "completed" in text.lower(), text
        assert progress[:1] == [1] and progress[-1] == 4, progress  # the rest came resumed
        assert relay.gets_with_last_event_id(), "mcpfwd did not resume with Last-Event-ID"
        assert "resuming it" in proxy.stderr_text()
    finally:
        relay.close()
        everything.cleanup()
