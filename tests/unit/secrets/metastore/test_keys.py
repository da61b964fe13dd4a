"""Tests for hookline.secrets.metastore.keys: key rings, fingerprints, key loading and the generated key file."""

from __future__ import annotations

import hashlib
import logging
import stat
from pathlib import Path

import pytest

from hookline import ConfigurationError, DecryptionError
from hookline.secrets.metastore.keys import (
    FERNET_KEY_ENV,
    KeyRing,
    fingerprint,
    generate_key,
    hookline_home,
    load_keyring,
    parse_keys,
)

CANARY = "c4n4ry-S3cret!"


def test_generate_key_gives_distinct_valid_fernet_keys() -> None:
    """generate_key returns 44-character keys that build a KeyRing, each time a new one."""
    a, b = generate_key(), generate_key()
    assert a != b
    assert len(a) == 44
    assert KeyRing([a]).fingerprints == (fingerprint(a),)


def test_fingerprint_is_short_sha256_prefix_and_not_the_key() -> None:
    """A fingerprint is the first 8 hex digits of the key's SHA-256."""
    key = generate_key()
    assert fingerprint(key) == hashlib.sha256(key.encode()).hexdigest()[:8]
    assert fingerprint(key) not in key


def test_encrypt_decrypt_round_trip_and_ciphertext_hides_plaintext() -> None:
    """The first key encrypts; the token does not contain the plaintext and decrypts back."""
    ring = KeyRing([generate_key()])
    token = ring.encrypt(CANARY)
    assert CANARY not in token
    assert ring.decrypt(token, conn_id="x") == CANARY
    assert ring.is_primary(token)


def test_all_keys_decrypt_and_rotate_moves_to_first_key() -> None:
    """A token made with an old key decrypts with [new, old]; rotate re-encrypts it with the new key."""
    old, new = generate_key(), generate_key()
    token = KeyRing([old]).encrypt(CANARY)
    both = KeyRing([new, old])
    assert both.decrypt(token, conn_id="x") == CANARY
    assert not both.is_primary(token)
    rotated = both.rotate(token)
    assert both.is_primary(rotated)
    assert KeyRing([new]).decrypt(rotated, conn_id="x") == CANARY


def test_wrong_key_raises_decryption_error_naming_conn_id_and_fingerprints() -> None:
    """Decrypting with a wrong key names the conn_id, the field and the key ids tried, no secret."""
    good, wrong = generate_key(), generate_key()
    token = KeyRing([good]).encrypt(CANARY)
    ring = KeyRing([wrong], source=FERNET_KEY_ENV)
    with pytest.raises(DecryptionError) as info:
        ring.decrypt(token, conn_id="warehouse", field="password", key_id=fingerprint(good))
    message = str(info.value)
    assert "'warehouse'" in message
    assert "password" in message
    assert fingerprint(wrong) in message
    assert fingerprint(good) in message  # "it was encrypted with key <id>, which is not configured"
    assert info.value.conn_id == "warehouse"
    assert info.value.key_ids == (fingerprint(wrong),)
    assert info.value.__cause__ is None
    for secret in (CANARY, good, wrong, token):
        assert secret not in message


def test_rotate_with_unknown_key_raises_decryption_error() -> None:
    """rotate() of a token no configured key opens raises DecryptionError, not InvalidToken."""
    token = KeyRing([generate_key()]).encrypt(CANARY)
    with pytest.raises(DecryptionError, match="cannot decrypt"):
        KeyRing([generate_key()]).rotate(token, conn_id="c")


def test_garbage_token_raises_decryption_error() -> None:
    """A token that is not Fernet at all is a DecryptionError too."""
    with pytest.raises(DecryptionError):
        KeyRing([generate_key()]).decrypt("not-a-token\u00e9", conn_id="c")


