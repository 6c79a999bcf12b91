"""The `poll` commands: a thin shell over the services.

Each command is one unit of work: it gets a session, calls services, and
commits once at the end; a refusal rolls everything back and prints one line.
They are registered on every app's `app.cli` (so `app.test_cli_runner()`
runs them) and make up the `poll` console command (`poll.cli`).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from tqdm import tqdm

from poll import db, live_simulation, reports
from poll.errors import Invalid, PollError
from poll.i18n import LANGUAGES, pick
from poll.models import utcnow
from poll.services import (
    audiences,
    audit,
    demo,
    links,
    operators,
    outbox,
    polls,
    release,
    simulation,
)
from poll.services.release import csv_chunks, json_lines
from poll.simulate import answering, live, montecarlo, scenario
from poll.simulate import report as mc_report
from poll.sms import dispatcher, gateways


@click.group()
def command_group() -> None:
    """Run SMS polls by personal link, simulate respondents, and read the results honestly."""


def unit_of_work(command):
    """Run `command` with the session as its first argument; commit once, or roll back and exit 1.

    The transaction is a writer from its start (`db.begin_write`): most
    commands write, if only to the audit trail, and on SQLite a transaction
    that read first could not wait for another writer.
    """

    @functools.wraps(command)
    @with_appcontext
    def run(*args, **kwargs):
        return in_one_transaction(lambda session: command(session, *args, **kwargs))

    return run


def in_one_transaction(work):
    """`work(session)` as one unit of work: commit once, or roll back and exit 1 with one line."""
    session = db.get_session()
    try:
        db.begin_write(session)
        result = work(session)
        session.commit()
        return result
    except PollError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    except sa.exc.OperationalError as exc:
        session.rollback()
        raise click.ClickException(_database_problem(exc)) from None


def _database_problem(exc: sa.exc.OperationalError) -> str:
    url = sa.make_url(current_app.config["DATABASE_URL"]).render_as_string(hide_password=True)
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if "no such table" in reason or "does not exist" in reason and "relation" in reason:
        return f"the database {url} has no schema yet: run `poll init` first"
    return f"cannot use the database {url}: {reason} (check POLL_DATABASE_URL)"


@command_group.command("init")
@with_appcontext
def init_command() -> None:
    """Create the database, or bring its schema up to date."""
    url = current_app.config["DATABASE_URL"]
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
    except sa.exc.OperationalError as exc:
        raise click.ClickException(_database_problem(exc)) from None
    finally:
        engine.dispose()
    click.echo(f"database ready: {sa.make_url(url).render_as_string(hide_password=True)}")


@command_group.command("demo")
@click.option("--population", default=200_000, show_default=True, help="Size of the synthetic population.")
@click.option("--sample", default=20_000, show_default=True, help="How many of them get the poll.")
@click.option("--seed", default=2024, show_default=True, help="Seed of the simulation.")
@unit_of_work
def demo_command(session, population: int, sample: int, seed: int) -> None:
    """Load the article's poll (coalition-2024), answered by a simulated audience (baseline scenario)."""
    report = demo.load_demo(session, population=population, sample=sample, seed=seed)
    click.echo(report.summary())


@command_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host: str, port: int) -> None:
    """Serve the app with the built-in server (use gunicorn, scripts/serve, under load)."""
    current_app.run(host=host, port=port, threaded=True, load_dotenv=False)


@command_group.group("polls")
def polls_group() -> None:
    """Create, list, open and close polls."""


@polls_group.command("create")
@click.argument("definition", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--builtin", type=click.Choice(polls.BUILTINS), is_flag=False, flag_value=polls.BUILTIN,
              help=f"Create a poll shipped with poll (alone: {polls.BUILTIN}, the article's poll).")
