"""`poll simulate`: simulated respondents in-process, over HTTP, or as Monte Carlo."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import with_appcontext
from tqdm import tqdm

from poll.commands._base import command_group, english_labels, in_one_transaction
from poll.commands.results import print_results
from poll.errors import Invalid, PollError
from poll.runners import jobs
from poll.services.access import audit
from poll.services.definition import polls
from poll.simulate import scenario

if TYPE_CHECKING:
    from poll.runners import live_simulation
    from poll.services.simulations import simulation


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
    its audience and links before the phones use them (poll.runners.live_simulation).
    """
    from poll.services.simulations import simulation
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
    in_one_transaction(lambda session: print_results(session, slug, as_json))
    if requests and not as_json:  # with --json, the document's simulation.live says the same
        click.echo("  live requests (kind status): " + ", ".join(f"{key}: {n:,}" for key, n in requests.by_kind().items()))


def _live_target(url: str) -> str:
    from poll.simulate import live
    try:
        return live.check_target(url)
    except live.LiveError as exc:
        raise Invalid(str(exc)) from None


def _monte_carlo(session, slug: str, plan: simulation.Plan, replications: int, weight_education: bool,
                 as_json: bool) -> None:
    from poll.services.simulations import simulation
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
    click.echo(json.dumps(summary) if as_json else mc_report.montecarlo_table(mc, chosen.name, english_labels(poll)))


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
    from poll.services.simulations import simulation
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
    from poll.runners import live_simulation
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
