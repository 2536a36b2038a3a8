"""The options table is the one definition of every option: docs/options.md, the CLI's
--help and the keyword arguments of mcpfwd.Proxy are derived from it, and these tests fail
when one falls behind. (Java and Go each check their binding the same way:
bindings/java's ProxyTest and bindings/go's TestEveryOptionIsSettableByName.)

It loads libmcpfwd in-process (ctypes, and the mcpfwd package) to walk the table: marked
``inprocess`` so the sanitizer passes, whose library needs its own runtime loaded first, skip
it.
"""
from __future__ import annotations

import inspect
import os
import pathlib
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tools"))
import options_doc  # noqa: E402

pytestmark = pytest.mark.inprocess


def lib_next_to(mcpfwd_bin: str) -> str:
    lib = pathlib.Path(mcpfwd_bin).resolve().parent.parent / "lib" / "libmcpfwd.so.0"
    if not lib.is_file():
        pytest.fail(f"{lib} missing: the library built with {mcpfwd_bin}")
    return str(lib)


def test_docs_list_every_option_as_the_table_defines_it(mcpfwd_bin):
    opts = options_doc.options(lib_next_to(mcpfwd_bin))
    assert len(opts) >= 30, opts
    doc = options_doc.DOC.read_text()
    table = options_doc.render(opts)
    assert table in doc, ("docs/options.md is out of date with the options table: run "
                          "python3 tools/options_doc.py --write")


def test_help_shows_every_cli_flag_with_its_default(mcpfwd_bin):
    text = subprocess.run([mcpfwd_bin, "--help"], capture_output=True, text=True,
                          timeout=10).stdout
    for o in options_doc.options(lib_next_to(mcpfwd_bin)):
        if o["cli_flag"]:
            assert o["cli_flag"] in text, o["name"]
            if o["default"] and o["type"] not in (1, 6):
                assert f"[default {o['default']}]" in text.replace("\n" + " " * 32, " "), o["name"]


# Options the CLI sets another way than by a flag of their own (a secret is read from the
# environment, never from the command line, where ps shows it): the flag that sets each.
CLI_OTHER_WAY = {"auth-token": "--auth-token-env", "admin-token": "--admin-token-env"}


def test_every_option_reaches_the_cli(mcpfwd_bin):
    """No option of the table is missing from the CLI: each has a flag of its own (checked
    above), or is one of CLI_OTHER_WAY, whose flag sets that very option (the library names it
    when it refuses it in a mode it does not apply to)."""
    text = subprocess.run([mcpfwd_bin, "--help"], capture_output=True, text=True,
                          timeout=10).stdout
    for o in options_doc.options(lib_next_to(mcpfwd_bin)):
        if o["cli_flag"]:
            continue
        assert o["name"] in CLI_OTHER_WAY, f"option {o['name']} has no CLI flag"
        flag = CLI_OTHER_WAY[o["name"]]
        assert f"{flag} " in text, flag
        if o["modes"] & 1:  # MCPFWD_MODE_STDIO: refused nowhere in stdio mode
            continue
        r = subprocess.run([mcpfwd_bin, "--stdio", flag, "MCPFWD_T_SECRET", "--", "true"],
                           capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL,
                           env={**os.environ, "MCPFWD_T_SECRET": "x"})
        assert r.returncode == 2 and f"--{o['name']} applies only to" in r.stderr, r.stderr


