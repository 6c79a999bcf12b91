"""`poll audience import`: phones to E.164, a report per bad line, and nothing twice."""

import random

import sqlalchemy as sa

from poll import phones
from poll.models import Recipient
from tests.helpers import fresh

GOOD = """phone,governorate,sex,age,language,employment
0770 123 4567,Baghdad,M,34,ar,teacher
+964 781 234 5678,أربيل,F,,ku,
009647512345678,IQ-BA,f,61,en,
"""


def write(tmp_path, text, name="audience.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def recipients(session):
    return fresh(session).scalars(sa.select(Recipient).order_by(Recipient.phone)).all()


def test_import_normalises_and_keeps_everything(runner, session, make_poll, tmp_path):
    poll = make_poll("import-me")
    result = runner.invoke(args=["audience", "import", "import-me", write(tmp_path, GOOD)])
    assert result.exit_code == 0, result.output
    assert "3 rows: 3 imported, 0 already in the audience, 0 duplicates in the file, 0 invalid" in result.output
    assert "extra columns kept as attributes: employment" in result.output
    rows = {row.phone: row for row in recipients(session)}
    assert set(rows) == {"+9647701234567", "+9647812345678", "+9647512345678"}
    baghdad = rows["+9647701234567"]
    assert (baghdad.governorate, baghdad.sex, baghdad.age, baghdad.age_band, baghdad.language) == (
        "IQ-BG", "M", 34, "30-44", "ar")
    assert baghdad.attributes == {"employment": "teacher"}
    assert (rows["+9647812345678"].governorate, rows["+9647812345678"].age) == ("IQ-AR", None)
    assert (rows["+9647512345678"].sex, rows["+9647512345678"].age_band) == ("F", "60+")
    session.refresh(poll)
    assert all(row.audience_id == poll.audience_id for row in rows.values())


def test_importing_the_same_file_twice_changes_nothing(runner, session, make_poll, tmp_path):
    make_poll("twice")
    path = write(tmp_path, GOOD)
    runner.invoke(args=["audience", "import", "twice", path])
    before = [(r.id, r.phone, r.governorate, r.age) for r in recipients(session)]
    result = runner.invoke(args=["audience", "import", "twice", path])
    assert result.exit_code == 0
    assert "0 imported, 3 already in the audience" in result.output
    assert [(r.id, r.phone, r.governorate, r.age) for r in recipients(session)] == before


def test_bad_rows_are_reported_by_line_and_good_rows_imported(runner, session, make_poll, tmp_path):
    make_poll("mixed")
    text = (
        "phone,governorate,sex,age,age_band\n"
        "07701234567,Baghdad,M,30,\n"          # 2 good
        "12345,Baghdad,M,30,\n"                # 3 bad phone
        "07711111111,Atlantis,M,30,\n"         # 4 bad governorate
        "07722222222,Basra,X,30,\n"            # 5 bad sex
        "07733333333,Basra,F,12,\n"            # 6 under 18
        "07744444444,Basra,F,thirty,\n"        # 7 age not a number
        "07755555555,Basra,F,40,18-29\n"       # 8 age and band disagree
        "0770 123 4567,Basra,F,50,\n"          # 9 duplicate of line 2
        "07766666666,Basra\n"                  # 10 short row
        "\n"
        "07777777777,,,,60+\n"                 # 12 good, band only
    )
    result = runner.invoke(args=["audience", "import", "mixed", write(tmp_path, text)])
    assert result.exit_code == 0
    out = result.output
    for line, reason in [
        (3, "not a"), (4, "unknown governorate 'Atlantis'"), (5, "sex must be M or F"),
        (6, "age 12 is outside"), (7, "age must be a whole number"), (8, "age 40 does not fall in age_band 18-29"),
        (10, "2 fields where the header has 5"),
    ]:
        assert f"line {line}: {reason}" in out, out
    assert "10 rows: 2 imported, 0 already in the audience, 1 duplicates in the file, 7 invalid" in out
    assert [r.phone for r in recipients(session)] == ["+9647701234567", "+9647777777777"]



def test_a_number_repeated_in_a_later_batch_keeps_its_first_row_and_is_counted_once(app, runner, session, make_poll,
                                                                                   tmp_path):
    app.config["BULK_BATCH_SIZE"] = 2  # each batch two rows: the repeats fall in other batches
    make_poll("batched")
    text = ("phone,governorate\n07701234567,Baghdad\n07702222222,Basra\n07703333333,Basra\n"
            "0770 123 4567,Basra\n+9647702222222,Erbil\n07701234567,Nineveh\n")
    first = runner.invoke(args=["audience", "import", "batched", write(tmp_path, text)])
    assert "6 rows: 3 imported, 0 already in the audience, 3 duplicates in the file, 0 invalid" in first.output
    again = runner.invoke(args=["audience", "import", "batched", write(tmp_path, GOOD)])
    assert "3 rows: 2 imported, 1 already in the audience, 0 duplicates in the file, 0 invalid" in again.output
    assert {r.phone: r.governorate for r in recipients(session)} == {
        "+9647701234567": "IQ-BG", "+9647702222222": "IQ-BA", "+9647703333333": "IQ-BA",
        "+9647812345678": "IQ-AR", "+9647512345678": "IQ-BA"}

def test_file_without_phone_column_is_refused_whole(runner, session, make_poll, tmp_path):
    make_poll("nophone")
    result = runner.invoke(args=["audience", "import", "nophone", write(tmp_path, "number,sex\n07701234567,M\n")])
    assert result.exit_code == 1
    assert "no phone column" in result.output
    assert recipients(session) == []


def test_file_that_is_not_utf8_is_refused_whole(runner, session, make_poll, tmp_path):
    make_poll("latin")
    path = tmp_path / "latin.csv"
    lines = ["phone,sex"] + [f"0770{n:07d},M" for n in range(30_000)] + ["07701234567,\xe9"]
    path.write_bytes("\n".join(lines[:-1]).encode() + b"\n07701234567,\xe9\n")
    result = runner.invoke(args=["audience", "import", "latin", str(path)])
    assert result.exit_code == 1
    assert "line 30002 is not UTF-8" in result.output
    assert recipients(session) == []


def test_empty_file_and_unknown_poll_are_one_line_errors(runner, make_poll, tmp_path):
    make_poll("empty")
    result = runner.invoke(args=["audience", "import", "empty", write(tmp_path, "")])
    assert result.exit_code == 1 and "the file is empty" in result.output
    result = runner.invoke(args=["audience", "import", "nope", write(tmp_path, GOOD)])
    assert result.exit_code == 1 and "no poll with slug 'nope'" in result.output


def test_markup_in_cells_is_stored_as_text_not_refused(runner, session, make_poll, tmp_path):
    make_poll("markup")
    text = 'phone,note\n07701234567,"<script>alert(1)</script>"\n'
    assert runner.invoke(args=["audience", "import", "markup", write(tmp_path, text)]).exit_code == 0
    assert recipients(session)[0].attributes == {"note": "<script>alert(1)</script>"}


def test_a_semicolon_separated_file_is_read_as_such(runner, session, make_poll, tmp_path):
    make_poll("semicolons")
    text = GOOD.replace(",", ";").replace("+964 781", "+964 781")
    result = runner.invoke(args=["audience", "import", "semicolons", write(tmp_path, text)])
    assert result.exit_code == 0, result.output
    assert "3 rows: 3 imported" in result.output
    assert {r.governorate for r in recipients(session)} == {"IQ-BG", "IQ-AR", "IQ-BA"}


def test_a_tab_separated_file_with_commas_in_a_field_is_read_as_such(runner, session, make_poll, tmp_path):
    make_poll("tabs")
    text = "phone\tgovernorate\tnote\n07701234567\tBaghdad\tteacher, retired\n"
    result = runner.invoke(args=["audience", "import", "tabs", write(tmp_path, text)])
    assert result.exit_code == 0, result.output
    (row,) = recipients(session)
    assert row.attributes == {"note": "teacher, retired"}


def test_every_error_of_a_line_is_reported(runner, session, make_poll, tmp_path):
    make_poll("many-errors")
    text = "phone,governorate,sex,age,language\n12345,Atlantis,X,thirty,fr\n"
    result = runner.invoke(args=["audience", "import", "many-errors", write(tmp_path, text)])
    assert result.exit_code == 0
    line = next(line for line in result.output.splitlines() if line.strip().startswith("line 2:"))
    for reason in ("not a", "unknown governorate 'Atlantis'", "sex must be M or F", "age must be a whole number",
                   "language must be ar, ku or en"):
        assert reason in line, line
    assert recipients(session) == []


def test_the_quick_reading_of_iraqi_mobiles_agrees_with_the_full_parse():
    # The usual spellings (+9647…, 07…) are read without the phone library's parse: every number so read must
    # come out as the full parse reads it, and every one it refuses must be refused the same way.
    rng = random.Random(11)
    for _ in range(20_000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([8, 9, 10])))
        for raw in (f"+9647{digits}", f"07{digits}", f" 07{digits} "):
            try:
                expected = phones._parsed(raw, "IQ")
            except ValueError:
                expected = None
            try:
                assert phones.to_e164(raw) == expected
            except ValueError:
                assert expected is None, raw
