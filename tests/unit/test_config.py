"""Settings: defaults, the TOML file, HOOKLINE_<SECTION>__<KEY> overrides, errors and redaction."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hookline.config import (
    DEFAULT_BACKENDS,
    CacheSettings,
    Settings,
    load_settings,
)
from hookline.exceptions import ConfigurationError

CANARY = "c4n4ry-S3cret!"


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "hookline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file(tmp_path: Path) -> None:
    """No file and no variables: env then metastore, cache on with the documented defaults."""
    settings = load_settings({"HOOKLINE_HOME": str(tmp_path)})
    assert settings.home == tmp_path
    assert settings.config_path is None
    assert settings.backends == DEFAULT_BACKENDS == ("env", "metastore")
    assert dict(settings.backend_kwargs) == {}
    assert settings.cache == CacheSettings()
    assert settings.cache.enabled is True
    assert settings.cache.ttl_seconds == 300.0
    assert settings.cache.ttl_jitter_ratio == 0.1
    assert settings.cache.negative_ttl_seconds == 5.0
    assert settings.cache.stale_if_error_seconds == 600.0
    assert settings.cache.change_check_interval_seconds == 0.25
    assert settings.metastore_url is None


def test_home_defaults_to_dot_hookline() -> None:
    """Without HOOKLINE_HOME, the home is ~/.hookline."""
    assert load_settings({}).home == Path("~/.hookline").expanduser()


def test_os_environ_is_read_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """load_settings() with no argument reads os.environ."""
    monkeypatch.setenv("HOOKLINE_HOME", str(tmp_path))
    monkeypatch.setenv("HOOKLINE_CACHE__TTL_SECONDS", "42")
    settings = load_settings()
    assert settings.home == tmp_path
    assert settings.cache.ttl_seconds == 42.0


def test_file_in_home_is_read(tmp_path: Path) -> None:
    """$HOOKLINE_HOME/hookline.toml is used when it exists; tables become backend kwargs."""
    path = write(
        tmp_path,
        """
[secrets]
backends = ["env", "files", "metastore"]

[secrets.backend.files]
connections_file_path = "/etc/conns.yaml"

[cache]
ttl_seconds = 60
enabled = true

[metastore]
url = "postgresql+psycopg://hookline@db/hookline"
""",
    )
    settings = load_settings({"HOOKLINE_HOME": str(tmp_path)})
    assert settings.config_path == path
    assert settings.backends == ("env", "files", "metastore")
    assert settings.kwargs_for("files") == {"connections_file_path": "/etc/conns.yaml"}
    assert settings.kwargs_for("vault") == {}
    assert settings.cache.ttl_seconds == 60.0
    assert isinstance(settings.cache.ttl_seconds, float)
    assert settings.metastore_url == "postgresql+psycopg://hookline@db/hookline"
    assert settings.where("cache.ttl_seconds") == f"{path}, line 9"
    assert settings.where("secrets.backend.files.connections_file_path") == f"{path}, line 6"
    assert settings.where("cache.max_entries") == "default"


def test_explicit_config_path_and_backend_order(tmp_path: Path) -> None:
    """HOOKLINE_CONFIG points anywhere; [secrets] backends sets the exact order."""
    path = tmp_path / "elsewhere.toml"
    path.write_text('[secrets]\nbackends = ["vault", "env"]\n[secrets.backend.vault]\nurl = "u"\n')
    settings = load_settings({"HOOKLINE_HOME": str(tmp_path / "h"), "HOOKLINE_CONFIG": str(path)})
    assert settings.config_path == path
    assert settings.backends == ("vault", "env")
    assert settings.kwargs_for("vault") == {"url": "u"}


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    """A HOOKLINE_CONFIG that does not exist is reported, not ignored."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigurationError, match=r"nope\.toml does not exist \(HOOKLINE_CONFIG\)"):
        load_settings({"HOOKLINE_CONFIG": str(missing)})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """HOOKLINE_<SECTION>__<KEY> variables win over the file, with typed conversion."""
    write(tmp_path, '[secrets]\nbackends = ["env"]\n[cache]\nttl_seconds = 60\n')
    settings = load_settings(
        {
            "HOOKLINE_HOME": str(tmp_path),
            "HOOKLINE_SECRETS__BACKENDS": "env, vault ,metastore",
            "HOOKLINE_CACHE__TTL_SECONDS": "15.5",
            "HOOKLINE_CACHE__ENABLED": "off",
            "HOOKLINE_CACHE__MAX_ENTRIES": "500",
            "HOOKLINE_SECRETS__BACKEND__VAULT__URL": "http://127.0.0.1:8200",
            "HOOKLINE_SECRETS__BACKEND__VAULT__TIMEOUT_S": "5",
            "HOOKLINE_SECRETS__BACKEND__VAULT__VERIFY": "false",
            "HOOKLINE_SECRETS__BACKEND__VAULT__TOKEN": '"12345"',
            "HOOKLINE_SECRETS__BACKEND__METASTORE__READ_POOL_SIZE": "2",
            "HOOKLINE_METASTORE__URL": "sqlite:////tmp/x.db",
            "HOOKLINE_CONN_SOMETHING__ODD": "http://not-a-setting",
            "HOOKLINE_FERNET_KEY": "not-a-setting-either",
        }
    )
    assert settings.backends == ("env", "vault", "metastore")
    assert settings.cache.ttl_seconds == 15.5
    assert settings.cache.enabled is False
    assert settings.cache.max_entries == 500
    assert settings.kwargs_for("vault") == {
        "url": "http://127.0.0.1:8200",
        "timeout_s": 5,
        "verify": False,
        "token": "12345",
    }
    assert settings.kwargs_for("metastore") == {"read_pool_size": 2}
    assert settings.metastore_url == "sqlite:////tmp/x.db"
    assert settings.where("secrets.backends") == "HOOKLINE_SECRETS__BACKENDS"
    assert settings.where("secrets.backend.vault.url") == "HOOKLINE_SECRETS__BACKEND__VAULT__URL"


