"""``hookline config check``: validate the whole configuration and reach every configured backend.

Steps, each reported as one ``ok``/``FAIL`` line (masked), exit code 1 when any fails:

1. the settings: the file and the ``HOOKLINE_*`` variables parse, every section, key and value is
   known and valid (a misspelling names the closest valid name);
2. each backend of ``[secrets] backends``: its type is registered, its SDK is installed, it accepts
   its keyword table;
3. each backend answers a cheap probe: a lookup of an id that does not exist (a remote store is
   reached and authenticates; a denied or unreachable store fails). The environment and connections
   files are read whole, so every malformed entry is reported. A SQLite metastore that does not
   exist yet is reported, not created: a check changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import ConnectionsFileError, HooklineError, InvalidConnection

if TYPE_CHECKING:
    from hookline.config import Settings
    from hookline.secrets.base import SecretsBackend

__all__ = ["PROBE_ID", "Check", "run_checks"]

# An id no store holds: asking for it proves the store answers, and reads nothing of value.
PROBE_ID = "hookline-config-check-probe"


@dataclass(frozen=True, slots=True)
class Check:
    """One checked item: what, whether it passed, and a line of detail (never a secret)."""

    item: str
    ok: bool
    detail: str

    def line(self) -> str:
        return str(masking.redact(f"{'ok  ' if self.ok else 'FAIL'}  {self.item}: {self.detail}"))


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, HooklineError) else f"{type(exc).__name__}: {exc}"


def _check_env(backend: SecretsBackend) -> list[Check]:
    from hookline.secrets.env import EnvBackend

    assert isinstance(backend, EnvBackend)
    count, problems = 0, []
    for name, value in sorted(backend.environ.items()):
        prefix = next((p for p in backend.prefixes if name.startswith(p) and name != p), None)
        if prefix is None:
            continue
        count += 1
        try:
            Connection.from_text(value, conn_id=name[len(prefix) :].lower())
        except InvalidConnection as exc:  # the message never quotes the value
            problems.append(Check(f"{backend.name} {name}", False, str(exc)))
    summary = Check(
        f"secrets backend {backend.name}",
        not problems,
        f"{count} connection variable(s), {len(problems)} malformed",
    )
    return [summary, *problems]


def _check_files(backend: SecretsBackend) -> list[Check]:
    try:
        count = sum(1 for _ in backend.list_connections())
    except ConnectionsFileError as exc:
        lines = [
            Check(f"{backend.name} {exc.path}" + (f", line {line}" if line else ""), False, message)
            for line, message in exc.errors
        ] or [Check(f"secrets backend {backend.name}", False, str(exc))]
        return [Check(f"secrets backend {backend.name}", False, "the file is invalid"), *lines]
    return [Check(f"secrets backend {backend.name}", True, f"{count} connection(s), all valid")]


def _check_metastore(backend: SecretsBackend) -> list[Check] | None:
    """A SQLite file that does not exist yet: say so (probing would create it). Else None."""
    from hookline.secrets.metastore import MetastoreBackend

    if isinstance(backend, MetastoreBackend) and backend.is_sqlite:
        database = Path(backend.url.database or "")
        if not database.exists():
            return [
                Check(
                    f"secrets backend {backend.name}",
                    True,
                    f"SQLite database {database} does not exist yet (created on the first write)",
                )
            ]
    return None


def _probe(backend: SecretsBackend) -> list[Check]:
    from hookline.resolve.build import is_metastore_type
    from hookline.secrets.env import EnvBackend
    from hookline.secrets.files import LocalFilesBackend

    if isinstance(backend, EnvBackend):
        return _check_env(backend)
    if isinstance(backend, LocalFilesBackend):
        return _check_files(backend)
    try:
        if is_metastore_type(type(backend)):
            from hookline.secrets.metastore import MetastoreBackend

            if isinstance(backend, MetastoreBackend):
                backend.check_engine_settings()
            early = _check_metastore(backend)
            if early is not None:
                return early
        backend.get_conn_value(PROBE_ID)
    except Exception as exc:
        return [Check(f"secrets backend {backend.name}", False, _error_text(exc))]
    return [Check(f"secrets backend {backend.name}", True, f"reached ({type(backend).__name__})")]


def run_checks(environ: dict[str, str] | None = None) -> list[Check]:
    """Run every check; the configuration is read from ``environ`` (default ``os.environ``)."""
    from hookline.config import load_settings
    from hookline.resolve.build import build_backend, check_settings_used

    try:
        settings: Settings = load_settings(environ)
    except HooklineError as exc:
        lines = str(exc).splitlines()
        details = [line.strip().removeprefix("- ") for line in lines[1:]] or lines
        return [Check("settings", False, detail) for detail in details]
    where = str(settings.config_path) if settings.config_path else "no file, defaults"
    checks = [Check("settings", True, f"{where}; chain {', '.join(settings.backends)}")]
    built: list[SecretsBackend] = []
    try:
        for name in settings.backends:
            try:
                backend = build_backend(settings, name)
            except Exception as exc:
                checks.append(Check(f"secrets backend {name}", False, _error_text(exc)))
                continue
            built.append(backend)
            checks.extend(_probe(backend))
        if len(built) == len(settings.backends):
            try:
                check_settings_used(settings, built)
            except HooklineError as exc:
                checks.append(Check("settings", False, str(exc)))
    finally:
        for backend in built:
            backend.close()
    return checks
