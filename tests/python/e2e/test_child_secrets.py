"""Secrets mcpfwd reads from its environment never reach a spawned server.

``--auth-token-env VAR`` and ``--upstream-header-env NAME=VAR`` name variables holding
secrets. mcpfwd reads them once, at start, then removes them from its own environment
(and blanks their values in its initial environment block, which /proc/<pid>/environ shows
to any process of the same user), so no server it spawns inherits them or can read them
from its parent. Independently of the CLI, the core never passes the configured auth token
to a child: an environment entry whose value is the token is left out, whoever set it (an
embedder that read the token from its own environment, or an explicit --env).

The server (tests/servers/env_server.py) answers every request with its environment and
with what it can read of /proc/<its parent>/environ.

Combinations that spawn a server: --listen and --stdio with a server command, each with
--auth-token-env (in --stdio mode the option has no effect, but the variable is still
withheld). --upstream-header-env needs --upstream URL, where nothing is spawned: with a
server command it is refused before anything starts; with a URL its variable is still
scrubbed from mcpfwd's own environment.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from http_helpers import McpHttp, http_request, init_request

from conftest import SERVERS_DIR

ENV_SERVER = [sys.executable, str(SERVERS_DIR / "env_server.py")]
pytestmark = pytest.mark.timeout(60)


def secret_env(**names: str) -> dict[str, str]:
    return dict(os.environ, **names)


def assert_nowhere(result: dict, secret: str, names: list[str]) -> None:
    """Neither the child's environment nor its parent's /proc environ has the secret."""
    env = result["env"]
    for name in names:
        assert name not in env, f"${name} reached the server"
    leaked = [k for k, v in env.items() if secret in v]
    assert not leaked, f"the secret reached the server in {leaked}"
    parent = result["parent_environ"]
    assert parent is not None, "the server could not read its parent's environ (test setup)"
    assert not [e for e in parent if secret in e], \
        "the secret is readable in /proc/<mcpfwd>/environ"
    for name in names:
        assert not [e for e in parent if e.startswith(name + "=") and e != name + "="], parent


def proc_environ(pid: int) -> bytes:
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read()


# ------------------------------------------------------------------ the CLI


def test_listen_auth_token_env_never_reaches_the_server(http_proxy):
    token = "tok-" + secrets.token_hex(16)
    p = http_proxy(ENV_SERVER, "--auth-token-env", "MCPFWD_T_TOKEN",
                   env=secret_env(MCPFWD_T_TOKEN=token, MCPFWD_T_PLAIN="visible"))
    s = McpHttp(p.url, headers={"Authorization": f"Bearer {token}"})
    r = s.initialize(initialized=False)
    result = r.response()["result"]
    assert result["env"].get("MCPFWD_T_PLAIN") == "visible"  # the rest is inherited
    assert_nowhere(result, token, ["MCPFWD_T_TOKEN"])
    # the token still guards the proxy
    assert http_request(p.url, "POST", init_request(), {"Accept": "application/json, "
                        "text/event-stream"}).status == 401
    assert s.call("ping")["result"]["env"].get("MCPFWD_T_TOKEN") is None


def test_stdio_refuses_auth_token_env_and_spawns_nothing(mcpfwd_bin):
    """A bearer token guards an HTTP listener; in stdio mode the option is an error (one rule
    for options of another mode), before anything is spawned."""
    token = "tok-" + secrets.token_hex(16)
    r = subprocess.run([mcpfwd_bin, "--stdio", "--auth-token-env", "MCPFWD_T_TOKEN", "--",
                        *ENV_SERVER], capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL, env=secret_env(MCPFWD_T_TOKEN=token))
    assert r.returncode == 2, r.stderr
    assert "applies only to HTTP mode" in r.stderr
    assert token not in r.stderr + r.stdout


def test_auth_token_is_withheld_even_when_set_explicitly(http_proxy):
    token = "tok-" + secrets.token_hex(16)
    p = http_proxy(ENV_SERVER, "--auth-token-env", "MCPFWD_T_TOKEN",
                   "--env", f"MCPFWD_T_COPY={token}", "--env", "MCPFWD_T_OTHER=kept",
                   env=secret_env(MCPFWD_T_TOKEN=token))
    s = McpHttp(p.url, headers={"Authorization": f"Bearer {token}"})
    result = s.initialize(initialized=False).response()["result"]
    assert result["env"].get("MCPFWD_T_OTHER") == "kept"
    assert_nowhere(result, token, ["MCPFWD_T_TOKEN", "MCPFWD_T_COPY"])


@pytest.mark.parametrize("mode", ["--stdio", "--listen"])
def test_upstream_header_env_is_scrubbed_from_mcpfwd(run_process, raw_upstream, mcpfwd_bin, mode):
    """No child with --upstream URL, but a process of the same user could read the
    value in /proc/<mcpfwd>/environ: it is gone from there once mcpfwd runs, and still
    goes upstream in its header."""
    up = raw_upstream()
    key = "key-" + secrets.token_hex(16)
    token = "tok-" + secrets.token_hex(16)
    listen = ["127.0.0.1:0"] if mode == "--listen" else []
    token_args = ["--auth-token-env", "MCPFWD_T_TOKEN"] if mode == "--listen" else []
    p = run_process([mcpfwd_bin, mode, *listen, *token_args,
                     "--upstream-header-env", "X-Api-Key=MCPFWD_T_KEY", "--upstream", up.url],
                    env=secret_env(MCPFWD_T_KEY=key, MCPFWD_T_TOKEN=token))
    if mode == "--listen":
        url = p.read_line(15).decode().strip()
        s = McpHttp(url, headers={"Authorization": f"Bearer {token}"})
        s.initialize()
    else:
        p.send_json(init_request())
        assert "result" in p.read_json(15)
    assert up.wait_for(lambda r: r.rpc_method == "initialize").header("X-Api-Key") == key
    env = proc_environ(p.pid)
    assert key.encode() not in env
    if token_args:
        assert token.encode() not in env


def test_upstream_header_env_with_a_server_command_is_refused(mcpfwd_bin):
    r = subprocess.run([mcpfwd_bin, "--stdio", "--upstream-header-env", "X-Key=MCPFWD_T_KEY",
                        "--", *ENV_SERVER], capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL, env=secret_env(MCPFWD_T_KEY="k"))
    assert r.returncode == 2, r.stderr
    assert "need --upstream URL" in r.stderr


# ------------------------------------------------------------------ the core (C ABI)


def load_lib(mcpfwd_bin: str) -> ctypes.CDLL:
    path = os.environ.get("MCPFWD_LIB") or str(Path(mcpfwd_bin).resolve().parent.parent / "lib"
                                              / "libmcpfwd.so.0")
    if not Path(path).is_file():
        pytest.fail(f"{path} missing: set MCPFWD_LIB to the libmcpfwd.so.0 that goes with "
                    f"{mcpfwd_bin}", pytrace=False)
    lib = ctypes.CDLL(path)
    vp = ctypes.c_void_p
    lib.mcpfwd_config_new.argtypes = [ctypes.POINTER(vp)]
    lib.mcpfwd_config_free.argtypes = [vp]
    lib.mcpfwd_config_set_listen.argtypes = [vp, ctypes.c_char_p, ctypes.c_uint16]
    lib.mcpfwd_config_set_auth_token.argtypes = [vp, ctypes.c_char_p]
    lib.mcpfwd_config_set_upstream_env.argtypes = [vp, ctypes.c_char_p, ctypes.c_char_p]
    lib.mcpfwd_config_set_shutdown_grace_ms.argtypes = [vp, ctypes.c_uint32]
    lib.mcpfwd_config_set_upstream_command.argtypes = [vp, ctypes.c_size_t,
                                                       ctypes.POINTER(ctypes.c_char_p)]
    lib.mcpfwd_proxy_new.argtypes = [ctypes.POINTER(vp), vp]
    lib.mcpfwd_proxy_start.argtypes = [vp]
    lib.mcpfwd_proxy_stop.argtypes = [vp]
    lib.mcpfwd_proxy_wait.argtypes = [vp, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.mcpfwd_proxy_free.argtypes = [vp]
    lib.mcpfwd_proxy_url.argtypes = [vp, ctypes.POINTER(ctypes.c_void_p)]
    lib.mcpfwd_string_free.argtypes = [vp]
    lib.mcpfwd_last_error.restype = ctypes.c_char_p
    return lib


@pytest.mark.inprocess
def test_core_withholds_the_auth_token_from_children(mcpfwd_bin):
    """An embedder that takes the token from its own environment (and leaves it there)
    sets it with mcpfwd_config_set_auth_token: the child still never sees it."""
    lib = load_lib(mcpfwd_bin)
    token = "tok-" + secrets.token_hex(16)
    os.environ["MCPFWD_T_EMBED_TOKEN"] = token
    cfg = ctypes.c_void_p()
    proxy = ctypes.c_void_p()
    try:
        assert lib.mcpfwd_config_new(ctypes.byref(cfg)) == 0
        argv = (ctypes.c_char_p * len(ENV_SERVER))(*[a.encode() for a in ENV_SERVER])
        for st in (lib.mcpfwd_config_set_listen(cfg, b"127.0.0.1", 0),
                   lib.mcpfwd_config_set_auth_token(
                       cfg, os.environ["MCPFWD_T_EMBED_TOKEN"].encode()),
                   lib.mcpfwd_config_set_upstream_command(cfg, len(ENV_SERVER), argv),
                   lib.mcpfwd_config_set_upstream_env(cfg, b"MCPFWD_T_EMBED_COPY",
                                                      token.encode()),
                   lib.mcpfwd_config_set_upstream_env(cfg, b"MCPFWD_T_EMBED_OTHER", b"kept"),
                   lib.mcpfwd_config_set_shutdown_grace_ms(cfg, 500),
                   lib.mcpfwd_proxy_new(ctypes.byref(proxy), cfg)):
            assert st == 0, lib.mcpfwd_last_error()
        assert lib.mcpfwd_proxy_start(proxy) == 0, lib.mcpfwd_last_error()
        url_p = ctypes.c_void_p()
        assert lib.mcpfwd_proxy_url(proxy, ctypes.byref(url_p)) == 0
        url = ctypes.string_at(url_p).decode()
        lib.mcpfwd_string_free(url_p)
        s = McpHttp(url, headers={"Authorization": f"Bearer {token}"})
        result = s.initialize(initialized=False).response()["result"]
        env = result["env"]
        assert env.get("MCPFWD_T_EMBED_OTHER") == "kept"
        assert "MCPFWD_T_EMBED_TOKEN" not in env and "MCPFWD_T_EMBED_COPY" not in env
        assert not [k for k, v in env.items() if v == token], json.dumps(env)[:500]
        lib.mcpfwd_proxy_stop(proxy)
        code = ctypes.c_int(-1)
        assert lib.mcpfwd_proxy_wait(proxy, 20000, ctypes.byref(code)) == 0
    finally:
        lib.mcpfwd_proxy_free(proxy)
        lib.mcpfwd_config_free(cfg)
        del os.environ["MCPFWD_T_EMBED_TOKEN"]
