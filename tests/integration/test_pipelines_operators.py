"""Operators against real servers: S3 (moto), HTTP and Slack (a recording HTTP server), SMTP
(aiosmtpd), PostgreSQL (SQL operators and the run records), and the CLI's live table on a terminal."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from hookline.hooks.s3 import S3Hook
from hookline.operators import (
    EmailOperator,
    HttpOperator,
    PostgresOperator,
    S3CopyObjectOperator,
    S3CreateObjectOperator,
    S3DeleteObjectsOperator,
    S3ListOperator,
    S3ToSqlOperator,
    SimpleHttpOperator,
    SlackWebhookOperator,
    SQLCheckOperator,
    SQLExecuteQueryOperator,
    SqlToS3Operator,
)
from hookline.pipelines import Pipeline, RunState, TaskState, chain
from hookline.pipelines.store import RunStore
from tests.servers.http_echo import EchoServer
from tests.servers.moto import MotoServer
from tests.servers.postgres import PostgresServer
from tests.servers.smtp import SmtpServer

CANARY = "canary-Ops-Secret-4b9d2e"


@pytest.fixture
def lake(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """An AWS connection to moto (secret key = canary) and a fresh bucket."""
    uri = (
        f"aws://AKIATESTING:{CANARY}@/?endpoint_url={moto_server.endpoint_url}"
        "&region_name=us-east-1"
    )
    monkeypatch.setenv("HOOKLINE_CONN_LAKE", uri)
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    with S3Hook("lake") as s3:
        s3.create_bucket(bucket)
    return bucket


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "wh.db"
    monkeypatch.setenv("HOOKLINE_CONN_WH", f"sqlite:///{db}")
    return db


def test_s3_operators_create_copy_list_delete(lake: str) -> None:
    """Create (templated key), copy by s3:// URL, list, delete by prefix; results recorded."""
    with Pipeline("s3") as p:
        chain(
            S3CreateObjectOperator(
                task_id="create", aws_conn_id="lake", s3_bucket=lake,
                s3_key="raw/{{ ds_nodash }}/a.txt", data="hello {{ ds }}",
            ),
            S3CopyObjectOperator(
                task_id="copy", aws_conn_id="lake",
                source_bucket_key=f"s3://{lake}/raw/{{{{ ds_nodash }}}}/a.txt",
                dest_bucket_key=f"s3://{lake}/copy/a.txt",
            ),
            S3ListOperator(task_id="list", aws_conn_id="lake", bucket=lake, prefix="raw/"),
            S3DeleteObjectsOperator(task_id="delete", aws_conn_id="lake", bucket=lake, prefix="raw/"),
        )  # fmt: skip
    run = p.run("2026-12-01", record=False)
    assert run.state == RunState.SUCCESS, run.table()
    assert run.xcom_pull("create") == f"s3://{lake}/raw/20261201/a.txt"
    assert run.xcom_pull("list") == ["raw/20261201/a.txt"]
    assert run.xcom_pull("delete") == 1
    with S3Hook("lake") as s3:
        assert s3.read_key("copy/a.txt", lake) == "hello 2026-12-01"
        assert s3.list_keys(lake, prefix="raw/") == []


def test_s3_errors_fail_the_task_without_the_secret(lake: str) -> None:
    """Copying a missing key fails with the hook's S3NotFound, never the secret key."""
    with Pipeline("s3") as p:
        S3CopyObjectOperator(
            task_id="copy", aws_conn_id="lake", source_bucket_key="nope",
            dest_bucket_key="x", source_bucket_name=lake, dest_bucket_name=lake,
        )  # fmt: skip
    run = p.run("2026-12-01", record=False)
    error = run.tasks["copy"].error or ""
    assert error.startswith("S3NotFound: S3 copy_object on s3://")
    assert CANARY not in error


