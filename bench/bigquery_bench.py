"""BigQueryHook benchmarks against a local BigQuery emulator (``python -m bench.bigquery_bench``).

Starts ``bqemulator`` on 127.0.0.1 (``tests.servers.bqemulator``: offline, DuckDB extensions from
the dev dependencies), then measures, interleaved round by round so a loaded machine affects both
sides alike, and prints medians and ratios:

* ``get_records`` of a small query through the hook against the SDK called directly
  (``client.query_and_wait`` on the same client): the hook's overhead;
* acquiring the client: the hook's shared client (``get_client()``) against a new
  ``bigquery.Client`` per call;
* a whole ``get_records`` on the shared client against a new client per call (new credentials,
  new HTTP session and TCP connection each time, as a hook without a shared client would do).

``--rounds N`` sets the number of rounds (default 20). Figures go in the notes, not in tests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hookline import Connection
from hookline.hooks.google.base import clear_client_cache
from hookline.hooks.google.bigquery import BigQueryHook

SQL = "select 1 as id, 'ada' as name"


def _time(action: Callable[[], Any], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        action()
    return (time.perf_counter() - started) / repeat


def _row(
    label: str, ours: list[float], theirs: list[float], ours_name: str, theirs_name: str
) -> str:
    a, b = statistics.median(ours), statistics.median(theirs)
    return (
        f"{label:<58} {ours_name} {a * 1e3:9.3f} ms | {theirs_name} {b * 1e3:9.3f} ms | "
        f"ratio {b / a:6.2f}x"
    )


def run(rounds: int) -> list[str]:
    """Start the emulator, measure, stop it; return the printed lines."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery
    from tests.servers.bqemulator import start_bigquery_emulator

    with tempfile.TemporaryDirectory(prefix="hookline-bench-bq-") as tmp:
        emulator = start_bigquery_emulator(Path(tmp))
        try:
            conn = Connection(
                conn_id="bench_bq",
                conn_type="google_cloud_platform",
                extra=emulator.connection_extra(),
            )
            clear_client_cache()
            hook = BigQueryHook(conn, use_legacy_sql=False)
            config = bigquery.QueryJobConfig(use_legacy_sql=False)

            def new_client() -> Any:
                return bigquery.Client(
                    project=emulator.project_id,
                    credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                    client_options=ClientOptions(api_endpoint=emulator.endpoint),
                )

            client = hook.get_client()

            def sdk_direct() -> Any:
                return [tuple(r) for r in client.query_and_wait(SQL, job_config=config)]

            def via_hook() -> Any:
                return hook.get_records(SQL)

            def new_client_each_call() -> Any:
                fresh = new_client()
                try:
                    return [tuple(r) for r in fresh.query_and_wait(SQL, job_config=config)]
                finally:
                    fresh.close()

            assert via_hook() == sdk_direct() == new_client_each_call() == [(1, "ada")]
            for _ in range(3):  # warm-up: the emulator's first queries compile slowly
                via_hook()
                sdk_direct()
                new_client_each_call()
            samples: dict[str, list[float]] = {
                k: [] for k in ("hook", "sdk", "shared", "new", "get_client", "new_client")
            }
            for _ in range(rounds):
                samples["hook"].append(_time(via_hook, 3))
                samples["sdk"].append(_time(sdk_direct, 3))
                samples["new"].append(_time(new_client_each_call, 3))
                samples["get_client"].append(_time(hook.get_client, 200))
                samples["new_client"].append(_time(lambda: new_client().close(), 20))
            samples["shared"] = samples["hook"]
        finally:
            emulator.stop()
            clear_client_cache()
    return [
        f"BigQueryHook vs the SDK, {rounds} rounds against bqemulator on 127.0.0.1 (medians)",
        _row(
            "get_records(small query): hook vs SDK query_and_wait",
            samples["hook"],
            samples["sdk"],
            "hook",
            "SDK ",
        ),
        _row(
            "client: shared get_client() vs new bigquery.Client()",
            samples["get_client"],
            samples["new_client"],
            "hook",
            "new ",
        ),
        _row(
            "get_records: shared client vs new client per call",
            samples["shared"],
            samples["new"],
            "hook",
            "new ",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(prog="python -m bench.bigquery_bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    for line in run(args.rounds):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
