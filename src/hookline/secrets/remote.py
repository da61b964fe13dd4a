"""Common base of the remote secrets backends (Vault/OpenBao, AWS Secrets Manager and SSM, GCP).

Every remote store costs money and latency per call and can be down, slow or refuse access. This module
holds the behaviour they share, so each backend only says how to build its client, read one key, list a
prefix and classify its SDK's errors:

* **Safe keys**: a conn_id that would change the path or name it is put in (``..`` or ``.`` or empty
  segments, a backslash, percent-encoding, control characters: :mod:`hookline.secrets.ids`) is
  refused with :class:`~hookline.exceptions.InvalidConnection` before any API call.
* **Cost control**: a per-backend ``connections_lookup_pattern`` (a regex that must match the *whole*
  id, ``re.fullmatch`` with ``IGNORECASE``: ``"warehouse"`` matches only ``warehouse``, write
  ``"warehouse.*"`` for a prefix) so ids the store does not hold never cost an API call;
  ``connections_prefix=None`` switches connection lookups off entirely.
* **One error mapping**: the subclass classifies an SDK error as absent, retryable, denied, "needs a new
  login" or plain failure. Absent gives None; retryable errors are retried with exponential backoff and
  jitter (tenacity) within a total ``deadline_s``, then raise :class:`BackendUnavailable`; access denied
  raises :class:`BackendPermissionDenied`. The SDK error is kept as ``__cause__``; messages name the
  backend, the key, the attempts and the limits, never a secret or the SDK's own message text.
* **A hard deadline**: each attempt runs on a small per-backend worker pool and the caller waits at most
  the time left, so a server that accepts connections and never answers cannot hold a lookup past
  ``deadline_s``. SDK-level timeouts are set to the same bound so abandoned attempts end too.
* **Clients once**: the client (and its login) is created lazily, once per backend instance, under a
  lock, and reused; backends renew credentials before they expire instead of logging in per lookup.
* **Counters** per backend instance (:meth:`RemoteBackend.stats`): API calls, errors, retries, logins,
  skipped lookups and total latency.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    BackendPermissionDenied,
    BackendUnavailable,
    ConfigurationError,
    HooklineError,
    InvalidConnection,
)
from hookline.secrets.base import SecretsBackend
from hookline.secrets.ids import check_conn_id_path

__all__ = ["ErrorKind", "RemoteBackend", "Verdict", "standardize_secret_keys"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Airflow's key aliases for JSON secrets (AWS Secrets Manager ``_standardize_secret_keys``).
AIRFLOW_KEY_ALIASES: Mapping[str, tuple[str, ...]] = {
    "login": ("login", "user", "username", "user_name"),
    "password": ("password", "pass", "key"),
    "host": ("host", "remote_host", "server"),
    "port": ("port",),
    "schema": ("database", "schema"),
    "conn_type": ("conn_type", "conn_id", "connection_type", "engine"),
    "extra": ("extra",),
    "description": ("description",),
}


def standardize_secret_keys(
    secret: Mapping[str, Any], extra_conn_words: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    """Map a JSON secret's keys to connection fields using Airflow's aliases.

    ``user``/``username``/``user_name`` become ``login``, ``database`` becomes ``schema``, ``engine``
    becomes ``conn_type`` and so on; ``extra_conn_words`` adds aliases per field. Keys that match no
    field are dropped, as Airflow does. Fields that are absent are left out.

    Args:
        secret: The decoded JSON object.
        extra_conn_words: More aliases, e.g. ``{"login": ["account"]}``.

    Returns:
        A dict accepted by :meth:`Connection.from_dict`.
    """
    aliases = {field: list(words) for field, words in AIRFLOW_KEY_ALIASES.items()}
    for field, words in (extra_conn_words or {}).items():
        aliases.setdefault(field, []).extend(words)
    result: dict[str, Any] = {}
    for field, words in aliases.items():
        for word in words:
            if word in secret:
                result[field] = secret[word]
                break
    return result


class ErrorKind(enum.Enum):
    """How the base treats an SDK error."""

    ABSENT = "absent"
    """The key does not exist: the lookup answers None."""
    RETRY = "retry"
    """Network error, timeout, 5xx or throttling: retried within the deadline."""
    DENIED = "denied"
    """Access refused: :class:`BackendPermissionDenied`, never retried."""
    REAUTH = "reauth"
    """Credentials expired or were revoked: drop the client, log in again and retry once."""
    FAIL = "fail"
    """Any other error: :class:`BackendUnavailable` at once, without retrying."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """A classified SDK error.

    Attributes:
        kind: What to do about it.
        reason: A short description safe to show (error type or code, HTTP status); never the SDK
            message text, which may echo request data.
    """

    kind: ErrorKind
    reason: str


class _RetryableAttempt(Exception):
    def __init__(self, cause: BaseException, reason: str) -> None:
        super().__init__(reason)
        self.cause = cause
        self.reason = reason


class RemoteBackend(SecretsBackend):
    """Base class of backends that read connections from a remote secret store.

    Subclasses set ``name``, ``default_connections_prefix`` and ``default_sep`` and implement
    :meth:`_create_client`, :meth:`_read`, :meth:`_list` and :meth:`_classify`.

    Args:
        connections_prefix: Prefix of the secret names holding connections; the key of ``conn_id`` is
            ``f"{prefix}{sep}{conn_id}"`` (just ``conn_id`` when the prefix is ``""``). ``None``
            switches connection lookups off.
        sep: Separator between prefix and conn_id.
        connections_lookup_pattern: Regex the whole conn_id must match (``re.fullmatch``,
            case-insensitive) for this backend to be asked at all; ``None`` asks for every id.
            Unlike Airflow's ``re.match`` it is not a prefix match: ``"warehouse"`` does not match
            ``warehouse/../admin`` or ``warehouse_2``; write ``"warehouse.*"`` for a prefix.
        deadline_s: Total time one lookup may take, all attempts and backoff included.
        max_attempts: Attempts per lookup for retryable errors (1 disables retrying).
        backoff_initial_s: First backoff wait; it doubles per attempt, plus random jitter of the same size.
        backoff_max_s: Longest single backoff wait.
        max_workers: Size of the worker pool the attempts run on (bounds concurrent API calls).
    """

    listable = True

    name = "remote"
    default_connections_prefix: str | None = "airflow/connections"
    default_sep: str = "/"

    def __init__(
        self,
        *,
        connections_prefix: str | None = "",
        sep: str | None = None,
        connections_lookup_pattern: str | None = None,
        deadline_s: float = 10.0,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 1.0,
        max_workers: int = 4,
    ) -> None:
        # The SDK logs response bodies (the secret text) at DEBUG before hookline parses and
        # registers the connection inside: mask log records from now on.
        masking.activate()
        if deadline_s <= 0:
            raise ConfigurationError(f"{self.name}: deadline_s must be > 0, got {deadline_s!r}")
        if max_attempts < 1:
            raise ConfigurationError(
                f"{self.name}: max_attempts must be >= 1, got {max_attempts!r}"
            )
        if backoff_initial_s < 0 or backoff_max_s < 0:
            raise ConfigurationError(f"{self.name}: backoff times must be >= 0")
        self.connections_prefix = connections_prefix
        self.sep = self.default_sep if sep is None else sep
        self.connections_lookup_pattern = connections_lookup_pattern
        try:
            self._pattern = (
                re.compile(connections_lookup_pattern, re.IGNORECASE)
                if connections_lookup_pattern is not None
                else None
            )
        except re.error as exc:
            raise ConfigurationError(
                f"{self.name}: connections_lookup_pattern is not a valid regex: {exc}"
            ) from None
        self.deadline_s = float(deadline_s)
        self.max_attempts = int(max_attempts)
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self.max_workers = int(max_workers)
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        _backends.add(self)
        self._stats: dict[str, float] = dict.fromkeys(
            (
                "lookups",
                "skipped",
                "api_calls",
                "errors",
                "retries",
                "timeouts",
                "logins",
                "renewals",
                "absent",
                "latency_total_s",
            ),
            0,
        )

    # -- subclass hooks -----------------------------------------------------------------------

    def _create_client(self) -> Any:
        """Build the SDK client and authenticate (called once, under a lock, on a worker thread)."""
        raise NotImplementedError

    def _read(self, client: Any, key: str) -> str | None:
        """Read one secret by key; return its text, or None when it exists but holds nothing usable.

        SDK errors propagate and are classified by :meth:`_classify`.
        """
        raise NotImplementedError

    def _list(self, client: Any) -> dict[str, str]:
        """Fetch every connection under the prefix: ``{conn_id: text}`` in as few calls as possible."""
        raise NotImplementedError

    def _classify(self, exc: BaseException) -> Verdict:
        """Classify an SDK error (subclasses extend this; the default knows only builtin errors)."""
        if isinstance(exc, TimeoutError | ConnectionError):
            return Verdict(ErrorKind.RETRY, type(exc).__name__)
        return Verdict(ErrorKind.FAIL, type(exc).__name__)

    def _before_call(self, client: Any) -> Any:
        """Renew credentials when they are about to expire; return the client to use.

        Runs before every attempt. Subclasses renew in place (and return ``client``) or call
        :meth:`_drop_client` and return ``self._get_client()`` to build a fresh one.
        """
        return client

    def _close_client(self, client: Any) -> None:
        """Release the client's resources (subclasses close their SDK's client; nothing here)."""

    # -- keys and patterns --------------------------------------------------------------------

    def build_path(self, conn_id: str) -> str | None:
        """The store key for ``conn_id`` (Airflow's ``build_path``), or None when lookups are off.

        Raises:
            InvalidConnection: ``conn_id`` would change the path it is put in (see
                :mod:`hookline.secrets.ids`).
        """
        prefix = self.connections_prefix
        if prefix is None:
            return None
        check_conn_id_path(conn_id, backend=self.name)
        if prefix == "":
            return conn_id
        return f"{prefix}{self.sep}{conn_id}"

    def wants(self, conn_id: str) -> bool:
        """Whether this backend should be asked for ``conn_id`` at all: lookups are on and the whole
        id matches ``connections_lookup_pattern``.

        Raises:
            InvalidConnection: lookups are on and ``conn_id`` would change the path it is put in,
                whether or not the pattern matches (an unsafe id is refused, never skipped).
        """
        if self.connections_prefix is None:
            return False
        check_conn_id_path(conn_id, backend=self.name)
        return self._pattern is None or self._pattern.fullmatch(conn_id) is not None

    def handles(self, conn_id: str) -> bool:
        """Same as :meth:`wants`: the chain skips this backend (no API call) when it says no."""
        return self.wants(conn_id)

    def lookup_keys(self, conn_id: str) -> list[str]:
        if not self.wants(conn_id):
            return []
        key = self.build_path(conn_id)
        return [] if key is None else [key]

    def conn_id_for_key(self, key: str) -> str | None:
        """The conn_id a store key belongs to (the inverse of :meth:`build_path`), or None."""
        prefix = self.connections_prefix
        if prefix is None:
            return None
        if prefix == "":
            return key or None
        head = f"{prefix}{self.sep}"
        if key.startswith(head) and len(key) > len(head):
            return key[len(head) :]
        return None

    # -- the contract ---------------------------------------------------------------------------

    def get_conn_value(self, conn_id: str) -> str | None:
        """Return the stored text for ``conn_id`` or None; see the class docs for errors.

        Raises:
            InvalidConnection: ``conn_id`` would change the path it is put in (no API call is made).
            BackendUnavailable: the store could not answer within the deadline.
            BackendPermissionDenied: the store refused access.
        """
        key = self.build_path(conn_id) if self.wants(conn_id) else None
        if key is None:
            self._bump("skipped")
            return None
        self._bump("lookups")
        value = self._call(f"read {key!r}", lambda client: self._read(client, key))
        if value is None:
            self._bump("absent")
        return value

    def prefetch(self) -> dict[str, str]:
        """Fetch every connection under the prefix, for warm-up: ``{conn_id: text}``.

        Uses the store's bulk calls (list + batch reads), so it costs far fewer calls than one lookup
        per id. Ids that do not match ``connections_lookup_pattern`` are left out.

        Raises:
            BackendUnavailable: the store could not answer within the deadline.
            BackendPermissionDenied: the store refused access.
        """
        if self.connections_prefix is None:
            return {}
        found = self._call("list connections", self._list) or {}
        return {cid: text for cid, text in sorted(found.items()) if self._listed_wanted(cid)}

    def _listed_wanted(self, conn_id: str) -> bool:
        """Whether a listed id belongs in :meth:`prefetch`: an id no lookup would accept (an unsafe
        path, see :mod:`hookline.secrets.ids`) is left out with a warning, never served."""
        try:
            return self.wants(conn_id)
        except InvalidConnection:
            log.warning(
                "%s: leaving out stored connection %r: its id cannot be looked up safely",
                self.name,
                conn_id,
            )
            return False

    def list_connections(self) -> Iterator[Connection]:
        """Yield every connection under the prefix (built from :meth:`prefetch`)."""
        for conn_id, text in self.prefetch().items():
            yield Connection.from_text(text, conn_id=conn_id)

    def stats(self) -> dict[str, float]:
        """A snapshot of this backend's counters.

        Keys: ``lookups`` (asked, pattern matched), ``skipped`` (pattern or prefix said no: no call),
        ``api_calls``, ``errors`` (failed attempts; "not found" is not an error), ``retries``, ``timeouts`` (attempts abandoned at
        the deadline), ``logins``, ``renewals``, ``absent`` (lookups answered None) and
        ``latency_total_s`` (time spent in API calls).
        """
        with self._stats_lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        """Zero every counter."""
        with self._stats_lock:
            for key in self._stats:
                self._stats[key] = 0

    def close(self) -> None:
        """Close the client and stop the worker pool; the next lookup builds them again."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                self._close_client(client)
            except Exception:  # closing must not raise
                log.debug("%s: error while closing the client", self.name, exc_info=True)
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _after_fork_in_child(self) -> None:
        """A forked child starts without the parent's worker pool (its threads do not exist here:
        work submitted to it would wait until the deadline) and without its SDK client (whose
        sockets, and TLS sessions, the parent still uses: dropped, never closed here). Locks are
        new, as one may have been held by a parent thread at the fork. Subclasses that hold more
        per-process state extend this."""
        self._client = None
        self._executor = None
        self._client_lock = threading.Lock()
        self._executor_lock = threading.Lock()
        self._stats_lock = threading.Lock()

    # -- helpers for subclasses -----------------------------------------------------------------

    def _bump(self, counter: str, amount: float = 1) -> None:
        with self._stats_lock:
            self._stats[counter] += amount

    def _api(self, fn: Callable[[], T]) -> T:
        """Run one SDK API call, counting it, its latency and its failure.

        Subclasses wrap every call that reaches the store with this, so ``stats()`` counts calls
        exactly (a paginated listing counts one call per page).
        """
        start = time.perf_counter()
        try:
            return fn()
        finally:
            with self._stats_lock:
                self._stats["api_calls"] += 1
                self._stats["latency_total_s"] += time.perf_counter() - start

    def _get_client(self) -> Any:
        client = self._client
        if client is not None:
            return client
        with self._client_lock:
            if self._client is None:
                self._client = self._create_client()
            return self._client

    def _drop_client(self, client: Any = None) -> None:
        """Forget the client (``client``: only if it is still the current one) so the next attempt
        builds and authenticates a new one. The old one is not closed: other threads may still be
        using it; it is released when they are done with it."""
        with self._client_lock:
            if client is None or self._client is client:
                self._client = None

    # -- the retry loop -------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is not None:
            return executor
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.max_workers, thread_name_prefix=f"hookline-{self.name}"
                )
            return self._executor

    def _attempt(self, op: Callable[[Any], T]) -> T:
        client = self._before_call(self._get_client())
        return op(client)

    def _call(
        self, what: str, op: Callable[[Any], T], *, retry: bool = True, absent: bool = True
    ) -> T | None:
        """Run ``op(client)`` with retries inside the deadline; map its errors (see module docs).

        ``retry=False`` makes one attempt only (writes that are not idempotent: a retry after a
        lost answer could apply them twice). ``absent=False`` treats a "not found" verdict as a
        failure instead of None (writes, where None would pass for success).
        """
        import tenacity

        start = time.monotonic()
        deadline_at = start + self.deadline_s
        attempts = 0
        reauthenticated = False

        def one_attempt() -> T | None:
            nonlocal attempts, reauthenticated
            attempts += 1
            if attempts > 1:
                self._bump("retries")
            remaining = deadline_at - time.monotonic()
            if remaining <= 0:
                raise self._unavailable(what, attempts - 1, start, "deadline reached", None)
            future: Future[T] = self._pool().submit(self._attempt, op)
            try:
                return future.result(timeout=remaining)
            except FutureTimeout:
                future.cancel()
                self._bump("timeouts")
                raise self._unavailable(
                    what, attempts, start, "no answer before the deadline", None
                ) from None
            except HooklineError:
                raise  # our own errors (bad settings found at first use) need no mapping
            except Exception as exc:
                verdict = self._classify(exc)
                kind = verdict.kind
                if kind is not ErrorKind.ABSENT:
                    self._bump("errors")
                if kind is ErrorKind.REAUTH and not reauthenticated:
                    reauthenticated = True
                    self._drop_client()
                    raise _RetryableAttempt(exc, verdict.reason) from exc
                if kind is ErrorKind.ABSENT:
                    if absent:
                        return None
                    raise self._unavailable(what, attempts, start, verdict.reason, exc) from exc
                if kind is ErrorKind.RETRY and not retry:
                    raise self._unavailable(
                        what, attempts, start, f"{verdict.reason}; not retried", exc
                    ) from exc
                if kind is ErrorKind.RETRY:
                    raise _RetryableAttempt(exc, verdict.reason) from exc
                if kind in (ErrorKind.DENIED, ErrorKind.REAUTH):
                    raise BackendPermissionDenied(
                        f"{self.name} backend refused access: {what} ({verdict.reason}); "
                        "check the credentials' permissions",
                        backend=self.name,
                    ) from exc
                raise self._unavailable(what, attempts, start, verdict.reason, exc) from exc

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts)
            | tenacity.stop_before_delay(self.deadline_s),
            wait=tenacity.wait_exponential(
                multiplier=self.backoff_initial_s, max=self.backoff_max_s
            )
            + tenacity.wait_random(0, self.backoff_initial_s),
            retry=tenacity.retry_if_exception_type(_RetryableAttempt),
            reraise=True,
        )
        try:
            return retrying(one_attempt)
        except _RetryableAttempt as last:
            raise self._unavailable(what, attempts, start, last.reason, last.cause) from last.cause

    def _unavailable(
        self,
        what: str,
        attempts: int,
        start: float,
        reason: str,
        cause: BaseException | None,
    ) -> BackendUnavailable:
        elapsed = time.monotonic() - start
        log.debug("%s backend unavailable: %s (%s)", self.name, what, reason)
        error = BackendUnavailable(
            f"{self.name} backend unavailable: {what} failed after {attempts} attempt(s) in "
            f"{elapsed:.2f} s ({reason}); limits: deadline_s={self.deadline_s:g}, "
            f"max_attempts={self.max_attempts}",
            backend=self.name,
        )
        if cause is not None:
            error.__cause__ = cause
        return error


_backends: weakref.WeakSet[RemoteBackend] = weakref.WeakSet()


def _after_fork() -> None:
    for backend in list(_backends):
        backend._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