def test_a_backend_table_does_not_add_the_backend_to_the_chain(tmp_path: Path) -> None:
    """The chain is exactly [secrets] backends: a files table alone (file or environment) does not
    slip `files` into the default chain; it is an error naming where the table is."""
    with pytest.raises(ConfigurationError) as exc_info:
        load_settings(
            {
                "HOOKLINE_HOME": str(tmp_path),
                "HOOKLINE_SECRETS__BACKEND__FILES__CONNECTIONS_FILE_PATH": "/x.json",
            }
        )
    assert str(exc_info.value) == (
        "[secrets.backend.files] (HOOKLINE_SECRETS__BACKEND__FILES__CONNECTIONS_FILE_PATH) is "
        "defined but not in [secrets] backends ['env', 'metastore']; add 'files' to backends or "
        "remove the table"
    )
    path = write(tmp_path, '[secrets.backend.files]\nconnections_file_path = "/x.json"\n')
    with pytest.raises(ConfigurationError, match="defined but not in") as exc_info:
        load_settings({"HOOKLINE_HOME": str(tmp_path)})
    assert f"[secrets.backend.files] ({path}, line 1) is defined" in str(exc_info.value)


def test_declared_backend_type(tmp_path: Path) -> None:
    """`type` in a backend table names the registered backend; the entry keeps its own name."""
    write(
        tmp_path,
        '[secrets]\nbackends = ["env", "shared"]\n'
        '[secrets.backend.shared]\ntype = "metastore"\nurl = "sqlite:////tmp/s.db"\n',
    )
    settings = load_settings({"HOOKLINE_HOME": str(tmp_path)})
    assert settings.backend_type("shared") == "metastore"
    assert settings.backend_type("env") == "env"
    assert settings.kwargs_for("shared") == {"url": "sqlite:////tmp/s.db"}
    assert settings.as_display_dict()["secrets"]["backend"]["shared"] == {
        "type": "metastore",
        "url": "sqlite:////tmp/s.db",
    }


