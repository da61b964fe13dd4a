"""hookline inside Apache Airflow: :mod:`hookline.airflow.secrets` is a secrets backend for Airflow.

This subpackage is the only part of hookline that imports Airflow, and only when one of its modules is
imported: ``import hookline`` and ``import hookline.airflow`` never do.
"""

from __future__ import annotations

__all__: list[str] = []
