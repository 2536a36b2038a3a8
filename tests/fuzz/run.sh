#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang-14, ASan + UBSan) and runs
# each for a bounded time on a copy of its corpus. Fails on any crash, leak,
# timeout, out-of-memory or sanitizer report, printing the reproducer.
#   tests/fuzz/run.sh [--merge] [SECONDS] [TARGET...]
#     SECONDS   per target (default 30)
#     TARGET    classify, line_framer, ... (default: every corpus/<target>)
#     --merge   afterwards, minimize what the run grew back into
#               tests/fuzz/corpus/<target> (seed-* and regress-* always stay)
# Environment: FUZZ_BUILD_DIR (default build/fuzz), FUZZ_CXX / FUZZ_CC
# (default clang++-14 / clang-14), FUZZ_SEED (default 1).
# Prints one summary line per target. See docs/fuzzing.md.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build/fuzz}"
merge=0
if [ "${1:-}" = "--merge" ]; then merge=1; shift; fi
secs="${1:-30}"
[ $# -gt 0 ] && shift
case "$secs" in '' | *[!0-9]*) echo "run.sh: SECONDS must be a number, not '$secs'" >&2; exit 2 ;; esac

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for d in "$here"/corpus/*/; do targets+=("$(basename "$d")"); done
fi

# Configure once, then let ninja rebuild what changed.
if [ ! -f "$build/build.ninja" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER="${FUZZ_CXX:-clang++-14}" -DCMAKE_C_COMPILER="${FUZZ_CC:-clang-14}" \
    "${launcher[@]}" >/dev/null || { echo "fuzz: cmake configure failed" >&2; exit 1; }
fi
ninja -C "$build" || { echo "fuzz: build failed" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/mcpfwd-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
for t in "${targets[@]}"; do
  bin="$build/fuzz_$t"
  if [ ! -x "$bin" ] || [ ! -d "$here/corpus/$t" ]; then
    echo "fuzz_$t: no such target (needs $bin and tests/fuzz/corpus/$t)" >&2
    failed+=("$t"); continue
  fi
  mkdir -p "$work/$t/corpus" "$build/artifacts/$t"
  cp -a "$here/corpus/$t/." "$work/$t/corpus/"
  dict=()
  [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
  log="$build/artifacts/$t/last-run.log"
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -seed="${FUZZ_SEED:-1}" \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" "${dict[@]}" \
    "$work/$t/corpus" >"$log" 2>&1
  rc=$?
  # The last status line: "#N DONE cov: C ft: F corp: U/Sb ..." (or the last
  # "#N ..." line if the run stopped early).
  status="$(grep -E '^#[0-9]+' "$log" | tail -n 1)"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$status")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$status")"
  corp="$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$status")"
  execs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log")"
  rate="$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log")"
  if [ $rc -ne 0 ] || grep -qE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error:|==fuzz==' "$log"; then
    failed+=("$t")
    echo "fuzz_$t: FAIL (exit $rc) after ${execs:-?} execs; log: $log"
    grep -E '==fuzz==|ERROR: |SUMMARY: |runtime error:' "$log" | head -n 8 | sed 's/^/  /'
    repro="$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n 1)"
    if [ -n "$repro" ]; then
      echo "  reproducer: $repro"
      echo "  rerun:      $bin $repro"
    fi
    continue
  fi
  echo "fuzz_$t: PASS ${secs} s, ${execs:-?} execs, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"

  if [ $merge = 1 ]; then
    # Minimize: the seeds and regressions, plus whatever adds an edge (not
    # counting hit counts, -use_counters=0: a few hundred files, not
    # thousands).
    keep="$work/$t/merged"
    mkdir -p "$keep"
    find "$here/corpus/$t" -maxdepth 1 -type f \( -name 'seed-*' -o -name 'regress-*' \) \
      -exec cp {} "$keep/" \;
    if ! "$bin" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 "$keep" "$work/$t/corpus" \
      >"$build/artifacts/$t/last-merge.log" 2>&1; then
      echo "fuzz_$t: merge failed; log: $build/artifacts/$t/last-merge.log"
      failed+=("$t"); continue
    fi
    find "$here/corpus/$t" -maxdepth 1 -type f ! -name 'seed-*' ! -name 'regress-*' -delete
    find "$keep" -maxdepth 1 -type f ! -name 'seed-*' ! -name 'regress-*' \
      -exec cp {} "$here/corpus/$t/" \;
    echo "fuzz_$t: corpus merged: $(find "$here/corpus/$t" -type f | wc -l) files," \
      "$(cat "$here/corpus/$t"/* | wc -c) bytes in tests/fuzz/corpus/$t"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets passed"
