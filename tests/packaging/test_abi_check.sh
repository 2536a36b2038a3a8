#!/usr/bin/env bash
# tests/packaging/test_abi_check.sh LIB — packaging/abi.sh check can fail.
# Compares LIB with three baselines derived from capi/abi/libmcpfwd.so.0.abi:
#   one lacking a function LIB has   -> LIB adds it:        must pass
#   one where a parameter's type differs -> a changed function: must fail ("needs review")
#   one with a function LIB lacks    -> LIB removed it:     must fail ("INCOMPATIBLE")
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
lib="${1:?path to libmcpfwd.so.0}"
base="$root/capi/abi/libmcpfwd.so.0.abi"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fn=mcpfwd_config_set_io_threads  # (mcpfwd_config *cfg, uint32_t n)

python3 - "$base" "$tmp" "$fn" <<'PY'
import re, sys
base, tmp, fn = sys.argv[1:]
xml = open(base, encoding="utf-8").read()
decl = re.search(rf"    <function-decl name='{fn}' .*?</function-decl>\n", xml, re.S)
sym = re.search(rf"    <elf-symbol name='{fn}' .*?/>\n", xml)
assert decl and sym, f"{fn} not found in {base}"
# 1. without the function: the library adds it
open(f"{tmp}/added.abi", "w").write(xml.replace(decl.group(0), "").replace(sym.group(0), ""))
# 2. its second parameter an int instead of a uint32_t: a changed function
int_id = re.search(r"<type-decl name='int' size-in-bits='32' id='([^']+)'/>", xml).group(1)
params = re.findall(r"<parameter type-id='[^']+'", decl.group(0))
changed = decl.group(0).replace(params[1], f"<parameter type-id='{int_id}'", 1)
assert changed != decl.group(0)
open(f"{tmp}/changed.abi", "w").write(xml.replace(decl.group(0), changed))
# 3. a function the library lacks (renamed in the baseline): the library removed it
open(f"{tmp}/removed.abi", "w").write(xml.replace(fn, fn + "_gone"))
PY

fails=0
expect() {  # expect NAME STATUS TEXT: abi.sh check against NAME.abi exits STATUS, prints TEXT
  local name=$1 want=$2 text=$3 rc=0 out
  out="$("$root/packaging/abi.sh" check "$lib" "$tmp/$name.abi" 2>&1)" || rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qF -- "$text" <<<"$out"; then
    echo "FAIL: baseline '$name': exit $rc (want $want), want text '$text'; output:"
    echo "$out"
    fails=$((fails + 1))
  else
    echo "ok: baseline '$name': exit $rc, '$text'"
  fi
}
expect added 0 "abi: compatible with the baseline"
expect changed 1 "needs review"
expect changed 1 "packaging/abi.sh update"
expect removed 1 "INCOMPATIBLE"
[ "$fails" -eq 0 ]
