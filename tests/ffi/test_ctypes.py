"""The C ABI from Python's ctypes alone: no binding layer, no compiled extension.

    MCPFWD_LIB=build/release/lib/libmcpfwd.so.0 python3 -m pytest tests/ffi/test_ctypes.py

A proxy in this process, in front of tests/servers/fastmcp_server.py, with the MCP Python SDK
client (tests/bindings/mcp_client.py) as a subprocess: the session appears in the list and in the
events, is closed, the proxy stops; then no library thread and no child process is left, and the
user_data destructor ran once, after the last callback.

ctypes callbacks (CFUNCTYPE) take the GIL themselves when the library calls them from its I/O
threads, and CDLL releases the GIL around every foreign call, so mcpfwd_proxy_free (which joins
those threads) cannot deadlock against a callback waiting for the GIL.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = os.environ.get("PYTHON", sys.executable)
SERVER = [PYTHON, str(ROOT / "tests" / "servers" / "fastmcp_server.py")]
CLIENT = ROOT / "tests" / "bindings" / "mcp_client.py"
LIB_TAG = "mcpfwd-lib"

# ------------------------------------------------------------------ the C API


class Config(ctypes.Structure):
    pass  # opaque


class ProxyHandle(ctypes.Structure):
    pass  # opaque


class EventHandle(ctypes.Structure):
    pass  # opaque


EVENT_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(EventHandle), ctypes.c_void_p)
LOG_CB = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char),
                          ctypes.c_size_t, ctypes.c_void_p)
FREE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
EVENT_NAMES = {1: "SESSION_OPENED", 2: "SESSION_CLOSED", 3: "SESSION_REJECTED", 4: "SESSION_READY"}


def load() -> ctypes.CDLL:
    path = os.environ.get("MCPFWD_LIB") or str(ROOT / "build" / "release" / "lib" / "libmcpfwd.so.0")
    lib = ctypes.CDLL(path)
    cfg_p, proxy_p, ev_p = ctypes.POINTER(Config), ctypes.POINTER(ProxyHandle), ctypes.POINTER(EventHandle)
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "mcpfwd_last_error": (ctypes.c_char_p, []),
        "mcpfwd_string_free": (None, [ctypes.c_void_p]),
        "mcpfwd_version_string": (ctypes.c_char_p, []),
        "mcpfwd_config_new": (ctypes.c_int, [ctypes.POINTER(cfg_p)]),
        "mcpfwd_config_free": (None, [cfg_p]),
        "mcpfwd_config_set_listen": (ctypes.c_int, [cfg_p, ctypes.c_char_p, ctypes.c_uint16]),
        "mcpfwd_config_set_downstream_stdio": (ctypes.c_int, [cfg_p, ctypes.c_int, ctypes.c_int]),
        "mcpfwd_config_set_upstream_command":
            (ctypes.c_int, [cfg_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p)]),
        "mcpfwd_config_set_io_threads": (ctypes.c_int, [cfg_p, ctypes.c_uint32]),
        "mcpfwd_config_set_event_cb": (ctypes.c_int, [cfg_p, EVENT_CB]),
        "mcpfwd_config_set_log_cb": (ctypes.c_int, [cfg_p, LOG_CB]),
        "mcpfwd_config_set_user_data": (ctypes.c_int, [cfg_p, ctypes.c_void_p, FREE_CB]),
        "mcpfwd_proxy_new": (ctypes.c_int, [ctypes.POINTER(proxy_p), cfg_p]),
        "mcpfwd_proxy_start": (ctypes.c_int, [proxy_p]),
        "mcpfwd_proxy_stop": (ctypes.c_int, [proxy_p]),
        "mcpfwd_proxy_free": (None, [proxy_p]),
        "mcpfwd_proxy_url": (ctypes.c_int, [proxy_p, ctypes.POINTER(ctypes.c_void_p)]),
        "mcpfwd_proxy_sessions_json": (ctypes.c_int, [proxy_p, ctypes.POINTER(ctypes.c_void_p)]),
        "mcpfwd_proxy_close_session": (ctypes.c_int, [proxy_p, ctypes.c_char_p]),
        "mcpfwd_event_get_type": (ctypes.c_int, [ev_p]),
        "mcpfwd_event_session_id": (ctypes.c_char_p, [ev_p]),
        "mcpfwd_event_detail": (ctypes.POINTER(ctypes.c_char), [ev_p, ctypes.POINTER(ctypes.c_size_t)]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


LIB = load()


class McpfwdError(Exception):
    def __init__(self, status: int, what: str) -> None:
        # the thread-local message, read right after the failing call on this thread
        self.status = status
        self.message = LIB.mcpfwd_last_error().decode()
        super().__init__(f"{what}: status {status}: {self.message}")


def ok(status: int, what: str) -> None:
    if status != 0:
        raise McpfwdError(status, what)


def owned(fn: Callable[..., int], *args: Any) -> str:
    """An owned string: copied into Python, then released with mcpfwd_string_free."""
    out = ctypes.c_void_p()
    ok(fn(*args, ctypes.byref(out)), fn.__name__)
    try:
        return ctypes.string_at(out.value).decode()
    finally:
        LIB.mcpfwd_string_free(out)


def argv(items: list[str]) -> Any:
    arr = (ctypes.c_char_p * len(items))(*[a.encode() for a in items])
    return len(items), arr


# ------------------------------------------------------------------- /proc


def threads_named(name: str) -> list[str]:
    out = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                if f.read().strip() == name:
                    out.append(tid)
        except OSError:
            pass
    return out


def children() -> set[int]:
    kids: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                kids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return kids


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(")") + 2:].split()[0] != "Z"


def wait_until(what: str, timeout: float, cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def start_tagged(proxy: Any) -> int:
    """mcpfwd_proxy_start on a thread named LIB_TAG: the library's threads inherit the name."""
    comm = "/proc/thread-self/comm"
    with open(comm) as f:
        old = f.read().strip()
    with open(comm, "w") as f:
        f.write(LIB_TAG)
    try:
        return int(LIB.mcpfwd_proxy_start(proxy))
    finally:
        with open(comm, "w") as f:
            f.write(old)