def test_bad_toml_names_file_and_line(tmp_path: Path) -> None:
    """A TOML syntax error is a ConfigurationError with the file and the line."""
    path = write(tmp_path, "[cache]\nttl_seconds = 60\nenabled = yes please\n")
    with pytest.raises(ConfigurationError) as exc_info:
        load_settings({"HOOKLINE_HOME": str(tmp_path)})
    message = str(exc_info.value)
    assert str(path) in message
    assert "not valid TOML" in message
    assert "line 3" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            '[cache]\n\nttl_seconds = "soon"\n',
            "cache.ttl_seconds ({path}, line 3): expected a number",
        ),
        ("[cache]\nttl_seconds = -1\n", "line 2): cache.ttl_seconds must be a finite number >= 0"),
        ("[cache]\nttl_jitter_ratio = 1.5\n", "line 2): cache.ttl_jitter_ratio must be in [0, 1)"),
        ("[cache]\nenabled = 1\n", "line 2): cache.enabled must be true or false"),
        ("[cache]\nmax_entries = 0\n", "line 2): cache.max_entries must be an integer >= 1"),
        ("\n[cache]\nttl = 5\n", "unknown setting 'ttl' in [cache]; known: enabled, ttl_seconds"),
        ('[secrets]\nbackend = "vault"\n', "line 2): expected [secrets.backend.<name>] tables"),
        ("[secrets]\nbackends = 3\n", "expected a list of backend names, got a int"),
        ('[secrets]\nbackends = ["env", "env"]\n', "backend(s) listed twice: env"),
        ('[secrets]\nbackends = ["env", ""]\n', "expected non-empty backend names"),
        ("[secrets]\nfoo = 1\n", "unknown setting 'foo' in [secrets]"),
        ("[secrets.backend]\nvault = 1\n", "expected a table of keyword arguments, got a int"),
        ("[metastore]\nurl = 5\n", "metastore.url ({path}, line 2): expected a database URL"),
        ("[metastore]\nhost = 'x'\n", "unknown setting 'host' in [metastore]; known: url"),
        ("cache = 5\n", "expected a table [cache], got a int"),
        ("audit = 5\n", "audit ({path}, line 1): expected a table [audit], got a int"),
    ],
)
def test_bad_values_name_key_file_and_line(tmp_path: Path, text: str, fragment: str) -> None:
    """Each invalid value is a ConfigurationError naming the key, the file and the line."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as exc_info:
        load_settings({"HOOKLINE_HOME": str(tmp_path)})
    assert fragment.format(path=path) in str(exc_info.value)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("HOOKLINE_CACHE__TTL_SECONDS", "soon", "HOOKLINE_CACHE__TTL_SECONDS: expected a number"),
        ("HOOKLINE_CACHE__ENABLED", "maybe", "HOOKLINE_CACHE__ENABLED: expected true or false"),
        ("HOOKLINE_CACHE__MAX_ENTRIES", "1.5", "expected an integer"),
        ("HOOKLINE_CACHE__TTL", "1", "HOOKLINE_CACHE__TTL: unknown setting 'ttl' in [cache]"),
        ("HOOKLINE_SECRETS__BACKENDS", "env,,x", "expected non-empty backend names"),
        ("HOOKLINE_CACHE____X", "1", "empty part"),
        ("HOOKLINE_METASTORE__URL", " ", "HOOKLINE_METASTORE__URL: expected a database URL"),
    ],
)
def test_bad_environment_values_name_the_variable(name: str, value: str, fragment: str) -> None:
    """Invalid variables are ConfigurationErrors naming the variable."""
    with pytest.raises(ConfigurationError) as exc_info:
        load_settings({name: value})
    assert fragment in str(exc_info.value)


def test_conflicting_environment_levels() -> None:
    """A variable naming a table and another naming a key inside it cannot both be set."""
    with pytest.raises(ConfigurationError, match="conflicts"):
        load_settings({"HOOKLINE_AUDIT__PATH": "x", "HOOKLINE_AUDIT__PATH__DEEP": "y"})


def test_unused_backend_table_is_an_error(tmp_path: Path) -> None:
    """A [secrets.backend.x] table for a backend outside the chain is an error (not ignored), with
    the closest chain name when it looks like a misspelling."""
    path = write(
        tmp_path, '[secrets]\nbackends = ["env", "vault"]\n[secrets.backend.vualt]\nurl = "u"\n'
    )
    with pytest.raises(ConfigurationError) as exc_info:
        load_settings({"HOOKLINE_HOME": str(tmp_path)})
    assert str(exc_info.value) == (
        f"[secrets.backend.vualt] ({path}, line 3) is defined but not in [secrets] backends "
        "['env', 'vault']; did you mean 'vault'?; add 'vualt' to backends or remove the table"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '# shared database\n[metastor]\nurl = "postgresql://db/h"\n',
            "metastor ({path}, line 2): unknown section [metastor]; did you mean [metastore]? "
            "(known sections: [audit], [cache], [celery], [failover], [masking], [metastore], [pipelines], [rotation], [secrets])",
        ),
        (
            '[secret]\nbackends = ["env"]\n',
            "secret ({path}, line 1): unknown section [secret]; did you mean [secrets]? "
            "(known sections: [audit], [cache], [celery], [failover], [masking], [metastore], [pipelines], [rotation], [secrets])",
        ),
        (
            'secret.backends = ["env"]\n',
            "secret ({path}, line 1): unknown section [secret]; did you mean [secrets]?",
        ),
        (
            "[Cache]\nttl_seconds = 5\n",
            "Cache ({path}, line 1): unknown section [Cache]; did you mean [cache]?",
        ),
        (
            'backends = ["env"]\n',
            "backends ({path}, line 1): unknown section 'backends'; did you mean [secrets] backends?",
        ),
        (
            "[cache]\nttl_secs = 5\n",
            "cache.ttl_secs ({path}, line 2): unknown setting 'ttl_secs' in [cache]; did you mean "
            "'ttl_seconds'?; known: enabled, ttl_seconds,",
        ),
        (
            '[secrets]\nbackend_list = ["env"]\n',
            "secrets.backend_list ({path}, line 2): unknown setting 'backend_list' in [secrets]; "
            "did you mean 'backends'?; known: backends, backend",
        ),
        (
            "[pool]\nsize = 5\n",
            "pool ({path}, line 1): unknown section [pool] (known sections: [audit], [cache], [celery], "
            "[failover], [masking], [metastore], [pipelines], [rotation], "
            "[secrets])",
        ),
    ],
)
def test_misspelled_sections_and_keys_name_file_line_and_closest_name(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Issue 13.4: `[secret]`, `[metastor]` and other unknown names are errors that name the file,
    the line and the closest valid name, never silently kept (a section no code reads is refused)."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as exc_info:
        load_settings({"HOOKLINE_HOME": str(tmp_path)})
    assert expected.format(path=path) in str(exc_info.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"HOOKLINE_SECRET__BACKENDS": "env"},
            "HOOKLINE_SECRET__BACKENDS: unknown section 'secret'; did you mean "
            "HOOKLINE_SECRETS__BACKENDS? (known sections: audit, cache, celery, failover, masking, metastore, pipelines, rotation, secrets)",
        ),
        (
            {"HOOKLINE_METASTOR__URL": "sqlite:////x.db"},
            "HOOKLINE_METASTOR__URL: unknown section 'metastor'; did you mean "
            "HOOKLINE_METASTORE__URL?",
        ),
        (
            {"HOOKLINE_CACHE__TTL_SECOND": "5"},
            "HOOKLINE_CACHE__TTL_SECOND: unknown setting 'ttl_second' in [cache]; did you mean "
            "HOOKLINE_CACHE__TTL_SECONDS?",
        ),
        (
            {"HOOKLINE_BACKENDS__X": "env"},
            "HOOKLINE_BACKENDS__X: unknown section 'backends'; did you mean "
            "HOOKLINE_SECRETS__BACKENDS?",
        ),
        (
            {"HOOKLINE_AUDIT__PATH": "audit.log"},
            "HOOKLINE_AUDIT__PATH: unknown setting 'path' in [audit]",
        ),
    ],
)
def test_unknown_environment_settings_are_errors(env: dict[str, str], expected: str) -> None:
    """HOOKLINE_<SECTION>__<KEY> variables with unknown names are errors naming the variable and
    the variable that was probably meant."""
    with pytest.raises(ConfigurationError) as exc_info:
        load_settings(env)
    assert expected in str(exc_info.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Three mistakes in the file and one in the environment: one error listing all four."""
    path = write(tmp_path, '[secret]\nbackends = ["env"]\n[cache]\nttl = 5\nenabled = "x"\n')
    with pytest.raises(ConfigurationError) as exc_info:
        load_settings({"HOOKLINE_HOME": str(tmp_path), "HOOKLINE_METASTOR__URL": "u"})
    lines = str(exc_info.value).splitlines()
    assert lines[0] == "4 problems in the configuration:"
    assert lines[1].startswith(f"  - secret ({path}, line 1): unknown section [secret]")
    assert lines[2].startswith(f"  - cache.ttl ({path}, line 4): unknown setting 'ttl'")
    assert lines[3].startswith(f"  - cache.enabled ({path}, line 5): expected true or false")
    assert lines[4].startswith("  - HOOKLINE_METASTOR__URL: unknown section 'metastor'")