@unit_of_work
def polls_create(session, definition: Path | None, builtin: str | None) -> None:
    """Create a draft poll from a DEFINITION file (TOML, or an XLSForm .xlsx) or --builtin [NAME]."""
    if (definition is None) == (builtin is None):
        raise PollError("give either a DEFINITION file or --builtin")
    warnings: list[str] = []
    spec = polls.builtin_definition(builtin) if builtin else polls.read_definition(definition, warnings)
    poll = polls.create_poll(session, spec)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    audit.record(session, "poll-created", poll.slug, detail={"via": "cli"})
    questions = len(poll.questions)
    click.echo(f"created poll {poll.slug} (draft, {len(poll.options)} options"
               + (f", {questions} questions)" if questions > 1 else ")"))


@polls_group.command("show")
@click.argument("slug")
@click.option("--language", type=click.Choice(list(LANGUAGES)), help="Show the texts in one language only.")
@unit_of_work
def polls_show(session, slug: str, language: str | None) -> None:
    """Print poll SLUG's questionnaire: each question, its type, when it is asked, and its choices."""
    poll = polls.get_poll(session, slug)
    click.echo(reports.questionnaire(poll, polls.questions_of(poll), language))


@polls_group.command("list")
@unit_of_work
def polls_list(session) -> None:
    """List polls with their status and number of links."""
    for poll in polls.list_polls(session):
        click.echo(f"{poll.slug}\t{poll.status}\t{links.count_links(session, poll)} links")


@polls_group.command("open")
@click.argument("slug")
@click.option("--at", "at_", type=click.DateTime(), help="Open from this time (UTC) instead of now.")
@click.option("--until", type=click.DateTime(), help="Close by itself at this time (UTC).")
@unit_of_work
def polls_open(session, slug: str, at_: datetime | None, until: datetime | None) -> None:
    """Open poll SLUG for answers."""
    poll = polls.open_poll(session, polls.get_poll(session, slug), at=_utc(at_), until=_utc(until))
    audit.record(session, "poll-opened", poll.slug, detail={"via": "cli"})
    click.echo(f"{poll.slug} is open from {poll.opens_at:%Y-%m-%d %H:%M} UTC" + (
        f" until {poll.closes_at:%Y-%m-%d %H:%M} UTC" if poll.closes_at else ""))


@polls_group.command("close")
@click.argument("slug")
@unit_of_work
def polls_close(session, slug: str) -> None:
    """Close poll SLUG: no more answers are accepted."""
    poll = polls.close_poll(session, polls.get_poll(session, slug))
    audit.record(session, "poll-closed", poll.slug, detail={"via": "cli"})
    click.echo(f"{poll.slug} is closed")


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None else None


@command_group.group("audience")
def audience_group() -> None:
    """Manage the recipients a poll is sent to."""


@audience_group.command("import")
@click.argument("slug")
@click.argument("file", type=click.File("rb"))
@unit_of_work
def audience_import(session, slug: str, file) -> None:
    """Import recipients of poll SLUG from a CSV FILE (header row; phone required).

    Optional columns: governorate, sex (M/F), age or age_band, language (ar/ku/en);
    others are kept as attributes. Invalid rows are reported and skipped.
    """
    poll = polls.get_poll(session, slug)
    report = audiences.import_csv(session, poll, file, batch_size=current_app.config["BULK_BATCH_SIZE"])
    for line, reason in report.invalid:
        click.echo(f"line {line}: {reason}", err=True)
    audit.record(session, "audience-imported", slug, detail={
        "via": "cli", "imported": report.imported, "invalid": len(report.invalid)})
    click.echo(report.summary())


@command_group.command("invite")
@click.argument("slug")
@unit_of_work
def invite_command(session, slug: str) -> None:
    """Issue a personal link to every recipient of poll SLUG who has none yet."""
    poll = polls.get_poll(session, slug)
    issued = links.issue_links(session, poll, batch_size=current_app.config["BULK_BATCH_SIZE"])
    audit.record(session, "links-issued", slug, detail={"via": "cli", "issued": issued})
    click.echo(f"{issued} links issued; {links.count_links(session, poll)} in all")


