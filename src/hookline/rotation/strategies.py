"""Rotation strategies: what ``set``, ``test`` and a rollback do on the server.

A strategy is a small class (subclass :class:`Strategy`) registered under a name; third parties add
theirs through the entry point group ``hookline.rotation_strategies`` (``name = "pkg.mod:Class"``),
for instance to rotate an API key. The connection's ``rotation_strategy`` extra, else
``[rotation] strategy``, names the one to use. Built in, for PostgreSQL (``postgres``) and
MySQL/MariaDB (``mysql``) connections:

* ``single_user`` (the default): the user changes **its own** password (PostgreSQL
  ``ALTER ROLE ... PASSWORD``, MySQL ``ALTER USER USER() IDENTIFIED BY``); no other
  credentials are needed (MariaDB: ``SET PASSWORD = PASSWORD(...)``, as its ``ALTER USER`` needs
  the ``CREATE USER`` privilege even for one's own account). From ``set`` until ``finish`` the server accepts only the new password:
  sessions already open keep working, and new ones opened by the SQL hooks fall back to the pending
  version (see :mod:`hookline.rotation.fallback`), so the connection stays usable throughout.
* ``alternating_users``: two users, ``<login>`` and ``<login><suffix>`` (``[rotation]
  alternate_suffix``, default ``_alt``). Each rotation sets a new password on the user that is not
  in use and switches the connection's login to it, so sessions of the other user keep working
  until they end. The change is made with an **admin connection** (the ``rotation_admin_conn_id``
  extra or ``[rotation] admin_conn_id``; it needs ``CREATEROLE`` on PostgreSQL, ``CREATE USER`` and
  ``GRANT OPTION`` on MySQL/MariaDB), which also creates the second user on the first rotation with
  the first one's rights (PostgreSQL: the same role memberships plus membership in the first user;
  MySQL/MariaDB: the first user's ``SHOW GRANTS`` replayed).

Every ``set`` is idempotent: it sets the pending password, which a replay after a crash sets again.

On PostgreSQL the new password never reaches the server: like psql's ``\\password``, the client
computes the SCRAM-SHA-256 verifier (RFC 5802 / RFC 7677, through libpq's
``PQencryptPasswordConn``, exposed by psycopg as ``PGconn.encrypt_password``) and sends
``ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>'``, so a
server logging every statement (``log_statement = all``) records the verifier, never the password.
MySQL/MariaDB send the password itself (their ``IDENTIFIED BY`` takes it in clear).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Final

from hookline.connection import Connection
from hookline.exceptions import AuthenticationFailed, ConfigurationError, MissingDependency

__all__ = [
    "STRATEGY_GROUP",
    "AlternatingUsers",
    "SingleUser",
    "Strategy",
    "get_strategy",
    "register_strategy",
    "strategy_names",
]

STRATEGY_GROUP: Final = "hookline.rotation_strategies"
_CONNECT_TIMEOUT_S: Final = 5
_PG_TYPES: Final = frozenset({"postgres", "postgresql"})
_MYSQL_TYPES: Final = frozenset({"mysql", "mariadb"})


class Strategy(ABC):
    """How one kind of credential is rotated.

    Args:
        admin: The admin connection (None when none is configured).
        alternate_suffix: The suffix of the second user (alternating strategies).

    Attributes:
        name: The registered name.
        switches_login: Whether a rotation changes the login (pools then switch at once).
    """

    name: ClassVar[str] = ""
    switches_login: ClassVar[bool] = False

    def __init__(self, *, admin: Connection | None = None, alternate_suffix: str = "_alt") -> None:
        self.admin = admin
        self.alternate_suffix = alternate_suffix

    def create(self, current: Connection, password: str) -> Connection:
        """The pending connection: ``current`` with the new ``password`` (and login)."""
        return current.replace(password=password)

    @abstractmethod
    def set(self, current: Connection, pending: Connection) -> None:
        """Make the server accept ``pending``'s credentials (idempotent)."""

    @abstractmethod
    def test(self, pending: Connection) -> None:
        """Log in with ``pending``'s credentials and run a trivial statement; raise on failure."""

    def revert(self, current: Connection, pending: Connection) -> None:  # noqa: B027 - optional
        """Undo :meth:`set` after a failed ``test`` so that ``current`` works (best effort)."""


# -- database access ----------------------------------------------------------------------------


def _flavour(conn: Connection) -> str:
    conn_type = (conn.conn_type or "").lower()
    if conn_type in _PG_TYPES:
        return "postgres"
    if conn_type in _MYSQL_TYPES:
        return "mysql"
    raise ConfigurationError(
        f"connection {conn.conn_id!r} has conn_type {conn.conn_type!r}; the built-in rotation "
        "strategies handle postgres and mysql connections (add a strategy for others)"
    )


