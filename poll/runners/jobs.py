"""Background jobs: huey's queue, its consumers, and the work each kind of job does.

A job is a row of `jobs` (`services.simulations.jobs`) and a task on huey's queue that
carries only its id. The queue is a SQLite file in the instance folder
(`jobs.sqlite3`), or Redis when POLL_REDIS_URL is set, so that `poll worker`
processes on other machines can share it. `poll serve` starts a consumer
thread of its own (`start_consumer`), so the demo needs no extra command.

A job owns its session and commits as it goes, like the dispatcher and the
live simulation: between two steps it commits its work, records its progress
and reads its cancellation flag (`checkpoint`). A job that fails or is
cancelled part way clears what its steps committed (a simulation's audience,
links and answers), so a poll is never left half simulated.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask
from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from poll.db import dialects
from poll.errors import Invalid, PollError
from poll.models import Job, Operator, utcnow
from poll.services.access import audit
from poll.services.definition import polls
from poll.services.simulations import jobs
from poll.simulate import scenario
from poll.vocabulary import JobState, PollStatus

if TYPE_CHECKING:
    from poll.services.simulations import simulation

log = logging.getLogger(__name__)

SIMULATION = "simulation"
MODES = ("in-process", "live")
MAX_REPLICATIONS = 10_000
# A Monte Carlo job records its progress this many times at most: each record is a write.
CHECKPOINTS = 100
TASK = "poll.run_job"


# ---- the queue ----------------------------------------------------------------------------------------------------


def queue(app: Flask) -> Huey:
    """`app`'s huey, made on first use (the instance folder may be set after the app is built)."""
    found = app.extensions.get("poll.huey")
    if found is None:
        found = app.extensions["poll.huey"] = _make_huey(app)
    return found


def _make_huey(app: Flask) -> Huey:
    config = app.config
    immediate = bool(config["JOBS_IMMEDIATE"])
    if config["REDIS_URL"]:
        huey: Huey = RedisHuey("poll", url=config["REDIS_URL"], immediate=immediate, results=False)
    else:
        path = config["JOBS_FILE"] or os.path.join(app.instance_path, "jobs.sqlite3")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        huey = SqliteHuey("poll", filename=path, immediate=immediate, results=False)

    @huey.task(name=TASK)
    def run_job(job_id: int) -> None:
        with app.app_context():
            run(app.extensions["poll.db"], job_id, base_url=app.config["BASE_URL"])

    app.extensions["poll.run_job"] = run_job
    return huey


def enqueue(app: Flask, job: Job) -> None:
    """Put committed `job` on the queue (in immediate mode, run it now)."""
    queue(app)
    app.extensions["poll.run_job"](job.id)


class _Embedded(Consumer):
    """A consumer inside another program (the web server): the signals stay that program's."""

    def _set_signal_handlers(self) -> None:
        pass


def start_consumer(app: Flask, workers: int = 1) -> Consumer:
    """Start consumer threads in this process, e.g. beside `poll serve`; `stop(graceful=True)` ends them.

    Jobs left running by a server that crashed are failed first (`recover`).
    """
    recover(app)
    huey = queue(app)
    consumer = _Embedded(huey, workers=workers, worker_type="thread", periodic=False, max_delay=1.0,
                         check_worker_health=False)
    consumer.start()
    return consumer


def worker(app: Flask, workers: int) -> None:
    """Run consumers in the foreground until interrupted (`poll worker`): huey's own loop and signals."""
    recover(app)
    queue(app).create_consumer(workers=workers, worker_type="thread", periodic=False).run()


# ---- running a job ------------------------------------------------------------------------------------------------


