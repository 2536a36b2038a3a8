"""Low-level binding of the mcpfwd C API (python/src/module.cpp). Use the mcpfwd package."""

from typing import Callable, List, Optional, Sequence, TypedDict

__version__: str

STATUS_OK: int
STATUS_INVALID_ARG: int
STATUS_NOMEM: int
STATUS_STATE: int
STATUS_IO: int
STATUS_TIMEOUT: int
STATUS_CALLBACK: int
STATUS_NOT_FOUND: int
STATUS_INTERNAL: int

LOG_TRACE: int
LOG_DEBUG: int
LOG_INFO: int
LOG_WARN: int
LOG_ERROR: int
LOG_OFF: int

EVENT_SESSION_OPENED: int
EVENT_SESSION_CLOSED: int
EVENT_SESSION_REJECTED: int
EVENT_SESSION_READY: int

CLIENT_TO_SERVER: int
SERVER_TO_CLIENT: int

UPSTREAM_AUTO: int
UPSTREAM_STREAMABLE_HTTP: int
UPSTREAM_SSE: int

def version() -> str: ...
def version_number() -> int: ...
def status_str(status: int) -> str: ...

OPTION_FLAG: int
OPTION_INTEGER: int
OPTION_DURATION_MS: int
OPTION_BYTES: int
OPTION_STRING: int
OPTION_LIST: int
OPTION_CHOICE: int
OPTION_ADDRESS: int

MODE_STDIO: int
MODE_HTTP: int
MODE_COMMAND: int
MODE_URL: int

class _OptionRow(TypedDict):
    name: str
    type: int
    default: str
    help: str
    metavar: str
    choices: List[str]
    modes: int
    cli_flag: str
    min: int
    max: int

def options() -> List[_OptionRow]: ...

class _Config:
    def __init__(self) -> None: ...
    def set(self, name: str, value: str) -> None: ...
    def set_upstream_command(self, argv: Sequence[str]) -> None: ...
    def set_downstream_stdio(self, in_fd: int, out_fd: int) -> None: ...

class _Proxy:
    def __init__(
        self,
        *,
        config: _Config,
        on_log: Optional[Callable[[int, str, str], object]] = None,
        on_event: Optional[Callable[[int, str, str], object]] = None,
        on_message: Optional[Callable[[int, str, bytes], object]] = None,
    ) -> None: ...
    def start(self) -> str: ...
    def stop(self) -> None: ...
    def wait(self, timeout_ms: int = -1) -> Optional[int]: ...
    def stats_json(self) -> str: ...
    def url(self) -> str: ...
    def sessions_json(self) -> str: ...
    def session_json(self, id: str) -> str: ...
    def status_text(self) -> str: ...
    def metrics_text(self) -> str: ...
    def admin_url(self) -> str: ...
    def reload(self) -> None: ...
    def close_session(self, id: str) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
