"""Connection-level failover groups, by region: ``database`` in ``us-east-1``, else ``us-west-2``.

:func:`get_regional_connection` (also ``hookline.get_connection(conn_id, region=...)``) resolves
``{conn_id}_{region}`` for the region asked, then each fallback region, skipping regions whose
breaker (:func:`hookline.failover.breaker_for` of the regional conn_id) is open while another region
is usable. Each regional id is cached on its own by the resolver. The regions and the naming come
from arguments or the ``[failover]`` section of the configuration::

    [failover]
    naming = "{conn_id}_{region}"                  # the default
    [failover.regions]
    database = ["us-east-1", "us-west-2"]          # fallback order for conn_id "database"

:class:`RegionalGroup` runs a hook call against the first healthy region and fails over on
:class:`~hookline.exceptions.HookConnectionError` / :class:`~hookline.exceptions.BackendUnavailable`,
never on :class:`~hookline.exceptions.AuthenticationFailed` or a bad query. The breakers are the
process-wide ones, so the health checker (:mod:`hookline.health`) feeds them too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from hookline.exceptions import BackendUnavailable, ConfigurationError, ConnectionNotFound
from hookline.failover import BreakerSettings, FailoverGroup, error_summary, find_breaker

if TYPE_CHECKING:
    from hookline.connection import Connection

__all__ = [
    "DEFAULT_NAMING",
    "RegionalGroup",
    "configure_regions",
    "get_regional_connection",
    "regions_for",
]

R = TypeVar("R")

DEFAULT_NAMING: Final = "{conn_id}_{region}"


@dataclasses.dataclass(frozen=True, slots=True)
class _RegionSettings:
    naming: str = DEFAULT_NAMING
    regions: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


_region_settings: _RegionSettings | None = None


def _settings() -> _RegionSettings:
    global _region_settings
    settings = _region_settings
    if settings is None:
        from hookline.config import load_settings

        settings = _region_settings = _parse_section(load_settings().sections.get("failover", {}))
    return settings


def _parse_section(section: Mapping[str, Any]) -> _RegionSettings:
    unknown = sorted(set(section) - {"naming", "regions"})
    if unknown:
        raise ConfigurationError(
            f"[failover]: unknown setting(s) {', '.join(unknown)}; known: naming, regions"
        )
    naming = section.get("naming", DEFAULT_NAMING)
    _check_naming(naming)
    regions = section.get("regions", {})
    if not isinstance(regions, Mapping):
        raise ConfigurationError("[failover.regions]: expected a table of conn_id = [regions]")
    parsed: dict[str, tuple[str, ...]] = {}
    for conn_id, value in regions.items():
        names = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) and n for n in names):
            raise ConfigurationError(
                f"[failover.regions] {conn_id}: expected a list of region names, got {names!r}"
            )
        parsed[str(conn_id)] = tuple(names)
    return _RegionSettings(naming=naming, regions=parsed)


def _check_naming(naming: object) -> None:
    if not isinstance(naming, str) or "{conn_id}" not in naming or "{region}" not in naming:
        raise ConfigurationError(
            f"[failover] naming must be text holding {{conn_id}} and {{region}}, got {naming!r}"
        )


def configure_regions(
    regions: Mapping[str, Sequence[str]] | None = None, *, naming: str | None = None
) -> None:
    """Set the regional naming and fallback orders for this process (instead of ``[failover]``).

    ``configure_regions()`` with no arguments drops them, so the configuration is read again.
    """
    global _region_settings
    if regions is None and naming is None:
        _region_settings = None
        return
    if naming is not None:
        _check_naming(naming)
    _region_settings = _RegionSettings(
        naming=naming or DEFAULT_NAMING,
        regions={k: tuple(v) for k, v in (regions or {}).items()},
    )


def regions_for(
    conn_id: str, region: str, fallback_regions: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """``(region, member conn_id)`` in the order they are asked: ``region`` first, then the
    fallbacks (argument, else ``[failover.regions]``), each once."""
    settings = _settings()
    if fallback_regions is None:
        fallback_regions = settings.regions.get(conn_id, ())
    order = list(dict.fromkeys([region, *fallback_regions]))
    return [(name, settings.naming.format(conn_id=conn_id, region=name)) for name in order]


def get_regional_connection(
    conn_id: str,
    region: str,
    *,
    fallback_regions: Sequence[str] | None = None,
    fresh: bool = False,
) -> Connection:
    """The connection of ``conn_id`` in ``region``, or in the first fallback region that has one.

    Regions whose breaker (:func:`breaker_for` of the member conn_id, fed by :class:`RegionalGroup`
    and the health checker) is open are skipped while another region is usable. A region whose
    connection is not defined or whose secrets backends are down is skipped too.

    Raises:
        ConnectionNotFound: no region defines the connection.
        BackendUnavailable: none resolved, and some region's backends could not answer.
    """
    from hookline.resolve.default import get_connection

    members = regions_for(conn_id, region, fallback_regions)
    usable = [m for m in members if _region_usable(m[1])] or members
    problems: list[str] = []
    outage = False
    for _, member_id in usable:
        try:
            return get_connection(member_id, fresh=fresh)
        except ConnectionNotFound:
            problems.append(f"{member_id}: not defined")
        except BackendUnavailable as exc:
            outage = True
            problems.append(f"{member_id}: {error_summary(exc)}")
    message = (
        f"connection {conn_id!r} in region {region!r} could not be resolved in any region: "
        + "; ".join(problems)
    )
    if outage:
        raise BackendUnavailable(message)
    raise ConnectionNotFound(conn_id, message=message)


def _region_usable(member_id: str) -> bool:
    breaker = find_breaker(member_id)
    return breaker is None or breaker.state == "closed" or breaker.probe_due()


class RegionalGroup:
    """Run hook calls against ``conn_id`` in one region, failing over to the fallback regions.

    Each region's member conn_id (``database_us-east-1``) has a process-wide breaker
    (:func:`breaker_for`), shared with :func:`get_regional_connection` and the health checker.

    Args:
        conn_id: The logical connection id.
        region: The preferred region.
        fallback_regions: Regions to fail over to, in order (default: ``[failover.regions]``).
        settings: Breaker thresholds for breakers created here.

    Example:
        >>> group = RegionalGroup("database", "us-east-1", fallback_regions=["us-west-2"])  # doctest: +SKIP
        >>> group.run(lambda conn: SqlHook(conn).get_first("select 1"))  # doctest: +SKIP
    """

    def __init__(
        self,
        conn_id: str,
        region: str,
        *,
        fallback_regions: Sequence[str] | None = None,
        settings: BreakerSettings | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.region = region
        members = regions_for(conn_id, region, fallback_regions)
        self._group: FailoverGroup[str] = FailoverGroup(
            conn_id, [(member_id, member_id) for _, member_id in members],
            settings=settings, shared_breakers=True,
        )  # fmt: skip

    @property
    def group(self) -> FailoverGroup[str]:
        """The underlying group (members are the regional conn_ids)."""
        return self._group

    def run(self, fn: Callable[[Connection], R], *, repeatable: bool = True) -> R:
        """Call ``fn(connection)`` with the first healthy region's connection.

        A :class:`HookConnectionError` or :class:`BackendUnavailable` (the system or its secrets
        could not be reached) counts against that region's breaker and, when ``repeatable``, moves
        on to the next region; any other error (rejected credentials, a bad query) is raised.

        Raises:
            HookConnectionError: no region could answer.
        """
        from hookline.resolve.default import get_connection

        def in_region(member_id: str) -> R:
            return fn(get_connection(member_id))

        return self._group.call(in_region, repeatable=repeatable)
