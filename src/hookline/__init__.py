"""hookline: Airflow-compatible connections, secrets backends and hooks for any Python program.

The public API is small: :class:`Connection`, :func:`get_connection` / :func:`find_connection`, and the
error tree. Hooks live in :mod:`hookline.hooks`, backends in :mod:`hookline.secrets`. Importing
hookline loads no optional SDK.
"""

from __future__ import annotations

from hookline.connection import Connection
from hookline.exceptions import (
    AuthenticationFailed,
    BackendError,
    BackendPermissionDenied,
    BackendUnavailable,
    ConfigurationError,
    ConnectionNotFound,
    ConnectionUnresolved,
    DecryptionError,
    HookConnectionError,
    HookError,
    HooklineError,
    InvalidConnection,
    InvalidConnectionURI,
    MissingDependency,
    PoolTimeout,
    RotationError,
)
from hookline.resolve.default import find_connection, get_connection

__version__ = "0.1.0"

__all__ = [
    "AuthenticationFailed",
    "BackendError",
    "BackendPermissionDenied",
    "BackendUnavailable",
    "ConfigurationError",
    "Connection",
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
    "__version__",
    "find_connection",
    "get_connection",
]
