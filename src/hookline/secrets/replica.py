"""A replica group: one logical secrets backend over several endpoints or regions of one store.

Each replica is a backend of its own (a :class:`~hookline.secrets.vault.VaultBackend` per URL, an
AWS backend per region) behind its own circuit breaker (:class:`hookline.failover.CircuitBreaker`).
A lookup asks the replicas in order of health, then measured latency, then configured order; a
replica that cannot answer (:class:`~hookline.exceptions.BackendUnavailable`) counts a failure and
the next replica is asked in the same lookup, so the lookup succeeds while any replica answers.
Once a replica's breaker opens, lookups stop asking it; a background thread probes it (with the
id of the lookup that failed) every ``probe_interval_s`` after ``reset_timeout_s``, and traffic
returns to it when a probe answers. "Absent" and "access denied" are answers, not outages: they
are never retried on another replica.

The chain records which replica answered in the lookup trace (``TraceStep.replica``), and
switches emit :class:`~hookline.events.FailoverSwitched`.

Configuration (``type = "replica"`` names the group's class; ``member_type`` the replicas')::

    [secrets]
    backends = ["env", "vault"]

    [secrets.backend.vault]
    type = "replica"
    member_type = "vault"
    urls = ["https://vault-us.example:8200", "https://vault-eu.example:8200"]
    token_path = "/run/secrets/vault-token"      # every other key goes to each replica
    failure_threshold = 3
    reset_timeout_s = 5

For AWS, ``regions = ["us-east-1", "us-west-2"]`` gives each replica its ``region_name`` (with
``urls``, the same number of ``endpoint_url`` values, paired in order). ``members = [{...}, ...]``
gives each replica its own keyword arguments instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar

from hookline.connection import Connection
from hookline.connection_secrets import register_sensitive_values
from hookline.exceptions import BackendUnavailable, ConfigurationError
from hookline.failover import BreakerSettings, FailoverGroup
from hookline.secrets.base import SecretsBackend

__all__ = ["URL_ARGUMENTS", "ReplicaGroup"]

R = TypeVar("R")

#: The keyword that takes a replica's URL, by member type (``url`` for any other type).
URL_ARGUMENTS: Final = {
    "vault": "url",
    "aws_secrets_manager": "endpoint_url",
    "aws_ssm": "endpoint_url",
}
_BREAKER_KEYS: Final = (
    "failure_threshold",
    "reset_timeout_s",
    "probe_interval_s",
    "latency_bucket_s",
)


class ReplicaGroup(SecretsBackend):
    """One logical backend over several replicas, each behind a circuit breaker (module docstring).

    Args:
        replicas: Ready backends, in configured order (Python use). Give either these or
            ``member_type`` with ``urls``/``regions``/``members`` (configuration).
        name: The group's name in traces (the chain's name for it; default ``"replica"``).
        member_type: The registered backend name of every replica (``"vault"``,
            ``"aws_secrets_manager"``...).
        urls: One replica per URL (passed as ``url``, or ``endpoint_url`` for AWS).
        regions: One replica per region (``region_name``); with ``urls``, paired in order.
        members: One replica per table of keyword arguments (merged over the shared ones).
        replica_names: Names of the replicas in traces, metrics and events (default: the group's
            name and the region, or ``<name>#<n>`` counted from 1).
        failure_threshold: Consecutive failures that open a replica's breaker.
        reset_timeout_s: How long an open breaker waits before the background probe.
        probe_interval_s: How often the background prober looks at open replicas.
        latency_bucket_s: Replicas whose latencies fall in one bucket keep configured order.
        **shared: Keyword arguments for every replica (credentials, paths, deadlines).

    Raises:
        ConfigurationError: no replicas, a mix of ``replicas`` and configuration, lists of
            different lengths, or a replica rejected its settings.
    """

    listable = True
    replicated = True

    def __init__(
        self,
        replicas: Sequence[SecretsBackend] | None = None,
        *,
        name: str | None = None,
        member_type: str | None = None,
        urls: Sequence[str] | None = None,
        regions: Sequence[str] | None = None,
        members: Sequence[Mapping[str, Any]] | None = None,
        replica_names: Sequence[str] | None = None,
        failure_threshold: int = 3,
        reset_timeout_s: float = 5.0,
        probe_interval_s: float = 0.5,
        latency_bucket_s: float = 0.05,
        **shared: Any,
    ) -> None:
        self._name = name or "replica"
        settings = BreakerSettings.from_mapping(
            {
                "failure_threshold": failure_threshold,
                "reset_timeout_s": reset_timeout_s,
                "probe_interval_s": probe_interval_s,
                "latency_bucket_s": latency_bucket_s,
            },
            where=f"replica group {self.name!r}",
        )
        if replicas is not None:
            if member_type or urls or regions or members or shared:
                raise ConfigurationError(
                    f"replica group {self.name!r}: give ready replicas or member_type with "
                    "urls/regions/members, not both"
                )
            built = list(replicas)
            labels = [str(r) for r in (regions or [])]
        else:
            built, labels = self._build(member_type, urls, regions, members, shared)
        if not built:
            raise ConfigurationError(f"replica group {self.name!r} needs at least one replica")
        self._labels = labels
        self._fixed_names = replica_names is not None
        names = list(replica_names) if replica_names is not None else self._names(len(built))
        if len(names) != len(built):
            raise ConfigurationError(
                f"replica group {self.name!r}: {len(names)} replica_names for {len(built)} replicas"
            )
        for backend, replica_name in zip(built, names, strict=True):
            backend.name = replica_name
        self.replicas: tuple[SecretsBackend, ...] = tuple(built)
        self._last_id = threading.local()
        self._answered = threading.local()
        self._probe_id: str | None = None
        self._group: FailoverGroup[SecretsBackend] = FailoverGroup(
            self.name,
            [(r.name, r) for r in built],
            settings=settings,
            probe=self._probe,
            is_outage=lambda exc: isinstance(exc, BackendUnavailable),
        )

    # -- building from configuration -------------------------------------------------------------

    def _build(
        self,
        member_type: str | None,
        urls: Sequence[str] | None,
        regions: Sequence[str] | None,
        members: Sequence[Mapping[str, Any]] | None,
        shared: dict[str, Any],
    ) -> tuple[list[SecretsBackend], list[str]]:
        where = f"replica group {self.name!r}"
        if not member_type:
            raise ConfigurationError(
                f"{where}: member_type (the replicas' backend name) is required"
            )
        if member_type == "replica":
            raise ConfigurationError(f"{where}: a replica group cannot hold replica groups")
        for label, value in (("urls", urls), ("regions", regions), ("members", members)):
            if value is not None and (
                isinstance(value, str | bytes) or not isinstance(value, Sequence)
            ):
                raise ConfigurationError(f"{where}: {label} must be a list, got {value!r}")
        url_arg = URL_ARGUMENTS.get(member_type, "url")
        count = max(len(urls or ()), len(regions or ()), len(members or ()))
        for label, value in (("urls", urls), ("regions", regions), ("members", members)):
            if value and len(value) != count:
                raise ConfigurationError(
                    f"{where}: urls, regions and members must have the same length when combined "
                    f"({label} has {len(value)}, expected {count})"
                )
        if not count:
            raise ConfigurationError(f"{where}: give urls, regions or members (one per replica)")
        from hookline.registry import backend_class_for

        cls = backend_class_for(member_type)
        built: list[SecretsBackend] = []
        try:
            for index in range(count):
                kwargs = dict(shared)
                if urls:
                    kwargs[url_arg] = urls[index]
                if regions:
                    kwargs["region_name"] = regions[index]
                if members:
                    entry = members[index]
                    if not isinstance(entry, Mapping):
                        raise ConfigurationError(
                            f"{where}: members[{index}] must be a table, got {type(entry).__name__}"
                        )
                    register_sensitive_values(entry)
                    kwargs.update(entry)
                try:
                    built.append(cls(**kwargs))
                except TypeError as exc:
                    raise ConfigurationError(
                        f"{where}: replica {index + 1} ({member_type}) rejected its settings "
                        f"(keys: {', '.join(sorted(kwargs))})"
                    ) from exc
        except BaseException:
            for backend in built:
                backend.close()
            raise
        return built, [str(r) for r in (regions or [])]

    def _names(self, count: int) -> list[str]:
        labels = self._labels
        if labels and len(set(labels)) == count:
            return [f"{self._name}@{label}" for label in labels]
        return [f"{self._name}#{index}" for index in range(1, count + 1)]

    @property
    def name(self) -> str:
        """The group's name in traces; renaming it renames generated replica names too."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value
        group = self.__dict__.get("_group")
        if group is None:
            return
        group.name = value
        if not self._fixed_names:
            for member, replica_name in zip(
                group.members, self._names(len(self.replicas)), strict=True
            ):
                member.name = member.breaker.name = member.target.name = replica_name

    # -- the contract ---------------------------------------------------------------------------

    @property
    def group(self) -> FailoverGroup[SecretsBackend]:
        """The failover group (members, breakers, latencies)."""
        return self._group

    def handles(self, conn_id: str) -> bool:
        return any(r.handles(conn_id) for r in self.replicas)

    def lookup_keys(self, conn_id: str) -> list[str]:
        return self.replicas[0].lookup_keys(conn_id)

    def get_conn_value(self, conn_id: str) -> str | None:
        """The stored text from the first replica that answers, or None when it holds nothing.

        Raises:
            BackendUnavailable: no replica could answer (each failed, or every breaker is open).
            BackendPermissionDenied: a replica refused access (not retried on another).
        """
        return self._ask(conn_id, lambda replica: replica.get_conn_value(conn_id))

    def get_connection(self, conn_id: str) -> Connection | None:
        return self._ask(conn_id, lambda replica: replica.get_connection(conn_id))

    def _ask(self, conn_id: str, fn: Callable[[SecretsBackend], R]) -> R:
        self._answered.name = ""

        def one(replica: SecretsBackend) -> R:
            self._probe_id = conn_id
            result = fn(replica)
            self._answered.name = replica.name
            return result

        return self._group.call(one, unavailable=self._unavailable)

    def _unavailable(self, message: str) -> BackendUnavailable:
        return BackendUnavailable(message, backend=self.name)

    def _probe(self, replica: SecretsBackend) -> None:
        # The id of the last lookup: an existing one costs the same read as a real lookup.
        replica.get_conn_value(self._probe_id or "hookline_probe")

    def answered_by(self) -> str:
        """The replica that answered this thread's last lookup ("" when none did)."""
        name: str = getattr(self._answered, "name", "")
        return name

    def list_connections(self) -> Iterator[Connection]:
        """The connections of the first replica that can list them."""
        yield from self._group.call(
            lambda replica: list(replica.list_connections()), unavailable=self._unavailable
        )

    def close(self) -> None:
        """Stop the prober and close every replica."""
        self._group.close()
        for replica in self.replicas:
            replica.close()

    def __repr__(self) -> str:
        return f"ReplicaGroup({self.name!r}, [{', '.join(r.name for r in self.replicas)}])"
