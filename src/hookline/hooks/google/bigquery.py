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

import base64
import datetime as dt
import decimal
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Final, Literal

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    BigQueryInsertError,
    GoogleApiError,
    HookArgumentError,
    MissingDependency,
)
from hookline.hooks.google.base import GoogleBaseHook

__all__ = ["BigQueryHook"]

Parameters = Mapping[str, Any] | Sequence[Any]
_TABLE_PART: Final = re.compile(r"^[\w\-]+$")
_DEFAULT_BATCH: Final = 500


def _bigquery() -> Any:
    try:
        from google.cloud import bigquery
    except ImportError as exc:
        raise MissingDependency(
            "google-cloud-bigquery", "bigquery", purpose="BigQueryHook"
        ) from exc
    return bigquery


class BigQueryHook(GoogleBaseHook):
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

    # -- datasets and tables -----------------------------------------------------------------

    def split_table_name(self, table: str) -> tuple[str | None, str, str]:
        """``"dataset.table"`` / ``"project.dataset.table"`` (``:`` accepted after the project)
        -> ``(project or None, dataset, table)``.

        Raises:
            HookArgumentError: anything else.
        """
        parts = table.replace(":", ".", 1).split(".") if ":" in table else table.split(".")
        if len(parts) == 2:
            project, dataset, name = None, parts[0], parts[1]
        elif len(parts) == 3:
            project, dataset, name = parts[0], parts[1], parts[2]
        else:
            raise HookArgumentError(
                f"table must be 'dataset.table' or 'project.dataset.table', got {table!r}",
                conn_id=self.conn_id,
            )
        for part in (dataset, name):
            if not _TABLE_PART.match(part):
                raise HookArgumentError(
                    f"table must be 'dataset.table' or 'project.dataset.table', got {table!r}",
                    conn_id=self.conn_id,
                )
        return project, dataset, name

    def create_empty_dataset(
        self,
        dataset_id: str | None = None,
        project_id: str | None = None,
        location: str | None = None,
        dataset_reference: Mapping[str, Any] | None = None,
        exists_ok: bool = True,
    ) -> dict[str, Any]:
        """Create a dataset (Airflow's signature); returns its API representation."""
        bigquery = _bigquery()
        resource: dict[str, Any] = dict(dataset_reference or {})
        reference = dict(resource.get("datasetReference") or {})
        reference.setdefault("datasetId", dataset_id)
        if not reference.get("datasetId"):
            raise HookArgumentError(
                "create_empty_dataset needs dataset_id or datasetReference.datasetId",
                conn_id=self.conn_id,
            )
        where = location or resource.get("location") or self.location

        def action() -> dict[str, Any]:
            client = self.get_client(project_id=project_id, location=where)
            reference.setdefault("projectId", project_id or client.project)
            resource["datasetReference"] = reference
            if where:
                resource["location"] = where
            dataset = bigquery.Dataset.from_api_repr(resource)
            created = client.create_dataset(dataset, exists_ok=exists_ok, retry=self.retry())
            return dict(created.to_api_repr())

        return self.call(f"BigQuery create_dataset {reference['datasetId']}", action)

    def delete_dataset(
        self,
        dataset_id: str,
        project_id: str | None = None,
        delete_contents: bool = False,
        not_found_ok: bool = True,
    ) -> None:
        """Delete a dataset (with ``delete_contents``, its tables too)."""

        def action() -> None:
            client = self.get_client(project_id=project_id)
            client.delete_dataset(
                f"{project_id or client.project}.{dataset_id}",
                delete_contents=delete_contents,
                not_found_ok=not_found_ok,
                retry=self.retry(),
            )

        self.call(f"BigQuery delete_dataset {dataset_id}", action)

    def create_empty_table(
        self,
        project_id: str | None = None,
        dataset_id: str | None = None,
        table_id: str | None = None,
        table_resource: Mapping[str, Any] | None = None,
        schema_fields: Sequence[Mapping[str, Any]] | None = None,
        labels: Mapping[str, str] | None = None,
        time_partitioning: Mapping[str, Any] | None = None,
        cluster_fields: Sequence[str] | None = None,
        view: Mapping[str, Any] | None = None,
        exists_ok: bool = True,
        location: str | None = None,
    ) -> Any:
        """Create a table (Airflow's signature): from ``table_resource``, or from
        ``schema_fields`` (``[{"name": "id", "type": "INTEGER", "mode": "REQUIRED"}, ...]``),
        labels, partitioning, clustering or a view. Returns the SDK Table."""
        bigquery = _bigquery()
        resource: dict[str, Any] = dict(table_resource or {})
        if not resource:
            if schema_fields:
                resource["schema"] = {"fields": [dict(f) for f in schema_fields]}
            if labels:
                resource["labels"] = dict(labels)
            if time_partitioning:
                resource["timePartitioning"] = dict(time_partitioning)
            if cluster_fields:
                resource["clustering"] = {"fields": list(cluster_fields)}
            if view:
                resource["view"] = dict(view)
        reference = dict(resource.get("tableReference") or {})
        reference.setdefault("datasetId", dataset_id)
        reference.setdefault("tableId", table_id)
        if not reference.get("datasetId") or not reference.get("tableId"):
            raise HookArgumentError(
                "create_empty_table needs dataset_id and table_id (or a tableReference)",
                conn_id=self.conn_id,
            )

        def action() -> Any:
            client = self.get_client(project_id=project_id, location=location)
            reference.setdefault("projectId", project_id or client.project)
            resource["tableReference"] = reference
            table = bigquery.Table.from_api_repr(resource)
            return client.create_table(table, exists_ok=exists_ok, retry=self.retry())

        return self.call(
            f"BigQuery create_table {reference['datasetId']}.{reference['tableId']}", action
        )

    def _table_ref(
        self, client: Any, project_id: str | None, dataset_id: str, table_id: str
    ) -> str:
        return f"{project_id or client.project}.{dataset_id}.{table_id}"

    def get_table(self, dataset_id: str, table_id: str, project_id: str | None = None) -> Any:
        """The SDK Table (metadata and schema)."""
        return self.call(
            f"BigQuery get_table {dataset_id}.{table_id}",
            lambda: self._get_table(dataset_id, table_id, project_id),
        )

    def _get_table(self, dataset_id: str, table_id: str, project_id: str | None) -> Any:
        client = self.get_client(project_id=project_id)
        return client.get_table(
            self._table_ref(client, project_id, dataset_id, table_id), retry=self.retry()
        )

    def table_exists(self, dataset_id: str, table_id: str, project_id: str | None = None) -> bool:
        """True when the table exists."""
        try:
            self.get_table(dataset_id, table_id, project_id)
        except GoogleApiError as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    def get_schema(
        self, dataset_id: str, table_id: str, project_id: str | None = None
    ) -> dict[str, Any]:
        """The table's schema as Airflow returns it: ``{"fields": [{"name", "type", "mode"}, ...]}``."""
        table = self.get_table(dataset_id, table_id, project_id)
        return {"fields": [field.to_api_repr() for field in table.schema]}

    def delete_table(
        self, table_id: str, not_found_ok: bool = True, project_id: str | None = None
    ) -> None:
        """Delete ``table_id`` (``"dataset.table"`` or ``"project.dataset.table"``)."""
        project, dataset, name = self.split_table_name(table_id)

        def action() -> None:
            client = self.get_client(project_id=project_id or project)
            client.delete_table(
                self._table_ref(client, project_id or project, dataset, name),
                not_found_ok=not_found_ok,
                retry=self.retry(),
            )

        self.call(f"BigQuery delete_table {dataset}.{name}", action)

    def list_rows(
        self,
        dataset_id: str,
        table_id: str,
        max_results: int | None = None,
        selected_fields: Sequence[str] | str | None = None,
        page_token: str | None = None,
        start_index: int | None = None,
        project_id: str | None = None,
        location: str | None = None,
        return_iterator: bool = False,
    ) -> Any:
        """Read rows straight from a table (``tabledata.list``); a list of SDK Rows, or the
        iterator with ``return_iterator=True``."""
        bigquery = _bigquery()
        if isinstance(selected_fields, str):
            selected_fields = [f.strip() for f in selected_fields.split(",") if f.strip()]

        def action() -> Any:
            client = self.get_client(project_id=project_id, location=location)
            ref = self._table_ref(client, project_id, dataset_id, table_id)
            kwargs: dict[str, Any] = {
                "max_results": max_results,
                "page_token": page_token,
                "start_index": start_index,
                "retry": self.retry(),
            }
            if selected_fields:
                kwargs["selected_fields"] = [
                    bigquery.SchemaField(f, "STRING") for f in selected_fields
                ]
            else:
                ref = client.get_table(ref, retry=self.retry())
            rows = client.list_rows(ref, **kwargs)
            return rows if return_iterator else list(rows)

        return self.call(f"BigQuery list_rows {dataset_id}.{table_id}", action)

    # -- testing -----------------------------------------------------------------------------

    def _test(self) -> None:
        """List at most one dataset: a signed round trip to the BigQuery API."""

        def action() -> None:
            client = self.get_client()
            next(iter(client.list_datasets(max_results=1, retry=self.retry())), None)

        self.call("BigQuery list_datasets", action)


