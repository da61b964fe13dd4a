"""Transfers between SQL and S3 (or a local file), streamed in chunks so a table larger than memory works.

* :class:`SqlToS3Operator` runs a query and uploads the result as CSV, JSON lines or Parquet
  (Parquet needs pyarrow: ``pip install 'hookline[parquet]'``).
* :class:`SqlToFileOperator` writes the same formats to a local file (hookline's own, for
  machines without S3).
* :class:`S3ToSqlOperator` loads a CSV or JSON-lines object (or anything a ``parser`` reads) into a
  table.

Rows are read from the database ``chunk_size_rows`` at a time with a streaming cursor (a server-side
cursor on PostgreSQL and MySQL) and written to a temporary file as they come; the file is then
uploaded (in parts when large) and removed. Memory use is one chunk, whatever the table's size.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final

from hookline import masking
from hookline.exceptions import HookError, InvalidPipeline, MissingDependency
from hookline.hooks.s3 import S3Hook
from hookline.hooks.sql import SqlHook
from hookline.operators.base import BaseOperator
from hookline.operators.s3 import s3_location
from hookline.operators.sql import Parameters, make_hook

__all__ = [
    "FILE_FORMATS",
    "S3ToSqlOperator",
    "SqlToFileOperator",
    "SqlToS3Operator",
    "stream_query",
    "write_rows",
]

#: Output formats: ``csv``, ``json`` (JSON lines; ``jsonl`` is the same) and ``parquet``.
FILE_FORMATS: Final = frozenset({"csv", "json", "jsonl", "parquet"})
DEFAULT_CHUNK_ROWS: Final = 10_000


def _check_format(task_id: str, file_format: str) -> str:
    fmt = file_format.lower()
    if fmt not in FILE_FORMATS:
        raise InvalidPipeline(
            f"task {task_id!r}: unknown file_format {file_format!r}; use csv, json or parquet",
            task_id=task_id,
        )
    return "json" if fmt == "jsonl" else fmt


@contextlib.contextmanager
def stream_query(
    hook: SqlHook, sql: str, parameters: Parameters | None, chunk_size_rows: int
) -> Iterator[tuple[list[str], Iterator[list[tuple[Any, ...]]]]]:
    """Run ``sql`` with a streaming cursor; yield its column names and an iterator of row chunks.

    Raises:
        HookError: the query failed (the message is masked).
    """
    from sqlalchemy import exc as sa_exc

    engine = hook.get_sqlalchemy_engine()
    try:
        with engine.connect() as conn:
            options: dict[str, Any] = {"stream_results": True, "max_row_buffer": chunk_size_rows}
            if parameters is None:
                options["no_parameters"] = True
            streaming = conn.execution_options(**options)
            bound: Any = None
            if parameters is not None:
                bound = dict(parameters) if isinstance(parameters, Mapping) else tuple(parameters)
            result = (
                streaming.exec_driver_sql(sql)
                if bound is None
                else streaming.exec_driver_sql(sql, bound)
            )
            columns = list(result.keys())

            def chunks() -> Iterator[list[tuple[Any, ...]]]:
                for part in result.partitions(chunk_size_rows):
                    yield [tuple(row) for row in part]

            yield columns, chunks()
    except sa_exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        raise HookError(
            masking.redact(f"query on {hook.conn_id!r} failed: {type(orig).__name__}: {orig}"),
            conn_id=hook.conn_id,
        ) from exc


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def write_rows(
    out: IO[bytes],
    file_format: str,
    columns: Sequence[str],
    chunks: Iterable[Sequence[Sequence[Any]]],
    *,
    header: bool = True,
) -> int:
    """Write row chunks to ``out`` as CSV, JSON lines or Parquet; return the number of rows.

    Raises:
        MissingDependency: Parquet without pyarrow.
    """
    if file_format == "parquet":
        return _write_parquet(out, columns, chunks)
    import io

    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    rows = 0
    try:
        if file_format == "csv":
            writer = csv.writer(text)
            if header:
                writer.writerow(columns)
            for chunk in chunks:
                writer.writerows([[_cell(v) for v in row] for row in chunk])
                rows += len(chunk)
        else:
            for chunk in chunks:
                text.write(
                    "".join(
                        json.dumps(dict(zip(columns, map(_cell, row), strict=False))) + "\n"
                        for row in chunk
                    )
                )
                rows += len(chunk)
        text.flush()
    finally:
        text.detach()
    return rows


def _write_parquet(
    out: IO[bytes], columns: Sequence[str], chunks: Iterable[Sequence[Sequence[Any]]]
) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependency("pyarrow", "parquet", purpose="Parquet output") from exc
    writer: Any = None
    schema: Any = None
    rows = 0
    try:
        for chunk in chunks:
            records = [dict(zip(columns, row, strict=False)) for row in chunk]
            if not records:
                continue
            table = pa.Table.from_pylist(records, schema=schema)
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(out, schema)
            writer.write_table(table)
            rows += len(records)
        if writer is None:  # no rows: an empty file with the columns (as strings)
            schema = pa.schema([(name, pa.string()) for name in columns])
            writer = pq.ParquetWriter(out, schema)
    finally:
        if writer is not None:
            writer.close()
    return rows


class _SqlExport(BaseOperator):
    """What the SQL export operators share: the query, streamed into a temporary file."""

    def __init__(
        self,
        task_id: str,
        *,
        query: str,
        sql_conn_id: str,
        parameters: Parameters | None,
        file_format: str,
        chunk_size_rows: int,
        include_header: bool,
        database: str | None,
        sql_hook_params: Mapping[str, Any] | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id, **kwargs)
        self.query = query
        self.sql_conn_id = sql_conn_id
        self.parameters = parameters
        self.file_format = _check_format(task_id, file_format)
        if (
            isinstance(chunk_size_rows, bool)
            or not isinstance(chunk_size_rows, int)
            or chunk_size_rows < 1
        ):
            raise InvalidPipeline(
                f"task {task_id!r}: chunk_size_rows must be an integer >= 1", task_id=task_id
            )
        self.chunk_size_rows = chunk_size_rows
        self.include_header = include_header
        self.database = database
        self.sql_hook_params = dict(sql_hook_params or {})

    def _export(self, directory: str | None = None) -> tuple[Path, int]:
        """The query's result in a temporary file (in ``directory``); its path and row count."""
        handle, name = tempfile.mkstemp(prefix="hookline-export-", suffix=".part", dir=directory)
        path = Path(name)
        try:
            with (
                os.fdopen(handle, "wb") as out,
                make_hook(self.sql_conn_id, self.database, self.sql_hook_params) as hook,
                stream_query(hook, self.query, self.parameters, self.chunk_size_rows) as (
                    columns,
                    chunks,
                ),
            ):
                rows = write_rows(
                    out, self.file_format, columns, chunks, header=self.include_header
                )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, rows


