"""hookline demo: a small pipeline on the embedded defaults, start to finish in a few seconds.

1. A throwaway HOOKLINE_HOME; connections registered with the `hookline` CLI into the embedded, Fernet-
   encrypted SQLite metastore (an HTTP API served locally by this demo, and a SQLite database).
2. A pipeline: fetch JSON over HTTP with HttpHook, insert the rows with SqlHook.insert_rows, query back.
3. The lookup trace, and redaction of the passwords in every output: repr, logs, CLI, errors.
4. The same work as a pipeline of operators: HTTP extract, a templated {{ ds }} partition loaded
   into SQLite, a check, a task that fails once and succeeds on retry, and an export to S3 (a local
   moto server when moto is installed, else a local file); the run's task table and its record.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

API_TOKEN = "demo-Api-T0ken-42"
DB_PASSWORD = "demo-Db-Passw0rd"
ORDERS = [
    {"id": 1, "customer": "ada", "amount_cents": 1250},
    {"id": 2, "customer": "grace", "amount_cents": 9900},
    {"id": 3, "customer": "linus", "amount_cents": 420},
]


class _OrdersApi(BaseHTTPRequestHandler):
    """A tiny JSON API that wants a bearer token."""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {API_TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"orders": ORDERS}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return


def cli(*args: str) -> str:
    """Run the real `hookline` CLI in a subprocess and return what it printed."""
    out = subprocess.run(
        [sys.executable, "-m", "hookline.cli.app", *args],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ.copy(),
    )
    if out.returncode != 0:
        raise SystemExit(f"hookline {' '.join(args[:2])} failed: {out.stderr.strip()}")
    return out.stdout.rstrip()


def section(title: str) -> None:
    print(f"\n== {title}")


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="hookline-demo-"))
    os.environ["HOOKLINE_HOME"] = str(home)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OrdersApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api_port = server.server_address[1]
    db_path = home / "warehouse.db"

    section(f"1. Register connections with the CLI (HOOKLINE_HOME={home})")
    api_json = json.dumps(
        {
            "conn_type": "http",
            "host": "127.0.0.1",
            "port": api_port,
            "extra": {"bearer_token": API_TOKEN},
        }
    )
    print(cli("connections", "add", "orders_api", "--json", api_json))
    print(
        cli(
            "connections", "add", "warehouse", "--conn-type", "sqlite", "--host", str(db_path),
            "--login", "etl", "--password", DB_PASSWORD,
        )
    )  # fmt: skip
    print(cli("connections", "list"))

    import hookline
    from hookline import masking
    from hookline.hooks import HttpHook, SqliteHook

    logging.basicConfig(level=logging.INFO, format="   log %(name)s: %(message)s")
    masking.install()

    section("2. Run the pipeline: HTTP -> SQLite")
    with HttpHook("orders_api") as api:
        orders = api.run("GET", "/orders").json()["orders"]
    print(f"   fetched {len(orders)} orders over HTTP")
    with SqliteHook("warehouse") as db:
        db.run(
            "create table if not exists orders (id integer primary key, customer text, amount_cents integer)"
        )
        db.insert_rows(
            "orders",
            [(o["id"], o["customer"], o["amount_cents"]) for o in orders],
            target_fields=["id", "customer", "amount_cents"],
            replace=True,
        )
        rows = db.get_records(
            "select customer, amount_cents from orders where amount_cents > ? order by id", [1000]
        )
        total = db.get_first("select sum(amount_cents) from orders")[0]
    for customer, amount in rows:
        print(f"   big order: {customer:<6} {amount / 100:8.2f}")
    print(f"   total: {total / 100:.2f}")

    section("3. Where did the connection come from? (hookline secrets trace)")
    print(cli("secrets", "trace", "warehouse"))

    section("4. Secrets stay hidden")
    conn = hookline.get_connection("warehouse")
    print(f"   repr: {conn!r}")
    raw = (home / "hookline.db").read_bytes()
    print(
        f"   password or token in the raw metastore file? {DB_PASSWORD.encode() in raw or API_TOKEN.encode() in raw}"
    )
    logging.getLogger("demo").info("connecting with password %s", conn.password)
    print(cli("connections", "get", "orders_api", "--output", "json"))
    try:
        hookline.Connection.from_uri(f"postgres://etl:{DB_PASSWORD}/x@db:5432/app")
    except hookline.InvalidConnectionURI as exc:
        print(f"   {type(exc).__name__}: {exc}")
    try:
        hookline.get_connection("no_such_conn")
    except hookline.ConnectionNotFound as exc:
        print(f"   {type(exc).__name__}: {exc}")
    state = run_pipeline(home)
    server.shutdown()
    print(
        f"\nDone: 2 connections stored encrypted in {home / 'hookline.db'}, {len(rows)} rows queried, "
        f"pipeline run: {state}."
    )


def start_moto() -> tuple[object, str] | None:
    """A moto S3 server on a free loopback port, when moto is installed (the dev environment)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        return None
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    return moto, f"http://127.0.0.1:{port}"


