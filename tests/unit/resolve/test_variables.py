"""Variables through the chain and the cache: lookup rules, trace, events, masking, defaults,
deserialize_json, writes and listing, and typed errors that never quote a value."""

from __future__ import annotations

import logging

import pytest

import hookline
from hookline import masking
from hookline.config import CacheSettings
from hookline.connection import Connection
from hookline.events import CacheHit, CacheMiss, ConnectionWritten, LookupDone
from hookline.exceptions import (
    BackendPermissionDenied,
    BackendUnavailable,
    ConfigurationError,
    DecryptionError,
    InvalidVariable,
    ListingIncomplete,
    VariableNotFound,
    VariableUnresolved,
)
from hookline.resolve import SecretsChain
from hookline.resolve.cache import CachedResolver
from hookline.resolve.variables import validate_variable_key
from hookline.secrets.env import EnvBackend
from hookline.testing import InMemoryBackend, capture_events, override_connections
from hookline.variables import set_variables

CANARY = "c4n4ry-V4riable!"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ReadOnly(InMemoryBackend):
    """Serves variables but cannot store them."""

    variable_writable = False


def cached(*backends: InMemoryBackend, **settings: float) -> tuple[CachedResolver, FakeClock]:
    clock = FakeClock()
    resolver = CachedResolver(
        SecretsChain(list(backends)),
        CacheSettings(**settings),  # type: ignore[arg-type]
        clock=clock,
        rng=lambda: 0.0,
    )
    return resolver, clock


# -- the chain ----------------------------------------------------------------------------------


def test_first_backend_holding_the_key_answers_and_the_trace_says_so() -> None:
    first = InMemoryBackend(name="first")
    second = InMemoryBackend(name="second", variables={"region": "eu-west-1"})
    chain = SecretsChain([first, second])
    result = chain.lookup_variable("region")
    assert (result.value, result.source) == ("eu-west-1", "second")
    assert [(s.backend, s.outcome, s.keys) for s in result.trace.steps] == [
        ("first", "absent", ["first:variable/region"]),
        ("second", "hit", ["second:variable/region"]),
    ]


def test_not_found_names_every_backend_asked() -> None:
    env = EnvBackend(environ={})
    chain = SecretsChain([env, InMemoryBackend()])
    with pytest.raises(VariableNotFound) as info:
        chain.get_variable("missing_key")
    error = info.value
    assert isinstance(error, KeyError)
    assert error.key == "missing_key"
    assert error.trace is not None
    message = str(error)
    assert "variable 'missing_key' is not defined" in message
    assert "HOOKLINE_VAR_MISSING_KEY" in message
    assert "AIRFLOW_VAR_MISSING_KEY" in message
    assert "memory:variable/missing_key" in message


def test_a_down_backend_makes_it_unresolved_even_with_a_default() -> None:
    down = InMemoryBackend(name="remote")
    down.fail_with = BackendUnavailable(f"timeout talking to vault {CANARY}", backend="remote")
    masking.register(CANARY)
    chain = SecretsChain([down, InMemoryBackend()])
    with pytest.raises(VariableUnresolved) as info:
        chain.get_variable("x")
    assert isinstance(info.value, BackendUnavailable)
    assert not isinstance(info.value, VariableNotFound)
    assert "remote could not answer" in str(info.value)
    assert CANARY not in str(info.value)
    from hookline.resolve.default import use_resolver

    with use_resolver(chain), pytest.raises(VariableUnresolved):
        hookline.get_variable("x", "fallback")


def test_a_down_backend_falls_through_to_the_next_holder() -> None:
    down = InMemoryBackend(name="remote")
    down.fail_with = BackendUnavailable("down", backend="remote")
    chain = SecretsChain([down, InMemoryBackend(variables={"x": "1"})])
    result = chain.lookup_variable("x")
    assert result.value == "1"
    assert [s.outcome for s in result.trace.steps] == ["unavailable", "hit"]


def test_a_deny_stops_the_chain() -> None:
    denied = InMemoryBackend(name="vault")
    denied.fail_with = BackendPermissionDenied("403 from vault")
    later = InMemoryBackend(variables={"x": "1"})
    chain = SecretsChain([denied, later])
    with pytest.raises(BackendPermissionDenied) as info:
        chain.get_variable("x")
    assert info.value.backend == "vault"
    assert info.value.trace is not None
    assert [s.outcome for s in info.value.trace.steps] == ["denied", "skipped"]
    assert later.calls == 0