class SqlToS3Operator(_SqlExport):
    """Run a query and upload its result to S3 as CSV, JSON lines or Parquet, streamed in chunks.

    Args:
        task_id: The task id.
        query: The query (templated; a ``.sql`` file works).
        s3_key: The key, or a full ``s3://`` URL (templated).
        sql_conn_id: The SQL connection (templated).
        s3_bucket: The bucket when ``s3_key`` is not a URL (templated).
        parameters: Bound to the query (templated).
        replace: Overwrite an existing object.
        file_format: ``csv`` (default), ``json`` (JSON lines) or ``parquet``.
        chunk_size_rows: Rows fetched and written at a time.
        include_header: CSV: write the column names first.
        aws_conn_id: The AWS connection.
        database: Overrides the SQL connection's schema.
        sql_hook_params: Extra :class:`SqlHook` arguments.
        **kwargs: :class:`BaseOperator` arguments.
    """

    template_fields = ("s3_bucket", "s3_key", "query", "sql_conn_id", "parameters")
    template_ext = (".sql",)

    def __init__(
        self,
        *,
        task_id: str,
        query: str,
        s3_key: str,
        sql_conn_id: str,
        s3_bucket: str | None = None,
        parameters: Parameters | None = None,
        replace: bool = False,
        file_format: str = "csv",
        chunk_size_rows: int = DEFAULT_CHUNK_ROWS,
        include_header: bool = True,
        aws_conn_id: str = "aws_default",
        database: str | None = None,
        sql_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            task_id,
            query=query,
            sql_conn_id=sql_conn_id,
            parameters=parameters,
            file_format=file_format,
            chunk_size_rows=chunk_size_rows,
            include_header=include_header,
            database=database,
            sql_hook_params=sql_hook_params,
            **kwargs,
        )
        self.s3_key = s3_key
        self.s3_bucket = s3_bucket
        self.replace = replace
        self.aws_conn_id = aws_conn_id

    def execute(self, context: dict[str, Any]) -> Any:
        """Export and upload; return ``{"uri", "rows", "bytes", "format"}``."""
        path, rows = self._export()
        try:
            size = path.stat().st_size
            with S3Hook(self.aws_conn_id) as s3:
                bucket, key = s3_location(s3, self.s3_key, self.s3_bucket)
                s3.load_file(path, key, bucket, replace=self.replace)
        finally:
            path.unlink(missing_ok=True)
        return {
            "uri": f"s3://{bucket}/{key}",
            "rows": rows,
            "bytes": size,
            "format": self.file_format,
        }


