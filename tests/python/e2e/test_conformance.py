"""The official MCP conformance suite (``@modelcontextprotocol/conformance``), software we did
not write, run against our fixture server directly and through ``mcpfwd --listen``.

tests/conformance/run.py does the work (see its docstring and docs/conformance.md): it serves
tests/conformance/fixture_server.py (``mcp`` 2.x) on its own Streamable HTTP endpoint, runs
one requirement set against it, serves the same fixture as a stdio upstream of mcpfwd, runs
the set again, and compares. Each test here is one requirement set; it fails when a scenario
or a check that passes directly does not pass through mcpfwd, when the fixture itself no
longer passes a scored scenario directly (the comparison would then prove nothing), or when
mcpfwd does not exit cleanly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, assert_no_sanitizer_report

RUN = REPO_ROOT / "tests" / "conformance" / "run.py"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("suite", ["2026-07-28", "2025-11-25"])
def test_every_conformance_scenario_that_passes_directly_passes_through_mcpfwd(
        mcpfwd_bin: str, suite: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    # Both upstream kinds: the fixture as a stdio server of mcpfwd, and (--http-upstream)
    # mcpfwd in front of the fixture's own Streamable HTTP endpoint. The session era also
    # through the bridge (--bridge): the fixture serving the stateless era only, refusing
    # initialize, in front of which what passes against the dual-era fixture must pass too.
    bridge = ["--bridge"] if suite == "2025-11-25" else []
    r = subprocess.run([sys.executable, str(RUN), "--suite", suite, "--mcpfwd", mcpfwd_bin,
                        "--http-upstream", *bridge, "--out", str(tmp_path / "out"),
                        "--json", str(report)],
                       capture_output=True, text=True, timeout=870)
    for leg in ("mcpfwd-stdio", "mcpfwd-http", *(["mcpfwd-bridge"] if bridge else [])):
        assert_no_sanitizer_report((tmp_path / "out" / suite / f"{leg}.stderr").read_bytes())
    assert r.returncode == 0, f"exit status {r.returncode}\n{r.stdout}\n{r.stderr}"
    rows = json.loads(report.read_text())[suite]
    # The fixture is what makes the comparison mean something: every scored scenario
    # passes against it directly (warnings allowed: SHOULD-level checks).
    not_passing = [row for row in rows if row["scored"] == "yes"
                   and not row["direct"].startswith(("pass", "warn"))]
    assert not not_passing, json.dumps(not_passing, indent=1)