@pytest.mark.parametrize("file_format", ["csv", "json", "parquet"])
def test_sql_to_s3_and_back_streamed_in_chunks(
    lake: str, warehouse: Path, file_format: str
) -> None:
    """2,500 rows go to S3 in chunks of 1,000 as CSV / JSON lines / Parquet; CSV and JSON come
    back into another table with S3ToSqlOperator."""
    key = f"export/{{{{ ds }}}}/orders.{file_format}"
    with Pipeline("t") as p:
        create = SQLExecuteQueryOperator(
            task_id="create", conn_id="wh", split_statements=True,
            sql="create table orders (id integer, customer text, amount real);"
                "create table copy (id integer, customer text, amount real);"
                "with recursive n(i) as (select 1 union all select i + 1 from n where i < 2500) "
                "insert into orders select i, 'c' || i, i * 0.5 from n",
        )  # fmt: skip
        export = SqlToS3Operator(
            task_id="export", sql_conn_id="wh", aws_conn_id="lake", s3_bucket=lake, s3_key=key,
            query="select id, customer, amount from orders order by id", file_format=file_format,
            chunk_size_rows=1000,
        )  # fmt: skip
        create >> export
        if file_format != "parquet":
            back = S3ToSqlOperator(
                task_id="back", aws_conn_id="lake", s3_bucket=lake, s3_key=key, table="copy",
                sql_conn_id="wh", file_format=file_format, commit_every=700,
            )  # fmt: skip
            check = SQLCheckOperator(
                task_id="check", conn_id="wh",
                sql="select count(*) = 2500 and sum(amount) = 1563125 from copy",
            )  # fmt: skip
            export >> back >> check
    run = p.run("2026-12-01", record=False)
    assert run.state == RunState.SUCCESS, run.table()
    result = run.xcom_pull("export")
    assert result["rows"] == 2500
    assert result["uri"] == f"s3://{lake}/export/2026-12-01/orders.{file_format}"
    with S3Hook("lake") as s3:
        data = s3.read_key_bytes(f"export/2026-12-01/orders.{file_format}", lake)
    assert len(data) == result["bytes"]
    if file_format == "csv":
        rows = list(csv.reader(io.StringIO(data.decode())))
        assert rows[:2] == [["id", "customer", "amount"], ["1", "c1", "0.5"]]
        assert len(rows) == 2501
    elif file_format == "json":
        assert json.loads(data.decode().splitlines()[-1]) == {
            "id": 2500,
            "customer": "c2500",
            "amount": 1250.0,
        }
    else:
        import pyarrow.parquet as pq

        assert pq.read_table(io.BytesIO(data)).num_rows == 2500
    if file_format != "parquet":
        assert run.xcom_pull("back") == 2500


def test_http_operator_and_old_name(http_echo: EchoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """HttpOperator sends the templated request with the connection's token; check and filter
    see the response and context; a failed check fails the task; 4xx fails it too."""
    monkeypatch.setenv(
        "HOOKLINE_CONN_API",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": http_echo.port,
                    "extra": {"bearer_token": CANARY}}),
    )  # fmt: skip
    with Pipeline("h") as p:
        post = HttpOperator(
            task_id="post", http_conn_id="api", endpoint="/orders/{{ ds }}", method="POST",
            data=json.dumps({"day": "{{ ds }}"}), headers={"Content-Type": "application/json"},
            response_check=lambda response, ds: response.json()["path"] == f"/orders/{ds}",
            response_filter=lambda response: response.json()["method"],
        )  # fmt: skip
        get = SimpleHttpOperator(
            task_id="get", http_conn_id="api", endpoint="/ping", method="GET", data={"q": "1"},
            response_check=lambda response: False,
        )  # fmt: skip
        missing = HttpOperator(
            task_id="missing", http_conn_id="api", endpoint="/missing", method="GET",
            trigger_rule="all_done", on_execute_callback=lambda _: http_echo.fail_next(404),
        )  # fmt: skip
        post >> get >> missing
    run = p.run("2026-12-01", record=False)
    assert run.xcom_pull("post") == "POST"
    first = next(r for r in http_echo.requests if r.path == "/orders/2026-12-01")
    assert first.json() == {"day": "2026-12-01"}
    assert first.headers["authorization"] == f"Bearer {CANARY}"
    assert run.tasks["get"].error == (
        "TaskFailed: task 'get': response check returned False (HTTP 200 from /ping)"
    )
    assert "HttpStatusError" in (run.tasks["missing"].error or "")
    assert all(CANARY not in (r.error or "") for r in run.tasks.values())