@dataclass
class Step:
    """What a job's work is given: its own session and the job, and a way to report between steps."""

    session: so.Session
    job: Job
    base_url: str
    # Whether the work has committed anything of its own: only then has a stopped job anything to clear.
    has_committed: bool = False

    def checkpoint(self, progress: float, step: str | None = None, *, then_write: bool = True) -> None:
        """Commit the work so far, record `progress`, and raise jobs.Cancelled if a cancellation was asked.

        With `then_write` the next transaction starts as a writer (the work
        goes on writing); without it the job holds no lock until its next
        checkpoint, so a cancellation can be written meanwhile.
        """
        session = self.session
        session.commit()
        self.has_committed = True
        dialects.of(session).begin_write(session)
        jobs.advance(session, self.job, progress, step)
        session.commit()
        if then_write:
            dialects.of(session).begin_write(session)


Work = Callable[[Step], tuple[dict[str, Any], str | None]]
Undo = Callable[[Step], None]


def run(sessions: so.sessionmaker, job_id: int, *, base_url: str) -> None:
    """Run job `job_id` to its end: done, failed (one line for people) or cancelled. Never raises."""
    session = sessions()
    try:
        dialects.of(session).begin_write(session)
        job = session.get(Job, job_id)
        if job is None or not jobs.begin(session, job):
            session.commit()
            return
        session.commit()
        step = Step(session, job, base_url)
        work, undo = KINDS[job.kind]
        try:
            dialects.of(session).begin_write(session)
            result, url = work(step)
            session.flush()
            session.refresh(job, ["state"])
            if job.state != JobState.RUNNING:
                raise jobs.Cancelled()  # taken for lost meanwhile (`recover`): its work is cleared, not kept
            jobs.finish(session, job, result=result, result_url=url)
            session.commit()
        except jobs.Cancelled:
            _stop(step, undo, lambda: jobs.cancelled(session, job))
        except PollError as exc:
            reason = str(exc)
            _stop(step, undo, lambda: jobs.fail(session, job, reason))
        except Exception:
            log.exception("job %s (%s) failed", job_id, job.kind)
            _stop(step, undo, lambda: jobs.fail(session, job, "an unexpected error stopped it: see the server's log"))
    finally:
        session.close()


def _stop(step: Step, undo: Undo, end: Callable[[], None]) -> None:
    session = step.session
    session.rollback()
    dialects.of(session).begin_write(session)
    if step.has_committed:
        undo(step)
    session.refresh(step.job)
    if not step.job.is_finished:  # a job `recover` failed keeps its reason
        end()
    session.commit()


def recover(app: Flask) -> list[int]:
    """Fail the jobs `app`'s database shows running without a worker (`recover_abandoned`); their ids."""
    return recover_abandoned(app.extensions["poll.db"], stale=timedelta(minutes=float(app.config["JOBS_STALE_MINUTES"])))


def recover_abandoned(sessions: so.sessionmaker, *, stale: timedelta, now: datetime | None = None) -> list[int]:
    """Mark failed, with a reason people read, each running job whose worker gave no heartbeat for `stale`, and
    clear what it wrote as a cancelled job's is; the ids of those jobs.

    A server that crashes mid-job leaves its row "running" for ever and a poll half simulated. Each job is
    checked again under the write lock, so two consumers starting together fail it once; a worker that was
    only slow finds its cancellation flag set at its next step and stops there.
    """
    session = sessions()
    recovered = []
    try:
        found = jobs.abandoned(session, now=now or utcnow(), stale=stale)
        session.commit()  # it only read
        for job_id in found:
            dialects.of(session).begin_write(session)
            if job_id not in jobs.abandoned(session, now=now or utcnow(), stale=stale):
                session.commit()
                continue
            job = session.get(Job, job_id)
            job.is_cancel_requested = True
            if job.kind in KINDS:
                KINDS[job.kind][1](Step(session, job, base_url="", has_committed=True))
            jobs.fail(session, job, jobs.ABANDONED)
            session.commit()
            log.warning("job %s (%s) was running without a worker: failed, its work cleared", job_id, job.kind)
            recovered.append(job_id)
    finally:
        session.close()
    return recovered


