#!/usr/bin/env python3
"""Each layer of cpp/src includes only the layers below it (docs/architecture.md):

    base < protocol < io < config < upstream < session < server < cpp/src top (proxy)

and nothing outside capi/ includes a cpp/src header (bindings see only the C ABI).
Exit status 1 with one line per violation.
"""
from __future__ import annotations

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "cpp" / "src"
ORDER = ["base", "protocol", "io", "config", "upstream", "session", "server", "top"]
# protocol is values only: no Asio, no I/O
PROTOCOL_FORBIDDEN = re.compile(r"#include\s+[<\"](boost/(asio|beast)|base/net\.hpp)")
INCLUDE = re.compile(r'#include\s+"([a-z_]+)/[^"]+"')


def layer_of(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else "top"


def main() -> int:
    problems = []
    for f in sorted(SRC.rglob("*.[ch]pp")):
        mine = layer_of(f)
        text = f.read_text()
        for m in INCLUDE.finditer(text):
            dep = m.group(1)
            if dep not in ORDER:
                continue
            if ORDER.index(dep) > ORDER.index(mine):
                problems.append(f"{f.relative_to(ROOT)}: {mine} includes {m.group(0)[10:]} "
                                f"(a {dep} header, a layer above)")
        if mine == "protocol":
            for m in PROTOCOL_FORBIDDEN.finditer(text):
                problems.append(f"{f.relative_to(ROOT)}: protocol values include I/O: {m.group(0)}")
    for d in ("python", "bindings", "cpp/cli", "tests/python", "tests/bindings", "tests/ffi"):
        for f in (ROOT / d).rglob("*"):
            if f.suffix in (".cpp", ".hpp", ".h", ".c", ".i", ".swigcxx") and "node_modules" not in f.parts:
                for m in re.finditer(r'#include\s+"((base|protocol|io|config|upstream|session|server)/[^"]+|proxy\.hpp)"', f.read_text(errors="replace")):
                    problems.append(f"{f.relative_to(ROOT)}: includes the core's {m.group(1)}: "
                                    "outside capi/ only the C ABI is visible")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
