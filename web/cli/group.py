"""The `aftersales` group itself: the Context its commands share, and the one way every
command reports a refusal of the engine.

The command modules of this package add their commands to `main` (web/cli/__init__.py imports
them), so none of them imports another and this module imports none of them.
"""
from __future__ import annotations

from typing import NoReturn

import click

from engine import config, db
from engine.errors import EngineError
from engine.runtime.verbs import Runtime


class Context:
    """What a command needs: the settings (read once), sessions and the runtime (made on use)."""

    def __init__(self):
        self.settings = config.from_env()
        self._sessions = None
        self._runtime = None

    @property
    def sessions(self):
        if self._sessions is None:
            self._sessions = db.make_session_factory(db.make_engine(self.settings.database_url))
        return self._sessions

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            from engine import platform
            self._runtime = platform.runtime(self.settings)
        return self._runtime


pass_context = click.make_pass_decorator(Context, ensure=True)

# Who the audit log names for what a command does to accounts and exports.
CLI_ACTOR = "cli"


def exit_with_error(err: EngineError) -> NoReturn:
    """Print `err` to stderr and exit 1: one line per problem detail (`file:line: message`,
    `file: message` when the line is unknown, `field: message` for a form's field), then
    `Error: <message>`."""
    for detail in err.details if isinstance(err.details, list) else []:
        if isinstance(detail, dict) and "message" in detail:
            where = detail.get("file") or detail.get("field")
            if where and detail.get("line") is not None:
                where = f"{where}:{detail['line']}"
            click.echo(f"{where}: {detail['message']}" if where else detail["message"], err=True)
    click.echo(f"Error: {err.message}", err=True)
    raise click.exceptions.Exit(1)


class Group(click.Group):
    """The `aftersales` group: an EngineError from any of its commands (or their subcommands)
    ends in `exit_with_error`, so no command reports one its own way."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EngineError as err:
            exit_with_error(err)


@click.group(cls=Group)
def main():
    """After-sales (售后) process platform."""


class ElementPair(click.ParamType):
    """`--map OLD=NEW`: element OLD of one version is element NEW of another."""

    name = "OLD=NEW"

    def convert(self, value, param, ctx) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        old, sep, new = value.partition("=")
        if not sep or not old.strip() or not new.strip():
            self.fail(f"'{value}' is not old=new", param, ctx)
        return old.strip(), new.strip()


ELEMENT_PAIR = ElementPair()
