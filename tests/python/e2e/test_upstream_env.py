"""The spawned server's environment and working directory (--env, --unset-env,
--clear-env, --cwd; the same through Python's Proxy(upstream_env=, upstream_clear_env=,
upstream_cwd=)).

The server (tests/servers/env_server.py) answers every request with its cwd and its
whole environment, so each test sees exactly what mcpfwd gave the process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SERVERS_DIR, assert_no_sanitizer_report

ENV_SERVER = str(SERVERS_DIR / "env_server.py")
pytestmark = pytest.mark.timeout(60)


def ask(proxy) -> dict:
    reply = proxy.request("ping", msg_id=7)
    assert reply["id"] == 7, reply
    return reply["result"]


def test_env_is_inherited_and_changed_in_order(start_proxy, tmp_path):
    env = dict(os.environ, MCPFWD_T_KEEP="kept", MCPFWD_T_DROP="dropped", MCPFWD_T_OVER="old")
    p = start_proxy([sys.executable, ENV_SERVER], "--env", "MCPFWD_T_NEW=a=b c",
                    "--unset-env", "MCPFWD_T_DROP", "--env", "MCPFWD_T_OVER=first",
                    "--env", "MCPFWD_T_OVER=second", env=env)
    got = ask(p)["env"]
    assert got["MCPFWD_T_KEEP"] == "kept"          # inherited
    assert got["MCPFWD_T_NEW"] == "a=b c"          # the value keeps its own '=' and spaces
    assert "MCPFWD_T_DROP" not in got              # removed
    assert got["MCPFWD_T_OVER"] == "second"        # later changes win
    assert list(got).count("MCPFWD_T_OVER") == 1


def test_clear_env_starts_empty(start_proxy):
    env = dict(os.environ, MCPFWD_T_SECRET="do-not-leak")
    # The interpreter by absolute path: with an empty environment there is no PATH in the
    # child, but mcpfwd looks the command up in its own PATH anyway.
    p = start_proxy([Path(sys.executable).name, ENV_SERVER], "--clear-env",
                    "--env", "ONLY=this", env=dict(env, PATH=f"{Path(sys.executable).parent}:"
                                                   f"{env.get('PATH', '')}"))
    got = ask(p)["env"]
    assert "MCPFWD_T_SECRET" not in got
    assert got.get("ONLY") == "this"
    assert "PATH" not in got or got["PATH"] != env.get("PATH")


def test_cwd_sets_the_working_directory_and_finds_relative_commands(start_proxy, tmp_path):
    script = tmp_path / "server.py"
    script.write_text(Path(ENV_SERVER).read_text())
    p = start_proxy([sys.executable, "./server.py"], "--cwd", str(tmp_path))
    assert ask(p)["cwd"] == str(tmp_path)


@pytest.mark.parametrize("args, message", [
    (["--cwd", "/nonexistent/mcpfwd-test"], "No such file or directory"),
    (["--env", "NOEQUALS"], "--env needs NAME=VALUE"),
    (["--env", "=value"], "--env needs NAME=VALUE"),
    (["--unset-env", "A=B"], "--unset-env needs a NAME"),
])
def test_bad_environment_options_are_usage_errors(mcpfwd_bin, args, message):
    r = subprocess.run([mcpfwd_bin, "--stdio", *args, "--", sys.executable, ENV_SERVER],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert_no_sanitizer_report(r.stderr)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr


def test_cwd_that_is_a_file_is_refused(mcpfwd_bin, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = subprocess.run([mcpfwd_bin, "--stdio", "--cwd", str(f), "--", sys.executable, ENV_SERVER],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert_no_sanitizer_report(r.stderr)
    assert r.returncode == 2
    assert "not a directory" in r.stderr


def test_environment_options_need_a_command(mcpfwd_bin):
    r = subprocess.run([mcpfwd_bin, "--listen", "127.0.0.1:0", "--env", "A=B",
                        "--upstream", "http://127.0.0.1:1/mcp"],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert_no_sanitizer_report(r.stderr)
    assert r.returncode == 2
    assert "need a server command" in r.stderr


@pytest.mark.inprocess
def test_python_upstream_env_and_cwd(tmp_path):
    import mcpfwd

    os.environ["MCPFWD_T_PY_DROP"] = "x"
    try:
        r_fd, to_proxy = os.pipe()
        from_proxy, w_fd = os.pipe()
        proxy = mcpfwd.Proxy(upstream=[sys.executable, ENV_SERVER], stdio=(r_fd, w_fd),
                             upstream_env={"MCPFWD_T_PY": "yes", "MCPFWD_T_PY_DROP": None},
                             upstream_cwd=tmp_path)
        with proxy:
            os.close(r_fd)
            os.close(w_fd)
            os.write(to_proxy, b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
            with os.fdopen(from_proxy, "rb") as replies:
                import json
                got = json.loads(replies.readline())["result"]
            os.close(to_proxy)
            assert proxy.wait(timeout=15) == 0
        assert got["cwd"] == str(tmp_path)
        assert got["env"]["MCPFWD_T_PY"] == "yes"
        assert "MCPFWD_T_PY_DROP" not in got["env"]
    finally:
        del os.environ["MCPFWD_T_PY_DROP"]
    with pytest.raises(mcpfwd.InvalidArgumentError, match="--env .*need a server command"):
        mcpfwd.Proxy(upstream="http://127.0.0.1:1/mcp", listen=("127.0.0.1", 0),
                      upstream_env={"A": "B"})
    with pytest.raises(mcpfwd.InvalidArgumentError, match="working directory"):
        mcpfwd.Proxy(upstream=[sys.executable, ENV_SERVER], listen=("127.0.0.1", 0),
                     upstream_cwd=tmp_path / "missing")
