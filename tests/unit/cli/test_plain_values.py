"""hookline.cli.plain_values converts exactly as typer does: same values, same errors."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import typer
import typer.core
from typer._coercion import build_runtime_param

from hookline.cli import app as _app  # noqa: F401  (installs the plain converters)
from hookline.cli import plain_values


class Colour(StrEnum):
    red = "red"
    green = "green"


def _command(
    text: str = "x",
    maybe: str | None = None,
    count: Annotated[int, typer.Option(count=True)] = 0,
    number: int = 1,
    ratio: float = 0.5,
    ranged: Annotated[int, typer.Option(min=1, max=3)] = 2,
    flag: bool = False,
    colour: Annotated[Colour, typer.Option(case_sensitive=False)] = Colour.red,
    strict_colour: Colour = Colour.red,
    mode: Literal["a", "b"] = "a",
    names: Annotated[list[str] | None, typer.Option()] = None,
    where: Path = Path(),
) -> None:
    """A command with one parameter of each kind."""


def _params() -> tuple[Any, dict[str, Any]]:
    app = typer.Typer()
    app.command()(_command)
    command = typer.main.get_command(app)
    return typer.Context(command), {p.name: p for p in command.params}


def _installed() -> Any:
    """What typer.core builds converters with now."""
    return vars(typer.core)["build_runtime_param"]


CASES = [
    ("text", "hello"),
    ("text", "a\udcffb"),
    ("text", b"bytes"),
    ("text", 5),
    ("maybe", "v"),
    ("maybe", None),
    ("count", 0),
    ("count", 3),
    ("count", "3"),
    ("number", 7),
    ("number", "7"),
    ("number", "x7"),
    ("number", True),
    ("number", 2.0),
    ("ratio", 1.5),
    ("ratio", "1.5"),
    ("ratio", 2),
    ("ranged", 2),
    ("ranged", 9),
    ("flag", True),
    ("flag", "yes"),
    ("flag", "maybe"),
    ("colour", "RED"),
    ("colour", "green"),
    ("colour", Colour.green),
    ("colour", "blue"),
    ("strict_colour", "red"),
    ("strict_colour", "RED"),
    ("mode", "b"),
    ("mode", "c"),
    ("names", ("a", "b")),
    ("where", "some/dir"),
]


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return type(result).__name__, result


@pytest.mark.parametrize(("name", "value"), CASES)
def test_same_result_or_error_as_typer(name: str, value: Any) -> None:
    ctx, params = _params()
    param = params[name]
    ours = _outcome(_installed()(param.type_descriptor), value, param, ctx)
    typers = _outcome(build_runtime_param(param.type_descriptor), value, param, ctx)
    assert ours == typers


def test_install_replaces_typers_builder_once() -> None:
    """The app installs it; installing again changes nothing (it never wraps itself)."""
    installed = _installed()
    assert installed is not build_runtime_param
    plain_values.install()
    assert _installed() is installed


def test_typer_converter_built_only_for_values_it_must_convert() -> None:
    """A plain value never builds typer's (pydantic) converter; the first other value does."""
    ctx, params = _params()
    runtime: Any = _installed()(params["number"].type_descriptor)
    assert runtime.coerce(4, param=params["number"], ctx=ctx) == 4
    assert runtime._typer == []
    assert runtime.coerce("5", param=params["number"], ctx=ctx) == 5
    assert len(runtime._typer) == 1
