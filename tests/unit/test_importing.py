"""The row mapping of `registervard import`: headers, normalisation, rejections, duplicates, deterministic ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from events.catalog import CustomerKind, CustomerRegistered
from registervard import importing
from registervard.importing import RowRejected, map_rows, normalise_phone, resolve_columns, row_document

AS_OF = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 2, tzinfo=UTC)
PERSONNUMMER = "811218-9876"
TWELVE = "198112189876"
ORGNR = "556036-0793"


def derived(number: str) -> str:
    return "C-" + number[-4:] + "x"  # a stand-in for the keyed hash; the real one is tested below


def row(**values: str) -> dict[str, str]:
    base = {
        "customer_id": "K-1",
        "identity_number": PERSONNUMMER,
        "given_names": "Anna",
        "surname": "Svensson",
        "street": "Storgatan 1",
        "postal_code": "111 22",
        "city": "Stockholm",
        "phone": "070-123 45 67",
        "email": "anna@example.se",
    }
    return {k: v for k, v in {**base, **values}.items() if v is not None}


def plan(*rows: dict[str, str], **options):
    return map_rows(
        enumerate(rows, start=2),
        source=options.pop("source", "CRM"),
        occurred_at=options.pop("occurred_at", AS_OF),
        id_from_identity=derived,
        now=NOW,
        **options,
    )


def the_rejection(values: dict[str, str]) -> RowRejected:
    result = plan(values)
    assert not result.rows, "the row was accepted"
    (rejection,) = result.rejected
    assert rejection.line_number == 2
    return rejection.error


# --- Headers --------------------------------------------------------------------------


def test_swedish_and_english_headers_map_to_the_same_fields_whatever_the_case_and_spacing():
    swedish = ["Kundnummer", "PERSONNUMMER", " Förnamn ", "Efternamn", "Företag", "C/O", "Gatuadress", "Postnummer", "Ort", "Land", "Telefon", "E-post"]
    english = [
        "customer_id",
        "identity_number",
        "given_names",
        "surname",
        "company_name",
        "care of",
        "street",
        "postal_code",
        "city",
        "country",
        "phone",
        "email",
    ]
    assert (
        resolve_columns(swedish)
        == resolve_columns(english)
        == dict(enumerate((*importing.FIELDS[:5], "care_of", "street", "postal_code", "city", "country", "phone", "email")))
    )


def test_organisationsnummer_maps_to_the_identity_number_and_unknown_columns_are_ignored():
    assert resolve_columns(["Organisationsnummer", "Företag", "Anteckning"]) == {0: "identity_number", 1: "company_name"}


def test_map_overrides_and_adds_columns_and_can_ignore_one():
    overrides = importing.parse_overrides(["Mobil nr=phone", "Telefon=ignore"])
    assert resolve_columns(["Kundnummer", "Telefon", "Mobil nr"], overrides) == {0: "customer_id", 2: "phone"}


def test_a_map_to_an_unknown_field_is_refused():
    with pytest.raises(ValueError, match="unknown field 'telefax'"):
        importing.parse_overrides(["Fax=telefax"])


def test_two_columns_for_one_field_are_refused():
    with pytest.raises(ValueError, match="columns 2 and 3 both map to phone"):
        resolve_columns(["Kundnummer", "Telefon", "Mobil"])


def test_a_file_without_an_id_or_identity_column_is_refused():
    with pytest.raises(ValueError, match="no column holds a customer id or an identity number"):
        resolve_columns(["Förnamn", "Efternamn"])


def test_spreadsheet_cells_become_text_without_float_noise():
    table = [(2, [198112189876, 11122.0, None])]
    assert list(importing.rows_by_field(table, {0: "identity_number", 1: "postal_code", 2: "city"})) == [
        (2, {"identity_number": "198112189876", "postal_code": "11122", "city": ""})
    ]


# --- Normalisation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, e164",
    [
        ("070-123 45 67", "+46701234567"),
        ("0701234567", "+46701234567"),
        ("+46 70 123 45 67", "+46701234567"),
        ("+46 (0)70-123 45 67", "+46701234567"),
        ("0046701234567", "+46701234567"),
        ("46701234567", "+46701234567"),
        ("701234567", "+46701234567"),  # the leading 0 a spreadsheet dropped
        ("08-12 34 56", "+468123456"),
        ("+47 22 12 34 56", "+4722123456"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(written, e164):
    assert normalise_phone(written) == e164


@pytest.mark.parametrize("written", ["12", "abc", "070-12", "+46 70 123 45 67 89 00", ""])
def test_unreadable_phone_numbers_are_refused_without_echoing_them(written):
    with pytest.raises(ValueError) as error:
        normalise_phone(written)
    assert written.strip() == "" or written not in str(error.value)


def test_a_row_becomes_a_registration_with_the_12_digit_number_normalised_postal_code_and_phone():
    result = plan(row(care_of="Eriksson", country="Sverige"))
    (imported,) = result.rows
    event = imported.event
    assert isinstance(event, CustomerRegistered)
    assert (event.customer_id, event.customer_kind, event.envelope.source) == ("K-1", CustomerKind.PERSON, "CRM")
    assert event.envelope.occurred_at == AS_OF
    details = event.registration
    assert details.identity_number == TWELVE
    assert (details.name.given_names, details.name.surname) == ("Anna", "Svensson")
    assert (details.address.postal_code, details.address.country, details.address.care_of) == ("11122", "SE", "Eriksson")
    assert (details.contact.phone, details.contact.email) == ("+46701234567", "anna@example.se")


def test_a_row_with_an_organisationsnummer_is_a_company_with_its_name():
    (imported,) = plan(row(identity_number=ORGNR, given_names="", surname="", company_name="Exempel AB", phone="")).rows
    assert imported.event.customer_kind is CustomerKind.COMPANY
    assert (imported.event.registration.identity_number, imported.event.registration.company_name) == ("165560360793", "Exempel AB")


def test_the_company_option_makes_every_row_an_existing_customer_of_it():
    (imported,) = plan(row(), company="Registervård Demo AB").rows
    assert imported.event.company == "Registervård Demo AB"


def test_a_row_without_a_customer_id_gets_an_id_derived_from_the_identity_number_never_the_number_itself():
    (imported,) = plan(row(customer_id="")).rows
    assert imported.customer_id == derived(TWELVE)
    assert TWELVE not in imported.customer_id


def test_the_real_derived_id_is_an_opaque_keyed_hash():
    from projections.lookup import lookup_hash

    opaque = importing.opaque_id(lookup_hash(PERSONNUMMER))
    assert opaque.startswith("C-") and len(opaque) == 18
    assert opaque == importing.opaque_id(lookup_hash(TWELVE))
    assert "811218" not in opaque


# --- Rejections ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, field, code",
    [
        ({"identity_number": "811218-9870"}, "identity_number", "INVALID_IDENTITY_NUMBER"),
        ({"identity_number": "12345"}, "identity_number", "INVALID_IDENTITY_NUMBER"),
        ({"surname": ""}, "surname", "MISSING_FIELD"),
        ({"given_names": ""}, "given_names", "MISSING_FIELD"),
        ({"identity_number": ORGNR, "given_names": "", "surname": ""}, "company_name", "MISSING_FIELD"),
        ({"customer_id": "", "identity_number": ""}, "customer_id", "MISSING_FIELD"),
        ({"customer_id": TWELVE}, "customer_id", "PERSONAL_DATA_IN_KEY"),
        ({"customer_id": "K 1"}, "customer_id", "INVALID_FIELD"),
        ({"postal_code": "1234"}, "postal_code", "INVALID_POSTAL_CODE"),
        ({"city": ""}, "city", "MISSING_FIELD"),
        ({"country": "Atlantis"}, "country", "INVALID_FIELD"),
        ({"phone": "12"}, "phone", "INVALID_PHONE"),
        ({"email": "anna-at-example"}, "email", "INVALID_FIELD"),
    ],
)
def test_each_bad_row_is_rejected_naming_the_field_and_without_personal_data(values, field, code):
    error = the_rejection(row(**values))
    assert (error.field, error.code) == (field, code)
    message = str(error)
    for personal in ("811218", "Svensson", "anna", "070", "Storgatan", "Stockholm", "Atlantis"):
        assert personal not in message


def test_a_blank_row_is_skipped_not_rejected():
    result = plan({"customer_id": "", "surname": "  "})
    assert not result.rows and not result.rejected


# --- Duplicates --------------------------------------------------------------------------


def test_a_second_row_with_the_same_customer_id_is_rejected_naming_the_first():
    result = plan(row(), row(identity_number="", phone=""))
    assert [r.line_number for r in result.rows] == [2]
    (dup,) = result.duplicates
    assert (dup.line_number, dup.error.field, dup.error.code) == (3, "customer_id", "DUPLICATE_IN_FILE")
    assert "line 2" in dup.error.reason


def test_a_second_row_with_the_same_identity_number_in_another_spelling_is_rejected():
    result = plan(row(), row(customer_id="K-2", identity_number=TWELVE))
    (dup,) = result.duplicates
    assert (dup.line_number, dup.error.field) == (3, "identity_number")
    assert str(dup) == "line 3: identity_number: the same identity number as line 2 [DUPLICATE_IN_FILE]"


def test_a_rejected_row_does_not_claim_its_customer_id():
    result = plan(row(phone="12"), row(identity_number=""))
    assert [r.line_number for r in result.rows] == [3]
    assert [r.line_number for r in result.rejected] == [2]


# --- Deterministic ids ----------------------------------------------------------------------


def test_the_same_file_as_of_the_same_moment_gives_the_same_event_ids_whenever_it_is_read():
    first = plan(row(), row(customer_id="K-2", identity_number="", phone=""))
    again = map_rows(
        enumerate([row(), row(customer_id="K-2", identity_number="", phone="")], start=2),
        source="CRM",
        occurred_at=AS_OF,
        id_from_identity=derived,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert [r.event.event_id for r in first.rows] == [r.event.event_id for r in again.rows]
    assert len({r.event.event_id for r in first.rows}) == 2


def test_another_as_of_moment_or_source_gives_other_event_ids():
    base = plan(row()).rows[0].event.event_id
    assert plan(row(), occurred_at=datetime(2025, 3, 2, tzinfo=UTC)).rows[0].event.event_id != base
    assert plan(row(), source="WEBSHOP").rows[0].event.event_id != base


def test_a_row_document_is_what_publish_reads():
    document = row_document(row(), source="CRM", occurred_at=AS_OF, id_from_identity=derived)
    assert document["type"] == "CustomerRegistered"
    assert document["occurred_at"] == "2025-03-01T12:00:00Z"
    assert "recorded_at" not in document and "event_id" not in document


# --- Reading files --------------------------------------------------------------------------


def test_csv_files_with_semicolons_and_a_bom_are_read_with_line_numbers(tmp_path):
    path = tmp_path / "kunder.csv"
    path.write_text("\ufeffKundnummer;Förnamn\nK-1;Anna\n\nK-2;Bo\n", encoding="utf-8")
    header, rows = importing.read_table(path)
    assert header == ["Kundnummer", "Förnamn"]
    assert [(n, cells) for n, cells in rows if cells] == [(2, ["K-1", "Anna"]), (4, ["K-2", "Bo"])]


def test_xlsx_files_are_read_with_sheet_row_numbers(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["Kundnummer", "Personnummer"])
    book.active.append(["K-1", 198112189876])
    book.save(tmp_path / "kunder.xlsx")
    header, rows = importing.read_table(tmp_path / "kunder.xlsx")
    assert header == ["Kundnummer", "Personnummer"]
    assert list(rows) == [(2, ["K-1", 198112189876])]


def test_a_cell_with_a_line_break_inside_is_read_as_one_line():
    from registervard.importing import cell_text

    assert cell_text("Storgatan 1\nLgh 1102") == "Storgatan 1 Lgh 1102"
    assert cell_text("  Anna\tMaria ") == "Anna Maria"


# --- Streaming (a file of any size) ----------------------------------------------------------


def test_a_csv_file_is_read_row_by_row_not_all_at_once(tmp_path):
    # Bytes that are not UTF-8 far down the file: a reader that decodes the whole file first fails before the first row.
    path = tmp_path / "kunder.csv"
    path.write_bytes("Kundnummer;Förnamn\nK-1;Anna\n".encode() + b"K-2;" + b"x" * 100_000 + b"\xff\n")
    header, rows = importing.read_table(path)
    assert header == ["Kundnummer", "Förnamn"]
    assert next(iter(rows)) == (2, ["K-1", "Anna"])


def test_rows_are_mapped_as_they_are_read_and_duplicates_are_still_found(tmp_path):
    def endless():
        yield 2, row()
        yield 3, row(customer_id="K-2", identity_number=TWELVE)  # the person of line 2 under another id
        number = 4
        while True:
            yield number, row(customer_id=f"K-{number}", identity_number="", phone="")
            number += 1

    outcomes = importing.mapped_rows(endless(), source="CRM", occurred_at=AS_OF, id_from_identity=derived, now=NOW)
    first, second, third = (next(outcomes) for _ in range(3))
    assert isinstance(first, importing.ImportedRow) and first.line_number == 2
    assert isinstance(second, importing.Rejection)
    assert str(second) == "line 3: identity_number: the same identity number as line 2 [DUPLICATE_IN_FILE]"
    assert isinstance(third, importing.ImportedRow) and third.customer_id == "K-4"


def test_the_row_estimate_of_a_csv_file_counts_its_data_lines(tmp_path):
    path = tmp_path / "kunder.csv"
    path.write_text("Kundnummer\nK-1\nK-2\nK-3", encoding="utf-8")  # no line break after the last row
    assert importing.row_estimate(path) == 3


# --- The demo register to import ---------------------------------------------------------------


def test_the_demo_register_imports_every_row_as_a_distinct_customer(tmp_path):
    from registervard.demo import write_import_csv

    path = tmp_path / "demo.csv"
    assert write_import_csv(path, customers=3000) == 3000
    header, table = importing.read_table(path)
    result = map_rows(importing.rows_by_field(table, resolve_columns(header)), source="CRM", occurred_at=AS_OF, id_from_identity=derived, now=NOW)
    assert [str(r) for r in result.rejected] == []
    assert len({r.customer_id for r in result.rows}) == 3000
    assert len({r.document["registration"]["identity_number"] for r in result.rows}) == 3000
    assert {r.event.customer_kind for r in result.rows} == {CustomerKind.PERSON, CustomerKind.COMPANY}


# --- The identity hash the import looks the register up by ----------------------------------------


@pytest.mark.parametrize("spelling", [PERSONNUMMER, TWELVE, ORGNR, "19" + "811218-9876"])
@pytest.mark.parametrize("secret", [None, "another-key"])
def test_the_import_and_the_register_hash_a_stored_number_as_the_lookup_hashes_any_spelling_of_it(spelling, secret):
    from projections.lookup import lookup_hash, stored_number_hash

    twelve = importing.parse_identity_number(spelling).number
    assert stored_number_hash(twelve, secret) == lookup_hash(spelling, secret)
