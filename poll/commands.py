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
from typing import TYPE_CHECKING

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from tqdm import tqdm

from poll import db, jobs, reports
from poll.config import store_base_url
from poll.errors import Invalid, PollError
from poll.i18n import LANGUAGES, pick
from poll.models import utcnow
from poll.services import (
    audit,
    lifecycle,
    links,
    operators,
    outbox,
    polls,
    release,
    retention,
)
from poll.services.release import csv_chunks, json_lines
from poll.simulate import scenario
from poll.sms import dispatcher, gateways, routes

if TYPE_CHECKING:
    from poll import live_simulation
    from poll.services import simulation


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
@click.option("--base-url", metavar="URL",
              help="Keep URL (e.g. https://poll.example.iq) as the address personal links are built from; "
                   "POLL_BASE_URL, if set, wins.")
@with_appcontext
def init_command(base_url: str | None) -> None:
    """Create the database, or bring its schema up to date (and keep the public address links are built from)."""
    if base_url is not None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query or parsed.fragment:
            raise click.ClickException(f"--base-url {base_url!r} is not an address like https://poll.example.iq")
        store_base_url(Path(current_app.instance_path), base_url)
        click.echo(f"links will be built from {base_url.rstrip('/')} (kept in {current_app.instance_path})")
        if os.environ.get("POLL_BASE_URL"):
            click.echo(f"note: POLL_BASE_URL={os.environ['POLL_BASE_URL']} is set here and wins over it")
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
    from poll.services import demo
    report = demo.load_demo(session, population=population, sample=sample, seed=seed)
    click.echo(report.summary())


@command_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host: str, port: int) -> None:
    """Serve the app with the built-in server (use gunicorn, scripts/serve, under load), and run its background jobs.

    A consumer thread (POLL_JOBS_SERVE_WORKERS, default 1) runs the jobs the
    pages start, so a simulation from the browser needs no other command.
    """
    app = current_app._get_current_object()
    workers = int(app.config["JOBS_SERVE_WORKERS"])
    consumer = jobs.start_consumer(app, workers) if workers > 0 else None
    try:
        app.run(host=host, port=port, threaded=True, load_dotenv=False)
    finally:
        if consumer is not None:
            consumer.stop()


@command_group.command("worker")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Consumer threads.")
@with_appcontext
def worker_command(workers: int) -> None:
    """Run background jobs (simulations started from the browser) apart from the web server, until Ctrl-C.

    The queue is POLL_REDIS_URL when set (several machines may run workers),
    else a SQLite file in the instance folder (workers on this machine).
    Under gunicorn (scripts/serve) jobs run only where `poll worker` runs.
    """
    jobs.worker(current_app._get_current_object(), workers)


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
    poll = lifecycle.create(session, spec, by=None, warnings=warnings)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
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
    poll = polls.get_poll(session, slug)
    lifecycle.perform(session, poll, "open", _settings(), by=None, now=utcnow(), opens_at=_utc(at_), until=_utc(until))
    click.echo(f"{poll.slug} is open from {poll.opens_at:%Y-%m-%d %H:%M} UTC" + (
        f" until {poll.closes_at:%Y-%m-%d %H:%M} UTC" if poll.closes_at else ""))


@polls_group.command("close")
@click.argument("slug")
@unit_of_work
def polls_close(session, slug: str) -> None:
    """Close poll SLUG: no more answers are accepted."""
    poll = polls.get_poll(session, slug)
    lifecycle.perform(session, poll, "close", _settings(), by=None, now=utcnow())
    click.echo(f"{poll.slug} is closed")


@polls_group.command("purge")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask: destroy them.")
@unit_of_work
def polls_purge(session, slug: str, yes: bool) -> None:
    """Destroy the contact data of closed poll SLUG's recipients: numbers, links, outbox texts (irreversible).

    Answers, tallies and results stay as they are. The dispatcher does this by
    itself POLL_RETENTION_DAYS after a poll closes (or the poll's own
    retention_days). Audited.
    """
    poll = polls.get_poll(session, slug)
    if poll.phase(utcnow()) != "closed":
        raise click.ClickException(f"poll {slug} is not closed: close it first (`poll polls close {slug}`)")
    if not yes:
        click.confirm(f"Destroy every phone number, link and SMS text of poll {slug}'s recipients? "
                      "This cannot be undone", abort=True)
    purged = retention.purge(session, poll, now=utcnow(), via="cli")
    click.echo(f"poll {slug}: {purged.summary()}; answers and results are kept")