@contextmanager
def session(conn: Connection) -> Iterator[Any]:
    """An autocommit DB-API connection opened with ``conn``'s credentials (closed on exit).

    Raises:
        AuthenticationFailed: the server rejected the credentials.
        MissingDependency: the driver is not installed.
    """
    flavour = _flavour(conn)
    if flavour == "postgres":
        try:
            import psycopg
        except ImportError as exc:
            raise MissingDependency("psycopg", "postgres", purpose="rotation") from exc
        try:
            db: Any = psycopg.connect(
                host=conn.host or "localhost",
                port=conn.port or 5432,
                dbname=conn.schema or "postgres",
                user=conn.login,
                password=conn.password or "",
                connect_timeout=_CONNECT_TIMEOUT_S,
                autocommit=True,
            )
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc) or "28P01" in str(exc):
                raise AuthenticationFailed(
                    "password authentication failed", conn_id=conn.conn_id
                ) from None
            raise
    else:
        try:
            import pymysql
        except ImportError as exc:
            raise MissingDependency("pymysql", "mysql", purpose="rotation") from exc
        try:
            db = pymysql.connect(
                host=conn.host or "localhost",
                port=conn.port or 3306,
                database=conn.schema or None,
                user=conn.login or "",
                password=conn.password or "",
                connect_timeout=_CONNECT_TIMEOUT_S,
                autocommit=True,
            )
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == 1045:  # ER_ACCESS_DENIED_ERROR
                raise AuthenticationFailed("access denied", conn_id=conn.conn_id) from None
            raise
    try:
        yield db
    finally:
        db.close()


def _run(db: Any, statement: Any, params: tuple[Any, ...] | None = None) -> list[Any]:
    cursor = db.cursor()
    try:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        cursor.close()


_SCRAM: Final = b"scram-sha-256"


def _pg_set_password(db: Any, user: str, password: str) -> None:
    """``ALTER ROLE user PASSWORD '<SCRAM-SHA-256 verifier>'``: the password never leaves here."""
    from psycopg import sql

    # libpq's PQencryptPasswordConn, the call behind psql's \password: a random 16-byte salt,
    # the server's default iteration count (4096). The algorithm is named so that a server whose
    # password_encryption is still md5 never gets an md5 hash.
    verifier = db.pgconn.encrypt_password(
        password.encode("utf-8"), user.encode("utf-8"), _SCRAM
    ).decode("ascii")
    # Utility statements take no bind parameters: the verifier is quoted as a literal.
    _run(
        db, sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(user), sql.Literal(verifier))
    )


def _test(conn: Connection) -> None:
    with session(conn) as db:
        _run(db, "SELECT 1")


# -- single user --------------------------------------------------------------------------------


class SingleUser(Strategy):
    """The user changes its own password (see the module docstring)."""

    name = "single_user"

    def set(self, current: Connection, pending: Connection) -> None:
        try:
            with session(current) as db:
                self._set_own(db, pending)
        except AuthenticationFailed:
            _test(pending)  # a replay: the server has the new password already

    @staticmethod
    def _set_own(db: Any, target: Connection) -> None:
        if _flavour(target) == "postgres":
            _pg_set_password(db, str(target.login), target.password or "")
        elif "mariadb" in str(_run(db, "SELECT VERSION()")[0][0]).lower():
            # MariaDB's ALTER USER needs the CREATE USER privilege even for one's own account.
            _run(db, "SET PASSWORD = PASSWORD(%s)", (target.password or "",))
        else:
            _run(db, "ALTER USER USER() IDENTIFIED BY %s", (target.password or "",))

    def test(self, pending: Connection) -> None:
        _test(pending)

    def revert(self, current: Connection, pending: Connection) -> None:
        try:
            with session(pending) as db:
                self._set_own(db, current)
        except AuthenticationFailed:
            _test(current)  # the new password never took: nothing to undo


# -- alternating users --------------------------------------------------------------------------


