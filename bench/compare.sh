#!/usr/bin/env bash
# bench/compare.sh MCPFWD_A MCPFWD_B — two mcpfwd binaries measured in one run, interleaved.
#
# For a before/after comparison ("the bench's figures are unchanged within noise"): each
# round measures A and B back to back (order AB, then BA, alternating, so drift within a
# round does not favour one), with the same loadgen and fast_server, and the summary gives
# each binary's median and its spread over the rounds (interquartile range: the run-to-run
# noise; and min-max), in how many rounds B measured more than A, and whether the
# difference of the medians is within that noise.
# Figures (the bench's (a), (b), (d) and (g) with their default settings):
#   lat    1 session, BENCH_LATENCY_CALLS calls, --io-threads 1: p50, p99 (and direct stdio)
#   tp64   64 sessions x BENCH_THROUGHPUT_CALLS calls, --io-threads 1 and nproc: req/s
#   idle   VmRSS per idle session, BENCH_IDLE_SESSIONS sessions, --io-threads nproc
#   uplat  1 session through `mcpfwd --upstream U`, U = `MCPFWD_A --listen -- fast_server`
#          (the same upstream for both): p50, p99, and direct to U
# Binaries: LOADGEN_BIN and FAST_SERVER_BIN (or BUILD_DIR/bin/... with BUILD_DIR set).
# Knobs: BENCH_ROUNDS=9, BENCH_LATENCY_CALLS=5000, BENCH_THROUGHPUT_CALLS=1000,
# BENCH_IDLE_SESSIONS=200. Prints the summary (markdown) on stdout; the raw rows go to
# COMPARE_OUT (default compare-results.jsonl in the current directory).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 MCPFWD_A MCPFWD_B" >&2
  exit 2
fi
A=$(realpath "$1")
B=$(realpath "$2")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOADGEN=${LOADGEN_BIN:-${BUILD_DIR:-.}/bin/loadgen}
SERVER=${FAST_SERVER_BIN:-${BUILD_DIR:-.}/bin/fast_server}
ROUNDS=${BENCH_ROUNDS:-9}
LAT_CALLS=${BENCH_LATENCY_CALLS:-5000}
TP_CALLS=${BENCH_THROUGHPUT_CALLS:-1000}
IDLE=${BENCH_IDLE_SESSIONS:-200}
CORES=$(nproc)
OUT=${COMPARE_OUT:-compare-results.jsonl}
for b in "$A" "$B" "$LOADGEN" "$SERVER"; do
  [[ -x $b ]] || { echo "compare.sh: not an executable: $b" >&2; exit 2; }
done

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
: >"$OUT"
say() { echo "compare: $*" >&2; }

