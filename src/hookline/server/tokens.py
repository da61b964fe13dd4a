"""API tokens of ``hookline serve``: created, listed, revoked and checked, stored hashed.

A token reads ``hlt_<id>_<secret>``: ``id`` (12 hex characters) finds the row, ``secret`` (43
URL-safe characters, 256 random bits) is checked against its SHA-256 digest in constant time. Only
the digest is stored, in the table ``hookline_api_token`` of the metastore database (SQLite at
``$HOOKLINE_HOME/hookline.db`` by default, or ``[metastore] url``); the table is created on first
use. A plain hash is enough because the secret is random and long (no dictionary to try); the
token itself is shown once, when created, and never again.

Roles, each allowing what the one before allows:

* ``viewer``: read connections (never a password or a sensitive extra), traces, health, metrics,
  pipeline runs;
* ``editor``: also create, update, delete and test connections, and write variables;
* ``admin``: also reveal a secret (audited) and search the audit log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from hookline.exceptions import ApiTokenError

__all__ = ["ROLES", "ApiToken", "TokenStore", "role_allows"]

ROLES: Final[tuple[str, ...]] = ("viewer", "editor", "admin")
TOKEN_PREFIX: Final = "hlt_"
_TOKEN_RE: Final = re.compile(r"hlt_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})")
#: How long a token found valid is trusted before the database is asked again (seconds).
CACHE_SECONDS: Final = 1.0
_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")

_metadata = sa.MetaData()
token_table = sa.Table(
    "hookline_api_token",
    _metadata,
    sa.Column("token_id", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
)


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (roles are ordered viewer < editor < admin)."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


@dataclasses.dataclass(frozen=True, slots=True)
class ApiToken:
    """A token's public facts (never its secret)."""

    token_id: str
    name: str
    role: str
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


def _token(row: Any) -> ApiToken:
    return ApiToken(
        str(row.token_id), str(row.name), str(row.role), float(row.created_at), row.revoked_at
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def metastore_url(url: str | None = None, home: str | Path | None = None) -> str:
    """The SQLAlchemy URL of the metastore database: ``url``, else SQLite in the hookline home.

    The home is created (mode 0700) and the SQLite file (mode 0600) before SQLAlchemy opens it, as
    the metastore itself does.
    """
    if url:
        scheme, _, rest = url.partition("://")
        if scheme in {"postgresql", "postgres"}:
            return f"postgresql+psycopg://{rest}"
        return url
    from hookline.secrets.metastore.paths import (
        DB_FILE_NAME,
        create_private_file,
        hookline_home,
        make_home,
    )

    root = hookline_home(home)
    make_home(root)
    path = root / DB_FILE_NAME
    create_private_file(path)
    return f"sqlite:///{path}"


class TokenStore:
    """The API tokens in one database.

    Args:
        url: A SQLAlchemy URL (see :func:`metastore_url`).
    """

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.engine = sa.create_engine(url, **kwargs)
        self._ready = False
        self._lock = threading.Lock()
        # digest of a whole token -> (token, checked at): a token is re-read from the database at
        # most every CACHE_SECONDS, so a revocation by another process takes effect within that.
        self._recent: dict[str, tuple[ApiToken, float]] = {}

    def _setup(self) -> None:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    _metadata.create_all(self.engine, checkfirst=True)
                    self._ready = True

    def create(self, name: str, role: str) -> tuple[ApiToken, str]:
        """Create a token; return its facts and the token text (shown once, never stored).

        Raises:
            ApiTokenError: an invalid name or role, or the name is taken (revoked names included).
        """
        if role not in ROLES:
            raise ApiTokenError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        if not _NAME_RE.fullmatch(name):
            raise ApiTokenError(
                "a token name is 1-100 characters: letters, digits and _ . @ - "
                "(starting with a letter or digit)"
            )
        self._setup()
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        token = ApiToken(token_id, name, role, time.time())
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    token_table.insert().values(
                        token_id=token_id,
                        name=name,
                        role=role,
                        digest=_digest(secret),
                        created_at=token.created_at,
                    )
                )
        except sa.exc.IntegrityError:
            raise ApiTokenError(f"a token named {name!r} already exists") from None
        return token, f"{TOKEN_PREFIX}{token_id}_{secret}"

    def list(self) -> list[ApiToken]:
        """Every token, revoked ones included, oldest first."""
        self._setup()
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    token_table.c.token_id,
                    token_table.c.name,
                    token_table.c.role,
                    token_table.c.created_at,
                    token_table.c.revoked_at,
                ).order_by(token_table.c.created_at)
            ).all()
        return [_token(row) for row in rows]

    def revoke(self, name: str) -> ApiToken:
        """Revoke the token named ``name`` (it stops working at once).

        Raises:
            ApiTokenError: no active token has that name.
        """
        self._setup()
        now = time.time()
        with self.engine.begin() as conn:
            done = conn.execute(
                token_table.update()
                .where(token_table.c.name == name, token_table.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if done.rowcount != 1:
                raise ApiTokenError(f"no active token named {name!r}")
            self._recent.clear()
            row = conn.execute(
                sa.select(
                    token_table.c.token_id,
                    token_table.c.name,
                    token_table.c.role,
                    token_table.c.created_at,
                    token_table.c.revoked_at,
                ).where(token_table.c.name == name)
            ).one()
        return _token(row)

    def authenticate(self, text: str) -> ApiToken | None:
        """The active token ``text`` stands for, or None (malformed, unknown, revoked, wrong).

        A token found valid is remembered for :data:`CACHE_SECONDS` (keyed by its digest, never the
        text), so a busy client costs one database read per second, not one per request.
        """
        match = _TOKEN_RE.fullmatch(text.strip())
        if match is None:
            return None
        key = _digest(text.strip())
        now = time.monotonic()
        cached = self._recent.get(key)
        if cached is not None and now - cached[1] < CACHE_SECONDS:
            return cached[0]
        token = self._authenticate(match)
        if token is not None:
            if len(self._recent) > 1000:
                self._recent.clear()
            self._recent[key] = (token, now)
        else:
            self._recent.pop(key, None)
        return token

    def _authenticate(self, match: re.Match[str]) -> ApiToken | None:
        self._setup()
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(token_table).where(token_table.c.token_id == match["id"])
            ).first()
        # Compare a digest even when there is no row, so timing does not tell ids apart.
        stored = row.digest if row is not None else "0" * 64
        same = hmac.compare_digest(stored, _digest(match["secret"]))
        if row is None or not same or row.revoked_at is not None:
            return None
        return _token(row)

    def get(self, token_id: str) -> ApiToken | None:
        """The active token with this id (a UI session re-checks it on each request)."""
        self._setup()
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(token_table).where(token_table.c.token_id == token_id)
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        return _token(row)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()