def test_variables_that_are_not_settings_are_left_alone() -> None:
    """HOOKLINE_CONN_* (connections, even with `__` in the id), HOOKLINE_HOME and
    HOOKLINE_FERNET_KEY are not settings."""
    settings = load_settings(
        {"HOOKLINE_CONN_MY__DB": "sqlite:///x", "HOOKLINE_FERNET_KEY": "k", "HOOKLINE_HOME": "/h"}
    )
    assert settings.backends == DEFAULT_BACKENDS


def test_display_dict_redacts_secrets(tmp_path: Path) -> None:
    """as_display_dict hides sensitive keys and URL passwords, and is JSON-ready."""
    write(
        tmp_path,
        f"""
[secrets]
backends = ["env", "vault", "metastore"]
[secrets.backend.vault]
url = "http://127.0.0.1:8200"
token = "{CANARY}"
auth = {{ role_id = "r", secret_id = "{CANARY}" }}
[metastore]
url = "postgresql://hookline:{CANARY}@db:5432/hookline"
""",
    )
    settings = load_settings({"HOOKLINE_HOME": str(tmp_path)})
    shown = settings.as_display_dict()
    text = json.dumps(shown)
    assert CANARY not in text
    assert shown["secrets"]["backend"]["vault"]["token"] == "***"
    assert shown["secrets"]["backend"]["vault"]["auth"] == {"role_id": "r", "secret_id": "***"}
    assert shown["secrets"]["backend"]["vault"]["url"] == "http://127.0.0.1:8200"
    assert shown["metastore"]["url"] == "postgresql://hookline:***@db:5432/hookline"
    assert shown["cache"]["ttl_seconds"] == 300.0
    assert shown["secrets"]["backends"] == ["env", "vault", "metastore"]
    assert shown["config_path"] == str(tmp_path / "hookline.toml")


