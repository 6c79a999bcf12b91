"""`poll operators …`: accounts, passwords and API tokens."""

from __future__ import annotations

import os
import sys

import click

from poll.commands._base import command_group, unit_of_work
from poll.errors import Invalid
from poll.models import utcnow
from poll.services.access import operators


@command_group.group("operators")
def operators_group() -> None:
    """Manage the people who log in to dashboards."""


@operators_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="viewer", show_default=True)
@unit_of_work
def operators_create(session, name: str, role: str) -> None:
    """Create operator NAME; the password comes from POLL_OPERATOR_PASSWORD or a prompt."""
    operator = operators.create_operator(session, name, _new_password(), role)
    click.echo(f"operator {operator.name} created ({operator.role})")


def _new_password() -> str:
    password = os.environ.get("POLL_OPERATOR_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise Invalid("set POLL_OPERATOR_PASSWORD, or run this in a terminal to be asked for the password")
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    return password


@operators_group.command("list")
@unit_of_work
def operators_list(session) -> None:
    """List operators: name, role, enabled or disabled, last login, live sessions and tokens."""
    for operator, held in operators.list_operators(session):
        state = "disabled" if operator.is_disabled else "enabled"
        last = f"{operator.last_login_at:%Y-%m-%d %H:%M} UTC" if operator.last_login_at else "never"
        click.echo(f"{operator.name}\t{operator.role}\t{state}\tlast login {last}\t{held} live sessions and tokens")


@operators_group.command("disable")
@click.argument("name")
@unit_of_work
def operators_disable(session, name: str) -> None:
    """Disable operator NAME: no more logins, and every session and token of theirs ends now."""
    operators.set_disabled(session, operators.get_by_name(session, name), True, now=utcnow())
    click.echo(f"operator {name} is disabled; their sessions and tokens are revoked")


@operators_group.command("enable")
@click.argument("name")
@unit_of_work
def operators_enable(session, name: str) -> None:
    """Let a disabled operator NAME log in again."""
    operators.set_disabled(session, operators.get_by_name(session, name), False, now=utcnow())
    click.echo(f"operator {name} is enabled")


@operators_group.command("reset-password")
@click.argument("name")
@unit_of_work
def operators_reset_password(session, name: str) -> None:
    """Give operator NAME a new password (POLL_OPERATOR_PASSWORD or a prompt); ends their sessions and tokens."""
    operator = operators.get_by_name(session, name)
    operators.reset_password(session, operator, _new_password(), now=utcnow())
    click.echo(f"password of {name} reset; their sessions and tokens are revoked")


@operators_group.command("delete")
@click.argument("name")
@unit_of_work
def operators_delete(session, name: str) -> None:
    """Delete operator NAME; the audit trail keeps their name on what they did."""
    operators.delete_operator(session, operators.get_by_name(session, name))
    click.echo(f"operator {name} deleted")


@operators_group.command("token")
@click.argument("name")
@click.option("--revoke", is_flag=True, help="Revoke every API token of NAME instead of making one.")
@unit_of_work
def operators_token(session, name: str, revoke: bool) -> None:
    """Make an API token for operator NAME, shown once (send it as 'Authorization: Bearer TOKEN')."""
    operator = operators.get_by_name(session, name)
    if revoke:
        click.echo(f"{operators.revoke_tokens(session, operator, now=utcnow())} tokens of {name} revoked")
        return
    click.echo(operators.issue_token(session, operator, now=utcnow()))
    click.echo(f"API token for {name} ({operator.role}): shown once, kept only as a digest. "
               f"Revoke with `poll operators token {name} --revoke`.", err=True)
