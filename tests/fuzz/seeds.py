#!/usr/bin/env python3
"""Writes the hand-written seeds into tests/fuzz/corpus/<target>/seed-*.

The corpora also hold inputs the fuzzers found (hash-named, merged with
-merge=1, see docs/fuzzing.md); this script only (re)writes the seeds.
Usage: tests/fuzz/seeds.py
"""
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent


def j(obj):
    return json.dumps(obj, separators=(",", ":"))


INIT = j({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {"roots": {"listChanged": True}},
    "clientInfo": {"name": "claude-code", "version": "1.0.0"}}})
INIT_RESULT = j({"jsonrpc": "2.0", "id": 0, "result": {
    "protocolVersion": "2025-06-18", "capabilities": {"tools": {"listChanged": True}},
    "serverInfo": {"name": "everything", "version": "2.0.0"}}})
INITIALIZED = j({"jsonrpc": "2.0", "method": "notifications/initialized"})
TOOLS_LIST = j({"jsonrpc": "2.0", "id": "list-1", "method": "tools/list", "params": {}})
TOOLS_CALL = j({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
    "name": "longRunningOperation", "arguments": {"duration": 2, "steps": 3},
    "_meta": {"progressToken": "tok-7"}}})
PROGRESS = j({"jsonrpc": "2.0", "method": "notifications/progress", "params": {
    "progressToken": "tok-7", "progress": 1, "total": 3}})
CALL_RESULT = j({"jsonrpc": "2.0", "id": 7, "result": {
    "content": [{"type": "text", "text": "done \u00e9\U0001F600"}], "isError": False}})
ERROR = j({"jsonrpc": "2.0", "id": 8, "error": {"code": -32601, "message": "Method not found"}})
SAMPLING = j({"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage", "params": {
    "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
    "maxTokens": 10}})
CANCELLED = j({"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": 7, "reason": "timeout"}})

# Lines for the classifier and the peek (a JSON-RPC message each, or not).
MESSAGES = {
    "initialize": INIT,
    "initialize-result": INIT_RESULT,
    "initialized": INITIALIZED,
    "tools-list": TOOLS_LIST,
    "tools-call-progress-token": TOOLS_CALL,
    "progress": PROGRESS,
    "call-result": CALL_RESULT,
    "error": ERROR,
    "error-null-id": '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}',
    "sampling": SAMPLING,
    "cancelled": CANCELLED,
    "node-order": '{"result":{"content":[{"id":"inner"}]},"jsonrpc":"2.0","id":"abc"}',
    "batch": "[" + ",".join([TOOLS_LIST, INITIALIZED, CALL_RESULT, ERROR]) + "]",
    "batch-empty": "[]",
    "batch-nested": "[[" + INITIALIZED + "]]",
    "batch-bad-element": "[" + TOOLS_LIST + ",1]",
    "deep-64": "[" * 63 + "{}" + "]" * 63,
    "deep-65": '{"jsonrpc":"2.0","method":"x","params":' + "[" * 63 + "]" * 63 + "}",
    "escapes": r'{"jsonrpc":"2.0","id":"a\"b\\c\u0000\ud83d\ude00","method":"m\/x\n","params":{"s":"\t\b\f\r"}}',
    "escaped-keys": r'{"\u006asonrpc":"2.0","\u0069d":1,"m\u0065thod":"ping"}',
    "escaped-dup-id": r'{"jsonrpc":"2.0","id":1,"\u0069d":2,"result":{}}',
    "dup-keys": '{"jsonrpc":"2.0","id":1,"id":"two","method":"a","method":"b"}',
    "numbers": '{"jsonrpc":"2.0","id":-0.0e-0,"result":[1e308,-1e-308,18446744073709551615,18446744073709551616,-9223372036854775808,0.1]}',
    "id-infinite": '{"jsonrpc":"2.0","id":1e400,"method":"ping"}',
    "id-nan": '{"jsonrpc":"2.0","id":-0.0e40708,"result":{}}',
    "token-infinite": '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":-1e999}}',
    "id-17-digits": '{"jsonrpc":"2.0","id":184467440737101017116,"result":1}',
    "id-17-digits-context": '{"jsonrpc":"2.0","id":18.467440737106010117116,"res[dult":1}',
    "id-float": '{"jsonrpc":"2.0","id":1.5e3,"method":"ping"}',
    "id-bool": '{"jsonrpc":"2.0","id":true,"method":"ping"}',
    "id-object": '{"jsonrpc":"2.0","id":{"a":1},"result":{}}',
    "id-null-request": '{"jsonrpc":"2.0","id":null,"method":"ping"}',
    "id-257": '{"jsonrpc":"2.0","id":"' + "x" * 255 + '","method":"ping"}',
    "id-whitespace": '{ "jsonrpc" : "2.0" , "id" :\t 42 \r\n, "result" : { } }',
    "params-string": '{"jsonrpc":"2.0","id":1,"method":"x","params":"no"}',
    "version-1": '{"jsonrpc":"1.0","id":1,"method":"x"}',
    "request-with-result": '{"jsonrpc":"2.0","id":1,"method":"x","result":1}',
    "result-and-error": '{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}',
    "error-bad-code": '{"jsonrpc":"2.0","id":1,"error":{"code":1.0,"message":"m"}}',
    "method-empty": '{"jsonrpc":"2.0","id":1,"method":""}',
    "string-top": '"{\\"id\\":1}"',
    "trailing-garbage": INITIALIZED + " x",
    "comment": '{"jsonrpc":"2.0",/*c*/"method":"x"}',
    "invalid-utf8": b'{"jsonrpc":"2.0","method":"\xc3\x28"}',
    "truncated": TOOLS_CALL[:40],
}

