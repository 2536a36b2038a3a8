"""What ``mcpfwd --stdio`` does with bad input, and that forwarding is byte-exact.

The upstream is tests/servers/raw_server.py: it answers every request with
the request line exactly as it received it ("raw") and "seq", the number of
lines it has received, so a test can see both what was forwarded and that a
rejected line was not.  After every bad line a valid request must still get
its answer.

Tests whose assertions hold without a proxy run twice: "direct" (the raw
server alone, which checks the test itself) and "mcpfwd".
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(30)


def rpc(method, params=None, msg_id=1):
    req = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        req["params"] = params
    return json.dumps(req, separators=(",", ":"), ensure_ascii=False)


def assert_error(msg, code, msg_id, prefix):
    assert set(msg) == {"jsonrpc", "id", "error"}, msg
    assert msg["jsonrpc"] == "2.0"
    assert msg["id"] == msg_id and type(msg["id"]) is type(msg_id), msg
    assert msg["error"]["code"] == code, msg
    assert isinstance(msg["error"]["message"], str)
    assert msg["error"]["message"].startswith(prefix), msg
    return msg["error"]["message"]


def assert_still_works(p, expected_seq, msg_id=1000):
    """A valid request gets its answer and the server has seen ``expected_seq`` lines."""
    resp = p.request("after", {"ok": True}, msg_id=msg_id)
    assert resp["result"]["params"] == {"ok": True}
    assert resp["result"]["seq"] == expected_seq, (
        f"server received {resp['result']['seq'] - 1} earlier line(s), expected "
        f"{expected_seq - 1}: a rejected line was forwarded")


@pytest.fixture(params=["direct", "mcpfwd"])
def link(request, raw_server_cmd, run_process):
    """Factory: link(*raw_server_options, proxy_options=()) -> ProxyProcess-like pipe
    to raw_server, either direct or through mcpfwd."""
    def start(*server_opts, proxy_options=()):
        upstream = [*raw_server_cmd, *server_opts]
        if request.param == "direct":
            return run_process(upstream)
        start_proxy = request.getfixturevalue("start_proxy")
        return start_proxy(upstream, *proxy_options)
    start.mode = request.param
    return start


@pytest.fixture
def proxy_raw(start_proxy, raw_server_cmd):
    """Factory: proxy_raw(*mcpfwd_options, server=[raw_server options]) through mcpfwd."""
    def start(*options, server=()):
        return start_proxy([*raw_server_cmd, *server], *options)
    return start


# --------------------------------------------------------------------------
# parse errors


@pytest.mark.parametrize("line", [
    b"{not json",
    b'{"jsonrpc":"2.0","id":1,"method":"echo"',          # truncated
    b'{"jsonrpc":"2.0","id":1,"method":"echo"} trailing',  # garbage after the value
    b"hello world",
    b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"s":"\xff"}}',       # invalid byte
    b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"s":"\xc3"}}',       # truncated sequence
    b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"s":"\xc0\xaf"}}',   # overlong
    b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"s":"\xed\xa0\x80"}}',  # UTF-8 surrogate
], ids=["brace", "truncated", "trailing", "words", "xff", "cut-seq", "overlong", "surrogate"])
def test_parse_error(proxy_raw, line):
    p = proxy_raw()
    p.send(line)
    assert_error(p.read_json(), -32700, None, "Parse error")
    assert_still_works(p, expected_seq=1)


# --------------------------------------------------------------------------
# invalid requests


@pytest.mark.parametrize("line,msg_id", [
    ("[1,2]", None),
    ('{"foo":1}', None),
    ("[]", None),
    ("42", None),
    ('"a string"', None),
    ("null", None),
    ("true", None),
    ('{"id":5,"method":"echo"}', 5),                          # no "jsonrpc"
    ('{"jsonrpc":"1.0","id":6,"method":"echo"}', 6),          # wrong version
    ('{"jsonrpc":2.0,"id":11,"method":"echo"}', 11),          # version not a string
    ('{"jsonrpc":"2.0","id":7}', 7),                          # neither method nor result
    ('{"jsonrpc":"2.0","id":"seven"}', "seven"),
    ('{"jsonrpc":"2.0","id":8,"method":42}', 8),              # method not a string
], ids=["array", "foo", "empty-batch", "number", "string", "null", "true", "no-jsonrpc",
        "jsonrpc-1.0", "jsonrpc-number", "no-method", "no-method-str-id", "method-int"])
def test_invalid_request(proxy_raw, line, msg_id):
    p = proxy_raw()
    p.send(line)
    assert_error(p.read_json(), -32600, msg_id, "Invalid Request")
    assert_still_works(p, expected_seq=1)


def test_many_bad_lines_in_a_row_each_get_one_error(proxy_raw):
    p = proxy_raw()
    bad = ["{", "[1]", "{}", "x", '{"jsonrpc":"2.0","id":3}'] * 20
    for line in bad:
        p.send(line)
    codes = [p.read_json()["error"]["code"] for _ in bad]
    assert codes == [-32700, -32600, -32600, -32700, -32600] * 20
    assert_still_works(p, expected_seq=1)


# --------------------------------------------------------------------------
# oversize


def test_oversize_client_line_rejected(proxy_raw):
    p = proxy_raw("--max-message-bytes", "1024")
    big = rpc("echo", {"pad": "x" * (1024 * 1024)}, msg_id=99)
    p.send(big)
    # the id is read as the line is skipped, so the client can match the error
    message = assert_error(p.read_json(timeout=20), -32600, 99, "Invalid Request")
    assert "1024" in message, f"the error should name the maximum size: {message!r}"
    # exactly one error, and the line was not forwarded
    assert_still_works(p, expected_seq=1)
    # an oversize line that is not even JSON is the same case
    p.send(b"a" * (1024 * 1024))
    assert_error(p.read_json(timeout=20), -32600, None, "Invalid Request")
    assert_still_works(p, expected_seq=2, msg_id=1001)


def pad_notification(size):
    """A notification line of exactly ``size`` bytes (without the newline)."""
    base = '{"jsonrpc":"2.0","method":"notifications/pad","params":{"pad":"%s"}}'
    line = base % ("z" * (size - len(base) + 2))
    assert len(line) == size
    return line


def test_limit_boundary_exactly_max_is_forwarded(proxy_raw):
    """--max-message-bytes N: a line of N bytes (newline excluded) passes, N+1 does not."""
    p = proxy_raw("--max-message-bytes", "1024")
    p.send(pad_notification(1025))
    assert_error(p.read_json(), -32600, None, "Invalid Request")
    p.send(pad_notification(1024))
    p.expect_no_output()
    assert_still_works(p, expected_seq=2)  # the 1024-byte line was forwarded, the other not


def test_oversize_server_line_dropped_and_logged(proxy_raw):
    p = proxy_raw("--max-message-bytes", "1024")
    resp = p.request("raw/emit", {"pad_bytes": 5000}, msg_id=1)   # notification >5000 bytes first
    assert resp["result"]["seq"] == 1
    p.wait_stderr(r"^mcpfwd: warn: ")
    assert_still_works(p, expected_seq=2)


def test_oversize_request_id_found_after_the_params(proxy_raw):
    """The id of an oversize request is found wherever it is in the line (Node's SDK
    writes it last) and never taken from inside params."""
    p = proxy_raw("--max-message-bytes", "1024")
    p.send('{"params":{"id":1,"pad":"%s"},"method":"echo","jsonrpc":"2.0","id":"late"}' % ("x" * 5000))
    assert_error(p.read_json(timeout=20), -32600, "late", "Invalid Request")
    assert_still_works(p, expected_seq=1)


def test_oversize_server_response_becomes_an_error_for_its_request(proxy_raw):
    """The server's response is over the limit: dropped, and the client gets an error
    with the request's id saying why, instead of waiting for ever."""
    p = proxy_raw("--max-message-bytes", "1024")
    req = rpc("echo", {"pad": "x" * 600}, msg_id=5)   # answered with the request twice
    assert len(req) < 1024
    p.send(req)
    message = assert_error(p.read_json(timeout=20), -32000, 5, "mcpfwd: the server's response")
    assert "1024-byte message limit" in message, message
    assert_still_works(p, expected_seq=2)
    p.close_stdin()
    assert p.wait() == 0
    assert p.stats()["error_counts"]["server_oversize"] == 1