def test_an_undecryptable_value_is_invalid_and_stops_the_chain() -> None:
    broken = InMemoryBackend(name="metastore")
    broken.fail_with = DecryptionError("cannot decrypt variable 'x'")
    later = InMemoryBackend(variables={"x": "1"})
    with pytest.raises(DecryptionError) as info:
        SecretsChain([broken, later]).get_variable("x")
    assert info.value.trace is not None
    assert [s.outcome for s in info.value.trace.steps] == ["invalid"]
    assert later.calls == 0


class PatternBackend(InMemoryBackend):
    def handles_variable(self, key: str) -> bool:
        return key.startswith("team_")


def test_a_backend_that_does_not_handle_the_key_is_skipped() -> None:
    skipper = PatternBackend(name="pattern", variables={"x": "no"})
    chain = SecretsChain([skipper, InMemoryBackend(variables={"x": "yes"})])
    result = chain.lookup_variable("x")
    assert result.value == "yes"
    assert result.trace.steps[0].outcome == "skipped"
    assert skipper.calls == 0


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "cannot be empty"),
        ("k" * 251, "the limit is 250"),
        ("a\x00b", "control or format character"),
        ("a\nb", "control or format character"),
        ("a/../b", "path segment"),
        ("a\\b", "backslash"),
    ],
)
def test_invalid_keys_are_refused_before_any_backend_is_asked(key: str, fragment: str) -> None:
    backend = InMemoryBackend()
    with pytest.raises(InvalidVariable) as info:
        SecretsChain([backend]).get_variable(key)
    assert fragment in str(info.value)
    assert backend.calls == 0


def test_a_key_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidVariable, match="must be a string"):
        validate_variable_key(42)


def test_ordinary_keys_are_valid() -> None:
    for key in ("region", "team/warehouse", "my.var", "Key With Spaces", "ünïcode", "a..b"):
        assert validate_variable_key(key) == key


# -- events -------------------------------------------------------------------------------------


def test_lookups_emit_lookup_done_of_kind_variable_with_a_fingerprint() -> None:
    chain = SecretsChain([InMemoryBackend(variables={"api_token": CANARY})])
    with capture_events() as events:
        chain.get_variable("api_token")
        with pytest.raises(VariableNotFound):
            chain.get_variable("absent")
    done = [e for e in events if isinstance(e, LookupDone)]
    assert [(e.kind, e.conn_id, e.outcome) for e in done] == [
        ("variable", "api_token", "hit"),
        ("variable", "absent", "absent"),
    ]
    assert done[0].fingerprint
    assert done[0].fingerprint != CANARY
    assert all(CANARY not in repr(e) for e in events)


def test_an_error_lookup_emits_outcome_error() -> None:
    denied = InMemoryBackend(name="vault")
    denied.fail_with = BackendPermissionDenied("no")
    with capture_events() as events, pytest.raises(BackendPermissionDenied):
        SecretsChain([denied]).get_variable("x")
    assert [(e.kind, e.outcome) for e in events if isinstance(e, LookupDone)] == [
        ("variable", "error")
    ]


def test_writes_emit_connection_written_of_kind_variable() -> None:
    backend = InMemoryBackend()
    chain = SecretsChain([backend])
    with capture_events() as events:
        chain.set_variable("a", "1")
        chain.set_variables([("b", "2"), ("c", "3")])
        chain.delete_variable("a")
    written = [e for e in events if isinstance(e, ConnectionWritten)]
    assert [(e.kind, e.conn_id, e.action) for e in written] == [
        ("variable", "a", "set"),
        ("variable", "b", "import"),
        ("variable", "c", "import"),
        ("variable", "a", "delete"),
    ]


def test_connection_events_keep_kind_connection() -> None:
    chain = SecretsChain([InMemoryBackend({"wh": "postgres://h"})])
    with capture_events() as events:
        chain.get_connection("wh")
    assert [e.kind for e in events if isinstance(e, LookupDone)] == ["connection"]


# -- the cache ----------------------------------------------------------------------------------


def test_cache_hit_then_ttl_expiry() -> None:
    backend = InMemoryBackend(variables={"x": "1"})
    resolver, clock = cached(backend, ttl_seconds=60.0)
    assert resolver.get_variable("x") == "1"
    backend.set_variable("x", "2")  # behind the cache's back
    clock.now += 59.0
    assert resolver.get_variable("x") == "1"
    assert backend.calls == 1
    clock.now += 2.0
    assert resolver.get_variable("x") == "2"
    assert backend.calls == 2


def test_fresh_bypasses_the_cache() -> None:
    backend = InMemoryBackend(variables={"x": "1"})
    resolver, _ = cached(backend)
    resolver.get_variable("x")
    backend.set_variable("x", "2")
    assert resolver.get_variable("x", fresh=True) == "2"
    assert resolver.get_variable("x") == "2"


