"""``hookline metrics serve``: a standalone Prometheus exporter for hookline's metrics.

It enables :mod:`hookline.metrics` on the process-wide registry, optionally runs a health checker
over some connections (``--check ID``, repeatable, or ``--check-all``) on an interval, and serves the
exposition on ``--host`` (127.0.0.1 by default: exposing it further is a choice to make explicitly)
and ``--port`` until interrupted.
"""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from hookline.cli import common, render
from hookline.cli.common import CliFailure

__all__ = ["app"]

app = typer.Typer(
    help="Export hookline's metrics for Prometheus.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Set by tests to stop a running ``serve``; the command waits on it.
stop_event = threading.Event()


@app.command("serve")
def serve(
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port to listen on.")] = 9464,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (default: loopback only).")
    ] = "127.0.0.1",
    check: Annotated[
        list[str] | None,
        typer.Option("--check", help="Test this connection on an interval (repeatable)."),
    ] = None,
    check_all: Annotated[
        bool, typer.Option("--check-all", help="Test every connection the chain can list.")
    ] = False,
    interval_s: Annotated[
        float, typer.Option("--interval", help="Seconds between health-check rounds.")
    ] = 30.0,
    timeout_s: Annotated[
        float, typer.Option("--timeout", help="Seconds one connection test may take.")
    ] = 10.0,
    conn_id_labels: Annotated[
        bool,
        typer.Option("--conn-id-labels", help="Label lookup and pool metrics with conn_ids."),
    ] = False,
    verbose: common.VerboseOption = 0,
) -> None:
    """Serve the metrics at http://HOST:PORT/metrics until interrupted (Ctrl-C)."""
    from hookline import health, metrics

    if not 0 < port < 65536:
        raise CliFailure(f"--port must be between 1 and 65535, got {port}")
    registry = metrics.enable(conn_id_labels=conn_id_labels)
    conn_ids = list(dict.fromkeys(check or []))
    if check_all:
        conn_ids += [cid for cid in health.all_conn_ids() if cid not in conn_ids]
    checker = None
    if conn_ids:
        checker = health.HealthChecker(conn_ids, interval_s=interval_s, timeout_s=timeout_s)
    try:
        server, _ = metrics.serve(port, host, registry)
    except OSError as exc:
        raise CliFailure(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    where = f"http://{host}:{port}/metrics"
    checks = f"; checking {len(conn_ids)} connection(s) every {interval_s:g} s" if conn_ids else ""
    render.write_text(common.err_console(), f"serving hookline metrics at {where}{checks}")
    if checker is not None:
        checker.start()
    try:
        while not stop_event.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if checker is not None:
            checker.stop()
        server.shutdown()
        server.server_close()