# Streams for the framer and the SSE parser: (limit, explicit cuts, tail
# mode, payload); see stream_input in fuzz_util.hpp.
def stream(limit, cuts, mode, payload):
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogateescape")
    assert len(cuts) < 16 and 0 <= mode <= 7
    return bytes([limit, len(cuts) | (mode << 4)] + list(cuts)) + payload


WHOLE, BYTES = 7, 0
LINES = "\n".join([INIT, INITIALIZED, TOOLS_CALL, PROGRESS, CALL_RESULT]) + "\n"
FRAMER = {
    "session": stream(255, [], WHOLE, LINES),
    "session-bytewise": stream(255, [], BYTES, LINES),
    "session-cut": stream(255, [3, 0, 90, 1], 5, LINES),
    "crlf": stream(255, [], 2, LINES.replace("\n", "\r\n")),
    "lone-cr": stream(16, [], BYTES, "a\rb\r\r\n\r\n\n\rc\n"),
    "at-limit-crlf-split": stream(4, [5, 1], WHOLE, "abcd\r\nabcd\nabcde\r\n"),
    "oversize-request": stream(32, [40, 40], 3, SAMPLING + "\n" + INITIALIZED + "\n"),
    "oversize-response": stream(64, [], 4, CALL_RESULT + "\r\nok\n" + ERROR + "\n"),
    "oversize-unterminated": stream(16, [], WHOLE, "ok\n" + TOOLS_LIST),
    "one-over-at-eof": stream(4, [], WHOLE, "ok\nabcde"),
    "limit-zero": stream(0, [], BYTES, "\n\r\nx\n"),
    "blank-lines": stream(8, [0, 0, 1], 1, "\n\n   \n\t\n"),
    "batch": stream(255, [], 6, MESSAGES["batch"][:250] + "\n"),
}

def sse(*events):
    return "".join(events)


