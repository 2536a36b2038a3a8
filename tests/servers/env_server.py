"""A minimal stdio JSON-RPC server for the environment and working-directory tests.

Every request is answered with ``{"cwd": ..., "env": {...}, "parent_environ": [...]}``: its
working directory, its whole environment, and the entries of its parent's (mcpfwd's)
/proc/<ppid>/environ (null when unreadable), so a test sees exactly what mcpfwd gave the
process and what the process could read of mcpfwd's own environment.
"""

from __future__ import annotations

import json
import os
import sys


def parent_environ() -> list[str] | None:
    try:
        with open(f"/proc/{os.getppid()}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return [e.decode("utf-8", "replace") for e in data.split(b"\0") if e]


for line in sys.stdin:
    msg = json.loads(line)
    if "id" in msg and "method" in msg:
        result = {"cwd": os.getcwd(), "env": dict(os.environ),
                  "parent_environ": parent_environ()}
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
        sys.stdout.flush()
