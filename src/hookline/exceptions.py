"""The whole hookline error tree.

Every error hookline raises on purpose is a :class:`HooklineError`. Messages say what was tried and the
limits in force, never a secret: callers build them from redacted values, and SDK errors are chained
with ``raise ... from exc`` so the original stays available as ``__cause__``.

This module imports nothing from hookline, so every other module can import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AuthenticationFailed",
    "BackendError",
    "BackendPermissionDenied",
    "BackendUnavailable",
    "ConfigurationError",
    "ConnectionNotFound",
    "ConnectionUnresolved",
    "DecryptionError",
    "HookConnectionError",
    "HookError",
    "HooklineError",
    "InvalidConnection",
    "InvalidConnectionURI",
    "MissingDependency",
    "PoolTimeout",
    "RotationError",
]


class HooklineError(Exception):
    """Base class of every error hookline raises on purpose.

    Errors pickle with their attributes (``conn_id``, ``uri``, ``step``, ...) whatever their
    constructor's signature, so they cross process boundaries (multiprocessing, Celery) intact.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


def _rebuild_error(
    cls: type[HooklineError], args: tuple[Any, ...], state: dict[str, Any]
) -> HooklineError:
    error = cls.__new__(cls, *args)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigurationError(HooklineError, ValueError):
    """A setting is missing, malformed or contradicts another one."""


class InvalidConnection(HooklineError, ValueError):
    """A connection's fields, JSON form or conn_id are invalid.

    Attributes:
        conn_id: The id of the connection being built, when known.
    """

    def __init__(self, message: str, *, conn_id: str | None = None) -> None:
        super().__init__(message)
        self.conn_id = conn_id


class InvalidConnectionURI(InvalidConnection):
    """A connection URI cannot be parsed.

    Attributes:
        uri: The offending URI with its password replaced by ``***`` (never the raw text).
    """

    def __init__(self, message: str, *, uri: str, conn_id: str | None = None) -> None:
        super().__init__(message, conn_id=conn_id)
        self.uri = uri


class ConnectionNotFound(HooklineError, KeyError):
    """No backend in the chain holds the connection.

    ``str()`` gives the whole message with the lookup trace (``KeyError`` would otherwise quote it).

    Attributes:
        conn_id: The id that was looked up.
        trace: What each backend asked said (a ``LookupTrace`` when it came from a chain), or None.
    """

    def __init__(self, conn_id: str, trace: Any = None, *, message: str | None = None) -> None:
        self.conn_id = conn_id
        self.trace = trace
        if message is None:
            message = f"connection {conn_id!r} is not defined"
            if trace is not None:
                message += f"; backends asked:\n{trace}"
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


class BackendError(HooklineError):
    """A secrets backend failed to answer.

    Attributes:
        backend: The name of the backend that failed.
    """

    def __init__(self, message: str, *, backend: str = "") -> None:
        super().__init__(message)
        self.backend = backend


class BackendUnavailable(BackendError):
    """A retryable backend failure: network, timeout, 5xx or throttling. The chain falls through."""


class ConnectionUnresolved(ConnectionNotFound, BackendUnavailable):
    """Nobody that answered holds the connection, but some backend could not answer.

    The connection may be defined in a backend that was down, so this is both a
    :class:`ConnectionNotFound` (a ``KeyError``) and a :class:`BackendUnavailable`: absent and
    failed stay distinct, and code that retries on unavailability retries here too. It is never
    negative-cached.

    Attributes:
        backend: The names of the backends that could not answer, comma-separated.
    """

    def __init__(
        self, conn_id: str, trace: Any = None, *, message: str | None = None, backend: str = ""
    ) -> None:
        super().__init__(conn_id, trace, message=message)
        self.backend = backend


class BackendPermissionDenied(BackendError, PermissionError):
    """The backend refused access. Authoritative: the chain stops here."""


class DecryptionError(HooklineError):
    """A stored value cannot be decrypted with the configured Fernet keys.

    Attributes:
        conn_id: The connection whose value could not be decrypted.
        key_ids: Fingerprints of the keys that were tried (never the keys).
    """

    def __init__(
        self, message: str, *, conn_id: str | None = None, key_ids: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.conn_id = conn_id
        self.key_ids = tuple(key_ids)


class HookError(HooklineError):
    """A hook failed to talk to its system.

    Attributes:
        conn_id: The connection the hook was built from.
    """

    def __init__(self, message: str, *, conn_id: str | None = None) -> None:
        super().__init__(message)
        self.conn_id = conn_id


class HookConnectionError(HookError):
    """The system could not be reached (refused, unreachable, timed out)."""


class AuthenticationFailed(HookError):
    """The system rejected the credentials. Hooks refresh the connection once and retry."""


class PoolTimeout(HooklineError):
    """No pooled connection became free in time; the message states size, overflow and timeout.

    Attributes:
        conn_id: The connection whose pool is exhausted, when known.
    """

    def __init__(self, message: str, *, conn_id: str | None = None) -> None:
        super().__init__(message)
        self.conn_id = conn_id


class RotationError(HooklineError):
    """A credential rotation step failed.

    Attributes:
        step: One of ``"create"``, ``"set"``, ``"test"``, ``"finish"``.
    """

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message)
        self.step = step


class MissingDependency(HooklineError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, *, purpose: str = "") -> None:
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"{package} is required{what}; install it with: pip install 'hookline[{extra}]'"
        )
        self.package = package
        self.extra = extra
