"""Fernet encryption of stored secrets: key rings, key fingerprints, the local key file.

A :class:`KeyRing` wraps :class:`cryptography.fernet.MultiFernet`: the **first** key encrypts, every key
decrypts, and :meth:`KeyRing.rotate` re-encrypts a token with the first key. Keys are identified in
messages and in the metastore by a *fingerprint* (the first 8 hex digits of the SHA-256 of the key),
never by the key itself.

:func:`load_keyring` finds the keys: the explicit argument, else ``HOOKLINE_FERNET_KEY`` (a comma-
separated list, first key writes), else a configured key file, else ``$HOOKLINE_HOME/fernet.key``. The metastore generates
that file (mode 0600) only for its embedded SQLite database and only while it holds no rows: a new key
could not read rows written under another, and a shared database needs one key on every machine.
hookline never stores plaintext for want of a key.
"""

from __future__ import annotations

import binascii
import contextlib
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from hookline.config import DEFAULT_HOME
from hookline.exceptions import ConfigurationError, DecryptionError, KeyNotConfigured
from hookline.secrets.metastore.paths import check_private_dir, check_secret_file, hookline_home

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

__all__ = [
    "DEFAULT_HOME",
    "FERNET_KEY_ENV",
    "KEY_FILE_NAME",
    "KeyNotConfigured",
    "KeyRing",
    "configured_keyring",
    "create_home_keyring",
    "fingerprint",
    "generate_key",
    "home_key_file",
    "hookline_home",
    "load_keyring",
    "parse_keys",
]

log = logging.getLogger(__name__)

FERNET_KEY_ENV: Final = "HOOKLINE_FERNET_KEY"
KEY_FILE_NAME: Final = "fernet.key"
_KEY_SPLIT = re.compile(r"[,\s]+")


def generate_key() -> str:
    """A new random Fernet key (32 bytes, url-safe base64, 44 characters)."""
    from cryptography.fernet import Fernet  # imported on first need: ~70 ms

    return Fernet.generate_key().decode("ascii")


def fingerprint(key: str | bytes) -> str:
    """A short, non-reversible id of a key: the first 8 hex digits of its SHA-256."""
    raw = key.encode("ascii", "replace") if isinstance(key, str) else key
    import hashlib

    return hashlib.sha256(raw.strip()).hexdigest()[:8]


def parse_keys(keys: str | Sequence[str]) -> list[str]:
    """Split a comma-separated key list (or strip a sequence of keys); empty entries are dropped."""
    items = _KEY_SPLIT.split(keys) if isinstance(keys, str) else [str(k) for k in keys]
    return [k.strip() for k in items if k and k.strip()]


