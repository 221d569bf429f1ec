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
    result = plan(row(postal_code="1234"), row(identity_number=""))
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


# --- Swedish headers, as registers write them ----------------------------------------------------


@pytest.mark.parametrize(
    "header, field",
    [
        ("Pnr", "identity_number"),
        ("Personnr", "identity_number"),
        ("Pers.nr", "identity_number"),
        ("Org.nr", "identity_number"),
        ("Org nr", "identity_number"),
        ("ORG-NR", "identity_number"),
        ("Kundnr", "customer_id"),
        ("Kund nr", "customer_id"),
        ("Namn", "name"),
        ("Postadress", "postal_address"),
        ("Postnr", "postal_code"),
        ("Ort", "city"),
        ("Mobil", "phone"),
        ("Tel.", "phone"),
        ("E-postadress", "email"),
        ("Kontaktperson", "contact_person"),
        ("Skyddad identitet", "protected"),
    ],
)
def test_swedish_headers_as_registers_write_them_are_recognised(header, field):
    assert resolve_columns(["Kundnummer" if field != "customer_id" else "Pnr", header])[1] == field


def test_every_field_of_the_header_table_is_a_field_the_import_knows(tmp_path):
    bad = tmp_path / "columns.toml"
    bad.write_text('[columns]\ntelefax = ["Fax"]\n[values]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown field 'telefax'"):
        importing._load_columns(bad)
    twice = tmp_path / "twice.toml"
    twice.write_text('[columns]\nphone = ["Tel"]\nemail = ["TEL"]\n[values]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="listed for both phone and email"):
        importing._load_columns(twice)


def test_the_english_column_names_of_an_export_are_read_back_and_the_registers_own_are_listed_as_not_imported():
    from projections.export import EXPORT_COLUMNS

    columns = resolve_columns(EXPORT_COLUMNS)
    assert {EXPORT_COLUMNS[i] for i in columns} >= {"customer_id", "identity_number", "given_names", "surname", "company_name", "protected", "kind"}
    unmapped = {EXPORT_COLUMNS[i] for i in importing.unmapped_columns(EXPORT_COLUMNS, columns)}
    assert {"address_since", "civil_status", "nix_registered"} <= unmapped
    assert "identity_number" not in unmapped


def test_columns_no_field_takes_are_listed_unless_the_map_ignores_them():
    header = ["Kundnummer", "Kund sedan", "Anteckning", None, "Fax"]
    overrides = importing.parse_overrides(["Fax=ignore"])
    columns = resolve_columns(header, overrides)
    assert importing.unmapped_columns(header, columns, overrides) == [1, 2, 3]
    assert [importing.column_name(header, i) for i in (1, 3)] == ["Kund sedan", "column 4"]


# --- Whole names and postal addresses ----------------------------------------------------------


def test_a_whole_name_is_split_into_given_names_and_surname():
    first, second = plan(
        {"customer_id": "K-1", "name": "Anna Maria Svensson"},
        {"customer_id": "K-2", "name": "Svensson, Åsa"},
    ).rows
    assert (first.event.registration.name.given_names, first.event.registration.name.surname) == ("Anna Maria", "Svensson")
    assert (second.event.registration.name.given_names, second.event.registration.name.surname) == ("Åsa", "Svensson")


def test_a_whole_name_on_a_companys_row_is_the_company_name():
    (company,) = plan({"identity_number": ORGNR, "name": "Exempel AB"}).rows
    assert company.event.customer_kind is CustomerKind.COMPANY
    assert company.event.registration.company_name == "Exempel AB"
    (by_form,) = plan({"customer_id": "K-3", "name": "Bygg & Måleri HB"}).rows
    assert by_form.event.customer_kind is CustomerKind.COMPANY


def test_separate_name_columns_win_over_a_whole_name():
    (imported,) = plan(row(name="Someone Else")).rows
    assert (imported.event.registration.name.given_names, imported.event.registration.name.surname) == ("Anna", "Svensson")


def test_a_combined_postal_address_is_split_and_s_prefixed_postal_codes_are_accepted():
    rows = plan(
        row(postal_code=None, city=None, postal_address="111 22 Stockholm"),
        row(customer_id="K-2", identity_number="", postal_code=None, city=None, postal_address="S-211 20 Malmö"),
        row(customer_id="K-3", identity_number="", postal_code=None, city=None, postal_address="SE-211 20 Malmö"),
        row(customer_id="K-4", identity_number="", postal_code="S-211 20", city="Malmö"),
    ).rows
    addresses = [(r.event.registration.address.postal_code, r.event.registration.address.city, r.event.registration.address.country) for r in rows]
    assert addresses == [("11122", "Stockholm", "SE"), ("21120", "Malmö", "SE"), ("21120", "Malmö", "SE"), ("21120", "Malmö", "SE")]


def test_a_c_o_line_in_the_street_goes_to_care_of():
    (imported,) = plan(row(street="c/o Nilsson, Storgatan 5")).rows
    address = imported.event.registration.address
    assert (address.care_of, address.street) == ("Nilsson", "Storgatan 5")
    (written,) = plan(row(care_of="C/O Nilsson")).rows
    assert written.event.registration.address.care_of == "Nilsson"


# --- Every error of a row; warnings for optional fields ---------------------------------------------


def test_every_error_of_a_row_is_reported_not_only_the_first():
    result = plan(row(identity_number="811218-9870", surname="", postal_code="1234", city=""))
    (rejection,) = result.rejected
    assert [(e.field, e.code) for e in rejection.errors] == [
        ("identity_number", "INVALID_IDENTITY_NUMBER"),
        ("surname", "MISSING_FIELD"),
        ("city", "MISSING_FIELD"),
        ("postal_code", "INVALID_POSTAL_CODE"),
    ]
    assert str(rejection).splitlines()[1] == "line 2: surname: is required for a person [MISSING_FIELD]"
    assert rejection.customer_id == "K-1"


@pytest.mark.parametrize(
    "values, field, code",
    [
        ({"phone": "12"}, "phone", "INVALID_PHONE"),
        ({"phone": "ring ej"}, "phone", "INVALID_PHONE"),
        ({"email": "saknas"}, "email", "INVALID_FIELD"),
        ({"email": "anna-at-example"}, "email", "INVALID_FIELD"),
    ],
)
def test_a_bad_optional_field_is_left_out_with_a_warning_naming_the_column_and_the_row_is_kept(values, field, code):
    result = plan(row(**values), headers={"phone": "Mobil", "email": "E-post"})
    assert not result.rejected
    (imported,) = result.rows
    contact = imported.event.registration.contact
    assert getattr(contact, field) is None
    (warning,) = imported.warnings
    assert (warning.line_number, warning.error.field, warning.error.code) == (2, field, code)
    column = {"phone": "Mobil", "email": "E-post"}[field]
    assert str(warning).startswith(f"line 2: {field} (column {column}): ") and str(warning).endswith(f"; left out [{code}]")
    assert next(iter(values.values())) not in str(warning)


def test_a_bad_phone_and_a_bad_email_leave_no_contact_details():
    (imported,) = plan(row(phone="12", email="saknas")).rows
    assert imported.event.registration.contact is None
    assert [w.error.field for w in imported.warnings] == ["phone", "email"]


# --- Protected identities, erased customers (an export read back) -------------------------------------


def test_a_protected_identity_without_name_and_address_matches_the_register_and_nothing_is_made_up():
    exported = {"customer_id": "K-7", "kind": "PERSON", "protected": "True", "identity_number": TWELVE, "phone": "+46701234567"}
    result = plan(exported)
    assert not result.rejected and not result.rows
    (reference,) = result.references
    assert (reference.line_number, reference.customer_id, reference.identity_number) == (2, "K-7", TWELVE)
    assert reference.refusal.code == "NOT_IN_REGISTER"


def test_a_row_without_a_name_that_does_not_say_it_is_protected_is_still_rejected():
    error = the_rejection({"customer_id": "K-7", "protected": "False", "identity_number": TWELVE})
    assert (error.field, error.code) == ("given_names", "MISSING_FIELD")


def test_a_protected_person_with_a_name_is_registered_with_their_protection():
    (imported,) = plan(row(protected="Skyddad folkbokföring")).rows
    (protected,) = imported.follow_ups
    assert protected.customer_id == "K-1" and protected.protection.value == "SKYDDAD_FOLKBOKFORING"
    assert imported.events == (imported.event, protected)


def test_a_protected_column_with_another_value_rejects_the_row():
    error = the_rejection(row(protected="kanske"))
    assert (error.field, error.code) == ("protected", "INVALID_FIELD")


def test_an_erased_customer_of_an_export_can_only_match_the_register():
    (reference,) = plan({"customer_id": "K-8", "kind": "PERSON", "status": "ERASED"}).references
    assert reference.refusal.code == "NOT_IN_REGISTER"


# --- A company's contact person ----------------------------------------------------------------------


def test_a_companys_contact_person_is_registered_as_its_contact_person():
    values = {"customer_id": "F-1", "identity_number": ORGNR, "company_name": "Exempel AB", "contact_person": "Karin Berg", "contact_phone": "08-12 34 56"}
    (imported,) = plan(values, id_from_text=lambda text: "P-" + str(len(text))).rows
    (person,) = imported.contact_persons
    assert person.contact_person_for == "F-1" and person.customer_kind is CustomerKind.PERSON
    assert (person.registration.name.given_names, person.registration.name.surname) == ("Karin", "Berg")
    assert person.registration.contact.phone == "+468123456"
    assert person.customer_id.startswith("P-") and "Berg" not in person.customer_id


def test_the_real_contact_person_id_is_a_keyed_hash_that_is_the_same_on_a_second_reading():
    from projections.lookup import stored_number_hash

    def keyed(text: str) -> str:
        return importing.opaque_id(stored_number_hash(text, "key"))

    values = {"customer_id": "F-1", "identity_number": ORGNR, "company_name": "Exempel AB", "contact_person": "Karin Berg"}
    ids = [plan(values, id_from_text=keyed).rows[0].contact_persons[0].customer_id for _ in range(2)]
    assert ids[0] == ids[1] and ids[0].startswith("C-") and len(ids[0]) == 18
    other = plan({**values, "contact_person": "Lars Ek"}, id_from_text=keyed).rows[0].contact_persons[0].customer_id
    assert other != ids[0]


def test_a_contact_person_on_a_persons_row_or_without_a_surname_is_left_out_with_a_warning():
    (person,) = plan(row(contact_person="Karin Berg")).rows
    assert not person.contact_persons and [w.error.field for w in person.warnings] == ["contact_person"]
    (company,) = plan({"customer_id": "F-1", "identity_number": ORGNR, "company_name": "Exempel AB", "contact_person": "Karin"}).rows
    assert not company.contact_persons and [w.error.code for w in company.warnings] == ["MISSING_FIELD"]


def test_the_company_a_person_is_contact_person_for_is_read_back_from_an_export():
    (imported,) = plan(row(contact_person_for="F-1")).rows
    assert imported.event.contact_person_for == "F-1"


def test_a_company_name_on_a_persons_row_is_not_dropped_without_a_word():
    (imported,) = plan(row(company_name="Exempel AB"), headers={"company_name": "Företag"}).rows
    assert [str(w) for w in imported.warnings] == ["line 2: company_name (column Företag): a person's row has no company name; left out [NOT_IMPORTED]"]


# --- Reading files: encoding, delimiter, header row -------------------------------------------------


def test_a_cp1252_file_with_a_title_row_and_semicolons_is_read(tmp_path):
    path = tmp_path / "kunder.csv"
    path.write_bytes("Kundregister 2025;;\r\n;;\r\nKundnr;Pnr;Namn\r\nK-1;811218-9876;Åsa Öberg\r\n".encode("cp1252"))
    table = importing.open_table(path)
    assert (table.encoding, table.delimiter, table.header_line, table.skipped) == ("cp1252", ";", 3, [1])
    assert table.header == ["Kundnr", "Pnr", "Namn"]
    assert list(table.rows) == [(4, ["K-1", "811218-9876", "Åsa Öberg"])]


def test_an_xlsx_file_with_a_title_row_is_read_from_its_header(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["Kundregister, export 2025-01-01"])
    book.active.append([])
    book.active.append(["Pnr", "Namn", "Postadress"])
    book.active.append([198112189876, "Anna Svensson", "111 22 Stockholm"])
    book.save(tmp_path / "kunder.xlsx")
    table = importing.open_table(tmp_path / "kunder.xlsx")
    assert (table.header_line, table.header[:3]) == (3, ["Pnr", "Namn", "Postadress"])
    assert next(iter(table.rows))[0] == 4


def test_the_header_row_option_overrides_what_is_found(tmp_path):
    path = tmp_path / "kunder.csv"
    path.write_text("Kundnummer;Pnr\nKundnummer;Namn\nK-1;Anna Svensson\n", encoding="utf-8")
    assert importing.open_table(path).header_line == 1
    table = importing.open_table(path, header_row=2)
    assert (table.header, list(table.rows)) == (["Kundnummer", "Namn"], [(3, ["K-1", "Anna Svensson"])])
    with pytest.raises(ValueError, match="--header-row 9: the file has only 3 line"):
        importing.open_table(path, header_row=9)


def test_a_rejected_rows_customer_id_is_shown_only_when_it_is_an_opaque_id():
    (personal,) = plan(row(customer_id=TWELVE)).rejected
    (garbled,) = plan(row(customer_id="K 1", identity_number="")).rejected
    (derived_id,) = plan(row(customer_id="", surname="")).rejected
    assert (personal.customer_id, garbled.customer_id, derived_id.customer_id) == ("", "", derived(TWELVE))


def test_a_status_other_than_active_is_left_out_with_a_warning_without_saying_which():
    (imported,) = plan(row(status="DECEASED"), headers={"status": "Status"}).rows
    (warning,) = imported.warnings
    assert (warning.error.field, warning.error.code) == ("status", "NOT_IMPORTED") and "DECEASED" not in str(warning)
    assert not plan(row(status="ACTIVE")).rows[0].warnings