def history(p, msg_id):
    return [json.loads(ln) for ln in p.request("raw/history", msg_id=msg_id)["result"]["lines"]]


def test_oversize_server_request_is_refused_to_the_server(proxy_raw):
    """A request from the server over the limit never reaches the client; the server
    gets a -32600 error with its id, so it does not wait for ever either."""
    p = proxy_raw("--max-message-bytes", "1024")
    resp = p.request("raw/emit", {"pad_bytes": 3000, "pad_id": "srv-1"}, msg_id=1)
    assert resp["result"]["seq"] == 1
    p.wait_stderr(r"^mcpfwd: warn: dropped a server message over 1024 bytes")
    # mcpfwd queued its error to the server before passing on raw/emit's answer
    answers = [m for m in history(p, 2) if m.get("id") == "srv-1"]
    assert len(answers) == 1, answers
    assert answers[0]["error"]["code"] == -32600, answers
    p.expect_no_output()


def test_oversize_client_response_becomes_an_error_for_the_server(proxy_raw):
    """The client's answer to a server request is over the limit: the server gets an
    error with that id instead; the client is not sent anything."""
    p = proxy_raw("--max-message-bytes", "1024")
    p.send(json.dumps({"jsonrpc": "2.0", "id": "srv-2", "result": {"pad": "r" * 3000}}))
    got = history(p, 7)
    assert len(got) == 1 and got[0]["id"] == "srv-2", got
    assert got[0]["error"]["code"] == -32000, got
    assert "client's response was over the 1024-byte" in got[0]["error"]["message"], got
    p.expect_no_output()


