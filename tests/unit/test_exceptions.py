"""The error tree of hookline.exceptions: shape, attributes, messages, pickling."""

from __future__ import annotations

import pickle

import pytest

import hookline
from hookline import exceptions as errors
from hookline.exceptions import (
    AuthenticationFailed,
    BackendError,
    BackendPermissionDenied,
    BackendUnavailable,
    ConfigurationError,
    ConnectionNotFound,
    DecryptionError,
    HookConnectionError,
    HookError,
    HooklineError,
    InvalidConnection,
    InvalidConnectionURI,
    MissingDependency,
    PoolTimeout,
    RotationError,
)

TREE = [
    (ConfigurationError, (HooklineError, ValueError)),
    (InvalidConnection, (HooklineError, ValueError)),
    (InvalidConnectionURI, (InvalidConnection, ValueError)),
    (ConnectionNotFound, (HooklineError, KeyError)),
    (BackendError, (HooklineError,)),
    (BackendUnavailable, (BackendError,)),
    (BackendPermissionDenied, (BackendError,)),
    (DecryptionError, (HooklineError,)),
    (HookError, (HooklineError,)),
    (HookConnectionError, (HookError,)),
    (AuthenticationFailed, (HookError,)),
    (PoolTimeout, (HooklineError,)),
    (RotationError, (HooklineError,)),
    (MissingDependency, (HooklineError, ImportError)),
]


@pytest.mark.parametrize(("cls", "bases"), TREE, ids=[cls.__name__ for cls, _ in TREE])
def test_error_tree(cls: type[Exception], bases: tuple[type[Exception], ...]) -> None:
    """Each error sits where the documented tree puts it, and is exported from hookline."""
    for base in bases:
        assert issubclass(cls, base)
    assert getattr(hookline, cls.__name__) is cls
    assert cls.__name__ in errors.__all__


def test_no_class_shadows_builtin_connection_error() -> None:
    """No hookline class is called ConnectionError (it would shadow the builtin)."""
    assert not hasattr(errors, "ConnectionError")
    assert not issubclass(HookConnectionError, ConnectionError)


def test_invalid_connection_uri_keeps_the_redacted_uri() -> None:
    """InvalidConnectionURI carries .uri (redacted by its raiser) and .conn_id."""
    exc = InvalidConnectionURI("bad", uri="x://u:***@h", conn_id="a")
    assert (exc.uri, exc.conn_id, str(exc)) == ("x://u:***@h", "a", "bad")


def test_connection_not_found_message_is_not_quoted() -> None:
    """str() of ConnectionNotFound is the plain message (KeyError would repr it), with the trace."""
    exc = ConnectionNotFound("wh", trace="env: absent")
    assert str(exc) == "connection 'wh' is not defined; backends asked:\nenv: absent"
    assert (exc.conn_id, exc.trace) == ("wh", "env: absent")
    assert str(ConnectionNotFound("wh")) == "connection 'wh' is not defined"
    assert str(ConnectionNotFound("wh", message="custom")) == "custom"
    with pytest.raises(KeyError):
        raise exc


def test_permission_denied_is_a_permission_error() -> None:
    """BackendPermissionDenied is also a PermissionError and names its backend."""
    exc = BackendPermissionDenied("denied", backend="vault")
    assert isinstance(exc, PermissionError)
    assert exc.backend == "vault"


def test_decryption_error_names_key_ids_only() -> None:
    """DecryptionError keeps the ids of the keys tried, as a tuple."""
    exc = DecryptionError("cannot decrypt", conn_id="wh", key_ids=["k1", "k2"])
    assert (exc.conn_id, exc.key_ids) == ("wh", ("k1", "k2"))


def test_missing_dependency_says_which_extra() -> None:
    """MissingDependency names the package and the extra to install."""
    exc = MissingDependency("hvac", "vault", purpose="the Vault backend")
    assert str(exc) == (
        "hvac is required for the Vault backend; install it with: pip install 'hookline[vault]'"
    )
    assert (exc.package, exc.extra) == ("hvac", "vault")
    assert isinstance(exc, ImportError)


def test_rotation_error_has_a_step() -> None:
    """RotationError records the failing step."""
    assert RotationError("boom", step="test").step == "test"


PICKLED = [
    HooklineError("plain"),
    ConfigurationError("bad setting"),
    InvalidConnection("bad", conn_id="a"),
    InvalidConnectionURI("bad uri", uri="x://u:***@h", conn_id="a"),
    ConnectionNotFound("a", trace="t"),
    BackendUnavailable("down", backend="vault"),
    BackendPermissionDenied("no", backend="aws"),
    DecryptionError("no key", conn_id="a", key_ids=["k"]),
    HookConnectionError("refused", conn_id="a"),
    AuthenticationFailed("rejected", conn_id="a"),
    PoolTimeout("pool size 5, overflow 0, timeout 30 s"),
    RotationError("failed", step="set"),
    MissingDependency("hvac", "vault"),
]


@pytest.mark.parametrize("exc", PICKLED, ids=[type(e).__name__ for e in PICKLED])
def test_errors_pickle_with_their_attributes(exc: HooklineError) -> None:
    """Every error survives pickling (multiprocessing, Celery) with message and attributes."""
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is type(exc)
    assert str(clone) == str(exc)
    assert clone.args == exc.args
    assert vars(clone) == vars(exc)
