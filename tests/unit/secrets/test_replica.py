"""ReplicaGroup over in-memory replicas: failover inside a lookup, traces, breakers, configuration."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline import Connection, masking
from hookline.config import load_settings
from hookline.events import FailoverSwitched, LookupDone
from hookline.exceptions import BackendPermissionDenied, BackendUnavailable, ConfigurationError
from hookline.registry import _extra_backends, register_backend
from hookline.resolve import SecretsChain
from hookline.resolve.build import build_chain
from hookline.secrets.replica import ReplicaGroup
from hookline.testing import InMemoryBackend, capture_events

URI = "postgres://app:s3cret-pw@db.example:5432/app"


def _replicas() -> tuple[InMemoryBackend, InMemoryBackend]:
    return InMemoryBackend({"db": URI}), InMemoryBackend({"db": URI})


def test_lookup_fails_over_to_the_secondary_and_the_trace_names_it() -> None:
    """A primary that cannot answer moves the same lookup to the secondary; the chain's trace and
    LookupDone event say which replica answered."""
    primary, secondary = _replicas()
    group = ReplicaGroup([primary, secondary], name="vault", replica_names=["vault_us", "vault_eu"])
    chain = SecretsChain([group])
    result = chain.lookup("db")
    assert result.trace.steps[0].replica == "vault_us"
    primary.fail_with = BackendUnavailable("connection refused", backend="vault_us")
    with capture_events() as events:
        result = chain.lookup("db")
    assert result.connection is not None
    assert result.connection.password == "s3cret-pw"
    step = result.trace.steps[0]
    assert (step.backend, step.outcome, step.replica) == ("vault", "hit", "vault_eu")
    assert "vault via vault_eu" in str(result.trace)
    assert result.trace.to_dict()["steps"][0]["replica"] == "vault_eu"
    done = [e for e in events if isinstance(e, LookupDone)]
    assert done[0].replica == "vault_eu"
    switched = [e for e in events if isinstance(e, FailoverSwitched)]
    assert [(e.from_member, e.to_member) for e in switched] == [("vault_us", "vault_eu")]
    group.close()


def test_absent_and_denied_are_answers_not_outages() -> None:
    """None from a replica is final (the replicas hold the same data); a deny stops too."""
    primary, secondary = InMemoryBackend({}), InMemoryBackend({"db": URI})
    group = ReplicaGroup([primary, secondary])
    assert group.get_connection("db") is None
    assert secondary.calls == 0
    primary.fail_with = BackendPermissionDenied("403", backend="r1")
    with pytest.raises(BackendPermissionDenied):
        group.get_conn_value("db")
    assert secondary.calls == 0
    assert group.group.members[0].breaker.failures == 0


def test_open_breaker_keeps_lookups_off_the_dead_replica_until_a_probe_answers() -> None:
    """After failure_threshold outages the primary is not asked by lookups; the background probe
    asks it with the failing id and traffic returns once it answers."""
    primary, secondary = _replicas()
    group = ReplicaGroup(
        [primary, secondary], failure_threshold=2, reset_timeout_s=0.05, probe_interval_s=0.02
    )
    try:
        primary.fail_with = BackendUnavailable("down")
        for _ in range(10):
            assert group.get_conn_value("db") is not None
        assert group.group.members[0].breaker.state in ("open", "half_open")
        calls_at_open = primary.lookups["db"]
        assert calls_at_open >= 2
        primary.fail_with = None
        deadline = time.monotonic() + 5
        while group.group.members[0].breaker.state != "closed" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert group.group.members[0].breaker.state == "closed"
        before = secondary.calls
        assert group.get_conn_value("db") is not None
        assert group.answered_by() == "replica#1"
        assert secondary.calls == before
    finally:
        group.close()


def test_every_replica_down_is_backend_unavailable_and_the_chain_falls_through() -> None:
    """No replica answering is an outage of the group: the chain records it and asks the next
    backend."""
    primary, secondary = _replicas()
    primary.fail_with = secondary.fail_with = BackendUnavailable("down")
    group = ReplicaGroup([primary, secondary], name="vault")
    fallback = InMemoryBackend({"db": URI}, name="metastore")
    result = SecretsChain([group, fallback]).lookup("db")
    assert [s.outcome for s in result.trace.steps] == ["unavailable", "hit"]
    assert "no member could answer" in result.trace.steps[0].detail
    with pytest.raises(BackendUnavailable) as info:
        group.get_conn_value("db")
    assert info.value.backend == "vault"
    group.close()


def test_renaming_the_group_renames_generated_replica_names() -> None:
    """build_chain names a group after its table after construction; generated names follow."""
    group = ReplicaGroup(list(_replicas()))
    group.name = "vault"
    assert [r.name for r in group.replicas] == ["vault#1", "vault#2"]
    assert [m.breaker.name for m in group.group.members] == ["vault#1", "vault#2"]
    group.close()


class FakeRegional(InMemoryBackend):
    """A replica built from configuration keyword arguments, like an AWS backend."""

    def __init__(
        self,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        url: str | None = None,
        token: str | None = None,
        holds: str = "",
    ) -> None:
        super().__init__({"db": URI} if holds else {})
        self.region_name = region_name
        self.url = url or endpoint_url
        self.token = token


@pytest.fixture
def fake_type() -> Iterator[str]:
    register_backend("fake_regional", FakeRegional)
    yield "fake_regional"
    _extra_backends.pop("fake_regional", None)


def _write_config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "hookline.toml").write_text(text)


def test_configured_group_builds_one_replica_per_region(
    isolated_hookline: Path, fake_type: str
) -> None:
    """``type = "replica"`` with ``regions`` and ``urls`` pairs them in order; shared keys go to
    every replica; the chain shows the table's name and replicas are named by region."""
    _write_config(
        isolated_hookline,
        f"""
[secrets]
backends = ["secrets_global"]
[secrets.backend.secrets_global]
type = "replica"
member_type = "{fake_type}"
regions = ["us-east-1", "us-west-2"]
urls = ["http://127.0.0.1:1", "http://127.0.0.1:2"]
token = "canary-token-7f3a9"
holds = "yes"
failure_threshold = "2"
""",
    )
    chain = build_chain(load_settings())
    group = chain.backends[0]
    assert isinstance(group, ReplicaGroup)
    assert group.name == "secrets_global"
    replicas = group.replicas
    assert [r.name for r in replicas] == ["secrets_global@us-east-1", "secrets_global@us-west-2"]
    assert [(r.region_name, r.url) for r in replicas] == [  # type: ignore[attr-defined]
        ("us-east-1", "http://127.0.0.1:1"),
        ("us-west-2", "http://127.0.0.1:2"),
    ]
    assert group.group.settings.failure_threshold == 2
    assert chain.lookup("db").trace.steps[0].replica == "secrets_global@us-east-1"
    assert masking.redact("canary-token-7f3a9") == masking.REDACTED
    chain.close()