def test_every_option_is_settable_by_name_and_refused_out_of_bounds(mcpfwd_bin):
    """The generic setter parses by type and applies the table's bounds; an unknown name
    fails. Checked through the CLI, which uses it for every table option."""
    for o in options_doc.options(lib_next_to(mcpfwd_bin)):
        if not o["cli_flag"] or o["type"] not in (2, 3, 4) or o["min"] == 0:
            continue
        r = subprocess.run([mcpfwd_bin, "--stdio", o["cli_flag"], str(o["min"] - 1), "--", "true"],
                           capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        assert r.returncode == 2 and f"must be at least {o['min']}" in r.stderr, (o, r.stderr)
    r = subprocess.run([mcpfwd_bin, "--stdio", "--no-such-option", "1", "--", "true"],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "unknown option" in r.stderr


# --------------------------------------------------------------- mcpfwd.Proxy (Python)

def python_options() -> list[Any]:
    import mcpfwd
    return mcpfwd.options()


def test_the_package_reads_the_same_table(mcpfwd_bin):
    table = options_doc.options(lib_next_to(mcpfwd_bin))
    assert [(o.name, int(o.type), o.default, o.cli_flag, o.min, o.max, int(o.modes))
            for o in python_options()] == [
        (o["name"], o["type"], o["default"], o["cli_flag"], o["min"], o["max"], o["modes"])
        for o in table]


def test_every_option_is_a_keyword_argument_of_proxy():
    import mcpfwd
    params = inspect.signature(mcpfwd.Proxy.__init__).parameters
    missing = [(o.name, o.keyword) for o in python_options() if o.keyword not in params]
    assert not missing, f"options of the table without a keyword argument of Proxy: {missing}"
    for o in python_options():
        assert params[o.keyword].kind is inspect.Parameter.KEYWORD_ONLY, o.keyword
        # typed (mypy --strict checks the annotations themselves)
        assert params[o.keyword].annotation is not inspect.Parameter.empty, o.keyword
        # the docstring documents it
        assert f"{o.keyword}:" in (mcpfwd.Proxy.__doc__ or ""), o.keyword


def sample(o: Any, tmp: pathlib.Path) -> Any:
    """A valid Python value for option o's keyword argument."""
    import mcpfwd
    config_file = tmp / "mcpfwd.json"  # a config file that changes nothing
    config_file.write_text("{}")
    by_keyword = {
        "config": config_file,
        "listen": ("127.0.0.1", 0),
        "upstream": "http://127.0.0.1:1/mcp",
        "upstream_env": {"MCPFWD_T": "1", "MCPFWD_T_GONE": None},
        "upstream_headers": {"X-Test": "1"},
        "upstream_cwd": tmp,
        "upstream_ca_file": "/etc/ssl/certs/ca-certificates.crt",
        "log_level": mcpfwd.LogLevel.DEBUG,
        "upstream_transport": "sse",
        "auth_token": "secret",
        "stateless_key": "header:X-Tenant",
        "admin": ("127.0.0.1", 0),
    }
    if o.keyword in by_keyword:
        return by_keyword[o.keyword]
    T = mcpfwd.OptionType
    if o.type is T.FLAG:
        return True
    if o.type is T.INTEGER:
        return max(o.min, 2)
    if o.type is T.BYTES:
        return max(o.min, 4096)
    if o.type is T.DURATION_MS:
        return timedelta(milliseconds=max(o.min, 1500))
    if o.type is T.LIST:
        return ["*"]
    if o.type is T.CHOICE:
        return o.choices[-1]
    return "x"


# Options that need another one set with them: the keyword arguments given alongside.
NEEDS = {"admin_token": {"admin": ("127.0.0.1", 0)}}


def test_every_option_reaches_the_library_through_its_keyword(tmp_path):
    """Each keyword argument, given a valid value, is accepted by the library in a mode its
    option applies to; a number below the table's minimum is refused by the library, naming
    the keyword and the option. (The table's modes decide where each is tried: an option
    tried in the wrong mode fails, so the modes are checked too.)"""
    import mcpfwd
    M = mcpfwd.Mode
    for o in python_options():
        if o.keyword in ("listen", "upstream"):
            continue  # every Proxy below gives them
        kwargs: dict[str, Any] = {o.keyword: sample(o, tmp_path), **NEEDS.get(o.keyword, {})}
        kwargs["upstream"] = ([sys.executable, "-c", "pass"] if o.modes & M.COMMAND
                              else "http://127.0.0.1:1/mcp")
        kwargs["listen" if o.modes & M.HTTP else "stdio"] = (
            ("127.0.0.1", 0) if o.modes & M.HTTP else (0, 1))
        mcpfwd.Proxy(**kwargs).close()
        # and a downstream it does not apply to, if there is one: refused, naming it
        if not o.modes & M.STDIO:
            kwargs.pop("listen")
            for companion in NEEDS.get(o.keyword, {}):
                kwargs.pop(companion)
            with pytest.raises(mcpfwd.InvalidArgumentError, match=f"--{o.name} "):
                mcpfwd.Proxy(stdio=(0, 1), **kwargs)
        if o.type in (mcpfwd.OptionType.INTEGER, mcpfwd.OptionType.BYTES) and o.min > 0:
            with pytest.raises(mcpfwd.InvalidArgumentError,
                               match=f"^{o.keyword}: --{o.name} must be at least {o.min}"):
                mcpfwd.Proxy(upstream=kwargs["upstream"], listen=("127.0.0.1", 0),
                             **{o.keyword: o.min - 1})
