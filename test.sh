#!/usr/bin/env bash
# Run every test suite of mcpfwd, from a fresh clone on Debian 12:
#   ./test.sh
# Installs what is missing (packaging/install-deps.sh), builds (Release, via
# `pip install .`), runs the Catch2 + C ABI tests (ctest), the Python suites
# (pytest, the official conformance suite included) and the other-language
# bindings (SWIG Java and Go, Node koffi, Python ctypes: tests/bindings/run.sh),
# the short soak test and each fuzz target for 30 s, then repeats the native and
# end-to-end suites under AddressSanitizer + UndefinedBehaviorSanitizer, and
# the native and the multi-session HTTP suites (concurrency included) under
# ThreadSanitizer.
# Ends with one summary line.
#   MCPFWD_SANITIZE=0 ./test.sh   skips the sanitizer passes
set -uo pipefail
cd "$(dirname "$0")"
root="$(pwd)"
PY="${PYTHON:-python3}"
export PYTHON="$PY"
passed=0 failed=0 failed_names=()

step() {  # step NAME COMMAND...
  local name="$1"; shift
  echo
  echo "=== $name ==="
  local t0=$(date +%s)
  if "$@"; then
    passed=$((passed + 1)); echo "=== $name: PASS ($(( $(date +%s) - t0 )) s) ==="
  else
    failed=$((failed + 1)); failed_names+=("$name"); echo "=== $name: FAIL ($(( $(date +%s) - t0 )) s) ==="
  fi
}

finish() {
  echo
  echo "================ summary ================"
  [ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
  echo "suites: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

step "install dependencies" packaging/install-deps.sh || true
[ "$failed" -eq 0 ] || finish
step "lint: clang-format, coroutine statements GCC 12 miscompiles" tools/lint.sh
step "build (Release) and pip install" packaging/build.sh
[ "$failed" -eq 0 ] || finish

export MCPFWD_BIN="$root/build/release/bin/mcpfwd"
step "ctest (Catch2 unit tests, C ABI test in C)" \
  ctest --test-dir build/release --output-on-failure --no-tests=error --timeout 120
step "pytest (end-to-end with the MCP Python SDK, Python package)" \
  "$PY" -m pytest tests/python
step "bindings: Java, Go, Node koffi, Python ctypes" tests/bindings/run.sh build/release
step "soak test (short: 100 sessions x 200 calls, 1,000 abandoned sessions)" "$PY" tests/soak/soak.py
step "fuzz: every libFuzzer target 30 s under ASan+UBSan (tests/fuzz, docs/fuzzing.md)" \
  tests/fuzz/run.sh 30

if [ "${MCPFWD_SANITIZE:-1}" != 0 ]; then
  step "build (ASan+UBSan)" bash -c '
    cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMCPFWD_SANITIZE_ADDRESS=ON \
      -DMCPFWD_BUILD_TESTS=ON -DMCPFWD_BUILD_PYTHON=OFF >/dev/null && ninja -C build/asan'
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  step "ctest under ASan+UBSan" ctest --test-dir build/asan --output-on-failure --no-tests=error \
    --timeout 300
  # The end-to-end suites drive the sanitized CLI (the in-process binding
  # tests need a sanitized Python and are skipped here; the conformance
  # suite, slow, runs once, in the first pass).
  MCPFWD_BIN="$root/build/asan/bin/mcpfwd" \
    step "pytest end-to-end under ASan+UBSan" "$PY" -m pytest tests/python -m "not inprocess" \
      --ignore=tests/python/e2e/test_conformance.py
  unset ASAN_OPTIONS UBSAN_OPTIONS

  step "build (TSan)" bash -c '
    cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMCPFWD_SANITIZE_THREAD=ON \
      -DMCPFWD_BUILD_TESTS=ON -DMCPFWD_BUILD_PYTHON=OFF >/dev/null && ninja -C build/tsan'
  export TSAN_OPTIONS="second_deadlock_stack=1"
  step "ctest under TSan" ctest --test-dir build/tsan --output-on-failure --no-tests=error \
    --timeout 300
  # A TSan report in mcpfwd's stderr fails the test that drove it.
  MCPFWD_BIN="$root/build/tsan/bin/mcpfwd" \
    step "pytest HTTP and upstream suites (50 concurrent sessions, pool) under TSan" \
    "$PY" -m pytest tests/python/e2e/test_http_concurrency.py tests/python/e2e/test_http_sdk.py \
      tests/python/e2e/test_http_protocol.py tests/python/e2e/test_upstream_matrix.py \
      tests/python/e2e/test_upstream_pool.py tests/python/e2e/test_hardening.py \
      tests/python/e2e/test_modern_http.py tests/python/e2e/test_config_file.py \
      tests/python/e2e/test_bridge_legacy_client.py tests/python/e2e/test_bridge_modern_client.py \
      -m "not inprocess"
  unset TSAN_OPTIONS
fi
finish