def _settings() -> lifecycle.Settings:
    return lifecycle.Settings.of(current_app.config)


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
    report = lifecycle.import_audience(session, poll, file, by=None, batch_size=current_app.config["BULK_BATCH_SIZE"])
    for line, reason in report.invalid:
        click.echo(f"line {line}: {reason}", err=True)
    click.echo(report.summary())


@command_group.command("invite")
@click.argument("slug")
@unit_of_work
def invite_command(session, slug: str) -> None:
    """Issue a personal link to every recipient of poll SLUG who has none yet."""
    poll = polls.get_poll(session, slug)
    issued = lifecycle.perform(session, poll, "invite", _settings(), by=None, now=utcnow()).count
    click.echo(f"{issued} links issued; {links.invited(session, poll)} in all")


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
@click.option("--background", is_flag=True,
              help="Queue it as a background job instead (run by `poll serve` or `poll worker`; it replaces the "
                   "poll's earlier simulation) and print the page that follows it.")
@with_appcontext
def simulate_command(slug, scenario_name, population, sample, seed, live_url, concurrency, speed,
                     max_seconds, replications, weight_education, reset, discard_real_data, as_json,
                     background) -> None:
    """Simulate respondents to poll SLUG: in-process (default), --live over HTTP, or --replications K.

    Builds a synthetic population of Iraqi mobile subscribers with known true
    opinions, sends the poll to a sample and plays out the scenario: delivery,
    who answers and when, forwarded links, repeat attempts, guessed tokens.
    In-process and Monte Carlo runs are one transaction; a live run commits
    its audience and links before the phones use them (poll.live_simulation).
    """
    from poll.services import simulation
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
        if background and (live_url or weight_education or discard_real_data):
            raise Invalid("--background runs in-process or --replications on the server's queue: leave out --live, "
                          "--weight-education and --discard-real-data")
        base = _live_target(live_url) if live_url else None
    except PollError as exc:
        raise click.ClickException(str(exc)) from None
    if background:
        request = jobs.SimulationRequest(slug, scenario_name, population, sample, seed, replications or 0, "in-process")
        job = in_one_transaction(lambda session: jobs.start_simulation(session, request, by=None))
        jobs.enqueue(current_app._get_current_object(), job)
        click.echo(f"job {job.id} queued: {current_app.config['BASE_URL']}/admin/jobs/{job.id}")
        return
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
    from poll.simulate import live
    try:
        return live.check_target(url)
    except live.LiveError as exc:
        raise Invalid(str(exc)) from None


def _english_labels(poll) -> dict[str, str]:
    return {option.code: pick(option.label, LANGUAGES["en"]) for option in poll.options}


def _monte_carlo(session, slug: str, plan: simulation.Plan, replications: int, weight_education: bool,
                 as_json: bool) -> None:
    from poll.services import simulation
    from poll.simulate import answering, montecarlo
    from poll.simulate import report as mc_report
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
    from poll.services import simulation
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
    from poll import live_simulation
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
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "sav", "dta", "sps", "do", "html"]), default="csv",
              show_default=True, help="csv, json (JSON lines), an SPSS (sav) or Stata (dta) file of the answers, "
              "SPSS (sps) or Stata (do) syntax that labels the answers CSV, or html (a codebook).")
@click.option("--what", type=click.Choice(["answers", "results", "methodology", "codebook"]), default="answers",
              show_default=True, help="The answers, the results table, the methodology statement (--format json), "
              "or the codebook of the answers' columns (--format html or csv).")
@click.option("--language", type=click.Choice(list(LANGUAGES)),
              help="The labels' language in sav and dta files (default: the poll's).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of standard output (sav and dta need one).")
@click.option("--delimiter", type=click.Choice([",", ";", "tab"]), default=",", show_default=True,
              help="What separates a CSV's fields (; where a spreadsheet takes the comma as the decimal mark).")
