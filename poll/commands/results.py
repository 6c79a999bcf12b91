"""What a poll found: `poll results` and `poll export`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app

from poll import reports
from poll.commands._base import command_group, english_labels, unit_of_work
from poll.errors import PollError
from poll.i18n import LANGUAGES
from poll.services.access import audit
from poll.services.definition import polls
from poll.services.releases import release
from poll.services.releases.release import csv_chunks, json_lines


def print_results(session, slug: str, as_json: bool) -> None:
    poll = polls.get_poll(session, slug)
    outcome = release.operator_results(session, poll, None)
    if as_json:
        click.echo(json.dumps(release.document(outcome)))
    else:
        click.echo(reports.results_table(outcome, english_labels(poll)))


@command_group.command("results")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@unit_of_work
def results_command(session, slug: str, as_json: bool) -> None:
    """Print the results of poll SLUG: the funnel, and raw, weighted and (simulations) true shares."""
    outcome = release.operator_results(session, polls.get_poll(session, slug), None)
    click.echo(json.dumps(release.document(outcome)) if as_json else reports.results_table(outcome))


@command_group.command("export")
@click.argument("slug")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "sav", "dta", "sps", "do", "html"]), default="csv",
              show_default=True, help="csv, json (JSON lines), an SPSS (sav) or Stata (dta) file of the answers, "
              "SPSS (sps) or Stata (do) syntax that labels the answers CSV, or html (a codebook).")
@click.option("--what", type=click.Choice(["answers", "results", "methodology", "codebook"]), default="answers",
              show_default=True, help="The answers, the results table, the methodology statement (--format json), "
              "or the codebook of the answers' columns (--format html or csv).")
@click.option("--language", type=click.Choice(list(LANGUAGES)),
              help="The labels' language in sav and dta files (default: the poll's).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of standard output (sav and dta need one).")
@click.option("--delimiter", type=click.Choice([",", ";", "tab"]), default=",", show_default=True,
              help="What separates a CSV's fields (; where a spreadsheet takes the comma as the decimal mark).")
@click.option("--bom", is_flag=True, help="Start a CSV with a UTF-8 byte order mark, so that Excel reads Arabic.")
@unit_of_work
def export_command(session, slug: str, fmt: str, what: str, language: str | None, output: Path | None,
                   delimiter: str, bom: bool) -> None:
    """Write poll SLUG's answers (one row per response, a column per question) or results."""
    poll = polls.get_poll(session, slug)
    if (delimiter != "," or bom) and fmt not in ("csv", "sps", "do"):
        raise PollError("--delimiter and --bom are for --format csv (and --delimiter for the sps and do syntax)")
    if what == "codebook" and fmt not in ("html", "csv"):
        raise PollError("the codebook comes as --format html or csv")
    if fmt == "html" and what != "codebook" or fmt in ("sps", "do") and what != "answers":
        raise PollError(f"--format {fmt} is for " + ("--what codebook" if fmt == "html" else "the answers"))
    if what == "codebook" or fmt in ("sps", "do"):
        language = language or poll.default_language
        text = (release.answers_codebook(poll, fmt, language) if what == "codebook"
                else release.answers_syntax(poll, fmt, language, delimiter))
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            click.echo(f"wrote {output}", err=True)
        return
    if what == "methodology" and fmt != "json":
        raise PollError("the methodology statement comes as JSON: add --format json")
    if fmt in ("sav", "dta"):
        if what != "answers":
            raise PollError(f"--format {fmt} is for the answers; the results come as csv or json")
        if output is None:
            raise PollError(f"--format {fmt} writes a binary file: give it with --output FILE.{fmt}")
        audit.record(session, "export", slug, detail={"via": "cli", "what": what, "format": fmt})
        shape = release.answers_shape(session, poll, None)
        release.record_export(session, poll, None, what, fmt)
        output.write_bytes(release.answer_file(session, poll, fmt, language or poll.default_language, shape))
        click.echo(f"wrote {output}", err=True)
        return
    audit.record(session, "export", slug, detail={"via": "cli", "what": what, "format": fmt})
    if output is not None:
        with output.open("w", encoding="utf-8", newline="") as file:
            for chunk in _export_chunks(session, poll, fmt, what, delimiter, bom):
                file.write(chunk)
        click.echo(f"wrote {output}", err=True)
        return
    for chunk in _export_chunks(session, poll, fmt, what, delimiter, bom):
        click.echo(chunk, nl=False)


def _export_chunks(session, poll, fmt: str, what: str, delimiter: str = ",", bom: bool = False):
    if what == "methodology":
        statement = release.methodology_statement(session, poll, None, sms_sender=current_app.config["SMS_SENDER"],
                                                  contact=current_app.config["CONTACT"])
        yield json.dumps(statement, ensure_ascii=False, indent=2) + "\n"
        return
    if what == "results" and fmt == "json":
        yield json.dumps(release.operator_document(session, poll, None), ensure_ascii=False) + "\n"
        return
    if what == "results":
        release.record_export(session, poll, None, what, fmt)
        header, rows = release.result_rows(session, poll)
    else:
        shape = release.answers_shape(session, poll, None)
        release.record_export(session, poll, None, what, fmt)
        header, rows = release.answer_rows(session, poll, shape)
    if fmt == "csv":
        yield from csv_chunks(header, rows, delimiter=delimiter, bom=bom)
    else:
        yield from json_lines(header, rows)
