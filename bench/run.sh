#!/usr/bin/env bash
# bench/run.sh BUILD_DIR — mcpfwd's benchmark (docs/benchmarks.md).
#
# Runs every figure on this machine, loopback only, and prints them as markdown
# on stdout (also saved to BUILD_DIR/bench-results.md); progress goes to stderr.
# Binaries: BUILD_DIR/bin/{mcpfwd,loadgen,fast_server}, or MCPFWD_BIN,
# LOADGEN_BIN, FAST_SERVER_BIN. Knobs (environment):
#   BENCH_REPEAT=3              runs per figure (the median is reported)
#   BENCH_LATENCY_CALLS=5000    calls in the 1-session latency runs
#   BENCH_THROUGHPUT_CALLS=1000 calls per session in the throughput runs
#   BENCH_IDLE_SESSIONS=200     idle sessions for the memory figure
#   BENCH_SSE_CALLS=200         calls in the streamed-answer (SSE) runs
#   BENCH_ONLY=upstream         run only (g), the HTTP-upstream figures
# Every load run is bounded (loadgen --max-seconds, and `timeout` around it).
set -euo pipefail

if [[ $# -ne 1 || ! -d $1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MCPFWD=${MCPFWD_BIN:-$BUILD/bin/mcpfwd}
LOADGEN=${LOADGEN_BIN:-$BUILD/bin/loadgen}
SERVER=${FAST_SERVER_BIN:-$BUILD/bin/fast_server}
REPEAT=${BENCH_REPEAT:-3}
LAT_CALLS=${BENCH_LATENCY_CALLS:-5000}
TP_CALLS=${BENCH_THROUGHPUT_CALLS:-1000}
IDLE=${BENCH_IDLE_SESSIONS:-200}
SSE_CALLS=${BENCH_SSE_CALLS:-200}
CORES=$(nproc)

for b in "$MCPFWD" "$LOADGEN" "$SERVER"; do
  [[ -x $b ]] || { echo "run.sh: not an executable: $b" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "run.sh: python3 is needed for the report" >&2; exit 2; }

TMP=$(mktemp -d)
PROXY_PID=
IDLE_PID=
PIN=
UP_PID=
SAMPLER_PID=
cleanup() {
  for p in "$SAMPLER_PID" "$UP_PID"; do
    if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  if [[ -n $IDLE_PID ]] && kill -0 "$IDLE_PID" 2>/dev/null; then
    kill -TERM "$IDLE_PID" 2>/dev/null || true
    wait "$IDLE_PID" 2>/dev/null || true
  fi
  if [[ -n $PROXY_PID ]] && kill -0 "$PROXY_PID" 2>/dev/null; then
    kill -KILL "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
RESULTS=$TMP/results.jsonl
: >"$RESULTS"

say() { echo "bench: $*" >&2; }

# start_proxy IO_THREADS [SERVER_ARGS...]: sets PROXY_PID and PROXY_URL.
start_proxy() {
  local threads=$1
  shift
  : >"$TMP/url"
  $PIN "$MCPFWD" --listen 127.0.0.1:0 --io-threads "$threads" -- "$SERVER" "$@" \
    >"$TMP/url" 2>>"$TMP/proxy.log" &
  PROXY_PID=$!
  for _ in $(seq 100); do
    [[ -s $TMP/url ]] && break
    kill -0 "$PROXY_PID" 2>/dev/null || { echo "run.sh: mcpfwd exited; its log:" >&2; tail "$TMP/proxy.log" >&2; exit 1; }
    sleep 0.1
  done
  PROXY_URL=$(head -n1 "$TMP/url")
  [[ $PROXY_URL == http://127.0.0.1:*/mcp ]] || { echo "run.sh: no URL from mcpfwd" >&2; exit 1; }
}

stop_proxy() {
  kill -TERM "$PROXY_PID" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$PROXY_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$PROXY_PID" 2>/dev/null || true
  wait "$PROXY_PID" 2>/dev/null || true
  PROXY_PID=
}

# record LABEL LOADGEN_ARGS...: one bounded loadgen run, its JSON tagged and kept.
record() {
  local label=$1 out rc=0 args=() pin=()
  shift
  for a in "$@"; do
    if [[ $a == --pin ]]; then pin=(taskset -c 0); else args+=("$a"); fi
  done
  out=$(timeout -k 5 150 "${pin[@]}" "$LOADGEN" --max-seconds 120 "${args[@]}") || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "run.sh: loadgen failed (exit $rc) for $label: $out" >&2
    exit 1
  fi
  python3 -c 'import json,sys; d=json.loads(sys.argv[2]); d["label"]=sys.argv[1]; print(json.dumps(d))' \
    "$label" "$out" >>"$RESULTS"
}

vmrss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
children_rss_kib() { ps -o rss= --ppid "$1" | awk '{s += $1; n++} END {print s + 0, n + 0}'; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# How busy the machine is without us: CPU use over one second before starting.
cpu_busy_pct() {
  local a b
  read -r -a a < <(head -n1 /proc/stat)
  sleep 1
  read -r -a b < <(head -n1 /proc/stat)
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}
BUSY_BEFORE=$(cpu_busy_pct)
LOAD_BEFORE=$(loadavg)
START=$(date +%s)

ONLY=${BENCH_ONLY:-all}
if [[ $ONLY == all ]]; then
# (a) latency, 1 session: through the proxy (1 I/O thread) vs direct stdio.
for r in $(seq "$REPEAT"); do
  say "latency run $r/$REPEAT"
  start_proxy 1
  record "lat_proxy" --url "$PROXY_URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500 \
    --cpu-pid "$PROXY_PID"
  stop_proxy
  record "lat_direct" --direct --sessions 1 --calls "$LAT_CALLS" --warmup 500 -- "$SERVER"
  if [[ $CORES -gt 1 ]]; then
    start_proxy "$CORES"
    record "lat_proxy_t$CORES" --url "$PROXY_URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500 \
      --cpu-pid "$PROXY_PID"
    stop_proxy
    # Everything on one core: no cross-core wake-ups (expensive on a VM).
    PIN="taskset -c 0"
    start_proxy 1
    PIN=
    record "lat_proxy_pinned" --url "$PROXY_URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500 \
      --cpu-pid "$PROXY_PID" --pin
    stop_proxy
    record "lat_direct_pinned" --direct --sessions 1 --calls "$LAT_CALLS" --warmup 500 --pin -- "$SERVER"
  fi
done

# (b) throughput at 16 and 64 sessions (load generator on the same machine),
# proxy with 1 I/O thread and with one per core; (c) rides along (--cpu-pid).
for s in 16 64; do
  for r in $(seq "$REPEAT"); do
    for t in $(printf '%s\n' 1 "$CORES" | sort -un); do
      say "throughput: $s sessions, proxy --io-threads $t, run $r/$REPEAT"
      start_proxy "$t"
      record "tp_proxy_${s}_t$t" --url "$PROXY_URL" --sessions "$s" --calls "$TP_CALLS" \
        --warmup 100 --cpu-pid "$PROXY_PID"
      stop_proxy
    done
    say "throughput: $s sessions, direct, run $r/$REPEAT"
    record "tp_direct_$s" --direct --sessions "$s" --calls "$TP_CALLS" --warmup 100 -- "$SERVER"
  done
done

# (d) memory per idle session and (e) session creation, one at a time.
say "memory: $IDLE idle sessions"
start_proxy "$CORES"
sleep 0.5
RSS0=$(vmrss_kib "$PROXY_PID")
timeout -k 5 100 "$LOADGEN" --max-seconds 90 --url "$PROXY_URL" --idle-sessions "$IDLE" \
  --open-concurrency 1 --hold-seconds 6 >"$TMP/idle.json" &
IDLE_PID=$!
for _ in $(seq 600); do
  [[ -s $TMP/idle.json ]] && break
  kill -0 "$IDLE_PID" 2>/dev/null || break
  sleep 0.1
done
sleep 1
RSS1=$(vmrss_kib "$PROXY_PID")
read -r KIDS_RSS KIDS_N < <(children_rss_kib "$PROXY_PID")
rc=0
wait "$IDLE_PID" || rc=$?
IDLE_PID=
[[ $rc -eq 0 ]] || { echo "run.sh: idle-session loadgen failed (exit $rc): $(cat "$TMP/idle.json")" >&2; exit 1; }
sleep 1
RSS2=$(vmrss_kib "$PROXY_PID")
stop_proxy
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["label"]="idle"; d.update(rss0=int(sys.argv[2]), rss1=int(sys.argv[3]), rss2=int(sys.argv[4]), kids_rss=int(sys.argv[5]), kids=int(sys.argv[6])); print(json.dumps(d))' \
  "$TMP/idle.json" "$RSS0" "$RSS1" "$RSS2" "$KIDS_RSS" "$KIDS_N" >>"$RESULTS"

say "session creation: direct spawn + initialize, one at a time"
record "create_direct" --direct --sessions 50 --calls 0 --warmup 0 --open-concurrency 1 -- "$SERVER"

# (f) streamed answers: the server logs one notification before each result, so
# mcpfwd answers every POST as text/event-stream (one run: they can be slow).
say "streamed answers (SSE), 1 session"
start_proxy 1 --notify 1
record "sse_proxy" --url "$PROXY_URL" --sessions 1 --calls "$SSE_CALLS" --warmup 10 \
  --cpu-pid "$PROXY_PID"
stop_proxy
record "sse_direct" --direct --sessions 1 --calls "$SSE_CALLS" --warmup 10 -- "$SERVER" --notify 1
fi

# (g) An HTTP upstream. The upstream is itself a Streamable HTTP MCP server:
# `mcpfwd --listen -- fast_server` (U), a fast native one, so what is measured
# is the added hop. Direct: loadgen -> U. Through mcpfwd: loadgen -> P -> U,
# where P is `mcpfwd --listen --upstream U` with its default pool (128).
# While each run lasts, the TCP connections P holds to U are counted from
# /proc/net/tcp (the most seen at once; GET streams included: one per session).
start_upstream() {
  : >"$TMP/up_url"
  "$MCPFWD" --listen 127.0.0.1:0 --io-threads "$1" -- "$SERVER" >"$TMP/up_url" 2>>"$TMP/upstream.log" &
  UP_PID=$!
  for _ in $(seq 100); do
    [[ -s $TMP/up_url ]] && break
    sleep 0.1
  done
  UP_URL=$(head -n1 "$TMP/up_url")
  [[ $UP_URL == http://127.0.0.1:*/mcp ]] || { echo "run.sh: no URL from the upstream mcpfwd" >&2; exit 1; }
  UP_PORT=${UP_URL#http://127.0.0.1:}
  UP_PORT=${UP_PORT%/mcp}
}
stop_upstream() {
  kill -TERM "$UP_PID" 2>/dev/null || true
  wait "$UP_PID" 2>/dev/null || true
  UP_PID=
}
# count_conns PORT: established TCP connections whose remote port is PORT.
count_conns() {
  awk -v port="$(printf '%04X' "$1")" 'NR > 1 && $4 == "01" { split($3, a, ":"); if (a[2] == port) n++ } END { print n + 0 }'     /proc/net/tcp /proc/net/tcp6
}
start_sampler() {
  : >"$TMP/conns"
  ( max=0; while :; do c=$(count_conns "$UP_PORT"); (( c > max )) && max=$c && echo "$max" >"$TMP/conns"; sleep 0.1; done ) &
  SAMPLER_PID=$!
}
stop_sampler() {
  kill -KILL "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=
  UP_CONNS=$(cat "$TMP/conns" 2>/dev/null || echo 0)
  UP_CONNS=${UP_CONNS:-0}
}
# record_up LABEL LOADGEN_ARGS...: record, plus the upstream connections seen.
record_up() {
  local label=$1
  shift
  start_sampler
  record "$label" "$@"
  stop_sampler
  python3 -c 'import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]; rows[-1]["up_conns"]=int(sys.argv[2]); open(sys.argv[1],"w").write("".join(json.dumps(r)+"\n" for r in rows))' \
    "$RESULTS" "$UP_CONNS"
}
start_remote_proxy() {
  local threads=$1
  : >"$TMP/url"
  "$MCPFWD" --listen 127.0.0.1:0 --io-threads "$threads" --upstream "$UP_URL" \
    >"$TMP/url" 2>>"$TMP/proxy.log" &
  PROXY_PID=$!
  for _ in $(seq 100); do
    [[ -s $TMP/url ]] && break
    sleep 0.1
  done
  PROXY_URL=$(head -n1 "$TMP/url")
  [[ $PROXY_URL == http://127.0.0.1:*/mcp ]] || { echo "run.sh: no URL from mcpfwd --upstream" >&2; exit 1; }
}
for r in $(seq "$REPEAT"); do
  say "HTTP upstream: latency run $r/$REPEAT"
  start_upstream 1
  record "uplat_direct" --url "$UP_URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500
  start_remote_proxy 1
  record_up "uplat_proxy" --url "$PROXY_URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500 \
    --cpu-pid "$PROXY_PID"
  stop_proxy
  stop_upstream
  for s in 16 64; do
    say "HTTP upstream: throughput, $s sessions, run $r/$REPEAT"
    start_upstream "$CORES"
    record "uptp_direct_$s" --url "$UP_URL" --sessions "$s" --calls "$TP_CALLS" --warmup 100
    stop_upstream
    for t in $(printf '%s\n' 1 "$CORES" | sort -un); do
      start_upstream "$CORES"
      start_remote_proxy "$t"
      record_up "uptp_proxy_${s}_t$t" --url "$PROXY_URL" --sessions "$s" --calls "$TP_CALLS" \
        --warmup 100 --cpu-pid "$PROXY_PID"
      stop_proxy
      stop_upstream
    done
  done
done

# (g2) The same against a real Python server: FastMCP over Streamable HTTP (answers
# streamed as SSE, its default), when the MCP SDK is installed. 64 sessions only.
FASTMCP_HTTP=$HERE/../tests/servers/fastmcp_http_server.py
if python3 -c 'import mcp, uvicorn' 2>/dev/null && [[ -f $FASTMCP_HTTP ]]; then
  : >"$TMP/up_url"
  python3 "$FASTMCP_HTTP" --transport streamable-http >"$TMP/up_url" 2>>"$TMP/fastmcp.log" &
  UP_PID=$!
  for _ in $(seq 300); do
    [[ -s $TMP/up_url ]] && break
    sleep 0.1
  done
  UP_URL=$(head -n1 "$TMP/up_url")
  UP_PORT=${UP_URL#http://127.0.0.1:}
  UP_PORT=${UP_PORT%/mcp}
  for r in $(seq "$REPEAT"); do
    say "HTTP upstream: FastMCP, 64 sessions, run $r/$REPEAT"
    record "upfast_direct" --url "$UP_URL" --sessions 64 --calls 50 --warmup 5
    start_remote_proxy 1
    record_up "upfast_proxy" --url "$PROXY_URL" --sessions 64 --calls 50 --warmup 5 \
      --cpu-pid "$PROXY_PID"
    stop_proxy
  done
  stop_upstream
else
  say "HTTP upstream: FastMCP rows skipped (the mcp package is not installed)"
fi

LOAD_AFTER=$(loadavg)
ELAPSED=$(( $(date +%s) - START ))
COMMIT=$(git -C "$HERE/.." describe --always --dirty 2>/dev/null || echo unknown)

python3 - "$RESULTS" >"$TMP/report.md" <<PY
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def runs(label): return [r for r in rows if r["label"] == label]
def med(label, key):
    v = [r[key] for r in runs(label) if r.get(key) is not None]
    return statistics.median(v) if v else float("nan")
def f(x, d=1): return f"{x:,.{d}f}"
reps = $REPEAT
cores = $CORES
only = "$ONLY"
out = []
p = out.append
p("## mcpfwd benchmark results")
p("")
p("- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x $CORES cores, "
  "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)")
p("- mcpfwd: \`$MCPFWD\` ($("$MCPFWD" --version 2>/dev/null | head -n1)); source tree at $COMMIT when the report was written")
p(f"- every figure is the median of {reps} runs; load generator, proxy and servers share the "
  f"{cores} cores; loopback TCP")
p("- CPU busy just before the run: $BUSY_BEFORE %; load average before / after: $LOAD_BEFORE / $LOAD_AFTER; wall time ${ELAPSED} s")
if $BUSY_BEFORE > 10:
    p("- **warning: other work was using the CPUs when the run started; the numbers are noisy**")
p("")
def upstream_section():
    threads = sorted({1, cores})
    p("### (g) HTTP upstream: mcpfwd in front of a remote Streamable HTTP server")
    p("")
    p("Upstream: \`mcpfwd --listen -- fast_server\` (a native Streamable HTTP server). Direct: the "
      "load generator talks to it. Through mcpfwd: \`mcpfwd --listen --upstream URL\` in between "
      "(default pool of 128 connections). Upstream connections: the most TCP connections the "
      "proxy held to the upstream at once during the run (one GET stream per session included).")
    p("")
    p("| sessions | path | req/s | p50 µs | p99 µs | mcpfwd CPU µs/req | upstream connections |")
    p("|---:|---|---:|---:|---:|---:|---:|")
    p(f"| 1 | direct | {f(med('uplat_direct','rps'),0)} | {f(med('uplat_direct','p50_us'))} | {f(med('uplat_direct','p99_us'))} | | |")
    p(f"| 1 | through mcpfwd (io-threads 1) | {f(med('uplat_proxy','rps'),0)} | {f(med('uplat_proxy','p50_us'))} | {f(med('uplat_proxy','p99_us'))} | {f(med('uplat_proxy','pid_cpu_us_per_call'))} | {f(med('uplat_proxy','up_conns'),0)} |")
    for s in (16, 64):
        p(f"| {s} | direct | {f(med(f'uptp_direct_{s}','rps'),0)} | {f(med(f'uptp_direct_{s}','p50_us'),0)} | {f(med(f'uptp_direct_{s}','p99_us'),0)} | | |")
        for t in threads:
            lab = f"uptp_proxy_{s}_t{t}"
            p(f"| {s} | through mcpfwd (io-threads {t}) | {f(med(lab,'rps'),0)} | {f(med(lab,'p50_us'),0)} | {f(med(lab,'p99_us'),0)} | {f(med(lab,'pid_cpu_us_per_call'))} | {f(med(lab,'up_conns'),0)} |")
    if runs("upfast_direct"):
        p(f"| 64 | FastMCP, direct | {f(med('upfast_direct','rps'),0)} | {f(med('upfast_direct','p50_us'),0)} | {f(med('upfast_direct','p99_us'),0)} | | |")
        p(f"| 64 | FastMCP, through mcpfwd (io-threads 1) | {f(med('upfast_proxy','rps'),0)} | {f(med('upfast_proxy','p50_us'),0)} | {f(med('upfast_proxy','p99_us'),0)} | {f(med('upfast_proxy','pid_cpu_us_per_call'))} | {f(med('upfast_proxy','up_conns'),0)} |")
    added = med('uplat_proxy','p50_us') - med('uplat_direct','p50_us')
    best = max(med(f"uptp_proxy_64_t{t}", "rps") for t in threads)
    ratio = best / med("uptp_direct_64", "rps") * 100
    p("")
    p("| target | measured | met |")
    p("|---|---:|---|")
    p(f"| added latency p50 < 150 µs (1 session) | {f(added)} µs | {'yes' if added < 150 else 'no'} |")
    p(f"| throughput ≥ 80 % of direct at 64 sessions | {f(ratio)} % ({f(best,0)} vs {f(med('uptp_direct_64','rps'),0)} req/s) | {'yes' if ratio >= 80 else 'no'} |")
    if runs("upfast_direct"):
        fr = med("upfast_proxy", "rps") / med("upfast_direct", "rps") * 100
        p(f"| the same, FastMCP upstream | {f(fr)} % ({f(med('upfast_proxy','rps'),0)} vs {f(med('upfast_direct','rps'),0)} req/s) | {'yes' if fr >= 80 else 'no'} |")
    p("")
if only != "all":
    upstream_section()
    bad = sum(r.get("errors", 0) + r.get("mismatches", 0) for r in rows)
    p(f"All {sum(r.get('total_requests', 0) for r in rows):,} measured calls were checked: {bad} errors or mismatched answers.")
    print("\n".join(out))
    sys.exit(0)
p(f"### (a) Latency, 1 session, $LAT_CALLS sequential calls (proxy: --io-threads 1)")
p("")
p("| path | p50 µs | p90 µs | p99 µs | max µs |")
p("|---|---:|---:|---:|---:|")
for name, lab in (("direct (stdio pipes)", "lat_direct"), ("through mcpfwd (HTTP)", "lat_proxy")):
    p(f"| {name} | {f(med(lab,'p50_us'))} | {f(med(lab,'p90_us'))} | {f(med(lab,'p99_us'))} | {f(med(lab,'max_us'))} |")
added50 = med("lat_proxy", "p50_us") - med("lat_direct", "p50_us")
added99 = med("lat_proxy", "p99_us") - med("lat_direct", "p99_us")
p(f"| **added by mcpfwd** | **{f(added50)}** | {f(med('lat_proxy','p90_us') - med('lat_direct','p90_us'))} | **{f(added99)}** | |")
if cores > 1:
    lab = f"lat_proxy_t{cores}"
    p(f"| through mcpfwd, --io-threads {cores} | {f(med(lab,'p50_us'))} | {f(med(lab,'p90_us'))} | {f(med(lab,'p99_us'))} | {f(med(lab,'max_us'))} |")
    for name, lab in (("direct, all on one core", "lat_direct_pinned"), ("through mcpfwd, all on one core", "lat_proxy_pinned")):
        p(f"| {name} | {f(med(lab,'p50_us'))} | {f(med(lab,'p90_us'))} | {f(med(lab,'p99_us'))} | {f(med(lab,'max_us'))} |")
    p(f"| **added by mcpfwd, all on one core** | **{f(med('lat_proxy_pinned','p50_us') - med('lat_direct_pinned','p50_us'))}** | {f(med('lat_proxy_pinned','p90_us') - med('lat_direct_pinned','p90_us'))} | **{f(med('lat_proxy_pinned','p99_us') - med('lat_direct_pinned','p99_us'))}** | |")
p("")
p(f"### (b) Throughput, $TP_CALLS sequential calls per session, all sessions at once")
p("")
threads = sorted({1, cores})
hdr = "| sessions | direct req/s | " + " | ".join(f"mcpfwd io-threads {t} req/s | p50 / p99 µs" for t in threads) + " |"
p(hdr)
p("|---:|---:|" + "---:|---:|" * len(threads))
for s in (16, 64):
    cells = [str(s), f(med(f"tp_direct_{s}", "rps"), 0)]
    for t in threads:
        lab = f"tp_proxy_{s}_t{t}"
        cells += [f(med(lab, "rps"), 0), f"{f(med(lab,'p50_us'),0)} / {f(med(lab,'p99_us'),0)}"]
    p("| " + " | ".join(cells) + " |")
p("")
p("### (c) Proxy CPU per forwarded request (utime+stime of mcpfwd over the measured calls)")
p("")
p("| sessions | io-threads | mcpfwd CPU µs/request | loadgen CPU µs/request |")
p("|---:|---:|---:|---:|")
p(f"| 1 | 1 | {f(med('lat_proxy','pid_cpu_us_per_call'))} | {f(med('lat_proxy','loadgen_cpu_us_per_call'))} |")
if cores > 1:
    lab = f"lat_proxy_t{cores}"
    p(f"| 1 | {cores} | {f(med(lab,'pid_cpu_us_per_call'))} | {f(med(lab,'loadgen_cpu_us_per_call'))} |")
    p(f"| 1, all on one core | 1 | {f(med('lat_proxy_pinned','pid_cpu_us_per_call'))} | {f(med('lat_proxy_pinned','loadgen_cpu_us_per_call'))} |")
for s in (16, 64):
    for t in threads:
        lab = f"tp_proxy_{s}_t{t}"
        p(f"| {s} | {t} | {f(med(lab,'pid_cpu_us_per_call'))} | {f(med(lab,'loadgen_cpu_us_per_call'))} |")
p("")
idle = runs("idle")[0]
n = idle["sessions_opened"]
per = (idle["rss1"] - idle["rss0"]) / max(n, 1)
p(f"### (d) Memory per idle session (VmRSS of mcpfwd alone, io-threads {cores}; keep-alive connections left open)")
p("")
p("| state | mcpfwd VmRSS KiB |")
p("|---|---:|")
p(f"| 0 sessions | {idle['rss0']:,} |")
p(f"| {n} idle sessions | {idle['rss1']:,} |")
p(f"| **per idle session** | **{f(per)}** |")
p(f"| after the {n} were deleted | {idle['rss2']:,} |")
p(f"| for comparison: each fast_server child (RSS, {idle['kids']} children) | {f(idle['kids_rss'] / max(idle['kids'],1))} |")
p("")
p("### (e) Session creation (initialize round trip, spawning the server included)")
p("")
p("| how | sessions | p50 ms | p99 ms |")
p("|---|---:|---:|---:|")
p(f"| through mcpfwd, one at a time | {n} | {f(idle['session_create_p50_us']/1000, 2)} | {f(idle['session_create_p99_us']/1000, 2)} |")
for s in (16, 64):
    lab = f"tp_proxy_{s}_t{cores}"
    p(f"| through mcpfwd, {s} at once (io-threads {cores}) | {s} | {f(med(lab,'session_create_p50_us')/1000, 2)} | {f(med(lab,'session_create_p99_us')/1000, 2)} |")
p(f"| direct spawn + initialize, one at a time | 50 | {f(med('create_direct','session_create_p50_us')/1000, 2)} | {f(med('create_direct','session_create_p99_us')/1000, 2)} |")
for s in (16, 64):
    lab = f"tp_direct_{s}"
    p(f"| direct spawn + initialize, {s} at once | {s} | {f(med(lab,'session_create_p50_us')/1000, 2)} | {f(med(lab,'session_create_p99_us')/1000, 2)} |")
p("")
p(f"### (f) Streamed answers, 1 session, $SSE_CALLS calls (one log notification before each result)")
p("")
p("| path | p50 µs | p90 µs | p99 µs | max µs |")
p("|---|---:|---:|---:|---:|")
for name, lab in (("direct (stdio pipes)", "sse_direct"), ("through mcpfwd (answers as text/event-stream)", "sse_proxy")):
    p(f"| {name} | {f(med(lab,'p50_us'))} | {f(med(lab,'p90_us'))} | {f(med(lab,'p99_us'))} | {f(med(lab,'max_us'))} |")
p("")
best64 = max(med(f"tp_proxy_64_t{t}", "rps") for t in threads)
p("### Against the targets")
p("")
p("| target | measured | met |")
p("|---|---:|---|")
if cores > 1:
    pinned50 = med('lat_proxy_pinned','p50_us') - med('lat_direct_pinned','p50_us')
    worst = max(added50, pinned50)
    p(f"| added latency p50 < 100 µs (1 session) | {f(added50)} µs (unpinned), {f(pinned50)} µs (one core) | {'yes' if worst < 100 else 'no'} |")
else:
    p(f"| added latency p50 < 100 µs (1 session) | {f(added50)} µs | {'yes' if added50 < 100 else 'no'} |")
p(f"| ≥ 20,000 req/s at 64 sessions | {f(best64, 0)} req/s | {'yes' if best64 >= 20000 else 'no'} |")
p(f"| < 64 KiB per idle session | {f(per)} KiB | {'yes' if per < 64 else 'no'} |")
p("")
upstream_section()
bad = sum(r.get("errors", 0) + r.get("mismatches", 0) for r in rows)
p("")
p(f"All {sum(r.get('total_requests', 0) for r in rows):,} measured calls were checked: {bad} errors or mismatched answers.")
print("\n".join(out))
PY
cp "$TMP/report.md" "$BUILD/bench-results.md"
cat "$TMP/report.md"
say "done in ${ELAPSED} s; saved to $BUILD/bench-results.md"
