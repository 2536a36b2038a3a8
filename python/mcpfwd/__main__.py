"""The ``mcpfwd`` console script: replaces this process with the native CLI shipped in the
package (``mcpfwd/bin/mcpfwd``), passing the arguments through. Also ``python -m mcpfwd``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

__all__ = ["cli_path", "main"]


def cli_path() -> Path:
    """The path of the native ``mcpfwd`` executable inside the installed package."""
    return Path(__file__).resolve().parent / "bin" / "mcpfwd"


def main() -> NoReturn:
    exe = cli_path()
    if not os.access(exe, os.X_OK):
        sys.stderr.write(f"mcpfwd: the native command-line program is missing: {exe}\n")
        sys.exit(127)
    # Nothing buffered may be lost, nor written twice, when the process image is replaced.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(exe, ["mcpfwd", *sys.argv[1:]])


if __name__ == "__main__":
    main()
