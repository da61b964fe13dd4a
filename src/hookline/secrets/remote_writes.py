"""Writes, credential-rotation staging and Airflow Variables for the remote secrets backends.

:class:`WritableRemoteBackend` extends :class:`~hookline.secrets.remote.RemoteBackend` with what the
Vault/OpenBao, AWS Secrets Manager, SSM and GCP Secret Manager backends share beyond reading
connections. Each backend only says how to store, read and delete one *document* (the stored text
at one key) and how a variable is stored; this module builds the contracts of
:class:`~hookline.secrets.base.SecretsBackend` on top:

* **Writes** (``writable``): a connection is written in the form the backend reads, Airflow's JSON
  (:meth:`~hookline.connection.Connection.to_json`), at :meth:`build_path` of its id, so the same
  ``connections_prefix``/``connections_path``, ``sep``, lookup pattern and path checks
  (:mod:`hookline.secrets.ids`) apply. An id the backend would never look up (the lookup pattern,
  the store's name rules) is refused, not written where no read finds it. ``overwrite=False`` uses
  the store's create-only call where it has one. Writes that are not idempotent are not retried.
  Errors are those of the reads: :class:`~hookline.exceptions.BackendPermissionDenied` for a refusal,
  :class:`~hookline.exceptions.BackendUnavailable` for an unreachable store, messages naming the
  backend and key and never a value. Remote backends are never the default write target of a chain
  (``writes_by_default`` is False): they are written only when asked by name
  (``hookline connections add --backend vault``).
* **Staging** (``stageable``, credential rotation): unless the backend overrides it (AWS Secrets
  Manager uses its own staging labels), the pending version lives in a *sibling* document at
  :meth:`pending_key`: ``{connections_prefix}__pending{sep}{conn_id}`` (Vault:
  ``{connections_path}__pending/{conn_id}``), outside the connections prefix, so lookups and
  listings never see it. The document is JSON: ``token``, ``step``, ``created_at``, ``state``
  (``"pending"``; ``"promoted"`` once promoted) and, while pending, ``connection`` (the new
  connection's JSON). Promoting writes the connection, then turns the document into a
  ``"promoted"`` marker without the value (so a promote replayed after a crash is a no-op);
  discarding deletes it. Read-then-write: two rotations started at the same instant are not
  detected by this backend (hookline's rotation takes one connection at a time).
* **Variables**: :meth:`get_variable` reads ``{variables_prefix}{sep}{key}`` (Vault:
  ``{variables_path}/{key}``), as Airflow's backends do; ``variables_prefix=None`` switches variable
  lookups off; ``variables_lookup_pattern`` is a whole-key match like the connections one.
  :meth:`set_variable` and :meth:`delete_variable` write the same key (``variable_writable``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
from typing import Any, ClassVar

from hookline.connection import Connection
from hookline.exceptions import (
    ConfigurationError,
    InvalidConnection,
    InvalidVariable,
    RotationError,
)
from hookline.secrets.base import PendingVersion
from hookline.secrets.ids import conn_id_path_problem
from hookline.secrets.remote import RemoteBackend

__all__ = ["PENDING_SUFFIX", "WritableRemoteBackend", "check_step", "pending_conflict"]

log = logging.getLogger(__name__)

#: Appended to the connections prefix to form the prefix of pending (staged) documents.
PENDING_SUFFIX = "__pending"

_STEPS = ("create", "set", "test")


class WritableRemoteBackend(RemoteBackend):
    """A remote backend that also writes, stages rotations and serves variables (see module docs).

    Args:
        variables_prefix: Prefix of the variables' keys (``None``: variable lookups off).
        variables_lookup_pattern: Regex the whole key must match (``re.fullmatch``,
            case-insensitive) for a variable lookup to cost an API call.
        **kwargs: :class:`~hookline.secrets.remote.RemoteBackend`'s arguments.

    Subclasses implement :meth:`_get_doc`, :meth:`_put_doc` and :meth:`_delete_doc`.
    """

    writable = True
    stageable = True
    variable_writable = True
    writes_by_default: ClassVar[bool] = False

    def __init__(
        self,
        *,
        variables_prefix: str | None = None,
        variables_lookup_pattern: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.variables_prefix = variables_prefix
        self.variables_lookup_pattern = variables_lookup_pattern
        try:
            self._variables_pattern = (
                re.compile(variables_lookup_pattern, re.IGNORECASE)
                if variables_lookup_pattern is not None
                else None
            )
        except re.error as exc:
            raise ConfigurationError(
                f"{self.name}: variables_lookup_pattern is not a valid regex: {exc}"
            ) from None

    # -- documents (subclass hooks) -------------------------------------------------------------

    def _get_doc(self, client: Any, key: str) -> str | None:
        """The stored text at ``key`` exactly as stored (no alias mapping), or None when absent."""
        raise NotImplementedError

    def _put_doc(self, client: Any, key: str, text: str, *, overwrite: bool) -> bool:
        """Store ``text`` at ``key``; with ``overwrite`` False only when ``key`` holds nothing.

        Returns False (and stores nothing) when ``overwrite`` is False and ``key`` exists.
        """
        raise NotImplementedError

    def _delete_doc(self, client: Any, key: str) -> bool:
        """Delete ``key`` (every version); return whether it existed."""
        raise NotImplementedError

    def _valid_key(self, key: str) -> bool:
        """Whether the store can hold a document at ``key`` (its name rules)."""
        return True

    # -- documents (with the error mapping) -----------------------------------------------------

    def get_doc(self, key: str) -> str | None:
        """Read one document (see :meth:`_get_doc`) with the read error mapping and retries."""
        return self._call(f"read {key!r}", lambda client: self._get_doc(client, key))

    def put_doc(self, key: str, text: str, *, overwrite: bool = True) -> bool:
        """Write one document; True when written, False when it exists and ``overwrite`` is False.

        An overwrite is idempotent and retried; a create-only write is attempted once.
        """
        written = self._call(
            f"write {key!r}",
            lambda client: self._put_doc(client, key, text, overwrite=overwrite),
            retry=overwrite,
            absent=False,
        )
        return bool(written)

    def delete_doc(self, key: str) -> bool:
        """Delete one document; return whether it existed (attempted once)."""
        existed = self._call(
            f"delete {key!r}", lambda client: self._delete_doc(client, key), retry=False
        )
        return bool(existed)

    # -- connections ----------------------------------------------------------------------------

    def _write_key(self, conn_id: str | None) -> str:
        """The key a write of ``conn_id`` goes to: the key a lookup of it reads.

        Raises:
            InvalidConnection: no conn_id, an unsafe one, or one this backend would never look up.
            ConfigurationError: connection lookups are off (``connections_prefix=None``).
        """
        if conn_id is None:
            raise InvalidConnection("a connection needs a conn_id to be stored")
        if self.connections_prefix is None:
            raise ConfigurationError(
                f"{self.name}: connection lookups are off (no connections prefix/path); "
                "nothing can be written"
            )
        if not self.wants(conn_id):
            raise InvalidConnection(
                f"conn_id {conn_id!r} cannot be stored in the {self.name} backend: lookups "
                "would never read it (connections_lookup_pattern or the store's name rules)",
                conn_id=conn_id,
            )
        key = self.build_path(conn_id)
        assert key is not None  # lookups are on
        return key

    def set_connection(self, conn: Connection, *, overwrite: bool = True) -> None:
        """Store ``conn`` as Airflow's JSON at the key lookups read.

        Raises:
            InvalidConnection: ``overwrite`` is False and the id exists, or the id cannot be stored.
            BackendPermissionDenied: the store refused the write.
            BackendUnavailable: the store could not be reached within the deadline.
        """
        key = self._write_key(conn.conn_id)
        if not self.put_doc(key, conn.to_json(), overwrite=overwrite):
            raise InvalidConnection(
                f"connection {conn.conn_id!r} already exists in {self.name}; pass overwrite=True "
                "to replace it",
                conn_id=conn.conn_id,
            )

    def delete_connection(self, conn_id: str) -> bool:
        """Delete ``conn_id`` (every stored version); return whether it existed."""
        return self.delete_doc(self._write_key(conn_id))

    # -- staging (credential rotation) ------------------------------------------------------------

    def pending_key(self, conn_id: str) -> str:
        """The key of the sibling document holding the pending version of ``conn_id``."""
        self._write_key(conn_id)  # the same checks as a write of the connection itself
        return f"{self.connections_prefix}{PENDING_SUFFIX}{self.sep}{conn_id}"

    def _pending_record(self, conn_id: str) -> dict[str, Any] | None:
        text = self.get_doc(self.pending_key(conn_id))
        if text is None:
            return None
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("token"), str):
            raise RotationError(
                f"the pending version of {conn_id!r} in {self.name} is not a hookline pending "
                f"record ({self.pending_key(conn_id)!r}); delete it or fix it by hand",
                step="create",
            )
        return record

    def put_pending(self, conn: Connection, *, token: str, step: str) -> None:
        """Store ``conn`` as the pending version (``token``, ``step``) in the sibling document.

        Raises:
            RotationError: another token's version is pending, or the step is unknown.
        """
        conn_id = str(conn.conn_id)
        check_step(step)
        record = self._pending_record(conn_id)
        created_at = time.time()
        if record is not None and record.get("state") == "pending":
            if record["token"] != token:
                raise pending_conflict(conn_id, self.name, step)
            created_at = float(record.get("created_at") or created_at)
        new = {
            "token": token,
            "step": step,
            "created_at": created_at,
            "state": "pending",
            "connection": conn.to_json(),
        }
        self.put_doc(self.pending_key(conn_id), json.dumps(new))

    def get_pending(self, conn_id: str) -> PendingVersion | None:
        """The pending version of ``conn_id``, or None."""
        record = self._pending_record(conn_id)
        if record is None or record.get("state") != "pending":
            return None
        conn = Connection.from_text(str(record.get("connection") or ""), conn_id=conn_id)
        return PendingVersion(
            conn, record["token"], str(record.get("step")), float(record.get("created_at") or 0)
        )

    def promote_pending(self, conn_id: str, token: str) -> None:
        """Write the pending version ``token`` as the connection, then mark it promoted.

        Raises:
            RotationError: ``token`` is neither pending nor the last one promoted.
        """
        record = self._pending_record(conn_id)
        if record is not None and record["token"] == token:
            if record.get("state") == "promoted":
                return  # already current: a replayed promote
            conn = Connection.from_text(str(record.get("connection") or ""), conn_id=conn_id)
            self.set_connection(conn, overwrite=True)
            marker = {"token": token, "state": "promoted", "promoted_at": time.time()}
            self.put_doc(self.pending_key(conn_id), json.dumps(marker))
            return
        raise RotationError(
            f"connection {conn_id!r} has no pending version of this rotation to promote in "
            f"{self.name}",
            step="finish",
        )

    def discard_pending(self, conn_id: str, token: str) -> None:
        """Delete the pending version ``token``; nothing when it is not pending."""
        record = self._pending_record(conn_id)
        if record is not None and record["token"] == token and record.get("state") == "pending":
            self.delete_doc(self.pending_key(conn_id))

    # -- variables --------------------------------------------------------------------------------

    def build_variable_path(self, key: str) -> str | None:
        """The store key of variable ``key``, or None when variable lookups are off.

        Raises:
            InvalidVariable: ``key`` is empty, holds a control character, or would change the path
                it is put in (the rules of :mod:`hookline.secrets.ids`).
        """
        prefix = self.variables_prefix
        if prefix is None:
            return None
        _check_variable_key(key, self.name)
        return key if prefix == "" else f"{prefix}{self.sep}{key}"

    def wants_variable(self, key: str) -> bool:
        """Whether a lookup of variable ``key`` costs an API call (prefix on, pattern matches, and
        the store can name the key)."""
        path = self.build_variable_path(key)
        if path is None or not self._valid_key(path):
            return False
        return self._variables_pattern is None or self._variables_pattern.fullmatch(key) is not None

    def handles_variable(self, key: str) -> bool:
        """Same as :meth:`wants_variable`: the chain skips this backend (no API call) when it
        says no."""
        return self.wants_variable(key)

    def variable_lookup_keys(self, key: str) -> list[str]:
        if not self.wants_variable(key):
            return []
        path = self.build_variable_path(key)
        return [] if path is None else [path]

    def _variable_from_doc(self, text: str) -> str | None:
        """The variable's value from its stored document (raw text; Vault overrides)."""
        return text

    def _variable_doc(self, value: str) -> str:
        """The document storing ``value`` (raw text; Vault overrides)."""
        return value

    def get_variable(self, key: str) -> str | None:
        """The variable's value as stored, or None when absent (or not looked up here).

        Raises:
            InvalidVariable: the key would change the path it is put in.
            BackendUnavailable, BackendPermissionDenied: as for connection lookups.
        """
        if not self.wants_variable(key):
            self._bump("skipped")
            return None
        path = self.build_variable_path(key)
        assert path is not None
        self._bump("lookups")
        text = self.get_doc(path)
        if text is None:
            self._bump("absent")
            return None
        return self._variable_from_doc(text)

    def _variable_write_key(self, key: str) -> str:
        if self.variables_prefix is None:
            raise ConfigurationError(
                f"{self.name}: variable lookups are off (no variables prefix/path); "
                "nothing can be written"
            )
        if not self.wants_variable(key):
            raise InvalidVariable(
                f"variable {key!r} cannot be stored in the {self.name} backend: lookups would "
                "never read it (variables_lookup_pattern or the store's name rules)",
                key=key,
            )
        path = self.build_variable_path(key)
        assert path is not None
        return path

    def set_variable(self, key: str, value: str, *, overwrite: bool = True) -> None:
        """Store variable ``key`` in the form Airflow's backend reads.

        Raises:
            InvalidVariable: ``overwrite`` is False and it exists, or the key cannot be stored.
        """
        if not isinstance(value, str):
            raise InvalidVariable(
                f"variable {key!r}: a value must be text, not {type(value).__name__}", key=key
            )
        path = self._variable_write_key(key)
        if not self.put_doc(path, self._variable_doc(value), overwrite=overwrite):
            raise InvalidVariable(
                f"variable {key!r} already exists in {self.name}; pass overwrite=True to "
                "replace it",
                key=key,
            )

    def delete_variable(self, key: str) -> bool:
        """Delete variable ``key``; return whether it existed."""
        return self.delete_doc(self._variable_write_key(key))


def check_step(step: str) -> None:
    """Raise :class:`RotationError` for a step that is not one of create, set, test."""
    if step not in _STEPS:
        raise RotationError(
            f"unknown rotation step {step!r}; expected one of {', '.join(_STEPS)}", step="create"
        )


def pending_conflict(conn_id: str, backend: str, step: str) -> RotationError:
    """The error for a second rotation (another token) of one connection."""
    return RotationError(
        f"connection {conn_id!r} already has a pending version of another rotation in "
        f"{backend}; finish or discard that one first",
        step=step,
    )


def _check_variable_key(key: str, backend: str) -> None:
    if not isinstance(key, str) or not key:
        raise InvalidVariable("a variable key must be a non-empty string")
    if any(unicodedata.category(ch)[0] == "C" for ch in key):
        raise InvalidVariable(f"variable key {key!r} holds a control or format character", key=key)
    problem = conn_id_path_problem(key)
    if problem is not None:
        raise InvalidVariable(
            f"variable {key!r} cannot be looked up in the {backend} backend: it has {problem}, "
            "which could address a secret outside the configured path",
            key=key,
        )
