#!/usr/bin/env bash
# Static checks of the sources, run by ./test.sh before anything is built:
#   - every C and C++ file is formatted as .clang-format says (checked, never rewritten:
#     run `clang-format -i FILE` yourself);
#   - no statement with co_await holds a conditional expression (GCC 12 frees its
#     temporary twice: tools/check_coroutines.py);
#   - each layer of cpp/src includes only the layers below it, and nothing outside capi/
#     includes the core (tools/check_layers.py, docs/architecture.md).
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
mapfile -t files < <(git ls-files 'cpp/*.cpp' 'cpp/*.hpp' 'capi/*.cpp' 'capi/*.h' 'capi/*.hpp' \
  'tests/*.cpp' 'tests/*.hpp' 'tests/*.c' 'bench/*.cpp' 'bench/*.hpp' 'bindings/*.hpp' 2>/dev/null)
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "not formatted as .clang-format says (run clang-format -i on them):"
  printf '  %s\n' "${bad[@]}"
  status=1
fi
python3 tools/check_coroutines.py || status=1
python3 tools/check_layers.py || status=1
[ $status -eq 0 ] && echo "lint: ${#files[@]} files formatted, no conditional in a co_await statement, layers respected"
exit $status
