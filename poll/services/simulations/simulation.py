"""Running a simulation into the database, through the same services the web uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.db import bulk_insert, bulk_update
from poll.errors import Invalid
from poll.models import Answer, Audience, Link, Poll, Receipt, Recipient, Refusal, SimulationRun, utcnow
from poll.services.answering import answers, refusals, tallies
from poll.services.audience import audiences, links
from poll.services.definition import polls
from poll.services.releases import ledger, publication, suppression
from poll.services.simulations import runs
from poll.simulate import answering, behaviour, live, montecarlo, population, truth
from poll.simulate.scenario import OPTIONS, Scenario, education_shares
from poll.vocabulary import Channel, Outcome, PollStatus

MAX_POPULATION = 50_000_000
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """What to simulate: a scenario, sizes and a seed."""

    scenario: Scenario
    population_size: int
    sample_size: int
    seed: int

    def check(self) -> None:
        """Raise Invalid when the sizes make no sense."""
        if not 1 <= self.population_size <= MAX_POPULATION:
            raise Invalid(f"--population must be between 1 and {MAX_POPULATION:,}")
        if self.sample_size < 1:
            raise Invalid("--sample must be at least 1")
        if self.sample_size > self.population_size:
            raise Invalid(
                f"--sample ({self.sample_size:,}) cannot be larger than --population ({self.population_size:,})"
            )
        if not 0 <= self.seed < 2**63:
            raise Invalid("--seed must be a whole number from 0 to 2^63-1")


@dataclass
class Draw:
    """The simulated world of one run, before anything is written."""

    people: population.Population
    opinion: np.ndarray
    field: behaviour.Field
    # Per invitee, what their recorded answer says to every question (None where nobody answered):
    # drawn for a poll's questionnaire by `fill_in`.
    forms: list[dict | None] | None = None


def draw(plan: Plan) -> Draw:
    """Generate the population, its opinions, the sample and what happens to it; pure and seeded."""
    plan.check()
    rng = np.random.default_rng(plan.seed)
    people = population.generate(plan.population_size, rng, education_shares(plan.scenario))
    opinion = behaviour.opinions(people, plan.scenario, rng)
    invited = np.sort(rng.choice(plan.population_size, plan.sample_size, replace=False))
    return Draw(people, opinion, behaviour.field(people, opinion, invited, plan.scenario, rng))


FORM_STREAM = 1  # the random stream of the questionnaire's answers, apart from the draw's own


def fill_in(world: Draw, poll: Poll, plan: Plan) -> None:
    """Draw every recorded answer's whole form for `poll`'s questions, seeded apart from the rest of the draw.

    A forwarded link's answer is filled in with the invitee's attributes: the
    simulated world does not know who the forwardee is.
    """
    result = world.field
    chosen = np.flatnonzero(result.answered)
    people = world.people.take(result.invited[chosen])
    headline = [OPTIONS[i] for i in result.answer[chosen].tolist()]
    rng = np.random.default_rng([plan.seed, FORM_STREAM])
    given = answering.answers(polls.questions_of(poll), people, headline, plan.scenario["questionnaire"], rng)
    forms: list[dict | None] = [None] * len(result.invited)
    for position, values in zip(chosen.tolist(), given, strict=True):
        forms[position] = values
    world.forms = forms


VARIANT_STREAM = 2  # the random stream of how the way of asking moves answers


def ask_variants(world: Draw, poll: Poll, shown: list[str | None], plan: Plan) -> None:
    """Move each recorded answer as the way its link asked moves it (`behaviour.variant_effects`), seeded apart."""
    experiment = polls.experiment_of(poll)
    if experiment is None:
        return
    result = world.field
    chosen = np.flatnonzero(result.answered)
    index = {name: i for i, name in enumerate(experiment.names)}
    rng = np.random.default_rng([plan.seed, VARIANT_STREAM])
    result.answer[chosen] = behaviour.asked_answers(
        result.answer[chosen], np.array([index[shown[i]] for i in chosen.tolist()], dtype=np.int64),
        behaviour.variant_effects(experiment, plan.scenario), rng)


def check_poll(session: so.Session, poll: Poll) -> None:
    """Raise Invalid unless `poll` can take a simulation: the three answers, no links yet, not closed."""
    codes = [option.code for option in poll.options]
    if codes != list(OPTIONS):
        raise Invalid(f"the scenarios model a poll with answers 1, 2, 3; {poll.slug} has {', '.join(codes)}")
    if poll.status == PollStatus.CLOSED:
        raise Invalid(f"poll {poll.slug} is closed: simulate into an open or draft poll")
    issued = links.count_links(session, poll)
    if issued:
        raise Invalid(f"poll {poll.slug} already has {issued:,} links: add --reset to clear it first")


def real_recipients(session: so.Session, poll: Poll) -> int:
    """How many recipients of `poll`'s audience were not made by the simulator (imported, so real people)."""
    if poll.audience_id is None:
        return 0
    return session.scalar(
        sa.select(sa.func.count()).where(Recipient.audience_id == poll.audience_id, Recipient.is_simulated.is_(False))
    ) or 0