def test_not_found_is_negative_cached_with_its_trace() -> None:
    backend = InMemoryBackend()
    resolver, clock = cached(backend, negative_ttl_seconds=30.0)
    for _ in range(3):
        with pytest.raises(VariableNotFound) as info:
            resolver.get_variable("x")
        assert "memory:variable/x" in str(info.value)
    assert backend.calls == 1
    backend.set_variable("x", "now here")
    clock.now += 31.0
    assert resolver.get_variable("x") == "now here"


def test_unresolved_is_never_cached() -> None:
    backend = InMemoryBackend(name="remote")
    backend.fail_with = BackendUnavailable("down", backend="remote")
    resolver, _ = cached(backend)
    for _ in range(2):
        with pytest.raises(VariableUnresolved):
            resolver.get_variable("x")
    assert backend.calls == 2


def test_writes_through_the_chain_invalidate_at_once() -> None:
    backend = InMemoryBackend(variables={"x": "1"})
    resolver, _ = cached(backend)
    resolver.get_variable("x")
    resolver.chain.set_variable("x", "2")
    assert resolver.get_variable("x") == "2"
    resolver.chain.delete_variable("x")
    with pytest.raises(VariableNotFound):
        resolver.get_variable("x")


def test_variables_and_connections_have_separate_key_spaces() -> None:
    backend = InMemoryBackend({"same": "postgres://conn-host"}, variables={"same": "var-value"})
    resolver, _ = cached(backend)
    assert resolver.get_connection("same").host == "conn-host"
    assert resolver.get_variable("same") == "var-value"
    assert resolver.get_connection("same").host == "conn-host"
    assert resolver.get_variable("same") == "var-value"
    assert backend.calls == 2
    # a connection write forgets the connection only
    resolver.chain.set_connection(Connection(conn_id="same", conn_type="http", host="h2"))
    assert resolver.get_variable("same") == "var-value"
    assert backend.calls == 2


def test_cache_events_carry_kind_variable() -> None:
    resolver, _ = cached(InMemoryBackend(variables={"x": "1"}))
    with capture_events() as events:
        resolver.get_variable("x")
        resolver.get_variable("x")
    kinds = [(type(e).__name__, e.kind) for e in events if isinstance(e, CacheHit | CacheMiss)]
    assert kinds == [("CacheMiss", "variable"), ("CacheHit", "variable")]


def test_a_moved_change_counter_drops_cached_variables() -> None:
    class Watched(InMemoryBackend):
        watchable = True

        def change_counter_if_open(self) -> int | None:
            return self.version

    backend = Watched(variables={"x": "1"})
    resolver, clock = cached(backend, change_check_interval_seconds=1.0)
    assert resolver.get_variable("x") == "1"
    backend.set_variable("x", "2")  # another process, as far as the cache knows
    clock.now += 2.0
    assert resolver.get_variable("x") == "2"


# -- the top-level functions --------------------------------------------------------------------


def test_get_variable_default_and_deserialize_json() -> None:
    with override_connections(variables={"limits": '{"rows": 10}', "plain": "text"}):
        assert hookline.get_variable("plain") == "text"
        assert hookline.get_variable("limits", deserialize_json=True) == {"rows": 10}
        assert hookline.get_variable("absent", None) is None
        default = {"a": 1}
        assert hookline.get_variable("absent", default, deserialize_json=True) is default
        with pytest.raises(VariableNotFound):
            hookline.get_variable("absent")


def test_deserialize_json_of_text_that_is_not_json_is_a_typed_error_without_the_value() -> None:
    with (
        override_connections(variables={"api_secret": CANARY + "{not json"}),
        pytest.raises(InvalidVariable) as info,
    ):
        hookline.get_variable("api_secret", deserialize_json=True)
    message = str(info.value)
    assert "variable 'api_secret' is not valid JSON" in message
    assert CANARY not in message
    assert info.value.key == "api_secret"


def test_set_variable_serialize_json_and_refusals() -> None:
    with override_connections() as backend:
        hookline.set_variable("cfg", {"a": [1, 2]}, serialize_json=True)
        assert hookline.get_variable("cfg", deserialize_json=True) == {"a": [1, 2]}
        with pytest.raises(InvalidVariable, match="must be text, not int"):
            hookline.set_variable("n", 5)
        with pytest.raises(InvalidVariable, match="already exists"):
            hookline.set_variable("cfg", "x", overwrite=False)
        assert hookline.delete_variable("cfg") is True
        assert hookline.delete_variable("cfg") is False
        set_variables([("a", "1"), ("b", "2")])
        assert dict(backend.list_variables()) == {"a": "1", "b": "2"}
        assert hookline.variables.list_variables() == [("memory", "a", "1"), ("memory", "b", "2")]