# ---- simulations --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationRequest:
    """A simulation asked for from the browser or the command line, checked before it is queued."""

    slug: str
    scenario: str
    population: int
    sample: int
    seed: int
    replications: int
    mode: str

    def parameters(self) -> dict[str, Any]:
        return {"poll": self.slug, "scenario": self.scenario, "population": self.population, "sample": self.sample,
                "seed": self.seed, "replications": self.replications, "mode": self.mode}

    def plan(self) -> simulation.Plan:
        from poll.services.simulations import simulation
        return simulation.Plan(scenario.load(self.scenario), self.population, self.sample, self.seed)


def scenarios() -> list[str]:
    """The names of the shipped scenarios a simulation job may play."""
    return scenario.shipped()


def scenario_of(name: str) -> scenario.Scenario:
    """The shipped scenario `name` (its name, description and values)."""
    return scenario.load(name)


def scenario_parameters(name: str) -> list[scenario.Parameter]:
    """Every value of scenario `name`, with the source or assumption its file states."""
    return scenario.parameters(name)


def check_simulation(session: so.Session, request: SimulationRequest) -> None:
    """Raise Invalid (or NotFound) unless `request` can run: sizes, scenario, mode and poll all fit."""
    from poll.services.simulations import simulation
    if request.scenario not in scenario.shipped():
        raise Invalid(f"unknown scenario {request.scenario!r}: use one of {', '.join(scenario.shipped())}")
    request.plan().check()
    if request.mode not in MODES:
        raise Invalid(f"mode must be one of {', '.join(MODES)}")
    if not 0 <= request.replications <= MAX_REPLICATIONS:
        raise Invalid(f"replications must be between 0 (none) and {MAX_REPLICATIONS:,}")
    if request.replications and request.mode == "live":
        raise Invalid("Monte Carlo replications run without the database: choose in-process, not live")
    poll = polls.get_poll(session, request.slug)
    if request.replications:
        return
    if poll.status == PollStatus.CLOSED:
        raise Invalid(f"poll {poll.slug} is closed: simulate into an open or draft poll")
    real = simulation.real_recipients(session, poll)
    if real:
        raise Invalid(f"poll {poll.slug} has {real:,} recipients that were imported, not simulated: a simulation "
                      "would replace them. Simulate into another poll.")
    codes = [option.code for option in poll.options]
    if codes != list(scenario.OPTIONS):
        raise Invalid(f"the scenarios model a poll with answers 1, 2, 3; {poll.slug} has {', '.join(codes)}")


def start_simulation(session: so.Session, request: SimulationRequest, *, by: Operator | None) -> Job:
    """Check `request` and record its job (queued); the caller commits, then `enqueue`s it."""
    check_simulation(session, request)
    return jobs.create(session, SIMULATION, request.parameters(), by=by)


def _request_of(job: Job) -> SimulationRequest:
    p = job.parameters
    return SimulationRequest(p["poll"], p["scenario"], int(p["population"]), int(p["sample"]), int(p["seed"]),
                             int(p["replications"]), p["mode"])


def _simulate(step: Step) -> tuple[dict[str, Any], str | None]:
    from poll.services.simulations import simulation
    request = _request_of(step.job)
    session, job = step.session, step.job
    poll = polls.get_poll(session, request.slug)
    plan = request.plan()
    by = session.get(Operator, job.operator_id) if job.operator_id else None
    url = f"/dashboard/{poll.slug}"
    if request.replications:
        return _monte_carlo(step, poll, plan, request.replications), url
    removed = simulation.reset(session, poll)
    audit.record(session, "simulation-reset", poll.slug, by=by, detail={"job": job.id, **removed})
    if request.mode == "live":
        return _live(step, poll.slug, plan), url
    steps = [*WRITING_STEPS, "recording answers", "refusing duplicates and guesses"]

    def progress(name: str) -> None:
        step.checkpoint(steps.index(name) / len(steps) if name in steps else job.progress, name)

    run, _ = simulation.run_in_process(session, poll, plan, progress=progress)
    return {"run": run.id, "poll": poll.slug}, url


WRITING_STEPS = ["drawing the population", "writing recipients", "issuing links", "delivering messages"]


