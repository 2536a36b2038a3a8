#!/usr/bin/env python3
"""mcpfwd soak test: the whole proxy under load, then back to its baseline.

    MCPFWD_BIN=build/release/bin/mcpfwd python3 tests/soak/soak.py           # short (~20 s)
    MCPFWD_BIN=build/release/bin/mcpfwd python3 tests/soak/soak.py --full    # ~5 min

One `mcpfwd --listen 127.0.0.1:0` in front of bench/fast_server (one server
process per session), loopback only. Load from bench/loadgen, whose every
answer is checked for its id and its echo token (a misrouted answer is a
mismatch). Steps, each bounded in count and time:

  warm-up   a few sessions with calls (deleted) and a few abandoned ones, until
            every one has been reaped; then the baseline of mcpfwd: open fds
            (/proc/PID/fd), threads (/proc/PID/task), child processes, VmRSS
  (a)       S sessions at once x C calls each (opened --open-concurrency at a
            time, then DELETEd): every call answered, 0 lost, 0 misrouted, 0 errors
  (b)       N sessions opened over time (--rate per second), each making 2 calls
            (every 10th also opening its GET stream), then abandoned: connections
            closed, no DELETE. mcpfwd's short --idle-timeout-ms reaps them; the
            number alive at once stays below --max-sessions (checked: no 503, and
            mcpfwd's child count sampled throughout). Run in two halves, each
            waited out until reaped and checked against the baseline.
  end       mcpfwd reports 0 sessions (SIGUSR1 table) and has no child; fds,
            threads and children equal the baseline, VmRSS within the margins
            below; then SIGTERM: mcpfwd exits 0, and no process spawned for this
            run (marked with --env MCPFWD_SOAK_TAG) is left anywhere.

RSS (see docs/soak.md). glibc keeps freed heap in its arenas, so after the
sessions are gone mcpfwd's RSS stays near the peak that the sessions of (a)
needed; what it may not do is grow with the number of sessions or calls:
  - at the end: RSS <= baseline + 64 KiB x the sessions of (a) (about twice the
    ~25-30 KiB an open session costs: (a)'s peak working set, with room for
    fragmentation);
  - during (a), all sessions open: RSS may grow at most 8 MiB from a quarter of
    the way in to the end, when that lasts 8 samples or more (the full run:
    > ~11 bytes kept per call fails);
  - (b): RSS after the second half's reaping at most 4 MiB above the first
    half's (the full run: > ~840 bytes kept per abandoned session fails).

Binaries: MCPFWD_BIN (required), LOADGEN_BIN and FAST_SERVER_BIN (optional:
otherwise bench/ is built into --build-dir with CMake and Ninja).
Exit status: 0 pass, 1 a check failed, 2 usage or setup error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KIB = 1024
MIB = 1024 * 1024

PROFILES = {
    # The idle timeout must exceed the time (a) takes to open all its sessions
    # (the first ones wait, idle, for the last): under 1 s for 100 sessions,
    # 2-5 s for 1,000 on 2 busy cores. In (b) about rate x (idle timeout +
    # the reaper's period, idle/4 capped at 1 s) sessions are alive at once.
    # short: (a) 100 x 200 calls; (b) 1,000 sessions over ~8 s, ~300 alive.
    "short": dict(sessions=100, calls=200, warmup=5, open_concurrency=16,
                  abandon=1000, rate=120.0, abandon_calls=2, stream_every=10,
                  idle_timeout_ms=2000, max_sessions=400, loadgen_seconds=90),
    # full: (a) 1,000 x 1,000 calls, at exactly --max-sessions (the admission
    # count must have returned to 0 after the warm-up); (b) 10,000 sessions
    # over ~170 s, ~660 alive at once.
    "full": dict(sessions=1000, calls=1000, warmup=10, open_concurrency=32,
                 abandon=10000, rate=60.0, abandon_calls=2, stream_every=10,
                 idle_timeout_ms=10000, max_sessions=1000, loadgen_seconds=900),
}
RSS_PER_SESSION_MARGIN = 64 * KIB
RSS_GROWTH_A_MARGIN = 8 * MIB
RSS_GROWTH_B_MARGIN = 4 * MIB


class SoakError(Exception):
    """A check failed (exit 1)."""


class SetupError(Exception):
    """The soak could not run (exit 2)."""


def log(msg: str) -> None:
    print(f"soak: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ /proc


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_kinds(pid: int) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = target.split(":", 1)[0] if ":" in target else "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items()))


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SetupError(f"no VmRSS for {pid}")


def children(pid: int) -> list[int]:
    """Child processes of pid (zombies included), from each thread's children list."""
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return kids
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                kids += [int(x) for x in f.read().split()]
        except FileNotFoundError:
            continue
    return kids


