"""Low-level binding of the mcpfwd C API (python/src/module.cpp). Use the mcpfwd package."""

from typing import Callable, Optional, Sequence, Tuple

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

class _Proxy:
    def __init__(
        self,
        *,
        upstream: Sequence[str],
        stdio: Optional[Tuple[int, int]] = None,
        listen: Optional[Tuple[str, int]] = None,
        max_message_bytes: Optional[int] = None,
        shutdown_grace_ms: Optional[int] = None,
        log_level: Optional[int] = None,
        on_log: Optional[Callable[[int, str, str], object]] = None,
        max_sessions: Optional[int] = None,
        idle_timeout_ms: Optional[int] = None,
        request_timeout_ms: Optional[int] = None,
        allowed_origins: Optional[Sequence[str]] = None,
        auth_token: Optional[str] = None,
        io_threads: Optional[int] = None,
        on_event: Optional[Callable[[int, str, str], object]] = None,
        on_message: Optional[Callable[[int, str, bytes], object]] = None,
        drain_timeout_ms: Optional[int] = None,
        upstream_url: Optional[str] = None,
        upstream_transport: Optional[int] = None,
        upstream_headers: Optional[Sequence[Tuple[str, str]]] = None,
        forward_authorization: Optional[bool] = None,
        upstream_ca_file: Optional[str] = None,
        upstream_insecure: Optional[bool] = None,
        upstream_pool_max: Optional[int] = None,
        upstream_connect_timeout_ms: Optional[int] = None,
        upstream_timeout_ms: Optional[int] = None,
        upstream_env: Optional[Sequence[Tuple[str, Optional[str]]]] = None,
        upstream_clear_env: Optional[bool] = None,
        upstream_cwd: Optional[str] = None,
    ) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def wait(self, timeout_ms: int = -1) -> Optional[int]: ...
    def stats_json(self) -> str: ...
    def url(self) -> str: ...
    def sessions_json(self) -> str: ...
    def session_json(self, id: str) -> str: ...
    def status_text(self) -> str: ...
    def close_session(self, id: str) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
