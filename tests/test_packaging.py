"""The wheel carries templates, catalogues, static files, data and migrations, and runs from them."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from poll import db
from poll.models import Base

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True, capture_output=True,
    )
    (path,) = out.glob("poll-*.whl")
    return path


@pytest.mark.slow
def test_wheel_holds_everything_the_app_reads_at_run_time(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in [
        "poll/templates/base.html",
        "poll/templates/respond/form.html",
        "poll/templates/errors/error.html",
        "poll/translations/ar/LC_MESSAGES/messages.mo",
        "poll/translations/ckb/LC_MESSAGES/messages.mo",
        "poll/static/poll.css",
        "poll/data/iraq.toml",
        "poll/data/polls/coalition-2024.toml",
        "poll/migrations/env.py",
        "poll/migrations/script.py.mako",
    ]:
        assert needed in names, needed
    assert any(name.startswith("poll/migrations/versions/0001") for name in names)
    assert not any(name.startswith("tests/") for name in names)


@pytest.mark.slow
def test_app_from_the_wheel_renders_translated_templates(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = """
import poll, sqlalchemy as sa
from poll import create_app
from poll import db
app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite:///%s"})
db.upgrade(db.make_engine(app.config["DATABASE_URL"]))
assert poll.__file__.startswith(%r), poll.__file__
assert app.template_folder.startswith(%r), app.template_folder
client = app.test_client()
body = client.get("/p/AAAAAAAAAAAAAAAAAAAAAA?lang=ar").get_data(as_text=True)
assert "هذا الرابط غير صالح" in body, body
print("ok")
""" % (tmp_path / "w.db", str(site), str(site))
    result = subprocess.run(
        [sys.executable, "-c", script], env=os.environ | {"PYTHONPATH": str(site)},
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_checkout_finds_the_top_level_templates(app):
    # Tests run on an editable install, which imports poll from the checkout.
    assert Path(app.template_folder) == ROOT / "templates"


def test_migrations_build_exactly_the_models(database_url):
    engine = db.make_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_migrations_go_down_and_up_again(tmp_path):
    from alembic import command

    engine = db.make_engine(f"sqlite:///{tmp_path / 'updown.db'}")
    db.upgrade(engine)
    with engine.begin() as connection:
        command.downgrade(db.alembic_config(connection), "base")
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    db.upgrade(engine)
    assert "answers" in sa.inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.parametrize("locale", ["ar", "ckb"])
def test_every_interface_string_is_translated(locale):
    from babel.messages.pofile import read_po

    with open(ROOT / "poll" / "translations" / locale / "LC_MESSAGES" / "messages.po", "rb") as source:
        catalog = read_po(source, locale=locale)
    with open(ROOT / "poll" / "translations" / "messages.pot", "rb") as source:
        template = read_po(source)
    missing = [m.id for m in template if m.id and not (catalog.get(m.id) and catalog.get(m.id).string)]
    assert missing == []


def test_upgrading_keeps_every_row_that_refers_to_a_rebuilt_table(databases):
    """Migrations that rebuild a table on SQLite must not cascade: a poll's receipts and answers survive."""
    from alembic import command

    url = databases.empty()
    engine = db.make_engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(db.alembic_config(connection), "0005")
        with engine.begin() as connection:
            run = connection.exec_driver_sql
            run("INSERT INTO polls (id, slug, question, sender, default_language, status, is_anonymous, sms_template, "
                "yes_no, created_at) VALUES (1, 'kept', '{}', '{}', 'ar', 'open', true, '{}', '{}', '2024-01-10 09:00')")
            run("INSERT INTO options (id, poll_id, code, position, label) VALUES (1, 1, '1', 1, '{}')")
            run("INSERT INTO audiences (id, name, created_at) VALUES (1, 'kept', '2024-01-10 09:00')")
            run("INSERT INTO recipients (id, audience_id, phone) VALUES (1, 1, '+9647701234567')")
            run("INSERT INTO invitations (id, poll_id, recipient_id, token, issued_at, answered_at) "
                "VALUES (1, 1, 1, 'AAAAAAAAAAAAAAAAAAAAAA', '2024-01-10 09:00', '2024-01-10 10:30')")
            run("INSERT INTO receipts (invitation_id) VALUES (1)")
            run("INSERT INTO answers (id, poll_id, option_id, channel, answered_hour, invitation_id) "
                "VALUES (7, 1, 1, 'web', '2024-01-10 10:00', 1)")
            run("INSERT INTO outbox_messages (invitation_id, kind, phone, text, segments, state, attempts, "
                "idempotency_key, created_at, next_attempt_at) VALUES (1, 'reminder-1', '+9647701234567', 'x', 1, "
                "'sent', 1, 'inv-1-r1', '2024-01-10 09:00', '2024-01-10 09:00')")
        db.upgrade(engine)
        with engine.connect() as connection:
            run = connection.exec_driver_sql
            assert run("SELECT link_id FROM receipts").scalar_one() == 1
            assert run("SELECT link_id FROM answers").scalar_one() == 1
            assert run("SELECT kind, link_id FROM outbox_messages").one() == ("reminder", 1)
            assert str(run("SELECT answered_on FROM links").scalar_one()) == "2024-01-10"
    finally:
        engine.dispose()
        databases.drop(url)


def test_commands_and_the_app_start_without_the_statistics_libraries():
    # SciPy, statsmodels and pandas take seconds to import; only a fit needs them, not `poll invite`
    # or a server worker's start.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, poll.commands, poll.wsgi; "
                               "print(sorted({'scipy', 'statsmodels', 'pandas'} & set(sys.modules)))"],
        capture_output=True, text=True, check=True, env=os.environ | {"POLL_SECRET_KEY": "test"},
    )
    assert loaded.stdout.strip() == "[]"