# -- parameters --------------------------------------------------------------------------------


def bind_placeholders(sql: str, parameters: Parameters | None) -> str:
    """Rewrite DB-API placeholders to BigQuery's: ``%(name)s`` -> ``@name``, ``%s`` -> ``?``.

    SQL already written with ``@name`` or ``?`` is left as it is. Values are never put in the text.
    """
    if parameters is None:
        return sql
    if isinstance(parameters, Mapping):
        if "%(" not in sql:
            return sql
        return sql % {name: f"@{name}" for name in parameters}
    if "%s" not in sql:
        return sql
    return sql % tuple("?" for _ in parameters)


def query_parameters(parameters: Parameters) -> list[Any]:
    """BigQuery query parameters for a mapping (named) or a sequence (positional) of values.

    Types come from the Python values (bool, int, float, Decimal, str, bytes, date, time, datetime,
    lists of one of these); an SDK ``*QueryParameter`` is used as given.

    Raises:
        HookArgumentError: a value whose BigQuery type cannot be told (None, dict, mixed lists).
    """
    if isinstance(parameters, Mapping):
        return [_parameter(str(name), value) for name, value in parameters.items()]
    if isinstance(parameters, str | bytes):
        raise HookArgumentError("parameters must be a mapping or a sequence, not a string")
    return [_parameter(None, value) for value in parameters]


