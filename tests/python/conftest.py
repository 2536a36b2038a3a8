"""Shared fixtures and helpers for the mcpfwd end-to-end tests.

The binary under test comes from $MCPFWD_BIN, else the first existing
``build/*/bin/mcpfwd`` under the repository root, else ``mcpfwd`` on PATH.
If none exists the tests fail (never skip) with a message saying so.

``ProxyProcess`` runs ``mcpfwd`` with pipes and reads its stdout and stderr
on background threads, so every read has a timeout and no test can hang on
a pipe.  It also finds the upstream server's pid (mcpfwd's child) through
/proc so tests can prove no process outlives the session.

Sanitizer reports: every test runs with ``log_path=<a directory of its own>/san``
appended to ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS and TSAN_OPTIONS (the
values already set, e.g. by test.sh, are kept), so a sanitized mcpfwd that the
test starts in any way (fixtures, subprocess, the MCP SDK's stdio client, a demo
script) writes its report to a file there instead of a stderr that may go
unread.  The ``sanitizer_logs`` fixture (autouse) fails the test at teardown if
any such file appeared, with the report's key lines in the message; a report
written after its test ended (or by a process started outside any test) fails
the session at the end.  A process the tests start must therefore inherit
``os.environ`` (pass ``env=dict(os.environ, ...)``, never a fresh dict).
UBSan is the exception: in GCC's ASan+UBSan build (two runtimes, libasan and
libubsan) UBSan's reports still go to stderr with log_path set (seen with
GCC 12), so every captured stderr of mcpfwd is also scanned
(``assert_no_sanitizer_report``, the process fixtures' teardowns).
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVERS_DIR = REPO_ROOT / "tests" / "servers"
FASTMCP_SERVER = SERVERS_DIR / "fastmcp_server.py"
RAW_SERVER = SERVERS_DIR / "raw_server.py"
EVERYTHING_JS = (REPO_ROOT / "tests" / "node" / "node_modules" / "@modelcontextprotocol"
                 / "server-everything" / "dist" / "index.js")

STATS_PREFIX = "mcpfwd: info: session stats: "
# mcpfwd's warning that its standard error queue was full ("N log lines dropped: ...")
LOG_DROPPED_RX = re.compile(r"^mcpfwd: warn: (\d+) log lines dropped")
# what ASan/LSan/TSan/UBSan builds of mcpfwd print when they find something
SANITIZER_RX = re.compile(r"^(?!server: )(?:==\d+==ERROR: |WARNING: ThreadSanitizer"
                          r"|SUMMARY: \w+Sanitizer|.*runtime error: )")
# Lines that locate a report: the accesses, the top frames of each stack and
# the frames in our own sources.
_SANITIZER_CONTEXT_RX = re.compile(
    r"^(?:\s+(?:(?:previous )?(?:atomic )?(?:read|write) of size|location is|mutex "
    r"|#[0-2] |#\d+ .*/(?:cpp/src|cpp/cli|capi/src)/)|(?:Direct|Indirect) leak of )",
    re.IGNORECASE)


Progress = list[tuple[float, float | None, str | None]]


async def everything_long_running(session: Any) -> tuple[dict[str, Any], Progress]:
    """server-everything's trigger-long-running-operation (0.2 s, 2 steps) through an MCP
    SDK ClientSession: (the result as a dict, the progress notifications received)."""
    progress: Progress = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total, message))

    res = await session.call_tool("trigger-long-running-operation", {"duration": 0.2, "steps": 2},
                                  progress_callback=on_progress)
    return res.model_dump(), progress


def sanitizer_digest(lines: list[str], limit: int = 60) -> list[str]:
    """The sanitizer report lines in a stderr, or [] when there are none.

    Besides the lines SANITIZER_RX matches it keeps what locates the report
    (access headers, top frames, frames in cpp/ and capi/), so a failure's message says
    where the race or error is even when only the end of a log is read.
    """
    if not any(SANITIZER_RX.search(ln) for ln in lines):
        return []
    keep = [ln for ln in lines if SANITIZER_RX.search(ln) or _SANITIZER_CONTEXT_RX.search(ln)]
    return keep[:limit]


def assert_no_sanitizer_report(stderr: str | bytes | list[str], who: str = "mcpfwd") -> None:
    """Fail when a captured stderr holds a sanitizer report (see the module docstring:
    UBSan's reports come this way even with log_path set)."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    lines = stderr.splitlines() if isinstance(stderr, str) else stderr
    digest = sanitizer_digest(lines)
    assert not digest, f"sanitizer report in {who}'s stderr:\n" + "\n".join(digest)


PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37


def _become_subreaper() -> None:
    """Make this process adopt orphaned descendants (Linux PR_SET_CHILD_SUBREAPER).

    A child that mcpfwd leaves behind then becomes our child instead of
    pid 1's (which on some sandboxes never reaps), so teardown can kill and
    reap it and a test can tell "leaked" from "gone".  The leak checks rely on
    it, so a failure is an error at import (the whole run stops, saying why),
    and the flag is read back (PR_GET_CHILD_SUBREAPER) to prove it is set.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    ulong = ctypes.c_ulong
    if libc.prctl(ctypes.c_int(PR_SET_CHILD_SUBREAPER), ulong(1), ulong(0), ulong(0), ulong(0)) != 0:
        err = ctypes.get_errno()
        raise RuntimeError(f"prctl(PR_SET_CHILD_SUBREAPER, 1) failed: {os.strerror(err)} "
                           f"(errno {err}); the tests' leak checks need this process to "
                           f"adopt orphaned descendants")
    flag = ctypes.c_int(-1)
    if libc.prctl(ctypes.c_int(PR_GET_CHILD_SUBREAPER), ctypes.byref(flag), ulong(0), ulong(0),
                  ulong(0)) != 0:
        err = ctypes.get_errno()
        raise RuntimeError(f"prctl(PR_GET_CHILD_SUBREAPER) failed: {os.strerror(err)} "
                           f"(errno {err}): cannot confirm this process is a child subreaper")
    if flag.value != 1:
        raise RuntimeError(f"prctl(PR_SET_CHILD_SUBREAPER, 1) returned 0 but "
                           f"PR_GET_CHILD_SUBREAPER reads {flag.value}: this process is not a "
                           f"child subreaper, and the tests' leak checks need it")


_become_subreaper()


# --------------------------------------------------------------------------
# sanitizer reports, as files (see the module docstring)

SANITIZER_OPTION_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS")
SANITIZER_LOG_NAME = "san"  # the runtimes write <dir>/san.<pid>
_sanitizer_dirs: list[Path] = []  # every directory handed out, rescanned at the end
_sanitizer_reported: set[Path] = set()  # report files a failure already showed


def sanitizer_env_for(log_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The *_OPTIONS variables of ``base`` (default: os.environ) with
    ``log_path=<log_dir>/san`` appended (a later flag wins over an earlier one)."""
    base = os.environ if base is None else base
    path = str(log_dir / SANITIZER_LOG_NAME)
    if "'" in path:
        raise RuntimeError(f"sanitizer log directory {path!r} contains a quote")
    out = {}
    for var in SANITIZER_OPTION_VARS:
        old = base.get(var, "").strip(" :")
        # quoted: the runtimes split flags at spaces, commas and colons
        out[var] = f"{old}:log_path='{path}'" if old else f"log_path='{path}'"
    return out


def sanitizer_log_files(log_dir: Path) -> list[Path]:
    return sorted(log_dir.glob(SANITIZER_LOG_NAME + ".*"))


def sanitizer_failure(files: list[Path], who: str = "this test started", limit: int = 60) -> str:
    """A failure message for sanitizer report files: each file's key lines."""
    parts = []
    for f in files:
        try:
            lines = f.read_text("utf-8", "replace").splitlines()
        except OSError as e:
            lines = [f"(unreadable: {e})"]
        # a file the digest finds nothing in is still a report: show its start
        shown = sanitizer_digest(lines, limit) or lines[:limit]
        parts.append(f"--- {f} ({len(lines)} lines):\n" + "\n".join(shown))
    return (f"sanitizer report from {len(files)} process(es) {who} "
            f"(full reports in the files named):\n" + "\n".join(parts))


def _new_sanitizer_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="mcpfwd-san-"))
    _sanitizer_dirs.append(d)
    return d


