"""Building the chain from settings: exactly what was written, metastore settings by declared type."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookline.config import Settings, load_settings
from hookline.exceptions import ConfigurationError
from hookline.resolve import build_chain
from hookline.secrets.env import EnvBackend
from hookline.secrets.files import LocalFilesBackend
from hookline.secrets.metastore import MetastoreBackend

CANARY = "c4n4ry-S3cret!"


def settings_from(tmp_path: Path, text: str, **env: str) -> Settings:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "hookline.toml").write_text(text, encoding="utf-8")
    return load_settings({"HOOKLINE_HOME": str(home), **env})


def test_chain_is_exactly_what_was_written(tmp_path: Path) -> None:
    """The order and the members are those of [secrets] backends; a files table that is listed
    is used, and nothing else joins."""
    conns = tmp_path / "c.json"
    conns.write_text("{}")
    settings = settings_from(
        tmp_path,
        f'[secrets]\nbackends = ["files", "env"]\n'
        f'[secrets.backend.files]\nconnections_file_path = "{conns}"\n',
    )
    chain = build_chain(settings)
    assert [type(b) for b in chain.backends] == [LocalFilesBackend, EnvBackend]
    assert [b.name for b in chain.backends] == ["files", "env"]


def test_metastore_settings_go_to_every_backend_of_the_metastore_type(tmp_path: Path) -> None:
    """[metastore] url and HOOKLINE_HOME reach a metastore declared under another name (by its
    type), and a table's own url wins over [metastore] url."""
    local = tmp_path / "local.db"
    settings = settings_from(
        tmp_path,
        '[secrets]\nbackends = ["env", "shared", "local"]\n'
        '[secrets.backend.shared]\ntype = "metastore"\n'
        f'[secrets.backend.local]\ntype = "metastore"\nurl = "sqlite:///{local}"\n'
        f'[metastore]\nurl = "sqlite:///{tmp_path / "shared.db"}"\n',
    )
    chain = build_chain(settings)
    _env, shared, own = chain.backends
    assert isinstance(shared, MetastoreBackend)
    assert isinstance(own, MetastoreBackend)
    assert [b.name for b in chain.backends] == ["env", "shared", "local"]
    assert shared.url.database == str(tmp_path / "shared.db")
    assert own.url.database == str(local)
    assert shared.home == tmp_path / "home"
    chain.close()


def test_metastore_subclass_registered_under_another_name_gets_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A third-party subclass of the metastore registered as `pgstore` is a metastore by type."""
    from hookline import registry

    class PgStore(MetastoreBackend):
        pass

    monkeypatch.setitem(registry._extra_backends, "pgstore", PgStore)
    settings = settings_from(
        tmp_path,
        f'[secrets]\nbackends = ["pgstore"]\n[metastore]\nurl = "sqlite:///{tmp_path / "p.db"}"\n',
    )
    (backend,) = build_chain(settings).backends
    assert isinstance(backend, PgStore)
    assert backend.url.database == str(tmp_path / "p.db")
    assert backend.name == "pgstore"


def test_metastore_url_without_a_metastore_in_the_chain_is_an_error(tmp_path: Path) -> None:
    """A [metastore] url that no backend would read is refused, naming where it was set."""
    settings = settings_from(
        tmp_path, '[secrets]\nbackends = ["env"]\n[metastore]\nurl = "sqlite:////tmp/x.db"\n'
    )
    with pytest.raises(ConfigurationError) as exc_info:
        build_chain(settings)
    message = str(exc_info.value)
    assert "[metastore] url is set" in message
    assert "hookline.toml, line 4" in message
    assert "no backend in [secrets] backends ['env'] is a metastore" in message


def test_unknown_backend_name_suggests_the_closest_and_says_where(tmp_path: Path) -> None:
    """A misspelled backend name: where it was written, the closest registered name, the list."""
    settings = settings_from(tmp_path, '[secrets]\nbackends = ["env", "vualt"]\n')
    with pytest.raises(ConfigurationError) as exc_info:
        build_chain(settings)
    message = str(exc_info.value)
    assert message.startswith("unknown secrets backend 'vualt' in [secrets] backends ("), message
    assert "hookline.toml, line 2); did you mean 'vault'?; known backends: " in message
    settings = settings_from(
        tmp_path,
        '[secrets]\nbackends = ["mine"]\n[secrets.backend.mine]\ntype = "metastor"\n',
    )
    with pytest.raises(ConfigurationError) as exc_info:
        build_chain(settings)
    assert "unknown secrets backend 'metastor' in [secrets.backend.mine] type (" in str(
        exc_info.value
    )
    assert "line 4); did you mean 'metastore'?" in str(exc_info.value)


def test_misspelled_backend_keyword_suggests_the_closest(tmp_path: Path) -> None:
    """A misspelled keyword argument names the backend, the table's place and the closest keyword,
    and never quotes a configured secret."""
    settings = settings_from(
        tmp_path,
        '[secrets]\nbackends = ["env"]\n'
        f'[secrets.backend.env]\nprefixs = ["A_"]\ntoken = "{CANARY}"\n',
    )
    with pytest.raises(ConfigurationError) as exc_info:
        build_chain(settings)
    message = str(exc_info.value)
    assert "secrets backend 'env' rejected its settings [secrets.backend.env] (" in message
    assert "did you mean 'prefixs' -> 'prefixes'?" in message
    assert CANARY not in message


def test_a_metastore_without_its_extra_is_a_missing_dependency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chain naming the metastore on an install without the `metastore` extra fails when the chain
    is built, naming the package, the extra and how to read variables only."""
    import importlib.util

    from hookline.exceptions import MissingDependency

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "alembic" else real(name, *a)
    )
    settings = settings_from(tmp_path, '[secrets]\nbackends = ["env", "metastore"]\n')
    with pytest.raises(MissingDependency) as exc_info:
        build_chain(settings)
    assert str(exc_info.value) == (
        "alembic is required for the metastore backend 'metastore' in [secrets] backends (or set "
        "HOOKLINE_SECRETS__BACKENDS=env to read connections from variables only); install it "
        "with: pip install 'hookline[metastore]'"
    )
    env_only = settings_from(tmp_path, '[secrets]\nbackends = ["env"]\n')
    assert [b.name for b in build_chain(env_only).backends] == ["env"]
