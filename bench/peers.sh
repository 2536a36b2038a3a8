# bench/peers.sh — mcpfwd against its peers (issue 14), sourced by bench/run.sh.
#
# Three other proxies that put a stdio MCP server behind Streamable HTTP, each pinned and
# installed by this script into BUILD/peers (skipped when already there):
#   supergateway         npm supergateway@$BENCH_PEER_SUPERGATEWAY (4.0.0), --stateful
#   punkpeye mcp-proxy   npm mcp-proxy@$BENCH_PEER_PUNKPEYE (6.7.19), --server stream
#   sparfenyuk mcp-proxy PyPI mcp-proxy==$BENCH_PEER_SPARFENYUK (0.13.0), in a venv
# Each fronts fast_server and is measured in the same run as direct (fast_http_server)
# and mcpfwd (its default configuration), with the same loadgen and the same checks:
# one session (latency, the proxy's CPU per call), 64 sessions (throughput, CPU per
# call, setup of 64 at once), $PEERS_IDLE idle sessions (memory, setup one at a time,
# how many server processes the proxy started). A peer that cannot be installed
# (no node/npm, no registry) or fails a run gets "not installed" / "failed" in its
# column; the bench goes on.
#
# Uses run.sh's TMP, RESULTS, BUILD, SERVER, LOADGEN, REPEAT, LAT_CALLS, TP_CALLS, say,
# record, start_direct/stop_direct, start_proxy/stop_proxy, vmrss_kib. Knobs:
#   BENCH_PEERS_LAT_CALLS=2000  calls in a peer's 1-session run
#   BENCH_PEERS_TP_CALLS=100    calls per session in a peer's 64-session run
#   BENCH_PEERS_IDLE=50         idle sessions for memory and setup
#   BENCH_PEERS_REPEAT=$REPEAT  repetitions of the 1- and 64-session figures (median)
#   BENCH_PEERS_INSTALL=1       0: never install (use what BUILD/peers holds)

PEERS_DIR=$BUILD/peers
PEERS_LAT_CALLS=${BENCH_PEERS_LAT_CALLS:-2000}
PEERS_TP_CALLS=${BENCH_PEERS_TP_CALLS:-100}
PEERS_IDLE=${BENCH_PEERS_IDLE:-50}
PEERS_REPEAT=${BENCH_PEERS_REPEAT:-$REPEAT}
PEER_SG_VERSION=${BENCH_PEER_SUPERGATEWAY:-4.0.0}
PEER_PK_VERSION=${BENCH_PEER_PUNKPEYE:-6.7.19}
PEER_SP_VERSION=${BENCH_PEER_SPARFENYUK:-0.13.0}
PEER_PID=
PEER_URL=
PEER_IDLE_PID=
PEER_WARM_PID=

# peer_info PEER KEY=VALUE...: one "peer_info" row in the results.
peer_info() {
  python3 -c 'import json,sys; d={"label":"peer_info","peer":sys.argv[1]}; d.update(a.split("=",1) for a in sys.argv[2:]); print(json.dumps(d))' \
    "$@" >>"$RESULTS"
}

