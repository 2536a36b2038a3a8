#!/usr/bin/env bash
# The C ABI baseline (capi/abi/libmcpfwd.so.0.abi), made and checked with
# libabigail (Debian: abigail-tools). Only what the public header declares and
# the library exports is recorded (--exported-interfaces-only --headers-dir).
#   packaging/abi.sh check  LIB   fail if LIB breaks the baseline (removed or
#                                 changed functions/types); additions are fine
#   packaging/abi.sh update LIB   rewrite the baseline from LIB (do this when a
#                                 release adds functions; never to paper over a break)
# LIB must be built with debug info (-g: Debug or RelWithDebInfo).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
baseline="$root/capi/abi/libmcpfwd.so.0.abi"
mode="${1:?check or update}" lib="${2:?path to libmcpfwd.so.0}"
case "$mode" in
  update)
    abidw --exported-interfaces-only --headers-dir "$root/capi/include" --drop-private-types \
      --no-corpus-path --out-file "$baseline" "$lib"
    echo "abi: baseline written to $baseline" ;;
  check)
    set +e
    report="$(abidiff --headers-dir2 "$root/capi/include" "$baseline" "$lib")"
    rc=$?
    set -e
    if [ $((rc & 8)) -ne 0 ] || [ $((rc & 1)) -ne 0 ] || [ $((rc & 2)) -ne 0 ]; then
      echo "abi: INCOMPATIBLE change against $baseline (abidiff exit $rc):"
      echo "$report"
      exit 1
    fi
    if [ $((rc & 4)) -ne 0 ]; then
      echo "abi: compatible changes (additions) against the baseline:"
      echo "$report"
    else
      echo "abi: identical to the baseline"
    fi ;;
  *) echo "usage: $0 check|update LIB" >&2; exit 2 ;;
esac