# start BIN ARGS...: an mcpfwd listening on an ephemeral port; sets PID and URL.
start() {
  local bin=$1
  shift
  : >"$TMP/url"
  "$bin" --listen 127.0.0.1:0 "$@" >"$TMP/url" 2>>"$TMP/mcpfwd.log" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 100); do
    [[ -s $TMP/url ]] && break
    kill -0 "$PID" 2>/dev/null || { tail "$TMP/mcpfwd.log" >&2; exit 1; }
    sleep 0.1
  done
  URL=$(head -n1 "$TMP/url")
  [[ $URL == http://127.0.0.1:*/mcp ]] || { echo "compare.sh: no URL from $bin" >&2; exit 1; }
}
stop() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# record WHICH LABEL LOADGEN_ARGS...: one bounded loadgen run, tagged.
record() {
  local which=$1 label=$2 out rc=0
  shift 2
  out=$(timeout -k 5 150 "$LOADGEN" --max-seconds 120 "$@") || rc=$?
  [[ $rc -eq 0 ]] || { echo "compare.sh: loadgen failed (exit $rc) for $which $label: $out" >&2; exit 1; }
  python3 -c 'import json,sys; d=json.loads(sys.argv[4]); d.update(bin=sys.argv[1], label=sys.argv[2], round=int(sys.argv[3])); print(json.dumps(d))' \
    "$which" "$label" "$ROUND" "$out" >>"$OUT"
}
vmrss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

measure() {  # measure WHICH BIN
  local which=$1 bin=$2 t rss0 rss1 lp
  start "$bin" --io-threads 1 -- "$SERVER"
  record "$which" lat --url "$URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500 --cpu-pid "$PID"
  stop "$PID"
  for t in $(printf '%s\n' 1 "$CORES" | sort -un); do
    start "$bin" --io-threads "$t" -- "$SERVER"
    record "$which" "tp64_t$t" --url "$URL" --sessions 64 --calls "$TP_CALLS" --warmup 100 \
      --cpu-pid "$PID"
    stop "$PID"
  done
  start "$bin" --io-threads "$CORES" -- "$SERVER"
  sleep 0.5
  rss0=$(vmrss_kib "$PID")
  timeout -k 5 100 "$LOADGEN" --max-seconds 90 --url "$URL" --idle-sessions "$IDLE" \
    --open-concurrency 1 --hold-seconds 4 >"$TMP/idle.json" &
  lp=$!
  for _ in $(seq 600); do
    [[ -s $TMP/idle.json ]] && break
    kill -0 "$lp" 2>/dev/null || break
    sleep 0.1
  done
  sleep 1
  rss1=$(vmrss_kib "$PID")
  wait "$lp" || { echo "compare.sh: idle loadgen failed: $(cat "$TMP/idle.json")" >&2; exit 1; }
  stop "$PID"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.update(bin=sys.argv[2], label="idle", round=int(sys.argv[3]), rss0=int(sys.argv[4]), rss1=int(sys.argv[5]), per_idle_kib=(int(sys.argv[5])-int(sys.argv[4]))/max(d["sessions_opened"],1)); print(json.dumps(d))' \
    "$TMP/idle.json" "$which" "$ROUND" "$rss0" "$rss1" >>"$OUT"
  local up=$UP_URL
  start "$bin" --io-threads 1 --upstream "$up"
  record "$which" uplat --url "$URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500 --cpu-pid "$PID"
  stop "$PID"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
for ROUND in $(seq "$ROUNDS"); do
  # The shared references of this round: direct stdio, and the upstream U.
  record ref lat_direct --direct --sessions 1 --calls "$LAT_CALLS" --warmup 500 -- "$SERVER"
  start "$A" --io-threads 1 -- "$SERVER"
  UP_URL=$URL
  UP_PID=$PID
  record ref uplat_direct --url "$UP_URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500
  if (( ROUND % 2 )); then order=(A B); else order=(B A); fi
  for w in "${order[@]}"; do
    say "round $ROUND/$ROUNDS: $w (load $(cut -d' ' -f1 /proc/loadavg))"
    if [[ $w == A ]]; then measure A "$A"; else measure B "$B"; fi
  done
  stop "$UP_PID"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$OUT" "$A" "$B" "$LOAD_BEFORE" "$LOAD_AFTER" "$(( $(date +%s) - START ))" "$CORES" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
a, b, lb, la, secs, cores = sys.argv[2:8]
def vals(which, label, key):
    return [r[key] for r in sorted(rows, key=lambda r: r["round"]) if r["bin"] == which and r["label"] == label]
figs = [("latency p50 µs, 1 session", "lat", "p50_us", 1), ("latency p99 µs, 1 session", "lat", "p99_us", 1),
        ("proxy CPU µs/call, 1 session", "lat", "pid_cpu_us_per_call", 1)]
for t in sorted({1, int(cores)}):
    figs += [(f"throughput req/s, 64 sessions, io-threads {t}", f"tp64_t{t}", "rps", 0),
             (f"proxy CPU µs/call, 64 sessions, io-threads {t}", f"tp64_t{t}", "pid_cpu_us_per_call", 1)]
figs += [("memory KiB per idle session", "idle", "per_idle_kib", 1),
         ("HTTP upstream latency p50 µs", "uplat", "p50_us", 1),
         ("HTTP upstream latency p99 µs", "uplat", "p99_us", 1)]
n = len(vals("A", "lat", "p50_us"))
print(f"A = `{a}`, B = `{b}`; {n} rounds, interleaved (AB, BA, ...); {cores} cores; "
      f"load average (1, 5, 15 min) before {lb}, after {la}; {secs} s.\n")
print("| figure | A median | A IQR | A min–max | B median | B IQR | B min–max | B − A (medians) | rounds with B > A | within noise |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
def fm(x, d): return f"{x:,.{d}f}"
def iqr(v):
    if len(v) < 4: return min(v), max(v)
    q = statistics.quantiles(v, n=4, method="inclusive")
    return q[0], q[2]
for name, lab, key, d in figs:
    va, vb = vals("A", lab, key), vals("B", lab, key)
    if not va or not vb: continue
    ma, mb = statistics.median(va), statistics.median(vb)
    paired = [y - x for x, y in zip(va, vb)]
    (a1, a3), (b1, b3) = iqr(va), iqr(vb)
    noise = max(a3 - a1, b3 - b1)
    within = abs(mb - ma) <= noise
    print(f"| {name} | {fm(ma,d)} | {fm(a1,d)}–{fm(a3,d)} | {fm(min(va),d)}–{fm(max(va),d)} "
          f"| {fm(mb,d)} | {fm(b1,d)}–{fm(b3,d)} | {fm(min(vb),d)}–{fm(max(vb),d)} "
          f"| {fm(mb-ma,d)} ({(mb-ma)/ma*100:+.1f} %) | {sum(x > 0 for x in paired)} of {len(paired)} "
          f"| {'yes' if within else '**no**'} |")
for lab, name in (("lat_direct", "direct stdio latency p50 µs (reference)"), ("uplat_direct", "direct-to-upstream latency p50 µs (reference)")):
    v = vals("ref", lab, "p50_us")
    q1, q3 = iqr(v)
    print(f"| {name} | {fm(statistics.median(v),1)} | {fm(q1,1)}–{fm(q3,1)} | {fm(min(v),1)}–{fm(max(v),1)} | | | | | | |")
bad = sum(r.get("errors", 0) + r.get("mismatches", 0) for r in rows)
print(f"\nNoise: the interquartile range (IQR) of each binary over its rounds. Within noise: "
      f"|B − A| of the medians ≤ the larger IQR of the two. Checked calls: "
      f"{sum(r.get('total_requests',0) for r in rows):,}, errors or mismatches: {bad}.")
PY
