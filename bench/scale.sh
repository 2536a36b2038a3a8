#!/usr/bin/env bash
# bench/scale.sh RESULTS.jsonl — the scale figure (issue 14): 10,000 concurrent sessions
# through mcpfwd on this machine's cores, in front of a remote Streamable HTTP server.
# Run by bench/run.sh (BENCH_SCALE=1, the default; BENCH_ONLY=scale runs just this); it
# appends its rows (labels scale_*) to RESULTS.jsonl. Progress goes to stderr.
#
# Setup: upstream U = fast_http_server (a native Streamable HTTP server: it keeps nothing
# per session and answers GET with 405, so each session costs the proxy no upstream GET
# stream); the proxy under test P = `mcpfwd --listen 127.0.0.1:0 --upstream U`, the default
# configuration except the two limits 10,000 sessions exceed: --max-sessions (default
# 1,000) and --max-connections (default half the descriptor limit).
#   1. S = BENCH_SCALE_ACTIVE sessions making BENCH_SCALE_CALLS calls each ("alone");
#   2. K = BENCH_SCALE_SESSIONS idle sessions opened (loadgen --idle-sessions, at most
#      BENCH_SCALE_OPEN_CONCURRENCY at once) and held: the time to open them, then P's
#      VmRSS, open descriptors (/proc/PID/fd) and TCP connections to U;
#   3. while the K are held, the same S-session run beside them ("beside"), then the
#      descriptors again (the K still held: nothing was closed under them);
#   4. the K are ended (DELETE each), and the S-session run again ("alone" after).
# "alone" is the mean of 1 and 4, so a drift of the machine's speed over the figure
# cancels out. Binaries: MCPFWD_BIN, LOADGEN_BIN, FAST_HTTP_SERVER_BIN (or BUILD_DIR/bin/
# with BENCH_BUILD=BUILD_DIR). Every load run is bounded (loadgen --max-seconds and
# `timeout`), and every process started here is killed on exit.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 RESULTS.jsonl" >&2
  exit 2
fi
RESULTS=$1
BIN=${BENCH_BUILD:+$BENCH_BUILD/bin}
MCPFWD=${MCPFWD_BIN:-$BIN/mcpfwd}
LOADGEN=${LOADGEN_BIN:-$BIN/loadgen}
HTTP_SERVER=${FAST_HTTP_SERVER_BIN:-$BIN/fast_http_server}
K=${BENCH_SCALE_SESSIONS:-10000}
S=${BENCH_SCALE_ACTIVE:-1000}
CALLS=${BENCH_SCALE_CALLS:-20}
OPEN_CONC=${BENCH_SCALE_OPEN_CONCURRENCY:-64}
# The K are held at most HOLD s after they are all open (SIGUSR1 ends the hold as soon as
# step 3 is done), opening them may take up to OPEN_MAX s.
HOLD=50
OPEN_MAX=120

for b in "$MCPFWD" "$LOADGEN" "$HTTP_SERVER"; do
  [[ -x $b ]] || { echo "scale.sh: not an executable: $b" >&2; exit 2; }
done

say() { echo "bench: scale: $*" >&2; }
# fail_figure WHY: the figure cannot be measured here; a row says why, the run goes on.
fail_figure() {
  say "NOT MEASURED: $1"
  python3 -c 'import json,sys; print(json.dumps({"label":"scale_failed","why":sys.argv[1]}))' \
    "$1" >>"$RESULTS"
  exit 0
}

# Descriptors: P holds one per connection (K idle + S active + its pool to U + a few);
# the idle loadgen one per session. Both raise their soft limit to the hard one; so does
# this shell, for whatever it starts.
HARD=$(ulimit -Hn)
NEED=$((K + S + 512))
if [[ $HARD != unlimited ]] && ((HARD < NEED)); then
  fail_figure "the hard descriptor limit (ulimit -Hn) is $HARD; $K idle and $S active sessions need about $NEED (raise it, e.g. LimitNOFILE= or /etc/security/limits.conf)"