SSE = {
    "response": stream(255, [], WHOLE, "event: message\ndata: " + CALL_RESULT + "\n\n"),
    "ids-retry": stream(255, [], 2, sse(
        "id: 1\nevent: message\ndata: " + PROGRESS + "\n\n",
        ": keep-alive\n\n", "retry: 2500\n\n", "id: 2\ndata:\n\n",
        "id\ndata\n\n", "retry: 99999999999\nretry: x1\n\n")),
    "crlf": stream(255, [], 3, ("id: a\r\nevent: message\r\ndata: " + INITIALIZED
                                + "\r\n\r\n")),
    "cr-only": stream(255, [], BYTES, "event: endpoint\rdata: /messages?x=1\r\rdata: a\rdata: b\r\r"),
    "crlf-split-empty-read": stream(255, [8, 0, 1, 9, 0], WHOLE, "data: a\r\ndata: b\r\n\r\n"),
    "multiline-data": stream(255, [], 4, "data: {\"jsonrpc\":\"2.0\",\ndata: \"method\":\"x\"}\n\n"),
    "endpoint": stream(255, [], WHOLE, "event: endpoint\ndata: /messages?sessionId=abc\n\n"),
    "oversize-data": stream(48, [], 4, "data: " + SAMPLING + "\n\ndata: ok\n\n"),
    "oversize-lines": stream(40, [20], 5, "data: " + CALL_RESULT[:30] + "\ndata: "
                             + CALL_RESULT[30:] + "\n\n"),
    "long-comment": stream(8, [], 2, ": " + "c" * 40 + "\n\ndata: x\n\n"),
    "long-id-event": stream(8, [], 1, "id: " + "i" * 40 + "\nevent: " + "e" * 40 + "\ndata: y\n\n"),
    "id-nul": stream(255, [], WHOLE, "id: a\0b\ndata: z\n\n"),
    "bom": stream(255, [], WHOLE, "\ufeffdata: x\n\n"),
    "no-space": stream(255, [], WHOLE, "data:x\nevent:message\nid:3\n\n"),
    "limit-zero": stream(0, [], BYTES, "data:\n\ndata: x\n\n"),
}


# Requests for the HTTP path: byte 0 is the configuration (fuzz_http_request.cpp:
# 1 token, 2 draining, 4 public bind, 8 --allow-host, 16 --allow-origin,
# 32 --max-message-bytes 256, 64 --max-batch 2, 128 a 16 KB header).
TOKEN, DRAINING, PUBLIC, HOSTS, ORIGINS, SMALL_BODY, SMALL_BATCH, PAD = (1 << i for i in range(8))
HTTP_ID = "0123456789abcdef0123456789abcdef"  # a Streamable HTTP session
SSE_ID = "fedcba9876543210fedcba9876543210"   # a legacy HTTP+SSE session
NEW_ID = "00000000000000000000000000000001"   # what an accepted initialize opens


def req(method, target, headers=(), body=None, version="1.1", host="127.0.0.1:8080"):
    lines = [f"{method} {target} HTTP/{version}"]
    if host is not None:
        lines.append("Host: " + host)
    lines += list(headers)
    if body is not None and not any(h.lower().startswith(("content-length", "transfer-encoding"))
                                    for h in headers):
        lines.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(lines) + "\r\n\r\n" + (body or "")


def post(body, headers=(), target="/mcp", **kw):
    return req("POST", target, ["Content-Type: application/json",
                                "Accept: application/json, text/event-stream"] + list(headers),
               body, **kw)


def chunked(body, sizes, ext=""):
    out, at = "", 0
    for n in sizes:
        out += f"{n:x}{ext}\r\n" + body[at:at + n] + "\r\n"
        at += n
    return out + "0\r\n\r\n"


SID = "Mcp-Session-Id: " + HTTP_ID
ENVELOPE = ('"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
            '"io.modelcontextprotocol/clientCapabilities":{}}')
MODERN_CALL = ('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo",'
               '"arguments":{"text":"hi"},' + ENVELOPE + '}}')
MODERN_NOTE = ('{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,'
               + ENVELOPE + '}}')
