"""The shared spreadsheet writer (projections/spreadsheet_output.py), read back as Excel and a CSV reader would."""

from __future__ import annotations

import codecs
import csv
from datetime import UTC, date, datetime
from enum import StrEnum

import openpyxl
import pytest

from projections.spreadsheet_output import CsvWriter, WorkbookWriter, check_writable, csv_text, neutralise, spreadsheet_writer

ATTACKS = ["=HYPERLINK(\"http://evil.example\";\"klicka\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


class Colour(StrEnum):
    RED = "RED"


def test_a_workbook_has_a_bold_frozen_filtered_header_and_real_dates(tmp_path):
    path = tmp_path / "out.xlsx"
    with spreadsheet_writer(path, ["Kundnummer", "Född", "Senast ändrad", "Antal", "Skyddad"], title="Blad") as writer:
        writer.write(["K-1", date(1981, 12, 18), datetime(2025, 6, 1, 12, 30, tzinfo=UTC), 3, True])
        writer.write(["K-2", None, None, 0, False])
    sheet = openpyxl.load_workbook(path)["Blad"]
    assert all(cell.font.b for cell in sheet[1])
    assert not any(cell.font.b for cell in sheet[2])
    assert (sheet.freeze_panes, sheet.auto_filter.ref) == ("A2", "A1:E3")
    born, changed = sheet["B2"], sheet["C2"]
    assert born.is_date and born.value == datetime(1981, 12, 18) and born.number_format == "yyyy-mm-dd"
    assert changed.is_date and changed.value == datetime(2025, 6, 1, 12, 30)  # UTC: a cell has no time zone
    assert [sheet["D2"].value, sheet["E2"].value, sheet["E3"].value, sheet["B3"].value] == [3, "ja", "nej", None]
    assert sheet.column_dimensions["A"].width >= len("Kundnummer")  # fitted: not Excel's default of 8.43


def test_a_workbook_writes_every_would_be_formula_as_text(tmp_path):
    path = tmp_path / "out.xlsx"
    with WorkbookWriter(path, ["Namn", "Telefon"]) as writer:
        for attack in ATTACKS:
            writer.write([attack, "+46701234567"])
    sheet = openpyxl.load_workbook(path).active
    names = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert all(cell.data_type == "s" for cell in names), [(c.value, c.data_type) for c in names]
    assert [cell.value for cell in names] == [a.replace("\r", "\n") for a in ATTACKS]  # XML reads a carriage return as a line break
    assert sheet["B2"].value == "+46701234567" and sheet["B2"].data_type == "s"  # a phone number stays text


def test_a_workbook_holds_its_rows_in_order_past_the_rows_it_fits_widths_from(tmp_path):
    path = tmp_path / "many.xlsx"
    with WorkbookWriter(path, ["Nr", "Text"]) as writer:
        for i in range(1000):
            writer.write([i, "x" * (i % 7)])
    rows = list(openpyxl.load_workbook(path, read_only=True).active.iter_rows(values_only=True))
    assert len(rows) == 1001 and [r[0] for r in rows[1:]] == list(range(1000))


def test_csv_is_semicolon_separated_utf8_with_a_byte_order_mark_and_iso_dates(tmp_path):
    path = tmp_path / "out.csv"
    with spreadsheet_writer(path, ["Kundnummer", "Född", "Ändrad", "Skyddad", "Ort", "Färg", "Tal"]) as writer:
        writer.write(["K-1", date(1981, 12, 18), datetime(2025, 6, 1, 14, 30, tzinfo=UTC), True, "Malmö; Skåne", Colour.RED, 46701234567.0])
    raw = path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert rows == [
        ["Kundnummer", "Född", "Ändrad", "Skyddad", "Ort", "Färg", "Tal"],
        ["K-1", "1981-12-18", "2025-06-01 14:30:00", "ja", "Malmö; Skåne", "RED", "46701234567"],
    ]


def test_csv_neutralises_formulas_but_leaves_plain_numbers_alone(tmp_path):
    path = tmp_path / "out.csv"
    with CsvWriter(path, ["Namn"]) as writer:
        for attack in ATTACKS:
            writer.write([attack])
        writer.write(["+46701234567"])
        writer.write(["-12,5"])
    cells = [row[0] for row in csv.reader(path.read_text(encoding="utf-8-sig").splitlines(), delimiter=";") if row]
    neutralised = cells[1 : 1 + len(ATTACKS)]
    assert all(cell.startswith("'") for cell in neutralised), neutralised
    assert cells[-2:] == ["+46701234567", "-12,5"]


@pytest.mark.parametrize("text", ["=1+1", "+1+1", "-1+1", "@A1", "\tx", "\rx", "+46 70-123 45 67", "-"])
def test_text_starting_like_a_formula_gets_an_apostrophe(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["Anna", "070-123 45 67", "+46701234567", "-5", "", "a=b"])
def test_other_text_is_left_as_it_is(text):
    assert neutralise(text) == text


def test_a_stream_gets_no_byte_order_mark_and_the_delimiter_asked_for(tmp_path):
    path = tmp_path / "stream.csv"
    with path.open("w", encoding="utf-8", newline="") as stream, CsvWriter(stream, ["a", "b"], delimiter=",", lineterminator="\n") as writer:
        writer.write([None, date(2025, 1, 2)])
        assert writer.path is None
    assert path.read_bytes() == b"a,b\n,2025-01-02\n"


def test_a_failed_write_leaves_no_half_file(tmp_path):
    for name in ("half.csv", "half.xlsx"):
        path = tmp_path / name
        with pytest.raises(RuntimeError), spreadsheet_writer(path, ["a"]) as writer:
            writer.write(["1"])
            raise RuntimeError("the register went away")
        assert not path.exists()


@pytest.mark.parametrize("name", ["gammal.xls", "makro.xlsm", "calc.ods"])
def test_kinds_of_spreadsheet_it_cannot_write_are_refused_with_advice(tmp_path, name):
    with pytest.raises(ValueError, match=r"name the file \.xlsx \(Excel workbook\) or \.csv"):
        check_writable(tmp_path / name)


def test_csv_text_of_values():
    values = (None, False, 3, 2.5, date(2025, 1, 2), datetime(2025, 1, 2, 3, 4, 5))
    assert [csv_text(v) for v in values] == ["", "nej", "3", "2.5", "2025-01-02", "2025-01-02 03:04:05"]
