"""Dataset and table management of :class:`~hookline.hooks.google.bigquery.BigQueryHook` (a mixin):
Airflow's ``create_empty_dataset``, ``create_empty_table``, ``table_exists``, ``get_schema``,
``delete_table``, ``list_rows``, plus ``get_table``, ``delete_dataset`` and ``split_table_name``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from hookline.exceptions import GoogleApiError, HookArgumentError
from hookline.hooks.google._bigquery_params import _bigquery

__all__ = ["BigQueryTablesMixin"]

T = TypeVar("T")
_TABLE_PART: Final = re.compile(r"^[\w\-]+$")


class BigQueryTablesMixin:
    """Datasets and tables (needs BigQueryHook's ``get_client``, ``retry`` and ``call``)."""

    if TYPE_CHECKING:
        conn_id: str
        location: str | None

        def get_client(self, project_id: str | None = None, location: str | None = None) -> Any: ...

        def retry(self) -> Any: ...

        def call(self, what: str, action: Callable[[], T]) -> T: ...

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
