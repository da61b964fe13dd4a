"""hookline: Airflow-compatible connections, secrets backends and hooks for any Python program.

The public API is small: :class:`Connection`, :func:`get_connection` / :func:`find_connection`,
:func:`get_variable` / :func:`set_variable` / :func:`delete_variable`, and the error tree. Hooks live in :mod:`hookline.hooks`, backends in :mod:`hookline.secrets`. Importing
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
    InvalidVariable,
    MissingDependency,
    PoolTimeout,
    RotationError,
    VariableNotFound,
    VariableUnresolved,
)
from hookline.resolve.default import find_connection, get_connection
from hookline.variables import delete_variable, get_variable, set_variable

__version__ = "0.2.0"

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
    "InvalidVariable",
    "MissingDependency",
    "PoolTimeout",
    "RotationError",
    "VariableNotFound",
    "VariableUnresolved",
    "__version__",
    "delete_variable",
    "find_connection",
    "get_connection",
    "get_variable",
    "set_variable",
]