@click.option("--bom", is_flag=True, help="Start a CSV with a UTF-8 byte order mark, so that Excel reads Arabic.")
@unit_of_work
def export_command(session, slug: str, fmt: str, what: str, language: str | None, output: Path | None,
                   delimiter: str, bom: bool) -> None:
    """Write poll SLUG's answers (one row per response, a column per question) or results."""
    poll = polls.get_poll(session, slug)
    if (delimiter != "," or bom) and fmt not in ("csv", "sps", "do"):
        raise PollError("--delimiter and --bom are for --format csv (and --delimiter for the sps and do syntax)")
    if what == "codebook" and fmt not in ("html", "csv"):
        raise PollError("the codebook comes as --format html or csv")
    if fmt == "html" and what != "codebook" or fmt in ("sps", "do") and what != "answers":
        raise PollError(f"--format {fmt} is for " + ("--what codebook" if fmt == "html" else "the answers"))
    if what == "codebook" or fmt in ("sps", "do"):
        language = language or poll.default_language
        text = (release.answers_codebook(poll, fmt, language) if what == "codebook"
                else release.answers_syntax(poll, fmt, language, delimiter))
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            click.echo(f"wrote {output}", err=True)
        return
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
            for chunk in _export_chunks(session, poll, fmt, what, delimiter, bom):
                file.write(chunk)
        click.echo(f"wrote {output}", err=True)
        return
    for chunk in _export_chunks(session, poll, fmt, what, delimiter, bom):
        click.echo(chunk, nl=False)


def _export_chunks(session, poll, fmt: str, what: str, delimiter: str = ",", bom: bool = False):
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
    if fmt == "csv":
        yield from csv_chunks(header, rows, delimiter=delimiter, bom=bom)
    else:
        yield from json_lines(header, rows)


@command_group.group("sms")
def sms_group() -> None:
    """Preview and queue the SMS that carries each personal link."""


@sms_group.command("preview")
@click.argument("slug")
@unit_of_work
def sms_preview(session, slug: str) -> None:
    """Show poll SLUG's SMS and reminder in each language: text, encoding, segments, and the cost for its audience.

    The last lines give the longest message (what a send costs per number at
    worst) and the total of the invitations.
    """
    config = current_app.config
    poll = polls.get_poll(session, slug)
    price, currency = float(config["SMS_PRICE_PER_SEGMENT"]), config["SMS_CURRENCY"]
    total = 0.0
    items = outbox.preview(session, poll, config["BASE_URL"], price, reminders=True)
    for item in items:
        enc = item.encoding
        warning = "  (over the limit of %d segments)" % config["SMS_MAX_SEGMENTS"] if (
            enc.segments > int(config["SMS_MAX_SEGMENTS"])) else ""
        click.echo(f"[{_preview_name(item)}] {item.text}")
        click.echo(f"     {enc.name}, {enc.units} units, {enc.segments} segment(s) of {enc.part_limit if enc.segments > 1 else enc.single_limit}"
                   f"; {item.recipients:,} recipients; {item.cost:,.2f} {currency}{warning}")
        total += 0.0 if item.reminder else item.cost
    worst = outbox.longest(items)
    click.echo(f"longest: [{_preview_name(worst)}] {worst.encoding.segments} segment(s), "
               f"{worst.encoding.segments * price:,.2f} {currency} a message")
    click.echo(f"total: {total:,.2f} {currency} at {price:g} {currency} a segment (invitations; each round of "
               "reminders costs about as much again)")


def _preview_name(item: outbox.Preview) -> str:
    return ", ".join([item.language] + ([item.variant] if item.variant else []) + (["reminder"] if item.reminder else []))


@sms_group.command("queue")
@click.argument("slug")
@unit_of_work
def sms_queue(session, slug: str) -> None:
    """Queue one invitation SMS per link of poll SLUG that has none (opted-out numbers skipped).

    Refused, with nothing queued: a draft poll, no sender, and through Kannel
    links to a loopback or plain-http address.
    """
    poll = polls.get_poll(session, slug)
    queued = lifecycle.perform(session, poll, "queue", _settings(), by=None, now=utcnow()).count
    click.echo(f"{queued:,} messages queued; `poll dispatch` sends them")


