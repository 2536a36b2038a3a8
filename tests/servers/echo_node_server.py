#!/usr/bin/env python3
"""A small stdio MCP server (standard library only, so it starts in tens of milliseconds) for
the tests that open many sessions: tests/python/e2e/test_scale_out.py.

It answers ``initialize`` (with the client's protocolVersion), ``server/discover`` (as a
2026-07-28 server: it needs no handshake and ignores ``_meta``, so both eras work), ``ping``,
``tools/list`` (one tool, ``echo``) and ``tools/call`` of ``echo``, whose text result is
``"<node>:<text>"`` with <node> the value of $ECHO_NODE (``-`` when unset): the mcpfwd
instance that spawned it sets it (``--env ECHO_NODE=a``), so a client can tell which instance
answered. ``echo`` with ``"delay": S`` sleeps S seconds first (a request kept in flight).
Unknown methods get -32601; notifications and responses get no answer. It exits on stdin
EOF.
"""

from __future__ import annotations

import json
import os
import sys
import time

NODE = os.environ.get("ECHO_NODE", "-")
TOOL = {
    "name": "echo",
    "description": "Return '<node>:<text>'.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}},
                    "required": ["text"]},
}


def answer(msg: dict) -> dict | None:
    if "method" not in msg or "id" not in msg:
        return None
    method, params = msg["method"], msg.get("params") or {}
    if method == "initialize":
        result = {"protocolVersion": params.get("protocolVersion", "2025-06-18"),
                  "capabilities": {"tools": {}},
                  "serverInfo": {"name": "echo-node", "version": "1"}}
    elif method == "server/discover":
        result = {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}},
                  "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "echo-node",
                                                                   "version": "1"}}}
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {"tools": [TOOL]}
    elif method == "tools/call" and params.get("name") == "echo":
        args = params.get("arguments") or {}
        text = args.get("text", "")
        if args.get("delay"):
            time.sleep(float(args["delay"]))
        result = {"content": [{"type": "text", "text": f"{NODE}:{text}"}], "isError": False}
    else:
        return {"jsonrpc": "2.0", "id": msg["id"],
                "error": {"code": -32601, "message": f"Method not found: {method}"}}
    return {"jsonrpc": "2.0", "id": msg["id"], "result": result}


def main() -> None:
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        out = answer(msg) if isinstance(msg, dict) else None
        if out is not None:
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
