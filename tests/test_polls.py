"""`poll polls`, `poll init` and `poll demo`: the poll's life cycle from the command line."""

import pytest
import sqlalchemy as sa

from poll.models import Answer, Link, Poll, Recipient


def test_create_builtin_then_open_and_close(runner, session):
    assert "created poll coalition-2024 (draft, 3 options, 6 questions)" in runner.invoke(args=["polls", "create", "--builtin"]).output
    assert "coalition-2024\tdraft\t0 links" in runner.invoke(args=["polls", "list"]).output
    assert "is open from" in runner.invoke(args=["polls", "open", "coalition-2024"]).output
    assert runner.invoke(args=["polls", "close", "coalition-2024"]).exit_code == 0
    poll = session.scalar(sa.select(Poll))
    assert poll.status == "closed" and poll.closes_at >= poll.opens_at
    assert [option.code for option in poll.options] == ["1", "2", "3"]
    assert set(poll.question) == {"ar", "ku", "en"}


def test_create_twice_is_one_line_error(runner):
    runner.invoke(args=["polls", "create", "--builtin"])
    result = runner.invoke(args=["polls", "create", "--builtin"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: a poll with slug 'coalition-2024' exists already"


def test_create_from_file_validates_and_names_the_key(runner, session, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('slug = "x1"\ncolour = "red"\n')
    result = runner.invoke(args=["polls", "create", str(path)])
    assert result.exit_code == 1 and "unknown key 'colour'" in result.output
    path.write_text('slug = "ok-poll"\nquestion.en = "Tea?"\n[[options]]\ncode = "1"\nlabel.en = "Yes"\n'
                    '[[options]]\ncode = "1"\nlabel.en = "No"\n')
    result = runner.invoke(args=["polls", "create", str(path)])
    assert result.exit_code == 1 and "code '1' is used twice" in result.output
    path.write_text("not = [toml")
    assert "cannot read poll definition" in runner.invoke(args=["polls", "create", str(path)]).output
    assert session.scalar(sa.select(sa.func.count()).select_from(Poll)) == 0


def test_a_definition_nested_too_deeply_is_refused_in_one_line(runner, session, tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 100_000)
    result = runner.invoke(args=["polls", "create", str(path)])
    assert (result.exit_code, result.output) == (
        1, f"Error: cannot read poll definition {path}: it nests arrays or tables too deeply\n")
    assert session.scalar(sa.select(sa.func.count()).select_from(Poll)) == 0


def test_open_with_closing_time_before_opening_is_refused(runner):
    runner.invoke(args=["polls", "create", "--builtin"])
    result = runner.invoke(args=["polls", "open", "coalition-2024", "--at", "2030-01-02", "--until", "2030-01-01"])
    assert result.exit_code == 1 and "closing time must come after" in result.output


def test_demo_loads_the_article_poll_once(runner, session):
    result = runner.invoke(args=["demo", "--population", "5000", "--sample", "2000", "--seed", "3"])
    assert result.exit_code == 0
    assert "created; simulated the baseline scenario: 2,000 links" in result.output
    answers = session.scalar(sa.select(sa.func.count()).select_from(Answer))
    assert answers > 0
    session.rollback()
    again = runner.invoke(args=["demo", "--population", "5000", "--sample", "2000", "--seed", "3"])
    assert f"already there; kept its audience: 2,000 links, {answers:,} answers" in again.output
    assert session.scalar(sa.select(Poll.status)) == "open"
    assert session.scalar(sa.select(sa.func.count()).select_from(Recipient)) == 2000
    assert session.scalar(sa.select(sa.func.count()).select_from(Link)) == 2000


def test_unmigrated_database_says_to_run_init(tmp_path):
    from poll import create_app
    from poll.cli import cli

    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "SECRET_KEY": "x"})
    result = app.test_cli_runner().invoke(cli, ["polls", "list"])
    assert result.exit_code == 1
    assert "has no schema yet: run `poll init` first" in result.output
    result = app.test_cli_runner().invoke(cli, ["init"])
    assert result.exit_code == 0 and "database ready" in result.output
    assert app.test_cli_runner().invoke(cli, ["polls", "list"]).exit_code == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+asyncpg://x@127.0.0.1/db", "No module named 'asyncpg'"),
        ("not a url", "cannot be used"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/db", "Connection refused"),
    ],
)
def test_an_unusable_database_url_is_one_line(url, message, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("POLL_DATABASE_URL", url)
    result = subprocess.run([sys.executable, "-m", "poll.cli", "polls", "list"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("Error:")
