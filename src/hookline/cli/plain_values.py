"""Typer's parameter conversion, without importing pydantic for the plain values most commands get.

typer (0.2x) converts every option and argument that is not a bool flag through a pydantic
``TypeAdapter``, built on first use; importing pydantic for it costs about as much as the rest of a
``hookline connections get`` start-up. For the values whose conversion in typer is an identity or a
plain function (a ``str`` that is already a ``str``, an ``int``/``float`` that already is one, such
as a ``-v`` count, and an enum or ``Literal`` choice, converted by typer's own
``coerce_cli_choice``), :func:`install` has typer give each parameter a converter with the same
result that hands every other value, and every value it cannot convert, to typer's own converter,
built only then: an error reads exactly as typer words it. A typer without that conversion layer
is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer.core

__all__ = ["install"]

if TYPE_CHECKING:
    from typer._click import Context

try:
    from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
    from typer._param_types import coerce_cli_choice
except ImportError:  # pragma: no cover - a typer that converts values without pydantic
    _SUPPORTED = False
else:
    _SUPPORTED = True

_MISS: Any = object()

Converter = Callable[[Any, "Context"], Any]
"""``(value, ctx) -> converted value``, or ``_MISS`` to hand the value to typer's converter."""


def _plain_converter(descriptor: TypeDescriptor) -> Converter | None:
    """The plain converter for a parameter, or None when typer's converter must do all of it."""
    info = descriptor.parameter_info
    annotation = descriptor.annotation
    if info.parser is not None or descriptor.is_file or descriptor.is_list or descriptor.is_tuple:
        return None
    if annotation is bool:  # a flag's value already is one (typer skips those), a default may not
        return lambda value, ctx: value if type(value) is bool else _MISS
    if annotation is str:
        return lambda value, ctx: value if type(value) is str else _MISS
    if annotation in (int, float) and info.min is None and info.max is None:
        return lambda value, ctx: value if type(value) is annotation else _MISS
    choices = descriptor.choices
    if choices is None:
        return None
    case_sensitive = descriptor.case_sensitive

    def choose(value: Any, ctx: Context) -> Any:
        try:
            return coerce_cli_choice(value, choices=choices, case_sensitive=case_sensitive, ctx=ctx)
        except ValueError:  # not a choice: typer's converter words the error
            return _MISS

    return choose


if _SUPPORTED:

    @dataclass(frozen=True)
    class _PlainFirst(RuntimeParam):
        """Converts with ``plain``; what ``plain`` cannot, with typer's converter (built once)."""

        descriptor: TypeDescriptor = field(repr=False)
        plain: Converter = field(repr=False)
        _typer: list[RuntimeParam] = field(default_factory=list, repr=False, compare=False)

        def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
            converted = self.plain(value, ctx)
            if converted is not _MISS:
                return converted
            if not self._typer:
                self._typer.append(build_runtime_param(self.descriptor))
            return self._typer[0]._coerce_value(value, param=param, ctx=ctx)


def _build(descriptor: TypeDescriptor) -> RuntimeParam:
    """typer's ``build_runtime_param``, plain first where :func:`_plain_converter` has one."""
    plain = _plain_converter(descriptor)
    if plain is None:
        return build_runtime_param(descriptor)
    return _PlainFirst(
        parameter_info=descriptor.parameter_info,
        annotation=descriptor.annotation,
        descriptor=descriptor,
        plain=plain,
    )


def install() -> None:
    """Have typer build plain-first converters for every parameter from now on (idempotent).

    Every parameter, including the ``--help`` and completion options typer adds itself, gets its
    converter from typer's ``build_runtime_param`` on first use; this replaces that one name in
    ``typer.core``. Results are the same as typer's, so it does not matter which app a parameter
    belongs to.
    """
    namespace = vars(typer.core)
    if _SUPPORTED and namespace.get("build_runtime_param") is build_runtime_param:
        namespace["build_runtime_param"] = _build