# Installing. Each installer prints the installed version, or fails with the reason in
# $TMP/peer_why.
peer_why() { echo "$*" >"$TMP/peer_why"; }
install_error() { grep -m1 -i 'error' "$TMP/install_$1.log" | cut -c1-160 || true; }
npm_version() {  # npm_version PACKAGE: the version installed in PEERS_DIR, if any
  local pj=$PEERS_DIR/node_modules/$1/package.json
  [[ -f $pj ]] && python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$pj"
}
npm_sdks() {  # npm_sdks PACKAGE: ", NAME VERSION" for each MCP SDK package it depends on
  python3 - "$PEERS_DIR/node_modules" "$1" <<'PY' 2>/dev/null || true
import json, os, sys
nm, pkg = sys.argv[1:3]
deps = json.load(open(os.path.join(nm, pkg, "package.json"))).get("dependencies", {})
for d in sorted(x for x in deps if x.startswith("@modelcontextprotocol/")):
    for where in (os.path.join(nm, pkg, "node_modules", d), os.path.join(nm, d)):
        if os.path.isfile(os.path.join(where, "package.json")):
            print(f", {d} {json.load(open(os.path.join(where, 'package.json')))['version']}", end="")
            break
PY
}
install_npm_peer() {  # install_npm_peer PACKAGE VERSION
  local have
  have=$(npm_version "$1" || true)
  if [[ $have != "$2" ]]; then
    [[ ${BENCH_PEERS_INSTALL:-1} != 0 ]] || { peer_why "not in $PEERS_DIR (BENCH_PEERS_INSTALL=0)"; return 1; }
    command -v node >/dev/null && command -v npm >/dev/null || { peer_why "no node/npm"; return 1; }
    [[ $(node -p 'process.versions.node.split(".")[0]') -ge 18 ]] || { peer_why "node < 18"; return 1; }
    say "peers: npm install $1@$2 into $PEERS_DIR"
    timeout -k 5 600 npm install --prefix "$PEERS_DIR" --no-audit --no-fund --loglevel=error \
      "$1@$2" >"$TMP/install_$1.log" 2>&1 || { peer_why "npm install $1@$2 failed: $(install_error "$1")"; return 1; }
    have=$(npm_version "$1" || true)
  fi
  [[ $have == "$2" ]] || { peer_why "npm installed $1 $have, not $2"; return 1; }
  echo "$have"
}
install_pypi_peer() {  # install_pypi_peer VERSION (sparfenyuk's mcp-proxy, in PEERS_DIR/venv)
  local venv=$PEERS_DIR/venv have
  have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp-proxy"))' 2>/dev/null || true)
  if [[ $have != "$1" ]]; then
    [[ ${BENCH_PEERS_INSTALL:-1} != 0 ]] || { peer_why "not in $PEERS_DIR/venv (BENCH_PEERS_INSTALL=0)"; return 1; }
    say "peers: pip install mcp-proxy==$1 into $venv"
    [[ -x $venv/bin/python ]] || python3 -m venv "$venv" >"$TMP/install_venv.log" 2>&1 ||
      { peer_why "python3 -m venv failed"; return 1; }
    timeout -k 5 900 "$venv/bin/python" -m pip install --disable-pip-version-check -q \
      "mcp-proxy==$1" >"$TMP/install_pypi.log" 2>&1 || { peer_why "pip install mcp-proxy==$1 failed: $(install_error pypi)"; return 1; }
    have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp-proxy"))' 2>/dev/null || true)
  fi
  [[ $have == "$1" ]] || { peer_why "pip installed mcp-proxy $have, not $1"; return 1; }
  echo "$have"
}

# free_port: a TCP port nobody listens on now (the peers take a port number, not 0).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# peer_cmd PEER PORT: the command line of PEER serving fast_server on 127.0.0.1:PORT/mcp.
peer_cmd() {
  local nm=$PEERS_DIR/node_modules
  case $1 in
    supergateway)  # one server process per session (--stateful; spawned through sh -c)
      PEER_CMD=(node "$nm/supergateway/dist/index.js" --stdio "$SERVER" --outputTransport streamableHttp
                --stateful --port "$2" --logLevel none) ;;
    punkpeye)
      PEER_CMD=(node "$nm/mcp-proxy/dist/bin/mcp-proxy.mjs" --host 127.0.0.1 --port "$2"
                --server stream -- "$SERVER") ;;
    sparfenyuk)
      PEER_CMD=("$PEERS_DIR/venv/bin/python" "$PEERS_DIR/venv/bin/mcp-proxy" --host 127.0.0.1
                --port "$2" --log-level WARNING "$SERVER") ;;
  esac
}

# descendants PID: PID's descendant processes (supergateway starts its servers in
# process groups of their own, so the tree is walked, not the group).
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '{ kids[$2] = kids[$2] " " $1 }
    END { n = split(kids[root], q, " "); while (n > 0) { p = q[n--]; print p;
          m = split(kids[p], c, " "); for (i = 1; i <= m; i++) q[++n] = c[i] } }'
}
# tree_servers PID: "RSS_KIB COUNT" of the fast_server processes below PID.
tree_servers() {
  local pids
  pids=$(descendants "$1" | paste -sd, -)
  [[ -n $pids ]] || { echo "0 0"; return; }
  ps -o rss=,comm= -p "$pids" | awk '$2 == "fast_server" {s += $1; n++} END {print s + 0, n + 0}'
}

