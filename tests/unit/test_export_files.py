"""`registervard export` as an operator uses it: a workbook or CSV that Swedish Excel opens as a table, with Swedish
headers that `registervard import` reads back, a protected identity's row saying so, and dates that are dates. On a
SQLite register built through the register projection (tests/small_register.py), no broker."""

from __future__ import annotations

import codecs
import csv
from datetime import UTC, datetime

import openpyxl
import pytest
from typer.testing import CliRunner

from projections.export import EXPORT_COLUMNS, EXPORT_HEADER
from registervard import importing
from registervard.cli import app as cli
from tests import small_register
from tests.small_register import CHECKED, COMPANY, DECEASED, IDENTITIES, PROTECTED

READ_BACK = {
    "Kundnummer": "customer_id",
    "Kundtyp": "kind",
    "Status": "status",
    "Skyddad identitet": "protected",
    "Person-/organisationsnummer": "identity_number",
    "Förnamn": "given_names",
    "Efternamn": "surname",
    "Företagsnamn": "company_name",
    "C/O": "care_of",
    "Gatuadress": "street",
    "Postnummer": "postal_code",
    "Ort": "city",
    "Land": "country",
    "Telefon": "phone",
    "E-post": "email",
    "Kontaktperson för": "contact_person_for",
}
"""The export's headers the import maps, and to which field; the register's own columns it lists as not imported."""


@pytest.fixture
def env(tmp_path):
    return {"REGISTERVARD_DATABASE_URL": small_register.build(tmp_path / "register.db"), "COLUMNS": "200"}


def export(env, *args):
    result = CliRunner().invoke(cli, ["export", "--recipient", "Tryckeriet AB", *map(str, args)], env=env)
    assert result.exit_code == 0, result.output
    return result


def read_back(path):
    """The file as `registervard import` reads it: outcomes by customer id, and the rejected rows."""
    table = importing.open_table(path)
    columns = importing.resolve_columns(table.header)
    plan = importing.map_rows(
        importing.rows_by_field(table.rows, columns),
        source="TEST",
        occurred_at=datetime(2025, 6, 1, tzinfo=UTC),
        id_from_identity=lambda number: "X-" + number,
    )
    return {o.customer_id: o for o in [*plan.rows, *plan.references]}, plan.rejected


def test_the_export_headers_are_swedish_and_the_import_maps_them_to_the_register_fields():
    header = list(EXPORT_HEADER)
    columns = importing.resolve_columns(header)
    assert {header[i]: field for i, field in columns.items()} == READ_BACK
    assert len(header) == len(EXPORT_COLUMNS) and not any("_" in h for h in header)


def test_an_export_named_xlsx_is_a_workbook_with_a_bold_frozen_filtered_swedish_header_and_real_dates(env, tmp_path):
    path = tmp_path / "register.xlsx"
    export(env, "--output", path)  # no --format: the name says it
    sheet = openpyxl.load_workbook(path)["Register"]
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == list(EXPORT_HEADER)
    assert all(c.font.b for c in rows[0])
    assert (sheet.freeze_panes, sheet.auto_filter.ref) == ("A2", f"A1:Z{len(rows)}")
    records = {row[0].value: {EXPORT_HEADER[i]: c for i, c in enumerate(row)} for row in rows[1:]}
    assert len(records) == 7
    dead = records[DECEASED]
    assert dead["Avliden den"].is_date and dead["Avliden den"].value == datetime(2025, 3, 15)
    assert dead["Adress sedan"].is_date and dead["Status"].value == "DECEASED"
    anna = records[CHECKED]
    assert (anna["Förnamn"].value, anna["Person-/organisationsnummer"].value, anna["Telefon"].value) == ("Anna", IDENTITIES[CHECKED], "+46701234561")
    assert anna["Person-/organisationsnummer"].data_type == "s"  # a 12-digit number stays text, never 1.98E+11
    hidden = records[PROTECTED]
    assert hidden["Skyddad identitet"].value == "ja" and anna["Skyddad identitet"].value == "nej"
    assert [hidden[h].value for h in ("Förnamn", "Efternamn", "Gatuadress", "Postnummer", "Ort")] == [None] * 5

    outcomes, rejected = read_back(path)
    assert rejected == []
    assert isinstance(outcomes[PROTECTED], importing.ReferenceRow)  # matches the register's customer; not "given_names: is required"
    assert outcomes[COMPANY].event.registration.company_name == "Exempel AB"


def test_an_export_to_csv_is_semicolon_separated_utf8_with_a_byte_order_mark_and_iso_dates(env, tmp_path):
    path = tmp_path / "register.csv"
    export(env, "--output", path)
    raw = path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert list(rows[0]) == list(EXPORT_HEADER)
    records = {r["Kundnummer"]: r for r in rows}
    assert (records[DECEASED]["Avliden den"], records[CHECKED]["Adress sedan"]) == ("2025-03-15", "2025-01-10")
    assert (records[PROTECTED]["Skyddad identitet"], records[PROTECTED]["Förnamn"]) == ("ja", "")
    assert records[CHECKED]["Telefon"] == "+46701234561"  # a plain number: no apostrophe to spoil it

    outcomes, rejected = read_back(path)
    assert rejected == [] and isinstance(outcomes[PROTECTED], importing.ReferenceRow)


def test_a_format_that_disagrees_with_the_files_name_is_refused(env, tmp_path):
    result = CliRunner().invoke(cli, ["export", "--recipient", "T", "--format", "xlsx", "--output", str(tmp_path / "register.csv")], env=env)
    assert result.exit_code == 2 and "register.csv does not end in .xlsx" in result.output
    assert not (tmp_path / "register.csv").exists()
