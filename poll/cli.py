"""The `poll` console command: the commands of `poll.commands`, with the app `create_app` builds."""

from __future__ import annotations

import logging

import click
from flask.cli import ScriptInfo

from poll import create_app
from poll.commands import ALL, command_group
from poll.errors import PollError

log = logging.getLogger("poll")


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
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            # A traceback shows the values in play (SQL parameters, a message's text): phone numbers and personal
            # links. The operator gets one line, the log the error's class, and neither any value.
            log.error("a poll command failed: %s", type(exc).__name__)
            raise click.ClickException(
                f"the command stopped on an unexpected {type(exc).__name__}; what it had not finished was rolled "
                "back. Run it again, and report the error's name if it happens again.") from None


cli = PollGroup(name="poll", commands=ALL, help=command_group.help)

if __name__ == "__main__":
    cli()
