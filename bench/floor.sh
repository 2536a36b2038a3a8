#!/usr/bin/env bash
# bench/floor.sh RESULTS.jsonl — the floor: the least any proxy of mcpfwd's architecture
# costs (issue 14; docs/benchmarks.md, "The floor"). Run by bench/run.sh (BENCH_FLOOR=1,
# the default; BENCH_ONLY=floor runs only this), or by hand with the binaries below.
#
# The same loadgen, back to back in each repetition, against three servers of the same
# answers (fast_server's):
#   direct  fast_http_server: the server speaks HTTP itself;
#   floor   floor_relay -- fast_server: HTTP in, one spawned stdio server per connection,
#           a pipe round trip, HTTP out, and nothing else (one thread, epoll, no JSON);
#   mcpfwd  mcpfwd --listen 127.0.0.1:0 -- fast_server: the default configuration.
# Figures: 1 session (p50, p99, CPU per call of the measured process) and 64 sessions
# (req/s, CPU per call); then 1 session with everything on one core (taskset -c 0), and,
# when `perf stat` can count them, context switches, system calls and CPU time per call of
# the measured process (at 1 and 64 sessions) and of it with its stdio server (1 session),
# each the difference of a long and a short run. Appends one JSON object a line to
# RESULTS (labels fl_*). Knobs: BENCH_REPEAT (3), BENCH_LATENCY_CALLS (5000),
# BENCH_THROUGHPUT_CALLS (1000), BENCH_FLOOR_PIN=0 (no one-core runs), BENCH_FLOOR_COUNTS=0
# (no counts). Binaries: MCPFWD_BIN, LOADGEN_BIN, FAST_SERVER_BIN, FAST_HTTP_SERVER_BIN,
# FLOOR_RELAY_BIN. Every load run is bounded (loadgen --max-seconds, and `timeout`).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 RESULTS.jsonl" >&2
  exit 2
fi
RESULTS=$1
MCPFWD=${MCPFWD_BIN:?} LOADGEN=${LOADGEN_BIN:?} SERVER=${FAST_SERVER_BIN:?}
HTTP_SERVER=${FAST_HTTP_SERVER_BIN:?} RELAY=${FLOOR_RELAY_BIN:?}
REPEAT=${BENCH_REPEAT:-3}
LAT_CALLS=${BENCH_LATENCY_CALLS:-5000}
TP_CALLS=${BENCH_THROUGHPUT_CALLS:-1000}
for b in "$MCPFWD" "$LOADGEN" "$SERVER" "$HTTP_SERVER" "$RELAY"; do
  [[ -x $b ]] || { echo "floor.sh: not an executable: $b" >&2; exit 2; }
done

