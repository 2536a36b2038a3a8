"""A minimal stdio JSON-RPC server for the environment and working-directory tests.

Every request is answered with ``{"cwd": ..., "env": {...}}``: its working directory
and its whole environment, so a test sees exactly what mcpfwd gave the process.
"""

from __future__ import annotations

import json
import os
import sys

for line in sys.stdin:
    msg = json.loads(line)
    if "id" in msg and "method" in msg:
        result = {"cwd": os.getcwd(), "env": dict(os.environ)}
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
        sys.stdout.flush()