def test_named_instances_of_one_type(isolated_hookline: Path, fake_type: str) -> None:
    """``type`` names an instance of a backend type: two of one type, each named after its table."""
    _write_config(
        isolated_hookline,
        f"""
[secrets]
backends = ["vault_us", "vault_eu"]
[secrets.backend.vault_us]
type = "{fake_type}"
region_name = "us"
[secrets.backend.vault_eu]
type = "{fake_type}"
region_name = "eu"
holds = "yes"
""",
    )
    chain = build_chain(load_settings())
    assert [b.name for b in chain.backends] == ["vault_us", "vault_eu"]
    result = chain.lookup("db")
    assert [(s.backend, s.outcome) for s in result.trace.steps] == [
        ("vault_us", "absent"),
        ("vault_eu", "hit"),
    ]
    chain.close()


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ('type = "replica"\nurls = ["a"]', "member_type (the replicas' backend name) is required"),
        ('type = "replica"\nmember_type = "{t}"', "give urls, regions or members"),
        (
            'type = "replica"\nmember_type = "{t}"\nurls = ["a", "b"]\nregions = ["x"]',
            "must have the same length",
        ),
        ('type = "replica"\nmember_type = "replica"\nurls = ["a"]', "cannot hold replica groups"),
        (
            'type = "replica"\nmember_type = "{t}"\nurls = ["a"]\ncolour = "x"\ntoken = "canary-token-7f3a9"',
            "rejected its settings",
        ),
        (
            'type = "replica"\nmember_type = "{t}"\nurls = ["a"]\nfailure_threshold = 0',
            "failure_threshold",
        ),
        ("type = 5", "expected the name of a registered secrets backend"),
    ],
)
def test_bad_group_configuration_is_a_clear_error(
    isolated_hookline: Path, fake_type: str, table: str, fragment: str
) -> None:
    """Every bad replica-group table is a ConfigurationError naming the problem, never a secret."""
    _write_config(
        isolated_hookline,
        '[secrets]\nbackends = ["grp"]\n[secrets.backend.grp]\n' + table.replace("{t}", fake_type),
    )
    with pytest.raises(ConfigurationError) as info:
        build_chain(load_settings())
    assert fragment in str(info.value)
    assert "canary-token-7f3a9" not in str(info.value)


def test_group_of_ready_replicas_refuses_configuration_keys_too() -> None:
    """Ready replicas and member_type/urls are two ways to build a group, not one."""
    with pytest.raises(ConfigurationError, match="not both"):
        ReplicaGroup([InMemoryBackend()], member_type="vault")
    with pytest.raises(ConfigurationError, match="2 replica_names for 1 replicas"):
        ReplicaGroup([InMemoryBackend()], replica_names=["a", "b"])


def test_members_tables_give_each_replica_its_own_arguments(fake_type: str) -> None:
    """``members`` gives per-replica keyword arguments over the shared ones; their secrets are
    registered for masking."""
    group = ReplicaGroup(
        member_type=fake_type,
        members=[{"url": "http://a", "token": "member-secret-1"}, {"url": "http://b"}],
        holds="yes",
    )
    assert [r.url for r in group.replicas] == ["http://a", "http://b"]  # type: ignore[attr-defined]
    assert masking.redact("member-secret-1") == masking.REDACTED
    assert group.list_connections is not None
    assert [c.conn_id for c in group.list_connections()] == ["db"]
    group.close()


def test_lookup_keys_and_handles_delegate_to_the_replicas() -> None:
    """The trace shows the keys of the replicas (the same in each)."""
    group = ReplicaGroup([InMemoryBackend(name="a"), InMemoryBackend(name="b")])
    assert group.lookup_keys("db") == ["replica#1:db"]
    assert group.handles("db")
    assert isinstance(Connection.from_uri(URI), Connection)
    group.close()
