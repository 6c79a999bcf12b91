"""Setting an instance up and running it: `poll init`, `demo`, `serve`, `worker`."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from poll import db
from poll.commands._base import command_group, database_problem, unit_of_work
from poll.config import store_base_url
from poll.runners import jobs


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
        raise click.ClickException(database_problem(exc)) from None
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
    from poll.services.simulations import demo
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
