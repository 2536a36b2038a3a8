"""The options table of the library (``mcpfwd_option_next``), as Python sees it.

Every option of mcpfwd is one row of one table in the library; :class:`mcpfwd.Proxy` takes
each as a keyword argument and sets it through the library's generic setter
(``mcpfwd_config_set``), so a value is checked in one place, the library. This module reads the
table and names the keyword argument of each option.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

from . import _mcpfwd

__all__ = ["Mode", "Option", "OptionType", "keyword_of", "options"]


class OptionType(enum.IntEnum):
    """The type of an option's value (``mcpfwd_option_type``)."""

    FLAG = _mcpfwd.OPTION_FLAG
    INTEGER = _mcpfwd.OPTION_INTEGER
    #: Milliseconds in the library; seconds (or a timedelta) in :class:`mcpfwd.Proxy`.
    DURATION_MS = _mcpfwd.OPTION_DURATION_MS
    BYTES = _mcpfwd.OPTION_BYTES
    STRING = _mcpfwd.OPTION_STRING
    #: Repeatable: each value given is one entry.
    LIST = _mcpfwd.OPTION_LIST
    CHOICE = _mcpfwd.OPTION_CHOICE
    ADDRESS = _mcpfwd.OPTION_ADDRESS


class Mode(enum.IntFlag):
    """Where an option applies (``MCPFWD_MODE_*``): a downstream and an upstream kind. An
    option given for a proxy it does not apply to makes :class:`mcpfwd.Proxy` raise
    :class:`mcpfwd.InvalidArgumentError`."""

    STDIO = _mcpfwd.MODE_STDIO
    HTTP = _mcpfwd.MODE_HTTP
    COMMAND = _mcpfwd.MODE_COMMAND
    URL = _mcpfwd.MODE_URL


# The keyword arguments of mcpfwd.Proxy whose name is not the option's own (with "-" as "_",
# and without the "-ms" of a duration, which Proxy takes in seconds).
_KEYWORDS = {
    "allow-origin": "allowed_origins",
    "allow-host": "allowed_hosts",
    "env": "upstream_env",
    "unset-env": "upstream_env",
    "clear-env": "upstream_clear_env",
    "cwd": "upstream_cwd",
    "upstream-header": "upstream_headers",
}


def keyword_of(name: str, type: OptionType) -> str:
    """The keyword argument of :class:`mcpfwd.Proxy` that sets the option ``name``."""
    if name in _KEYWORDS:
        return _KEYWORDS[name]
    if type is OptionType.DURATION_MS and name.endswith("-ms"):
        name = name[: -len("-ms")]
    return name.replace("-", "_")


@dataclass(frozen=True)
class Option:
    """One option of the library's table (``docs/options.md`` lists them all).

    Attributes:
        name: its name in the library and on the command line (``"max-sessions"``).
        keyword: the keyword argument of :class:`mcpfwd.Proxy` that sets it.
        type: how its value is read.
        default: the library's default, as text (``""`` when it has none).
        help: one line saying what it does.
        metavar: a placeholder for its value (``"N"``, ``"MS"``, ``"HOST:PORT"``).
        choices: the accepted values of a :attr:`OptionType.CHOICE`; else empty.
        modes: where it applies.
        cli_flag: its command-line flag (``"--max-sessions"``), or ``""``.
        min, max: the bounds of a number (milliseconds for a duration).
    """

    name: str
    keyword: str
    type: OptionType
    default: str
    help: str
    metavar: str
    choices: tuple[str, ...]
    modes: Mode
    cli_flag: str
    min: int
    max: int


@functools.lru_cache(maxsize=None)
def _table() -> tuple[Option, ...]:
    out = []
    for row in _mcpfwd.options():
        kind = OptionType(row["type"])
        out.append(
            Option(
                name=row["name"],
                keyword=keyword_of(row["name"], kind),
                type=kind,
                default=row["default"],
                help=row["help"],
                metavar=row["metavar"],
                choices=tuple(row["choices"]),
                modes=Mode(row["modes"]),
                cli_flag=row["cli_flag"],
                min=row["min"],
                max=row["max"],
            )
        )
    return tuple(out)


def options() -> list[Option]:
    """Every option of the library, in the table's order."""
    return list(_table())
