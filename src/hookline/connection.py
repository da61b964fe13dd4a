"""The Connection value object: Airflow's connection model as a frozen, hashable, leak-proof value.

A :class:`Connection` holds ``conn_id, conn_type, description, host, login, password, schema, port`` and
``extra`` (a JSON object). It parses and renders Airflow's URI and JSON forms and knows nothing about
secrets backends or hooks. ``repr``/``str`` and :meth:`Connection.to_dict` with ``redact=True`` never
show the password or extras under sensitive keys; :meth:`Connection.get_uri` and the attributes are
the only ways to read them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, NoReturn, final

from hookline import _uri
from hookline.exceptions import InvalidConnection
from hookline.masking import REDACTED, is_sensitive_key, redact_mapping

__all__ = ["CONN_ID_MAX_LEN", "Connection"]

CONN_ID_MAX_LEN: Final = 250
# Airflow's sanitize_conn_id pattern: word characters and # ! ( ) - . : / \
_CONN_ID = re.compile(r"[\w#!()\-.:/\\]+")
_CONN_TYPE = re.compile(r"[A-Za-z0-9+.\-_]*")
_FIELDS: Final = (
    "conn_type",
    "description",
    "host",
    "login",
    "password",
    "schema",
    "port",
    "extra",
)
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def validate_conn_id(conn_id: str) -> str:
    """Return ``conn_id`` if it is a valid connection id, else raise :class:`InvalidConnection`.

    Valid ids are 1 to 250 characters of letters, digits, ``_ # ! ( ) - . : / \\`` (Airflow's rule).
    """
    if not isinstance(conn_id, str):
        raise InvalidConnection(f"conn_id must be a str, not {type(conn_id).__name__}")
    if not conn_id:
        raise InvalidConnection("conn_id is empty")
    if len(conn_id) > CONN_ID_MAX_LEN:
        raise InvalidConnection(
            f"conn_id is {len(conn_id)} characters long; the limit is {CONN_ID_MAX_LEN}",
            conn_id=conn_id[:40] + "...",
        )
    if _CONN_ID.fullmatch(conn_id) is None:
        bad = sorted({ch for ch in conn_id if _CONN_ID.fullmatch(ch) is None})
        raise InvalidConnection(
            f"conn_id {conn_id!r} has forbidden characters {''.join(bad)!r}; allowed are letters, "
            "digits and _ # ! ( ) - . : / \\"
        )
    return conn_id


def _freeze(value: Any) -> Any:
    """Deep read-only view of JSON data: dicts become mappingproxies, lists tuples."""
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _check_port(port: Any, conn_id: str | None) -> int | None:
    if port is None:
        return None
    if type(port) is not int:
        raise InvalidConnection(
            f"port must be an int or None, not {type(port).__name__}", conn_id=conn_id
        )
    if not 0 <= port <= 65535:
        raise InvalidConnection(f"port {port} is outside 0-65535", conn_id=conn_id)
    return port


def _coerce_port(port: Any, conn_id: str | None) -> int | None:
    """Airflow's JSON port rule: an int or a numeric string; ``""`` and null mean no port."""
    if port is None or port == "":
        return None
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if type(port) is not int:
        raise InvalidConnection(
            f"port must be an integer 0-65535 or a numeric string, got a {type(port).__name__}",
            conn_id=conn_id,
        )
    return _check_port(port, conn_id)


def _load_extra(extra: Any, conn_id: str | None) -> tuple[dict[str, Any], str | None]:
    """Validate ``extra`` (a JSON object, as a mapping or as text); return it and its JSON text."""
    if isinstance(extra, str):
        if not extra.strip():
            return {}, None
        try:
            value = json.loads(extra)
        except ValueError as exc:
            raise InvalidConnection(
                f"extra of connection {conn_id!r} is not valid JSON", conn_id=conn_id
            ) from exc
        if not isinstance(value, dict):
            raise InvalidConnection(
                f"extra of connection {conn_id!r} is JSON but not an object "
                f"(got a {type(value).__name__})",
                conn_id=conn_id,
            )
        return value, extra
    if isinstance(extra, Mapping):
        value = _thaw(extra)
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidConnection(
                f"extra of connection {conn_id!r} holds a value that is not JSON "
                f"({type(exc).__name__})",
                conn_id=conn_id,
            ) from exc
        return value, text
    raise InvalidConnection(
        f"extra must be a JSON object (mapping or JSON text), not {type(extra).__name__}",
        conn_id=conn_id,
    )


