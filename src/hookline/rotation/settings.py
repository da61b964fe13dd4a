"""Rotation settings: the ``[rotation]`` config section, per-connection extras, the password policy.

``[rotation]`` keys (all optional):

* ``interval_s``: the rotation interval of the connections listed in ``connections`` (and the
  default of those that opt in with a ``rotation_strategy`` extra but give no interval);
* ``connections``: conn_ids ``hookline rotate --due`` considers besides those with a
  ``rotation_interval_s`` extra;
* ``strategy``: the default strategy (``single_user``; see :mod:`hookline.rotation.strategies`);
* ``admin_conn_id``: the connection the alternating-users strategy uses to alter the other user;
* ``password_length`` (default 32, at least 16) and ``password_symbols`` (default false: letters
  and digits only, safe in URIs, shells and config files);
* ``alternate_suffix``: the suffix of the second user of the alternating-users strategy
  (default ``_alt``).

Connection extras (they win over the section): ``rotation_interval_s``, ``rotation_strategy``,
``rotation_admin_conn_id``.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from hookline.connection import Connection
from hookline.exceptions import ConfigurationError, InvalidConnection
from hookline.options import parse_bool, parse_float, parse_int

__all__ = ["DEFAULT_STRATEGY", "PasswordPolicy", "RotationSettings"]

DEFAULT_STRATEGY: Final = "single_user"
_SYMBOLS: Final = "-_.~!#%^*+="


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """How new passwords are generated (with :mod:`secrets`).

    Attributes:
        length: Characters (at least 16).
        symbols: Also use ``-_.~!#%^*+=`` (never quotes, backslashes, ``@``, ``:``, ``/``).
    """

    length: int = 32
    symbols: bool = False

    def __post_init__(self) -> None:
        if self.length < 16:
            raise ConfigurationError(
                f"[rotation] password_length must be at least 16, got {self.length}"
            )

    def generate(self) -> str:
        """A new password with at least one lowercase letter, one uppercase letter and one digit
        (and one symbol when symbols are on)."""
        classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits]
        if self.symbols:
            classes.append(_SYMBOLS)
        alphabet = "".join(classes)
        while True:
            candidate = "".join(secrets.choice(alphabet) for _ in range(self.length))
            if all(any(ch in group for ch in candidate) for group in classes):
                return candidate


@dataclass(frozen=True, slots=True)
class RotationSettings:
    """The ``[rotation]`` section, checked (see the module docstring)."""

    interval_s: float | None = None
    connections: tuple[str, ...] = ()
    strategy: str = DEFAULT_STRATEGY
    admin_conn_id: str | None = None
    policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    alternate_suffix: str = "_alt"

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> RotationSettings:
        """Check and convert the raw ``[rotation]`` section.

        Raises:
            ConfigurationError: a value of the wrong type or out of range.
        """
        err = ConfigurationError
        interval = section.get("interval_s")
        connections = section.get("connections", [])
        if isinstance(connections, str) or not isinstance(connections, list | tuple):
            raise err("[rotation] connections must be a list of conn_ids")
        suffix = str(section.get("alternate_suffix", "_alt"))
        if not suffix or not all(ch.isalnum() or ch == "_" for ch in suffix):
            raise err("[rotation] alternate_suffix must be letters, digits or underscores")
        admin = section.get("admin_conn_id")
        return cls(
            interval_s=None
            if interval is None
            else parse_float(interval, name="[rotation] interval_s", minimum=1.0, error=err),
            connections=tuple(str(c) for c in connections),
            strategy=str(section.get("strategy", DEFAULT_STRATEGY)),
            admin_conn_id=None if admin is None else str(admin),
            policy=PasswordPolicy(
                length=parse_int(
                    section.get("password_length", 32),
                    name="[rotation] password_length",
                    minimum=16,
                    error=err,
                ),
                symbols=parse_bool(
                    section.get("password_symbols", False),
                    name="[rotation] password_symbols",
                    error=err,
                ),
            ),
            alternate_suffix=suffix,
        )

    @classmethod
    def load(cls) -> RotationSettings:
        """The ``[rotation]`` section of the configuration."""
        from hookline.config import load_settings

        return cls.from_mapping(load_settings().sections.get("rotation", {}))

    def strategy_for(self, conn: Connection) -> str:
        """The strategy name: the ``rotation_strategy`` extra, else ``[rotation] strategy``."""
        return str(conn.extra.get("rotation_strategy", self.strategy))

    def admin_for(self, conn: Connection) -> str | None:
        """The admin conn_id: the ``rotation_admin_conn_id`` extra, else ``[rotation]``'s."""
        value = conn.extra.get("rotation_admin_conn_id", self.admin_conn_id)
        return None if value in (None, "") else str(value)

    def interval_for(self, conn: Connection) -> float | None:
        """The rotation interval of ``conn`` in seconds, or None when it is not rotated on a
        schedule (no ``rotation_interval_s`` extra, and not listed in ``[rotation] connections``).

        Raises:
            InvalidConnection: a malformed ``rotation_interval_s`` extra.
        """
        value = conn.extra.get("rotation_interval_s")
        if value is not None:
            return parse_float(
                value,
                name="rotation_interval_s",
                minimum=1.0,
                conn_id=conn.conn_id,
                error=InvalidConnection,
            )
        if conn.conn_id in self.connections:
            if self.interval_s is None:
                raise ConfigurationError(
                    f"connection {conn.conn_id!r} is listed in [rotation] connections, but "
                    "[rotation] interval_s is not set"
                )
            return self.interval_s
        return None
