"""Templated fields: rendered with a sandboxed Jinja2 environment and Airflow's context names.

Before each try, every attribute named in an operator's ``template_fields`` is rendered on a copy of
the operator (the pipeline's own task object never changes). Strings are templates; lists, tuples,
sets and dicts are rendered item by item; a string ending with one of the operator's
``template_ext`` (``.sql``) is a template file, looked up next to the pipeline file (and in the
pipeline's ``template_searchpath``). A task result passed as a field (:class:`XComArg`) is replaced
by the value.

The environment is Jinja2's :class:`~jinja2.sandbox.SandboxedEnvironment` with
:class:`~jinja2.StrictUndefined` (an unknown name is an error, as in Airflow): templates cannot
reach ``__class__``, ``__globals__`` or other internals, and cannot call unsafe methods.

The context (:func:`build_context`) has Airflow's names: ``ds``, ``ds_nodash``, ``ts``,
``ts_nodash``, ``logical_date``, ``data_interval_start``, ``data_interval_end``, ``run_id``,
``params``, ``task``, ``task_instance`` / ``ti`` (``xcom_pull``, ``xcom_push``, ``try_number``),
``conn`` (``{{ conn.warehouse.host }}``; connections are resolved where the task runs and their
secrets registered for masking), ``macros`` (``ds_add``, ``ds_format``, ``datetime``,
``timedelta``), ``dag`` / ``pipeline`` and ``dag_run``.

Rendered values are recorded masked (:func:`hookline.masking.redact`): a value holding a resolved
secret never reaches a log line or a run record in clear. A rendering error raises
:class:`~hookline.exceptions.TemplateRenderError` naming the task, the field and the template line.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from hookline import masking
from hookline.exceptions import TemplateRenderError
from hookline.operators.base import BaseOperator, XComArg

if TYPE_CHECKING:
    import jinja2

    from hookline.connection import Connection

__all__ = [
    "ConnectionAccessor",
    "build_context",
    "macros",
    "render_template_fields",
    "sandboxed_environment",
]

_INLINE = "<template>"


class ConnectionAccessor:
    """``{{ conn.<conn_id>.host }}``: connections by id, resolved through the secrets chain on use.

    Each resolved connection's secrets are registered for masking, so a rendered field that holds
    one is masked wherever it is logged or recorded.
    """

    def __getattr__(self, conn_id: str) -> Connection:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return self.get(conn_id)

    def get(self, conn_id: str, default: Connection | None = None) -> Connection:
        """The connection ``conn_id``; ``default`` when no backend holds it and one is given."""
        from hookline.connection_secrets import register_connection_secrets
        from hookline.exceptions import ConnectionNotFound
        from hookline.resolve.default import get_connection

        try:
            conn = get_connection(conn_id)
        except ConnectionNotFound:
            if default is None:
                raise
            return default
        register_connection_secrets(conn)
        return conn

    def __repr__(self) -> str:
        return "ConnectionAccessor()"


def _ds_add(ds: str, days: int) -> str:
    """``ds`` (YYYY-MM-DD) plus ``days`` days."""
    return (dt.date.fromisoformat(ds) + dt.timedelta(days=days)).isoformat()


def _ds_format(ds: str, input_format: str, output_format: str) -> str:
    """``ds`` read with ``input_format`` and written with ``output_format``."""
    return dt.datetime.strptime(ds, input_format).strftime(output_format)


#: ``{{ macros.ds_add(ds, 7) }}`` and friends (Airflow's most used macros).
macros = SimpleNamespace(
    ds_add=_ds_add,
    ds_format=_ds_format,
    datetime=dt.datetime,
    timedelta=dt.timedelta,
    date=dt.date,
    json=SimpleNamespace(dumps=json.dumps, loads=json.loads),
)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def build_context(
    *,
    task: BaseOperator,
    ti: Any,
    run_id: str,
    logical_date: dt.datetime,
    params: Mapping[str, Any] | None = None,
    data_interval: tuple[dt.datetime, dt.datetime] | None = None,
    pipeline: Any = None,
    dag_run: Any = None,
) -> dict[str, Any]:
    """The context a task's templates and ``execute`` see, with Airflow's names.

    Args:
        task: The operator.
        ti: The task instance (``xcom_pull``, ``xcom_push``, ``try_number``, ``task_id``,
            ``run_id``).
        run_id: The pipeline run's id.
        logical_date: The run's logical date (naive means UTC).
        params: The merged params (pipeline, task, run).
        data_interval: ``(start, end)``; default: both the logical date (Airflow 3's default for
            manual runs).
        pipeline: The pipeline (also as ``dag``).
        dag_run: The run (``run_id``, ``logical_date``, ``conf``).
    """
    logical = _aware(logical_date)
    start, end = data_interval if data_interval is not None else (logical, logical)
    ts = logical.isoformat()
    return {
        "ds": logical.strftime("%Y-%m-%d"),
        "ds_nodash": logical.strftime("%Y%m%d"),
        "ts": ts,
        "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": ts.replace("-", "").replace(":", ""),
        "logical_date": logical,
        "data_interval_start": _aware(start),
        "data_interval_end": _aware(end),
        "run_id": run_id,
        "params": dict(params or {}),
        "task": task,
        "task_instance": ti,
        "ti": ti,
        "conn": ConnectionAccessor(),
        "macros": macros,
        "dag": pipeline,
        "pipeline": pipeline,
        "dag_run": dag_run,
    }


def _filter_ds(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d") if value is not None else None


def _filter_ds_nodash(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y%m%d") if value is not None else None


def _filter_ts(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _filter_ts_nodash(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y%m%dT%H%M%S") if value is not None else None


@functools.lru_cache(maxsize=32)
def sandboxed_environment(searchpath: tuple[str, ...] = ()) -> jinja2.Environment:
    """The sandboxed Jinja2 environment for templates found in ``searchpath`` (cached)."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(list(searchpath)) if searchpath else None,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        cache_size=400,
    )
    env.filters.update(
        ds=_filter_ds, ds_nodash=_filter_ds_nodash, ts=_filter_ts, ts_nodash=_filter_ts_nodash
    )
    return env