def test_large_messages_within_default_limit_pass_intact(link):
    p = link()
    payload = "é" * (600 * 1024)          # 1.2 MB of UTF-8, the response is twice that
    line = rpc("echo", {"big": payload}, msg_id=1)
    p.send(line)
    resp = p.read_json(timeout=20)
    assert resp["result"]["raw"] == line
    assert resp["result"]["params"]["big"] == payload
    p.send(rpc("raw/emit", {"pad_bytes": 3 * 1024 * 1024}, msg_id=2))
    note = p.read_json(timeout=20)
    assert note["method"] == "notifications/padding" and len(note["params"]["pad"]) == 3 * 1024 * 1024
    assert p.read_json()["id"] == 2


# --------------------------------------------------------------------------
# framing and bytes


def test_crlf_line_endings_accepted(link):
    p = link()
    line = rpc("echo", {"crlf": True}, msg_id=1)
    p.send(line.encode() + b"\r\n", newline=False)
    resp = p.read_json()
    assert resp["id"] == 1 and resp["result"]["params"] == {"crlf": True}
    assert resp["result"]["raw"] in (line, line + "\r")
    # a server that ends its lines with CRLF is understood too
    emitted = '{"jsonrpc":"2.0","method":"notifications/crlf","params":{}}'
    p.send(rpc("raw/emit", {"lines": [emitted + "\r"]}, msg_id=2))
    note = p.read_json()
    assert note == json.loads(emitted)
    assert p.read_json()["id"] == 2
    assert_still_works(p, expected_seq=3)


ODD_REQUEST = ('{ "params" : {"b":1,  "a":[1, 2 ,3],"f":1.50e2 ,"s":"\\u00e9\\ud83c\\udf89"},'
               '"method":"echo" ,"id" : 42 ,"jsonrpc":"2.0"   }')
UTF8_TEXT = "héllo ✓ 日本語 🎉 e\u0301 \u2028\u2029 \u00a0 \ufeff"  # U+2028/9 are not newlines


def test_client_to_server_byte_exact(link):
    p = link()
    p.send(ODD_REQUEST)
    resp = p.read_json()
    assert resp["id"] == 42
    assert resp["result"]["raw"] == ODD_REQUEST  # spacing, key order, escapes: all kept
    assert resp["result"]["params"]["s"] == "é🎉"


def test_utf8_round_trips_byte_exact(link):
    p = link()
    line = ('{"jsonrpc":"2.0","id":"ü-1","method":"echo","params":{"t":"' + UTF8_TEXT
            + '","esc":"\\u0000\\n\\"\\\\"}}')
    p.send(line)
    raw = p.read_line()
    resp = json.loads(raw)
    assert resp["id"] == "ü-1"
    assert resp["result"]["raw"] == line
    assert resp["result"]["params"]["t"] == UTF8_TEXT
    # server -> client: an exact UTF-8 line (raw_server writes it unescaped)
    emitted = '{ "jsonrpc":"2.0" , "method":"notifications/utf8","params":{"t":"' + UTF8_TEXT + '"} }'
    p.send(rpc("raw/emit", {"lines": [emitted]}, msg_id=2))
    assert p.read_line() == emitted.encode("utf-8") + b"\n"
    assert json.loads(p.read_line())["id"] == 2


def test_server_to_client_byte_exact_and_client_response_forwarded(link):
    p = link()
    note = '{"params":{ "z" : [ ], "a":{"k" :"v"}},  "method":"notifications/odd","jsonrpc":"2.0"}'
    server_req = '{"id" : "srv-1" ,"method":"ping","jsonrpc" : "2.0"}'
    p.send(rpc("raw/emit", {"lines": [note, server_req]}, msg_id=1))
    assert p.read_line() == note.encode() + b"\n"
    assert p.read_line() == server_req.encode() + b"\n"
    assert json.loads(p.read_line())["id"] == 1
    # the client answers the server's request; and sends a notification
    answer = '{ "result" : {},"id":"srv-1",   "jsonrpc":"2.0"}'
    notif = '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"x","reason":"é"}}'
    p.send(answer)
    p.send(notif)
    hist = p.request("raw/history", msg_id=2)
    assert hist["result"]["lines"][-2:] == [answer, notif]


