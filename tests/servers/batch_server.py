#!/usr/bin/env python3
"""A tiny stdio JSON-RPC server (standard library only) that understands batches.

Used by the mcpfwd Streamable HTTP tests for JSON-RPC batching (2025-03-26):
every request, alone or inside a JSON array, is answered with
    {"jsonrpc":"2.0","id":<id>,"result":{"method":...,"params":...,"batch":<bool>}}
("params" absent when the request had none).  Notifications and responses
get no answer.  raw/history answers {"lines":[every line received before]}.

Command line
  --batch-reply array   answer a batch with one JSON array line (the default)
  --batch-reply lines   answer each request of a batch on its own line
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    mode = "array"
    if len(sys.argv) == 3 and sys.argv[1] == "--batch-reply":
        mode = sys.argv[2]
    out = sys.stdout
    seen: list[str] = []

    def answer_for(msg: object, in_batch: bool) -> dict | None:
        if not (isinstance(msg, dict) and "method" in msg and "id" in msg):
            return None
        if msg["method"] == "raw/history":
            return {"jsonrpc": "2.0", "id": msg["id"], "result": {"lines": seen[:-1]}}
        result = {"method": msg["method"], "batch": in_batch}
        if "params" in msg:
            result["params"] = msg["params"]
        return {"jsonrpc": "2.0", "id": msg["id"], "result": result}

    for line in sys.stdin:
        line = line.rstrip("\n")
        seen.append(line)
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, list):
            answers = [a for a in (answer_for(m, True) for m in msg) if a is not None]
            if answers and mode == "array":
                out.write(json.dumps(answers, separators=(",", ":")) + "\n")
            else:
                for a in answers:
                    out.write(json.dumps(a, separators=(",", ":")) + "\n")
        else:
            a = answer_for(msg, False)
            if a is not None:
                out.write(json.dumps(a, separators=(",", ":")) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
