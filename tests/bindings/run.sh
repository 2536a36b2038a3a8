#!/usr/bin/env bash
# Build and test every other-language way into the C ABI (docs/bindings.md):
#   SWIG Java (JNI + jar), SWIG Go (module bindings/go), Node koffi, Python ctypes,
#   and the example of each language.
# Usage: tests/bindings/run.sh [BUILD_DIR]     (default: build/release)
# BUILD_DIR holds the library already built (lib/libmcpfwd.so.0): the bindings
# are configured in build/bindings against it, so nothing is compiled twice.
# Needs SWIG 4, a JDK >= 17, Go >= 1.19, node and tests/node's koffi
# (packaging/install-deps.sh installs them). Every test is bounded in time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
lib_build="$(cd "${1:-build/release}" && pwd)"
out="$root/build/bindings"
# The machine's Go is newer than Debian's golang-go (1.19); both work.
[ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
export PYTHON="${PYTHON:-python3}"

gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
[ -f "$out/CMakeCache.txt" ] && gen=()   # keep the generator of an existing tree
cmake -S bindings -B "$out" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DMCPFWD_BUILD_DIR="$lib_build" -DMCPFWD_BUILD_JAVA=ON -DMCPFWD_BUILD_GO=ON >/dev/null
cmake --build "$out" -j 2
ctest --test-dir "$out" --output-on-failure --timeout 180 --no-tests=error