def reset(session: so.Session, poll: Poll, *, discard_real_data: bool = False) -> dict[str, int]:
    """Remove `poll`'s audience, links, answers, refusals and runs, keeping the poll itself; returns what went.

    Raises Invalid if the audience holds recipients the simulator did not make
    (an imported audience, perhaps with real answers), unless `discard_real_data`.
    """
    real = real_recipients(session, poll)
    if real and not discard_real_data:
        raise Invalid(
            f"poll {poll.slug} has {real:,} recipients that were imported, not simulated: --reset would delete "
            "them with their links and answers. Add --discard-real-data if that is what you want."
        )
    removed = {
        "links": links.count_links(session, poll),
        "answers": session.scalar(sa.select(sa.func.count()).where(Answer.poll_id == poll.id)) or 0,
        "real_recipients": real,
    }
    link_ids = sa.select(Link.id).where(Link.poll_id == poll.id)
    session.execute(sa.delete(Answer).where(Answer.poll_id == poll.id))
    session.execute(sa.delete(Receipt).where(Receipt.link_id.in_(link_ids)))
    session.execute(sa.delete(Refusal).where(Refusal.poll_id == poll.id))
    session.execute(sa.delete(SimulationRun).where(SimulationRun.poll_id == poll.id))
    session.execute(sa.delete(Link).where(Link.poll_id == poll.id))
    tallies.clear(session, poll)
    publication.forget(session, poll)
    suppression.forget(session, poll)
    ledger.forget(session, poll)
    if poll.audience_id is not None:
        audience_id = poll.audience_id
        shared = session.scalar(
            sa.select(sa.func.count()).where(Poll.audience_id == audience_id, Poll.id != poll.id)
        )
        poll.audience_id = None
        session.flush()
        if not shared:
            session.execute(sa.delete(Recipient).where(Recipient.audience_id == audience_id))
            session.execute(sa.delete(Audience).where(Audience.id == audience_id))
    session.flush()
    return removed


def run_in_process(
    session: so.Session,
    poll: Poll,
    plan: Plan,
    *,
    mode: str = "in-process",
    started_at: datetime | None = None,
    progress: Progress = lambda step: None,
    answer: bool = True,
    time_scale: float = 1.0,
) -> tuple[SimulationRun, Draw]:
    """Simulate `plan` into `poll`: recipients, links, deliveries and answers, in bulk.

    With `answer=False` only the audience, links and deliveries are written
    (the live runner then answers over HTTP). Times are simulated: the run
    starts at `started_at` (by default so that it ends now), and simulated
    seconds pass `time_scale` times faster than real ones. Returns the run
    record, with the ground truth, and the draw behind it.
    """
    check_poll(session, poll)
    progress("drawing the population")
    world = draw(plan)
    cutoff = timedelta(hours=plan.scenario["timing"]["cutoff_hours"]) / time_scale
    start = started_at or (utcnow() if not answer else utcnow() - cutoff)
    if poll.status == PollStatus.DRAFT:
        polls.open_poll(session, poll, at=start)

    progress("writing recipients")
    sample = world.people.take(world.field.invited)
    add_population(session, poll, sample)
    progress("issuing links")
    links.issue_links(session, poll)
    ids = _in_sample_order(session, poll, Link.id)
    if len(ids) != plan.sample_size:
        raise Invalid(f"poll {poll.slug}'s audience held other recipients: add --reset to clear it first")
    ask_variants(world, poll, _in_sample_order(session, poll, Link.variant), plan)
    fill_in(world, poll, plan)

    progress("delivering messages")
    result = world.field
    at = _clock(start, time_scale)
    _write_deliveries(session, poll.id, ids, result, at)
    if answer:  # live, the phones open their links by GET on the server
        progress("opening links")
        record_field_opens(session, poll, ids, world, at)

    run = SimulationRun(
        poll_id=poll.id,
        scenario=plan.scenario.name,
        mode=mode,
        seed=plan.seed,
        population_size=plan.population_size,
        sample_size=plan.sample_size,
        parameters={"scenario": dict(plan.scenario.values)},
        truth=truth.true_shares(world.people, world.opinion)
        | {"questions": answering.truth(polls.questions_of(poll), world.people)},
        margins=truth.margins(world.people),
        extras=_extras(result),
        started_at=start,
    )
    session.add(run)
    if answer:
        progress("recording answers")
        record_field_answers(session, poll, ids, world, at)
        progress("refusing duplicates and guesses")
        run.extras = run.extras | {"guesses": _refuse_attacks(session, poll, result, at)}
    session.flush()
    return run, world