@command_group.command("links")
@click.argument("slug")
@click.option("--limit", type=click.IntRange(min=0), help="Print at most this many.")
@click.option("--language", type=click.Choice(list(LANGUAGES)), help="Only links whose page opens in this language.")
@click.option("--unanswered", is_flag=True, help="Only links not answered yet.")
@unit_of_work
def links_command(session, slug: str, limit: int | None, language: str | None, unanswered: bool) -> None:
    """Print the personal links of poll SLUG, one URL a line (audited: each link lets its holder answer)."""
    poll = polls.get_poll(session, slug)
    printed = 0
    for url in links.personal_links(session, poll, current_app.config["BASE_URL"], limit=limit, language=language,
                                    unanswered=unanswered):
        click.echo(url)
        printed += 1
    audit.record(session, "links-printed", slug, detail={"via": "cli", "links": printed})


@command_group.command("simulate")
@click.argument("slug")
@click.option("--scenario", "scenario_name", default="baseline", show_default=True,
              help=f"A shipped scenario ({', '.join(scenario.shipped())}) or a .toml file.")
@click.option("--population", default=200_000, show_default=True, type=int, help="Size of the synthetic population.")
@click.option("--sample", default=50_000, show_default=True, type=int, help="How many of them are sent the poll.")
@click.option("--seed", default=7, show_default=True, type=int, help="The same seed gives the same result.")
@click.option("--live", "live_url", metavar="URL", help="Answer over HTTP against a running server on this machine.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256), help="With --live.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True),
              help="With --live: simulated seconds per real second (default: the cut-off in about 2 minutes).")
@click.option("--max-seconds", default=900, show_default=True, type=click.FloatRange(1, 86_400),
              help="With --live: stop after this long.")
@click.option("--replications", type=click.IntRange(min=1, max=1_000_000),
              help="Monte Carlo: replicate the poll this many times without the database.")
@click.option("--weight-education", is_flag=True,
              help="With --replications: rake on education too, as the poll's education question allows.")