class KeyRing:
    """An ordered set of Fernet keys: the first encrypts, all decrypt.

    Args:
        keys: One or more Fernet keys (url-safe base64 of 32 bytes), the encrypting key first.
        source: Where the keys came from, for error messages (``"HOOKLINE_FERNET_KEY"``, a path...).

    Raises:
        ConfigurationError: no key, or a malformed key (the message gives its position, never its text).
    """

    __slots__ = ("_errors", "_fernet", "_fingerprints", "_keys", "_primary", "source")

    def __init__(self, keys: Sequence[str], *, source: str = "argument") -> None:
        if isinstance(keys, str):
            keys = parse_keys(keys)
        if not keys:
            raise ConfigurationError(f"no Fernet key given (from {source})")
        # cryptography is imported when a key ring is first built (~70 ms), not with hookline.
        from cryptography.fernet import Fernet, InvalidToken, MultiFernet

        self._errors: tuple[type[Exception], ...] = (InvalidToken, UnicodeError, ValueError)
        fernets: list[Fernet] = []
        for index, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.strip()))
            except (ValueError, TypeError, binascii.Error):
                raise ConfigurationError(
                    f"Fernet key #{index} of {len(keys)} (from {source}) is malformed: a key is 32 "
                    "url-safe base64-encoded bytes (44 characters); generate one with "
                    "`hookline keys generate`"
                ) from None
        self._fernet = MultiFernet(fernets)
        self._primary = fernets[0]
        self._keys = tuple(keys)
        self._fingerprints: tuple[str, ...] | None = None
        self.source = source

    @property
    def fingerprints(self) -> tuple[str, ...]:
        """The fingerprints of the keys, encrypting key first (computed on first need: a lookup
        that decrypts does not load :mod:`hashlib`'s OpenSSL binding)."""
        found = self._fingerprints
        if found is None:
            found = self._fingerprints = tuple(fingerprint(k) for k in self._keys)
        return found

    @property
    def primary_fingerprint(self) -> str:
        """The fingerprint of the encrypting (first) key."""
        return self.fingerprints[0]

    def encrypt(self, text: str) -> str:
        """Encrypt ``text`` with the first key; returns the Fernet token as text."""
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(
        self,
        token: str,
        *,
        conn_id: str | None,
        field: str = "value",
        key_id: str | None = None,
    ) -> str:
        """Decrypt ``token`` with any configured key.

        Args:
            token: A Fernet token made by :meth:`encrypt`.
            conn_id: The connection the value belongs to (named in the error).
            field: Which field the token holds (``"password"``, ``"extra"``), for the error.
            key_id: The fingerprint of the key that encrypted it, when recorded.

        Raises:
            DecryptionError: no configured key decrypts the token; names the conn_id and the key
                fingerprints tried, never a key or a value.
        """
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except self._errors:
            raise self._error(conn_id, field, key_id) from None

    def rotate(
        self,
        token: str,
        *,
        conn_id: str | None = None,
        field: str = "value",
        key_id: str | None = None,
    ) -> str:
        """Re-encrypt ``token`` with the first key (it may have been made with any configured key).

        Raises:
            DecryptionError: no configured key decrypts the token.
        """
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except self._errors:
            raise self._error(conn_id, field, key_id) from None

    def is_primary(self, token: str) -> bool:
        """True when ``token`` decrypts with the first (encrypting) key."""
        try:
            self._primary.decrypt(token.encode("ascii"))
        except self._errors:
            return False
        return True

    def _error(self, conn_id: str | None, field: str, key_id: str | None) -> DecryptionError:
        tried = ", ".join(self.fingerprints)
        what = f"the {field} of connection {conn_id!r}" if conn_id is not None else f"a {field}"
        if key_id is not None and key_id not in self.fingerprints:
            cause = f"it was encrypted with key {key_id}, which is not configured"
        else:
            cause = "no configured key matches it"
        return DecryptionError(
            f"cannot decrypt {what}: {cause} (keys tried: {tried}, from {self.source}). Put the key "
            f"that encrypted it in {FERNET_KEY_ENV} after the current one (comma-separated), then "
            "run `hookline keys rotate`",
            conn_id=conn_id,
            key_ids=self.fingerprints,
        )

    def __repr__(self) -> str:
        return f"KeyRing(fingerprints={list(self.fingerprints)!r}, source={self.source!r})"


def _key_file_error(path: Path, action: str, exc: OSError) -> ConfigurationError:
    reason = exc.strerror or type(exc).__name__
    return ConfigurationError(
        f"cannot {action} the Fernet key file {path}: {reason}. Make HOOKLINE_HOME a writable "
        f"directory, or set {FERNET_KEY_ENV}"
    )


def _read_key_file(path: Path) -> KeyRing:
    try:
        fd = os.open(path, os.O_RDONLY)  # symlinks allowed (Kubernetes mounts secrets as links)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _key_file_error(path, "read", exc) from exc
    try:
        st = os.fstat(fd)  # the file actually opened: its owner and mode are checked
        check_secret_file(path, st, "the Fernet key file")
        text = os.read(fd, 65536).decode("ascii", "replace")
    except OSError as exc:
        raise _key_file_error(path, "read", exc) from exc
    finally:
        os.close(fd)
    keys = parse_keys(text)
    if not keys:
        raise ConfigurationError(f"the Fernet key file {path} is empty")
    return KeyRing(keys, source=str(path))