def add_population(session: so.Session, poll: Poll, people: population.Population) -> int:
    """Add simulated people to `poll`'s audience in bulk, with their Faker names; returns how many were new."""
    audience = polls.audience_of(session, poll)
    before = audiences.audience_size(session, poll)
    columns = {
        "phone": people.phones(),
        "governorate": people.governorate_codes().tolist(),
        "sex": people.sex_codes().tolist(),
        "age": people.age.tolist(),
        "age_band": people.age_band_labels().tolist(),
        "language": people.language_codes().tolist(),
        "attributes": [{"name": name} for name in people.names().tolist()],
    }
    bulk_insert(session, Recipient, columns, same={"audience_id": audience.id, "is_simulated": True},
                skip_conflicts_on=("audience_id", "phone"))
    return audiences.audience_size(session, poll) - before


def _in_sample_order(session: so.Session, poll: Poll, column) -> list:
    # Recipients were written in the sample's order, so their ids give the invitee positions.
    return session.scalars(
        sa.select(column)
        .join(Recipient, Recipient.id == Link.recipient_id)
        .where(Link.poll_id == poll.id)
        .order_by(Recipient.id)
    ).all()


def _clock(start: datetime, scale: float = 1.0) -> Callable[[np.ndarray], list[datetime]]:
    def at(seconds: np.ndarray) -> list[datetime]:
        return [start + timedelta(seconds=float(value) / scale) for value in seconds]

    return at


def _write_deliveries(session: so.Session, poll_id: int, ids: list[int], result: behaviour.Field, at) -> None:
    delivered = result.delivered.tolist()
    bulk_update(session, Link, "id", {
        "id": ids,
        "sent_at": at(result.sent_at),
        "delivered_at": [when if is_delivered else None
                         for when, is_delivered in zip(at(result.delivered_at), delivered, strict=True)],
    })
    tallies.bump(session, poll_id, {"sent": len(ids), "delivered": sum(delivered)})


def record_field_opens(session: so.Session, poll: Poll, ids: list[int], world: Draw, at) -> int:
    """Open the links the simulated people opened (answered or not), through the answer page's service."""
    result = world.field
    opened = np.flatnonzero(result.opened)
    days = {ids[i]: moment.date() for i, moment in zip(opened.tolist(), at(result.opened_at[opened]), strict=True)}
    return answers.record_opens(session, poll.id, days)


def record_field_answers(session: so.Session, poll: Poll, ids: list[int], world: Draw, at) -> int:
    """Record the simulated answers, each with its whole form, through the bulk answer service."""
    result = world.field
    option_ids = {option.code: option.id for option in poll.options}
    chosen = np.flatnonzero(result.answered)
    answered_at = at(result.answered_at[chosen])
    opened_at = at(result.opened_at[chosen])
    rows = [
        answers.BulkAnswer(ids[i], option_ids[OPTIONS[result.answer[i]]], answered, opened,
                           world.forms[i] if world.forms else None)
        for i, answered, opened in zip(chosen.tolist(), answered_at, opened_at, strict=True)
    ]
    return answers.record_answers_bulk(session, poll, rows, channel=Channel.WEB)