class AlternatingUsers(Strategy):
    """Two users, switched at each rotation (see the module docstring)."""

    name = "alternating_users"
    switches_login = True

    def _pair(self, login: str) -> tuple[str, str]:
        suffix = self.alternate_suffix
        base = login[: -len(suffix)] if login.endswith(suffix) else login
        return base, base + suffix

    def create(self, current: Connection, password: str) -> Connection:
        if not current.login:
            raise ConfigurationError(f"connection {current.conn_id!r} has no login to alternate")
        base, other = self._pair(current.login)
        return current.replace(login=other if current.login == base else base, password=password)

    def _admin(self, conn: Connection) -> Connection:
        if self.admin is None:
            raise ConfigurationError(
                f"the alternating_users strategy needs an admin connection for {conn.conn_id!r}: "
                "set the rotation_admin_conn_id extra or [rotation] admin_conn_id"
            )
        return self.admin

    def set(self, current: Connection, pending: Connection) -> None:
        base, _ = self._pair(str(current.login))
        target, password = str(pending.login), pending.password or ""
        with session(self._admin(current)) as db:
            if _flavour(pending) == "postgres":
                self._pg_set(db, base, target, password)
            else:
                self._mysql_set(db, base, target, password)

    @staticmethod
    def _pg_set(db: Any, base: str, target: str, password: str) -> None:
        from psycopg import sql

        if not _run(db, "SELECT 1 FROM pg_roles WHERE rolname = %s", (target,)):
            roles = _run(
                db,
                "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
                (base,),
            )
            _run(db, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(target)))
            for name in [base, *(str(row[0]) for row in roles)]:
                _run(
                    db,
                    sql.SQL("GRANT {} TO {}").format(sql.Identifier(name), sql.Identifier(target)),
                )
        _pg_set_password(db, target, password)

    @staticmethod
    def _mysql_set(db: Any, base: str, target: str, password: str) -> None:
        hosts = [
            str(row[0]) for row in _run(db, "SELECT Host FROM mysql.user WHERE User = %s", (base,))
        ]
        if not hosts:
            raise ConfigurationError(f"the user {base!r} does not exist on the server")
        existing = {
            str(row[0])
            for row in _run(db, "SELECT Host FROM mysql.user WHERE User = %s", (target,))
        }
        for host in hosts:
            if host not in existing:
                _run(db, "CREATE USER %s@%s IDENTIFIED BY %s", (target, host, password))
                for (grant,) in _run(db, "SHOW GRANTS FOR %s@%s", (base, host)):
                    text = _retarget_grant(str(grant), base, target, host)
                    if text is not None:
                        _run(db, text)
            _run(db, "ALTER USER %s@%s IDENTIFIED BY %s", (target, host, password))

    def test(self, pending: Connection) -> None:
        _test(pending)


_IDENTIFIED: Final = re.compile(r"\s+IDENTIFIED\s+(BY|VIA|WITH)\b.*$", re.IGNORECASE | re.DOTALL)


def _retarget_grant(grant: str, base: str, target: str, host: str) -> str | None:
    """A ``SHOW GRANTS`` line for ``base`` rewritten for ``target`` (its password clause dropped),
    or None for a line naming no grantee we know."""
    for quote in ("'", "`"):
        grantee = f"{quote}{base}{quote}@{quote}{host}{quote}"
        if grantee in grant:
            text = grant.replace(grantee, f"{quote}{target}{quote}@{quote}{host}{quote}")
            return _IDENTIFIED.sub("", text)
    return None


# -- registry ------------------------------------------------------------------------------------

_builtin: dict[str, type[Strategy]] = {
    SingleUser.name: SingleUser,
    AlternatingUsers.name: AlternatingUsers,
}
_registered: dict[str, type[Strategy]] = {}


def register_strategy(name: str, strategy: type[Strategy]) -> None:
    """Register ``strategy`` under ``name`` in this process (entry points do it for packages)."""
    if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
        raise ConfigurationError(f"rotation strategy {name!r} is not a Strategy subclass")
    _registered[name] = strategy


def _entry_points() -> dict[str, Callable[[], Any]]:
    from importlib.metadata import entry_points

    return {ep.name: ep.load for ep in entry_points(group=STRATEGY_GROUP)}


def strategy_names() -> list[str]:
    """Every strategy name known: built in, registered, and from entry points."""
    return sorted({*_builtin, *_registered, *_entry_points()})


def get_strategy(name: str) -> type[Strategy]:
    """The strategy class registered under ``name``.

    Raises:
        ConfigurationError: no strategy has that name, or the entry point is not a Strategy.
    """
    found = _registered.get(name) or _builtin.get(name)
    if found is not None:
        return found
    loader = _entry_points().get(name)
    if loader is None:
        raise ConfigurationError(
            f"unknown rotation strategy {name!r} (known: {', '.join(strategy_names())})"
        )
    loaded = loader()
    if not (isinstance(loaded, type) and issubclass(loaded, Strategy)):
        raise ConfigurationError(
            f"the entry point {name!r} of {STRATEGY_GROUP} is not a Strategy subclass"
        )
    return loaded
