#!/usr/bin/env bash
# bench/run.sh BUILD_DIR — mcpfwd's benchmark (docs/benchmarks.md).
#
# Runs every figure on this machine, loopback only, and prints them as markdown
# on stdout (also saved to BUILD_DIR/bench-results.md, the raw results to
# BUILD_DIR/bench-results.jsonl and bench-meta.json); progress goes to stderr.
# Binaries: BUILD_DIR/bin/{mcpfwd,loadgen,fast_server,fast_http_server} and
# BUILD_DIR/lib/libmalloc_count.so, or MCPFWD_BIN, LOADGEN_BIN, FAST_SERVER_BIN,
# FAST_HTTP_SERVER_BIN, MALLOC_COUNT_LIB. Knobs (environment):
#   BENCH_REPEAT=3              runs per figure (the median is reported)
#   BENCH_LATENCY_CALLS=5000    calls in the 1-session latency runs
#   BENCH_THROUGHPUT_CALLS=1000 calls per session in the throughput runs
#   BENCH_IDLE_SESSIONS=200     idle sessions for the memory figure
#   BENCH_SSE_CALLS=200         calls in the streamed-answer (SSE) runs
#   BENCH_ONLY=upstream         run only (g), the HTTP-upstream figures
#   BENCH_ONLY=headline         run only the headline: the default configuration against
#                               fast_http_server (direct), heap allocations and instructions
#   BENCH_WRITE_DOCS=0          do not rewrite the pages (see below)
#   PYTHON=python3              the Python that runs the FastMCP upstream of (g); its rows
#                               are skipped unless it imports the MCP SDK 2.x and uvicorn
# A full run also rewrites docs/benchmarks.md (from bench/benchmarks.md.in, by
# bench/report.py) and the performance paragraphs of README.md and docs/http.md,
# so every figure the docs quote comes from this one run.
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
HTTP_SERVER=${FAST_HTTP_SERVER_BIN:-$BUILD/bin/fast_http_server}
MALLOC_LIB=${MALLOC_COUNT_LIB:-$BUILD/lib/libmalloc_count.so}
REPEAT=${BENCH_REPEAT:-3}
LAT_CALLS=${BENCH_LATENCY_CALLS:-5000}
TP_CALLS=${BENCH_THROUGHPUT_CALLS:-1000}
IDLE=${BENCH_IDLE_SESSIONS:-200}
SSE_CALLS=${BENCH_SSE_CALLS:-200}
CORES=$(nproc)

for b in "$MCPFWD" "$LOADGEN" "$SERVER" "$HTTP_SERVER"; do
  [[ -x $b ]] || { echo "run.sh: not an executable: $b" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "run.sh: python3 is needed for the report" >&2; exit 2; }