def _scalar_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, decimal.Decimal):
        return "BIGNUMERIC" if _needs_bignumeric(value) else "NUMERIC"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, bytes):
        return "BYTES"
    if isinstance(value, dt.datetime):
        return "TIMESTAMP" if value.tzinfo is not None else "DATETIME"
    if isinstance(value, dt.date):
        return "DATE"
    if isinstance(value, dt.time):
        return "TIME"
    return None


def _needs_bignumeric(value: decimal.Decimal) -> bool:
    exponent = value.as_tuple().exponent
    scale = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return scale > 9 or abs(value) >= decimal.Decimal(10) ** 29


def _parameter(name: str | None, value: Any) -> Any:
    bigquery = _bigquery()
    if isinstance(
        value,
        bigquery.ScalarQueryParameter
        | bigquery.ArrayQueryParameter
        | bigquery.StructQueryParameter,
    ):
        return value
    label = repr(name) if name else "a positional parameter"
    if isinstance(value, list | tuple):
        types = {_scalar_type(item) for item in value}
        if len(types) != 1 or None in types:
            raise HookArgumentError(
                f"cannot infer the BigQuery type of the array {label} (empty, mixed or unsupported "
                "element types); pass a google.cloud.bigquery.ArrayQueryParameter"
            )
        return bigquery.ArrayQueryParameter(name, types.pop(), list(value))
    kind = _scalar_type(value)
    if kind is None:
        raise HookArgumentError(
            f"cannot infer the BigQuery type of {label} ({type(value).__name__}); pass a "
            "google.cloud.bigquery.ScalarQueryParameter"
        )
    return bigquery.ScalarQueryParameter(name, kind, value)


def _description(schema: Sequence[Any] | None) -> list[tuple[Any, ...]]:
    return [
        (field.name, field.field_type, None, None, None, None, field.mode != "REQUIRED")
        for field in schema or ()
    ]


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _summarise(errors: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
    parts = []
    for error in errors[:limit]:
        details = error.get("errors") or [{}]
        first = details[0] if isinstance(details[0], Mapping) else {}
        reason = first.get("reason", "?")
        where = f" at {first['location']}" if first.get("location") else ""
        message = str(first.get("message", ""))[:120]
        parts.append(f"row {error.get('index')}: {reason}{where} ({message})")
    more = f"; and {len(errors) - limit} more" if len(errors) > limit else ""
    return "; ".join(parts) + more
