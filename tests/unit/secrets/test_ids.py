"""Path-traversal conn_ids are refused by every backend that builds a key (issue 12.1), in memory.

The same forms run against real OpenBao, moto and the GCP fake in
tests/integration/test_remote_contract.py; here the rules, the chain's trace and the files backend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hookline.connection import validate_conn_id
from hookline.exceptions import ConnectionsFileError, InvalidConnection
from hookline.resolve import SecretsChain
from hookline.secrets.env import EnvBackend
from hookline.secrets.files import LocalFilesBackend, parse_connections_text
from hookline.secrets.ids import check_conn_id_path, conn_id_path_problem
from hookline.secrets.remote import ErrorKind, RemoteBackend, Verdict
from tests.adversarial.forms import SAFE_IDS, TRAVERSAL_FORMS

CANARY = "c4n4ry-S3cret!"


class DictBackend(RemoteBackend):
    """A remote backend over a dict that normalises paths as an HTTP stack would (``a/../b`` is
    ``b``), so an unchecked traversal form would read outside the prefix."""

    name = "dict"

    def __init__(self, store: dict[str, str], **kwargs: Any) -> None:
        kwargs.setdefault("connections_prefix", "secret/connections")
        super().__init__(**kwargs)
        self.store = store
        self.keys_read: list[str] = []

    def _create_client(self) -> Any:
        return object()

    def _read(self, client: Any, key: str) -> str | None:
        parts: list[str] = []
        for segment in key.split("/"):
            if segment == "..":
                if parts:
                    parts.pop()
            elif segment not in ("", "."):
                parts.append(segment)
        path = "/".join(parts)
        self.keys_read.append(path)
        return self._api(lambda: self.store.get(path))

    def _list(self, client: Any) -> dict[str, str]:
        return {}

    def _classify(self, exc: BaseException) -> Verdict:
        return Verdict(ErrorKind.FAIL, type(exc).__name__)


STORE = {
    "secret/connections/warehouse": "postgres://wh@db/wh",
    "secret/admin/rootdb": f"postgres://root:{CANARY}@db/root",
    "secret/admin": f"postgres://root:{CANARY}@db/admin",
    "admin/rootdb": f"postgres://root:{CANARY}@db/root",
}


@pytest.mark.parametrize("form", TRAVERSAL_FORMS)
def test_every_traversal_form_is_refused_with_a_typed_error(form: str) -> None:
    """Each form raises InvalidConnection naming the id, before the store is read."""
    backend = DictBackend(dict(STORE))
    with pytest.raises(InvalidConnection) as info:
        backend.get_conn_value(form)
    assert CANARY not in str(info.value)
    assert info.value.conn_id is not None
    assert backend.keys_read == []
    assert backend.stats()["api_calls"] == 0
    with pytest.raises(InvalidConnection):
        backend.lookup_keys(form)
    with pytest.raises(InvalidConnection):
        check_conn_id_path(form, backend="dict")


def test_the_reported_form_leaves_the_prefix_when_unchecked() -> None:
    """Without the check, the store's path normalisation reads outside the prefix (the bug)."""
    backend = DictBackend(dict(STORE))
    leaked = backend._read(None, "secret/connections/warehouse/../../admin/rootdb")
    assert leaked is not None
    assert CANARY in leaked


@pytest.mark.parametrize("form", TRAVERSAL_FORMS)
def test_the_chain_records_invalid_and_stops(form: str) -> None:
    """Through the chain the lookup fails as invalid; the next backend (holding the id) is not asked."""
    backend = DictBackend(dict(STORE))
    env = EnvBackend(environ={f"AIRFLOW_CONN_{form.upper()}": "sqlite://"})
    chain = SecretsChain([backend, env])
    with pytest.raises(InvalidConnection) as info:
        chain.lookup(form)
    trace = info.value.trace
    try:
        validate_conn_id(form)
    except InvalidConnection:
        assert trace is None  # refused before any backend: nothing to record
    else:
        assert trace is not None
        assert [step.outcome for step in trace.steps] == ["invalid"]
        assert "cannot be looked up in the dict backend" in str(info.value)
    assert backend.keys_read == []


@pytest.mark.parametrize("conn_id", SAFE_IDS)
def test_ids_with_dots_and_slashes_that_name_one_key_stay_valid(conn_id: str) -> None:
    """``my.db``, ``a..b``, ``team/warehouse``... are ordinary keys."""
    assert conn_id_path_problem(conn_id) is None
    backend = DictBackend({f"secret/connections/{conn_id}": "sqlite://"})
    assert backend.get_conn_value(conn_id) == "sqlite://"


def test_an_unsafe_id_is_refused_whatever_the_lookup_pattern() -> None:
    """The check comes first: an id outside the pattern but unsafe is invalid, not skipped."""
    backend = DictBackend(dict(STORE), connections_lookup_pattern="warehouse.*")
    with pytest.raises(InvalidConnection):
        backend.handles("warehouse/../../admin/rootdb")
    off = DictBackend(dict(STORE), connections_prefix=None)
    assert not off.handles("warehouse/../../admin/rootdb")  # lookups off: no key is built


def test_lookup_pattern_must_match_the_whole_id() -> None:
    """connections_lookup_pattern is a full match: 'warehouse' is not a prefix of anything."""
    backend = DictBackend(dict(STORE), connections_lookup_pattern="warehouse")
    assert backend.handles("warehouse")
    assert backend.handles("WAREHOUSE")
    assert not backend.handles("warehouse_2")
    assert not backend.handles("my_warehouse")
    prefix = DictBackend(dict(STORE), connections_lookup_pattern="^warehouse")
    assert not prefix.handles("warehouse_2")  # Airflow's re.match would have asked
    wide = DictBackend(dict(STORE), connections_lookup_pattern="warehouse.*")
    assert wide.handles("warehouse_2")


def test_prefetch_leaves_out_stored_ids_that_cannot_be_looked_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A listed id no lookup would accept is left out of prefetch() with a warning."""

    class Listing(DictBackend):
        def _list(self, client: Any) -> dict[str, str]:
            return {"ok": "sqlite://", "a//b": "sqlite://", "x/..": "sqlite://"}

    backend = Listing({})
    assert backend.prefetch() == {"ok": "sqlite://"}
    assert "leaving out stored connection 'a//b'" in caplog.text


# -- the files backend ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", TRAVERSAL_FORMS)
def test_files_backend_refuses_traversal_lookups(form: str, tmp_path: Path) -> None:
    """The files backend applies the same rule to lookups."""
    path = tmp_path / "conns.json"
    path.write_text(json.dumps({"warehouse": "sqlite://"}))
    backend = LocalFilesBackend(path)
    with pytest.raises(InvalidConnection):
        backend.get_connection(form)
    with pytest.raises(InvalidConnection):
        backend.get_conn_value(form)


@pytest.mark.parametrize("fmt", ["json", "yaml", "env"])
def test_a_file_defining_a_traversal_id_is_an_error_with_its_line(fmt: str) -> None:
    """An id with a '..' segment in the file is reported at its line; the file does not load."""
    text = {
        "json": '{\n  "ok": "sqlite://",\n  "a/../b": "sqlite://"\n}',
        "yaml": "ok: sqlite://\na/../b: sqlite://\n",
        "env": "ok=sqlite://\na/../b=sqlite://\n",
    }[fmt]
    with pytest.raises(ConnectionsFileError) as info:
        parse_connections_text(text, fmt)  # type: ignore[arg-type]
    line = 3 if fmt == "json" else 2
    assert info.value.errors == [
        (line, "connection 'a/../b': the id has a '..' path segment; it cannot be looked up")
    ]