TMP=$(mktemp -d)
PROXY_OPTS=()  # extra mcpfwd options for start_proxy (the stateless-era runs)
PROXY_ENV=()   # extra environment for start_proxy (the allocation count)
PROXY_WRAP=()  # a command mcpfwd runs under (callgrind)
PROXY_PID=
DIRECT_PID=
IDLE_PID=
WARM_PID=
PIN=
UP_PID=
SAMPLER_PID=
cleanup() {
  for p in "$SAMPLER_PID" "$UP_PID" "$DIRECT_PID"; do
    if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  for p in "$IDLE_PID" "$WARM_PID"; do
    if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
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
# IO_THREADS "default": no --io-threads (the default configuration).
start_proxy() {
  local threads=$1 topt=()
  shift
  [[ $threads == default ]] || topt=(--io-threads "$threads")
  : >"$TMP/url"
  env "${PROXY_ENV[@]}" $PIN "${PROXY_WRAP[@]}" "$MCPFWD" --listen 127.0.0.1:0 "${topt[@]}" \
    "${PROXY_OPTS[@]}" -- "$SERVER" "$@" >"$TMP/url" 2>>"$TMP/proxy.log" &
  PROXY_PID=$!
  for _ in $(seq 300); do
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
# hold_idle URL N FILE HOLD_S: a background loadgen opens N sessions one at a time and holds
# them HOLD_S seconds (SIGUSR1 ends the hold early); its PID in HOLD_PID. Returns once it
# has reported them open (or ended), plus a second for the proxy to settle.
hold_idle() {
  timeout -k 5 $(($4 + 130)) "$LOADGEN" --max-seconds $(($4 + 120)) --url "$1" \
    --idle-sessions "$2" --open-concurrency 1 --hold-seconds "$4" >"$3" &
  HOLD_PID=$!
  for _ in $(seq 1100); do
    [[ -s $3 ]] && break
    kill -0 "$HOLD_PID" 2>/dev/null || break
    sleep 0.1
  done
  sleep 1
}
# Memory per idle session is marginal: WARM_SESSIONS are opened and held first, so what the
# first sessions cost the process once (the second I/O thread's malloc arena and caches) is
# not divided among the measured ones; the figure from no session at all is shown beside it.
WARM_SESSIONS=2
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

# The headline (issue 14): mcpfwd in its default configuration (`mcpfwd --listen
# 127.0.0.1:0 -- fast_server`: no --io-threads, so one I/O thread per core) against
# fast_http_server, fast_server's Streamable HTTP twin ("direct": a server that speaks
# HTTP itself), in the same repetition: 1 session (latency, CPU per call of the proxy
# and of the direct server), 64 sessions (throughput, CPU per call), session setup
# one at a time (also with a warm pool: --prespawn 64). Then, once: heap allocations per forwarded call (mcpfwd under
# LD_PRELOAD=libmalloc_count.so; the difference of a 1,000- and a 3,000-call run, so
# session setup cancels out) and instructions per call under callgrind (when valgrind
# is installed; the difference of a 200- and a 1,200-call run).
start_direct() {
  : >"$TMP/direct_url"
  "$HTTP_SERVER" >"$TMP/direct_url" 2>>"$TMP/direct.log" &
  DIRECT_PID=$!
  for _ in $(seq 100); do
    [[ -s $TMP/direct_url ]] && break
    sleep 0.1
  done
  DIRECT_URL=$(head -n1 "$TMP/direct_url")
  [[ $DIRECT_URL == http://127.0.0.1:*/mcp ]] || { echo "run.sh: no URL from fast_http_server" >&2; exit 1; }
}
stop_direct() {
  kill -TERM "$DIRECT_PID" 2>/dev/null || true
  wait "$DIRECT_PID" 2>/dev/null || true
  DIRECT_PID=
}
counter() { od -An -tu8 -N8 "$1" | tr -d ' '; }
# callgrind_total FILE: the instructions a callgrind dump counted.
callgrind_total() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
if [[ $ONLY == all || $ONLY == headline ]]; then
  for r in $(seq "$REPEAT"); do
    say "headline run $r/$REPEAT: 1 session, direct HTTP and mcpfwd (default configuration)"
    start_direct
    record "hl_lat_direct" --url "$DIRECT_URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500 \
      --cpu-pid "$DIRECT_PID"
    start_proxy default
    record "hl_lat_proxy" --url "$PROXY_URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500 \
      --cpu-pid "$PROXY_PID"
    stop_proxy
    say "headline run $r/$REPEAT: 64 sessions"
    record "hl_tp_direct" --url "$DIRECT_URL" --sessions 64 --calls "$TP_CALLS" --warmup 100 \
      --cpu-pid "$DIRECT_PID"
    start_proxy default
    record "hl_tp_proxy" --url "$PROXY_URL" --sessions 64 --calls "$TP_CALLS" --warmup 100 \
      --cpu-pid "$PROXY_PID"
    stop_proxy
    say "headline run $r/$REPEAT: session setup, one at a time"
    record "hl_create_direct" --url "$DIRECT_URL" --sessions 50 --calls 0 --warmup 0 \
      --open-concurrency 1
    start_proxy default
    record "hl_create_proxy" --url "$PROXY_URL" --sessions 50 --calls 0 --warmup 0 \
      --open-concurrency 1
    stop_proxy
    # A warm pool: 64 servers started before the first client (--prespawn 64).
    PROXY_OPTS=(--prespawn 64)
    start_proxy default
    PROXY_OPTS=()
    for _ in $(seq 200); do
      [[ $(ps -o pid= --ppid "$PROXY_PID" | wc -l) -ge 64 ]] && break
      sleep 0.1
    done
    sleep 0.5
    record "hl_create_pool" --url "$PROXY_URL" --sessions 50 --calls 0 --warmup 0 \
      --open-concurrency 1
    stop_proxy
    stop_direct
  done
  say "headline: a fresh server's first answer against its second (bench/first_answer.py)"
  timeout -k 5 120 python3 "$HERE/first_answer.py" "$SERVER" 30 >>"$RESULTS"
  if [[ -f $MALLOC_LIB ]]; then
    say "headline: heap allocations per forwarded call"
    PROXY_ENV=(MALLOC_COUNT_FILE="$TMP/mc" LD_PRELOAD="$MALLOC_LIB")
    start_proxy default
    PROXY_ENV=()
    a0=$(counter "$TMP/mc")
    record "hl_alloc_short" --url "$PROXY_URL" --sessions 1 --calls 1000 --warmup 100
    a1=$(counter "$TMP/mc")
    record "hl_alloc_long" --url "$PROXY_URL" --sessions 1 --calls 3000 --warmup 100
    a2=$(counter "$TMP/mc")
    stop_proxy
    python3 -c 'import json,sys; a0,a1,a2=map(int,sys.argv[1:4]); print(json.dumps({"label":"hl_allocs","per_call":((a2-a1)-(a1-a0))/2000,"short":a1-a0,"long":a2-a1}))' \
      "$a0" "$a1" "$a2" >>"$RESULTS"
  else
    say "headline: no $MALLOC_LIB: allocation count skipped"
  fi
  if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
    say "headline: instructions per forwarded call (callgrind)"
    PROXY_WRAP=(valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" --dump-instr=no)
    start_proxy default
    PROXY_WRAP=()
    vg_pid=$PROXY_PID
    record "hl_cg_warm" --url "$PROXY_URL" --sessions 1 --calls 100 --warmup 10
    callgrind_control -z "$vg_pid" >/dev/null
    record "hl_cg_short" --url "$PROXY_URL" --sessions 1 --calls 200 --warmup 10
    callgrind_control -d "$vg_pid" >/dev/null
    i1=$(callgrind_total "$(ls -t "$TMP"/cg.out* | head -n1)")
    callgrind_control -z "$vg_pid" >/dev/null
    record "hl_cg_long" --url "$PROXY_URL" --sessions 1 --calls 1200 --warmup 10
    callgrind_control -d "$vg_pid" >/dev/null
    i2=$(callgrind_total "$(ls -t "$TMP"/cg.out* | head -n1)")
    stop_proxy
    python3 -c 'import json,sys; i1,i2=map(int,sys.argv[1:3]); print(json.dumps({"label":"hl_instr","per_call":(i2-i1)/1000,"short":i1,"long":i2}))' \
      "${i1:-0}" "${i2:-0}" >>"$RESULTS"
  else
    say "headline: valgrind not installed: instructions per call skipped"
  fi
fi

# The floor (issue 14): direct, the least relay of mcpfwd's architecture (floor_relay) and
# mcpfwd, back to back (bench/floor.sh; BENCH_FLOOR=0 skips it, BENCH_ONLY=floor runs only it).
if [[ ${BENCH_FLOOR:-1} != 0 && ( $ONLY == all || $ONLY == floor ) ]]; then
  MCPFWD_BIN=$MCPFWD LOADGEN_BIN=$LOADGEN FAST_SERVER_BIN=$SERVER FAST_HTTP_SERVER_BIN=$HTTP_SERVER \
    FLOOR_RELAY_BIN=${FLOOR_RELAY_BIN:-$BUILD/bin/floor_relay} BENCH_REPEAT=$REPEAT \
    BENCH_LATENCY_CALLS=$LAT_CALLS BENCH_THROUGHPUT_CALLS=$TP_CALLS "$HERE/floor.sh" "$RESULTS"
fi

# mcpfwd against its peers (issue 14): bench/peers.sh installs supergateway and the two
# mcp-proxy, pinned, into BUILD/peers and measures them beside direct and mcpfwd.
# BENCH_PEERS=0 skips it; BENCH_ONLY=peers runs only it.
if [[ ${BENCH_PEERS:-1} != 0 && ( $ONLY == all || $ONLY == peers ) ]]; then
  # shellcheck source=bench/peers.sh
  source "$HERE/peers.sh"
fi

if [[ $ONLY == all ]]; then
# The stateless era (h): the same calls in 2026-07-28 (loadgen --era modern: no
# initialize, every request enveloped and carrying the routing headers), through mcpfwd
# with one upstream instance for all clients (--stateless-key shared) or one per client
# (--stateless-key header:X-Client, loadgen sending X-Client: <client number>), and
# directly over stdio. Each is measured right after its session-era counterpart.
# modern_proxy LABEL KEY IO_THREADS LOADGEN_ARGS...
modern_proxy() {
  local label=$1 key=$2 threads=$3 extra=()
  shift 3
  [[ $key == shared ]] || extra=(--client-header X-Client)
  PROXY_OPTS=(--stateless-key "$key")
  start_proxy "$threads"
  PROXY_OPTS=()
  record "$label" --url "$PROXY_URL" --era modern "${extra[@]}" --cpu-pid "$PROXY_PID" "$@"
  stop_proxy
}

# (a) latency, 1 session: through the proxy (1 I/O thread) vs direct stdio.
for r in $(seq "$REPEAT"); do
  say "latency run $r/$REPEAT"
  start_proxy 1
  record "lat_proxy" --url "$PROXY_URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500 \
    --cpu-pid "$PROXY_PID"
  stop_proxy
  record "lat_direct" --direct --sessions 1 --calls "$LAT_CALLS" --warmup 500 -- "$SERVER"
  say "latency run $r/$REPEAT: stateless era"
  modern_proxy "lat_modern_shared" shared 1 --sessions 1 --calls "$LAT_CALLS" --warmup 500
  modern_proxy "lat_modern_key" header:X-Client 1 --sessions 1 --calls "$LAT_CALLS" --warmup 500
  record "lat_modern_direct" --direct --era modern --sessions 1 --calls "$LAT_CALLS" --warmup 500 \
    -- "$SERVER"
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
      if [[ $s == 64 ]]; then
        say "throughput: $s clients, stateless era, proxy --io-threads $t, run $r/$REPEAT"
        for key in shared header:X-Client; do
          modern_proxy "tp_modern_${key%%:*}_${s}_t$t" "$key" "$t" --sessions "$s" \
            --calls "$TP_CALLS" --warmup 100
        done
      fi
    done
    say "throughput: $s sessions, direct, run $r/$REPEAT"
    record "tp_direct_$s" --direct --sessions "$s" --calls "$TP_CALLS" --warmup 100 -- "$SERVER"
    if [[ $s == 64 ]]; then
      record "tp_modern_direct_$s" --direct --era modern --sessions "$s" --calls "$TP_CALLS" \
        --warmup 100 -- "$SERVER"
    fi
  done
done

# (d) memory per idle session and (e) session creation, one at a time.
say "memory: $IDLE idle sessions"
start_proxy "$CORES"
sleep 0.5
RSS0=$(vmrss_kib "$PROXY_PID")
hold_idle "$PROXY_URL" "$WARM_SESSIONS" "$TMP/warm.json" 300
WARM_PID=$HOLD_PID
RSS_WARM=$(vmrss_kib "$PROXY_PID")
hold_idle "$PROXY_URL" "$IDLE" "$TMP/idle.json" 6
IDLE_PID=$HOLD_PID
RSS1=$(vmrss_kib "$PROXY_PID")
read -r KIDS_RSS KIDS_N < <(children_rss_kib "$PROXY_PID")
rc=0
wait "$IDLE_PID" || rc=$?
IDLE_PID=
[[ $rc -eq 0 ]] || { echo "run.sh: idle-session loadgen failed (exit $rc): $(cat "$TMP/idle.json")" >&2; exit 1; }
kill -USR1 "$WARM_PID" 2>/dev/null || true
wait "$WARM_PID" || true
WARM_PID=
sleep 1
RSS2=$(vmrss_kib "$PROXY_PID")
stop_proxy
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["label"]="idle"; d.update(rss0=int(sys.argv[2]), rss_warm=int(sys.argv[3]), warm=int(sys.argv[4]), rss1=int(sys.argv[5]), rss2=int(sys.argv[6]), kids_rss=int(sys.argv[7]), kids=int(sys.argv[8])); print(json.dumps(d))' \
  "$TMP/idle.json" "$RSS0" "$RSS_WARM" "$WARM_SESSIONS" "$RSS1" "$RSS2" "$KIDS_RSS" "$KIDS_N" >>"$RESULTS"

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

if [[ $ONLY == all || $ONLY == upstream ]]; then
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
# streamed as SSE, its default), when the MCP Python SDK 2.x (the one the test servers
# are written for: packaging/requirements-test.txt) is importable by $PYTHON. 64 sessions only.
FASTMCP_HTTP=$HERE/../tests/servers/fastmcp_http_server.py
PY=${PYTHON:-python3}
if "$PY" -c 'import mcp.server.mcpserver, uvicorn' 2>/dev/null && [[ -f $FASTMCP_HTTP ]]; then
  : >"$TMP/up_url"
  "$PY" "$FASTMCP_HTTP" --transport streamable-http >"$TMP/up_url" 2>>"$TMP/fastmcp.log" &
  UP_PID=$!
  for _ in $(seq 300); do
    [[ -s $TMP/up_url ]] && break
    kill -0 "$UP_PID" 2>/dev/null || break
    sleep 0.1
  done
  UP_URL=$(head -n1 "$TMP/up_url")
  [[ $UP_URL == http://127.0.0.1:*/mcp ]] || { echo "run.sh: no URL from the FastMCP server; its log:" >&2; tail "$TMP/fastmcp.log" >&2; exit 1; }
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
  say "HTTP upstream: FastMCP rows skipped ($PY cannot import mcp.server.mcpserver (MCP SDK 2.x) and uvicorn; set PYTHON)"
fi

fi  # (g)

# Scale (issue 14): 10,000 idle sessions through an HTTP upstream, 1,000 active beside them
# (bench/scale.sh; BENCH_SCALE=0 skips it, BENCH_ONLY=scale runs only it).
if [[ ${BENCH_SCALE:-1} != 0 && ( $ONLY == all || $ONLY == scale ) ]]; then
  MCPFWD_BIN=$MCPFWD LOADGEN_BIN=$LOADGEN FAST_HTTP_SERVER_BIN=$HTTP_SERVER \
    "$HERE/scale.sh" "$RESULTS"
fi

LOAD_AFTER=$(loadavg)
ELAPSED=$(( $(date +%s) - START ))
COMMIT=$(git -C "$HERE/.." describe --always --dirty 2>/dev/null || echo unknown)

# What the report says about this run (bench/report.py fills the tables and the pages from
# the results and this). The build of mcpfwd: from the bench target, else from BUILD's CMake
# cache when the mcpfwd measured is BUILD's own.
BENCH_CXX=${BENCH_CXX:-}
BENCH_BOOST=${BENCH_BOOST:-}
BENCH_BUILD_TYPE=${BENCH_BUILD_TYPE:-}
cache=$BUILD/CMakeCache.txt
if [[ -f $cache && $(realpath "$MCPFWD") == "$(realpath -m "$BUILD/bin/mcpfwd")" ]]; then
  [[ -n $BENCH_BUILD_TYPE ]] || BENCH_BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache")
  cxxinfo=$(ls "$BUILD"/CMakeFiles/*/CMakeCXXCompiler.cmake 2>/dev/null | head -n1)
  if [[ -z $BENCH_CXX && -n $cxxinfo ]]; then
    BENCH_CXX="$(sed -n 's/^set(CMAKE_CXX_COMPILER_ID "\(.*\)")$/\1/p' "$cxxinfo") $(sed -n 's/^set(CMAKE_CXX_COMPILER_VERSION "\(.*\)")$/\1/p' "$cxxinfo")"
  fi
  [[ -n $BENCH_BOOST ]] || BENCH_BOOST=$(sed -n 's/^Boost_DIR:[A-Z]*=.*Boost-\([0-9.]*\)$/\1/p' "$cache")
fi
virt="no hypervisor flag"
grep -qw hypervisor /proc/cpuinfo && virt="a virtual machine"
container=$(systemd-detect-virt --container 2>/dev/null || true)
[[ -n $container && $container != none ]] && virt="$virt, in a $container container"
os=$( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null || echo "unknown OS")
python3 - "$TMP/meta.json" \
  cores="$CORES" repeat="$REPEAT" lat_calls="$LAT_CALLS" tp_calls="$TP_CALLS" idle="$IDLE" \
  sse_calls="$SSE_CALLS" only="$ONLY" busy_before="$BUSY_BEFORE" load_before="$LOAD_BEFORE" \
  load_after="$LOAD_AFTER" elapsed="$ELAPSED" commit="$COMMIT" date="$(date -u +%Y-%m-%d)" \
  cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
  mem="$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" \
  kernel="$(uname -r)" os="$os" virt="$virt" mcpfwd="$(realpath --relative-base="$HERE/.." "$MCPFWD")" \
  mcpfwd_version="$("$MCPFWD" --version 2>/dev/null | head -n1)" \
  compiler="$BENCH_CXX" boost="$BENCH_BOOST" build_type="$BENCH_BUILD_TYPE" <<'PY'
import json, sys
numbers = {"cores", "repeat", "lat_calls", "tp_calls", "idle", "sse_calls", "busy_before", "elapsed"}
meta = {}
for kv in sys.argv[2:]:
    k, _, v = kv.partition("=")
    meta[k] = int(v) if k in numbers else v
json.dump(meta, open(sys.argv[1], "w"), indent=1)
PY

# The pages (docs/benchmarks.md, the performance paragraphs of README.md and
# docs/http.md) come from a full run only, and not when BENCH_WRITE_DOCS=0.
docs=()
if [[ $ONLY == all && ${BENCH_WRITE_DOCS:-1} != 0 ]]; then
  docs=(--template "$HERE/benchmarks.md.in" --doc "$HERE/../docs/benchmarks.md"
        --block "readme=$HERE/../README.md" --block "http=$HERE/../docs/http.md")
fi
python3 "$HERE/report.py" --results "$RESULTS" --meta "$TMP/meta.json" --out "$TMP/report.md" \
  "${docs[@]}"
cp "$TMP/report.md" "$BUILD/bench-results.md"
# The raw results, to regenerate the report (bench/report.py) without measuring again.
cp "$RESULTS" "$BUILD/bench-results.jsonl"
cp "$TMP/meta.json" "$BUILD/bench-meta.json"
cat "$TMP/report.md"
say "done in ${ELAPSED} s; saved to $BUILD/bench-results.md"
if [[ ${#docs[@]} -gt 0 ]]; then
  say "rewrote docs/benchmarks.md and the performance paragraphs of README.md and docs/http.md"
fi