fi
ulimit -n "$HARD"
[[ $HARD != unlimited ]] || HARD=-1

TMP=$(mktemp -d)
UP_PID=
PROXY_PID=
IDLE_PID=
SAMPLER=
cleanup() {
  # timeout passes TERM on to the idle loadgen; KILL would leave that running
  if [[ -n $IDLE_PID ]] && kill -0 "$IDLE_PID" 2>/dev/null; then
    kill -TERM "$IDLE_PID" 2>/dev/null || true
    wait "$IDLE_PID" 2>/dev/null || true
  fi
  for p in "$SAMPLER" "$PROXY_PID" "$UP_PID"; do
    if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

# wait_url FILE PID WHAT: the URL a server printed on its first line.
wait_url() {
  for _ in $(seq 100); do
    [[ -s $1 ]] && break
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  local url
  url=$(head -n1 "$1")
  [[ $url == http://127.0.0.1:*/mcp ]] || { echo "scale.sh: no URL from $3" >&2; exit 1; }
  echo "$url"
}
fds() { ls "/proc/$1/fd" | wc -l; }
vmrss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# count_conns PORT [STATE]: TCP connections whose remote port is PORT (P's to U), in STATE
# (01 established, the default; 06 TIME_WAIT).
count_conns() {
  awk -v port="$(printf '%04X' "$1")" -v st="${2:-01}" 'NR > 1 && $4 == st { split($3, a, ":"); if (a[2] == port) n++ } END { print n + 0 }' \
    /proc/net/tcp /proc/net/tcp6
}
# settled_fds PID: P's descriptor count once it has not changed for a second (10 s at most).
settled_fds() {
  local a b
  a=$(fds "$1")
  for _ in $(seq 10); do
    sleep 1
    b=$(fds "$1")
    [[ $a == "$b" ]] && break
    a=$b
  done
  echo "$a"
}

"$HTTP_SERVER" >"$TMP/up_url" 2>>"$TMP/upstream.log" &
UP_PID=$!
UP_URL=$(wait_url "$TMP/up_url" "$UP_PID" fast_http_server)
UP_PORT=${UP_URL#http://127.0.0.1:}
UP_PORT=${UP_PORT%/mcp}
LIMITS=(--max-sessions $((K + S + 64)) --max-connections $((K + S + 64)))
"$MCPFWD" --listen 127.0.0.1:0 "${LIMITS[@]}" --upstream "$UP_URL" >"$TMP/url" 2>>"$TMP/proxy.log" &
PROXY_PID=$!
PROXY_URL=$(wait_url "$TMP/url" "$PROXY_PID" "mcpfwd --upstream")
PROXY_NOFILE=$(awk '/^Max open files/ {print $4 == "unlimited" ? -1 : $4}' "/proc/$PROXY_PID/limits")
sleep 0.5
RSS0=$(vmrss_kib "$PROXY_PID")
FD0=$(fds "$PROXY_PID")

# active LABEL: S sessions x CALLS checked calls, bounded; its JSON tagged and kept.
active() {
  local out rc=0
  out=$(timeout -k 5 100 "$LOADGEN" --max-seconds 90 --url "$PROXY_URL" --sessions "$S" \
    --calls "$CALLS" --warmup 2 --cpu-pid "$PROXY_PID") || rc=$?
  # exit 1 (errors or wrong answers) is a result, kept with its counts; anything else is not
  if [[ $rc -ne 0 && $rc -ne 1 ]] || [[ -z $out ]]; then
    echo "scale.sh: loadgen failed (exit $rc) for $1: $out" >&2
    tail -n 5 "$TMP/proxy.log" >&2
    exit 1
  fi
  python3 -c 'import json,sys; d=json.loads(sys.argv[2]); d["label"]=sys.argv[1]; print(json.dumps(d))' \
    "$1" "$out" >>"$RESULTS"
  say "$1: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["rps"], "req/s,", d["errors"] + d["mismatches"], "errors")' "$out")"
}

say "$S active sessions x $CALLS calls, alone"
active scale_alone

FDB=$(fds "$PROXY_PID")
RSSB=$(vmrss_kib "$PROXY_PID")
UPB=$(count_conns "$UP_PORT")
say "opening $K idle sessions ($OPEN_CONC at a time) and holding them"
timeout -k 5 $((OPEN_MAX + HOLD + 10)) "$LOADGEN" --max-seconds $((OPEN_MAX + HOLD)) --url "$PROXY_URL" \
  --idle-sessions "$K" --open-concurrency "$OPEN_CONC" --hold-seconds "$HOLD" >"$TMP/idle.json" &
IDLE_PID=$!
for _ in $(seq 600); do
  [[ -s $TMP/idle.json ]] && break
  kill -0 "$IDLE_PID" 2>/dev/null || break
  sleep 0.1
done
[[ -s $TMP/idle.json ]] || { echo "scale.sh: the idle loadgen ended without a report" >&2; exit 1; }
sleep 1
RSS1=$(vmrss_kib "$PROXY_PID")
FD1=$(fds "$PROXY_PID")
UP1=$(count_conns "$UP_PORT")
TW1=$(count_conns "$UP_PORT" 06)
say "held: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["sessions_opened"], "sessions opened in", d["open_s"], "s")' "$TMP/idle.json"); mcpfwd: $FD1 descriptors, $RSS1 KiB"

say "$S active sessions x $CALLS calls, beside the $K idle ones"
( max=0
  while [[ ! -e $TMP/stop ]]; do
    c=$(count_conns "$UP_PORT")
    ((c > max)) && max=$c && echo "$max" >"$TMP/conns"
    sleep 0.2
  done ) &
SAMPLER=$!
active scale_beside
touch "$TMP/stop"
wait "$SAMPLER" 2>/dev/null || true
SAMPLER=
UP_ACTIVE=$(cat "$TMP/conns" 2>/dev/null || echo 0)
FD3=$(fds "$PROXY_PID")
RSS3=$(vmrss_kib "$PROXY_PID")

say "ending the $K idle sessions"
# (IDLE_PID is timeout's; the hold is loadgen's, its only child)
kill -USR1 "$(pgrep -P "$IDLE_PID")" 2>/dev/null || {
  echo "scale.sh: the idle loadgen ended before the active run was over (a hold of $HOLD s): the machine is too busy for this figure" >&2
  exit 1
}
rc=0
wait "$IDLE_PID" || rc=$?
IDLE_PID=
[[ $rc -eq 0 ]] || { echo "scale.sh: the idle loadgen failed (exit $rc): $(cat "$TMP/idle.json")" >&2; exit 1; }
FD2=$(settled_fds "$PROXY_PID")
RSS2=$(vmrss_kib "$PROXY_PID")

say "$S active sessions x $CALLS calls, alone again"
active scale_alone

python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
d["label"] = "scale_idle"
keys = ["rss0", "rss_before", "rss1", "rss_active", "rss2", "fd0", "fd_before", "fd1", "fd_active", "fd2",
        "up_conns_before", "up_conns", "up_conns_active", "up_time_wait", "active", "active_calls", "open_concurrency", "hard_nofile",
        "proxy_nofile"]
d.update(zip(keys, map(int, sys.argv[2:2 + len(keys)])))
d["proxy_limits"] = sys.argv[2 + len(keys)]
print(json.dumps(d))' "$TMP/idle.json" "$RSS0" "$RSSB" "$RSS1" "$RSS3" "$RSS2" "$FD0" "$FDB" "$FD1" "$FD3" "$FD2" \
  "$UPB" "$UP1" "${UP_ACTIVE:-0}" "$TW1" "$S" "$CALLS" "$OPEN_CONC" "$HARD" "$PROXY_NOFILE" "${LIMITS[*]}" \
  >>"$RESULTS"
say "done"
