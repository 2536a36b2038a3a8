"""The options table is the one definition of every option: docs/options.md and the CLI's
--help are derived from it, and this test fails when either falls behind.

It loads libmcpfwd in-process (ctypes) to walk the table: marked ``inprocess`` so the
sanitizer passes, whose library needs its own runtime loaded first, skip it.
"""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
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
