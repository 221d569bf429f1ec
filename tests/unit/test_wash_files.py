"""`registervard wash` as an operator uses it: a call list in, a washed list out that Swedish Excel opens (a workbook
or `;`-separated CSV with a byte order mark), and a summary that tells the reasons apart. On a SQLite register built
through the register projection (tests/small_register.py), no broker."""

from __future__ import annotations

import codecs
import csv
from datetime import date, datetime

import openpyxl
import pytest
from typer.testing import CliRunner

from projections.wash_reasons import EXPLANATIONS, WASH_DENIALS, denies, explain
from registervard.cli import app as cli
from tests import small_register
from tests.small_register import AT, NO_PHONE

FORMULA = '=HYPERLINK("http://evil.example")'
CALLS = [
    ("Namn", "Telefon", "Kundnummer"),
    ("Anna", "070-123 45 61", ""),
    ("Bertil", "+46701234562", ""),
    ("Cecilia", "0701234563", ""),
    ("Ingen", "070-000 00 01", ""),
    ("Tom rad", "", ""),
    ("Erik", "", NO_PHONE),
    (FORMULA, "070-123 45 61", ""),
]
ANSWERS = {
    "Anna": ("ja", "LEGITIMATE_INTEREST, NIX_CHECKED"),
    "Bertil": ("nej", "NIX_NOT_CHECKED"),  # LEGITIMATE_INTEREST allows; it did not decide this row
    "Cecilia": ("nej", "NIX_REGISTERED"),
    "Ingen": ("nej", "UNKNOWN_NUMBER"),
    "Tom rad": ("nej", "NO_NUMBER"),
    "Erik": ("nej", "NO_PHONE_NUMBER"),
    FORMULA: ("ja", "LEGITIMATE_INTEREST, NIX_CHECKED"),
}
HEADER = ["Namn", "Telefon", "Kundnummer", "Får ringas", "Skäl", "Förklaring"]


@pytest.fixture
def env(tmp_path):
    return {"REGISTERVARD_DATABASE_URL": small_register.build(tmp_path / "register.db"), "COLUMNS": "200"}


@pytest.fixture
def calls(tmp_path):
    path = tmp_path / "ringlista.csv"
    path.write_text("".join(";".join(row) + "\n" for row in CALLS), encoding="utf-8")
    return path


def wash(env, *args):
    result = CliRunner().invoke(cli, ["wash", *map(str, args), "--company", "Acme AB", "--at", AT], env=env)
    assert result.exit_code == 0, result.output
    return result


def test_a_washed_list_named_xlsx_is_a_workbook_with_a_bold_frozen_filtered_header(env, calls, tmp_path):
    washed = tmp_path / "washed.xlsx"
    wash(env, calls, "--output", washed)
    sheet = openpyxl.load_workbook(washed).active
    rows = list(sheet.iter_rows())
    assert [cell.value for cell in rows[0]] == HEADER
    assert all(cell.font.b for cell in rows[0])
    assert (sheet.freeze_panes, sheet.auto_filter.ref) == ("A2", f"A1:F{len(CALLS)}")
    answers = {row[0].value: (row[3].value, row[4].value) for row in rows[1:]}
    assert answers == ANSWERS
    formula = rows[-1][0]
    assert (formula.value, formula.data_type) == (FORMULA, "s")  # shown as text, never run


def test_a_workbooks_cells_come_back_as_they_were_a_date_as_a_date(env, tmp_path):
    source = tmp_path / "ringlista.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["Kundnummer", "Senast kontaktad", "Antal samtal"])
    book.active.append([small_register.CHECKED, date(2025, 5, 2), 3])
    book.save(source)
    washed = tmp_path / "washed.xlsx"
    wash(env, source, "--output", washed)
    sheet = openpyxl.load_workbook(washed).active
    assert [c.value for c in sheet[1]] == ["Kundnummer", "Senast kontaktad", "Antal samtal", "Får ringas", "Skäl", "Förklaring"]
    contacted = sheet["B2"]
    assert contacted.is_date and contacted.value == datetime(2025, 5, 2)
    assert (sheet["C2"].value, sheet["D2"].value) == (3, "ja")


def test_a_washed_csv_is_semicolon_separated_utf8_with_a_byte_order_mark_and_no_formulas(env, calls, tmp_path):
    washed = tmp_path / "washed.csv"
    wash(env, calls, "--output", washed)
    raw = washed.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0] == HEADER
    assert {row[0]: (row[3], row[4]) for row in rows[1:]} == {("'" + k if k == FORMULA else k): v for k, v in ANSWERS.items()}


