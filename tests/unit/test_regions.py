"""Connection-level groups by region: get_connection(region=...) and RegionalGroup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import hookline
from hookline import failover, regions
from hookline.exceptions import (
    AuthenticationFailed,
    BackendUnavailable,
    ConfigurationError,
    ConnectionNotFound,
    HookConnectionError,
    HookError,
)
from hookline.testing import override_connections

EAST = "postgres://app:pw-east-123@db-east:5432/app"
WEST = "postgres://app:pw-west-123@db-west:5432/app"


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    failover.reset_breakers()
    regions.configure_regions()
    yield
    failover.reset_breakers()
    regions.configure_regions()


def test_region_resolves_the_regional_id() -> None:
    """``get_connection(id, region=r)`` resolves ``{id}_{r}``."""
    with override_connections({"database_us-east-1": EAST, "database_us-west-2": WEST}):
        conn = hookline.get_connection("database", region="us-west-2")
    assert conn.host == "db-west"
    assert conn.conn_id == "database_us-west-2"


def test_missing_region_falls_back_in_order() -> None:
    """A region without a connection is skipped for the next fallback region."""
    with override_connections({"database_us-west-2": WEST}):
        conn = hookline.get_connection(
            "database", region="us-east-1", fallback_regions=["us-west-2"]
        )
    assert conn.host == "db-west"


def test_open_breaker_skips_the_region_while_another_is_usable() -> None:
    """A region whose breaker is open (fed by groups or the health checker) is skipped."""
    failover.breaker_for("database_us-east-1").force_open()
    with override_connections({"database_us-east-1": EAST, "database_us-west-2": WEST}):
        conn = hookline.get_connection(
            "database", region="us-east-1", fallback_regions=["us-west-2"]
        )
        assert conn.host == "db-west"
        failover.breaker_for("database_us-west-2").force_open()
        # Every region open: the preferred one is still returned (the hook then fails loudly).
        assert hookline.get_connection("database", region="us-east-1").host == "db-east"


def test_no_region_defines_it_is_connection_not_found_naming_each() -> None:
    """Nothing in any region is ConnectionNotFound listing what was tried."""
    with override_connections({}), pytest.raises(ConnectionNotFound) as info:
        hookline.get_connection("database", region="eu", fallback_regions=["us"])
    assert "database_eu: not defined" in str(info.value)
    assert "database_us: not defined" in str(info.value)


def test_configured_naming_and_regions(isolated_hookline: Path) -> None:
    """``[failover]`` sets the naming and the fallback order per conn_id."""
    isolated_hookline.mkdir(parents=True, exist_ok=True)
    (isolated_hookline / "hookline.toml").write_text(
        '[failover]\nnaming = "{region}-{conn_id}"\n[failover.regions]\ndatabase = ["eu", "us"]\n'
    )
    assert regions.regions_for("database", "us") == [("us", "us-database"), ("eu", "eu-database")]
    with override_connections({"eu-database": EAST}):
        assert hookline.get_connection("database", region="us").host == "db-east"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[failover]\nnaming = "{conn_id}"\n', "must be text holding {conn_id} and {region}"),
        ("[failover]\nwhatever = 1\n", "unknown setting 'whatever' in [failover]"),
        ("[failover]\nregions = 3\n", "expected a table"),
        ("[failover.regions]\ndatabase = [1]\n", "expected a list of region names"),
    ],
)
def test_bad_failover_section_is_a_clear_error(
    isolated_hookline: Path, text: str, fragment: str
) -> None:
    """A malformed ``[failover]`` section is a ConfigurationError naming the key."""
    isolated_hookline.mkdir(parents=True, exist_ok=True)
    (isolated_hookline / "hookline.toml").write_text(text)
    with pytest.raises(ConfigurationError) as info:
        regions.regions_for("database", "us")
    assert fragment in str(info.value)


def test_regional_group_fails_over_on_outages_only() -> None:
    """RegionalGroup moves to the next region on HookConnectionError or BackendUnavailable, never
    on AuthenticationFailed or a bad query; outages count on the region's shared breaker."""
    seen: list[str] = []
    down = {"db-east"}

    def query(conn: hookline.Connection) -> str:
        seen.append(conn.host or "")
        if conn.host in down:
            raise HookConnectionError(f"cannot connect to {conn.host}")
        return conn.host or ""

    with override_connections({"database_us-east-1": EAST, "database_us-west-2": WEST}):
        group = regions.RegionalGroup("database", "us-east-1", fallback_regions=["us-west-2"])
        assert group.run(query) == "db-west"
        assert failover.breaker_for("database_us-east-1").failures == 1
        for error in (AuthenticationFailed("rejected"), HookError("syntax error")):
            seen.clear()

            def answer(conn: hookline.Connection, error: Exception = error) -> str:
                seen.append(conn.host or "")
                raise error

            down.clear()
            with pytest.raises(type(error)):
                group.run(answer)
            assert seen == ["db-east"]
        down.update({"db-east", "db-west"})
        with pytest.raises(HookConnectionError, match="no member could answer"):
            group.run(query)


def test_regional_group_fails_over_when_a_region_secrets_store_is_down() -> None:
    """A region whose connection cannot be resolved (BackendUnavailable) is an outage too."""
    with override_connections({"database_us-west-2": WEST}) as backend:
        original = backend.get_connection

        def flaky(conn_id: str) -> hookline.Connection | None:
            if conn_id.endswith("us-east-1"):
                raise BackendUnavailable("vault-us unreachable")
            return original(conn_id)

        backend.get_connection = flaky  # type: ignore[method-assign]
        group = regions.RegionalGroup("database", "us-east-1", fallback_regions=["us-west-2"])
        assert group.run(lambda conn: conn.host) == "db-west"
        assert group.group.current == "database_us-west-2"