TMP=$(mktemp -d)
SRV_PID=
cleanup() {
  if [[ -n $SRV_PID ]] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -KILL "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
say() { echo "bench: floor: $*" >&2; }

# start WHICH [PIN...]: starts direct, floor or mcpfwd; sets SRV_PID and SRV_URL.
start() {
  local which=$1 cmd
  shift
  case $which in
    direct) cmd=("$HTTP_SERVER") ;;
    floor) cmd=("$RELAY" -- "$SERVER") ;;
    mcpfwd) cmd=("$MCPFWD" --listen 127.0.0.1:0 -- "$SERVER") ;;
  esac
  : >"$TMP/url"
  "$@" "${cmd[@]}" >"$TMP/url" 2>>"$TMP/$which.log" &
  SRV_PID=$!
  for _ in $(seq 300); do
    [[ -s $TMP/url ]] && break
    kill -0 "$SRV_PID" 2>/dev/null || { echo "floor.sh: $which exited; its log:" >&2; tail "$TMP/$which.log" >&2; exit 1; }
    sleep 0.05
  done
  SRV_URL=$(head -n1 "$TMP/url")
  [[ $SRV_URL == http://127.0.0.1:*/mcp ]] || { echo "floor.sh: no URL from $which" >&2; exit 1; }
}
stop() {
  kill -TERM "$SRV_PID" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=
}

# run LABEL [PIN...] -- LOADGEN_ARGS...: one bounded loadgen run; prints its JSON.
run() {
  local label=$1 pin=() out rc=0
  shift
  while [[ $1 != -- ]]; do pin+=("$1"); shift; done
  shift
  out=$(timeout -k 5 100 "${pin[@]}" "$LOADGEN" --max-seconds 90 "$@") || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "floor.sh: loadgen failed (exit $rc) for $label: $out" >&2
    exit 1
  fi
  echo "$out"
}
# record LABEL [PIN...] -- LOADGEN_ARGS...: run, tagged and kept in RESULTS.
record() {
  local label=$1 out
  out=$(run "$@")
  python3 -c 'import json,sys; d=json.loads(sys.argv[2]); d["label"]=sys.argv[1]; print(json.dumps(d))' \
    "$label" "$out" >>"$RESULTS"
}

# figures SUFFIX SESSIONS [PIN...]: the 1-session runs (and the 64-session runs when SESSIONS
# is "1 64") against each of the three.
figures() {
  local suffix=$1 sessions=$2 which
  shift 2
  for which in direct floor mcpfwd; do
    start "$which" "$@"
    record "fl_lat_${which}$suffix" "$@" -- --url "$SRV_URL" --sessions 1 --calls "$LAT_CALLS" \
      --warmup 500 --cpu-pid "$SRV_PID"
    if [[ $sessions == *64* ]]; then
      record "fl_tp_${which}$suffix" "$@" -- --url "$SRV_URL" --sessions 64 --calls "$TP_CALLS" \
        --warmup 100 --cpu-pid "$SRV_PID"
    fi
    stop
  done
}

PIN_RUNS=${BENCH_FLOOR_PIN:-1}
[[ $(nproc) -gt 1 ]] || PIN_RUNS=0
for r in $(seq "$REPEAT"); do
  say "run $r/$REPEAT: direct, floor relay, mcpfwd (1 and 64 sessions)"
  figures "" "1 64"
  if [[ $PIN_RUNS != 0 ]]; then
    say "run $r/$REPEAT: 1 session on one core (taskset -c 0)"
    figures "_pin" "1" taskset -c 0
  fi
done

# Counts per call: context switches, system calls and CPU time (perf's task-clock, exact where
# /proc's ticks are 10 ms) of the measured process alone (`perf stat -i`: its threads, not its
# children), at 1 and at 64 sessions, and at 1 session with the stdio server it spawned for the
# session (`perf stat`: children inherited). Direct has no server: both are its own. The counts
# are the difference of a long and a short run (3,000 and 1,000 calls; 64 sessions: 300 and 100
# calls each), so session setup cancels out; the CPU time is the long run's per call.
if [[ ${BENCH_FLOOR_COUNTS:-1} != 0 ]]; then
  events=context-switches,raw_syscalls:sys_enter,task-clock
  if command -v perf >/dev/null && perf stat -x, -e "$events" true >/dev/null 2>&1; then
    # perf_count [-i] SESSIONS CALLS: the counts over one loadgen run, into PC ("ctx syscalls ms").
    perf_count() {
      local inherit=()
      [[ $1 == -i ]] && { inherit=(-i); shift; }
      perf stat "${inherit[@]}" -x, -o "$TMP/perf.csv" -e "$events" -p "$SRV_PID" -- \
        timeout -k 5 60 "$LOADGEN" --max-seconds 50 --url "$SRV_URL" --sessions "$1" \
        --calls "$2" --warmup 100 >"$TMP/perf.out" ||
        { echo "floor.sh: perf stat or loadgen failed: $(cat "$TMP/perf.out")" >&2; exit 1; }
      PC=$(awk -F, '$3 == "context-switches" {c = $1} $3 == "raw_syscalls:sys_enter" {s = $1}
                    $3 == "task-clock" {t = $1} END {print c + 0, s + 0, t + 0}' "$TMP/perf.csv")
    }
    # per_call [-i] SESSIONS SHORT LONG: per call, the long run's counts minus the short run's;
    # CPU time: the long run's over all its calls, warmup included (setup, a spawn and an
    # initialize, is well under 1 % of it; a difference of two timings would add their noise).
    per_call() {
      local inherit=() a b
      [[ $1 == -i ]] && { inherit=(-i); shift; }
      perf_count "${inherit[@]}" "$1" "$2"
      a=$PC
      perf_count "${inherit[@]}" "$1" "$3"
      b=$PC
      PER=$(echo "$a $b $(( $1 * ($3 - $2) )) $(( $1 * ($3 + 100) ))" |
        awk '{printf "{\"ctx\":%.3f,\"syscalls\":%.3f,\"cpu_us\":%.3f}", ($4-$1)/$7, ($5-$2)/$7, $6*1000/$8}')
    }
    for which in direct floor mcpfwd; do
      say "counts per call: $which (perf stat; 1 session, 3,000 vs 1,000 calls; 64 sessions, 300 vs 100)"
      start "$which"
      per_call -i 1 1000 3000
      alone=$PER
      per_call -i 64 100 300
      alone64=$PER
      with=$alone
      if [[ $which != direct ]]; then
        per_call 1 1000 3000
        with=$PER
      fi
      stop
      echo "{\"label\":\"fl_counts_$which\",\"tool\":\"perf\",\"alone\":$alone,\"alone64\":$alone64,\"with_server\":$with}" >>"$RESULTS"
    done
  else
    # No usable perf: context switches of the measured process from /proc (its threads).
    ctx_of() {
      cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^(non)?voluntary_ctxt_switches:/ {n += $2} END {print n + 0}'
    }
    for which in direct floor mcpfwd; do
      say "counts per call: $which (/proc context switches; no usable perf)"
      start "$which"
      a0=$(ctx_of "$SRV_PID")
      run fl_count -- --url "$SRV_URL" --sessions 1 --calls 1000 --warmup 100 >/dev/null
      a1=$(ctx_of "$SRV_PID")
      run fl_count -- --url "$SRV_URL" --sessions 1 --calls 3000 --warmup 100 >/dev/null
      a2=$(ctx_of "$SRV_PID")
      stop
      python3 -c 'import json,sys; w=sys.argv[1]; a0,a1,a2=map(int,sys.argv[2:])
print(json.dumps({"label":"fl_counts_"+w,"tool":"proc","alone":{"ctx":((a2-a1)-(a1-a0))/2000}}))' \
        "$which" "$a0" "$a1" "$a2" >>"$RESULTS"
    done
  fi
fi