# Processes started outside any test (module- or session-scoped fixtures) log here;
# the per-test fixture points the variables at its own directory while a test runs.
_SESSION_SANITIZER_DIR = _new_sanitizer_dir()
os.environ.update(sanitizer_env_for(_SESSION_SANITIZER_DIR))


@pytest.fixture(autouse=True)
def sanitizer_logs():
    """Per test: sanitizer reports go to a directory of the test's own; any report file
    there at teardown fails the test.  Autouse, so it is set up before and torn down after
    the test's other function fixtures (which stop the processes they started)."""
    log_dir = _new_sanitizer_dir()
    saved = {var: os.environ.get(var) for var in SANITIZER_OPTION_VARS}
    os.environ.update(sanitizer_env_for(log_dir))
    try:
        yield log_dir
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    files = sanitizer_log_files(log_dir)
    if files:
        _sanitizer_reported.update(files)
        pytest.fail(sanitizer_failure(files), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Reports no test has shown (written after their test ended, or by a process started
    outside any test) fail the run; directories without reports are removed."""
    late = []
    for d in _sanitizer_dirs:
        files = sanitizer_log_files(d)
        late += [f for f in files if f not in _sanitizer_reported]
        if not files:
            shutil.rmtree(d, ignore_errors=True)
    if late:
        msg = sanitizer_failure(late, "no test accounted for (reported after their test "
                                      "ended, or started outside any test)")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_sep("=", "sanitizer reports: the run fails", red=True)
            reporter.write_line(msg)
        else:
            print(msg, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --------------------------------------------------------------------------
# locating things


def find_mcpfwd() -> str:
    env = os.environ.get("MCPFWD_BIN")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            pytest.fail(f"MCPFWD_BIN={env!r} is not an executable file", pytrace=False)
        return env
    candidates = sorted(glob.glob(str(REPO_ROOT / "build" / "*" / "bin" / "mcpfwd")))
    dev = str(REPO_ROOT / "build" / "dev" / "bin" / "mcpfwd")
    if dev in candidates:  # the default preset first
        candidates.remove(dev)
        candidates.insert(0, dev)
    for cand in candidates:
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    found = shutil.which("mcpfwd")
    if found:
        return found
    pytest.fail(
        "mcpfwd binary not found: set MCPFWD_BIN, or build it so that "
        f"{REPO_ROOT}/build/<preset>/bin/mcpfwd exists, or put mcpfwd on PATH",
        pytrace=False,
    )
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def mcpfwd_bin() -> str:
    return find_mcpfwd()


@pytest.fixture(scope="session")
def fastmcp_server_cmd() -> list[str]:
    return [sys.executable, str(FASTMCP_SERVER)]


@pytest.fixture(scope="session")
def raw_server_cmd() -> list[str]:
    """argv of raw_server.py; append its options (see its docstring)."""
    return [sys.executable, str(RAW_SERVER)]


@pytest.fixture(scope="session")
def everything_cmd() -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH (needed for @modelcontextprotocol/server-everything)",
                    pytrace=False)
    if not EVERYTHING_JS.is_file():
        pytest.fail(f"{EVERYTHING_JS} missing: run `npm ci` in {REPO_ROOT / 'tests' / 'node'}",
                    pytrace=False)
    return [node, str(EVERYTHING_JS), "stdio"]


# --------------------------------------------------------------------------
# /proc helpers


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, starttime) of pid, or None when /proc/<pid> is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def children_of(pid: int) -> list[int]:
    """Direct children of pid (all threads), via /proc/<pid>/task/*/children or a /proc scan."""
    kids: set[int] = set()
    files = glob.glob(f"/proc/{pid}/task/*/children")
    if files:
        for path in files:
            try:
                with open(path) as f:
                    kids.update(int(x) for x in f.read().split())
            except OSError:
                pass
        return sorted(kids)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st is not None and st[1] == pid:
                kids.add(int(entry))
    return sorted(kids)


class Tracked:
    """A pid plus its start time, so pid reuse is never mistaken for survival."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        st = proc_stat(pid)
        self.starttime = st[2] if st else None

    def status(self) -> str:
        """'gone', 'zombie' or 'running'."""
        st = proc_stat(self.pid)
        if st is None or st[2] != self.starttime:
            return "gone"
        return "zombie" if st[0] == "Z" else "running"


def wait_gone(tracked: list[Tracked], timeout: float = 10.0) -> dict[int, str]:
    """Wait until every tracked process is gone; return {pid: status} of those that are not."""
    deadline = time.monotonic() + timeout
    while True:
        left = {t.pid: t.status() for t in tracked}
        left = {p: s for p, s in left.items() if s != "gone"}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def reap_leftovers(tracked: list[Tracked]) -> None:
    """Kill and reap (when adopted by us) anything still around. Teardown only."""
    me = os.getpid()
    for t in tracked:
        if t.status() == "running":
            try:
                os.kill(t.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    for t in tracked:
        while t.status() != "gone" and time.monotonic() < deadline:
            st = proc_stat(t.pid)
            if st is not None and st[1] == me and st[0] == "Z":
                try:
                    os.waitpid(t.pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            time.sleep(0.02)


# --------------------------------------------------------------------------
# the process wrapper


class ProxyProcess:
    """mcpfwd (or any command) with piped stdio and threaded, timed reads."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.pid = self.proc.pid
        self._out: queue.Queue[bytes | None] = queue.Queue()
        self._err_lines: list[str] = []
        self._err_cond = threading.Condition()
        self._err_done = False
        self.tracked: dict[int, Tracked] = {}
        self._t_out = threading.Thread(target=self._pump_out, daemon=True)
        self._t_err = threading.Thread(target=self._pump_err, daemon=True)
        self._t_out.start()
        self._t_err.start()

    # ---- readers
    def _pump_out(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, b""):
            self._out.put(line)
        self._out.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in iter(self.proc.stderr.readline, b""):
            text = line.decode("utf-8", "replace").rstrip("\n")
            with self._err_cond:
                self._err_lines.append(text)
                self._err_cond.notify_all()
        with self._err_cond:
            self._err_done = True
            self._err_cond.notify_all()

    # ---- writing
    def send(self, data: bytes | str, newline: bool = True) -> None:
        """Write one raw line (a newline is appended unless newline=False)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if newline:
            data += b"\n"
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send_json(self, obj: Any) -> None:
        self.send(json.dumps(obj, separators=(",", ":")))

    def close_stdin(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    # ---- reading stdout
    def read_line(self, timeout: float = 10.0) -> bytes:
        """Next stdout line, raw bytes including its '\\n'. Fails on timeout or EOF."""
        try:
            line = self._out.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no stdout line from mcpfwd within {timeout}s; stderr tail:\n{self.stderr_tail()}"
            ) from None
        if line is None:
            self._out.put(None)  # stay at EOF
            raise AssertionError(f"mcpfwd closed stdout (EOF); stderr tail:\n{self.stderr_tail()}")
        return line

    def read_json(self, timeout: float = 10.0) -> Any:
        line = self.read_line(timeout)
        assert line.endswith(b"\n")
        try:
            return json.loads(line)
        except ValueError:
            raise AssertionError(f"mcpfwd wrote a non-JSON stdout line: {line[:300]!r}") from None

    def read_until_id(self, msg_id: Any, timeout: float = 10.0) -> tuple[Any, list[Any]]:
        """Read messages until the response with ``msg_id``; return (it, the ones before it)."""
        deadline = time.monotonic() + timeout
        before = []
        while True:
            msg = self.read_json(max(0.01, deadline - time.monotonic()))
            if isinstance(msg, dict) and "method" not in msg and msg.get("id") == msg_id \
                    and type(msg.get("id")) is type(msg_id):
                return msg, before
            before.append(msg)

    def request(self, method: str, params: Any = None, msg_id: Any = 1, timeout: float = 10.0) -> Any:
        """Send a request, return its response (fails if any other message arrives first)."""
        req: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            req["params"] = params
        self.send_json(req)
        msg, before = self.read_until_id(msg_id, timeout)
        assert before == [], f"unexpected messages before response {msg_id}: {before}"
        return msg

    def expect_no_output(self, quiet: float = 0.3) -> None:
        """Assert nothing arrives on stdout for ``quiet`` seconds."""
        try:
            line = self._out.get(timeout=quiet)
        except queue.Empty:
            return
        if line is None:
            self._out.put(None)
            return
        raise AssertionError(f"unexpected stdout line from mcpfwd: {line[:300]!r}")

    def read_eof(self, timeout: float = 10.0) -> list[bytes]:
        """Read stdout until EOF; return the lines seen on the way."""
        deadline = time.monotonic() + timeout
        lines = []
        while True:
            try:
                line = self._out.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"mcpfwd stdout not closed within {timeout}s") from None
            if line is None:
                self._out.put(None)
                return lines
            lines.append(line)

    # ---- stderr
    def stderr_lines(self) -> list[str]:
        with self._err_cond:
            return list(self._err_lines)

    def stderr_tail(self, n: int = 30) -> str:
        return "\n".join(self.stderr_lines()[-n:])

    def wait_stderr(self, pattern: str, timeout: float = 10.0) -> str:
        """Wait for a stderr line matching regex ``pattern``; return it."""
        rx = re.compile(pattern)
        return self.wait_stderr_line(lambda line: rx.search(line) is not None,
                                     f"no stderr line matching {pattern!r}", timeout)

    def wait_stderr_line(self, done: Callable[[str], bool], what: str,
                         timeout: float = 10.0) -> str:
        """Wait until ``done(line)`` is true for a stderr line; return that line.

        ``done`` sees each line once, in order, so it may count (a stateful predicate)."""
        deadline = time.monotonic() + timeout
        seen = 0  # lines already looked at: each wake-up scans only the new ones, so the
        # reader thread, which needs this lock to append, is not held up by a long log
        with self._err_cond:
            while True:
                for line in self._err_lines[seen:]:
                    seen += 1
                    if done(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._err_done:
                    break
                self._err_cond.wait(remaining)
        raise AssertionError(f"{what} within {timeout}s; tail:\n{self.stderr_tail()}")

    def wait_stderr_accounted(self, prefixes: tuple[str, ...], n: int,
                              timeout: float = 20.0) -> None:
        """Wait until n stderr lines starting with one of ``prefixes`` are accounted for:
        relayed, or counted in mcpfwd's "N log lines dropped" warning. mcpfwd's standard error
        is a bounded queue, and a reader slower than a flood loses its last lines too, so
        waiting for the last line would not do."""
        count = 0

        def done(line: str) -> bool:
            nonlocal count
            if line.startswith(prefixes):
                count += 1
            elif m := LOG_DROPPED_RX.match(line):
                count += int(m.group(1))
            return count >= n

        self.wait_stderr_line(done, f"not all {n} stderr lines {prefixes} accounted for", timeout)

    def stats(self) -> dict[str, Any]:
        """The JSON of the `session stats:` line (call after exit)."""
        self._t_err.join(10)
        found = [ln for ln in self.stderr_lines() if ln.startswith(STATS_PREFIX)]
        assert len(found) == 1, (f"expected exactly one '{STATS_PREFIX}' line, got {len(found)}; "
                                 f"tail:\n{self.stderr_tail()}")
        return json.loads(found[0][len(STATS_PREFIX):])

    # ---- process
    def child_pids(self) -> list[int]:
        """mcpfwd's current children; each is remembered for leak checks."""
        kids = children_of(self.pid)
        for k in kids:
            if k not in self.tracked:
                self.tracked[k] = Tracked(k)
        return kids

    def wait_child(self, timeout: float = 10.0) -> int:
        """Wait until mcpfwd has exactly one child and return its pid."""
        deadline = time.monotonic() + timeout
        while True:
            kids = self.child_pids()
            if len(kids) == 1:
                return kids[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"expected one child of mcpfwd, found {kids}")
            time.sleep(0.02)

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for exit and return the exit status (negative: killed by signal)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"mcpfwd did not exit within {timeout}s; stderr tail:\n"
                                 f"{self.stderr_tail()}") from None
        self._t_err.join(10)
        self._t_out.join(10)
        return rc

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def assert_children_gone(self, timeout: float = 10.0) -> None:
        """Every child seen so far must be gone (not running, not an unreaped zombie)."""
        left = wait_gone(list(self.tracked.values()), timeout)
        descr = {pid: ("still running (leaked)" if s == "running" else "zombie (never reaped)")
                 for pid, s in left.items()}
        assert not left, f"upstream processes outlived mcpfwd: {descr}"

    def cleanup(self) -> None:
        """Kill whatever is left and close every pipe; never raises."""
        if self.proc.poll() is None:
            self.child_pids()
            self.proc.kill()
        self.close_stdin()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._t_out.join(5)
        self._t_err.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        reap_leftovers(list(self.tracked.values()))


