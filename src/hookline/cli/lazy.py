"""Subcommands imported only when they are used: the lazy command table of the root group.

The root group lists every command by name from a table of ``"module:attribute"`` strings and imports
a command's module only when that command runs (or when ``--help``, the docs generator or shell
completion asks for its help text). ``hookline connections get X`` then never imports the modules of
``pipelines``, ``audit``, ``keys`` and the rest, nor what they import.

A target is either a :class:`typer.Typer` (a command group, like ``app.add_typer(...)``) or a
function (a single command, like ``app.command(name)(function)``). The command is built by typer
itself from a throwaway parent app with default settings (the root app's settings are typer's
defaults too), so it is the same object ``add_typer``/``command`` would have given.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click import Command

__all__ = ["LazyCommands", "LazyGroup", "load_command"]


def _no_callback() -> None:
    """The throwaway parent's callback (makes typer build it as a group)."""


def load_command(name: str, target: str) -> Command:
    """Import ``target`` (``"package.module:attribute"``) and build it as the command ``name``.

    Raises:
        ValueError: ``target`` is not ``module:attribute``.
        TypeError: the attribute is neither a ``typer.Typer`` nor a function.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"lazy command {name!r}: target {target!r} is not 'module:attribute'")
    obj = getattr(importlib.import_module(module_name), attribute)
    parent = typer.Typer()
    parent.callback()(_no_callback)
    if isinstance(obj, typer.Typer):
        parent.add_typer(obj, name=name)
    elif callable(obj):
        parent.command(name)(obj)
    else:
        raise TypeError(f"lazy command {name!r}: {target} is neither a typer.Typer nor a function")
    command: Command = typer.main.get_group(parent).commands[name]
    return command


class LazyCommands(MutableMapping[str, "Command"]):
    """A group's commands: those already built, then the lazy ones, each built on first access.

    Iteration gives every name (built ones first, then the table's order, an order that loading
    does not change) without importing anything; reading a lazy name imports its module once and
    keeps the command.
    """

    def __init__(self, built: Mapping[str, Command], table: Mapping[str, str]) -> None:
        # A str value is a target not loaded yet.
        self._entries: dict[str, Command | str] = dict(built)
        for name, target in table.items():
            self._entries.setdefault(name, target)

    def __getitem__(self, name: str) -> Command:
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = self._entries[name] = load_command(name, entry)
        return entry

    def __setitem__(self, name: str, command: Command) -> None:
        self._entries[name] = command

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


class LazyGroup(TyperGroup):
    """A typer group whose subcommands come from :attr:`lazy_commands`, imported on first use.

    Subclass it with ``lazy_commands = {"name": "package.module:attribute", ...}`` and pass the
    subclass as ``typer.Typer(cls=...)``; commands registered on the app the usual way still work
    and are listed first.
    """

    lazy_commands: ClassVar[Mapping[str, str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(self.commands, self.lazy_commands)
