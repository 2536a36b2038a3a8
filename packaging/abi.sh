#!/usr/bin/env bash
# The C ABI baseline (capi/abi/libmcpfwd.so.0.abi), made and checked with
# libabigail (Debian: abigail-tools). Only what the public header declares and
# the library exports is recorded (--exported-interfaces-only --headers-dir).
#   packaging/abi.sh check  LIB   fail unless LIB only adds to the baseline:
#                                 a removed function, variable or symbol fails,
#                                 and so does any changed function or type
#                                 (abidiff's "needs review"); additions pass
#   packaging/abi.sh update LIB   rewrite the baseline from LIB: when a change is
#                                 intended, in the same commit as the change
#                                 (never to paper over a break of a released ABI)
# LIB must carry debug info for the C ABI: capi/src is always compiled with -g
# (CMakeLists.txt), so any build type's lib/libmcpfwd.so.0 will do.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
baseline="$root/capi/abi/libmcpfwd.so.0.abi"
mode="${1:?check or update}" lib="${2:?path to libmcpfwd.so.0}"
baseline="${3:-$baseline}"  # another baseline: for tests/packaging/test_abi_check.sh
for tool in abidw abidiff; do
  command -v "$tool" >/dev/null || { echo "abi: $tool not found (Debian: abigail-tools)" >&2; exit 1; }
done
case "$mode" in
  update)
    abidw --exported-interfaces-only --headers-dir "$root/capi/include" --drop-private-types \
      --no-corpus-path --out-file "$baseline" "$lib"
    echo "abi: baseline written to $baseline" ;;
  check)
    # abidiff's exit status is a bit mask: 1 error, 2 usage error, 4 ABI change,
    # 8 incompatible change (something removed). With --no-added-syms additions
    # are not counted as changes, so 4 alone means a changed function or type.
    set +e
    report="$(abidiff --no-added-syms --exported-interfaces-only --fail-no-debug-info \
      --headers-dir2 "$root/capi/include" "$baseline" "$lib" 2>&1)"
    rc=$?
    set -e
    if [ $((rc & 3)) -ne 0 ]; then
      echo "abi: abidiff could not compare $lib with $baseline (exit $rc; is the library built" \
           "with debug info?):"
      echo "$report"
      exit 1
    fi
    if [ $((rc & 8)) -ne 0 ]; then
      echo "abi: INCOMPATIBLE change against $baseline (abidiff exit $rc): something was removed."
      echo "$report"
      echo "abi: a removal breaks every program built against libmcpfwd.so.0: restore it."
      exit 1
    fi
    if [ $((rc & 4)) -ne 0 ]; then
      echo "abi: changed functions or types against $baseline (abidiff exit $rc), needs review:"
      echo "$report"
      echo "abi: if the change is intended and compatible (docs/api-stability.md), update the"
      echo "abi: baseline in the same commit as the change:"
      echo "abi:   packaging/abi.sh update $lib && git add capi/abi/libmcpfwd.so.0.abi"
      exit 1
    fi
    added="$(printf '%s\n' "$report" | sed -n 's/.*Added (\([0-9]*\) filtered out) functions.*/\1/p')"
    if [ -n "$added" ] && [ "$added" -gt 0 ]; then
      echo "abi: compatible with the baseline: $added function(s) added since it was written" \
           "(additions are accepted; \`packaging/abi.sh update\` records them)"
    else
      echo "abi: compatible with the baseline"
    fi
    printf '%s\n' "$report" | sed -n '/changes summary/p' ;;
  *) echo "usage: $0 check|update LIB" >&2; exit 2 ;;
esac