@pytest.fixture
def start_proxy(mcpfwd_bin):
    """Factory: start_proxy(upstream_argv, *options) -> ProxyProcess running

    ``mcpfwd --stdio <options> -- <upstream_argv>``.  Everything it started is
    killed and reaped at teardown.
    """
    started: list[ProxyProcess] = []

    def start(upstream: list[str], *options: str, env: dict[str, str] | None = None) -> ProxyProcess:
        p = ProxyProcess([mcpfwd_bin, "--stdio", *options, "--", *upstream], env=env)
        started.append(p)
        return p

    yield start
    reports = []
    for p in started:
        p.cleanup()
        reports += sanitizer_digest(p.stderr_lines())
    if reports:
        pytest.fail("sanitizer report in mcpfwd's stderr:\n" + "\n".join(reports[:60]), pytrace=False)


@pytest.fixture
def run_process():
    """Factory: run_process(argv) -> ProxyProcess for an arbitrary command (cleaned up)."""
    started: list[ProxyProcess] = []

    def start(argv: list[str], env: dict[str, str] | None = None) -> ProxyProcess:
        p = ProxyProcess(argv, env=env)
        started.append(p)
        return p

    yield start
    reports = []
    for p in started:
        p.cleanup()
        reports += sanitizer_digest(p.stderr_lines())
    if reports:
        pytest.fail("sanitizer report in the stderr of a process the test ran:\n"
                    + "\n".join(reports[:60]), pytrace=False)