def _refuse_attacks(session: so.Session, poll: Poll, result: behaviour.Field, at) -> dict[str, int]:
    # Duplicates go through used links: refused as already answered. Guessed
    # tokens are really looked up among every issued token before refusal.
    refusals.record_many(
        session, poll.id, Outcome.ALREADY_ANSWERED, channel=Channel.WEB, times=at(result.refused_duplicates)
    )
    guesses = links.new_tokens(result.refused_guesses)
    hits = 0
    for start in range(0, len(guesses), 5_000):
        chunk = guesses[start : start + 5_000]
        hits += session.scalar(sa.select(sa.func.count()).where(Link.token.in_(chunk))) or 0
    spread = result.sent_at.max() if len(result.sent_at) else 0.0
    times = at(np.linspace(0, spread, len(guesses))) if guesses else []
    refusals.record_many(session, None, Outcome.UNKNOWN_LINK, channel=Channel.WEB, times=times)
    return {"tried": len(guesses), "matched": hits}


def _extras(result: behaviour.Field) -> dict:
    return {
        "forwarded_answers": int(result.by_forwardee.sum()),
        "campaigners": int(len(result.campaigners)),
        "campaign_submissions": int(result.stuffing_attempts),
        "open_link_counts": {
            code: int(count) for code, count in zip(OPTIONS, behaviour.open_link_counts(result), strict=True)
        },
    }


def live_events(session: so.Session, poll: Poll, world: Draw) -> list[live.Event]:
    """The requests the simulated phones make against a live server: opens, answers, duplicates, guesses."""
    result = world.field
    tokens = _in_sample_order(session, poll, Link.token)
    shown = _in_sample_order(session, poll, Link.variant)
    questions = polls.questions_of(poll)
    experiment = polls.experiment_of(poll)

    def form(i: int) -> tuple[tuple[str, str], ...]:
        # The whole form as the link's variant posts it: a headline asked in two steps posts both.
        fields = answering.as_form(questions, world.forms[i]) if world.forms else [("option", OPTIONS[result.answer[i]])]
        variant = experiment.variant(shown[i]) if experiment else None
        if variant is None:
            return tuple(fields)
        code = next(value for name, value in fields if name == "option")
        return tuple([pair for pair in fields if pair[0] != "option"] + variant.fields_for(code))

    events = [
        live.Event(float(result.answered_at[i]), "answer", tokens[i], form(i))
        for i in np.flatnonzero(result.answered).tolist()
    ]
    # Links opened and left: a look at the form (GET), which the server records as an open.
    events += [live.Event(float(result.opened_at[i]), "open", tokens[i])
               for i in np.flatnonzero(result.opened & ~result.answered).tolist()]
    # Repeat, forwarded and campaign attempts go through links that have been used.
    events += [
        live.Event(float(at), "duplicate", tokens[owner], (("option", OPTIONS[option]),))
        for at, owner, option in zip(
            result.refused_duplicates.tolist(),
            result.refused_duplicate_owners.tolist(),
            result.refused_duplicate_answers.tolist(),
            strict=True,
        )
    ]
    spread = float(result.sent_at.max()) if len(result.sent_at) else 0.0
    guesses = links.new_tokens(result.refused_guesses)
    events += [live.Event(spread * i / max(len(guesses), 1), "guess", token) for i, token in enumerate(guesses)]
    return events


KEPT_REPLICATIONS = 5_000


def keep_montecarlo(session: so.Session, poll: Poll, plan: Plan, mc: montecarlo.MonteCarlo, summary: dict) -> None:
    """Keep a Monte Carlo run's summary and (up to 5,000 of) its estimates for the dashboard's histograms.

    Only this one row is written: the replications themselves never touch the database.
    """
    kept = slice(0, KEPT_REPLICATIONS)
    session.add(
        SimulationRun(
            poll_id=poll.id,
            scenario=plan.scenario.name,
            mode=runs.MONTE_CARLO,
            seed=plan.seed,
            population_size=plan.population_size,
            sample_size=plan.sample_size,
            parameters={"scenario": dict(plan.scenario.values), "replications": mc.replications},
            truth={"overall": {code: float(share) for code, share in zip(OPTIONS, mc.true_shares, strict=True)}},
            margins={},
            extras={
                "summary": summary,
                "estimates": {
                    name: {code: [round(float(v), 6) for v in values[kept, i]] for i, code in enumerate(OPTIONS)}
                    for name, values in (("raw", mc.raw.values), ("weighted", mc.weighted.values))
                },
            },
            started_at=utcnow(),
        )
    )
    session.flush()
