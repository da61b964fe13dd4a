"""hookline demo: the Connection model at work (parse, render, redacted printing, JSON, env lookup)."""

from __future__ import annotations

import logging
import os

import hookline
from hookline import Connection, masking


def main() -> None:
    print("== 1. Parse an Airflow connection URI")
    uri = "postgresql://alice:s%40cret-Passw0rd@db.example.com:5432/app?sslmode=require"
    conn = Connection.from_uri(uri, conn_id="warehouse")
    print(f"   conn_type={conn.conn_type} host={conn.host} port={conn.port} login={conn.login}")
    print(f"   schema={conn.schema} extra={dict(conn.extra)}")
    print(f"   repr (password redacted): {conn!r}")
    print(f"   get_uri() (lossless, password included): {conn.get_uri()}")

    print("== 2. JSON form (Airflow's shape), redacted on request")
    print(f"   {conn.to_json(redact=True)}")
    assert Connection.from_json(conn.to_json(), conn_id="warehouse") == conn

    print("== 3. Resolve from an environment variable (AIRFLOW_CONN_* works too)")
    os.environ["HOOKLINE_CONN_BILLING_API"] = (
        '{"conn_type": "http", "host": "billing.internal", "password": "tok-3xample-S3cret",'
        ' "extra": {"api_token": "abcd-1234-efgh"}}'
    )
    billing = hookline.get_connection("billing_api")
    print(f"   {billing}")
    print(f"   to_dict(redact=True): {billing.to_dict(redact=True, prune_empty=True)}")

    print("== 4. Secrets are masked in logs")
    logging.basicConfig(level=logging.INFO, format="   log: %(message)s")
    masking.install()
    masking.register(billing.password)
    logging.getLogger("demo").info("calling billing with token %s", billing.password)

    print("== 5. Bad input gets a typed error that never shows the password")
    try:
        Connection.from_uri("postgres://alice:my-pa/ssword@db:5432/app")
    except hookline.InvalidConnectionURI as exc:
        print(f"   {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
