"""The import's result file: each row's number, customer id, status and messages, as Swedish Excel opens it."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from registervard.import_results import ResultFile, RowResult, RowStatus, result_path

RESULTS = [
    RowResult(4, "C-44119c813535fc6a", RowStatus.IMPORTED),
    RowResult(5, "K-2", RowStatus.WARNING, ("email (column E-post): is not an e-mail address; left out [INVALID_FIELD]", "phone: x; left out [INVALID_PHONE]")),
    RowResult(7, "", RowStatus.REJECTED, ("customer_id: is empty and there is no identity number to derive an id from [MISSING_FIELD]",)),
]


def test_the_result_goes_beside_the_input_in_its_kind_unless_chosen():
    assert result_path(Path("/data/kunder.csv")) == Path("/data/kunder.result.csv")
    assert result_path(Path("/data/kunder.xlsx")) == Path("/data/kunder.result.xlsx")
    assert result_path(Path("/data/kunder.XLSM")) == Path("/data/kunder.result.xlsx")
    assert result_path(Path("/data/kunder.txt")) == Path("/data/kunder.result.csv")
    assert result_path(Path("/data/kunder.csv"), Path("/tmp/ut.xlsx")) == Path("/tmp/ut.xlsx")


def test_a_csv_result_is_semicolon_separated_utf8_with_a_bom(tmp_path):
    path = tmp_path / "kunder.result.csv"
    with ResultFile(path) as results:
        for result in RESULTS:
            results.write(result)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfrow;customer_id;status;messages\r\n")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[1] == "4;C-44119c813535fc6a;imported;"
    assert lines[2] == '5;K-2;warning;"email (column E-post): is not an e-mail address; left out [INVALID_FIELD] | phone: x; left out [INVALID_PHONE]"'
    assert lines[3].startswith("7;;rejected;customer_id: is empty")


def test_an_xlsx_result_has_a_bold_header_a_frozen_header_row_and_a_filter(tmp_path):
    path = tmp_path / "kunder.result.xlsx"
    with ResultFile(path) as results:
        for result in RESULTS:
            results.write(result)
    sheet = openpyxl.load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("row", "customer_id", "status", "messages")
    assert rows[1] == (4, "C-44119c813535fc6a", "imported", None)
    assert rows[3][:3] == (7, None, "rejected")
    assert all(cell.font.b for cell in sheet[1])
    assert (sheet.freeze_panes, sheet.auto_filter.ref) == ("A2", "A1:D4")
