"""Simulations from the browser as background jobs: starting, following, cancelling, and a real consumer."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from poll.db import begin_write
from poll.models import AuditEvent, Job, Link, Poll, SimulationRun, utcnow
from poll.runners import jobs as runner
from poll.services.simulations import jobs
from tests.helpers import fresh, rows

FORM = {"poll": "sim", "scenario": "baseline", "population": "3000", "sample": "2000", "seed": "4",
        "replications": "0", "mode": "in-process"}


@pytest.fixture
def immediate(app):
    """Jobs run in the request that starts them (huey's immediate mode): the job's whole life in one test request."""
    app.config["JOBS_IMMEDIATE"] = True
    return app


@pytest.fixture
def draft(make_poll):
    return make_poll("sim", status="draft")


def start(client, **changes) -> str:
    response = client.post("/admin/simulations", data=FORM | changes)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def test_the_simulation_page_shows_each_scenario_with_its_parameters_and_sources(client, login, draft):
    login("viewer")
    page = client.get("/admin/simulations?lang=en").get_data(as_text=True)
    assert 'name="scenario"' in page and "kurdistan-surge" in page and 'value="live"' in page
    assert "response.open_by_age" in page and "Ghana RDD 2017" in page  # a parameter beside its source
    assert 'type="submit">Start' not in page  # a viewer reads, does not act
    other = client.get("/admin/simulations?lang=en&scenario=kurdistan-surge").get_data(as_text=True)
    assert "the factor 4 illustrates a regional mobilisation" in other and "set by this scenario" in other


def test_a_viewer_cannot_start_a_simulation(client, login, draft, immediate, session):
    login("viewer")
    assert client.post("/admin/simulations", data=FORM).status_code == 403
    assert rows(session, Job) == 0


def test_a_simulation_job_runs_to_done_and_its_page_shows_the_truth_beside_the_estimate(
        client, login, draft, immediate, session):
    login()
    where = start(client)
    assert where == "/admin/jobs/1"
    state = client.get(f"{where}.json").get_json()
    assert (state["state"], state["progress"], state["result_url"]) == ("done", 1.0, "/dashboard/sim")
    page = client.get(f"{where}?lang=en").get_data(as_text=True)
    assert "The truth beside the estimate" in page and "true share" in page and "error of raw (points)" in page
    assert rows(session, Link) == 2000 and rows(session, SimulationRun) == 1
    actions = fresh(session).execute(sa.select(AuditEvent.action, AuditEvent.actor).order_by(AuditEvent.id)).all()
    assert ("job-started", "admin") in actions and ("simulation-reset", "admin") in actions


def test_a_second_simulation_replaces_the_first(client, login, draft, immediate, session):
    login()
    start(client)
    start(client, seed="5", sample="1500")
    assert rows(session, Link) == 1500 and rows(session, SimulationRun) == 1


def test_monte_carlo_from_the_browser_draws_histograms_with_a_table_beside_them(client, login, draft, immediate):
    login()
    where = start(client, replications="40")
    assert client.get(f"{where}.json").get_json()["state"] == "done"
    page = client.get(f"{where}?lang=en").get_data(as_text=True)
    assert "raw: bias (points)" in page and "weighted: coverage" in page
    assert page.count('<svg') >= 6  # raw and weighted, for each of the three answers
    assert "The histograms as a table" in page and "Replications whose estimate fell in each range" in page


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("sample", "5000", "cannot be larger than --population"),
    ("population", "many", "Population must be a whole number"),
    ("scenario", "no-such", "unknown scenario"),
    ("mode", "sideways", "mode must be one of"),
    ("replications", "20", "choose in-process, not live"),
])
def test_a_bad_form_is_refused_with_the_reason_and_no_job(client, login, draft, immediate, session, field, value,
                                                           reason):
    login()
    data = FORM | {field: value} | ({"mode": "live"} if field == "replications" else {})
    response = client.post("/admin/simulations?lang=en", data=data)
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert rows(session, Job) == 0


def test_an_unknown_poll_is_a_404_with_the_form(client, login, immediate):
    login()
    assert client.post("/admin/simulations", data=FORM | {"poll": "nope"}).status_code == 404


def test_a_queued_job_is_cancelled_at_once_and_never_runs(client, login, draft, session, app):
    login()
    where = start(client)  # no consumer runs: it waits in the queue
    assert client.get(f"{where}.json").get_json()["state"] == "queued"
    assert client.post(where).status_code == 303
    assert client.get(f"{where}.json").get_json()["state"] == "cancelled"
    runner.run(app.extensions["poll.db"], 1, base_url="")  # a consumer takes it later: it does nothing
    assert client.get(f"{where}.json").get_json()["state"] == "cancelled"
    assert rows(session, Link) == 0
    assert ("job-cancelled", "admin") in fresh(session).execute(sa.select(AuditEvent.action, AuditEvent.actor)).all()


def test_a_running_job_stops_at_its_next_step_and_clears_what_it_wrote(client, login, draft, session, app,
                                                                      monkeypatch):
    login()
    where = start(client)  # queued; the test plays the consumer below
    checkpoint = runner.Step.checkpoint

    def cancel_meanwhile(self, progress, step=None, *, then_write=True):
        # The operator presses cancel once the links are issued and committed, between two steps.
        checkpoint(self, progress, step, then_write=False)
        if step == "issuing links":
            assert client.get(f"{where}.json").get_json()["state"] == "running"
            assert client.post(where).status_code == 303
        if then_write:
            begin_write(self.session)

    monkeypatch.setattr(runner.Step, "checkpoint", cancel_meanwhile)
    runner.run(app.extensions["poll.db"], 1, base_url="")
    assert client.get(f"{where}.json").get_json()["state"] == "cancelled"
    assert rows(session, Link) == 0 and rows(session, SimulationRun) == 0  # nothing half made is left
    page = client.get(f"{where}?lang=en").get_data(as_text=True)
    assert "Cancelled" in page and "Cancel the job" not in page


def test_a_job_that_fails_says_why_in_one_line_and_leaves_the_poll_as_it_was(client, login, draft, session, app,
                                                                             immediate, runner):
    login()
    start(client)
    fresh(session).execute(sa.update(Poll).where(Poll.slug == "sim").values(status="closed"))
    session.commit()
    # Closed after the form was checked, before the job ran: the job refuses, and the earlier simulation stays.
    where = "/admin/jobs/2"
    job = runner_start(session, app)
    state = client.get(f"{where}.json").get_json()
    assert job == 2 and state["state"] == "failed" and "is closed" in state["error"]
    assert "It stopped:" in client.get(f"{where}?lang=en").get_data(as_text=True)
    assert rows(session, Link) == 2000 and rows(session, SimulationRun) == 1


def runner_start(session, app) -> int:
    """Queue a job for poll sim without the form's checks (as if the poll changed since), and run it."""
    job = jobs.create(fresh(session), runner.SIMULATION, runner.SimulationRequest(
        "sim", "baseline", 3000, 2000, 4, 0, "in-process").parameters(), by=None)
    session.commit()
    runner.run(app.extensions["poll.db"], job.id, base_url="")
    return job.id


def test_a_closed_poll_is_refused_before_any_job(client, login, make_poll, session, immediate):
    login()
    make_poll("sim", status="closed")
    response = client.post("/admin/simulations?lang=en", data=FORM)
    assert response.status_code == 400 and "is closed" in response.get_data(as_text=True)
    assert rows(session, Job) == 0


def test_a_live_simulation_needs_this_server_to_be_reachable(client, login, draft, immediate, app, session):
    login()
    app.config["BASE_URL"] = "http://127.0.0.1:1"  # the phones would answer here, where nothing listens
    where = start(client, mode="live")
    state = client.get(f"{where}.json").get_json()
    assert state["state"] == "failed" and "POLL_BASE_URL" in state["error"] and "cannot reach" in state["error"]
    assert rows(session, Link) == 0


def test_job_pages_need_a_login_and_unknown_jobs_are_404(client, login):
    assert client.get("/admin/jobs/1").status_code == 302
    assert client.get("/admin/simulations").status_code == 302
    login("viewer")
    assert client.get("/admin/jobs/99").status_code == 404
    assert client.get("/admin/jobs/99.json").status_code == 404
    assert client.post("/admin/jobs/99").status_code == 403  # a viewer may not cancel anything


def test_a_consumer_thread_runs_the_queued_job(client, login, draft, app, tmp_path, session, monkeypatch):
    # The real queue (a SQLite file) and a real consumer, as `poll serve` starts one: the job is done when its
    # row says so, which the test waits for on an event set by the job's own end, not by sleeping.
    app.config["JOBS_FILE"] = str(tmp_path / "queue.sqlite3")
    login()
    ended = threading.Event()
    run = runner.run

    def run_and_tell(*args, **kwargs):
        try:
            run(*args, **kwargs)
        finally:
            ended.set()

    monkeypatch.setattr(runner, "run", run_and_tell)
    consumer = runner.start_consumer(app)
    try:
        where = start(client, replications="10")
        assert ended.wait(timeout=120), "the consumer did not run the job"
    finally:
        consumer.stop(graceful=True)
    assert client.get(f"{where}.json").get_json()["state"] == "done"
    assert jobs.get(fresh(session), 1).result["summary"]["replications"] == 10


def test_the_command_line_queues_the_same_job(runner, draft, immediate, session):
    result = runner.invoke(args=["simulate", "sim", "--population", "3000", "--sample", "2000", "--seed", "4",
                                 "--replications", "10", "--background"])
    assert result.exit_code == 0, result.output
    assert "job 1 queued: https://poll.example.iq/admin/jobs/1" in result.output
    job = jobs.get(fresh(session), 1)
    assert (job.state, job.started_by, job.result["summary"]["replications"]) == ("done", "", 10)
    refused = runner.invoke(args=["simulate", "sim", "--background", "--live", "http://127.0.0.1:1"])
    assert refused.exit_code == 1 and "leave out --live" in refused.output


def left_running(session, job_id: int, *, silent_for: timedelta) -> None:
    """Put job `job_id` back as a crash leaves it: "running", its last heartbeat `silent_for` ago."""
    session.rollback()
    session.execute(sa.update(Job).where(Job.id == job_id).values(
        state="running", finished_at=None, result={}, result_url=None, heartbeat_at=utcnow() - silent_for))
    session.commit()


def test_a_job_left_running_by_a_crashed_server_is_failed_and_cleared_when_its_page_is_read(
        client, login, draft, immediate, session):
    login()
    where = start(client)  # it wrote a whole simulated poll...
    assert rows(session, Link) == 2000
    left_running(session, 1, silent_for=timedelta(hours=1))  # ...and its server died before it ended
    state = client.get(f"{where}.json").get_json()
    assert state["state"] == "failed" and state["error"] == jobs.ABANDONED
    assert rows(session, Link) == 0 and rows(session, SimulationRun) == 0  # cleared as a cancelled job's is
    page = client.get(f"{where}?lang=en").get_data(as_text=True)
    assert "its worker stopped" in page and "Cancel the job" not in page


def test_a_running_job_with_a_recent_heartbeat_is_left_alone(client, login, draft, immediate, session):
    login()
    where = start(client)
    left_running(session, 1, silent_for=timedelta(minutes=2))
    assert client.get("/admin/simulations").status_code == 200
    assert client.get(f"{where}.json").get_json()["state"] == "running"
    assert rows(session, Link) == 2000


def test_a_starting_consumer_fails_the_jobs_its_crashed_server_left_running(client, login, draft, app, immediate,
                                                                            session, tmp_path):
    login()
    start(client)
    left_running(session, 1, silent_for=timedelta(minutes=11))  # the default allows 10 minutes of silence
    app.config.update(JOBS_FILE=str(tmp_path / "queue.sqlite3"), JOBS_IMMEDIATE=False)
    app.extensions.pop("poll.huey")  # the server restarts: a queue of its own, not the test's immediate one
    consumer = runner.start_consumer(app)
    consumer.stop(graceful=True)
    job = jobs.get(fresh(session), 1)
    assert (job.state, job.error) == ("failed", jobs.ABANDONED) and job.finished_at is not None
    assert rows(session, Link) == 0


def test_a_worker_taken_for_lost_stops_at_its_next_step_and_keeps_the_reason(client, login, draft, session, app,
                                                                             monkeypatch):
    login()
    where = start(client)  # queued; the test plays a consumer that goes silent after issuing links
    checkpoint = runner.Step.checkpoint

    def stall_meanwhile(self, progress, step=None, *, then_write=True):
        checkpoint(self, progress, step, then_write=False)
        if step == "issuing links":
            left_running(session, 1, silent_for=timedelta(hours=1))
            assert client.get(f"{where}.json").get_json()["state"] == "failed"
        if then_write:
            begin_write(self.session)

    monkeypatch.setattr(runner.Step, "checkpoint", stall_meanwhile)
    runner.run(app.extensions["poll.db"], 1, base_url="")
    job = jobs.get(fresh(session), 1)
    assert (job.state, job.error) == ("failed", jobs.ABANDONED)
    assert rows(session, Link) == 0 and rows(session, SimulationRun) == 0
