"""Variables in the environment: ``HOOKLINE_VAR_<KEY>`` first, then Airflow's ``AIRFLOW_VAR_<KEY>``."""

from __future__ import annotations

import pytest

import hookline
from hookline.resolve import SecretsChain
from hookline.secrets.env import EnvBackend


def test_hookline_prefix_wins_over_airflow_and_the_key_is_upper_cased() -> None:
    env = EnvBackend(environ={"AIRFLOW_VAR_MY_KEY": "airflow", "HOOKLINE_VAR_MY_KEY": "hookline"})
    assert env.get_variable("my_key") == "hookline"
    assert env.variable_lookup_keys("my_key") == ["HOOKLINE_VAR_MY_KEY", "AIRFLOW_VAR_MY_KEY"]
    assert EnvBackend(environ={"AIRFLOW_VAR_MY_KEY": "airflow"}).get_variable("My_Key") == "airflow"


def test_values_are_returned_as_they_are() -> None:
    raw = "  '{\"a\": 1}' with = signs  "
    assert EnvBackend(environ={"AIRFLOW_VAR_X": raw}).get_variable("x") == raw


def test_connections_and_variables_do_not_mix() -> None:
    env = EnvBackend(environ={"AIRFLOW_CONN_X": "postgres://h", "AIRFLOW_VAR_Y": "v"})
    assert env.get_variable("x") is None
    assert env.get_conn_value("y") is None


def test_list_variables_lower_cases_keys_and_the_first_prefix_wins() -> None:
    env = EnvBackend(
        environ={"AIRFLOW_VAR_A": "airflow", "HOOKLINE_VAR_A": "hookline", "AIRFLOW_VAR_B": "b"}
    )
    assert list(env.list_variables()) == [("a", "hookline"), ("b", "b")]


def test_custom_prefixes_as_comma_separated_text() -> None:
    env = EnvBackend(environ={"MY_VAR_X": "1"}, variable_prefixes="MY_VAR_, OTHER_")
    assert env.variable_prefixes == ("MY_VAR_", "OTHER_")
    assert env.get_variable("x") == "1"


def test_get_variable_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_THRESHOLD", "42")
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKENDS", "env")
    assert hookline.get_variable("threshold") == "42"
    assert hookline.get_variable("THRESHOLD") == "42"


def test_env_backend_does_not_store_variables() -> None:
    chain = SecretsChain([EnvBackend(environ={})])
    with pytest.raises(hookline.ConfigurationError, match="stores variables"):
        chain.set_variable("x", "1")