def test_writing_without_a_variable_store_is_a_configuration_error() -> None:
    chain = SecretsChain([EnvBackend(environ={}), ReadOnly()])
    with pytest.raises(ConfigurationError, match="stores variables"):
        chain.set_variable("x", "1")


def test_bulk_default_refuses_existing_keys_and_repeated_keys() -> None:
    backend = ReadOnly(variables={"a": "old"})
    backend.variable_writable = True
    with pytest.raises(InvalidVariable, match="already exist"):
        backend.set_variables([("a", "1"), ("b", "2")], overwrite=False)
    with pytest.raises(InvalidVariable, match="more than once"):
        backend.set_variables([("b", "1"), ("b", "2")])
    assert dict(backend.list_variables()) == {"a": "old"}


def test_bulk_default_undoes_what_it_wrote_when_a_write_fails() -> None:
    class FailsOnC(InMemoryBackend):
        def set_variable(self, key: str, value: str, *, overwrite: bool = True) -> None:
            if key == "c":
                raise BackendUnavailable("lost the store")
            super().set_variable(key, value, overwrite=overwrite)

    backend = FailsOnC(variables={"a": "old"})
    with pytest.raises(BackendUnavailable):
        backend.set_variables([("a", "new"), ("b", "2"), ("c", "3")])
    assert dict(backend.list_variables()) == {"a": "old"}


# -- masking ------------------------------------------------------------------------------------


def test_sensitive_keys_are_masked_and_others_are_not(caplog: pytest.LogCaptureFixture) -> None:
    with override_connections(variables={"db_password": CANARY, "region": "eu-west-1-zone"}):
        secret = hookline.get_variable("db_password")
        region = hookline.get_variable("region")
    masking.install()
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("values %s %s", secret, region)
    assert CANARY not in caplog.text
    assert "***" in caplog.text
    assert "eu-west-1-zone" in caplog.text


def test_json_members_under_sensitive_keys_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    member = "n3sted-" + CANARY
    with override_connections(variables={"settings": f'{{"api_key": "{member}", "n": 1}}'}):
        data = hookline.get_variable("settings", deserialize_json=True)
    masking.install()
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("key %s", data["api_key"])
    assert member not in caplog.text


def test_written_sensitive_values_are_masked() -> None:
    with override_connections():
        hookline.set_variable("slack_token", CANARY)
    assert masking.redact(f"x {CANARY} y") == "x *** y"


# -- listing ------------------------------------------------------------------------------------


def test_listing_reports_failing_backends_unless_partial_is_accepted() -> None:
    class Broken(InMemoryBackend):
        def list_variables(self):  # type: ignore[no-untyped-def]
            raise BackendUnavailable("down")

    good = InMemoryBackend(variables={"a": "1"})
    chain = SecretsChain([good, Broken(name="broken")])
    with pytest.raises(ListingIncomplete) as info:
        chain.list_variables()
    assert [f.backend for f in info.value.failures] == ["broken"]
    seen: list[str] = []
    rows = chain.list_variables(on_error=lambda name, exc: seen.append(name))
    assert rows == [("memory", "a", "1")]
    assert seen == ["broken"]


def test_concurrent_misses_of_one_key_cost_one_chain_lookup() -> None:
    import threading

    backend = InMemoryBackend(variables={"x": "1"})
    backend.delay_s = 0.2
    resolver, _ = cached(backend)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(resolver.get_variable("x")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == ["1"] * 8
    assert backend.calls == 1


def test_concurrent_misses_share_a_not_found_each_with_its_own_error() -> None:
    import threading

    backend = InMemoryBackend()
    backend.delay_s = 0.2
    resolver, _ = cached(backend)
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            resolver.get_variable("x")
        except VariableNotFound as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(errors) == 4
    assert len({id(e) for e in errors}) == 4
    assert all(e.key == "x" for e in errors)
    assert backend.calls == 1


def test_a_default_through_the_cache_is_negative_cached_but_never_hides_an_outage() -> None:
    from hookline.resolve.default import use_resolver

    backend = InMemoryBackend()
    resolver, _ = cached(backend)
    with use_resolver(resolver):
        assert hookline.get_variable("x", "d1") == "d1"
        assert hookline.get_variable("x", "d2") == "d2"
        assert backend.calls == 1
        backend.fail_with = BackendUnavailable("down", backend="memory")
        with pytest.raises(VariableUnresolved):
            hookline.get_variable("y", "default")
        assert resolver.find_variable("x") is None  # still the cached "not found"
