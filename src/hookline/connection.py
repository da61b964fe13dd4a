"""The Connection value object: Airflow's connection model as a frozen, hashable, leak-proof value.

A :class:`Connection` holds ``conn_id, conn_type, description, host, login, password, schema, port`` and
``extra`` (a JSON object). It parses and renders Airflow's URI and JSON forms and knows nothing about
secrets backends or hooks. ``repr``/``str`` and :meth:`Connection.to_dict` with ``redact=True`` never
show the password or extras under sensitive keys; :meth:`Connection.get_uri` and the attributes are
the only ways to read them. As in Airflow, building a connection registers its password (and the values
of sensitive extras) with :mod:`hookline.masking`, so log output masks them too.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, NoReturn, final
from urllib.parse import quote

from hookline import _uri, masking
from hookline._fields import (
    _CONN_TYPE,
    _VALID_CONN_TYPES_MAX,
    CONN_ID_MAX_LEN,
    _all_str_values,
    _check_port,
    _check_text,
    _coerce_port,
    _freeze_and_register,
    _host_password,
    _load_extra,
    _redact_host,
    _thaw,
    _valid_conn_types,
    validate_conn_id,
)
from hookline.exceptions import InvalidConnection
from hookline.masking import is_sensitive_key, redact_mapping

if TYPE_CHECKING:
    from hookline.typing import HookView

__all__ = ["CONN_ID_MAX_LEN", "Connection", "validate_conn_id"]

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
_KNOWN_FIELDS: Final = frozenset(_FIELDS)
_EMPTY: Mapping[str, Any] = MappingProxyType({})
# Airflow's message, kept verbatim (its tests match it, missing space included).
_MIXED_URI_MESSAGE: Final = (
    "You must create an object using the URI or individual values (conn_type, host, login, "
    "password, schema, port or extra).You can't mix these two ways to create this object."
)


@final
class Connection:
    """An immutable connection: where a system is and how to log in to it.

    Fields are Airflow's: ``conn_id, conn_type, description, host, login, password, schema, port,
    extra``. Instances compare and hash by value (extras as JSON: key order does not matter, ``1``
    and ``true`` differ) and cannot be changed; use :meth:`replace`.

    Normalizations (documented, applied on construction): an empty password ``""`` is stored as None,
    as Airflow's ORM does; an empty extra is the same as no extra; a mapping extra is stored as JSON
    sees it (keys become strings, tuples lists).

    Args:
        conn_id: Id of the connection (1-250 characters; see :func:`validate_conn_id`), or None.
        conn_type: The system type (``postgres``, ``http``, ...): empty, or a letter followed by
            letters, digits, ``+ . - _``.
        description: Free text.
        host: Host name, IP address, socket path, or ``protocol://host``.
        login: User name.
        password: Password; never shown by ``repr``/``str``.
        schema: The URI path: a database name for SQL systems, not the URI scheme.
        port: 0-65535.
        extra: A JSON object, as a mapping or as JSON text.
        uri: Airflow's other way to build a connection: parse this URI (see :meth:`from_uri`). It
            cannot be combined with the other fields except ``conn_id`` and ``description``.

    Raises:
        InvalidConnection: a field is invalid; the message never holds the password.
    """

    __slots__ = (
        "_extra",
        "_extra_key",
        "_extra_text",
        "_hash",
        "_uri",
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
    _extra_key: str | None
    _hash: int | None
    _uri: str | None

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
        *,
        uri: str | None = None,
    ) -> None:
        if uri is None:
            self._check_and_init(
                conn_id, conn_type, description, host, login, password, schema, port, extra
            )
            return
        if conn_id is not None:
            validate_conn_id(conn_id)
        if description is not None:
            _check_text("description", description, conn_id)
        given = (conn_type, host, login, password, schema, port, extra)
        if any(value is not None for value in given):
            raise InvalidConnection(_MIXED_URI_MESSAGE, conn_id=conn_id)
        parsed = _uri.parse_uri(uri, conn_id)
        self._init(
            conn_id, parsed.conn_type, description, parsed.host, parsed.login,
            parsed.password, parsed.schema, parsed.port, parsed.extra, parsed.extra_text, True,
        )  # fmt: skip

    def _check_and_init(
        self,
        conn_id: Any,
        conn_type: Any,
        description: Any,
        host: Any,
        login: Any,
        password: Any,
        schema: Any,
        port: Any,
        extra: Any,
        json_native: bool = False,
    ) -> None:
        """Validate the fields, then :meth:`_init`. With ``json_native``, a dict ``extra`` comes
        straight from a JSON parser (str keys, JSON types, no NaN), so it is kept as it is instead
        of being checked by a JSON round trip; its text is rendered when first asked for."""
        if conn_id is not None:
            validate_conn_id(conn_id)
        if description is not None:
            _check_text("description", description, conn_id)
        if conn_type is not None and (
            type(conn_type) is not str or conn_type not in _valid_conn_types
        ):
            if not isinstance(conn_type, str) or _CONN_TYPE.fullmatch(conn_type) is None:
                raise InvalidConnection(
                    f"conn_type {conn_type!r} is not a valid type (empty, or a letter followed by "
                    "letters, digits, + . - _)",
                    conn_id=conn_id,
                )
            if type(conn_type) is str and len(_valid_conn_types) < _VALID_CONN_TYPES_MAX:
                _valid_conn_types.add(conn_type)
        # ASCII str values (the common case) are valid text: the full check only for the others.
        if host is not None and not (type(host) is str and host.isascii()):
            _check_text("host", host, conn_id)
        if login is not None and not (type(login) is str and login.isascii()):
            _check_text("login", login, conn_id)
        if schema is not None and not (type(schema) is str and schema.isascii()):
            _check_text("schema", schema, conn_id)
        if password is not None and not (type(password) is str and password.isascii()):
            _check_text("password", password, conn_id)
        if port is not None and not (type(port) is int and 0 <= port <= 65535):
            port = _check_port(port, conn_id)
        extra_text: str | None
        if extra is None:
            extra_value: dict[str, Any] = {}
            extra_text = None
        elif json_native and type(extra) is dict:
            extra_value, extra_text = extra, None
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
        flat: bool = False,
    ) -> None:
        # Trusted path: fields already validated (by __init__ or by the URI parser). The slots are
        # written through their descriptors' __set__ (bound once, below the class): about half
        # the cost of object.__setattr__, which looks each name up first.
        _set_conn_id(self, conn_id)
        _set_conn_type(self, conn_type)
        _set_description(self, description)
        _set_host(self, host)
        _set_login(self, login)
        _set_password(self, password or None)
        _set_schema(self, schema)
        _set_port(self, port)
        if extra:
            if (flat and extra_text is None) or _all_str_values(extra):  # str keys and values
                _set_extra(self, MappingProxyType(extra))
                sensitive = masking._sensitive_cache.get  # is_sensitive_key, minus a call
                for key, value in extra.items():
                    known = sensitive(key)
                    if known or (known is None and is_sensitive_key(key)):
                        masking.register(value)
            else:
                _set_extra(self, _freeze_and_register(extra, False))
            _set_extra_text(self, extra_text)
        else:
            _set_extra(self, _EMPTY)
            _set_extra_text(self, None)
        _set_extra_key(self, None)
        _set_hash(self, None)
        _set_uri(self, None)
        if password:
            masking.register(password)
        if host and "@" in host:  # a URL host with credentials: its password is a secret too
            masking.register(_host_password(host))

    # -- immutability -------------------------------------------------------------------------

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Connection is immutable; use replace({name}=...) to change {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Connection is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.conn_id, self._field_values()))

    def replace(self, **changes: Any) -> Connection:
        """Return a copy with the given fields changed (``conn_id`` included), validated again.

        Raises:
            InvalidConnection: an unknown field name, or an invalid new value.
        """
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

    def _canonical_extra(self) -> str:
        key = self._extra_key
        if key is None:
            key = json.dumps(_thaw(self._extra), sort_keys=True) if self._extra else ""
            object.__setattr__(self, "_extra_key", key)
        return key

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
            self._canonical_extra(),
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
            cached = hash(self._key())
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

    def get_extra_dejson(self, nested: bool = False) -> dict[str, Any]:
        """Airflow's accessor: :attr:`extra_dejson`. With ``nested``, string values holding JSON
        (objects, arrays) are decoded too, as Airflow's ``get_extra_dejson(nested=True)`` does."""
        extra = self.extra_dejson
        if nested:
            for key, value in extra.items():
                if isinstance(value, str) and value[:1] in ("{", "["):
                    with contextlib.suppress(ValueError, RecursionError):
                        extra[key] = json.loads(value)
        return extra

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
        """Parse an Airflow connection URI (``type://login:password@host:port/schema?extras``).

        Airflow's algorithm: the conn type is the scheme, normalized (``postgresql`` -> ``postgres``,
        ``-`` -> ``_``); login, password, host and schema are percent-decoded; a ``%2F``-encoded host
        is a socket path; ``type://protocol://host`` puts the protocol in the host (credentials
        must come after it); the query gives the extras, either ``__extra__=<JSON object>`` or flat
        parameters (string values, last duplicate wins, ``+`` is a space). A URI without host or
        path gives ``host == ""`` and ``schema == ""``, an empty userinfo (``type://@host``) login
        ``""``, and no scheme (``//host``) conn_type ``""``, as in Airflow.

        Deliberate differences from Airflow, each a fix of a known pitfall:

        * ``google_cloud_platform://host`` is read with conn_type ``google_cloud_platform`` (Airflow
          finds no scheme there and returns garbage);
        * the host keeps its case (Airflow lower-cases it unless it contains ``/``);
        * ``[::1]`` IPv6 hosts lose their brackets on parse and get them back on render;
        * an empty password (``user:@host``) is read as no password, as Airflow's ORM stores it;
        * only the leading ``type://`` is removed (``http://http://host`` keeps host
          ``http://host``), and a ``://`` in the path or query is not an inner protocol;
        * flat query values stay strings (as in Airflow's Task SDK; Airflow 3.2's core also
          decodes JSON-looking strings there);
        * ``__extra__`` that is not a JSON object, text without ``type://`` or ``//``, and a
          conn type that is not a URI scheme raise instead of giving a garbage connection.

        Raises:
            InvalidConnectionURI: the URI cannot be read; the message says what is wrong and
                quotes the URI with the password replaced by ``***``.
            InvalidConnection: ``conn_id`` is invalid.
        """
        if conn_id is not None:
            validate_conn_id(conn_id)
        parsed = _uri.parse_uri(uri, conn_id)
        conn = object.__new__(cls)
        conn._init(
            conn_id, parsed.conn_type, None, parsed.host, parsed.login, parsed.password,
            parsed.schema, parsed.port, parsed.extra, parsed.extra_text, True,
        )  # fmt: skip
        return conn

    def get_uri(self) -> str:
        """Render the connection as an Airflow URI, password included.

        Lossless with :meth:`from_uri` up to these normalizations: conn_type is lower-cased and
        normalized as on parse (``_`` is written ``-``); a None host, schema or conn_type reads back
        as ``""``; a password without a login reads back with login ``""`` (``type://:pw@host``);
        ``description`` and ``conn_id`` are not part of a URI. Port 0 is written, a port
        without host or login is written ``type://:port``, a protocol equal to the conn type is
        quoted into the host (``http://http%3A%2F%2Fhost``), and extras whose values are not all
        strings are written as ``__extra__`` JSON.
        """
        uri = self._uri
        if uri is None:
            uri = _uri.render_uri(
                self.conn_type, self.host, self.login, self.password, self.schema, self.port,
                self._extra, self._extra_text,
            )  # fmt: skip
            object.__setattr__(self, "_uri", uri)
        return uri

    def get_redacted_uri(self) -> str:
        """The URI with the password and sensitive extras written as ``***``: safe to print or log."""
        extra = redact_mapping(self._extra) if self._extra else None
        uri = _uri.render_uri(
            self.conn_type, self.host, self.login, self.password, self.schema, self.port,
            extra, None, redact_password=True,
        )  # fmt: skip
        host_password = _host_password(self.host)
        if host_password:  # a URL host with credentials (``https://user:token@api``), any length
            uri = uri.replace(quote(host_password, safe=""), masking.REDACTED)
        return str(masking.redact(uri))

    # -- dict and JSON forms --------------------------------------------------------------------

    def to_dict(self, *, prune_empty: bool = False, redact: bool = False) -> dict[str, Any]:
        """Airflow's ``to_dict``: the fields with ``extra`` as a dict.

        Args:
            prune_empty: drop None values and an empty extra (``""`` is kept), as Airflow does.
            redact: write the password and extras under sensitive keys as ``***``, and mask
                registered secrets in the other values.
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
            "extra": extra,
        }
        if redact:
            result = redact_mapping(result)
            result["host"] = _redact_host(self.host, result["host"])
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

    def as_json(self) -> str:
        """Airflow's name for :meth:`to_json`."""
        return self.to_json()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], conn_id: str | None = None) -> Connection:
        """Build a connection from Airflow's dict/JSON shape.

        ``extra`` may be an object or JSON text (``""``, ``{}`` or null for none), ``port`` an int
        or a numeric string (``""`` or null for none; ``1.5``, ``-1``, ``65536`` are errors);
        ``conn_type`` is normalized as in :meth:`from_uri` and may be missing (Airflow 2 files).
        ``conn_id`` in the data must match the argument when both are given. Airflow's local-file
        key ``extra_dejson`` is read as ``extra``. Unknown keys are an error.

        Raises:
            InvalidConnection: unknown keys, a bad port or extra, or mismatching conn_ids.
        """
        return cls._from_mapping(data, conn_id, False)

    @classmethod
    def _from_mapping(
        cls, data: Mapping[str, Any], conn_id: str | None, json_native: bool
    ) -> Connection:
        """:meth:`from_dict`; ``json_native``: ``data`` was just parsed from JSON text."""
        if not isinstance(data, Mapping):
            raise InvalidConnection(
                f"a connection must be a JSON object, not {type(data).__name__}", conn_id=conn_id
            )
        # JSON just parsed is ours to change; anything else is copied first.
        fields = data if json_native and type(data) is dict else dict(data)
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
        if not _KNOWN_FIELDS.issuperset(fields):
            unknown = set(fields) - _KNOWN_FIELDS
            raise InvalidConnection(
                f"unknown connection field(s): {', '.join(sorted(map(repr, unknown)))}; "
                f"known are conn_id, {', '.join(_FIELDS)}",
                conn_id=conn_id if isinstance(conn_id, str) else None,
            )
        conn_type = fields.get("conn_type")
        if type(conn_type) is str:
            if conn_type == "postgresql" or "-" in conn_type:
                conn_type = _uri.normalize_conn_type(conn_type)
            elif not conn_type:
                conn_type = None
        elif isinstance(conn_type, str):
            conn_type = _uri.normalize_conn_type(conn_type) if conn_type else None
        port = fields.get("port")
        if port is not None and not (type(port) is int and 0 <= port <= 65535):
            port = _coerce_port(port, conn_id)
        extra = fields.get("extra")
        if extra == "" or (type(extra) is dict and not extra):
            extra = None
        elif extra is not None and not isinstance(extra, str) and extra == {}:
            extra = None  # an empty mapping of another type
        conn = object.__new__(cls)
        conn._check_and_init(
            conn_id, conn_type, fields.get("description"), fields.get("host"),
            fields.get("login"), fields.get("password"), fields.get("schema"), port, extra,
            json_native,
        )  # fmt: skip
        return conn

    @classmethod
    def from_json(cls, text: str | bytes, conn_id: str | None = None) -> Connection:
        """Parse Airflow's JSON form (see :meth:`from_dict`).

        Raises:
            InvalidConnection: the text is not a JSON object or a field is invalid.
        """
        if type(text) is not str and not isinstance(text, str | bytes | bytearray):
            raise InvalidConnection(
                f"connection JSON must be str or bytes, not {type(text).__name__}", conn_id=conn_id
            )
        try:
            data = _uri.load_json(text if isinstance(text, str) else bytes(text).decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            where = ""
            if isinstance(exc, json.JSONDecodeError):
                where = f" (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            raise InvalidConnection(
                f"connection {conn_id!r} is not valid JSON{where}", conn_id=conn_id
            ) from None
        return cls._from_mapping(data, conn_id, True)

    @classmethod
    def from_text(cls, text: str, conn_id: str | None = None) -> Connection:
        """Parse a serialized connection: JSON when it starts with ``{`` (after whitespace), else a URI.

        This is how Airflow's backends read stored values (``deserialize_connection``).

        Raises:
            InvalidConnection: the text is neither a valid URI nor valid connection JSON.
        """
        if not isinstance(text, str):
            raise InvalidConnection(
                f"a serialized connection must be a str, not {type(text).__name__}",
                conn_id=conn_id,
            )
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

    def get_hook(self, *, hook_params: Mapping[str, Any] | None = None, **kwargs: Any) -> HookView:
        """Build the hook registered for this connection's ``conn_type``.

        Args:
            hook_params: Keyword arguments for the hook class (Airflow's spelling).
            **kwargs: More keyword arguments for the hook class.

        Raises:
            InvalidConnection: no hook is registered for the type (``Unknown hook type ...``).
        """
        from hookline.registry import hook_class_for

        hook_class = hook_class_for(self.conn_type or "")
        return hook_class(self, **{**(hook_params or {}), **kwargs})

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's ``Connection.test_connection``: build the hook for ``conn_type`` and run its
        ``test_connection()``. Never raises; the message is masked.

        Returns:
            ``(True, message)`` on success, else ``(False, reason)``: the unknown hook type or the
            error text.
        """
        from hookline.registry import hook_types

        if (self.conn_type or "") not in hook_types():
            return False, f'Unknown hook type "{self.conn_type or ""}"'
        try:
            hook = self.get_hook()
        except Exception as exc:
            return False, str(masking.redact(f"{type(exc).__name__}: {exc}"))
        try:
            ok, message = hook.test_connection()
            return bool(ok), str(masking.redact(str(message)))
        except Exception as exc:
            return False, str(masking.redact(f"{type(exc).__name__}: {exc}"))
        finally:
            with contextlib.suppress(Exception):
                hook.close()


def _slot_setter(name: str) -> Callable[[Connection, Any], None]:
    setter: Callable[[Connection, Any], None] = Connection.__dict__[name].__set__
    return setter


_set_conn_id = _slot_setter("conn_id")
_set_conn_type = _slot_setter("conn_type")
_set_description = _slot_setter("description")
_set_host = _slot_setter("host")
_set_login = _slot_setter("login")
_set_password = _slot_setter("password")
_set_schema = _slot_setter("schema")
_set_port = _slot_setter("port")
_set_extra = _slot_setter("_extra")
_set_extra_text = _slot_setter("_extra_text")
_set_extra_key = _slot_setter("_extra_key")
_set_hash = _slot_setter("_hash")
_set_uri = _slot_setter("_uri")


def _rebuild(conn_id: str | None, fields: dict[str, Any]) -> Connection:
    return Connection(conn_id=conn_id, **fields)
