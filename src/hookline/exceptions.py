"""The whole hookline error tree.

Every error hookline raises on purpose is a :class:`HooklineError`. Messages say what was tried and the
limits in force, never a secret: callers build them from redacted values, and SDK errors are chained
with ``raise ... from exc`` so the original stays available as ``__cause__``.

This module imports nothing from hookline, so every other module can import it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for annotations only: at run time this module imports nothing from hookline
    from hookline.typing import LookupTraceView as LookupTrace

__all__ = [
    "AirflowDatabaseError",
    "AirflowMigrationError",
    "ApiTokenError",
    "AuditError",
    "AuditUnavailable",
    "AuthenticationFailed",
    "BackendError",
    "BackendPermissionDenied",
    "BackendUnavailable",
    "BigQueryInsertError",
    "ConfigurationError",
    "ConnectionNotFound",
    "ConnectionUnresolved",
    "ConnectionsFileError",
    "DecryptionError",
    "DriverError",
    "GoogleApiError",
    "HookArgumentError",
    "HookConnectionError",
    "HookError",
    "HooklineError",
    "HttpAuthenticationFailed",
    "HttpStatusError",
    "InvalidConnection",
    "InvalidConnectionURI",
    "InvalidPipeline",
    "InvalidVariable",
    "KeyNotConfigured",
    "ListingFailure",
    "ListingIncomplete",
    "MissingDependency",
    "PipelineCycleError",
    "PipelineError",
    "PipelineNotFound",
    "PoolTimeout",
    "RotationError",
    "RunNotFound",
    "S3NotFound",
    "SlackApiError",
    "SlackChannelNotFound",
    "SlackRateLimited",
    "SqlCheckFailed",
    "StatementTimeout",
    "TaskFailed",
    "TaskSkipped",
    "TaskTimeout",
    "TemplateRenderError",
    "VariableNotFound",
    "VariableUnresolved",
    "VariablesFileError",
    "XComTooLarge",
]


class HooklineError(Exception):
    """Base class of every error hookline raises on purpose.

    Errors pickle with their attributes (``conn_id``, ``uri``, ``step``, ...) whatever their
    constructor's signature, so they cross process boundaries (multiprocessing, Celery) intact.

    Attributes:
        trace: The lookup trace so far when the error was raised during a lookup through the secrets
            chain (what each backend said), else None.
    """

    trace: LookupTrace | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


def _rebuild_error(
    cls: type[HooklineError], args: tuple[Any, ...], state: dict[str, Any]
) -> HooklineError:
    error = cls.__new__(cls, *args)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigurationError(HooklineError, ValueError):
    """A setting is missing, malformed or contradicts another one."""


class InvalidConnection(HooklineError, ValueError):
    """A connection's fields, JSON form or conn_id are invalid.

    Attributes:
        conn_id: The id of the connection being built, when known.
    """

    def __init__(self, message: str, *, conn_id: str | None = None) -> None:
        super().__init__(message)
        self.conn_id = conn_id


class InvalidConnectionURI(InvalidConnection):
    """A connection URI cannot be parsed.

    Attributes:
        uri: The offending URI with its password replaced by ``***`` (never the raw text).
    """

    def __init__(self, message: str, *, uri: str, conn_id: str | None = None) -> None:
        super().__init__(message, conn_id=conn_id)
        self.uri = uri


class ConnectionNotFound(HooklineError, KeyError):
    """No backend in the chain holds the connection, and every backend answered.

    ``str()`` gives the whole message with the lookup trace (``KeyError`` would otherwise quote it).
    An outage is not absence: when a backend could not answer, the error is
    :class:`ConnectionUnresolved`, which this class does not catch.

    Attributes:
        conn_id: The id that was looked up.
        trace: What each backend said (a ``LookupTrace`` when it came from a chain), or None.
    """

    def __init__(
        self, conn_id: str, trace: LookupTrace | None = None, *, message: str | None = None
    ) -> None:
        self.conn_id = conn_id
        self.trace = trace
        if message is None:
            message = f"connection {conn_id!r} is not defined"
            if trace is not None:
                message += f"; backends asked:\n{trace}"
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


class BackendError(HooklineError):
    """A secrets backend failed to answer.

    Attributes:
        backend: The name of the backend that failed.
    """

    def __init__(self, message: str, *, backend: str = "") -> None:
        super().__init__(message)
        self.backend = backend


class BackendUnavailable(BackendError):
    """A retryable backend failure: network, timeout, 5xx or throttling. The chain falls through."""


class ConnectionUnresolved(BackendUnavailable):
    """Nobody that answered holds the connection, but some backend could not answer.

    The connection may be defined in a backend that was down, so this is an outage, not absence: it
    is a :class:`BackendUnavailable` and deliberately not a :class:`ConnectionNotFound`, so
    ``except ConnectionNotFound: use_default()`` never treats an outage as "not configured". It is
    never negative-cached.

    Attributes:
        conn_id: The id that was looked up.
        trace: What each backend said.
        backend: The names of the backends that could not answer, comma-separated.
    """

    def __init__(
        self,
        conn_id: str,
        trace: LookupTrace | None = None,
        *,
        message: str | None = None,
        backend: str = "",
    ) -> None:
        if message is None:
            message = f"connection {conn_id!r} could not be resolved: {backend or 'a backend'} could not answer"
        super().__init__(message, backend=backend)
        self.conn_id = conn_id
        self.trace = trace
        self.message = message

    def __str__(self) -> str:
        return self.message


class BackendPermissionDenied(BackendError, PermissionError):
    """The backend refused access. Authoritative: the chain stops here."""


class KeyNotConfigured(ConfigurationError):
    """No Fernet key is configured anywhere (no argument, no environment variable, no key file)."""


def _file_problems(kind: str, path: str, errors: Sequence[tuple[int | None, str]]) -> str:
    """The message of a connections or variables file that could not be loaded: every problem, by
    line (never a value)."""
    count = len(errors)
    lines = "".join(
        f"\n  {'line ' + str(line) if line is not None else 'file'}: {message}"
        for line, message in errors
    )
    return f"Failed to load the {kind} file {path}: {count} error{'s' if count != 1 else ''}{lines}"


class _FileLoadError(Exception):
    """What a connections file error and a variables file error share (read by
    :mod:`hookline.secrets.watched_file`).

    Attributes:
        path: The file (or the source name given to the parser).
        errors: ``(line, message)`` pairs, line None when unknown, in file order.
    """

    path: str
    errors: list[tuple[int | None, str]]


class ConnectionsFileError(InvalidConnection, _FileLoadError):
    """A connections file (or text) could not be loaded; lists every problem found.

    Attributes:
        path: The file (or the source name given to the parser).
        errors: ``(line, message)`` pairs, line None when unknown, in file order.
    """

    def __init__(
        self, path: str | os.PathLike[str], errors: Sequence[tuple[int | None, str]]
    ) -> None:
        self.path = str(path)
        self.errors = list(errors)
        super().__init__(_file_problems("connections", self.path, self.errors))


class AirflowDatabaseError(HooklineError):
    """An Airflow metadata database cannot be read: unreachable, missing, not an Airflow database,
    or a table layout of no known Airflow version.

    Attributes:
        url: The database URL with its password hidden.
    """

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class AirflowMigrationError(HooklineError):
    """Rows of an Airflow metadata database cannot be migrated (invalid rows, team-scoped rows,
    conflicts with what hookline holds); nothing was written.

    Attributes:
        problems: One line per row (its id and why; never a value).
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class DecryptionError(HooklineError):
    """A stored value cannot be decrypted with the configured Fernet keys.

    Attributes:
        conn_id: The connection whose value could not be decrypted.
        key_ids: Fingerprints of the keys that were tried (never the keys).
    """

    def __init__(
        self, message: str, *, conn_id: str | None = None, key_ids: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.conn_id = conn_id
        self.key_ids = tuple(key_ids)


_LISTED_FAILURES = 20


class ListingFailure:
    """One thing a listing left out: a row that could not be read, or a whole backend that failed.

    Attributes:
        backend: The backend's name.
        conn_id: The connection that could not be read, or None when the whole backend failed.
        error: Why (a :class:`DecryptionError`, an :class:`InvalidConnection`, a
            :class:`BackendUnavailable`...).
    """

    __slots__ = ("backend", "conn_id", "error")

    def __init__(self, backend: str, conn_id: str | None, error: BaseException) -> None:
        self.backend = backend
        self.conn_id = conn_id
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        return (ListingFailure, (self.backend, self.conn_id, self.error))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ListingFailure):
            return NotImplemented
        return (self.backend, self.conn_id, self.error) == (
            other.backend,
            other.conn_id,
            other.error,
        )

    def __hash__(self) -> int:
        return hash((self.backend, self.conn_id, id(self.error)))

    def __str__(self) -> str:
        where = self.backend if self.conn_id is None else f"{self.backend}: {self.conn_id!r}"
        return f"{where}: {type(self.error).__name__}: {self.error}"

    def __repr__(self) -> str:
        return (
            f"ListingFailure(backend={self.backend!r}, conn_id={self.conn_id!r}, "
            f"error={type(self.error).__name__})"
        )