@click.option("--reset", is_flag=True, help="First clear the poll's simulated audience, links, answers and runs.")
@click.option("--discard-real-data", is_flag=True,
              help="With --reset: also delete imported recipients and their answers (refused without it).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@with_appcontext
def simulate_command(slug, scenario_name, population, sample, seed, live_url, concurrency, speed,
                     max_seconds, replications, weight_education, reset, discard_real_data, as_json) -> None:
    """Simulate respondents to poll SLUG: in-process (default), --live over HTTP, or --replications K.

    Builds a synthetic population of Iraqi mobile subscribers with known true
    opinions, sends the poll to a sample and plays out the scenario: delivery,
    who answers and when, forwarded links, repeat attempts, guessed tokens.
    In-process and Monte Carlo runs are one transaction; a live run commits
    its audience and links before the phones use them (poll.live_simulation).
    """
    try:
        chosen = scenario.load(scenario_name)
        plan = simulation.Plan(chosen, population, sample, seed)
        plan.check()
        if replications and (live_url or reset):
            raise Invalid("--replications runs without the database: leave out --live and --reset")
        if weight_education and not replications:
            raise Invalid("--weight-education goes with --replications")
        if discard_real_data and not reset:
            raise Invalid("--discard-real-data goes with --reset")
        base = _live_target(live_url) if live_url else None
    except PollError as exc:
        raise click.ClickException(str(exc)) from None
    if replications:
        in_one_transaction(lambda session: _monte_carlo(session, slug, plan, replications, weight_education, as_json))
        return
    requests = None
    if base:
        requests = _simulate_live(slug, plan, base, speed, concurrency, max_seconds, reset, discard_real_data)
    else:
        in_one_transaction(lambda session: _simulate_in_process(session, slug, plan, reset, discard_real_data))
    in_one_transaction(lambda session: _print_results(session, slug, as_json))
    if requests and not as_json:  # with --json, the document's simulation.live says the same
        click.echo("  live requests (kind status): " + ", ".join(f"{key}: {n:,}" for key, n in requests.by_kind().items()))


def _live_target(url: str) -> str:
    try:
        return live.check_target(url)
    except live.LiveError as exc:
        raise Invalid(str(exc)) from None


def _english_labels(poll) -> dict[str, str]:
    return {option.code: pick(option.label, LANGUAGES["en"]) for option in poll.options}


def _monte_carlo(session, slug: str, plan: simulation.Plan, replications: int, weight_education: bool,
                 as_json: bool) -> None:
    poll = polls.get_poll(session, slug)
    if weight_education and not any(answering.is_education(q) for q in polls.questions_of(poll)):
        raise click.ClickException(f"poll {slug} does not ask education (a question named education with the "
                                   "levels 1-5): there is nothing to weight on")
    chosen = plan.scenario
    with tqdm(total=replications, desc="replications", unit="rep", disable=None) as bar:
        mc = montecarlo.run(chosen, population_size=plan.population_size, sample_size=plan.sample_size,
                            replications=replications, seed=plan.seed, rake_education=weight_education,
                            experiment=polls.experiment_of(poll), progress=lambda done: bar.update(1))
    summary = mc_report.montecarlo_json(mc, chosen.name)
    simulation.keep_montecarlo(session, poll, plan, mc, summary)
    click.echo(json.dumps(summary) if as_json else mc_report.montecarlo_table(mc, chosen.name, _english_labels(poll)))


class _Steps:
    """A progress bar over the named steps of a simulation."""

    def __init__(self, steps: list[str]):
        self.steps = steps
        self.bar = tqdm(total=len(steps), desc="simulating", unit="step", disable=None)

    def __call__(self, step: str) -> None:
        if self.bar.n < self.bar.total and step != self.steps[0]:
            self.bar.update(1)
        self.bar.set_postfix_str(step)

    def close(self) -> None:
        self.bar.update(self.bar.total - self.bar.n)
        self.bar.close()


WRITING_STEPS = ["drawing the population", "writing recipients", "issuing links", "delivering messages"]


def _simulate_in_process(session, slug: str, plan: simulation.Plan, reset: bool, discard_real_data: bool) -> None:
    poll = polls.get_poll(session, slug)
    if reset:
        removed = simulation.reset(session, poll, discard_real_data=discard_real_data)
        audit.record(session, "simulation-reset", slug, detail={"via": "cli", **removed})
    steps = _Steps([*WRITING_STEPS, "recording answers", "refusing duplicates and guesses"])
    try:
        simulation.run_in_process(session, poll, plan, progress=steps)
    finally:
        steps.close()


def _simulate_live(slug, plan, base, speed, concurrency, max_seconds, reset, discard_real_data,
                   ) -> live_simulation.Requests:
    time_scale = speed or plan.scenario["timing"]["cutoff_hours"] * 3600 / 120
    steps = _Steps(WRITING_STEPS)
    bar = tqdm(desc="phones answering", unit="req", disable=None)

    def on_request(total: int) -> None:
        if total:
            steps.close()
            bar.total = total
            bar.refresh()
        else:
            bar.update(1)

    try:
        requests = live_simulation.run(
            current_app.extensions["poll.db"], slug, plan, base, speed=time_scale, concurrency=concurrency,
            max_seconds=max_seconds, reset=reset, discard_real_data=discard_real_data, progress=steps,
            on_request=on_request,
        )
    except PollError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    return requests


def _print_results(session, slug: str, as_json: bool) -> None:
    poll = polls.get_poll(session, slug)
    outcome = release.operator_results(session, poll, None)
    if as_json:
        click.echo(json.dumps(release.document(outcome)))
    else:
        click.echo(reports.results_table(outcome, _english_labels(poll)))


@command_group.command("results")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@unit_of_work
def results_command(session, slug: str, as_json: bool) -> None:
    """Print the results of poll SLUG: the funnel, and raw, weighted and (simulations) true shares."""
    outcome = release.operator_results(session, polls.get_poll(session, slug), None)
    click.echo(json.dumps(release.document(outcome)) if as_json else reports.results_table(outcome))


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


@command_group.command("export")
@click.argument("slug")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "sav", "dta"]), default="csv", show_default=True,
              help="csv, json (JSON lines), or an SPSS (sav) or Stata (dta) file of the answers.")
