"""hookline demo: a small pipeline on the embedded defaults, start to finish in a few seconds.

1. A throwaway HOOKLINE_HOME; connections registered with the `hookline` CLI into the embedded, Fernet-
   encrypted SQLite metastore (an HTTP API served locally by this demo, and a SQLite database).
2. A pipeline: fetch JSON over HTTP with HttpHook, insert the rows with SqlHook.insert_rows, query back.
3. The lookup trace, and redaction of the passwords in every output: repr, logs, CLI, errors.
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
    server.shutdown()
    print(
        f"\nDone: 2 connections stored encrypted in {home / 'hookline.db'}, {len(rows)} rows queried."
    )


if __name__ == "__main__":
    main()
