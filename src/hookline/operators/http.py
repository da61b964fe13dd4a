"""HttpOperator over :class:`~hookline.hooks.http.HttpHook` (and Airflow's old ``SimpleHttpOperator``).

The request is sent with the hook's keep-alive client, timeouts and bounded transport retries; a
4xx/5xx fails the task (the hook's ``check_response``). ``response_check`` and ``response_filter``
take the response and, as in Airflow, any context names they declare (``def check(response, ds)``).
The task's result is the response text, or what ``response_filter`` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from hookline import masking
from hookline.exceptions import TaskFailed
from hookline.hooks.http import HttpHook
from hookline.operators.base import BaseOperator
from hookline.operators.python import _context_parameters

__all__ = ["HttpOperator", "SimpleHttpOperator"]


def _call_with_context(
    fn: Callable[..., Any], response: httpx.Response, context: Mapping[str, Any]
) -> Any:
    wants_all, names = _context_parameters(fn)
    kwargs = dict(context) if wants_all else {n: context[n] for n in names if n in context}
    return fn(response, **kwargs)


class HttpOperator(BaseOperator):
    """Call an HTTP endpoint of a connection.

    Args:
        task_id: The task id.
        http_conn_id: The HTTP connection (base URL, auth, headers from extras).
        endpoint: Path appended to the base URL (templated).
        method: HTTP method (default ``POST``, as in Airflow).
        data: Body, or query parameters for GET (templated).
        headers: Extra headers (templated).
        response_check: ``check(response, **context) -> bool``; False fails the task.
        response_filter: ``filter(response, **context) -> value``: the task's result.
        extra_options: Per-request options: ``timeout``, ``check_response``.
        log_response: Log the response text (masked).
        hook_params: Extra :class:`HttpHook` arguments (``retry_limit``, ``read_timeout_s``, ...).
        **kwargs: :class:`BaseOperator` arguments.
    """

    template_fields = ("endpoint", "data", "headers", "http_conn_id")
    template_ext = (".json",)

    def __init__(
        self,
        *,
        task_id: str,
        endpoint: str | None = None,
        method: str = "POST",
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        response_check: Callable[..., Any] | None = None,
        response_filter: Callable[..., Any] | None = None,
        extra_options: Mapping[str, Any] | None = None,
        http_conn_id: str = "http_default",
        log_response: bool = False,
        hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id, **kwargs)
        self.http_conn_id = http_conn_id
        self.endpoint = endpoint
        self.method = method.upper()
        self.data = data
        self.headers = dict(headers or {})
        self.response_check = response_check
        self.response_filter = response_filter
        self.extra_options = dict(extra_options or {})
        self.log_response = log_response
        self.hook_params = dict(hook_params or {})

    def get_hook(self) -> HttpHook:
        """The hook the request goes through."""
        return HttpHook(self.http_conn_id, method=self.method, **self.hook_params)

    def execute(self, context: dict[str, Any]) -> Any:
        """Send the request; check and filter the response."""
        with self.get_hook() as hook:
            # Airflow's call form: the method is the hook's (set above from the operator).
            response = hook.run(self.endpoint, self.data, self.headers, self.extra_options)
            if self.log_response:
                self.log_text(response.text)
            if self.response_check is not None and not _call_with_context(
                self.response_check, response, context
            ):
                raise TaskFailed(
                    f"task {self.task_id!r}: response check returned False "
                    f"(HTTP {response.status_code} from {self.endpoint or '/'})",
                    task_id=self.task_id,
                )
            if self.response_filter is not None:
                return _call_with_context(self.response_filter, response, context)
            return response.text

    def log_text(self, text: str) -> None:
        """Log response text, masked."""
        import logging

        logging.getLogger("hookline.operators.http").info(
            "task %s response: %s", self.task_id, masking.redact(text)
        )


class SimpleHttpOperator(HttpOperator):
    """Airflow's old name for :class:`HttpOperator`."""
