"""Background jobs as the pages see them: the `jobs` table's rows, from queued to done, failed or cancelled.

The queue that runs them (huey) and the code that runs each kind live above
the services, in `poll.runners.jobs`, because a job owns its sessions and commits as
it goes. What is here only reads and moves a row; like every service it
flushes and never commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from poll.errors import Invalid, NotFound
from poll.models import Job, Operator, utcnow
from poll.services.access import audit
from poll.vocabulary import JobState


class Cancelled(Exception):
    """Raised inside a job, between two steps, when someone asked to cancel it."""


def create(session: so.Session, kind: str, parameters: dict[str, Any], *, by: Operator | None) -> Job:
    """A queued job of `kind`, recorded as started by `by` (None: the command line) and audited."""
    job = Job(kind=kind, state=JobState.QUEUED, parameters=parameters, result={},
              operator_id=by.id if by else None, started_by=by.name if by else "")
    session.add(job)
    session.flush()
    audit.record(session, "job-started", f"{kind} {job.id}", by=by,
                 detail={**parameters, **({} if by else {"via": "cli"})})
    return job


def get(session: so.Session, job_id: int) -> Job:
    """The job `job_id`; raises NotFound."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"there is no job {job_id}")
    return job


def recent(session: so.Session, *, limit: int = 20) -> list[Job]:
    """The newest jobs first."""
    return list(session.scalars(sa.select(Job).order_by(Job.id.desc()).limit(limit)))


def request_cancel(session: so.Session, job: Job, *, by: Operator | None) -> Job:
    """Ask `job` to stop: a queued job is cancelled at once, a running one at its next step; audited.

    Raises Invalid for a job that has already ended.
    """
    if job.is_finished:
        raise Invalid(f"job {job.id} has already ended ({job.state})")
    job.is_cancel_requested = True
    if job.state == JobState.QUEUED:
        _end(job, JobState.CANCELLED)
    audit.record(session, "job-cancelled", f"{job.kind} {job.id}", by=by, detail={} if by else {"via": "cli"})
    session.flush()
    return job


def begin(session: so.Session, job: Job) -> bool:
    """Mark `job` running; False when it was cancelled (or ended) before a consumer took it."""
    if job.state != JobState.QUEUED or job.is_cancel_requested:
        if not job.is_finished:
            _end(job, JobState.CANCELLED)
        session.flush()
        return False
    job.state, job.started_at, job.progress = JobState.RUNNING, utcnow(), 0.0
    job.heartbeat_at = job.started_at
    session.flush()
    return True


def advance(session: so.Session, job: Job, progress: float, step: str | None = None) -> None:
    """Record how far `job` got (0 to 1) and its step; raises Cancelled when a cancellation was asked for.

    The caller commits: this is where a job's steps meet, so its own session
    reads the flag afresh (a request of another thread or process set it).
    """
    session.refresh(job, ["is_cancel_requested"])
    if job.is_cancel_requested:
        raise Cancelled()
    job.progress = min(max(progress, 0.0), 1.0)
    job.heartbeat_at = utcnow()
    if step is not None:
        job.step = step[:64]
    session.flush()


def finish(session: so.Session, job: Job, *, result: dict[str, Any], result_url: str | None) -> None:
    """`job` is done: its result and where to see it."""
    job.result, job.result_url, job.progress = result, result_url, 1.0
    _end(job, JobState.DONE)
    session.flush()


def fail(session: so.Session, job: Job, reason: str) -> None:
    """`job` stopped on an error, told in one line."""
    job.error = reason.strip().splitlines()[0][:500] if reason.strip() else "failed"
    _end(job, JobState.FAILED)
    session.flush()


def cancelled(session: so.Session, job: Job) -> None:
    """`job` stopped because it was asked to."""
    _end(job, JobState.CANCELLED)
    session.flush()


# Why a job found running without a worker was stopped, as its page says.
ABANDONED = "its worker stopped (the server was restarted or crashed) while it ran; what it wrote was cleared"


def abandoned(session: so.Session, *, now: datetime, stale: timedelta) -> list[int]:
    """The ids of running jobs whose worker gave no sign of life (heartbeat) for `stale` before `now`."""
    silent_since = sa.func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at)
    return list(session.scalars(sa.select(Job.id).where(Job.state == JobState.RUNNING, silent_since < now - stale)
                                .order_by(Job.id)))


def _end(job: Job, state: JobState) -> None:
    job.state, job.finished_at = state, utcnow()


def document(job: Job) -> dict[str, Any]:
    """The job as `/admin/jobs/<id>.json` gives it (DESIGN: state, progress, result_url)."""
    return {
        "id": job.id,
        "kind": job.kind,
        "state": str(job.state),
        "progress": round(float(job.progress), 4),
        "step": job.step,
        "result_url": job.result_url,
        "error": job.error,
        "started_by": job.started_by or None,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