def _monte_carlo(step: Step, poll, plan: simulation.Plan, replications: int) -> dict[str, Any]:
    from poll.services.simulations import simulation
    from poll.simulate import montecarlo
    from poll.simulate import report as mc_report
    every = max(1, replications // CHECKPOINTS)

    def progress(done: int) -> None:
        if done % every == 0 and done < replications:
            step.checkpoint(done / replications, "replications", then_write=False)

    step.checkpoint(0.0, "replications", then_write=False)
    mc = montecarlo.run(plan.scenario, population_size=plan.population_size, sample_size=plan.sample_size,
                        replications=replications, seed=plan.seed, experiment=polls.experiment_of(poll),
                        progress=progress)
    dialects.of(step.session).begin_write(step.session)
    summary = mc_report.montecarlo_json(mc, plan.scenario.name)
    simulation.keep_montecarlo(step.session, poll, plan, mc, summary)
    return {"poll": poll.slug, "summary": summary}


def _live(step: Step, slug: str, plan: simulation.Plan) -> dict[str, Any]:
    """The audience is written and committed, then the phones answer this very server over HTTP."""
    from poll.runners import live_simulation
    from poll.simulate import live
    try:
        base = live.check_target(step.base_url, timeout=2.0)
    except live.LiveError as exc:
        raise Invalid(f"a live simulation sends its phones to this server's POLL_BASE_URL: {exc}") from None
    session, job = step.session, step.job
    step.checkpoint(0.0, "writing recipients", then_write=False)  # the live run writes in sessions of its own
    sessions = so.sessionmaker(bind=session.get_bind(), expire_on_commit=False)
    stop = _Flag()
    counted = {"total": 0, "done": 0}

    def on_request(total: int) -> None:
        if total:
            counted["total"] = total
            return
        counted["done"] += 1
        done, total = counted["done"], counted["total"] or 1
        if done % max(1, total // CHECKPOINTS) == 0:
            stop.ask(done / total)

    speed = plan.scenario["timing"]["cutoff_hours"] * 3600 / 120
    stop.watch(sessions, job.id)
    try:
        requests = live_simulation.run(sessions, slug, plan, base, speed=speed, concurrency=8, max_seconds=900,
                                       on_request=on_request, stop=stop.event)
    finally:
        stop.close()
    if stop.cancelled:
        raise jobs.Cancelled()
    return {"poll": slug, "requests": requests.by_kind()}


class _Flag:
    """The live phones' stop: set when the job's row asks for a cancellation, read at each hundredth request.

    The phones answer from several threads; the progress is written from one
    of them at a time, in a session of its own.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.lock = threading.Lock()
        self.cancelled = False
        self.session: so.Session | None = None
        self.job_id = 0

    def watch(self, sessions: so.sessionmaker, job_id: int) -> None:
        self.session, self.job_id = sessions(), job_id

    def ask(self, progress: float) -> None:
        if self.cancelled:
            return  # the phones still running only drop their requests now: the bar stays where it stopped
        if not self.lock.acquire(blocking=False):
            return  # another phone is writing the progress: this one need not
        try:
            session = self.session
            dialects.of(session).begin_write(session)
            session.execute(sa.update(Job).where(Job.id == self.job_id)
                            .values(progress=progress, step="phones answering", heartbeat_at=utcnow()))
            asked = session.scalar(sa.select(Job.is_cancel_requested).where(Job.id == self.job_id))
            session.commit()
            if asked:
                self.cancelled = True
                self.event.set()
        finally:
            self.lock.release()

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def _undo_simulation(step: Step) -> None:
    """Clear what a stopped simulation committed, so the poll holds no half-made one (a Monte Carlo wrote nothing)."""
    from poll.services.simulations import simulation
    request = _request_of(step.job)
    if request.replications:
        return
    try:
        poll = polls.get_poll(step.session, request.slug)
    except PollError:
        return
    simulation.reset(step.session, poll)


KINDS: dict[str, tuple[Work, Undo]] = {SIMULATION: (_simulate, _undo_simulation)}
