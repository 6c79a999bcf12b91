"""Simulations from the browser, run as background jobs, and the page that follows a job to its end.

Admins start and cancel jobs; viewers see them. Starting one checks the
form at once (a bad field is a 400 with the form again and the reason), then
commits the job's row before putting it on the queue, so the consumer that
takes it finds it.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from poll.db import begin_write, get_session
from poll.errors import Invalid, NotFound, PollError
from poll.i18n import current_language
from poll.runners import jobs as runner
from poll.services.definition import polls
from poll.services.releases import release
from poll.services.simulations import jobs
from poll.web import charts, figures
from poll.web.auth import admin_required, login_required
from poll.web.params import parse_whole_number

bp = Blueprint("jobs", __name__, url_prefix="/admin")

DEFAULTS = {"scenario": "baseline", "population": "30000", "sample": "20000", "seed": "7", "replications": "0",
            "mode": "in-process"}
# The simulator's own limit is the country (50M); a browser's job is kept to what a few minutes can do.
MAX_POPULATION = 2_000_000


@bp.get("/simulations")
@login_required
def simulations():
    """The simulation form: poll, scenario (with its parameters and their sources), sizes, seed, mode.

    `?scenario=NAME` chooses the scenario whose parameters are shown (and preselected).
    """
    runner.recover(current_app._get_current_object())  # a job its crashed server left "running" says so
    fields = dict(DEFAULTS, poll=_default_poll())
    if request.args.get("scenario") in runner.scenarios():
        fields["scenario"] = request.args["scenario"]
    return _form(fields, None, 200)


@bp.post("/simulations")
@admin_required
def start_simulation():
    """Start a simulation job from the form and follow it on its page; 400 with the form and the reason if bad."""
    fields = {name: request.form.get(name, default).strip() for name, default in DEFAULTS.items()}
    fields["poll"] = request.form.get("poll", "").strip() or _default_poll() or ""
    session = get_session()
    begin_write(session)
    try:
        job = runner.start_simulation(session, _parse(fields), by=g.operator)
    except PollError as exc:
        session.rollback()
        return _form(fields, str(exc), 404 if isinstance(exc, NotFound) else 400)
    session.commit()  # the consumer must find the row
    runner.enqueue(current_app._get_current_object(), job)
    return redirect(url_for("jobs.job_page", job_id=job.id), 303)


def _parse(fields: dict[str, str]) -> runner.SimulationRequest:
    numbers = {}
    for name in ("population", "sample", "seed", "replications"):
        value = parse_whole_number(fields[name].replace(",", ""))
        if value is None:
            raise Invalid(_("%(field)s must be a whole number.", field=_field_name(name)))
        numbers[name] = value
    if numbers["population"] > MAX_POPULATION:
        raise Invalid(_("The population can be at most %(most)s from the browser; larger runs take the command line "
                        "(poll simulate).", most="{:,}".format(MAX_POPULATION)))
    if not fields["poll"]:
        raise Invalid(_("Choose a poll to simulate."))
    return runner.SimulationRequest(fields["poll"], fields["scenario"], numbers["population"], numbers["sample"],
                                    numbers["seed"], numbers["replications"], fields["mode"])


def _field_name(name: str) -> str:
    return {"population": _("Population"), "sample": _("Sample"), "seed": _("Seed"),
            "replications": _("Monte Carlo replications")}[name]


def _default_poll() -> str | None:
    session = get_session()
    slugs = [poll.slug for poll in polls.list_polls(session)]
    session.commit()
    return polls.BUILTIN if polls.BUILTIN in slugs else (slugs[0] if slugs else None)


def _form(fields: dict[str, str], error: str | None, status: int):
    session = get_session()
    names = runner.scenarios()
    shown = fields.get("scenario") if fields.get("scenario") in names else DEFAULTS["scenario"]
    page = render_template(
        "jobs/simulations.html", fields=fields, error=error, polls=polls.list_polls(session),
        scenarios=names, chosen=runner.scenario_of(shown), parameters=runner.scenario_parameters(shown),
        recent=jobs.recent(session), max_population=MAX_POPULATION,
    )
    session.commit()
    return page, status


@bp.get("/jobs/<int:job_id>")
@login_required
def job_page(job_id: int):
    """One job: its progress while it runs (the page follows it), then its result or why it stopped."""
    runner.recover(current_app._get_current_object())
    session = get_session()
    begin_write(session)  # the results of a finished simulation may grow the poll's shown set
    try:
        job = jobs.get(session, job_id)
    except NotFound:
        abort(404)
    result = _result(session, job)
    session.commit()
    return render_template("jobs/job.html", job=job, **result)


def _result(session, job) -> dict:
    """A finished simulation's figures: truth beside the estimate, and a Monte Carlo's spread as charts and tables."""
    slug = job.parameters.get("poll")
    if job.state != "done" or not slug:
        return {}
    try:
        poll = polls.get_poll(session, slug)
    except NotFound:
        return {}
    outcome = release.dashboard(session, poll, g.operator)
    language = current_language()
    drawn = figures.build(outcome, language)
    labels = figures.option_labels(outcome, language)
    spread = []
    run = outcome.montecarlo
    if job.parameters.get("replications") and run is not None:
        estimates = run.extras.get("estimates", {})
        for (label, raw_chart, weighted_chart), option in zip(drawn.montecarlo, outcome.options, strict=True):
            truth = run.truth["overall"].get(option.code, 0.0)
            raw, weighted = (estimates.get(kind, {}).get(option.code, []) for kind in ("raw", "weighted"))
            span = charts.histogram_span([raw, weighted], truth)
            spread.append({"label": label, "raw": raw_chart, "weighted": weighted_chart, "truth": truth,
                           "bins": list(zip(charts.histogram_bins(raw, span), charts.histogram_bins(weighted, span),
                                            strict=True))})
    return {"poll": poll, "results": outcome, "labels": labels, "spread": spread,
            "summary": job.result.get("summary")}


@bp.get("/jobs/<int:job_id>.json")
@login_required
def job_json(job_id: int):
    """The job for scripts and the page's own script: {"state", "progress", "result_url", ...}."""
    runner.recover(current_app._get_current_object())
    session = get_session()
    try:
        job = jobs.get(session, job_id)
    except NotFound:
        abort(404)
    document = jobs.document(job)
    session.commit()
    response = jsonify(document)
    return response


@bp.post("/jobs/<int:job_id>")
@admin_required
def cancel(job_id: int):
    """Cancel the job: at once if it is queued, at its next step if it runs (its partial work is cleared)."""
    session = get_session()
    begin_write(session)
    try:
        job = jobs.get(session, job_id)
        jobs.request_cancel(session, job, by=g.operator)
    except NotFound:
        abort(404)
    except Invalid:
        session.rollback()
        return redirect(url_for("jobs.job_page", job_id=job_id), 303)  # it ended meanwhile: the page says how
    session.commit()
    return redirect(url_for("jobs.job_page", job_id=job_id), 303)
