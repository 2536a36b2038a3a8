#!/usr/bin/env python3
"""Refuse C++ statements that GCC 12 miscompiles in coroutines.

GCC 12 destroys the temporary that a conditional expression (``c ? a : b``) makes
inside a statement containing ``co_await`` twice: a double free in the coroutine
frame (seen in mcpfwd: ``co_await fail(ids, ended ? desc : "closing")`` aborted
the process with "free(): double free detected"). The fix is always the same:
compute the value into a named local, or call a function that returns it, before
the ``co_await``.

Not checked here, and avoided the same way: GCC 12 also crashed mcpfwd (SIGSEGV on a
garbage reference after the resumption) on ``if (!co_await write_sse_head(stream,
req, req.keep_alive())) co_return false;`` at the start of a coroutine body. A
30-line reproduction with a timer-awaiting Asio coroutine crashed at -O0 and -O2 on
``if (co_await f(...))`` and ``while (...co_await...)`` whenever no local variable had
been declared earlier in the calling coroutine, and ran once any had been (or once
the result went into a named local first); but loadgen's ``exchange()`` has that
shape and runs, so the trigger is narrower than that and no rule is enforced for
it. Prefer ``const bool ok = co_await f(...); if (!ok) ...`` in new code.

Usage: tools/check_coroutines.py [FILE...]   (default: every .cpp/.hpp under cpp/,
capi/, bench/ and tests/). Exit status 1 and one line per finding when any is found.
"""
from __future__ import annotations

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DIRS = ("cpp", "capi", "bench", "tests")


def strip(src: str) -> str:
    """The source with comments, string and character literals blanked (lengths and
    newlines kept, so offsets still map to lines)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif src.startswith('R"', i):
            m = re.match(r'R"([^(\s]*)\(', src[i:])
            if m:
                end = src.find(")" + m.group(1) + '"', i)
                j = n if end < 0 else end + len(m.group(1)) + 2
                out.append(re.sub(r"[^\n]", " ", src[i:j]))
                i = j
            else:
                out.append(c)
                i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def statements_with_co_await(code: str):
    """(offset, text) of each full statement that contains co_await."""
    for m in re.finditer(r"\bco_await\b", code):
        # back to the start of the statement: ; { } at paren depth 0
        depth, i = 0, m.start() - 1
        while i >= 0:
            ch = code[i]
            if ch == ")":
                depth += 1
            elif ch == "(":
                if depth == 0:
                    break  # inside an if/while condition or a call: start there
                depth -= 1
            elif ch in ";{}" and depth == 0:
                break
            i -= 1
        start = i + 1
        depth, j = 0, m.end()
        while j < len(code):
            ch = code[j]
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            elif ch in ";{}" and depth == 0:
                break
            j += 1
        yield start, code[start:j]


def check(path: pathlib.Path) -> list[str]:
    src = path.read_text(encoding="utf-8", errors="replace")
    if "co_await" not in src:
        return []
    code = strip(src)
    found = []
    seen = set()
    for start, text in statements_with_co_await(code):
        if start in seen or "?" not in text:
            continue
        seen.add(start)
        line = code.count("\n", 0, start + len(text) - len(text.lstrip())) + 1
        found.append(f"{path.relative_to(ROOT)}:{line}: a conditional expression (?:) in a "
                     "statement with co_await: GCC 12 frees its temporary twice; compute it "
                     "into a local first")
    return found


def main(argv: list[str]) -> int:
    files = [pathlib.Path(a).resolve() for a in argv] or [
        p for d in DIRS for p in sorted((ROOT / d).rglob("*")) if p.suffix in (".cpp", ".hpp")
        and "node_modules" not in p.parts]
    problems = [msg for f in files for msg in check(f)]
    for msg in problems:
        print(msg)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
