#!/usr/bin/env bash
# bench/ab_default.sh MCPFWD_A MCPFWD_B — two mcpfwd binaries against direct, one session, in
# mcpfwd's default configuration (no --io-threads), interleaved.
#
# Each round measures direct (fast_http_server), then A and B back to back (order AB, then BA,
# alternating), each a fresh process, with one loadgen session of BENCH_LATENCY_CALLS calls
# after 500 warmup calls; prints one line per measurement ("label p50_us p99_us cpu_us_per_call")
# and then the medians, and each binary's median ratio to direct's measurement of its round.
# Binaries: BUILD_DIR/bin/{loadgen,fast_server,fast_http_server} (BUILD_DIR=build/rel).
# Knobs: BENCH_ROUNDS=7, BENCH_LATENCY_CALLS=5000. Every run is bounded (loadgen --max-seconds).
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 MCPFWD_A MCPFWD_B" >&2; exit 2; }
A=$1 B=$2
BIN=${BUILD_DIR:-build/rel}/bin
ROUNDS=${BENCH_ROUNDS:-7}
CALLS=${BENCH_LATENCY_CALLS:-5000}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
one() {  # label [mcpfwd binary]
  local label=$1 port pid
  port=$(free_port)
  if [[ $# -eq 1 ]]; then
    "$BIN/fast_http_server" --port "$port" >/dev/null 2>&1 &
  else
    "$2" --listen "127.0.0.1:$port" -- "$BIN/fast_server" >/dev/null 2>&1 &
  fi
  pid=$!
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  timeout -k 5 120 "$BIN/loadgen" --url "http://127.0.0.1:$port/mcp" --calls "$CALLS" \
    --warmup 500 --cpu-pid "$pid" --max-seconds 100 |
    python3 -c "import json,sys; d=json.load(sys.stdin); print('$label', d['p50_us'], d['p99_us'], d['pid_cpu_us_per_call'])" |
    tee -a "$OUT"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}
for r in $(seq "$ROUNDS"); do
  one direct
  if ((r % 2)); then one A "$A"; one B "$B"; else one B "$B"; one A "$A"; fi
done
python3 - "$OUT" <<'PY'
import collections, statistics as st, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    k, *v = line.split()
    d[k].append(tuple(map(float, v)))
for k in ("direct", "A", "B"):
    v = d[k]
    print(f"{k}: p50 {st.median(x[0] for x in v):.1f} µs, p99 {st.median(x[1] for x in v):.1f} µs, "
          f"CPU {st.median(x[2] for x in v):.1f} µs per call (medians of {len(v)})")
for k in ("A", "B"):
    r = [[n[i] / dd[i] for n, dd in zip(d[k], d["direct"])] for i in range(3)]
    print(f"{k}/direct (median of the rounds' ratios): p50 {st.median(r[0]):.2f}, "
          f"p99 {st.median(r[1]):.2f}, CPU {st.median(r[2]):.2f}")
PY
