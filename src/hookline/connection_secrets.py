"""Which values of a :class:`~hookline.connection.Connection` are secrets, registered for masking.

Every place that obtains a connection (the secrets chain on a hit, a hook given a ``Connection``
directly, a write) calls :func:`register_connection_secrets`, so its password, sensitive extras and,
where needed, its whole URI are hidden by :mod:`hookline.masking` in every later log line, error and
output. Registering (or resolving) a connection switches default log masking on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookline import masking
from hookline.connection import Connection

__all__ = ["register_connection_secrets", "register_sensitive_values"]


def _register_values(value: Any) -> bool:
    if isinstance(value, str):
        masking.register(value)
        return bool(value)
    found = False
    if isinstance(value, Mapping):
        for item in value.values():
            found = _register_values(item) or found
    elif isinstance(value, list | tuple):
        for item in value:
            found = _register_values(item) or found
    return found


def register_sensitive_values(extra: Mapping[str, Any]) -> bool:
    """Register the values under sensitive keys of ``extra`` (nested too); True if any was found."""
    found = False
    for key, value in extra.items():
        if masking.is_sensitive_key(key):
            found = _register_values(value) or found
        elif isinstance(value, Mapping):
            found = register_sensitive_values(value) or found
    return found


def _uri_covered(conn: Connection) -> bool:
    """True when every secret of ``conn`` is registered in the form :meth:`Connection.get_uri` writes
    it (so masking the URI needs no entry of its own): a password long enough to be registered (it is
    written URL-quoted, a registered variant), no credentials inside the host, and sensitive extras,
    if any, only as flat string values long enough to be registered (written ``quote_plus``-ed,
    also a registered variant)."""
    password = conn.password
    if password is not None and (
        len(password) < masking.MIN_MASKED_LENGTH or not password.isascii()
    ):
        return False  # too short to be registered, or non-ASCII: not worth reasoning about
    host = conn.host
    if host and "@" in host:
        return False
    flat = True
    sensitive_short = False
    for key, value in conn.extra.items():
        if type(value) is not str:
            flat = False
        elif masking.is_sensitive_key(key) and (
            len(value) < masking.MIN_MASKED_LENGTH or not value.isascii()
        ):
            sensitive_short = True
    if flat and not sensitive_short:
        return True
    return not register_sensitive_values(conn.extra)


def register_connection_secrets(conn: Connection) -> None:
    """Register the secrets of ``conn`` for masking: the password (and its URL-quoted forms), the
    values of sensitive extras, and the whole URI when it holds any of them in a form the values
    alone would not mask (a password shorter than :data:`~hookline.masking.MIN_MASKED_LENGTH`,
    credentials in the host, sensitive extras written as ``__extra__`` JSON or too short).

    It also switches default log masking on (:func:`hookline.masking.activate`): whoever uses a
    connection may log through an SDK that sees credentials hookline never registered (ambient AWS
    credentials, an STS answer), and short secrets are hidden only by the key-based text rules.
    """
    masking.activate()
    has_secret = False
    if conn.password:
        masking.register(conn.password)
        has_secret = True
    if conn.extra and register_sensitive_values(conn.extra):
        has_secret = True
    if has_secret and not _uri_covered(conn):
        masking.register(conn.get_uri(), variants=False)