class ListingIncomplete(HooklineError):
    """Listing connections left something out: rows that could not be read, or backends that failed.

    Raised instead of returning a silently shorter list (a backup that misses rows is a lost backup).
    Callers that accept a partial listing ask for one explicitly (``on_error=`` of
    :meth:`hookline.resolve.SecretsChain.list_connections`).

    Attributes:
        failures: What was left out and why, in listing order (never a secret value).
    """

    def __init__(self, failures: Sequence[ListingFailure], *, message: str | None = None) -> None:
        self.failures = tuple(failures)
        if message is None:
            rows = [f.conn_id for f in self.failures if f.conn_id is not None]
            backends = sorted({f.backend for f in self.failures if f.conn_id is None})
            parts = []
            if rows:
                parts.append(f"{len(rows)} connection(s) could not be read")
            if backends:
                parts.append(f"backend(s) {', '.join(backends)} could not be listed")
            shown = self.failures[:_LISTED_FAILURES]
            details = "".join(f"\n  {failure}" for failure in shown)
            if len(self.failures) > len(shown):
                details += f"\n  ... and {len(self.failures) - len(shown)} more (see .failures)"
            message = f"the listing is incomplete: {' and '.join(parts)}{details}"
        super().__init__(message)
        self.message = message

    @property
    def conn_ids(self) -> tuple[str, ...]:
        """The ids of the connections that could not be read (whole-backend failures excluded)."""
        return tuple(f.conn_id for f in self.failures if f.conn_id is not None)

    def __str__(self) -> str:
        return self.message