def _template_line(exc: BaseException, filename: str) -> int | None:
    """The template line where ``exc`` was raised (Jinja rewrites tracebacks to template lines)."""
    import jinja2

    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.lineno
    line: int | None = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class _Renderer:
    def __init__(
        self,
        task: BaseOperator,
        context: Mapping[str, Any],
        env: jinja2.Environment,
        field: str,
    ) -> None:
        self.task = task
        self.context = context
        self.env = env
        self.field = field

    def fail(self, exc: BaseException, filename: str, source: str) -> TemplateRenderError:
        import jinja2
        from jinja2.exceptions import SecurityError

        line = _template_line(exc, filename)
        where = f" line {line}" if line is not None else ""
        in_file = f" (file {source})" if filename != _INLINE else ""
        if isinstance(exc, SecurityError):
            detail = f"unsafe template operation refused by the sandbox: {exc}"
        elif isinstance(exc, jinja2.TemplateNotFound):
            detail = f"template file {exc.name!r} not found next to the pipeline file"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return TemplateRenderError(
            masking.redact(
                f"task {self.task.task_id!r}: cannot render field {self.field!r}{in_file}"
                f"{',' if where else ''}{where}: {detail}"
            ),
            task_id=self.task.task_id,
            field=self.field,
            line=line,
        )

    def render(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self.render_string(value)
        if isinstance(value, XComArg):
            return value.resolve(self.context)
        if depth > 32:
            return value
        if isinstance(value, Mapping):
            return {k: self.render(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, depth + 1) for v in value]
        if isinstance(value, tuple):
            return tuple(self.render(v, depth + 1) for v in value)
        if isinstance(value, set | frozenset):
            return type(value)(self.render(v, depth + 1) for v in value)
        return value

    def render_string(self, text: str) -> str:
        import jinja2

        is_file = bool(self.task.template_ext) and text.endswith(tuple(self.task.template_ext))
        filename = _INLINE
        try:
            if is_file:
                template = self.env.get_template(text)
                filename = template.filename or text
            elif "{{" not in text and "{%" not in text and "{#" not in text:
                return text  # nothing to render (the common case: plain values)
            else:
                template = self.env.from_string(text)
            return template.render(self.context)
        except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            if isinstance(exc, jinja2.TemplateSyntaxError) and exc.filename:
                filename = exc.filename
            raise self.fail(exc, filename, text) from None
        except TemplateRenderError:
            raise
        except Exception as exc:  # a failing xcom_pull, conn lookup or filter
            raise self.fail(exc, filename, text) from exc


def render_template_fields(
    task: BaseOperator,
    context: dict[str, Any],
    searchpath: Sequence[str | Path] = (),
) -> tuple[BaseOperator, dict[str, Any]]:
    """Render ``task``'s ``template_fields`` on a copy of it.

    Args:
        task: The operator (not modified).
        context: From :func:`build_context`; its ``task`` is set to the rendered copy.
        searchpath: Where template files (``template_ext``) are looked up.

    Returns:
        The rendered copy, and the rendered values by field name, masked (for logs and records).

    Raises:
        TemplateRenderError: a field could not be rendered (names the task, field and line).
    """
    rendered = copy.copy(task)
    context["task"] = rendered
    if not task.template_fields:
        return rendered, {}
    env = sandboxed_environment(tuple(str(p) for p in searchpath))
    shown: dict[str, Any] = {}
    for field in task.template_fields:
        value = getattr(task, field)
        new = _Renderer(task, context, env, field).render(value)
        setattr(rendered, field, new)
        shown[field] = masking.redact(new, field)
    return rendered, shown
