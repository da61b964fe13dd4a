"""Field validation and normalization for :class:`hookline.Connection` (internals).

Checks for conn_ids, text fields, ports and extras, and the deep-frozen read-only view of extras that
registers values under sensitive keys with :mod:`hookline.masking` on the way. Every check raises
:class:`~hookline.exceptions.InvalidConnection` with a message that never holds a secret.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from hookline import _uri, masking
from hookline.exceptions import InvalidConnection
from hookline.masking import is_sensitive_key

CONN_ID_MAX_LEN: Final = 250
# Airflow's sanitize_conn_id pattern: word characters and # ! ( ) - . : / \
_CONN_ID = re.compile(r"[\w#!()\-.:/\\]+")
# Empty, or a URI scheme (plus "_", which Airflow's own types use): what get_uri can write and read back.
_CONN_TYPE = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-_]*)?")
# Ids already validated (a set lookup instead of a regex); bounded small, since at 10,000 ids the
# set's table alone would be 0.5 MB, and a miss costs only the regex.
_VALID_CONN_IDS_MAX: Final = 2048
_valid_conn_ids: set[str] = set()
_VALID_CONN_TYPES_MAX: Final = 256
_valid_conn_types: set[str] = set()


def validate_conn_id(conn_id: str) -> str:
    """Return ``conn_id`` if it is a valid connection id, else raise :class:`InvalidConnection`.

    Valid ids are 1 to 250 characters of letters, digits, ``_ # ! ( ) - . : / \\`` (Airflow's rule;
    Airflow silently turns an invalid id into None, hookline refuses it).
    """
    if type(conn_id) is str and conn_id in _valid_conn_ids:
        return conn_id
    if not isinstance(conn_id, str):
        raise InvalidConnection(f"conn_id must be a str, not {type(conn_id).__name__}")
    if not conn_id:
        raise InvalidConnection("conn_id is empty; it needs 1 to 250 characters")
    if len(conn_id) > CONN_ID_MAX_LEN:
        raise InvalidConnection(
            f"conn_id {conn_id[:40]!r}... is {len(conn_id)} characters long; "
            f"the limit is {CONN_ID_MAX_LEN}",
            conn_id=conn_id[:40] + "...",
        )
    if _CONN_ID.fullmatch(conn_id) is None:
        bad = sorted({ch for ch in conn_id if _CONN_ID.fullmatch(ch) is None})
        raise InvalidConnection(
            f"conn_id {conn_id!r} has forbidden characters {''.join(bad)!r}; allowed are letters, "
            "digits and _ # ! ( ) - . : / \\",
            conn_id=conn_id,
        )
    if len(_valid_conn_ids) < _VALID_CONN_IDS_MAX:
        _valid_conn_ids.add(conn_id)
    return conn_id


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    return value


def _check_text(name: str, value: Any, conn_id: str | None) -> None:
    if not isinstance(value, str):
        raise InvalidConnection(
            f"{name} must be a str or None, not {type(value).__name__}", conn_id=conn_id
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidConnection(
                f"{name} contains a lone surrogate, which is not valid Unicode text",
                conn_id=conn_id,
            ) from None


def _check_port(port: Any, conn_id: str | None) -> int | None:
    if port is None:
        return None
    if type(port) is not int:
        raise InvalidConnection(
            f"port must be an int 0-65535 or None, not {type(port).__name__}", conn_id=conn_id
        )
    if not 0 <= port <= 65535:
        raise InvalidConnection(f"port {port} is outside 0-65535", conn_id=conn_id)
    return port


def _coerce_port(port: Any, conn_id: str | None) -> int | None:
    """Airflow's JSON port rule: an int or a numeric string; ``""`` and null mean no port."""
    if port is None or port == "":
        return None
    if isinstance(port, str):
        text = port.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not (digits.isascii() and digits.isdigit()):
            raise InvalidConnection(
                f"port {port[:20]!r} is not an integer 0-65535", conn_id=conn_id
            )
        port = int(text)
    elif type(port) is float and port.is_integer():
        port = int(port)
    elif type(port) is not int:
        shown = f" {port!r}" if type(port) is float else ""
        raise InvalidConnection(
            f"port{shown} must be an integer 0-65535 or a numeric string, "
            f"not a {type(port).__name__}",
            conn_id=conn_id,
        )
    return _check_port(port, conn_id)


def _load_extra(extra: Any, conn_id: str | None) -> tuple[dict[str, Any], str | None]:
    """Validate ``extra`` (a JSON object, as a mapping or as text); return it and its JSON text."""
    if isinstance(extra, str):
        if not extra.strip():
            return {}, None
        try:
            value = _uri.load_json(extra)
        except (ValueError, RecursionError) as exc:
            where = ""
            if isinstance(exc, json.JSONDecodeError):
                where = f" (line {exc.lineno}, column {exc.colno})"
            raise InvalidConnection(
                f"extra of connection {conn_id!r} is non-JSON text{where}", conn_id=conn_id
            ) from None
        if not isinstance(value, dict):
            raise InvalidConnection(
                f"extra of connection {conn_id!r} is JSON but does not parse as a dictionary "
                f"(got a JSON {type(value).__name__})",
                conn_id=conn_id,
            )
        return value, extra
    if isinstance(extra, Mapping):
        try:
            text = json.dumps(_thaw(extra), allow_nan=False)
            value = json.loads(text)  # JSON's view of it: str keys, lists, plain types
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidConnection(
                f"extra of connection {conn_id!r} holds a value that is not JSON "
                f"({type(exc).__name__})",
                conn_id=conn_id,
            ) from None
        return value, text
    raise InvalidConnection(
        f"extra must be a JSON object (mapping or JSON text), not {type(extra).__name__}",
        conn_id=conn_id,
    )


def _host_password(host: str | None) -> str | None:
    """The password of a host written as a URL with credentials (``https://user:pw@api``)."""
    if not host or "@" not in host:
        return None
    with contextlib.suppress(ValueError):
        return urlsplit(host if "://" in host else f"//{host}").password or None
    return None


def _redact_host(host: str | None, shown: str | None) -> str | None:
    """``shown`` (the host as redacted so far) with the password of a URL host written as ``***``."""
    password = _host_password(host)
    if not password or shown is None:
        return shown
    return shown.replace(f":{password}@", f":{masking.REDACTED}@")


def _all_str_values(extra: dict[str, Any]) -> bool:
    for value in extra.values():  # noqa: SIM110 (all() with a generator is slower here)
        if type(value) is not str:
            return False
    return True


def _freeze_and_register(value: Any, sensitive: bool) -> Any:
    """Deep read-only view of JSON data (dicts become mappingproxies, lists tuples); on the way,
    register for masking every string that sits under a sensitive key, at any depth."""
    if type(value) is str:
        if sensitive:
            masking.register(value)
        return value
    if type(value) is dict:
        return MappingProxyType(
            {k: _freeze_and_register(v, sensitive or is_sensitive_key(k)) for k, v in value.items()}
        )
    if type(value) is list:
        return tuple(_freeze_and_register(v, sensitive) for v in value)
    return value
