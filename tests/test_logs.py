"""The suite's log check: every server log is searched for phone numbers and link tokens, and finds them."""

from __future__ import annotations

import logging

from tests import logs

TOKEN = "AbCdEfGhIjKlMnOpQr_-12"  # 22 URL-safe characters, as a link's token
PLANTED = [
    "+9647701234567", "009647701234567", "9647701234567", "07701234567", "0770 123 4567", "+964 770 123 4567",
    "0770-123-4567", "٠٧٧٠١٢٣٤٥٦٧", "+٩٦٤٧٧٠١٢٣٤٥٦٧", "۰۷۷۰۱۲۳۴۵۶۷", "GET /sms/kannel/mo?from=%2B9647701234567",
    f"GET /p/{TOKEN} HTTP/1.1", f"GET /%70/{TOKEN}", "issued rOUzzcOKTyFWq5WS7x2Qqw in a line",
]
ORDINARY = [
    '127.0.0.1 - - [10/Jan/2024:09:00:01 +0000] "GET /sms/kannel/mo?secret=…&from=…&text=…&id=… HTTP/1.1" 200 56',
    '127.0.0.1 - - [10/Jan/2024:09:00:01 +0000] "GET /p/… HTTP/1.1" 200 4312 "-" "Python-urllib/3.11"',
    "2024-07-10 12:34:56,789 poll.sms INFO SMS to +964 7•• ••• •567 [inv-12]: Answer: https://poll.example.iq/p/…",
    "2024-07-10 12:34:56 [bearerbox] message id 1f0e7c1a-0770-4d2b-9a55-077012345678 took 0.7701234567 s",
    "[2024-07-10 12:34:56 +0000] [12345] [INFO] Booting worker with pid: 12346",
]


def test_the_scanner_finds_every_form_of_a_number_and_a_token_naming_file_and_line(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("\n".join([*ORDINARY, *PLANTED]) + "\n", encoding="utf-8")
    report = logs.scan({log: 1}, issued_tokens={"rOUzzcOKTyFWq5WS7x2Qqw"})
    flagged = sorted({finding.line for finding in report.findings})
    assert flagged == list(range(len(ORDINARY) + 1, len(ORDINARY) + len(PLANTED) + 1))
    assert report.lines == len(ORDINARY) + len(PLANTED)
    assert str(report.findings[0]).startswith(f"{log}:{len(ORDINARY) + 1}: a phone number ")
    # What the report says is enough to find the line, and is no number itself.
    assert not any(logs.found_in(problem) for problem in report.problems())


def test_ordinary_log_lines_are_not_taken_for_numbers(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("\n".join(ORDINARY) + "\n", encoding="utf-8")
    assert logs.scan({log: 0}).problems() == []


def test_a_log_missing_or_shorter_than_its_server_writes_fails_the_check(tmp_path):
    short = tmp_path / "access.log"
    short.write_text("one line\n")
    report = logs.scan({short: 2, tmp_path / "never-written.log": 1})
    assert [problem.split(": ", 1)[1] for problem in report.problems()] == [
        "1 lines, fewer than the 2 its server writes",
        "missing (its server should have written at least 1 lines)",
    ]


def test_a_number_planted_in_a_captured_log_is_found_by_the_end_of_session_check():
    planted = logs.path("planted")
    planted.write_text("a line\nSMS from 07701234567 said 2\n", encoding="utf-8")
    try:
        report = logs.scan(logs.registered(), logs.tokens())
        assert f"{planted}:2: a phone number '077012…'" in report.problems()
    finally:
        planted.unlink()
        logs.forget(planted)


def test_what_the_app_logs_lands_where_the_check_reads_it(caplog):
    with caplog.at_level(logging.INFO, logger="poll.sms"):
        logging.getLogger("poll.sms").info("captured-app-line-%s", "8c1e")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "captured-app-line-8c1e" in logs.latest("app").read_text(encoding="utf-8")


def test_the_log_gateway_never_logs_the_number_it_sends_to(caplog):
    from poll.sms.gateways import LogGateway, Outgoing

    with caplog.at_level(logging.INFO, logger="poll.sms"):
        LogGateway().send(Outgoing(1, "+9647701234567", "Answer: https://poll.example.iq/p/" + TOKEN, "inv-1",
                                   "https://poll.example.iq/sms/kannel/dlr?secret=x"))
    assert logs.found_in(caplog.text) == [] and "+964 7•• ••• •567" in caplog.text