# --------------------------------------------------------------------------
# Streamable HTTP mode (mcpfwd --listen): see http_helpers.py


@pytest.fixture
def http_proxy(mcpfwd_bin):
    """Factory: http_proxy(server_argv, *options, env=None) -> HttpProxy running

    ``mcpfwd --listen 127.0.0.1:0 <options> -- <server_argv>``, with ``.url``
    (read from its first stdout line), ``.proc`` and ``.stderr_text()``.
    Teardown sends SIGTERM and requires exit status 0 within 20 s, no child
    process left behind and no sanitizer report in stderr.
    """
    from http_helpers import HttpProxy

    started: list[HttpProxy] = []

    def start(server: list[str], *options: str, env: dict[str, str] | None = None) -> HttpProxy:
        p = HttpProxy([mcpfwd_bin, "--listen", "127.0.0.1:0", *options, "--", *server], env=env)
        started.append(p)
        return p

    yield start
    from upstream_helpers import stop_listen_proxies

    problems = stop_listen_proxies(started)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------
# remote upstreams (mcpfwd ... --upstream URL): see upstream_helpers.py


@pytest.fixture
def listen_proxy(mcpfwd_bin):
    """Factory: listen_proxy(*args, env=None) -> HttpProxy running
    ``mcpfwd --listen 127.0.0.1:0 <args>`` (args name the upstream: ``--upstream URL ...``
    or ``-- SERVER...``).  Teardown as for ``http_proxy``."""
    from http_helpers import HttpProxy
    from upstream_helpers import stop_listen_proxies

    started: list[HttpProxy] = []

    def start(*args: str, env: dict[str, str] | None = None) -> HttpProxy:
        p = HttpProxy([mcpfwd_bin, "--listen", "127.0.0.1:0", *args], env=env)
        started.append(p)
        return p

    yield start
    problems = stop_listen_proxies(started)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def upstream_servers():
    """ServerPool shared by a module: .fastmcp(transport, *options) / .everything(mode)."""
    from upstream_helpers import ServerPool

    pool = ServerPool()
    yield pool
    pool.close()


@pytest.fixture
def fresh_upstreams():
    """ServerPool private to one test (e.g. to count its connections)."""
    from upstream_helpers import ServerPool

    pool = ServerPool()
    yield pool
    pool.close()


@pytest.fixture
def raw_upstream():
    """Factory: raw_upstream(**kw) -> upstream_helpers.RawUpstream, closed at teardown."""
    from upstream_helpers import RawUpstream

    started: list[RawUpstream] = []

    def start(**kw: Any) -> RawUpstream:
        up = RawUpstream(**kw)
        started.append(up)
        return up

    yield start
    for up in started:
        up.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """upstream_helpers.Pki: a CA, certificates signed by it, and an unrelated CA."""
    from upstream_helpers import make_pki

    return make_pki(tmp_path_factory.mktemp("pki"))