@final
class Connection:
    """An immutable connection: where a system is and how to log in to it.

    Fields are Airflow's: ``conn_id, conn_type, description, host, login, password, schema, port,
    extra``. Instances compare and hash by value and cannot be changed; use :meth:`replace`.

    Normalizations (documented, applied on construction): an empty password ``""`` is stored as None,
    as Airflow's ORM does; an empty extra is the same as no extra.

    Args:
        conn_id: Id of the connection (1-250 characters; see :func:`validate_conn_id`), or None.
        conn_type: The system type (``postgres``, ``http``, ...); letters, digits, ``+ . - _``.
        description: Free text.
        host: Host name, IP address, socket path, or ``protocol://host``.
        login: User name.
        password: Password; never shown by ``repr``/``str``.
        schema: The URI path: a database name for SQL systems, not the URI scheme.
        port: 0-65535.
        extra: A JSON object, as a mapping or as JSON text.

    Raises:
        InvalidConnection: a field is invalid; the message never holds the password.
    """

    __slots__ = (
        "_extra",
        "_extra_text",
        "_hash",
        "conn_id",
        "conn_type",
        "description",
        "host",
        "login",
        "password",
        "port",
        "schema",
    )

    conn_id: str | None
    conn_type: str | None
    description: str | None
    host: str | None
    login: str | None
    password: str | None
    schema: str | None
    port: int | None
    _extra: Mapping[str, Any]
    _extra_text: str | None
    _hash: int | None

    def __init__(
        self,
        conn_id: str | None = None,
        conn_type: str | None = None,
        description: str | None = None,
        host: str | None = None,
        login: str | None = None,
        password: str | None = None,
        schema: str | None = None,
        port: int | None = None,
        extra: Mapping[str, Any] | str | None = None,
    ) -> None:
        if conn_id is not None:
            validate_conn_id(conn_id)
        if conn_type is not None and (
            not isinstance(conn_type, str) or _CONN_TYPE.fullmatch(conn_type) is None
        ):
            raise InvalidConnection(
                f"conn_type {conn_type!r} is not a valid type (letters, digits, + . - _)",
                conn_id=conn_id,
            )
        for name, value in (
            ("description", description),
            ("host", host),
            ("login", login),
            ("password", password),
            ("schema", schema),
        ):
            if value is not None and not isinstance(value, str):
                raise InvalidConnection(
                    f"{name} must be a str or None, not {type(value).__name__}", conn_id=conn_id
                )
        port = _check_port(port, conn_id)
        if extra is None:
            extra_value: dict[str, Any] = {}
            extra_text = None
        else:
            extra_value, extra_text = _load_extra(extra, conn_id)
        self._init(
            conn_id, conn_type, description, host, login, password, schema, port,
            extra_value, extra_text,
        )  # fmt: skip

    def _init(
        self,
        conn_id: str | None,
        conn_type: str | None,
        description: str | None,
        host: str | None,
        login: str | None,
        password: str | None,
        schema: str | None,
        port: int | None,
        extra: dict[str, Any] | None,
        extra_text: str | None,
    ) -> None:
        # Trusted path: fields already validated (by __init__ or by the URI parser).
        setter = object.__setattr__
        setter(self, "conn_id", conn_id)
        setter(self, "conn_type", conn_type)
        setter(self, "description", description)
        setter(self, "host", host)
        setter(self, "login", login)
        setter(self, "password", password or None)
        setter(self, "schema", schema)
        setter(self, "port", port)
        setter(self, "_extra", _freeze(extra) if extra else _EMPTY)
        setter(self, "_extra_text", extra_text if extra else None)
        setter(self, "_hash", None)

    # -- immutability -------------------------------------------------------------------------

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Connection is immutable; use replace({name}=...) to change {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Connection is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.conn_id, self._field_values()))

    def replace(self, **changes: Any) -> Connection:
        """Return a copy with the given fields changed (``conn_id`` included), validated again."""
        unknown = set(changes) - {"conn_id", *_FIELDS}
        if unknown:
            raise InvalidConnection(
                f"unknown Connection field(s): {', '.join(sorted(unknown))}", conn_id=self.conn_id
            )
        fields: dict[str, Any] = {"conn_id": self.conn_id, **self._field_values(), **changes}
        return Connection(**fields)

    def _field_values(self) -> dict[str, Any]:
        return {
            "conn_type": self.conn_type,
            "description": self.description,
            "host": self.host,
            "login": self.login,
            "password": self.password,
            "schema": self.schema,
            "port": self.port,
            "extra": self.extra_json,
        }

    # -- value semantics ----------------------------------------------------------------------

    def _key(self) -> tuple[Any, ...]:
        return (
            self.conn_id,
            self.conn_type,
            self.description,
            self.host,
            self.login,
            self.password,
            self.schema,
            self.port,
            self._extra,
        )

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if not isinstance(other, Connection):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        cached = self._hash
        if cached is None:
            extra_key = json.dumps(_thaw(self._extra), sort_keys=True) if self._extra else ""
            cached = hash((*self._key()[:-1], extra_key))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __repr__(self) -> str:
        return f"Connection({self.conn_id!r}, {self.get_redacted_uri()})"

    __str__ = __repr__

    # -- extras ---------------------------------------------------------------------------------

    @property
    def extra(self) -> Mapping[str, Any]:
        """The extras as a read-only mapping (nested objects read-only too; lists become tuples)."""
        return self._extra

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """The extras as a new, mutable dict (Airflow's name); empty when there are none."""
        return _thaw(self._extra) if self._extra else {}

    @property
    def extra_json(self) -> str | None:
        """The extras as JSON text, or None when there are none."""
        if not self._extra:
            return None
        text = self._extra_text
        if text is None:
            text = json.dumps(_thaw(self._extra))
            object.__setattr__(self, "_extra_text", text)
        return text

    # -- URI form -------------------------------------------------------------------------------

    @classmethod
    def from_uri(cls, uri: str, conn_id: str | None = None) -> Connection:
        """Parse an Airflow connection URI.

        Airflow's algorithm (scheme normalization ``postgresql`` -> ``postgres`` and ``-`` -> ``_``;
        percent-decoding of login, password, host and schema; ``__extra__`` JSON or flat query
        parameters as extras; ``type://protocol://host`` for a protocol in the host; ``%2F``-encoded
        socket paths) with these deliberate differences from Airflow, each a fix of a known pitfall:

        * ``google_cloud_platform://host`` is read with conn_type ``google_cloud_platform`` (Airflow
          finds no scheme there and returns garbage);
        * the host keeps its case (Airflow lower-cases it unless it contains ``/``);
        * ``[::1]`` IPv6 hosts lose their brackets on parse and get them back on render;
        * an empty password (``user:@host``) is read as no password, as Airflow's ORM stores it.

        A URI without host or path gives ``host == ""`` and ``schema == ""`` (Airflow does the same).

        Raises:
            InvalidConnectionURI: the URI cannot be read; the message quotes it with the password
                replaced by ``***``.
        """
        if conn_id is not None:
            validate_conn_id(conn_id)
        parsed = _uri.parse_uri(uri, conn_id)
        conn = object.__new__(cls)
        conn._init(
            conn_id, parsed.conn_type, None, parsed.host, parsed.login, parsed.password,
            parsed.schema, parsed.port, parsed.extra, parsed.extra_text,
        )  # fmt: skip
        return conn

    def get_uri(self) -> str:
        """Render the connection as an Airflow URI, password included. Lossless with :meth:`from_uri`
        (up to the documented normalizations: conn_type lower-cased with ``_``, None host/schema
        read back as ``""``; ``description`` and ``conn_id`` are not part of a URI)."""
        return _uri.render_uri(
            self.conn_type, self.host, self.login, self.password, self.schema, self.port,
            self._extra_dict(), self._extra_text,
        )  # fmt: skip

    def get_redacted_uri(self) -> str:
        """The URI with the password and sensitive extras written as ``***``: safe to print or log."""
        extra = redact_mapping(self._extra) if self._extra else None
        return _uri.render_uri(
            self.conn_type, self.host, self.login, self.password, self.schema, self.port,
            extra, None, redact_password=True,
        )  # fmt: skip

    def _extra_dict(self) -> dict[str, Any] | None:
        if not self._extra:
            return None
        thawed: dict[str, Any] = _thaw(self._extra)
        return thawed

    # -- dict and JSON forms --------------------------------------------------------------------

    def to_dict(self, *, prune_empty: bool = False, redact: bool = False) -> dict[str, Any]:
        """Airflow's ``to_dict``: the fields with ``extra`` as a dict.

        Args:
            prune_empty: drop None values and an empty extra (``""`` is kept), as Airflow does.
            redact: write the password and extras under sensitive keys as ``***``.
        """
        extra = self.extra_dejson
        result: dict[str, Any] = {
            "conn_id": self.conn_id,
            "conn_type": self.conn_type,
            "description": self.description,
            "host": self.host,
            "login": self.login,
            "password": self.password,
            "schema": self.schema,
            "port": self.port,
            "extra": redact_mapping(extra) if redact else extra,
        }
        if redact and self.password is not None:
            result["password"] = REDACTED
        if prune_empty:
            result = {k: v for k, v in result.items() if v is not None}
            if not extra:
                result.pop("extra", None)
        return result

    def to_json(self, *, redact: bool = False) -> str:
        """Airflow's ``as_json``: the pruned dict without ``conn_id``, as JSON text."""
        data = self.to_dict(prune_empty=True, redact=redact)
        data.pop("conn_id", None)
        return json.dumps(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], conn_id: str | None = None) -> Connection:
        """Build a connection from Airflow's dict/JSON shape.

        ``extra`` may be an object or JSON text, ``port`` an int or numeric string (``""`` or null
        for none); ``conn_type`` is normalized as in :meth:`from_uri`. ``conn_id`` in the data must
        match the argument when both are given. Unknown keys are an error.

        Raises:
            InvalidConnection: unknown keys, a bad port or extra, or mismatching conn_ids.
        """
        if not isinstance(data, Mapping):
            raise InvalidConnection(
                f"a connection must be a JSON object, not {type(data).__name__}", conn_id=conn_id
            )
        fields = dict(data)
        data_conn_id = fields.pop("conn_id", None)
        if conn_id is not None and data_conn_id is not None and data_conn_id != conn_id:
            raise InvalidConnection(
                f"conn_id {data_conn_id!r} in the data does not match {conn_id!r}", conn_id=conn_id
            )
        conn_id = conn_id if conn_id is not None else data_conn_id
        if "extra_dejson" in fields:  # Airflow's local-file form
            if fields.get("extra") is not None:
                raise InvalidConnection(
                    "give either extra or extra_dejson, not both", conn_id=conn_id
                )
            fields["extra"] = fields.pop("extra_dejson")
        unknown = set(fields) - set(_FIELDS)
        if unknown:
            raise InvalidConnection(
                f"unknown connection field(s): {', '.join(sorted(map(str, unknown)))}",
                conn_id=conn_id,
            )
        conn_type = fields.get("conn_type")
        if isinstance(conn_type, str):
            fields["conn_type"] = _uri.normalize_conn_type(conn_type)
        fields["port"] = _coerce_port(fields.get("port"), conn_id)
        if fields.get("extra") == "":
            fields["extra"] = None
        return cls(conn_id=conn_id, **fields)

    @classmethod
    def from_json(cls, text: str | bytes, conn_id: str | None = None) -> Connection:
        """Parse Airflow's JSON form (see :meth:`from_dict`).

        Raises:
            InvalidConnection: the text is not a JSON object or a field is invalid.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidConnection(
                f"connection {conn_id!r} is not valid JSON (line {getattr(exc, 'lineno', '?')}, "
                f"column {getattr(exc, 'colno', '?')})",
                conn_id=conn_id,
            ) from None
        return cls.from_dict(data, conn_id=conn_id)

    @classmethod
    def from_text(cls, text: str, conn_id: str | None = None) -> Connection:
        """Parse a serialized connection: JSON when it starts with ``{`` (after whitespace), else a URI.

        This is how Airflow's backends read stored values (``deserialize_connection``).
        """
        stripped = text.strip()
        if stripped.startswith("{"):
            return cls.from_json(stripped, conn_id=conn_id)
        return cls.from_uri(stripped, conn_id=conn_id)

    # -- Airflow-compatible helpers ---------------------------------------------------------------

    def get_password(self) -> str | None:
        """The password (Airflow's accessor)."""
        return self.password

    def get_extra(self) -> str | None:
        """The extras as JSON text (Airflow's accessor)."""
        return self.extra_json

    def sensitive_extra_keys(self) -> list[str]:
        """Names of top-level extras whose values are treated as secrets."""
        return [k for k in self._extra if is_sensitive_key(k)]

    def get_hook(self, **hook_params: Any) -> Any:
        """Build the hook registered for this connection's ``conn_type``.

        Raises:
            InvalidConnection: no hook is registered for the type.
        """
        from hookline.registry import hook_class_for

        hook_class = hook_class_for(self.conn_type or "")
        return hook_class(self, **hook_params)


def _rebuild(conn_id: str | None, fields: dict[str, Any]) -> Connection:
    return Connection(conn_id=conn_id, **fields)