# start_peer PEER: sets PEER_PID (the proxy process itself: node or python) and PEER_URL;
# fails (status 1) if it does not listen within 30 s. It runs in a session of its own
# (setsid), so that peer_stop can end it with whatever it started in its group.
start_peer() {
  local port tries
  for tries in 1 2 3; do
    port=$(free_port)
    peer_cmd "$1" "$port"
    setsid "${PEER_CMD[@]}" >>"$TMP/peer_$1.log" 2>&1 </dev/null &
    PEER_PID=$!
    PEER_URL=http://127.0.0.1:$port/mcp
    for _ in $(seq 300); do
      kill -0 "$PEER_PID" 2>/dev/null || break
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        sleep 0.2
        return 0
      fi
      sleep 0.1
    done
    peer_stop
  done
  say "peers: $1 did not listen; its log: $(tail -n 3 "$TMP/peer_$1.log" | tr '\n' ' ')"
  return 1
}
peer_stop() {
  [[ -n $PEER_PID ]] || return 0
  local kids
  kids=$(descendants "$PEER_PID")
  kill -TERM "$PEER_PID" 2>/dev/null || true
  for _ in $(seq 80); do
    kill -0 "$PEER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$PEER_PID" 2>/dev/null || true
  kill -KILL "$PEER_PID" 2>/dev/null || true
  wait "$PEER_PID" 2>/dev/null || true
  for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
  PEER_PID=
}
peers_cleanup() {
  for p in "$PEER_IDLE_PID" "$PEER_WARM_PID"; do
    if [[ -n $p ]]; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  peer_stop
}

# peer_failed LABEL WHY: the row of a figure a peer did not deliver.
peer_failed() {
  python3 -c 'import json,sys; print(json.dumps({"label":sys.argv[1],"failed":sys.argv[2]}))' "$1" "$2" >>"$RESULTS"
}
# peer_record LABEL LOADGEN_ARGS...: record, except that a failed run is kept as a row
# {"label": LABEL, "failed": why} instead of ending the bench.
peer_record() {
  local label=$1 out rc=0
  shift
  out=$(timeout -k 5 150 "$LOADGEN" --max-seconds 120 "$@") || rc=$?
  if [[ $rc -ne 0 ]]; then
    say "peers: loadgen failed (exit $rc) for $label: ${out:0:300}"
    peer_failed "$label" "exit $rc: ${out:0:300}"
    return 1
  fi
  python3 -c 'import json,sys; d=json.loads(sys.argv[2]); d["label"]=sys.argv[1]; print(json.dumps(d))' \
    "$label" "$out" >>"$RESULTS"
}

# peer_idle WHO PID URL: WARM_SESSIONS, then PEERS_IDLE sessions opened one at a time and
# held (hold_idle, as run.sh's memory figure); the VmRSS of PID before any, with the warm
# ones and with all, and the fast_server processes below PID (count, RSS).
peer_idle() {
  local who=$1 pid=$2 url=$3 rss0 rss_warm rss1 kids_rss=0 kids=0 rc=0
  sleep 0.5
  rss0=$(vmrss_kib "$pid")
  hold_idle "$url" "$WARM_SESSIONS" "$TMP/peer_warm.json" 300
  PEER_WARM_PID=$HOLD_PID
  rss_warm=$(vmrss_kib "$pid")
  hold_idle "$url" "$PEERS_IDLE" "$TMP/peer_idle.json" 4
  PEER_IDLE_PID=$HOLD_PID
  rss1=$(vmrss_kib "$pid")
  read -r kids_rss kids < <(tree_servers "$pid")
  wait "$PEER_IDLE_PID" || rc=$?
  PEER_IDLE_PID=
  kill -USR1 "$PEER_WARM_PID" 2>/dev/null || true
  wait "$PEER_WARM_PID" || true
  PEER_WARM_PID=
  if [[ $rc -ne 0 || ! -s $TMP/peer_idle.json ]]; then
    say "peers: idle sessions failed for $who (exit $rc): $(head -c 300 "$TMP/peer_idle.json")"
    peer_failed "peer_idle_$who" "idle sessions: exit $rc"
    return 1
  fi
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["label"]="peer_idle_"+sys.argv[2]; d.update(rss0=int(sys.argv[3]), rss_warm=int(sys.argv[4]), warm=int(sys.argv[5]), rss1=int(sys.argv[6]), kids_rss=int(sys.argv[7]), kids=int(sys.argv[8])); print(json.dumps(d))' \
    "$TMP/peer_idle.json" "$who" "$rss0" "$rss_warm" "$WARM_SESSIONS" "$rss1" "$kids_rss" "$kids" >>"$RESULTS"
}