class Client:
    """tests/bindings/mcp_client.py: the MCP Python SDK client, as a subprocess."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen([PYTHON, str(CLIENT), url], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    def expect(self, prefix: str) -> str:
        try:
            line = self.lines.get(timeout=30)
        except queue.Empty:
            raise AssertionError(f"client: no {prefix!r} line in 30 s; stderr: {''.join(self.err)}") from None
        assert line is not None and line.startswith(prefix + " "), (line, "".join(self.err))
        return line[len(prefix) + 1:]

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for s in (self.proc.stdout, self.proc.stderr):
            if s is not None:
                s.close()


# ------------------------------------------------------------------- tests


@pytest.mark.timeout(90)
def test_session_through_the_proxy_with_ctypes_alone() -> None:
    assert not children(), children()
    assert not threads_named(LIB_TAG)
    events: queue.Queue[tuple[str, str, str]] = queue.Queue()
    event_threads: set[int] = set()
    log_lines: list[str] = []
    freed: list[int] = []
    after_free: list[str] = []

    def on_event(ev: Any, _ud: Any) -> int:
        if freed:
            after_free.append("event")
        event_threads.add(threading.get_native_id())
        n = ctypes.c_size_t()
        d = LIB.mcpfwd_event_detail(ev, ctypes.byref(n))
        events.put((EVENT_NAMES[LIB.mcpfwd_event_get_type(ev)],
                    LIB.mcpfwd_event_session_id(ev).decode(),
                    ctypes.string_at(d, n.value).decode()))
        return 0

    def on_log(level: int, source: bytes, text: Any, n: int, _ud: Any) -> None:
        if freed:
            after_free.append("log")
        log_lines.append(f"{level} {source.decode()}: {ctypes.string_at(text, n).decode()}")

    # The CFUNCTYPE objects must outlive every callback: they live until the test ends.
    event_cb, log_cb, free_cb = EVENT_CB(on_event), LOG_CB(on_log), FREE_CB(lambda _ud: freed.append(1))

    cfg = ctypes.POINTER(Config)()
    ok(LIB.mcpfwd_config_new(ctypes.byref(cfg)), "config_new")
    ok(LIB.mcpfwd_config_set_listen(cfg, b"127.0.0.1", 0), "set_listen")
    ok(LIB.mcpfwd_config_set_upstream_command(cfg, *argv(SERVER)), "set_upstream_command")
    ok(LIB.mcpfwd_config_set_io_threads(cfg, 2), "set_io_threads")
    ok(LIB.mcpfwd_config_set_event_cb(cfg, event_cb), "set_event_cb")
    ok(LIB.mcpfwd_config_set_log_cb(cfg, log_cb), "set_log_cb")
    ok(LIB.mcpfwd_config_set_user_data(cfg, None, free_cb), "set_user_data")
    proxy = ctypes.POINTER(ProxyHandle)()
    ok(LIB.mcpfwd_proxy_new(ctypes.byref(proxy), cfg), "proxy_new")
    LIB.mcpfwd_config_free(cfg)
    client = None
    try:
        ok(start_tagged(proxy), "proxy_start")
        lib_threads = set(threads_named(LIB_TAG))
        assert len(lib_threads) == 2, lib_threads
        url = owned(LIB.mcpfwd_proxy_url, proxy)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp"), url

        client = Client(url)
        sid = client.expect("session")
        assert client.expect("echo") == "héllo ✓ 🎉"
        kind, eid, _ = events.get(timeout=30)
        assert (kind, eid) == ("SESSION_OPENED", sid)
        kind, eid, detail = events.get(timeout=30)  # detail: the protocol version the server chose
        assert (kind, eid) == ("SESSION_READY", sid) and detail, (kind, eid, detail)
        sessions = json.loads(owned(LIB.mcpfwd_proxy_sessions_json, proxy))
        assert [s["id"] for s in sessions] == [sid], sessions
        upstream = sessions[0]["upstream"]["pid"]
        assert alive(upstream) and upstream in children()

        ok(LIB.mcpfwd_proxy_close_session(proxy, sid.encode()), "close_session")
        kind, eid, detail = events.get(timeout=30)
        assert (kind, eid) == ("SESSION_CLOSED", sid) and detail, (kind, eid, detail)
        wait_until("the session server to be reaped", 10, lambda: not alive(upstream))
        with pytest.raises(McpfwdError) as info:
            ok(LIB.mcpfwd_proxy_close_session(proxy, sid.encode()), "close_session again")
        assert info.value.status == -7 and sid in info.value.message  # MCPFWD_E_NOT_FOUND

        client.send("call")
        client.expect("call-error")
        assert client.finish() == 0, "".join(client.err)
        ok(LIB.mcpfwd_proxy_stop(proxy), "proxy_stop")
    finally:
        if client is not None:
            client.kill()
        LIB.mcpfwd_proxy_free(proxy)  # joins the I/O threads; releases the GIL meanwhile
    assert freed == [1], "user_data destructor must run exactly once"
    assert not after_free, after_free
    assert event_threads <= {int(t) for t in lib_threads}, (event_threads, lib_threads)
    assert not threads_named(LIB_TAG), "library threads left after mcpfwd_proxy_free"
    assert not children(), f"child processes left: {children()}"
    assert any("listening on" in line for line in log_lines), log_lines
    assert events.empty()


@pytest.mark.timeout(30)
def test_bad_upstream_command_fails_start_with_io_error() -> None:
    bad = "mcpfwd-no-such-command-for-tests"
    r, w = os.pipe()
    cfg = ctypes.POINTER(Config)()
    ok(LIB.mcpfwd_config_new(ctypes.byref(cfg)), "config_new")
    ok(LIB.mcpfwd_config_set_downstream_stdio(cfg, r, w), "set_downstream_stdio")
    ok(LIB.mcpfwd_config_set_upstream_command(cfg, *argv([bad, "--flag"])), "set_upstream_command")
    proxy = ctypes.POINTER(ProxyHandle)()
    ok(LIB.mcpfwd_proxy_new(ctypes.byref(proxy), cfg), "proxy_new")
    LIB.mcpfwd_config_free(cfg)
    try:
        with pytest.raises(McpfwdError) as info:
            ok(start_tagged(proxy), "proxy_start")
        assert info.value.status == -4  # MCPFWD_E_IO
        assert bad in info.value.message
    finally:
        LIB.mcpfwd_proxy_free(proxy)
        os.close(r)
        os.close(w)
    assert not threads_named(LIB_TAG)
    assert not children()


def test_bad_values_fail_on_the_setter_with_a_message() -> None:
    cfg = ctypes.POINTER(Config)()
    ok(LIB.mcpfwd_config_new(ctypes.byref(cfg)), "config_new")
    try:
        with pytest.raises(McpfwdError) as info:
            ok(LIB.mcpfwd_config_set_upstream_command(cfg, 0, None), "set_upstream_command")
        assert info.value.status == -1 and info.value.message  # MCPFWD_E_INVALID_ARG
        proxy = ctypes.POINTER(ProxyHandle)()
        with pytest.raises(McpfwdError) as info:
            ok(LIB.mcpfwd_proxy_new(ctypes.byref(proxy), cfg), "proxy_new")
        assert info.value.status == -1 and not proxy  # *out is NULL on failure
    finally:
        LIB.mcpfwd_config_free(cfg)
    assert LIB.mcpfwd_version_string().decode().count(".") == 2
