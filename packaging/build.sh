#!/usr/bin/env bash
# Build mcpfwd (C++ core, C ABI library, CLI, Python module, tests) in Release
# mode and install the Python package, in one CMake build tree: build/release.
# `pip install .` is the build driver (scikit-build-core), so the library the
# Python package carries is the one the C++ tests ran against.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PY="${PYTHON:-python3}"
start=$(date +%s)
"$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  --no-build-isolation \
  -C build-dir=build/release \
  -C cmake.define.MCPFWD_BUILD_TESTS=ON \
  .
echo "[build] build/release ready in $(( $(date +%s) - start )) s (CLI: build/release/bin/mcpfwd)" >&2
