"""BigQueryHook: BigQuery through google-cloud-bigquery, with Airflow's constructor and methods.

Queries (:meth:`BigQueryHook.get_records`, :meth:`~BigQueryHook.get_first`,
:meth:`~BigQueryHook.run`, :meth:`~BigQueryHook.get_df`) bind their parameters as BigQuery query
parameters, never formatted into the SQL text: a mapping binds ``@name`` (or ``%(name)s``, rewritten
to ``@name``), a sequence binds ``?`` (or ``%s``, rewritten to ``?``). Legacy SQL (Airflow's default,
``use_legacy_sql=True``) has no query parameters, so parameters with legacy SQL are an error.

Streaming inserts (:meth:`~BigQueryHook.insert_rows`, :meth:`~BigQueryHook.insert_all`) raise
:class:`~hookline.exceptions.BigQueryInsertError` listing every rejected row: a partial success is
never reported as a success. Jobs from a raw configuration go through
:meth:`~BigQueryHook.insert_job`.

The ``bigquery.Client`` is shared per process (see :class:`GoogleBaseHook`); every API call is
retried on transient failures at most ``num_retries`` times and within ``retry_timeout_s``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Final, Literal

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import BigQueryInsertError, HookArgumentError, MissingDependency
from hookline.hooks.google._bigquery_params import (
    Parameters,
    _bigquery,
    _description,
    _json_value,
    _summarise,
    bind_placeholders,
    query_parameters,
)
from hookline.hooks.google._bigquery_tables import BigQueryTablesMixin
from hookline.hooks.google.base import GoogleBaseHook

__all__ = ["BigQueryHook", "bind_placeholders", "query_parameters"]

_DEFAULT_BATCH: Final = 500


class BigQueryHook(BigQueryTablesMixin, GoogleBaseHook):
    """Run queries and jobs, stream rows, and manage datasets and tables in BigQuery.

    Args:
        gcp_conn_id: The connection id (``bigquery_conn_id=`` is accepted as Airflow's old name).
        use_legacy_sql: Legacy SQL dialect (Airflow's default, True); pass False for GoogleSQL.
        location: The default location of jobs and datasets (``"US"``, ``"EU"``, ...).
        priority: ``"INTERACTIVE"`` (default) or ``"BATCH"``.
        api_resource_configs: Job configuration merged into each query job, as in Airflow
            (``{"query": {"useQueryCache": False}}``).
        labels: Labels put on every query job.
        impersonation_chain: See :class:`GoogleBaseHook`.
        **kwargs: ``num_retries``, ``retry_delay_s``, ``retry_timeout_s`` (see GoogleBaseHook).

    Example:
        >>> hook = BigQueryHook(gcp_conn_id="bq", use_legacy_sql=False)  # doctest: +SKIP
        >>> hook.get_records("select name from ds.users where id = @id", {"id": 7})  # doctest: +SKIP
    """

    conn_type: ClassVar[str] = "gcpbigquery"
    hook_name: ClassVar[str] = "Google BigQuery"
    default_conn_name: ClassVar[str] = "google_cloud_bigquery_default"

    def __init__(
        self,
        gcp_conn_id: str | Connection | None = None,
        use_legacy_sql: bool = True,
        location: str | None = None,
        priority: Literal["INTERACTIVE", "BATCH"] = "INTERACTIVE",
        api_resource_configs: Mapping[str, Any] | None = None,
        impersonation_chain: str | Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        *,
        bigquery_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        conn = gcp_conn_id if gcp_conn_id is not None else bigquery_conn_id
        if conn is None and "conn_id" not in kwargs:
            conn = GoogleBaseHook.default_conn_name
        super().__init__(conn, impersonation_chain=impersonation_chain, **kwargs)
        if priority not in ("INTERACTIVE", "BATCH"):
            raise HookArgumentError(
                f"priority must be 'INTERACTIVE' or 'BATCH', not {priority!r}", conn_id=self.conn_id
            )
        self.use_legacy_sql = use_legacy_sql
        self.location = location
        self.priority = priority
        self.api_resource_configs = dict(api_resource_configs or {})
        self.labels = dict(labels or {})
        #: Column descriptions of the last query: ``(name, type, None, None, None, None, nullable)``.
        self.last_description: list[tuple[Any, ...]] | None = None

    # -- clients -----------------------------------------------------------------------------

    def get_client(self, project_id: str | None = None, location: str | None = None) -> Any:
        """The shared ``google.cloud.bigquery.Client`` for this connection, project and location."""
        bigquery = _bigquery()
        project = project_id or self._get_field("project")
        where = location or self.location
        endpoint = self.api_endpoint

        def build(credentials: Any, default_project: str | None) -> Any:
            options = None
            if endpoint:
                from google.api_core.client_options import ClientOptions

                options = ClientOptions(api_endpoint=endpoint)
            return bigquery.Client(
                project=project or default_project,
                credentials=credentials,
                location=where,
                client_options=options,
            )

        return self.shared_client("bigquery", build, project, where)

    def get_conn(self) -> Any:
        """A DB-API 2.0 connection (``google.cloud.bigquery.dbapi``) over the shared client.

        Note that the SDK's DB-API cursor applies the SDK's own default retry (up to 10 minutes);
        the hook's query methods use the hook's bounded retry instead.
        """
        client = self._client
        if client is None:
            from google.cloud.bigquery import dbapi

            client = dbapi.connect(client=self.get_client())  # type: ignore[no-untyped-call]
            self._client = client
        return client

    def close_conn(self) -> None:
        """Close the DB-API connection (the shared client stays open for other hooks)."""
        if self._client is not None:
            self._client.close()

    # -- queries -----------------------------------------------------------------------------

    def _job_config(self, parameters: Parameters | None, extra: Mapping[str, Any] | None) -> Any:
        bigquery = _bigquery()
        query = dict(self.api_resource_configs.get("query") or {})
        query.update(extra or {})
        query.setdefault("useLegacySql", self.use_legacy_sql)
        if self.priority != "INTERACTIVE":
            # INTERACTIVE is BigQuery's default; setting it would make the SDK give up the one
            # round-trip ``jobs.query`` path for ``jobs.insert`` plus polling (about 2x slower).
            query.setdefault("priority", self.priority)
        config = bigquery.QueryJobConfig.from_api_repr({"query": query})
        if self.labels:
            config.labels = {**self.labels, **(config.labels or {})}
        if parameters is not None:
            if query["useLegacySql"]:
                raise HookArgumentError(
                    "query parameters need GoogleSQL: pass use_legacy_sql=False to BigQueryHook "
                    "(legacy SQL has no query parameters, and hookline never formats values into SQL)",
                    conn_id=self.conn_id,
                )
            config.query_parameters = query_parameters(parameters)
        return config

    def _query(
        self,
        sql: str,
        parameters: Parameters | None = None,
        *,
        location: str | None = None,
        job_config: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run ``sql`` and wait: the SDK's RowIterator (rows with ``.schema``).

        Callers wrap it (and the iteration over its pages) in :meth:`call`.
        """
        sql = bind_placeholders(sql, parameters)
        config = self._job_config(parameters, job_config)
        client = self.get_client(location=location)
        rows = client.query_and_wait(
            sql,
            job_config=config,
            location=location or self.location,
            retry=self.retry(),
            job_retry=None,
        )
        self.last_description = _description(rows.schema)
        return rows

    def get_records(self, sql: str, parameters: Parameters | None = None) -> list[tuple[Any, ...]]:
        """Every row of ``sql`` as a tuple."""
        return self.call(
            "BigQuery query", lambda: [tuple(row) for row in self._query(sql, parameters)]
        )

    def get_first(self, sql: str, parameters: Parameters | None = None) -> tuple[Any, ...] | None:
        """The first row of ``sql``, or None when there is none."""

        def first() -> tuple[Any, ...] | None:
            for row in self._query(sql, parameters):
                return tuple(row)
            return None

        return self.call("BigQuery query", first)

    def run(
        self,
        sql: str | Iterable[str] | None = None,
        autocommit: bool = False,
        parameters: Parameters | None = None,
        handler: Callable[[Any], Any] | None = None,
        *,
        job_config: Mapping[str, Any] | None = None,
        return_last: bool = True,
    ) -> Any:
        """Run SQL (Airflow's ``DbApiHook.run`` form) or a job configuration.

        ``run(sql, parameters=..., handler=...)`` runs each statement; with a handler it returns the
        handler's result on the SDK's row iterator (the last one, or a list with
        ``return_last=False``), else None. ``run(job_config={"query": {...}})`` runs a job from a
        raw configuration through :meth:`insert_job` and returns the finished job.
        ``autocommit`` is accepted for Airflow's signature; BigQuery commits each statement.
        """
        if job_config is not None and sql is None:
            return self.insert_job(configuration=job_config)
        if sql is None:
            raise HookArgumentError("run() needs sql or job_config", conn_id=self.conn_id)
        statements = [sql] if isinstance(sql, str) else list(sql)
        results = []
        for statement in statements:
            query = (job_config or {}).get("query") if job_config else None

            def once(statement: str = statement, query: Any = query) -> Any:
                rows = self._query(statement, parameters, job_config=query)
                return handler(rows) if handler is not None else None

            results.append(self.call("BigQuery query", once))
        if handler is None:
            return None
        return results[-1] if return_last and results else results

    def get_df(
        self,
        sql: str,
        parameters: Parameters | None = None,
        dialect: str | None = None,
        *,
        df_type: Literal["pandas", "polars"] = "pandas",
        **kwargs: Any,
    ) -> Any:
        """The result of ``sql`` as a pandas (default) or polars DataFrame.

        ``dialect`` (Airflow's) is ``"legacy"`` or ``"standard"``; it overrides ``use_legacy_sql``
        for this call. ``kwargs`` go to the DataFrame constructor.

        Raises:
            MissingDependency: pandas (extra ``pandas``) or polars (extra ``polars``) is missing.
        """
        extra: dict[str, Any] = {}
        if dialect is not None:
            if dialect not in ("legacy", "standard"):
                raise HookArgumentError(
                    f"dialect must be 'legacy' or 'standard', not {dialect!r}", conn_id=self.conn_id
                )
            extra["useLegacySql"] = dialect == "legacy"
        if df_type == "polars":
            try:
                import polars  # type: ignore[import-not-found, unused-ignore]
            except ImportError as exc:
                raise MissingDependency("polars", "polars", purpose="get_df") from exc
        elif df_type == "pandas":
            try:
                import pandas
            except ImportError as exc:
                raise MissingDependency("pandas", "pandas", purpose="get_df") from exc
        else:
            raise HookArgumentError(
                f"df_type must be 'pandas' or 'polars', not {df_type!r}", conn_id=self.conn_id
            )

        def build() -> Any:
            rows = [tuple(row) for row in self._query(sql, parameters, job_config=extra)]
            columns = [column[0] for column in self.last_description or ()]
            if df_type == "polars":
                return polars.DataFrame(rows, schema=columns, orient="row", **kwargs)
            return pandas.DataFrame.from_records(rows, columns=columns, **kwargs)

        return self.call("BigQuery query", build)

    def get_pandas_df(
        self,
        sql: str,
        parameters: Parameters | None = None,
        dialect: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Airflow's name for :meth:`get_df` with pandas."""
        return self.get_df(sql, parameters, dialect, df_type="pandas", **kwargs)

    # -- jobs --------------------------------------------------------------------------------

    def insert_job(
        self,
        configuration: Mapping[str, Any],
        job_id: str | None = None,
        project_id: str | None = None,
        location: str | None = None,
        nowait: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """Start a job from a raw configuration (``{"query": {...}}``, ``load``, ``copy``,
        ``extract``) and, unless ``nowait``, wait for it to finish. Returns the SDK job.

        Raises:
            HookArgumentError: the configuration names no known job type.
            GoogleApiError: the job failed (status, reason and BigQuery's message).
        """
        bigquery = _bigquery()
        kinds = {
            "query": bigquery.QueryJob,
            "load": bigquery.LoadJob,
            "copy": bigquery.CopyJob,
            "extract": bigquery.ExtractJob,
        }
        found = [kind for kind in kinds if kind in configuration]
        if len(found) != 1:
            raise HookArgumentError(
                "configuration must hold exactly one of 'query', 'load', 'copy', 'extract'; got "
                f"keys {sorted(configuration)}",
                conn_id=self.conn_id,
            )
        where = location or self.location

        def action() -> Any:
            client = self.get_client(project_id=project_id, location=where)
            reference: dict[str, Any] = {
                "projectId": project_id or client.project,
                "jobId": job_id or f"hookline_{uuid.uuid4().hex}",
            }
            if where:
                reference["location"] = where
            job = kinds[found[0]].from_api_repr(
                {"jobReference": reference, "configuration": dict(configuration)}, client
            )
            job._begin(retry=self.retry(), timeout=timeout)
            if not nowait:
                job.result(retry=self.retry(), timeout=timeout)
            return job

        return self.call(f"BigQuery {found[0]} job", action)

    # -- streaming inserts -------------------------------------------------------------------

    def insert_all(
        self,
        project_id: str | None,
        dataset_id: str,
        table_id: str,
        rows: Sequence[Mapping[str, Any]],
        ignore_unknown_values: bool = False,
        skip_invalid_rows: bool = False,
        fail_on_error: bool = True,
    ) -> list[dict[str, Any]]:
        """Stream rows with ``tabledata.insertAll`` (Airflow's signature).

        A row is a mapping of column to value, or Airflow's ``{"json": {...}, "insertId": "..."}``
        form. Values are sent as JSON (dates, times and decimals as text, bytes as base64).

        Returns:
            The row errors (empty on success). With ``fail_on_error=True`` (hookline's default,
            Airflow's is False) any row error raises instead.

        Raises:
            BigQueryInsertError: BigQuery rejected rows; ``row_errors`` lists each with its index
                and reason, ``inserted_rows`` says how many were accepted.
        """
        json_rows: list[dict[str, Any]] = []
        row_ids: list[str | None] = []
        for row in rows:
            if set(row) <= {"json", "insertId"} and isinstance(row.get("json"), Mapping):
                body = row["json"]
                row_ids.append(str(row["insertId"]) if row.get("insertId") else None)
            else:
                body = row
                row_ids.append(None)
            json_rows.append({str(k): _json_value(v) for k, v in body.items()})
        if not json_rows:
            return []
        ids = [rid if rid is not None else uuid.uuid4().hex for rid in row_ids]

        def action() -> tuple[str, list[dict[str, Any]]]:
            client = self.get_client(project_id=project_id)
            table = f"{project_id or client.project}.{dataset_id}.{table_id}"
            errors = client.insert_rows_json(
                table,
                json_rows,
                row_ids=ids,
                ignore_unknown_values=ignore_unknown_values,
                skip_invalid_rows=skip_invalid_rows,
                retry=self.retry(),
            )
            return table, [dict(e) for e in errors]

        table, errors = self.call(f"BigQuery insertAll into {dataset_id}.{table_id}", action)
        if errors and fail_on_error:
            rejected = {int(e.get("index", -1)) for e in errors}
            inserted = len(json_rows) - len(rejected) if skip_invalid_rows else 0
            raise BigQueryInsertError(
                masking.redact(
                    f"BigQuery insertAll into {table}: {len(rejected)} of {len(json_rows)} row(s) "
                    f"rejected, {inserted} inserted: {_summarise(errors)}"
                ),
                conn_id=self.conn_id,
                table=table,
                row_errors=errors,
                inserted_rows=inserted,
            )
        if errors:
            self.log.warning("BigQuery insertAll into %s: %d row error(s)", table, len(errors))
        return errors

    def insert_rows(
        self,
        table: str,
        rows: Iterable[Sequence[Any] | Mapping[str, Any]],
        target_fields: Sequence[str] | None = None,
        commit_every: int = _DEFAULT_BATCH,
        **kwargs: Any,
    ) -> int:
        """Stream rows into ``table`` (``"dataset.table"`` or ``"project.dataset.table"``).

        Rows are tuples in ``target_fields`` order (default: the table's schema order) or mappings.
        They go in batches of ``commit_every``; ``kwargs`` (``ignore_unknown_values``,
        ``skip_invalid_rows``) go to :meth:`insert_all`. Returns the number of rows sent.

        Raises:
            BigQueryInsertError: a batch had rejected rows (earlier batches are in the table;
                the message says how many rows went in before).
        """
        unknown = set(kwargs) - {"ignore_unknown_values", "skip_invalid_rows", "replace"}
        if unknown:
            raise HookArgumentError(
                f"insert_rows got unexpected arguments: {', '.join(sorted(unknown))}",
                conn_id=self.conn_id,
            )
        if kwargs.pop("replace", False):
            raise HookArgumentError(
                "insert_rows(replace=True) is not supported by BigQuery streaming inserts",
                conn_id=self.conn_id,
            )
        project, dataset, table_id = self.split_table_name(table)
        fields = list(target_fields) if target_fields else None
        batch: list[dict[str, Any]] = []
        sent = 0
        for row in rows:
            if isinstance(row, Mapping):
                batch.append(dict(row))
            else:
                if fields is None:
                    fields = [
                        f["name"] for f in self.get_schema(dataset, table_id, project)["fields"]
                    ]
                values = list(row)
                if len(values) != len(fields):
                    raise HookArgumentError(
                        f"row {sent + len(batch)} has {len(values)} values for {len(fields)} "
                        "fields",
                        conn_id=self.conn_id,
                    )
                batch.append(dict(zip(fields, values, strict=True)))
            if len(batch) >= max(commit_every, 1):
                sent += self._insert_batch(project, dataset, table_id, batch, sent, kwargs)
                batch = []
        if batch:
            sent += self._insert_batch(project, dataset, table_id, batch, sent, kwargs)
        return sent

    def _insert_batch(
        self,
        project: str | None,
        dataset: str,
        table_id: str,
        batch: list[dict[str, Any]],
        sent: int,
        options: Mapping[str, Any],
    ) -> int:
        try:
            self.insert_all(project, dataset, table_id, batch, **options)
        except BigQueryInsertError as exc:
            if sent:
                exc.args = (f"{exc.args[0]} ({sent} row(s) of earlier batches were inserted)",)
            raise
        return len(batch)

    # -- testing -----------------------------------------------------------------------------

    def _test(self) -> None:
        """List at most one dataset: a signed round trip to the BigQuery API."""

        def action() -> None:
            client = self.get_client()
            next(iter(client.list_datasets(max_results=1, retry=self.retry())), None)

        self.call("BigQuery list_datasets", action)
