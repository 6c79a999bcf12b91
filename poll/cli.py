"""The `poll` console command: the commands of `poll.commands`, with the app `create_app` builds."""

from __future__ import annotations

import click
from flask.cli import ScriptInfo

from poll import create_app
from poll.commands import ALL, command_group
from poll.errors import PollError


class PollGroup(click.Group):
    """A click group whose commands find the app built by `create_app`."""

    def make_context(self, info_name, args, parent=None, **extra):
        extra.setdefault("obj", ScriptInfo(create_app=create_app, set_debug_flag=False))
        return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        # Building the app can refuse too (a bad POLL_DATABASE_URL): one line, not a traceback.
        try:
            return super().invoke(ctx)
        except PollError as exc:
            raise click.ClickException(str(exc)) from None


cli = PollGroup(name="poll", commands=ALL, help=command_group.help)

if __name__ == "__main__":
    cli()