def test_id_types_preserved(link):
    p = link()
    for msg_id in [0, -1, 2**53, "", "id with spaces", "ünï"]:
        resp = p.request("echo", {"i": 1}, msg_id=msg_id)
        assert resp["id"] == msg_id and type(resp["id"]) is type(msg_id)


# --------------------------------------------------------------------------
# non-JSON from the server


def test_non_json_server_line_dropped_and_logged(proxy_raw):
    p = proxy_raw(server=["--noise", "Hello from a chatty server (not JSON)"])
    resp = p.request("echo", {"n": 1}, msg_id=1)  # fails if the noise line reached the client
    assert resp["result"]["seq"] == 1
    p.wait_stderr(r"^mcpfwd: warn: ")
    # mid-stream junk too
    resp = p.request("raw/emit", {"lines": ["print() output", "{broken json", ""]}, msg_id=2)
    assert resp["result"]["seq"] == 2
    assert_still_works(p, expected_seq=3)
    p.close_stdin()
    assert p.wait() == 0
    stats = p.stats()
    assert stats["error_counts"]["server_invalid"] >= 3, stats


def test_error_counters_in_stats(proxy_raw):
    p = proxy_raw("--max-message-bytes", "4096", server=["--noise", "junk"])
    for line in ["{", "not json"]:
        p.send(line)
        assert p.read_json()["error"]["code"] == -32700
    for line in ["[1,2]", '{"foo":1}', "[]"]:
        p.send(line)
        assert p.read_json()["error"]["code"] == -32600
    p.send("x" * 10000)
    assert p.read_json()["error"]["code"] == -32600
    assert_still_works(p, expected_seq=1)
    p.close_stdin()
    assert p.wait() == 0
    stats = p.stats()
    assert stats["error_counts"] == {"parse": 2, "invalid": 3, "oversize": 1, "server_invalid": 1,
                                     "server_oversize": 0, "timeouts": 0}, stats
    assert stats["errors"] == 7, stats
    assert stats["client_to_server"]["messages"] == 1, stats
    assert stats["in_flight"] == 0, stats


# --------------------------------------------------------------------------
# framing under load and across partial writes


def test_pipelined_burst_answered_in_order(link):
    p = link()
    n = 3000
    lines = [rpc("echo", {"i": i, "pad": "p" * 100}, msg_id=i) for i in range(n)]
    p.send("\n".join(lines))  # one big write, about 400 KB
    ids = [p.read_json(timeout=20)["id"] for _ in range(n)]
    assert ids == list(range(n))


def test_client_line_split_across_writes(link):
    p = link()
    line = rpc("echo", {"split": "ok"}, msg_id=1).encode()
    for chunk in (line[:7], line[7:30], line[30:]):
        p.send(chunk, newline=False)
        p.expect_no_output(0.15)
    p.send(b"")  # the newline alone completes the message
    assert p.read_json()["result"]["raw"] == line.decode()


def test_server_line_split_across_writes(link_cmd):
    """A server line written in pieces, with pauses between them, arrives as one message."""
    script = ("printf '{\"jsonrpc\":\"2.0\",'; sleep 0.2; printf '\"method\":\"notifications/a\",';"
              " sleep 0.2; printf '\"params\":{}}\\n'; exec cat")
    p = link_cmd(["/bin/sh", "-c", script])
    assert p.read_line() == b'{"jsonrpc":"2.0","method":"notifications/a","params":{}}\n'
    p.close_stdin()


def test_invalid_utf8_from_server_dropped(link_cmd):
    """A server line that is not valid UTF-8 never reaches the client."""
    bad_line = "printf '{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":{\"s\":\"\\377\"}}\\n'"
    p = link_cmd(["/bin/sh", "-c", bad_line + "; exec cat"])
    if link_cmd.mode == "direct":
        p.read_line()  # without a proxy the client sees the bad line
    good = '{"jsonrpc":"2.0","method":"notifications/after","params":{}}'
    p.send(good)  # cat echoes it: the first line the client gets through mcpfwd
    assert p.read_line() == good.encode() + b"\n"
    if link_cmd.mode == "mcpfwd":
        p.wait_stderr(r"^mcpfwd: warn: ")
    p.close_stdin()


@pytest.fixture(params=["direct", "mcpfwd"])
def link_cmd(request, run_process):
    """Factory: link_cmd(argv) -> pipe to an arbitrary upstream, direct or through mcpfwd."""
    def start(upstream):
        if request.param == "direct":
            return run_process(upstream)
        return request.getfixturevalue("start_proxy")(upstream)
    start.mode = request.param
    return start
