"""The examples shown in docs/bindings.md are the files the tests compile and run.

    python3 tests/bindings/check_docs.py           # fails if a shown example differs from its file
    python3 tests/bindings/check_docs.py --write   # copies the files into the page

A block to check is a fenced code block right after a line ``<!-- example: PATH -->`` (PATH
relative to the repository root).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "bindings.md"
MARK = re.compile(r"^<!-- example: (\S+) -->$")


def main() -> int:
    write = "--write" in sys.argv[1:]
    lines = DOC.read_text(encoding="utf-8").split("\n")
    out: list[str] = []
    problems: list[str] = []
    seen = 0
    i = 0
    while i < len(lines):
        out.append(lines[i])
        m = MARK.match(lines[i])
        i += 1
        if not m:
            continue
        seen += 1
        path = ROOT / m.group(1)
        if i >= len(lines) or not lines[i].startswith("```"):
            problems.append(f"{m.group(1)}: no code block after the marker")
            continue
        out.append(lines[i])
        i += 1
        start = i
        while i < len(lines) and lines[i] != "```":
            i += 1
        shown = "\n".join(lines[start:i])
        actual = path.read_text(encoding="utf-8").rstrip("\n")
        if shown != actual:
            problems.append(f"{m.group(1)}: the block in docs/bindings.md differs from the file")
        out.extend(actual.split("\n"))
    if write:
        DOC.write_text("\n".join(out), encoding="utf-8")
        print(f"wrote {seen} examples into {DOC}")
        return 0
    if seen == 0:
        problems.append("no example markers found")
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print(f"ok: {seen} examples in docs/bindings.md match their files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
