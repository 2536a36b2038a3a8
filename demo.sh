#!/usr/bin/env bash
# Show mcpfwd at work, from a fresh clone on Debian 12:
#   ./demo.sh
# Installs what is missing, builds, then:
#  1. stdio: a real MCP client (the official MCP Python SDK) launches
#     `mcpfwd --stdio -- python demo_server.py` — a small MCP server (the SDK's MCPServer) shipped
#     in docs/examples/python — calls its tools, reads a resource, gets a
#     prompt, and prints what crossed the proxy;
#  2. HTTP: `mcpfwd --listen 127.0.0.1:0 -- python demo_server.py` serves 8 SDK
#     clients at once, each with its own server process, and prints mcpfwd's
#     session table;
#  3. remote upstream: the same server as a remote Streamable HTTP server, and
#     `mcpfwd --listen 127.0.0.1:0 --upstream URL` in front of it, used at once by
#     SDK clients over Streamable HTTP, legacy SSE and (through
#     `mcpfwd --stdio --upstream URL`) stdio;
#  4. both eras: a 2026-07-28 (stateless) client next to a session-era one on
#     the same endpoint, each served in its own era.
set -euo pipefail
cd "$(dirname "$0")"
packaging/install-deps.sh
packaging/build.sh
export MCPFWD_BIN="$PWD/build/release/bin/mcpfwd"
echo "=== 1. single-session stdio mode ==="
"${PYTHON:-python3}" docs/examples/python/demo_stdio.py
echo
echo "=== 2. multi-session Streamable HTTP mode ==="
"${PYTHON:-python3}" docs/examples/python/demo_http.py 8
echo
echo "=== 3. a remote upstream, every downstream transport ==="
"${PYTHON:-python3}" docs/examples/python/demo_remote.py
echo
echo "=== 4. both eras of MCP on one endpoint ==="
exec "${PYTHON:-python3}" docs/examples/python/demo_eras.py
