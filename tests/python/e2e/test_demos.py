"""The README's demo programs run and succeed (they are documentation)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, assert_no_sanitizer_report

EXAMPLES = REPO_ROOT / "docs" / "examples" / "python"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("script,args", [("demo_stdio.py", []), ("demo_http.py", ["4"]),
                                         ("demo_remote.py", []), ("demo_eras.py", [])])
def test_demo_runs(mcpfwd_bin, script, args):
    env = {**os.environ, "MCPFWD_BIN": mcpfwd_bin}
    r = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env,
                       capture_output=True, text=True, timeout=80)
    assert_no_sanitizer_report(r.stderr, script)  # e.g. demo_remote's `mcpfwd --stdio`
    assert r.returncode == 0, f"{script} failed:\n{r.stdout}\n{r.stderr}"
    if script == "demo_http.py":
        assert "4 distinct upstream pids for 4 sessions" in r.stdout, r.stdout
    if script == "demo_eras.py":
        assert "Client(mode='2026-07-28' ) spoke 2026-07-28" in r.stdout, r.stdout
        assert "stateless (key shared)" in r.stdout, r.stdout
    if script == "demo_remote.py":
        assert "the remote server saw 5 sessions opened" in r.stdout, r.stdout
