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
