"""The public API is pinned: adding or removing a name is a deliberate change to this list."""

from __future__ import annotations

import subprocess
import sys

import hookline

EXPECTED_ALL = [
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


def test_public_all_is_pinned_and_sorted() -> None:
    """`hookline.__all__` is exactly the pinned list, sorted, and every name resolves."""
    assert hookline.__all__ == EXPECTED_ALL
    assert sorted(hookline.__all__) == hookline.__all__
    for name in hookline.__all__:
        assert hasattr(hookline, name)


def test_import_loads_no_optional_sdk() -> None:
    """`import hookline` must not import any optional SDK or driver (it must stay fast)."""
    code = (
        "import sys, hookline, hookline.hooks, hookline.secrets; "
        "heavy = [m for m in ('hvac','boto3','botocore','google.cloud','psycopg','pymysql',"
        "'sqlalchemy','httpx','typer','rich','pandas') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