def zombies(pids: list[int]) -> int:
    n = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    n += 1
        except (FileNotFoundError, IndexError):
            pass
    return n


def tagged_processes(tag: str) -> list[int]:
    """Every process whose environment holds MCPFWD_SOAK_TAG=tag (this run's servers)."""
    needle = f"MCPFWD_SOAK_TAG={tag}".encode()
    found = []
    for e in os.scandir("/proc"):
        if not e.name.isdigit():
            continue
        try:
            with open(f"/proc/{e.name}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(e.name))
        except OSError:
            continue
    return found


def state(pid: int) -> dict:
    kids = children(pid)
    return {"fds": fd_count(pid), "threads": thread_count(pid), "children": len(kids),
            "rss_kib": rss_kib(pid)}


class Sampler:
    """Peaks of mcpfwd's fds, threads, children and RSS, sampled every `period` s."""

    def __init__(self, pid: int, period: float = 0.5):
        self.pid, self.period = pid, period
        self.peak = {"fds": 0, "threads": 0, "children": 0, "rss_kib": 0}
        self.series: list[tuple[float, int, int]] = []  # (time, children, rss_kib)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                s = state(self.pid)
            except (OSError, SetupError):
                return
            for k, v in s.items():
                self.peak[k] = max(self.peak[k], v)
            self.series.append((time.monotonic(), s["children"], s["rss_kib"]))
            self._stop.wait(self.period)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# ------------------------------------------------------------------ the run


class Soak:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.p = dict(PROFILES[args.profile])
        for k in ("sessions", "calls", "abandon", "rate", "idle_timeout_ms", "max_sessions"):
            v = getattr(args, k)
            if v is not None:
                self.p[k] = v
        self.tag = uuid.uuid4().hex
        self.tmp = Path(tempfile.mkdtemp(prefix="mcpfwd-soak-"))
        self.proxy: subprocess.Popen | None = None
        self.loadgen: subprocess.Popen | None = None
        self.log_path = self.tmp / "mcpfwd.log"
        self.log_file = None
        self.url = ""
        self.report: dict = {"profile": args.profile, "params": self.p}
        self.failures: list[str] = []

    # ---------------------------------------------------------------- setup

    def binaries(self) -> None:
        mcpfwd = self.args.mcpfwd or os.environ.get("MCPFWD_BIN")
        if not mcpfwd or not os.access(mcpfwd, os.X_OK):
            raise SetupError("set MCPFWD_BIN (or --mcpfwd) to the mcpfwd binary")
        self.mcpfwd = str(Path(mcpfwd).resolve())
        loadgen = os.environ.get("LOADGEN_BIN")
        server = os.environ.get("FAST_SERVER_BIN")
        if not (loadgen and server):
            build = Path(self.args.build_dir).resolve()
            log(f"building loadgen and fast_server in {build}")
            t0 = time.monotonic()
            gen = ["-G", "Ninja"] if shutil.which("ninja") else []
            for cmd in (["cmake", "-S", str(ROOT / "bench"), "-B", str(build), *gen,
                         f"-DMCPFWD_CLI={self.mcpfwd}"],
                        ["cmake", "--build", str(build), "--target", "loadgen", "fast_server"]):
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, timeout=900)
                if r.returncode != 0:
                    raise SetupError(f"{' '.join(cmd)} failed:\n{r.stdout[-4000:]}")
            self.report["build_s"] = round(time.monotonic() - t0, 1)
            loadgen = loadgen or str(build / "bin" / "loadgen")
            server = server or str(build / "bin" / "fast_server")
        for b in (loadgen, server):
            if not os.access(b, os.X_OK):
                raise SetupError(f"not an executable: {b}")
        self.loadgen_bin = str(Path(loadgen).resolve())
        self.server_bin = str(Path(server).resolve())

    def start_proxy(self) -> None:
        p = self.p
        cmd = [self.mcpfwd, "--listen", "127.0.0.1:0", "--io-threads", str(self.args.io_threads),
               "--max-sessions", str(p["max_sessions"]),
               "--idle-timeout-ms", str(p["idle_timeout_ms"]),
               "--env", f"MCPFWD_SOAK_TAG={self.tag}", "--", self.server_bin]
        self.report["mcpfwd_command"] = " ".join(cmd[:-4] + ["--", "fast_server"])
        self.log_file = open(self.log_path, "wb")
        self.proxy = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=self.log_file)
        deadline = time.monotonic() + 15
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proxy.poll() is not None:
                raise SetupError(f"mcpfwd printed no URL; its log:\n{self.log_tail()}")
            if select.select([self.proxy.stdout], [], [], min(left, 0.5))[0]:
                b = os.read(self.proxy.stdout.fileno(), 4096)
                if not b:
                    continue
                line += b
        self.url = line.decode().strip().splitlines()[0]
        if not re.fullmatch(r"http://127\.0\.0\.1:\d+/mcp", self.url):
            raise SetupError(f"unexpected URL from mcpfwd: {self.url!r}")
        log(f"mcpfwd pid {self.proxy.pid} at {self.url}")

    def log_tail(self, n: int = 30) -> str:
        """The last n lines of mcpfwd's log that are not info (the session open/close chatter)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join([ln for ln in lines if ": info: " not in ln][-n:]) or "(only info lines)"

    # ---------------------------------------------------------------- pieces

    def run_loadgen(self, args: list[str], max_seconds: float) -> dict:
        cmd = [self.loadgen_bin, "--url", self.url, "--max-seconds", str(max_seconds), *args]
        self.loadgen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        try:
            out, err = self.loadgen.communicate(timeout=max_seconds + 30)
        except subprocess.TimeoutExpired:
            self.loadgen.kill()
            self.loadgen.communicate()
            raise SoakError(f"loadgen did not end within {max_seconds + 30} s: {' '.join(cmd)}")
        rc = self.loadgen.returncode
        self.loadgen = None
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            raise SoakError(f"loadgen (exit {rc}) printed no report: {out!r} {err[-2000:]}")
        res["exit"] = rc
        if err.strip():
            res["stderr"] = err.strip()[-2000:]
        return res

    def session_table_count(self, timeout: float = 10) -> int:
        """mcpfwd's own count of sessions (open or closing), from its SIGUSR1 table."""
        before = self.log_path.stat().st_size
        self.proxy.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(before)
                m = re.search(rb"(\d+) session\(s\) at ", f.read())
            if m:
                return int(m.group(1))
            time.sleep(0.05)
        raise SoakError("mcpfwd printed no session table after SIGUSR1")

    def wait_settled(self, what: str, timeout: float, fds: int | None = None) -> float:
        """Wait until mcpfwd has no child, reports 0 sessions and (if given) has `fds` fds."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        pid = self.proxy.pid
        while True:
            self.check_alive(what)
            kids = children(pid)
            ok = not kids and (fds is None or fd_count(pid) == fds)
            if ok and self.session_table_count() == 0:
                return time.monotonic() - t0
            if time.monotonic() > deadline:
                s = state(pid)
                raise SoakError(
                    f"{what}: not settled after {timeout:.0f} s: {s['children']} children "
                    f"({zombies(kids)} zombies), {s['fds']} fds (baseline {fds}) "
                    f"{fd_kinds(pid)}, {self.session_table_count()} sessions in mcpfwd's table")
            time.sleep(0.2)

    def check_alive(self, what: str) -> None:
        if self.proxy.poll() is not None:
            raise SoakError(f"{what}: mcpfwd exited with status {self.proxy.returncode}")

    def reap_bound(self) -> float:
        """How long idle sessions may take to be reaped: the idle timeout, the reaper's
        period (at most 1 s), closing (stdin EOF; the server exits at once; SIGTERM and
        SIGKILL after 2 x the 2 s grace at worst), and slack for a busy machine."""
        return self.p["idle_timeout_ms"] / 1000 + 1 + 4 + 20

    def expect(self, cond: bool, what: str, rss: bool = False) -> None:
        if not cond and rss and self.args.no_rss_checks:
            log(f"(not checked) {what}")
            return
        if not cond:
            self.failures.append(what)
            log(f"FAIL: {what}")

    # ---------------------------------------------------------------- steps

    def warm_up(self) -> None:
        log("warm-up: 8 sessions x 50 calls, 8 abandoned sessions")
        r = self.run_loadgen(["--sessions", "8", "--calls", "50", "--warmup", "5"], 60)
        if r["exit"] != 0:
            raise SoakError(f"warm-up failed: {r}")
        r = self.run_loadgen(["--abandon-sessions", "8", "--calls", "2", "--stream-every", "2"], 60)
        if r["exit"] != 0:
            raise SoakError(f"warm-up (abandoned sessions) failed: {r}")
        self.wait_settled("warm-up", self.reap_bound())
        # Let the fd count settle (connections closing after their last answer).
        pid, last, stable_since = self.proxy.pid, -1, time.monotonic()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            n = fd_count(pid)
            if n != last:
                last, stable_since = n, time.monotonic()
            elif time.monotonic() - stable_since >= 1:
                break
            time.sleep(0.1)
        self.baseline = state(pid)
        self.baseline["fd_kinds"] = fd_kinds(pid)
        self.report["baseline"] = self.baseline
        log(f"baseline: {self.baseline}")

    def phase_a(self) -> None:
        p = self.p
        s, c = p["sessions"], p["calls"]
        log(f"(a) {s} sessions at once x {c} calls")
        with Sampler(self.proxy.pid) as smp:
            t0 = time.monotonic()
            r = self.run_loadgen(["--sessions", str(s), "--calls", str(c),
                                  "--warmup", str(p["warmup"]),
                                  "--open-concurrency", str(p["open_concurrency"]),
                                  "--cpu-pid", str(self.proxy.pid)], p["loadgen_seconds"])
            wall = time.monotonic() - t0
        self.check_alive("(a)")
        r["wall_s"] = round(wall, 1)
        r["peak"] = smp.peak
        self.report["a"] = r
        shown = pick(r, "rps", "answered_ok", "errors", "mismatches", "p50_us", "p99_us",
                     "elapsed_s")
        log(f"(a) {shown}; peak {smp.peak}")
        total = s * c
        problem = r.get("first_problem") or r.get("error") or r.get("stderr") or ""
        if "HTTP 404" in problem:
            problem += (" (a session reaped while the others were being opened? opening took "
                        f"about {wall - r.get('elapsed_s', 0):.1f} s, --idle-timeout-ms is "
                        f"{p['idle_timeout_ms']})")
        self.expect(r["exit"] == 0, f"(a) loadgen exit status {r['exit']}: {problem}")
        self.expect(r.get("sessions_opened") == s,
                    f"(a) sessions opened {r.get('sessions_opened')} of {s}")
        self.expect(r.get("total_requests") == total,
                    f"(a) calls sent {r.get('total_requests')} of {total}")
        self.expect(r.get("answered_ok") == total,
                    f"(a) calls answered correctly {r.get('answered_ok')} of {total}")
        self.expect(r.get("errors") == 0, f"(a) {r.get('errors')} errors")
        self.expect(r.get("mismatches") == 0, f"(a) {r.get('mismatches')} misrouted answers")
        self.expect(smp.peak["children"] >= s,
                    f"(a) only {smp.peak['children']} servers at once (expected {s})")
        # RSS while all S sessions are open and calling: after the first quarter of that
        # window (opening, warm-up) it may not keep growing with the calls.
        window = [rss for _, kids, rss in smp.series if kids == s]
        if len(window) >= 8:
            start = window[len(window) // 4]
            r["steady_rss_kib"] = [start, window[-1]]
            self.expect(window[-1] - start <= RSS_GROWTH_A_MARGIN // KIB,
                        f"(a) RSS grew from {start} to {window[-1]} KiB while the calls ran "
                        f"(margin {RSS_GROWTH_A_MARGIN // KIB} KiB)", rss=True)
        # loadgen DELETEd every session: they end without waiting for the reaper.
        settle = self.wait_settled("after (a)", 60, fds=self.baseline["fds"])
        self.after_a = state(self.proxy.pid)
        self.report["after_a"] = dict(self.after_a, settle_s=round(settle, 1))
        log(f"after (a): {self.after_a}")

    def phase_b(self) -> None:
        """N abandoned sessions in two halves, each reaped before the next: the RSS after
        the first half (the allocator warmed up by the churn) against after the second
        shows growth per session, and the end state is checked twice."""
        p = self.p
        n = p["abandon"]
        log(f"(b) {n} sessions abandoned at {p['rate']:g}/s, idle timeout "
            f"{p['idle_timeout_ms']} ms, in two halves")
        self.report["b"] = []
        self.after_b = []
        for half, (first, count) in enumerate(((0, n // 2), (n // 2, n - n // 2)), 1):
            with Sampler(self.proxy.pid) as smp:
                r = self.run_loadgen(["--abandon-sessions", str(count), "--rate", str(p["rate"]),
                                      "--calls", str(p["abandon_calls"]),
                                      "--stream-every", str(p["stream_every"]),
                                      "--open-concurrency", "32"], p["loadgen_seconds"])
                self.check_alive(f"(b{half})")
                log(f"(b{half}) {count} opened and abandoned in {r.get('elapsed_s')} s; "
                    "waiting for the reaper")
                try:
                    settle = self.wait_settled(f"reaping after (b{half})", self.reap_bound() + 30,
                                               fds=self.baseline["fds"])
                except SoakError as e:  # still measure and report the end state
                    self.expect(False, str(e))
                    settle = float("nan")
            r["peak"] = smp.peak
            r["reap_wait_s"] = round(settle, 1)
            after = state(self.proxy.pid)
            r["after"] = after
            self.after_b.append(after)
            self.report["b"].append(r)
            shown = pick(r, "sessions_opened", "abandoned", "streams_opened", "answered_ok",
                         "errors", "mismatches", "elapsed_s")
            log(f"(b{half}) {shown}; "
                f"peak {smp.peak}; reaped {settle:.1f} s after; then {after}")
            calls = count * p["abandon_calls"]
            streams = len(range(0, count, p["stream_every"])) if p["stream_every"] else 0
            self.expect(r["exit"] == 0, f"(b{half}) loadgen exit status {r['exit']}: "
                        f"{r.get('first_problem') or r.get('error') or r.get('stderr')}")
            self.expect(r.get("sessions_opened") == count and r.get("abandoned") == count,
                        f"(b{half}) sessions opened/abandoned "
                        f"{r.get('sessions_opened')}/{r.get('abandoned')} of {count}")
            self.expect(r.get("answered_ok") == calls,
                        f"(b{half}) calls answered correctly {r.get('answered_ok')} of {calls}")
            self.expect(r.get("errors") == 0, f"(b{half}) {r.get('errors')} errors")
            self.expect(r.get("mismatches") == 0,
                        f"(b{half}) {r.get('mismatches')} misrouted answers")
            self.expect(r.get("streams_opened") == streams,
                        f"(b{half}) GET streams opened {r.get('streams_opened')} of {streams}")
            self.expect(smp.peak["children"] < p["max_sessions"],
                        f"(b{half}) {smp.peak['children']} sessions alive at once, not below "
                        f"--max-sessions {p['max_sessions']}")
            for k in ("fds", "threads", "children"):
                self.expect(after[k] == self.baseline[k],
                            f"after (b{half}): {k} {after[k]} != baseline {self.baseline[k]}")
        growth = self.after_b[1]["rss_kib"] - self.after_b[0]["rss_kib"]
        self.report["b_rss_growth_kib"] = growth
        self.expect(growth * KIB <= RSS_GROWTH_B_MARGIN,
                    f"RSS grew {growth} KiB over the second half of (b) ({n - n // 2} sessions; "
                    f"margin {RSS_GROWTH_B_MARGIN // KIB} KiB)", rss=True)

    def end_checks(self) -> None:
        pid = self.proxy.pid
        end = state(pid)
        end["fd_kinds"] = fd_kinds(pid)
        self.report["end"] = end
        lines = self.log_path.read_text(errors="replace").splitlines()
        reaped = sum(1 for line in lines if "(session closed after being idle)" in line)
        self.report["reaped_idle_logged"] = reaped
        # For people: mcpfwd's warnings and errors during the run (not a check).
        self.report["log_warnings"] = [ln for ln in lines
                                       if ln.startswith(("mcpfwd: warn", "mcpfwd: error"))][:20]
        b = self.baseline
        log(f"end: {end}; sessions closed as idle (mcpfwd's log): {reaped}")
        self.expect(end["fds"] == b["fds"],
                    f"fds {end['fds']} {end['fd_kinds']} != baseline {b['fds']} {b['fd_kinds']}")
        self.expect(end["threads"] == b["threads"],
                    f"threads {end['threads']} != baseline {b['threads']}")
        self.expect(end["children"] == b["children"] == 0,
                    f"children {end['children']} != baseline {b['children']}")
        rss_bound = b["rss_kib"] + self.p["sessions"] * RSS_PER_SESSION_MARGIN // KIB
        self.report["rss_bound_kib"] = rss_bound
        self.expect(end["rss_kib"] <= rss_bound,
                    f"RSS {end['rss_kib']} KiB > baseline {b['rss_kib']} KiB + "
                    f"{RSS_PER_SESSION_MARGIN // KIB} KiB x {self.p['sessions']} sessions",
                    rss=True)
        left = [p for p in tagged_processes(self.tag) if p != pid]
        self.expect(not left, f"server processes of this run outside mcpfwd's children: {left}")

    def shutdown(self) -> None:
        t0 = time.monotonic()
        self.proxy.send_signal(signal.SIGTERM)
        try:
            rc = self.proxy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.expect(False, "mcpfwd did not exit within 30 s of SIGTERM")
            return
        self.report["shutdown_s"] = round(time.monotonic() - t0, 2)
        self.expect(rc == 0, f"mcpfwd exited with status {rc} after SIGTERM")
        left = tagged_processes(self.tag)
        self.expect(not left, f"processes of this run left after mcpfwd exited: {left}")

    # ---------------------------------------------------------------- cleanup

    def cleanup(self) -> None:
        for proc in (self.loadgen, self.proxy):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM if proc is self.proxy else signal.SIGKILL)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        # Anything this run spawned and left behind (marked with our tag).
        for p in tagged_processes(self.tag):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.log_file:
            self.log_file.close()
        if self.args.keep_log:
            shutil.copy(self.log_path, self.args.keep_log)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self) -> int:
        t0 = time.monotonic()
        self.report["machine"] = machine()
        self.report["cpu_busy_before_pct"] = cpu_busy_pct()
        self.report["loadavg_before"] = os.getloadavg()[0]
        now = datetime.datetime.now(datetime.timezone.utc)
        self.report["date"] = now.strftime("%Y-%m-%d %H:%M UTC")
        try:
            self.binaries()
            self.report["mcpfwd_version"] = subprocess.run(
                [self.mcpfwd, "--version"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            self.start_proxy()
            self.warm_up()
            self.phase_a()
            self.phase_b()
            self.end_checks()
            self.shutdown()
        except SoakError as e:
            self.failures.append(str(e))
            log(f"FAIL: {e}")
        finally:
            if self.failures and self.proxy is not None:
                log(f"mcpfwd's log (last lines):\n{self.log_tail()}")
            self.cleanup()
        self.report["duration_s"] = round(time.monotonic() - t0, 1)
        self.report["loadavg_after"] = os.getloadavg()[0]
        self.report["failures"] = self.failures
        if self.args.json:
            Path(self.args.json).write_text(json.dumps(self.report, indent=2) + "\n")
        print(summary(self.report))
        return 1 if self.failures else 0


def pick(r: dict, *keys: str) -> str:
    return json.dumps({k: r.get(k) for k in keys})


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1048576
    return f"{model} x {os.cpu_count()} cores, {mem:.0f} GiB, Linux {os.uname().release}"


def cpu_busy_pct() -> float:
    """How busy the CPUs were over the last second (other work than ours)."""
    def sample() -> list[int]:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:]]
    a = sample()
    time.sleep(1)
    b = sample()
    d = [y - x for x, y in zip(a, b)]
    idle = d[3] + (d[4] if len(d) > 4 else 0)
    return round(100 * (1 - idle / max(sum(d), 1)), 1)


def summary(r: dict) -> str:
    out = [f"mcpfwd soak ({r['profile']}): {'PASS' if not r['failures'] else 'FAIL'} "
           f"in {r['duration_s']} s (CPU busy before: {r['cpu_busy_before_pct']} %, "
           f"load average {r['loadavg_before']:.1f} -> {r['loadavg_after']:.1f})"]
    a, b = r.get("a"), r.get("b")
    if a:
        out.append(f"  (a) {a.get('sessions')} sessions x {a.get('calls')} calls: "
                   f"{a.get('answered_ok')} answered correctly, {a.get('errors')} errors, "
                   f"{a.get('mismatches')} misrouted; {a.get('rps')} calls/s over "
                   f"{a.get('elapsed_s')} s; p50/p99 {a.get('p50_us')}/{a.get('p99_us')} µs")
    for half, h in enumerate(b or [], 1):
        out.append(f"  (b{half}) {h.get('abandoned')} sessions abandoned in {h.get('elapsed_s')} s "
                   f"({h.get('streams_opened')} with a GET stream), at most "
                   f"{h['peak']['children']} alive at once; {h.get('errors')} errors, "
                   f"{h.get('mismatches')} misrouted; all reaped {h.get('reap_wait_s')} s after")
    if "baseline" in r:
        base, end = r["baseline"], r.get("end", {})
        for k in ("fds", "threads", "children", "rss_kib"):
            out.append(f"  {k:9} baseline {base[k]:>8}  end {end.get(k, '?'):>8}"
                       + (f"  peak in (a) {a['peak'][k]:>8}" if a else ""))
    if r.get("log_warnings"):
        out.append(f"  mcpfwd logged warnings or errors, first: {r['log_warnings'][0]}")
    for f in r["failures"]:
        out.append(f"  FAIL: {f}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", dest="profile", action="store_const", const="full", default="short",
                    help="the full soak (1,000 x 1,000 calls, 10,000 abandoned sessions)")
    ap.add_argument("--mcpfwd", help="the mcpfwd binary (default: $MCPFWD_BIN)")
    ap.add_argument("--build-dir", default=str(ROOT / "build" / "soak-bench"),
                    help="where bench/ is built when LOADGEN_BIN/FAST_SERVER_BIN are not set")
    ap.add_argument("--io-threads", type=int, default=2)
    ap.add_argument("--sessions", type=int, help="(a) sessions (profile's by default)")
    ap.add_argument("--calls", type=int, help="(a) calls per session")
    ap.add_argument("--abandon", type=int, help="(b) abandoned sessions")
    ap.add_argument("--rate", type=float, help="(b) sessions started per second")
    ap.add_argument("--idle-timeout-ms", type=int)
    ap.add_argument("--max-sessions", type=int)
    ap.add_argument("--no-rss-checks", action="store_true",
                    help="measure RSS but do not check it (sanitizer builds: freed memory is "
                    "held in quarantine)")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--keep-log", help="copy mcpfwd's log (stderr) to this file")
    args = ap.parse_args()

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        return Soak(args).run()
    except SetupError as e:
        log(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        log("interrupted (every process of the run was stopped)")
        return 130


if __name__ == "__main__":
    sys.exit(main())