def run_pipeline(home: Path) -> object:
    """Section 5: the same work as a pipeline of operators, run by the local runner."""
    from hookline.operators import (
        HttpOperator,
        SQLCheckOperator,
        SQLExecuteQueryOperator,
        SqlToFileOperator,
        SqlToS3Operator,
        task,
    )
    from hookline.pipelines import Pipeline, chain

    section("5. The same work as a pipeline: HTTP -> SQLite partition -> check -> export")
    logging.getLogger("hookline.pipelines").setLevel(logging.CRITICAL)  # the table tells the story
    moto = start_moto()
    if moto is not None:
        os.environ["HOOKLINE_CONN_LAKE"] = (
            f"aws://demo-key:demo-Secret-Key-9@/?endpoint_url={moto[1]}&region_name=us-east-1"
        )
    attempts = {"publish": 0}

    @task
    def load(orders: list[dict[str, object]], ds: str) -> int:
        from hookline.hooks import SqliteHook

        with SqliteHook("warehouse") as db:
            return db.insert_rows(
                "orders_daily",
                [(ds, o["id"], o["customer"], o["amount_cents"]) for o in orders],
                target_fields=["ds", "id", "customer", "amount_cents"],
            )

    @task(retries=1, retry_delay_s=0.2)
    def publish(ds: str) -> str:
        attempts["publish"] += 1
        if attempts["publish"] == 1:
            raise ConnectionError("report service busy (the first try always fails in this demo)")
        return f"report for {ds} published"

    with Pipeline("orders_daily", default_args={"retry_delay_s": 0.2}) as pipeline:
        extract = HttpOperator(
            task_id="extract",
            http_conn_id="orders_api",
            endpoint="/orders",
            method="GET",
            response_filter=lambda response: response.json()["orders"],
        )
        prepare = SQLExecuteQueryOperator(
            task_id="prepare_partition",
            conn_id="warehouse",
            split_statements=True,
            sql="create table if not exists orders_daily "
            "(ds text, id integer, customer text, amount_cents integer);"
            "delete from orders_daily where ds = '{{ ds }}'",
        )
        check = SQLCheckOperator(
            task_id="check_partition",
            conn_id="warehouse",
            sql="select count(*) from orders_daily where ds = '{{ ds }}'",
        )
        query = "select ds, id, customer, amount_cents from orders_daily where ds = '{{ ds }}'"
        if moto is not None:
            from hookline.hooks import S3Hook

            with S3Hook("lake") as s3:
                s3.create_bucket("demo-exports")
            export = SqlToS3Operator(
                task_id="export",
                sql_conn_id="warehouse",
                query=query,
                aws_conn_id="lake",
                s3_bucket="demo-exports",
                s3_key="orders/{{ ds_nodash }}.csv",
                replace=True,
            )
        else:
            export = SqlToFileOperator(
                task_id="export",
                sql_conn_id="warehouse",
                query=query,
                path=str(home / "exports" / "orders_{{ ds_nodash }}.csv"),
                replace=True,
            )
        loaded = load(extract.output)
        chain(prepare, loaded, check, [export, publish()])
    run = pipeline.run(logical_date="2026-12-01")
    print("   " + run.table().replace("\n", "\n   "))
    exported = run.xcom_pull("export")
    where = exported.get("uri") or exported.get("path")
    print(f"   exported {exported['rows']} rows of {run.logical_date:%Y-%m-%d} to {where}")
    print(
        f"   run {run.run_id}: {run.state}; recorded in the metastore ('hookline pipelines runs')"
    )
    print(cli("pipelines", "runs", "orders_daily"))
    if moto is not None:
        moto[0].stop()  # type: ignore[attr-defined]
    return run.state


if __name__ == "__main__":
    main()