trap 'peers_cleanup; cleanup' EXIT
mkdir -p "$PEERS_DIR"
python3 -c 'import json,sys; print(json.dumps({"label":"peer_settings","lat_calls":int(sys.argv[1]),"tp_calls":int(sys.argv[2]),"idle":int(sys.argv[3]),"mcpfwd_lat_calls":int(sys.argv[4]),"mcpfwd_tp_calls":int(sys.argv[5]),"repeat":int(sys.argv[6])}))' \
  "$PEERS_LAT_CALLS" "$PEERS_TP_CALLS" "$PEERS_IDLE" "$LAT_CALLS" "$TP_CALLS" "$PEERS_REPEAT" >>"$RESULTS"
PEERS=()
node_v=$(node --version 2>/dev/null || echo none)
for peer in supergateway punkpeye sparfenyuk; do
  case $peer in
    supergateway) pkg=supergateway want=$PEER_SG_VERSION ;;
    punkpeye) pkg=mcp-proxy want=$PEER_PK_VERSION ;;
    sparfenyuk) pkg=mcp-proxy want=$PEER_SP_VERSION ;;
  esac
  why=
  : >"$TMP/peer_why"
  if [[ $peer == sparfenyuk ]]; then
    have=$(install_pypi_peer "$want") || why=$(cat "$TMP/peer_why")
    [[ -n $why ]] || runtime="$("$PEERS_DIR/venv/bin/python" --version 2>&1 || true), mcp $("$PEERS_DIR/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null || true)"
  else
    have=$(install_npm_peer "$pkg" "$want") || why=$(cat "$TMP/peer_why")
    [[ -n $why ]] || runtime="node $node_v$(npm_sdks "$pkg")"
  fi
  [[ -n $have || -n $why ]] || why="not installed"
  if [[ -n $why ]]; then
    say "peers: $peer not installed: $why"
    peer_info "$peer" package="$pkg" wanted="$want" installed=0 why="$why"
  else
    peer_info "$peer" package="$pkg" wanted="$want" version="$have" installed=1 runtime="$runtime"
    PEERS+=("$peer")
  fi
done

for r in $(seq "$PEERS_REPEAT"); do
  say "peers run $r/$PEERS_REPEAT: direct and mcpfwd (default configuration)"
  start_direct
  record "peer_lat_direct" --url "$DIRECT_URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500 \
    --cpu-pid "$DIRECT_PID"
  record "peer_tp_direct" --url "$DIRECT_URL" --sessions 64 --calls "$TP_CALLS" --warmup 100 \
    --cpu-pid "$DIRECT_PID"
  start_proxy default
  record "peer_lat_mcpfwd" --url "$PROXY_URL" --sessions 1 --calls "$LAT_CALLS" --warmup 500 \
    --cpu-pid "$PROXY_PID"
  stop_proxy
  start_proxy default
  record "peer_tp_mcpfwd" --url "$PROXY_URL" --sessions 64 --calls "$TP_CALLS" --warmup 100 \
    --cpu-pid "$PROXY_PID"
  stop_proxy
  for peer in "${PEERS[@]}"; do
    say "peers run $r/$PEERS_REPEAT: $peer, 1 session ($PEERS_LAT_CALLS calls), 64 sessions ($PEERS_TP_CALLS calls each)"
    if start_peer "$peer"; then
      peer_record "peer_lat_$peer" --url "$PEER_URL" --sessions 1 --calls "$PEERS_LAT_CALLS" \
        --warmup 200 --cpu-pid "$PEER_PID" || true
      peer_stop
    else
      peer_failed "peer_lat_$peer" "did not start"
    fi
    if start_peer "$peer"; then
      peer_record "peer_tp_$peer" --url "$PEER_URL" --sessions 64 --calls "$PEERS_TP_CALLS" \
        --warmup 10 --cpu-pid "$PEER_PID" || true
      peer_stop
    else
      peer_failed "peer_tp_$peer" "did not start"
    fi
  done
  stop_direct
done

say "peers: $PEERS_IDLE idle sessions (memory, setup one at a time): direct, mcpfwd, peers"
start_direct
peer_idle direct "$DIRECT_PID" "$DIRECT_URL"
stop_direct
start_proxy default
peer_idle mcpfwd "$PROXY_PID" "$PROXY_URL"
stop_proxy
for peer in "${PEERS[@]}"; do
  if start_peer "$peer"; then
    peer_idle "$peer" "$PEER_PID" "$PEER_URL" || true
    peer_stop
  else
    peer_failed "peer_idle_$peer" "did not start"
  fi
done
trap cleanup EXIT