class SqlToFileOperator(_SqlExport):
    """Run a query and write its result to a local file as CSV, JSON lines or Parquet.

    The file is written next to its final name and renamed when complete, so a failed export
    never leaves a partial file under ``path``.

    Args:
        task_id: The task id.
        query: The query (templated; a ``.sql`` file works).
        path: The file to write (templated); its folder is created.
        sql_conn_id: The SQL connection (templated).
        parameters: Bound to the query (templated).
        replace: Overwrite an existing file (otherwise the task fails).
        file_format: ``csv`` (default), ``json`` (JSON lines) or ``parquet``.
        chunk_size_rows: Rows fetched and written at a time.
        include_header: CSV: write the column names first.
        database: Overrides the SQL connection's schema.
        sql_hook_params: Extra :class:`SqlHook` arguments.
        **kwargs: :class:`BaseOperator` arguments.
    """

    template_fields = ("path", "query", "sql_conn_id", "parameters")
    template_ext = (".sql",)

    def __init__(
        self,
        *,
        task_id: str,
        query: str,
        path: str | os.PathLike[str],
        sql_conn_id: str,
        parameters: Parameters | None = None,
        replace: bool = False,
        file_format: str = "csv",
        chunk_size_rows: int = DEFAULT_CHUNK_ROWS,
        include_header: bool = True,
        database: str | None = None,
        sql_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            task_id,
            query=query,
            sql_conn_id=sql_conn_id,
            parameters=parameters,
            file_format=file_format,
            chunk_size_rows=chunk_size_rows,
            include_header=include_header,
            database=database,
            sql_hook_params=sql_hook_params,
            **kwargs,
        )
        self.path = str(path)
        self.replace = replace

    def execute(self, context: dict[str, Any]) -> Any:
        """Export; return ``{"path", "rows", "bytes", "format"}``."""
        target = Path(self.path)
        if target.exists() and not self.replace:
            raise HookError(
                f"task {self.task_id!r}: {target} exists; pass replace=True to overwrite it"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        part, rows = self._export(str(target.parent))
        part.replace(target)
        return {
            "path": str(target),
            "rows": rows,
            "bytes": target.stat().st_size,
            "format": self.file_format,
        }


def _csv_rows(
    path: Path, column_list: list[str] | None
) -> tuple[list[str] | None, Iterator[list[Any]]]:
    handle = path.open(newline="", encoding="utf-8")
    reader = csv.reader(handle)
    header = None if column_list is not None else next(reader, None)

    def rows() -> Iterator[list[Any]]:
        with handle:
            for row in reader:
                yield [None if cell == "" else cell for cell in row]

    return (column_list if column_list is not None else header), rows()


def _json_rows(
    path: Path, column_list: list[str] | None
) -> tuple[list[str] | None, Iterator[list[Any]]]:
    handle = path.open(encoding="utf-8")
    first_line = ""
    for line in handle:
        if line.strip():
            first_line = line
            break
    if not first_line:
        handle.close()
        return column_list, iter(())
    first = json.loads(first_line)
    columns = column_list if column_list is not None else list(first)

    def rows() -> Iterator[list[Any]]:
        with handle:
            yield [first.get(c) for c in columns]
            for line in handle:
                if line.strip():
                    item = json.loads(line)
                    yield [item.get(c) for c in columns]

    return columns, rows()


class S3ToSqlOperator(BaseOperator):
    """Load an S3 object into a table, in chunks of ``commit_every`` rows.

    Without a ``parser``, the format follows ``file_format`` (default: the key's extension,
    ``.csv`` or ``.json``/``.jsonl``): CSV takes its column names from the header row unless
    ``column_list`` is given; JSON lines map each object's keys to columns. A ``parser(path)``
    (Airflow's argument) returns the rows of the downloaded file instead.

    Args:
        task_id: The task id.
        s3_key: The key, or a full ``s3://`` URL (templated).
        table: The table, optionally ``schema.table`` (templated).
        sql_conn_id: The SQL connection (templated).
        s3_bucket: The bucket when ``s3_key`` is not a URL (templated).
        column_list: Target column names.
        parser: ``parser(local_path) -> iterable of rows``.
        file_format: ``csv`` or ``json`` (JSON lines).
        commit_every: Rows per insert chunk and transaction.
        aws_conn_id: The AWS connection.
        database: Overrides the SQL connection's schema.
        sql_hook_params: Extra :class:`SqlHook` arguments.
        **kwargs: :class:`BaseOperator` arguments.
    """

    template_fields = ("s3_bucket", "s3_key", "table", "sql_conn_id")

    def __init__(
        self,
        *,
        task_id: str,
        s3_key: str,
        table: str,
        sql_conn_id: str,
        s3_bucket: str | None = None,
        column_list: Sequence[str] | None = None,
        parser: Callable[[str], Iterable[Sequence[Any]]] | None = None,
        file_format: str | None = None,
        commit_every: int = 1000,
        aws_conn_id: str = "aws_default",
        database: str | None = None,
        sql_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id, **kwargs)
        if file_format is not None and _check_format(task_id, file_format) == "parquet":
            raise InvalidPipeline(
                f"task {task_id!r}: S3ToSqlOperator reads csv or json; pass a parser for other "
                "formats",
                task_id=task_id,
            )
        self.s3_key = s3_key
        self.s3_bucket = s3_bucket
        self.table = table
        self.sql_conn_id = sql_conn_id
        self.column_list = list(column_list) if column_list is not None else None
        self.parser = parser
        self.file_format = file_format
        self.commit_every = commit_every
        self.aws_conn_id = aws_conn_id
        self.database = database
        self.sql_hook_params = dict(sql_hook_params or {})

    def _format(self, key: str) -> str:
        if self.file_format is not None:
            return _check_format(self.task_id, self.file_format)
        return "json" if key.endswith((".json", ".jsonl", ".ndjson")) else "csv"

    def execute(self, context: dict[str, Any]) -> Any:
        """Download, parse and insert; return the number of rows inserted."""
        with tempfile.TemporaryDirectory(prefix="hookline-s3-to-sql-") as tmp:
            with S3Hook(self.aws_conn_id) as s3:
                bucket, key = s3_location(s3, self.s3_key, self.s3_bucket)
                local = Path(s3.download_file(key, bucket, Path(tmp) / "object"))
            columns: list[str] | None
            if self.parser is not None:
                columns, rows = self.column_list, iter(self.parser(str(local)))
            elif self._format(key) == "json":
                columns, rows = _json_rows(local, self.column_list)
            else:
                columns, rows = _csv_rows(local, self.column_list)
            with make_hook(self.sql_conn_id, self.database, self.sql_hook_params) as hook:
                return hook.insert_rows(
                    self.table, rows, target_fields=columns, commit_every=self.commit_every
                )