def _create_key_file(path: Path) -> None:
    """Write a new key to ``path`` atomically (mode 0600); a concurrent creator's key wins."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise _key_file_error(path, "create the directory of", exc) from exc
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (generate_key() + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and fails if another process created the file first
        except FileExistsError:
            pass
        else:
            log.warning(
                "generated a new Fernet key in %s (fingerprint %s); back it up: stored secrets "
                "cannot be read without it",
                path,
                fingerprint(path.read_text(encoding="ascii")),
            )
    except OSError as exc:
        raise _key_file_error(path, "create", exc) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def configured_keyring(
    keys: str | Sequence[str] | None,
    home: str | os.PathLike[str] | None,
    *,
    key_file: str | os.PathLike[str] | None = None,
    use_home_key_file: bool = True,
) -> KeyRing | None:
    """The configured keys, or None when none is configured anywhere (nothing is generated).

    Order: ``keys`` (a comma-separated string or a sequence), else ``$HOOKLINE_FERNET_KEY``
    (comma-separated), else ``key_file`` (which must exist), else ``<home>/fernet.key`` when it
    exists and ``use_home_key_file`` is true.

    Raises:
        ConfigurationError: a key is malformed, or a key file cannot be read, is empty, belongs to
            another user or is writable by group or others.
    """
    if keys is not None:
        parsed = parse_keys(keys)
        if not parsed:
            raise ConfigurationError("the Fernet key list given is empty")
        return KeyRing(parsed, source="argument")
    env_value = os.environ.get(FERNET_KEY_ENV)
    if env_value is not None and env_value.strip():
        return KeyRing(parse_keys(env_value), source=FERNET_KEY_ENV)
    if key_file is not None and str(key_file) != "":
        path = Path(key_file).expanduser()
        try:
            return _read_key_file(path)
        except FileNotFoundError:
            raise ConfigurationError(
                f"the configured Fernet key file {path} does not exist (hookline never generates "
                "a configured key file: put the key shared by every machine there, mode 0600)"
            ) from None
    if not use_home_key_file:
        return None
    path = hookline_home(home) / KEY_FILE_NAME
    check_private_dir(path.parent, "HOOKLINE_HOME")
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        return None


def home_key_file(home: str | os.PathLike[str] | None) -> Path:
    """Where the key file of ``home`` lives (``<home>/fernet.key``)."""
    return hookline_home(home) / KEY_FILE_NAME


def create_home_keyring(home: str | os.PathLike[str] | None) -> KeyRing:
    """Generate ``<home>/fernet.key`` (mode 0600) unless it exists, and load it.

    Only the embedded SQLite metastore calls this, and only when it holds no rows (see
    :class:`hookline.secrets.metastore.MetastoreBackend`).

    Raises:
        ConfigurationError: the key file cannot be created or read.
    """
    path = home_key_file(home)
    if path.parent.exists() and not path.parent.is_dir():
        raise ConfigurationError(
            f"HOOKLINE_HOME {path.parent} is not a directory; cannot keep the Fernet key file there"
        )
    _create_key_file(path)
    return _read_key_file(path)


def load_keyring(
    keys: str | Sequence[str] | None,
    home: str | os.PathLike[str] | None,
    *,
    create: bool = True,
    key_file: str | os.PathLike[str] | None = None,
) -> KeyRing:
    """Find the Fernet keys (see :func:`configured_keyring`) and build a :class:`KeyRing`.

    Args:
        keys: Explicit keys, or None.
        home: The hookline home directory (None: ``$HOOKLINE_HOME`` or ``~/.hookline``).
        create: Generate ``<home>/fernet.key`` when no key is configured; with False, raise
            :class:`KeyNotConfigured` instead. The metastore never passes True for a store that
            holds rows or is not its embedded SQLite (a new key could not read what is stored).
        key_file: A configured key file (must exist).

    Raises:
        ConfigurationError: a key is malformed, or a key file cannot be read or created.
        KeyNotConfigured: ``create`` is False and no key is configured anywhere.
    """
    ring = configured_keyring(keys, home, key_file=key_file)
    if ring is not None:
        return ring
    if not create:
        raise KeyNotConfigured(
            f"no Fernet key is configured: {FERNET_KEY_ENV} is not set and there is no key file "
            f"at {home_key_file(home)}"
        )
    return create_home_keyring(home)
