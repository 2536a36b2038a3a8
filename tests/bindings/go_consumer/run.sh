#!/usr/bin/env bash
# A Go module outside this tree builds against the mcpfwd Go module as
# `cmake --install` lays it out, through the documented replace directive
# (docs/bindings.md), then runs: a proxy starts, every option is listed.
#   Usage: run.sh GO BUILD_DIR SOURCE_DIR   (PKG_CONFIG_PATH must find mcpfwd.pc)
set -euo pipefail
go="$1" build="$2" src="$3"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" --component mcpfwd_go_module >/dev/null
module="$tmp/prefix/share/mcpfwd/bindings"
test -f "$module/go.mod" && test -f "$module/go/capi/capi.swigcxx" && test -f "$module/swig/mcpfwd.i"

mkdir "$tmp/app"
cp "$src/tests/bindings/go_consumer/main.go" "$tmp/app/"
cat >"$tmp/app/go.mod" <<MOD
module example.com/consumer

go 1.19

require github.com/mcpfwd/mcpfwd/bindings v0.1.0

replace github.com/mcpfwd/mcpfwd/bindings => $module
MOD
cd "$tmp/app"
"$go" build -o consumer .
# the binary must not reach into the source tree for anything
./consumer