def test_slack_and_email_operators(
    http_echo: EchoServer, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack webhook message and email, both templated, through real servers."""
    token = f"T000/B000/{CANARY}"
    monkeypatch.setenv(
        "HOOKLINE_CONN_ALERTS",
        json.dumps({"conn_type": "slackwebhook", "host": "127.0.0.1", "port": http_echo.port,
                    "schema": "http", "password": token}),
    )  # fmt: skip
    monkeypatch.setenv(
        "HOOKLINE_CONN_MAIL",
        json.dumps({"conn_type": "smtp", "host": smtp_server.host, "port": smtp_server.port,
                    "extra": {"from_email": "pipeline@example.com"}}),
    )  # fmt: skip
    with Pipeline("n") as p:
        SlackWebhookOperator(
            task_id="slack", slack_webhook_conn_id="alerts", message="load {{ ds }} done"
        )
        EmailOperator(
            task_id="mail", conn_id="mail", to="ops@example.com; data@example.com",
            subject="Load {{ ds }}", html_content="<b>{{ params.rows }}</b> rows",
            params={"rows": 42},
        )  # fmt: skip
    run = p.run("2026-12-01", record=False)
    assert run.state == RunState.SUCCESS, run.table()
    slack = next(r for r in http_echo.requests if r.method == "POST")
    assert slack.json() == {"text": "load 2026-12-01 done"}
    (mail,) = smtp_server.messages
    assert mail.message["Subject"] == "Load 2026-12-01"
    assert "<b>42</b> rows" in mail.message.get_body(("html",)).get_content()
    assert run.xcom_pull("mail") == mail.message["Message-ID"]


def test_sql_operators_and_run_records_on_postgresql(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgresOperator/SQLExecuteQueryOperator on PostgreSQL, and the run recorded in a
    PostgreSQL metastore ([metastore] url), errors masked."""
    name = postgres_server.unique_name("ops")
    postgres_server.create_database(name, owner_password=CANARY)
    url = postgres_server.url(name, user=name, password=CANARY)
    monkeypatch.setenv("HOOKLINE_METASTORE__URL", url)
    monkeypatch.setenv("HOOKLINE_CONN_PG", url.replace("postgresql+psycopg", "postgres"))
    with Pipeline("pg") as p:
        chain(
            PostgresOperator(
                task_id="create", postgres_conn_id="pg",
                sql="create table t (ds date, n int); insert into t values (%(ds)s, 1)",
                parameters={"ds": "{{ ds }}"}, split_statements=True,
            ),
            SQLExecuteQueryOperator(task_id="read", conn_id="pg", sql="select ds::text, n from t"),
            SQLExecuteQueryOperator(task_id="broken", conn_id="pg", sql="select nope from t"),
        )  # fmt: skip
    run = p.run("2026-12-01")
    assert run.states() == {"create": "success", "read": "success", "broken": "failed"}
    assert run.xcom_pull("read") == [["2026-12-01", 1]]
    store = RunStore(url)
    try:
        recorded = store.load_run(run.run_id)
    finally:
        store.close()
    assert recorded.states() == run.states()
    assert 'column "nope" does not exist' in (recorded.tasks["broken"].error or "")
    assert CANARY not in (recorded.tasks["broken"].error or "")


def test_cli_shows_a_live_table_on_a_terminal(tmp_path: Path) -> None:
    """On a TTY, `pipelines run` draws a rich live table (cursor movement, colours) and ends
    with the task table."""
    flows = tmp_path / "flows.py"
    flows.write_text(
        "import time\n"
        "from hookline.operators import PythonOperator\n"
        "from hookline.pipelines import Pipeline\n"
        "with Pipeline('tty') as p:\n"
        "    a = PythonOperator(task_id='a', python_callable=time.sleep, op_args=[0.3])\n"
        "    a >> PythonOperator(task_id='b', python_callable=time.sleep, op_args=[0.3])\n"
    )
    env = {**os.environ, "COLUMNS": "100", "LINES": "40", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hookline.cli.app", "pipelines", "run", str(flows),
         "--logical-date", "2026-12-01"],
        stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.wait(timeout=10) == 0
    text = output.decode(errors="replace")
    assert "\x1b[" in text  # colours and cursor control: the live display
    assert "┃ task" in text or "task" in text
    assert "success" in text
    assert "of tty: success (2 tasks," in text
    assert TaskState.SUCCESS.value in text
