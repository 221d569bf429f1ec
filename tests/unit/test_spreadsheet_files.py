"""Reading a register's file as offices write them: the encoding, the delimiter and the header row are found, and a
file that is not text is refused naming the line, never with a traceback."""

from __future__ import annotations

import codecs

import pytest

from registervard import spreadsheet_files
from registervard.importing import header_score, open_table
from registervard.spreadsheet_files import UnreadableFile, count_lines, sniff, sniff_delimiter, sniff_encoding

SWEDISH = "Kundnr;Pnr;Namn;Ort\nK-1;811218-9876;Åsa Öberg;Malmö\nK-2;194107086995;Lars Ek;Växjö\n"


@pytest.mark.parametrize(
    "data, encoding",
    [
        (SWEDISH.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + SWEDISH.encode("utf-8"), "utf-8-sig"),
        (SWEDISH.encode("cp1252"), "cp1252"),
        (SWEDISH.encode("utf-16"), "utf-16"),
        (b"Kundnr;Namn\nK-1;Bo Ek\n", "utf-8"),
    ],
)
def test_the_encoding_is_told_from_the_start_of_the_file(data, encoding):
    assert sniff_encoding(data) == encoding


def test_a_utf8_character_cut_at_the_end_of_the_sample_does_not_make_it_cp1252():
    assert sniff_encoding("Kundnr;Namn\nK-1;Åsa".encode()[:-1]) == "utf-8"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_swedish_letters_are_read_in_every_encoding_excel_writes(tmp_path, encoding):
    path = tmp_path / "kunder.csv"
    path.write_bytes(SWEDISH.encode(encoding))
    table = open_table(path)
    assert table.header == ["Kundnr", "Pnr", "Namn", "Ort"]
    assert [cells[2:] for _, cells in table.rows] == [["Åsa Öberg", "Malmö"], ["Lars Ek", "Växjö"]]


def test_a_file_that_begins_in_ascii_and_turns_cp1252_far_down_is_read_as_cp1252(tmp_path):
    path = tmp_path / "kunder.csv"
    ascii_rows = "".join(f"K-{i};Bo Ek\n" for i in range(20_000))  # far more than the sample the encoding is told from
    path.write_bytes(f"Kundnr;Namn\n{ascii_rows}K-x;Åsa Öberg\n".encode("cp1252"))
    assert sniff(path)[0] == "utf-8"
    rows = list(open_table(path).rows)
    assert rows[-1] == (20_002, ["K-x", "Åsa Öberg"])
    assert count_lines(path) == 20_002


def test_a_utf8_file_with_a_line_that_is_not_utf8_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "kunder.csv"
    path.write_bytes("Kundnr;Namn\nK-1;Åsa Öberg\n".encode() + "K-2;Örjan Ek\n".encode("cp1252"))
    with pytest.raises(UnreadableFile) as refused:
        count_lines(path)
    message = str(refused.value)
    assert message.startswith("line 3 is not UTF-8 text like the lines before it (byte 0xD6 at position 5 of the line)")
    assert "Örjan" not in message and "\n" not in message
    with pytest.raises(UnreadableFile, match=r"^line 3 "):
        list(open_table(path).rows)


def test_a_byte_that_is_neither_utf8_nor_cp1252_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "kunder.csv"
    path.write_bytes(b"Kundnr;Namn\nK-1;Bo Ek\nK-2;\x81\n")
    with pytest.raises(UnreadableFile, match=r"^line 3 is neither UTF-8 nor Windows-1252 text"):
        count_lines(path)


def test_a_binary_file_or_an_old_workbook_is_refused_with_advice(tmp_path):
    binary = tmp_path / "kunder.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(UnreadableFile, match="is not a text file"):
        open_table(binary)
    old = tmp_path / "kunder.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(UnreadableFile, match=r"old Excel workbook \(\.xls\); save it as \.xlsx"):
        open_table(old)


@pytest.mark.parametrize(
    "text, delimiter",
    [
        ("Kundnr;Namn;Ort\nK-1;Anna;Malmö\n", ";"),
        ("Kundnr,Namn,Ort\nK-1,Anna,Malmö\n", ","),
        ("Kundnr\tNamn\tOrt\nK-1\tAnna\tMalmö\n", "\t"),
        ('Kundnr,Namn\nK-1,"Svensson, Anna"\nK-2,"Ek, Bo"\n', ","),  # commas inside quoted cells
        ("Kundnr;Namn;Gatuadress\nK-1;Anna;Storgatan 5, lgh 1101\nK-2;Bo;Ringvägen 2, lgh 1002\n", ";"),  # unquoted commas in cells
        ("Kundregister 2025\n\nKundnr;Namn;Ort\nK-1;Anna;Malmö\n", ";"),  # a title row above
        ("Telefonnummer\n0701234567\n", ";"),  # one column: the default
    ],
)
def test_the_delimiter_is_the_one_that_splits_the_lines_alike(text, delimiter):
    assert sniff_delimiter(text.splitlines(keepends=True)) == delimiter


def test_the_header_is_the_first_row_naming_two_known_columns_and_the_rows_after_it_stay_unread(tmp_path):
    path = tmp_path / "kunder.csv"
    # A byte no encoding reads, far below the header: finding the header must not read that far.
    path.write_bytes(b"Kunder\n\nKundnr;Namn\nK-1;Bo Ek\n" + b"K-2;x\n" * 40 + b"K-3;\x81\n")
    table = open_table(path)
    assert (table.header_line, table.skipped) == (3, [1])
    assert next(table.rows) == (4, ["K-1", "Bo Ek"])
    table.close()


def test_without_a_row_naming_two_known_columns_the_best_of_the_first_rows_is_the_header(tmp_path):
    path = tmp_path / "nix.csv"
    path.write_text("Export från NIX\nTelefon\n0701234567\n", encoding="utf-8")
    table = spreadsheet_files.read_table(path, score=header_score())
    assert (table.header, table.header_line) == (["Telefon"], 2)


def test_an_empty_file_has_an_empty_header(tmp_path):
    path = tmp_path / "tom.csv"
    path.write_bytes(b"")
    table = open_table(path)
    assert (table.header, list(table.rows)) == ([], [])


@pytest.mark.parametrize("name", ["kunder.csv", "kunder.xlsx"])
def test_closing_a_table_before_its_rows_are_read_closes_the_file(tmp_path, name):
    import openpyxl

    path = tmp_path / name
    if name.endswith(".xlsx"):
        book = openpyxl.Workbook()
        book.active.append(["Kundnr", "Namn"])
        book.active.append(["K-1", "Bo Ek"])
        book.save(path)
    else:
        path.write_text("Kundnr;Namn\nK-1;Bo Ek\n", encoding="utf-8")
    table = open_table(path)
    table.close()
    assert table.source is not None and table.source.gi_frame is None  # the reading generator has run its cleanup
