"""The exception hierarchy: one subclass of mcpfwd.Error per failing status of the C API.

The native module raises these through :func:`error_from_status`, with the text of
``mcpfwd_last_error()`` read right after the failing call.
"""

from __future__ import annotations

from typing import ClassVar

from ._enums import Status

__all__ = [
    "CallbackError",
    "Error",
    "InternalError",
    "InvalidArgumentError",
    "IoError",
    "NoMemoryError",
    "NotFoundError",
    "StateError",
    "WaitTimeoutError",
    "error_from_status",
]


class Error(RuntimeError):
    """A call into the mcpfwd library failed.

    Attributes:
        status: the library's status code (a :class:`Status`, or a plain int for a code this
            version of the package does not know).
        message: the library's description of what went wrong.
    """

    default_status: ClassVar[Status] = Status.INTERNAL
    status: Status | int
    message: str

    def __init__(self, message: str = "", status: Status | int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is None:
            status = self.default_status
        try:
            self.status = Status(status)
        except ValueError:
            self.status = int(status)

    def __reduce__(self) -> tuple[type[Error], tuple[str, int]]:
        return (type(self), (self.message, int(self.status)))


class InvalidArgumentError(Error, ValueError):
    """A parameter was missing, empty or out of range (``MCPFWD_E_INVALID_ARG``)."""

    default_status = Status.INVALID_ARG


class NoMemoryError(Error, MemoryError):
    """Memory allocation failed (``MCPFWD_E_NOMEM``)."""

    default_status = Status.NOMEM


class StateError(Error):
    """The call is not valid in the proxy's state (``MCPFWD_E_STATE``), e.g. starting twice."""

    default_status = Status.STATE


class IoError(Error, OSError):
    """An operating-system call failed, e.g. the upstream command was not found
    (``MCPFWD_E_IO``)."""

    default_status = Status.IO


class WaitTimeoutError(Error, TimeoutError):
    """A wait ran out of time (``MCPFWD_E_TIMEOUT``)."""

    default_status = Status.TIMEOUT


class CallbackError(Error):
    """A user callback asked to abort (``MCPFWD_E_CALLBACK``)."""

    default_status = Status.CALLBACK


class NotFoundError(Error, KeyError):
    """No such session: an unknown id, or one that has finished (``MCPFWD_E_NOT_FOUND``)."""

    default_status = Status.NOT_FOUND

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class InternalError(Error):
    """A bug in mcpfwd (``MCPFWD_E_INTERNAL``): please report it with the message."""

    default_status = Status.INTERNAL


_BY_STATUS: dict[int, type[Error]] = {
    cls.default_status: cls
    for cls in (
        InvalidArgumentError,
        NoMemoryError,
        StateError,
        IoError,
        WaitTimeoutError,
        CallbackError,
        NotFoundError,
        InternalError,
    )
}


def error_from_status(status: int, message: str) -> Error:
    """The exception for a failing status (:class:`Error` itself for an unknown code)."""
    cls = _BY_STATUS.get(status, Error)
    return cls(message, status)