@click.option("--what", type=click.Choice(["answers", "results", "methodology"]), default="answers", show_default=True,
              help="The answers, the results table, or the methodology statement (--format json).")
@click.option("--language", type=click.Choice(list(LANGUAGES)),
              help="The labels' language in sav and dta files (default: the poll's).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of standard output (sav and dta need one).")
@unit_of_work
def export_command(session, slug: str, fmt: str, what: str, language: str | None, output: Path | None) -> None:
    """Write poll SLUG's answers (one row per response, a column per question) or results."""
    poll = polls.get_poll(session, slug)
    if what == "methodology" and fmt != "json":
        raise PollError("the methodology statement comes as JSON: add --format json")
    if fmt in ("sav", "dta"):
        if what != "answers":
            raise PollError(f"--format {fmt} is for the answers; the results come as csv or json")
        if output is None:
            raise PollError(f"--format {fmt} writes a binary file: give it with --output FILE.{fmt}")
        audit.record(session, "export", slug, detail={"via": "cli", "what": what, "format": fmt})
        shape = release.answers_shape(session, poll, None)
        release.record_export(session, poll, None, what, fmt)
        output.write_bytes(release.answer_file(session, poll, fmt, language or poll.default_language, shape))
        click.echo(f"wrote {output}", err=True)
        return
    audit.record(session, "export", slug, detail={"via": "cli", "what": what, "format": fmt})
    if output is not None:
        with output.open("w", encoding="utf-8", newline="") as file:
            for chunk in _export_chunks(session, poll, fmt, what):
                file.write(chunk)
        click.echo(f"wrote {output}", err=True)
        return
    for chunk in _export_chunks(session, poll, fmt, what):
        click.echo(chunk, nl=False)


def _export_chunks(session, poll, fmt: str, what: str):
    if what == "methodology":
        statement = release.methodology_statement(session, poll, None, sms_sender=current_app.config["SMS_SENDER"],
                                                  contact=current_app.config["CONTACT"])
        yield json.dumps(statement, ensure_ascii=False, indent=2) + "\n"
        return
    if what == "results" and fmt == "json":
        yield json.dumps(release.operator_document(session, poll, None), ensure_ascii=False) + "\n"
        return
    if what == "results":
        release.record_export(session, poll, None, what, fmt)
        header, rows = release.result_rows(session, poll)
    else:
        shape = release.answers_shape(session, poll, None)
        release.record_export(session, poll, None, what, fmt)
        header, rows = release.answer_rows(session, poll, shape)
    yield from (csv_chunks if fmt == "csv" else json_lines)(header, rows)


@command_group.group("sms")
def sms_group() -> None:
    """Preview and queue the SMS that carries each personal link."""


@sms_group.command("preview")
@click.argument("slug")
@unit_of_work
def sms_preview(session, slug: str) -> None:
    """Show poll SLUG's SMS in each language: text, encoding, segments, and the cost for its audience."""
    config = current_app.config
    poll = polls.get_poll(session, slug)
    price, currency = float(config["SMS_PRICE_PER_SEGMENT"]), config["SMS_CURRENCY"]
    total = 0.0
    for item in outbox.preview(session, poll, config["BASE_URL"], price):
        enc = item.encoding
        warning = "  (over the limit of %d segments)" % config["SMS_MAX_SEGMENTS"] if (
            enc.segments > int(config["SMS_MAX_SEGMENTS"])) else ""
        click.echo(f"[{item.language}{f', {item.variant}' if item.variant else ''}] {item.text}")
        click.echo(f"     {enc.name}, {enc.units} units, {enc.segments} segment(s) of {enc.part_limit if enc.segments > 1 else enc.single_limit}"
                   f"; {item.recipients:,} recipients; {item.cost:,.2f} {currency}{warning}")
        total += item.cost
    click.echo(f"total: {total:,.2f} {currency} at {price:g} {currency} a segment")


