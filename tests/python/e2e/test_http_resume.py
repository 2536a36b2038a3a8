"""Resumability of the Streamable HTTP GET stream: SSE event ids and
Last-Event-ID (spec §Resumability and Redelivery)."""

from __future__ import annotations

import json

import pytest
from http_helpers import McpHttp, rpc

pytestmark = pytest.mark.timeout(60)


def note(i: int) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": "notifications/message",
                       "params": {"level": "info", "data": f"n{i}"}})


def emit(s: McpHttp, first: int, count: int, msg_id: int) -> None:
    """Have the server send `count` notifications; with a JSON-only POST they
    are unrelated to a stream the client reads, so they go to the GET stream."""
    r = s.post(rpc("raw/emit", {"lines": [note(i) for i in range(first, first + count)]}, msg_id),
               accept="application/json")
    assert r.status == 200, r


def read_events(st, n: int) -> list[tuple[str, int]]:
    out = []
    while len(out) < n:
        ev = st.next_event()
        assert ev is not None, f"stream ended after {out}"
        if "data" in ev and ev["data"]:
            out.append((ev.get("id", ""), int(json.loads(ev["data"])["params"]["data"][1:])))
    return out


def test_last_event_id_replays_what_came_after(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s = McpHttp(proxy.url)
    s.initialize()
    st = s.get_stream()
    emit(s, 1, 3, 10)
    first = read_events(st, 3)
    assert first == [("g1", 1), ("g2", 2), ("g3", 3)], first
    st.abort()  # the connection breaks; say the client only saw g1
    st2 = s.get_stream(headers={"Last-Event-ID": "g1"})
    try:
        assert read_events(st2, 2) == [("g2", 2), ("g3", 3)]  # resent, same ids
        emit(s, 4, 1, 11)
        assert read_events(st2, 1) == [("g4", 4)]  # and the stream goes on
    finally:
        st2.close()


def test_resuming_beyond_the_replay_buffer(http_proxy, raw_server_cmd):
    """The replay buffer keeps the last 256 events of the GET stream: a client
    that resumes from further back gets those 256 (the rest is gone, logged)."""
    proxy = http_proxy(raw_server_cmd)
    s = McpHttp(proxy.url)
    s.initialize()
    st = s.get_stream()
    emit(s, 1, 300, 10)
    got = read_events(st, 300)
    assert got[-1] == ("g300", 300)
    st.abort()
    st2 = s.get_stream(headers={"Last-Event-ID": "g1"})
    try:
        again = read_events(st2, 256)
        assert again[0] == ("g45", 45) and again[-1] == ("g300", 300), (again[0], again[-1])
        proxy.wait_stderr(r"resumed after event g1 but 43 later event\(s\) are beyond the replay "
                          r"buffer of 256")
    finally:
        st2.close()


def test_foreign_last_event_id_just_opens_the_stream(http_proxy, raw_server_cmd):
    proxy = http_proxy(raw_server_cmd)
    s = McpHttp(proxy.url)
    s.initialize()
    st = s.get_stream(headers={"Last-Event-ID": "not-one-of-ours"})
    try:
        emit(s, 1, 1, 10)
        assert read_events(st, 1) == [("g1", 1)]
    finally:
        st.close()
