"""An mcpfwd proxy from Python's ctypes alone (no binding, no compiled extension).

Streamable HTTP in front of the MCP server command given as arguments, one server process per
session. It prints the URL and each session event, and stops when standard input ends.

    MCPFWD_LIB=/path/to/libmcpfwd.so.0 python3 ctypes_proxy.py python3 server.py
"""

import ctypes
import os
import sys

lib = ctypes.CDLL(os.environ.get("MCPFWD_LIB", "libmcpfwd.so.0"))  # CDLL releases the GIL in calls
EVENT_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
lib.mcpfwd_last_error.restype = ctypes.c_char_p
lib.mcpfwd_event_session_id.restype = ctypes.c_char_p
lib.mcpfwd_event_session_id.argtypes = [ctypes.c_void_p]
lib.mcpfwd_event_get_type.argtypes = [ctypes.c_void_p]
lib.mcpfwd_config_new.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
lib.mcpfwd_config_free.argtypes = [ctypes.c_void_p]
lib.mcpfwd_config_set_listen.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint16]
lib.mcpfwd_config_set_upstream_command.argtypes = [
    ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p)]
lib.mcpfwd_config_set_event_cb.argtypes = [ctypes.c_void_p, EVENT_CB]
lib.mcpfwd_proxy_new.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
lib.mcpfwd_proxy_start.argtypes = [ctypes.c_void_p]
lib.mcpfwd_proxy_url.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
lib.mcpfwd_proxy_free.argtypes = [ctypes.c_void_p]
lib.mcpfwd_string_free.argtypes = [ctypes.c_void_p]


def check(status: int, what: str) -> None:
    if status != 0:
        raise SystemExit(f"{what}: {lib.mcpfwd_last_error().decode()}")


NAMES = {1: "SESSION_OPENED", 2: "SESSION_CLOSED", 3: "SESSION_REJECTED", 4: "SESSION_READY"}


def on_event(ev: int, _user_data: int) -> int:  # on a proxy I/O thread (ctypes takes the GIL)
    kind = NAMES.get(lib.mcpfwd_event_get_type(ev), "?")
    print(f"event {kind} {lib.mcpfwd_event_session_id(ev).decode()}", flush=True)
    return 0


event_cb = EVENT_CB(on_event)  # keep it alive until the proxy is freed


def main() -> None:
    upstream = [a.encode() for a in sys.argv[1:]]
    cfg, proxy, url = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    check(lib.mcpfwd_config_new(ctypes.byref(cfg)), "config")
    check(lib.mcpfwd_config_set_listen(cfg, b"127.0.0.1", 0), "listen")
    check(lib.mcpfwd_config_set_upstream_command(
        cfg, len(upstream), (ctypes.c_char_p * len(upstream))(*upstream)), "upstream")
    check(lib.mcpfwd_config_set_event_cb(cfg, event_cb), "event callback")
    check(lib.mcpfwd_proxy_new(ctypes.byref(proxy), cfg), "proxy")
    lib.mcpfwd_config_free(cfg)
    try:
        check(lib.mcpfwd_proxy_start(proxy), "start")
        check(lib.mcpfwd_proxy_url(proxy, ctypes.byref(url)), "url")
        print(f"listening {ctypes.string_at(url).decode()}", flush=True)
        lib.mcpfwd_string_free(url)
        sys.stdin.read()  # serve until standard input ends
    finally:
        lib.mcpfwd_proxy_free(proxy)  # stops, joins the threads: no callback after this
    print("closed", flush=True)


if __name__ == "__main__":
    main()