def test_csv_keeps_the_inputs_delimiter_and_a_workbooks_list_gets_a_semicolon(env, tmp_path):
    commas = tmp_path / "commas.csv"
    commas.write_text("Namn,Telefon\nAnna,070-123 45 61\n", encoding="utf-8")
    washed = tmp_path / "washed.csv"
    wash(env, commas, "--output", washed)
    assert washed.read_text(encoding="utf-8-sig").splitlines()[0] == "Namn,Telefon,Får ringas,Skäl,Förklaring"

    source = tmp_path / "ringlista.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["Namn", "Telefon"])
    book.active.append(["Anna", "070-123 45 61"])
    book.save(source)
    printed = wash(env, source)
    assert printed.stdout.splitlines()[0] == "Namn;Telefon;Får ringas;Skäl;Förklaring"  # standard output: no byte order mark
    assert printed.stdout.splitlines()[1].startswith("Anna;070-123 45 61;ja;")


def test_the_summary_counts_allowing_reasons_under_may_and_explains_every_reason_that_stopped_a_call(env, calls):
    result = wash(env, calls)
    summary = result.stderr
    assert "7 row(s) washed for Acme AB" in summary and "2 may be called, 5 may not." in summary
    allowed, denied = summary.split("May not be called:", 1)
    assert "LEGITIMATE_INTEREST 2" in allowed and "NIX_CHECKED 2" in allowed
    assert "LEGITIMATE_INTEREST" not in denied
    lines = {line.split()[0]: line for line in denied.strip().splitlines()}
    assert set(lines) == {"NIX_NOT_CHECKED", "NIX_REGISTERED", "UNKNOWN_NUMBER", "NO_NUMBER", "NO_PHONE_NUMBER"}
    for code in ("NO_NUMBER", "NO_PHONE_NUMBER", "UNKNOWN_NUMBER"):
        assert lines[code].endswith(explain(code, "en")), lines[code]


def test_the_three_ways_of_having_no_number_to_call_read_differently_in_the_file(env, calls):
    rows = list(csv.DictReader(wash(env, calls).stdout.splitlines(), delimiter=";"))
    explained = {row["Skäl"]: row["Förklaring"] for row in rows}
    texts = [explained[code] for code in ("NO_NUMBER", "NO_PHONE_NUMBER", "UNKNOWN_NUMBER")]
    assert len(set(texts)) == 3
    assert "varken telefonnummer eller kundnummer" in explained["NO_NUMBER"]
    assert "inget telefonnummer" in explained["NO_PHONE_NUMBER"]
    assert "tillhör ingen kund" in explained["UNKNOWN_NUMBER"]


def test_washing_a_washed_list_again_replaces_its_answer(env, calls, tmp_path):
    first, second = tmp_path / "first.xlsx", tmp_path / "second.xlsx"
    wash(env, calls, "--output", first)
    wash(env, first, "--output", second)
    header = [c.value for c in openpyxl.load_workbook(second).active[1]]
    assert header == HEADER


def test_an_output_it_cannot_write_is_refused_before_the_wash(env, calls, tmp_path):
    result = CliRunner().invoke(cli, ["wash", str(calls), "--company", "Acme AB", "--output", str(tmp_path / "washed.xls")], env=env)
    assert result.exit_code == 2 and "name the file .xlsx (Excel workbook) or .csv" in result.output
    assert not (tmp_path / "washed.xls").exists()


def test_every_code_of_the_wash_is_explained_and_only_allowing_codes_allow():
    from events.contactability import ALLOW_MESSAGES, DENY_MESSAGES
    from projections import wash as washing

    assert set(washing.WASH_REASONS) == WASH_DENIALS
    assert set(EXPLANATIONS) >= WASH_DENIALS | (set(DENY_MESSAGES) - {"NO_EMAIL_ADDRESS", "NO_POSTAL_ADDRESS"}) | (set(ALLOW_MESSAGES) - {"ESTATE"})
    assert not denies("LEGITIMATE_INTEREST") and not denies("NIX_CHECKED")
    assert denies("NO_NUMBER") and denies("NO_PHONE_NUMBER") and denies("UNKNOWN_NUMBER")
    assert explain("SOMETHING_NEW") == "SOMETHING_NEW"