@pytest.mark.parametrize(
    "bad", [CANARY, CANARY * 4, "", "  ", "YWJj"], ids=["short", "long", "empty", "blank", "b64"]
)
def test_malformed_key_is_configuration_error_without_the_key(bad: str) -> None:
    """A malformed or missing key gives ConfigurationError whose message never holds the key text."""
    with pytest.raises(ConfigurationError) as info:
        load_keyring([generate_key(), bad] if bad.strip() else bad, home=None)
    assert CANARY not in str(info.value)
    if bad.strip():
        assert "#2 of 2" in str(info.value)


def test_parse_keys_splits_on_commas_and_whitespace() -> None:
    """Comma-separated lists (with spaces or newlines) and sequences are accepted."""
    assert parse_keys(" a, b ,,c\n") == ["a", "b", "c"]
    assert parse_keys([" a ", "", "b"]) == ["a", "b"]


def test_load_keyring_prefers_argument_then_env_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys come from the argument, else HOOKLINE_FERNET_KEY (comma-separated), else the key file."""
    arg_key, env1, env2 = generate_key(), generate_key(), generate_key()
    monkeypatch.setenv(FERNET_KEY_ENV, f"{env1},{env2}")
    assert load_keyring(arg_key, tmp_path).fingerprints == (fingerprint(arg_key),)
    ring = load_keyring(None, tmp_path)
    assert ring.fingerprints == (fingerprint(env1), fingerprint(env2))
    assert ring.source == FERNET_KEY_ENV
    assert not (tmp_path / "fernet.key").exists()
    monkeypatch.delenv(FERNET_KEY_ENV)
    file_ring = load_keyring(None, tmp_path)
    assert file_ring.source == str(tmp_path / "fernet.key")


def test_key_file_generated_once_with_mode_0600(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without keys, a key file is generated under HOOKLINE_HOME with mode 0600 and reused after."""
    home = tmp_path / "new" / "home"
    with caplog.at_level(logging.WARNING, logger="hookline.secrets.metastore.keys"):
        first = load_keyring(None, home)
    path = home / "fernet.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert first.fingerprints == (fingerprint(key),)
    assert key not in caplog.text
    assert fingerprint(key) in caplog.text
    second = load_keyring(None, home)
    assert second.fingerprints == first.fingerprints
    assert [p.name for p in home.iterdir()] == ["fernet.key"]


def test_key_file_in_home_defaults_to_env(isolated_hookline: Path) -> None:
    """home=None means $HOOKLINE_HOME (set per test by conftest)."""
    assert hookline_home() == isolated_hookline
    load_keyring(None, None)
    assert (isolated_hookline / "fernet.key").exists()


def test_unwritable_home_is_configuration_error(tmp_path: Path) -> None:
    """A HOOKLINE_HOME under a regular file (fails even as root) gives a clear ConfigurationError."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match=r"(?i)not a directory|cannot create"):
        load_keyring(None, blocker / "sub")
    with pytest.raises(ConfigurationError, match="not a directory"):
        load_keyring(None, blocker)


def test_key_file_with_bad_key_is_configuration_error(tmp_path: Path) -> None:
    """A corrupt key file names the file and the key position, not the content."""
    (tmp_path / "fernet.key").write_text(CANARY + "\n")
    with pytest.raises(ConfigurationError) as info:
        load_keyring(None, tmp_path)
    assert str(tmp_path / "fernet.key") in str(info.value)
    assert CANARY not in str(info.value)


def test_empty_key_file_is_configuration_error(tmp_path: Path) -> None:
    """An empty key file is reported, never replaced silently."""
    (tmp_path / "fernet.key").write_text("\n")
    with pytest.raises(ConfigurationError, match="empty"):
        load_keyring(None, tmp_path)


def test_keyring_repr_shows_fingerprints_only() -> None:
    """repr(KeyRing) lists fingerprints, never keys."""
    key = generate_key()
    text = repr(KeyRing([key]))
    assert fingerprint(key) in text
    assert key not in text
