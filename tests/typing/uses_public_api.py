"""A program using hookline's public API as a user would; mypy --strict must accept it as written.

``tests/typing/test_public_types.py`` type-checks this file and fails if a public name is ``Any``.
"""

from __future__ import annotations

import hookline
from hookline import Connection, get_connection
from hookline.events import CacheHit, Event, subscribe
from hookline.hooks import HttpHook, SqlHook
from hookline.testing import capture_events, override_connections


def report() -> list[tuple[int, str]]:
    with override_connections({"warehouse": "sqlite://"}), SqlHook("warehouse") as db:
        rows = db.get_records("select 1, 'a'")
    return [(int(row[0]), str(row[1])) for row in rows]


def host_of(conn_id: str) -> str | None:
    conn: Connection = get_connection(conn_id)
    return conn.host


def threshold() -> int:
    raw: str = hookline.get_variable("threshold", "10")
    try:
        limits = hookline.get_variable("limits", deserialize_json=True)
    except hookline.VariableNotFound as exc:
        print(exc.key)
        limits = {}
    return int(raw) + len(limits)


def on_event(event: Event) -> None:
    if isinstance(event, CacheHit):
        print(event.conn_id)


def main() -> None:
    unsubscribe = subscribe(on_event)
    with capture_events() as seen:
        found = hookline.find_connection("nothing")
    unsubscribe()
    api = HttpHook("billing_api")
    print(found, len(seen), api.method, report(), threshold())