class HookError(HooklineError):
    """A hook failed to talk to its system.

    Attributes:
        conn_id: The connection the hook was built from.
    """

    def __init__(self, message: str, *, conn_id: str | None = None) -> None:
        super().__init__(message)
        self.conn_id = conn_id


class HookConnectionError(HookError):
    """The system could not be reached (refused, unreachable, timed out)."""


class AuthenticationFailed(HookError):
    """The system rejected the credentials. Hooks refresh the connection once and retry."""


class StatementTimeout(HookError):
    """A statement ran longer than the hook's ``statement_timeout_s`` and was cancelled."""


class DriverError(HooklineError):
    """A database driver's error, as text with secrets masked, standing in for the driver's exception.

    A SQL hook raises its :class:`HookError` ``from`` this, not from the driver's exception: a
    driver's message can quote a bound parameter, and a traceback prints the cause in full.

    Attributes:
        driver_type: The driver exception's qualified class name (``psycopg.errors.UniqueViolation``).
        sqlstate: The SQLSTATE or driver error code, when the driver gave one.
    """

    def __init__(self, message: str, *, driver_type: str = "", sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.driver_type = driver_type
        self.sqlstate = sqlstate


class PoolTimeout(HookError):
    """No pooled connection became free in time; the message states size, overflow and timeout.

    Attributes:
        conn_id: The connection whose pool is exhausted, when known.
    """


class HttpStatusError(HookError):
    """The server answered with a 4xx or 5xx status.

    The message holds the method, the masked origin and path, the status and the reason, and how many
    attempts were made; never the body or headers.

    Attributes:
        status_code: The HTTP status.
        reason: The reason phrase.
    """

    def __init__(
        self, message: str, *, conn_id: str | None = None, status_code: int = 0, reason: str = ""
    ) -> None:
        super().__init__(message, conn_id=conn_id)
        self.status_code = status_code
        self.reason = reason


class HttpAuthenticationFailed(AuthenticationFailed, HttpStatusError):
    """The server answered 401 or 403: the hook refreshes its connection once and retries."""


class S3NotFound(HookError):
    """The bucket or key does not exist.

    Attributes:
        bucket: The bucket asked for.
        key: The key asked for, or None for a bucket operation.
    """

    def __init__(
        self, message: str, *, conn_id: str | None = None, bucket: str = "", key: str | None = None
    ) -> None:
        super().__init__(message, conn_id=conn_id)
        self.bucket = bucket
        self.key = key


class HookArgumentError(HookError, ValueError):
    """A hook method was called with arguments it cannot use (a malformed table name, query
    parameters with legacy SQL, an unknown MIME subtype or compression). Nothing was sent."""


class GoogleApiError(HookError):
    """A Google Cloud API (BigQuery, ...) answered with an error that is not an authentication
    failure.

    Attributes:
        status_code: The HTTP status, or 0 when there was none.
        reason: The API's short reason (``notFound``, ``invalidQuery``, ``rateLimitExceeded``), or "".
    """

    def __init__(
        self, message: str, *, conn_id: str | None = None, status_code: int = 0, reason: str = ""
    ) -> None:
        super().__init__(message, conn_id=conn_id)
        self.status_code = status_code
        self.reason = reason


class BigQueryInsertError(GoogleApiError):
    """BigQuery's streaming insert (``insertAll``) rejected one or more rows.

    Attributes:
        table: ``project.dataset.table``.
        row_errors: One ``{"index": i, "errors": [{"reason", "location", "message"}, ...]}`` per
            rejected row, as BigQuery reported it (``index`` counts from 0 within the call).
        inserted_rows: How many rows BigQuery accepted in this call (only with
            ``skip_invalid_rows=True`` can it be more than 0).
    """

    def __init__(
        self,
        message: str,
        *,
        conn_id: str | None = None,
        table: str = "",
        row_errors: Sequence[Any] = (),
        inserted_rows: int = 0,
    ) -> None:
        super().__init__(message, conn_id=conn_id, status_code=200, reason="insertErrors")
        self.table = table
        self.row_errors = list(row_errors)
        self.inserted_rows = inserted_rows


class SlackApiError(HookError):
    """The Slack Web API answered ``"ok": false`` (other than an authentication error) or an HTTP
    error.

    Attributes:
        api_method: The method called (``chat.postMessage``).
        error: Slack's error code (``channel_not_found``), or "".
        status_code: The HTTP status.
    """

    def __init__(
        self,
        message: str,
        *,
        conn_id: str | None = None,
        api_method: str = "",
        error: str = "",
        status_code: int = 0,
    ) -> None:
        super().__init__(message, conn_id=conn_id)
        self.api_method = api_method
        self.error = error
        self.status_code = status_code


class SlackRateLimited(SlackApiError):
    """Slack kept answering HTTP 429 beyond the retry limit, or asked for a longer wait than the cap.

    Attributes:
        retry_after_s: The wait Slack asked for last (seconds), or None when it gave none.
    """

    def __init__(
        self,
        message: str,
        *,
        conn_id: str | None = None,
        api_method: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(
            message, conn_id=conn_id, api_method=api_method, error="ratelimited", status_code=429
        )
        self.retry_after_s = retry_after_s


class VariableNotFound(HooklineError, KeyError):
    """No backend in the chain holds the variable and no default was given.

    An outage is not absence: when a backend could not answer, the error is
    :class:`VariableUnresolved`, which this class does not catch.

    Attributes:
        key: The variable key that was looked up.
        trace: What each backend said (a ``LookupTrace`` when it came from a chain), or None.
    """

    def __init__(
        self, key: str, *, message: str | None = None, trace: LookupTrace | None = None
    ) -> None:
        self.key = key
        self.trace = trace
        self.message = message or f"variable {key!r} is not defined"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class VariableUnresolved(BackendUnavailable):
    """Nobody that answered holds the variable, but some backend could not answer.

    The variable may be defined in the backend that was down, so a default is **not** returned in
    its place (``get_variable(key, default)`` raises this too) and it is never negative-cached.

    Attributes:
        key: The variable key that was looked up.
        trace: What each backend said.
        backend: The names of the backends that could not answer, comma-separated.
    """

    def __init__(
        self,
        key: str,
        trace: LookupTrace | None = None,
        *,
        message: str | None = None,
        backend: str = "",
    ) -> None:
        if message is None:
            message = (
                f"variable {key!r} could not be resolved: {backend or 'a backend'} could not answer"
            )
        super().__init__(message, backend=backend)
        self.key = key
        self.trace = trace
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidVariable(HooklineError, ValueError):
    """A variable key or stored value is invalid (empty or too long a key, a NUL character, a value
    that is not JSON when ``deserialize_json=True``). Messages never quote the value.

    Attributes:
        key: The variable key, when known.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class SlackChannelNotFound(SlackApiError, LookupError):
    """No channel of that name is visible to the token (:meth:`SlackHook.get_channel_id`)."""


class RotationError(HooklineError):
    """A credential rotation step failed.

    Attributes:
        step: One of ``"create"``, ``"set"``, ``"test"``, ``"finish"``.
    """

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message)
        self.step = step


class ApiTokenError(HooklineError, ValueError):
    """An API token of ``hookline serve`` cannot be created or revoked: an invalid name or role, a
    name already taken, or no such token. Never carries a token's secret part."""


class AuditError(HooklineError):
    """The audit log cannot be read, verified or written."""


class AuditUnavailable(AuditError):
    """No audit sink can write and ``[audit] fail_closed`` is on: secret reads are refused until one
    can (an access that cannot be recorded does not happen)."""


class MissingDependency(HooklineError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, *, purpose: str = "") -> None:
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"{package} is required{what}; install it with: pip install 'hookline[{extra}]'"
        )
        self.package = package
        self.extra = extra


class PipelineError(HooklineError):
    """A pipeline or one of its tasks could not be built, loaded or run."""


class InvalidPipeline(PipelineError, ValueError):
    """A pipeline or operator definition is invalid (duplicate task id, bad argument, bad dependency).

    Attributes:
        pipeline_id: The pipeline concerned, when known.
        task_id: The task concerned, when known.
    """

    def __init__(
        self, message: str, *, pipeline_id: str | None = None, task_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.pipeline_id = pipeline_id
        self.task_id = task_id


class PipelineCycleError(InvalidPipeline):
    """The dependencies of a pipeline form a cycle; the message names it (``a -> b -> a``).

    Attributes:
        cycle: The task ids along the cycle, the first repeated at the end.
    """

    def __init__(self, pipeline_id: str, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__(
            f"pipeline {pipeline_id!r} has a cycle: {' -> '.join(self.cycle)}",
            pipeline_id=pipeline_id,
        )


class PipelineNotFound(PipelineError, KeyError):
    """No pipeline with that id is defined in the file or module (the message lists those that are).

    Attributes:
        pipeline_id: The id asked for (None when the file defines no pipeline at all).
    """

    def __init__(self, message: str, *, pipeline_id: str | None = None) -> None:
        super().__init__(message)
        self.pipeline_id = pipeline_id
        self.message = message

    def __str__(self) -> str:
        return self.message


class RunNotFound(PipelineError, KeyError):
    """No recorded pipeline run has that run id.

    Attributes:
        run_id: The run id asked for.
    """

    def __init__(self, run_id: str, *, message: str | None = None) -> None:
        self.run_id = run_id
        self.message = message or f"no recorded pipeline run has the run id {run_id!r}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class TemplateRenderError(PipelineError):
    """A templated field could not be rendered; names the task, the field and the template line.

    Attributes:
        task_id: The task whose field failed.
        field: The name of the templated field.
        line: The line of the template where rendering failed, when known.
    """

    def __init__(self, message: str, *, task_id: str, field: str, line: int | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.field = field
        self.line = line


class TaskFailed(PipelineError):
    """A task's own check failed (an operator found the work's result wrong, not a system error).

    Attributes:
        task_id: The task, when known.
    """

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id


class SqlCheckFailed(TaskFailed):
    """A SQL check operator's query returned no row, a false value, or a value out of tolerance."""


class TaskTimeout(PipelineError, TimeoutError):
    """A task try ran longer than its ``execution_timeout``.

    Attributes:
        task_id: The task.
        timeout_s: The limit in force, in seconds.
    """

    def __init__(self, task_id: str, timeout_s: float) -> None:
        super().__init__(f"task {task_id!r} timed out after {timeout_s:g} s (execution_timeout)")
        self.task_id = task_id
        self.timeout_s = timeout_s


class TaskSkipped(HooklineError):
    """Raised by a task to mark itself ``skipped`` (Airflow's ``AirflowSkipException``); not a failure."""


class XComTooLarge(PipelineError):
    """A task's result (or pushed value) is larger than the XCom size limit.

    Attributes:
        task_id: The task.
        key: The XCom key.
        size_bytes: The serialized size.
        limit_bytes: The limit in force.
    """

    def __init__(self, task_id: str, key: str, size_bytes: int, limit_bytes: int) -> None:
        super().__init__(
            f"task {task_id!r}: XCom {key!r} is {size_bytes} bytes, over the limit of "
            f"{limit_bytes} bytes ([pipelines] xcom_max_bytes); return a reference (a path, a key) "
            "instead of the data"
        )
        self.task_id = task_id
        self.key = key
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class VariablesFileError(InvalidVariable, _FileLoadError):
    """A variables file (or text) could not be loaded; lists every problem found (never a value).

    Attributes:
        path: The file (or the source name given to the parser).
        errors: ``(line, message)`` pairs, line None when unknown, in file order.
    """

    def __init__(
        self, path: str | os.PathLike[str], errors: Sequence[tuple[int | None, str]]
    ) -> None:
        self.path = str(path)
        self.errors = list(errors)
        super().__init__(_file_problems("variables", self.path, self.errors))
