"""How much slower a fresh server process answers its first message than its second.

A session on a pooled (--prespawn) process is that process's first exchange, where direct's
long-running server is warm. This starts SERVER N times, lets each settle as a pooled one
would (0.2 s), then times, over its pipes and with no proxy, the round trip of its first
message (initialize) and of a second one. Prints one JSON object: the medians in µs.

usage: python3 bench/first_answer.py SERVER [N]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

INIT = ('{"jsonrpc":"2.0","id":%d,"method":"initialize","params":{"protocolVersion":'
        '"2025-06-18","capabilities":{},"clientInfo":{"name":"first_answer","version":"1"}}}\n')


def round_trip(fd_in: int, fd_out: int, msg_id: int) -> float:
    t = time.perf_counter_ns()
    os.write(fd_in, (INIT % msg_id).encode())
    got = b""
    while not got.endswith(b"\n"):
        chunk = os.read(fd_out, 65536)
        if not chunk:
            raise SystemExit("first_answer.py: the server closed its stdout")
        got += chunk
    return (time.perf_counter_ns() - t) / 1000


def main() -> None:
    server, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30
    first, second = [], []
    for _ in range(n):
        p = subprocess.Popen([server], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        try:
            time.sleep(0.2)
            first.append(round_trip(p.stdin.fileno(), p.stdout.fileno(), 1))
            second.append(round_trip(p.stdin.fileno(), p.stdout.fileno(), 2))
        finally:
            p.stdin.close()
            p.wait(10)
    print(json.dumps({"label": "first_answer", "n": n,
                      "first_p50_us": round(statistics.median(first), 1),
                      "second_p50_us": round(statistics.median(second), 1)}))


if __name__ == "__main__":
    main()