@sms_group.command("retry")
@click.argument("slug")
@unit_of_work
def sms_retry(session, slug: str) -> None:
    """Queue poll SLUG's failed messages again, with a fresh horizon (opted-out numbers stay out)."""
    poll = polls.get_poll(session, slug)
    queued = lifecycle.perform(session, poll, "retry", _settings(), by=None, now=utcnow()).count
    click.echo(f"{queued:,} failed messages queued again; `poll dispatch` sends them")


@sms_group.command("remind")
@click.argument("slug")
@click.option("--after", "hours", type=click.FloatRange(min=0), default=24.0, show_default=True,
              help="Hours since the last message before a reminder.")
@unit_of_work
def sms_remind(session, slug: str, hours: float) -> None:
    """Queue reminders to recipients of poll SLUG who have not answered (at most POLL_SMS_MAX_REMINDERS each)."""
    poll = polls.get_poll(session, slug)
    queued = lifecycle.perform(session, poll, "remind", _settings(), by=None, now=datetime.now(UTC),
                               remind_after=timedelta(hours=hours)).count
    click.echo(f"{queued:,} reminders queued")


@command_group.command("dispatch")
@click.option("--once", is_flag=True, help="Drain the outbox, then exit (also when the gateway is down).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True),
              help="Messages per second (POLL_SMS_RATE); with POLL_SMS_ROUTES each route's cap paces it instead.")
@click.option("--batch", type=click.IntRange(1, 10_000), help="Messages claimed at a time (POLL_SMS_BATCH).")
@with_appcontext
def dispatch_command(once: bool, rate: float | None, batch: int | None) -> None:
    """Send queued SMS through the configured gateway (POLL_SMS_GATEWAY), at a steady rate.

    Several dispatchers may run at once on PostgreSQL; on SQLite run one.
    While the gateway is down it pauses and tries again; see poll.sms.dispatcher.
    POLL_SMS_ROUTES sends each carrier's numbers through its own SMSC at its
    own cap, at most POLL_SMS_WINDOW messages in flight per route (poll.sms.routes).
    """
    config = current_app.config
    try:
        gateway = gateways.from_config(config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    secret = urllib.parse.quote(str(config["SMS_SECRET"]), safe="")
    try:
        sms_routes = routes.parse(str(config["SMS_ROUTES"] or ""))
        window = int(config["SMS_WINDOW"])
    except ValueError as exc:
        raise click.ClickException(f"POLL_SMS_ROUTES or POLL_SMS_WINDOW: {exc}") from None
    if window < 1:
        raise click.ClickException("POLL_SMS_WINDOW must be at least 1 message in flight per route")
    settings = dispatcher.Settings(
        rate=rate or float(config["SMS_RATE"]),
        batch=batch or int(config["SMS_BATCH"]),
        lease=timedelta(seconds=float(config["SMS_LEASE_SECONDS"])),
        horizon=timedelta(hours=float(config["SMS_GIVE_UP_HOURS"])),
        max_pause=float(config["SMS_MAX_PAUSE_SECONDS"]),
        dlr_url=lambda message_id: f"{config['BASE_URL']}/sms/kannel/dlr?secret={secret}&message={message_id}&status=%d"
                                   "&answer=%A",
        retention_days=None if config["RETENTION_DAYS"] in (None, "") else float(config["RETENTION_DAYS"]),
        routes=sms_routes, window=window, longest=int(config["SMS_MAX_SEGMENTS"]),
    )
    runner = dispatcher.Dispatcher(current_app.extensions["poll.db"], gateway, settings)
    try:
        report = runner.run(once=once)
    except sa.exc.OperationalError as exc:
        raise click.ClickException(_database_problem(exc)) from None
    except KeyboardInterrupt:
        return
    if report.purged:
        click.echo(f"contact data destroyed (retention): {', '.join(report.purged)}")
    click.echo(f"{report.handed:,} messages handed to the {gateway.name} gateway; outbox: "
               + ", ".join(f"{state} {count:,}" for state, count in sorted(report.counts.items())))
    if report.unavailable:
        raise click.ClickException(f"the {gateway.name} gateway is unavailable: the rest stay queued, "
                                   "no attempt spent; run `poll dispatch` again when it is back")


# Every command by name, for the console command and for each app's `app.cli`.
ALL = command_group.commands