def test_settings_are_frozen(tmp_path: Path) -> None:
    """Settings and their tables cannot be changed after loading."""
    write(
        tmp_path,
        '[secrets]\nbackends = ["files"]\n[secrets.backend.files]\nconnections_file_path = "x"\n',
    )
    settings = load_settings({"HOOKLINE_HOME": str(tmp_path)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.backends = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.backend_kwargs["files"]["x"] = 1  # type: ignore[index]
    assert Settings(home=tmp_path).backends == DEFAULT_BACKENDS


def test_cache_settings_validate_directly() -> None:
    """CacheSettings built in code are checked too."""
    with pytest.raises(ConfigurationError, match="negative_ttl_seconds must be a finite number"):
        CacheSettings(negative_ttl_seconds=float("inf"))
    with pytest.raises(ConfigurationError, match="ttl_seconds must be a number"):
        CacheSettings(ttl_seconds=True)


def test_settings_repr_and_display_hide_secrets_everywhere(tmp_path: Path) -> None:
    """repr(Settings) (printed by a debugger, a log line or a failing assert) hides backend tokens
    and keys and the metastore password; a password passed as a URL query parameter, URL-quoted or
    short, is hidden in ``config show`` too."""
    write(
        tmp_path,
        f"""
[secrets]
backends = ["env", "vault", "metastore"]
[secrets.backend.vault]
url = "http://127.0.0.1:8200/?token=Tk1"
token = "{CANARY}"
[secrets.backend.vault.auth]
aws_secret_access_key = "{CANARY}"
[metastore]
url = "postgresql://u:c4n4ry-S3cret%21@db/h?sslpassword=c4n4ry-S3cret%21&password=Pw1"
""",
    )
    settings = load_settings({"HOOKLINE_HOME": str(tmp_path)})
    for text in (repr(settings), str(settings), json.dumps(settings.as_display_dict())):
        for leaked in (CANARY, "c4n4ry-S3cret%21", "Pw1", "Tk1"):
            assert leaked not in text
    assert settings.as_display_dict()["metastore"]["url"] == (
        "postgresql://u:***@db/h?sslpassword=***&password=***"
    )
    assert "Settings(" in repr(settings)


def test_display_goes_through_the_masking_sensitive_key_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`config show` hides exactly what hookline.masking.is_sensitive_key flags (one policy): when the
    policy learns a new name (a webhook URL holds its token), the display follows."""
    from hookline import masking

    token_url = f"https://hooks.slack.com/services/T0/B0/{CANARY}"
    write(
        tmp_path,
        f'[secrets]\nbackends = ["vault"]\n[secrets.backend.vault]\nalert_webhook = "{token_url}"\n',
    )
    settings = load_settings({"HOOKLINE_HOME": str(tmp_path)})
    original = masking.is_sensitive_key
    monkeypatch.setattr(
        masking, "is_sensitive_key", lambda name: "webhook" in str(name) or original(name)
    )
    shown = settings.as_display_dict()
    assert shown["secrets"]["backend"]["vault"]["alert_webhook"] == "***"
    assert CANARY not in repr(settings)