MODERN_LISTEN = '{"jsonrpc":"2.0","id":"l","method":"subscriptions/listen","params":{' + ENVELOPE + '}}'
MODERN_HEADERS = ["MCP-Protocol-Version: 2026-07-28", "Mcp-Method: tools/call"]
PV = "MCP-Protocol-Version: 2025-06-18"
BATCH3 = "[" + ",".join([TOOLS_LIST, INITIALIZED, TOOLS_CALL]) + "]"
HTTP = {
    "initialize": stream(0, [], WHOLE, post(INIT)),
    "initialize-bytewise": stream(0, [], BYTES, post(INIT)),
    "initialize-cut": stream(0, [30, 0, 5, 200], 4, post(INIT)),
    "session-call": stream(0, [], WHOLE, post(TOOLS_CALL, [SID, PV])),
    "no-session-notification": stream(0, [], WHOLE, post(INITIALIZED)),
    "get-stream": stream(0, [], WHOLE, req("GET", "/mcp", ["Accept: text/event-stream", SID, PV])),
    "get-not-acceptable": stream(0, [], WHOLE, req("GET", "/mcp", ["Accept: application/json", SID])),
    "get-no-session": stream(0, [], WHOLE, req("GET", "/mcp", ["Accept: text/event-stream"])),
    "delete-then-post": stream(0, [], 6, req("DELETE", "/mcp", [SID]) + post(TOOLS_LIST, [SID])),
    "pipeline-new-session": stream(0, [], 5, post(INIT) + post(INITIALIZED, ["Mcp-Session-Id: " + NEW_ID])
                                   + req("DELETE", "/mcp", ["Mcp-Session-Id: " + NEW_ID])
                                   + req("GET", "/mcp", ["Mcp-Session-Id: " + NEW_ID])),
    "chunked": stream(0, [], 3, post(chunked(TOOLS_CALL, [10, 1, 60, len(TOOLS_CALL) - 71], ";x=\"y\""),
                                      [SID, "Transfer-Encoding: chunked"])),
    "chunked-over-limit": stream(SMALL_BODY, [], 4, post(chunked(SAMPLING * 2, [200, 2 * len(SAMPLING) - 200]),
                                                        [SID, "Transfer-Encoding: chunked"])),
    "chunked-bad": stream(0, [], WHOLE, post("zz\r\nab\r\n0\r\n\r\n", [SID, "Transfer-Encoding: chunked"])),
    "content-length-over": stream(0, [], WHOLE, post("", [SID, "Content-Length: 99999999999"])),
    "content-length-over-small": stream(SMALL_BODY, [], WHOLE, post(SAMPLING * 2, [SID])),
    "content-length-bad": stream(0, [], WHOLE, post("{}", [SID, "Content-Length: 1x"])),
    "content-length-twice": stream(0, [], WHOLE, post("{}", [SID, "Content-Length: 2", "Content-Length: 2"])),
    "cl-and-chunked": stream(0, [], WHOLE, post(chunked("{}", [2]), [SID, "Content-Length: 2",
                                                                    "Transfer-Encoding: chunked"])),
    "bad-host": stream(0, [], WHOLE, post(INIT, host="evil.example.com")),
    "host-no-port": stream(0, [], WHOLE, post(INIT, host="localhost")),
    "host-v6": stream(0, [], WHOLE, req("GET", "/sse", host="[::1]:8080")),
    "no-host-1.1": stream(0, [], WHOLE, post(INIT, host=None)),
    "no-host-1.0": stream(0, [], WHOLE, post(INIT, host=None, version="1.0")),
    "allowed-host-public": stream(HOSTS | PUBLIC, [], WHOLE, post(INIT, host="MCP.example.com:8080")),
    "public-any-host": stream(PUBLIC, [], WHOLE, post(INIT, host="198.51.100.7")),
    "bad-origin": stream(0, [], WHOLE, post(INIT, ["Origin: https://evil.example"])),
    "localhost-origin": stream(0, [], WHOLE, post(INIT, ["Origin: http://localhost:3000"])),
    "allowed-origin": stream(ORIGINS, [], WHOLE, post(INIT, ["Origin: https://app.example.com"])),
    "token": stream(TOKEN, [], WHOLE, post(INIT, ["Authorization: bearer   secret-token"])),
    "token-wrong": stream(TOKEN, [], WHOLE, post(INIT, ["Authorization: Bearer secret-tokem"])),
    "draining": stream(DRAINING, [], WHOLE, post(TOOLS_LIST, [SID])),
    "sse-open": stream(0, [], WHOLE, req("GET", "/sse", ["Accept: text/event-stream"])),
    "sse-messages": stream(0, [], WHOLE, post(TOOLS_LIST, target="/messages?sessionId=" + SSE_ID)),
    "sse-messages-wrong-transport": stream(0, [], WHOLE,
                                           post(TOOLS_LIST, target="/messages?x=1&sessionId=" + HTTP_ID)),
    "sse-messages-no-id": stream(0, [], WHOLE, post(TOOLS_LIST, target="/messages")),
    "wrong-method": stream(0, [], WHOLE, req("PUT", "/mcp", [SID], "{}") + req("PATCH", "/sse")),
    "bad-path": stream(0, [], WHOLE, req("GET", "/", ["Connection: keep-alive"]) + req("GET", "/mcp/x")),
    "bad-version": stream(0, [], WHOLE, post(TOOLS_LIST, [SID, "MCP-Protocol-Version: 1999-01-01"])),
    "batch-over-limit": stream(SMALL_BATCH, [], WHOLE, post(BATCH3, [SID, "MCP-Protocol-Version: 2025-03-26"])),
    "bad-json": stream(0, [], WHOLE, post('{"jsonrpc":"2.0","id":1,', [SID])),
    "expect-continue": stream(0, [], 2, post(INIT, ["Expect: 100-continue"])),
    "connection-close": stream(0, [], WHOLE, post(INIT, ["Connection: close"]) + post(INIT)),
    "malformed-head": stream(0, [], WHOLE, "GET /mcp HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n"),
    "obs-fold": stream(0, [], WHOLE, "GET /sse HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX: a\r\n b\r\n\r\n"),
    "bare-lf": stream(0, [], WHOLE, "GET /sse HTTP/1.1\nHost: 127.0.0.1:8080\n\n"),
    "head-near-limit": stream(PAD, [], WHOLE, req("GET", "/mcp", [SID, "Accept: text/event-stream",
                                                            "X: " + "b" * 20])),
    "head-over-limit": stream(PAD, [], 6, req("GET", "/mcp", [SID, "Accept: text/event-stream",
                                                        "X: " + "b" * 80])),
    # the stateless era (2026-07-28): no session; the routing headers checked against the body
    "modern-call": stream(0, [], WHOLE, post(MODERN_CALL, MODERN_HEADERS + ["Mcp-Name: echo"])),
    "modern-call-name-b64": stream(0, [], 3, post(MODERN_CALL, MODERN_HEADERS + ["Mcp-Name: =?base64?ZWNobw==?="])),
    "modern-mismatch": stream(0, [], WHOLE, post(MODERN_CALL, MODERN_HEADERS + ["Mcp-Name: other"])),
    "modern-dup-header": stream(0, [], WHOLE, post(MODERN_CALL, MODERN_HEADERS + ["Mcp-Method: tools/call", "Mcp-Name: echo"])),
    "modern-no-meta": stream(0, [], WHOLE, post(TOOLS_LIST, ["MCP-Protocol-Version: 2026-07-28", "Mcp-Method: tools/list"])),
    "modern-future": stream(0, [], WHOLE, post(MODERN_CALL.replace("2026-07-28", "2099-01-01"),
                                               ["MCP-Protocol-Version: 2099-01-01", "Mcp-Method: tools/call", "Mcp-Name: echo"])),
    "modern-get-delete": stream(0, [], WHOLE, req("GET", "/mcp", ["MCP-Protocol-Version: 2026-07-28"])
                                + req("DELETE", "/mcp", ["MCP-Protocol-Version: 2026-07-28"])),
    "modern-notification": stream(0, [], WHOLE, post(MODERN_NOTE, ["MCP-Protocol-Version: 2026-07-28",
                                                                   "Mcp-Method: notifications/cancelled"])),
    "modern-listen-json": stream(0, [], WHOLE, req("POST", "/mcp", ["Content-Type: application/json", "Accept: application/json",
                                                                    "MCP-Protocol-Version: 2026-07-28", "Mcp-Method: subscriptions/listen"],
                                                   MODERN_LISTEN)),
    "all-options": stream(TOKEN | HOSTS | ORIGINS | SMALL_BODY | SMALL_BATCH, [], WHOLE,
                          post(INIT, ["Authorization: Bearer secret-token",
                                      "Origin: https://app.example.com"], host="[::1]")),
}


def write(target, seeds):
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    for name, body in seeds.items():
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogateescape")
        (d / ("seed-" + name)).write_bytes(body)


def main():
    write("classify", MESSAGES)
    peek = dict(MESSAGES)
    peek["unterminated-id"] = '{"result":{},"id":12'
    peek["id-then-garbage"] = '{"id":5,"method":"x"} trailing'
    peek["prefix-no-object"] = 'not json "id":1'
    write("jsonrpc_peek", peek)
    write("line_framer", FRAMER)
    write("sse_parser", SSE)
    write("http_request", HTTP)


if __name__ == "__main__":
    main()
