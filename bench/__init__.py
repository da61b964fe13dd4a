"""hookline benchmarks: hookline and Apache Airflow measured side by side in one run.

Run with ``make bench`` (``python -m bench``). Modules that run inside the Airflow interpreter
(:mod:`bench.timing`, :mod:`bench.worker`, :mod:`bench.connection_ops`) import only the standard
library at module level, so this package must stay import-free.
"""
