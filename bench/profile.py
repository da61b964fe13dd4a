"""Profile the hookline side of one benchmark operation with pyinstrument.

Usage: ``python -m bench.profile OP [--module bench.connection_ops] [--calls 20000]``, e.g.
``python -m bench.profile json_parse`` or ``python -m bench.profile cold_chain --module
bench.resolution``. The environment is the benchmark's: a throwaway ``HOOKLINE_HOME``, a Fernet key,
and ``AIRFLOW_CONN_BENCH_ENV``. Run it in a fresh process so cold paths stay cold.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile

from bench.connection_ops import ENV_CONN_ID, INPUT_URI


def main(argv: list[str] | None = None) -> int:
    """Profile one op and print pyinstrument's text report."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("op")
    parser.add_argument("--module", default="bench.connection_ops")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--interval-s", type=float, default=0.0001)
    args = parser.parse_args(argv)

    from cryptography.fernet import Fernet
    from pyinstrument import Profiler

    with tempfile.TemporaryDirectory(prefix="hookline-bench-profile-") as home:
        key = Fernet.generate_key().decode()
        os.environ.update(
            {
                "HOOKLINE_HOME": home,
                "HOOKLINE_FERNET_KEY": key,
                f"AIRFLOW_CONN_{ENV_CONN_ID.upper()}": INPUT_URI,
            }
        )
        kind, factories = importlib.import_module(args.module).OPS[args.op]
        factory = factories["hookline"]
        params = {"fernet_key": key, "hookline_home": home}
        profiler = Profiler(interval=args.interval_s)
        if kind == "value":
            profiler.start()
            factory(params, args.calls // 100)
            profiler.stop()
        else:
            fn = factory(params)
            calls = 1 if kind == "once" else args.calls
            profiler.start()
            for _ in range(calls):
                fn()
            profiler.stop()
        sys.stdout.write(profiler.output_text(unicode=True, color=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
