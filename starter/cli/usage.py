"""How the CLI explains itself: the help's type column and usage-error hints.

Typer's rich help prints each parameter's Python type, flags included, so `--help` and
`--no-demo` read `<bool>` as if they took a value (its plain help leaves flags untyped).
`PunchcardGroup` blanks that column for flags. And a phone number or a name typed without
quotes (`--phone +1 555 555 0100`) splits into extra arguments; the usage error then
says how to quote it, with the user's own words when it can tell whose they were.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import typer
from typer._click import Context  # typer vendors click and re-exports neither
from typer._click.exceptions import UsageError
from typer.core import TyperGroup, TyperOption

_EXTRA = re.compile(r"^Got unexpected extra argument\S* \((?P<extra>.*)\)$")
_PHONE_LIKE = re.compile(r"[\d\s()+.-]+")
# Parameters that take a phone number or a name; `client` and `search` take either.
PHONE_PARAMS = frozenset({"phone", "client", "search"})
NAME_PARAMS = frozenset({"name", "client", "search"})
EXAMPLES = {"phone number": '--phone "+1 555 555 0100"', "name": '--name "Ana Lopez"'}


class PunchcardGroup(TyperGroup):
    """The root command: untyped flags in every help page, quoting hints on usage errors."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        for command in _walk(self):
            _untype_flags(command)
        return super().main(*args, **kwargs)

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as err:  # raised while a subcommand parses its arguments
            hint = quoting_hint(err)
            if hint:
                err.message = f"{err.message}\n{hint}"
            raise


def _walk(command: typer.core.TyperCommand | TyperGroup) -> Iterator[Any]:
    yield command
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            yield from _walk(sub)  # type: ignore[arg-type]


def _untype_flags(command: Any) -> None:
    help_option = command.get_help_option(typer.Context(command))
    for param in [*command.params, help_option]:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""  # the rich help prints a metavar in place of the type


def quoting_hint(err: UsageError) -> str | None:
    """For "unexpected extra argument(s)" on a command taking phones or names: how to
    quote. `None` for any other error, or a command that takes neither."""
    found = _EXTRA.match(err.message)
    if found is None or err.ctx is None:
        return None
    extra = found["extra"]
    params = [p for p in err.ctx.command.params if p.name in PHONE_PARAMS | NAME_PARAMS]
    if not params:
        return None
    phone = _PHONE_LIKE.fullmatch(extra) is not None
    what = "phone number" if phone else "name"
    wanted = PHONE_PARAMS if phone else NAME_PARAMS
    candidates = [p for p in params if p.name in wanted]
    if len(candidates) != 1 or not isinstance(err.ctx.params.get(candidates[0].name), str):
        return f"put the {what} in quotes: {EXAMPLES[what]}"
    [param] = candidates
    text = f"{err.ctx.params[param.name]} {extra}"
    quoted = f'"{text}"' if '"' not in text else shlex.quote(text)
    if isinstance(param, TyperOption):
        flag = max((o for o in param.opts if o.startswith("--")), key=len, default=param.opts[0])
        return f"put the {what} in quotes: {flag} {quoted}"
    return f"put the {what} in quotes: {err.ctx.command_path} {quoted}"