@sms_group.command("queue")
@click.argument("slug")
@unit_of_work
def sms_queue(session, slug: str) -> None:
    """Queue one invitation SMS per link of poll SLUG that has none (opted-out numbers skipped)."""
    config = current_app.config
    poll = polls.get_poll(session, slug)
    queued = outbox.queue_invitations(session, poll, config["BASE_URL"], max_segments=int(config["SMS_MAX_SEGMENTS"]),
                                      sender=config["SMS_SENDER"])
    audit.record(session, "messages-queued", slug, detail={"via": "cli", "queued": queued})
    click.echo(f"{queued:,} messages queued; `poll dispatch` sends them")


@sms_group.command("retry")
@click.argument("slug")
@unit_of_work
def sms_retry(session, slug: str) -> None:
    """Queue poll SLUG's failed messages again, with a fresh horizon (opted-out numbers stay out)."""
    queued = outbox.retry_failed(session, polls.get_poll(session, slug), now=utcnow())
    audit.record(session, "messages-retried", slug, detail={"via": "cli", "queued": queued})
    click.echo(f"{queued:,} failed messages queued again; `poll dispatch` sends them")


@sms_group.command("remind")
@click.argument("slug")
@click.option("--after", "hours", type=click.FloatRange(min=0), default=24.0, show_default=True,
              help="Hours since the last message before a reminder.")
@unit_of_work
def sms_remind(session, slug: str, hours: float) -> None:
    """Queue reminders to recipients of poll SLUG who have not answered (at most POLL_SMS_MAX_REMINDERS each)."""
    config = current_app.config
    poll = polls.get_poll(session, slug)
    queued = outbox.queue_reminders(session, poll, config["BASE_URL"], after=timedelta(hours=hours),
                                    max_reminders=int(config["SMS_MAX_REMINDERS"]), now=datetime.now(UTC),
                                    sender=config["SMS_SENDER"])
    audit.record(session, "reminders-queued", slug, detail={"via": "cli", "queued": queued})
    click.echo(f"{queued:,} reminders queued")


@command_group.command("dispatch")
@click.option("--once", is_flag=True, help="Drain the outbox, then exit (also when the gateway is down).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Messages per second (POLL_SMS_RATE).")
@click.option("--batch", type=click.IntRange(1, 10_000), help="Messages claimed at a time (POLL_SMS_BATCH).")
@with_appcontext
def dispatch_command(once: bool, rate: float | None, batch: int | None) -> None:
    """Send queued SMS through the configured gateway (POLL_SMS_GATEWAY), at a steady rate.

    Several dispatchers may run at once on PostgreSQL; on SQLite run one.
    While the gateway is down it pauses and tries again; see poll.sms.dispatcher.
    """
    config = current_app.config
    try:
        gateway = gateways.from_config(config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    secret = urllib.parse.quote(str(config["SMS_SECRET"]), safe="")
    settings = dispatcher.Settings(
        rate=rate or float(config["SMS_RATE"]),
        batch=batch or int(config["SMS_BATCH"]),
        lease=timedelta(seconds=float(config["SMS_LEASE_SECONDS"])),
        horizon=timedelta(hours=float(config["SMS_GIVE_UP_HOURS"])),
        max_pause=float(config["SMS_MAX_PAUSE_SECONDS"]),
        dlr_url=lambda message_id: f"{config['BASE_URL']}/sms/kannel/dlr?secret={secret}&message={message_id}&status=%d"
                                   "&answer=%A",
    )
    runner = dispatcher.Dispatcher(current_app.extensions["poll.db"], gateway, settings)
    try:
        report = runner.run(once=once)
    except sa.exc.OperationalError as exc:
        raise click.ClickException(_database_problem(exc)) from None
    except KeyboardInterrupt:
        return
    click.echo(f"{report.handed:,} messages handed to the {gateway.name} gateway; outbox: "
               + ", ".join(f"{state} {count:,}" for state, count in sorted(report.counts.items())))
    if report.unavailable:
        raise click.ClickException(f"the {gateway.name} gateway is unavailable: the rest stay queued, "
                                   "no attempt spent; run `poll dispatch` again when it is back")


# Every command by name, for the console command and for each app's `app.cli`.
ALL = command_group.commands
