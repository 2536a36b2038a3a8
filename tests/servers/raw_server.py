#!/usr/bin/env python3
"""A tiny hand-written stdio JSON-RPC server (no MCP SDK) for mcpfwd edge cases.

It reads newline-delimited lines on stdin and keeps every raw line it
received (bytes, without the trailing "\\n").  Only the standard library is
used, so it starts fast and behaves exactly as written here.

Answers
  Every request (an object with "method" and "id") is answered with
      {"jsonrpc":"2.0","id":<id>,"result":{"method":..., "params":...,
       "raw":"<the request line exactly as received>", "seq":N}}
  where N counts every line received so far, this one included (requests,
  notifications, responses and unparsable lines alike).  "params" is absent
  when the request had none.  Notifications, responses and lines that are
  not JSON are recorded but get no answer.

Special methods (params in brackets)
  raw/emit     {"lines":[str,...], "pad_bytes":N, "pad_id":X}  write each
               string as one stdout line (exact bytes, UTF-8); with pad_bytes,
               also write one notification "notifications/padding" at least
               N bytes long (with pad_id, a request "sampling/createMessage"
               with id X instead); then answer normally
  raw/hold     never answer (keeps the request in flight)
  raw/sleep    {"seconds":S}  sleep S seconds, then answer as for any request
  raw/stderr   {"lines":N, "width":W}  write N lines to stderr (of W extra
               characters each when W is given), then answer
  raw/history  answer {"lines":[every raw line received before this one]}
  raw/fds      answer {"fds":{"<fd>":"<readlink target>"}} for this process
  raw/exit     {"code":C}  exit with status C at once, no answer
  raw/kill     {"signal":S}  kill itself with signal S, no answer

Command line
  --noise TEXT        print TEXT (not JSON) as a stdout line at startup
  --stderr-lines N    write N lines to stderr at startup
  --exit-after N      on the N-th request, exit without answering it ...
  --exit-code C       ... with status C (default 0) ...
  --exit-signal S     ... or by killing itself with signal S
  --ignore-eof        on stdin EOF keep running (sleep) instead of exiting
  --ignore-sigterm    ignore SIGTERM (with --ignore-eof only SIGKILL ends it)

At startup it writes "raw_server: pid <pid> ready" to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--noise", default=None)
    ap.add_argument("--stderr-lines", type=int, default=0)
    ap.add_argument("--exit-after", type=int, default=0)
    ap.add_argument("--exit-code", type=int, default=0)
    ap.add_argument("--exit-signal", type=int, default=0)
    ap.add_argument("--ignore-eof", action="store_true")
    ap.add_argument("--ignore-sigterm", action="store_true")
    return ap.parse_args(argv)


def die(code: int, sig: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    if sig:
        os.kill(os.getpid(), sig)
        time.sleep(10)  # the signal is delivered before this returns
    os._exit(code)


def list_fds() -> dict[str, str]:
    names = os.listdir("/proc/self/fd")  # its own directory fd is closed again afterwards
    fds = {}
    for name in names:
        try:
            fds[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the fd listdir used, gone by now
    return fds


def main() -> None:
    args = parse_args(sys.argv[1:])
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = sys.stdout.buffer
    err = sys.stderr

    def write_line(data: bytes) -> None:
        out.write(data + b"\n")
        out.flush()

    def answer(msg_id: object, result: dict) -> None:
        write_line(json.dumps({"jsonrpc": "2.0", "id": msg_id, "result": result},
                              ensure_ascii=False, separators=(",", ":")).encode("utf-8"))

    err.write(f"raw_server: pid {os.getpid()} ready\n")
    for i in range(args.stderr_lines):
        err.write(f"raw_server: startup stderr line {i}\n")
    err.flush()
    if args.noise is not None:
        write_line(args.noise.encode("utf-8"))

    received: list[bytes] = []
    requests = 0
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            break
        if line.endswith(b"\n"):
            line = line[:-1]
        received.append(line)
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if not (isinstance(msg, dict) and "method" in msg and "id" in msg):
            continue  # notification, response or junk: recorded only
        requests += 1
        if args.exit_after and requests >= args.exit_after:
            die(args.exit_code, args.exit_signal)
        method = msg["method"]
        params = msg.get("params")
        p = params if isinstance(params, dict) else {}
        if method == "raw/hold":
            continue
        if method == "raw/sleep":
            time.sleep(float(p.get("seconds", 0)))
        if method == "raw/exit":
            die(int(p.get("code", 0)), 0)
        if method == "raw/kill":
            die(0, int(p.get("signal", signal.SIGKILL)))
        if method == "raw/history":
            answer(msg["id"], {"lines": [r.decode("utf-8", "replace") for r in received[:-1]]})
            continue
        if method == "raw/fds":
            answer(msg["id"], {"fds": list_fds()})
            continue
        if method == "raw/emit":
            for text in p.get("lines", []):
                write_line(text.encode("utf-8"))
            pad = int(p.get("pad_bytes", 0))
            if pad and "pad_id" in p:
                write_line(json.dumps({"jsonrpc": "2.0", "id": p["pad_id"],
                                       "method": "sampling/createMessage",
                                       "params": {"pad": "x" * pad}}).encode("utf-8"))
            elif pad:
                write_line(json.dumps({"jsonrpc": "2.0", "method": "notifications/padding",
                                       "params": {"pad": "x" * pad}}).encode("utf-8"))
        if method == "raw/stderr":
            n = int(p.get("lines", 0))
            width = int(p.get("width", 0))
            for i in range(n):
                if width:
                    err.write(f"raw_server: wide line {i} " + "w" * width + "\n")
                else:
                    err.write(f"raw_server: stderr line {i} of {n} " + "." * 40 + "\n")
            err.flush()
        result = {"method": method, "raw": line.decode("utf-8", "replace"), "seq": len(received)}
        if "params" in msg:
            result["params"] = params
        answer(msg["id"], result)

    err.write("raw_server: stdin closed\n")
    err.flush()
    if args.ignore_eof:
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
