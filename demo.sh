#!/usr/bin/env bash
# Show mcpfwd at work, from a fresh clone on Debian 12:
#   ./demo.sh
# Installs what is missing, builds, then a real MCP client (the official MCP
# Python SDK) launches `mcpfwd --stdio -- python demo_server.py` — a small
# FastMCP server shipped in docs/examples/python — calls its tools, reads a
# resource, gets a prompt, and prints what crossed the proxy.
set -euo pipefail
cd "$(dirname "$0")"
packaging/install-deps.sh
packaging/build.sh
export MCPFWD_BIN="$PWD/build/release/bin/mcpfwd"
exec "${PYTHON:-python3}" docs/examples/python/demo_stdio.py
