"""The register extract's words (projections/extract_sv.toml, extract_en.toml): both languages say the same things, every
code the register can hold has a word in each, and values are written as people write them."""

from __future__ import annotations

import string

import pytest

from events import catalog
from events.catalog import EVENT_TYPES
from events.customer import Status
from projections.extract_art15 import categories
from projections.extract_texts import LANGUAGES, texts

CODE_TABLES = {
    "status": Status,
    "kind": catalog.CustomerKind,
    "channel": catalog.Channel,
    "purpose": catalog.ConsentPurpose,
    "civil_status": catalog.CivilStatus,
    "protection": catalog.Protection,
    "data_category": catalog.DataCategory,
}
REASONS = (catalog.NameChangeReason, catalog.WithdrawalReason, catalog.ErasureReason, catalog.PurgeReason)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_the_same_labels_texts_and_code_tables_with_the_same_placeholders():
    swedish, english = texts("sv"), texts("en")
    assert swedish.labels.keys() == english.labels.keys() and swedish.texts.keys() == english.texts.keys()
    assert {table: words.keys() for table, words in swedish.codes.items()} == {table: words.keys() for table, words in english.codes.items()}
    for key in swedish.labels:
        assert placeholders(swedish.labels[key]) == placeholders(english.labels[key]), key
    for key in swedish.texts:
        assert placeholders(swedish.texts[key]) == placeholders(english.texts[key]), key
    for part in ("purposes", "rights", "recipient_categories"):
        assert [item["code"] for item in getattr(swedish, part)] == [item["code"] for item in getattr(english, part)], part


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_code_the_register_can_hold_has_a_word(language):
    words = texts(language)
    assert words.codes["event"].keys() == EVENT_TYPES.keys()
    for table, enum in CODE_TABLES.items():
        assert words.codes[table].keys() == {member.value for member in enum}, table
    assert words.codes["reason"].keys() == {member.value for enum in REASONS for member in enum}
    everything = {
        "data": {
            "identity_number": "1",
            "names": [1],
            "addresses": [1],
            "contact": {"phone": "1"},
            "civil_status": "1",
            "protected_identity": True,
            "deceased_on": "1",
            "customer_of": ["1"],
            "opted_out_of_marketing_on": ["1"],
        },
        "history": [{"event": "CustomerRegistered"}],
        "consents": {"active": [1], "history": []},
        "nix": [1],
        "recipients": [1],
        "downstream": None,
    }
    assert categories(everything) == list(words.codes["category"])  # each category the extract can name, in the order of the page
    assert all(word != code for code, word in words.codes["event"].items())


def test_an_extract_in_another_language_is_refused_naming_the_ones_there_are():
    with pytest.raises(ValueError, match="the register extract is in sv or en, not 'de'"):
        texts("de")


def test_values_are_written_as_people_write_them():
    from projections.extract_texts import identity_number, moment, postal_code

    swedish, english = texts("sv"), texts("en")
    assert (identity_number("198112189876"), identity_number("C-9")) == ("19811218-9876", "C-9")
    assert (postal_code("11122"), postal_code("0150", "NO")) == ("111 22", "0150")
    assert (moment("2025-01-10T09:00:00Z"), moment("2025-06-01T09:00:00Z")) == ("2025-01-10 10:00", "2025-06-01 11:00")  # Swedish winter and summer time
    address = {"street": "Storgatan 1", "postal_code": "11122", "city": "Stockholm", "care_of": "Nilsson", "country": "SE"}
    assert swedish.address(address, sep=", ") == "c/o Nilsson, Storgatan 1, 111 22 Stockholm"
    assert english.address({**address, "care_of": None, "country": "NO", "postal_code": "0150"}, sep=", ") == "Storgatan 1, 0150 Stockholm, Norway"
    facts = {"customer_kind": "PERSON", "registration": {"identity_number": "198112189876", "name": {"given_names": "Anna", "surname": "Svensson"}}}
    assert swedish.fact_lines(facts) == ["Typ: Privatperson", "Person- eller organisationsnummer: 19811218-9876", "Namn: Anna Svensson"]
    assert english.fact_lines({"purpose": "TELEMARKETING", "channel": "PHONE", "overrides_nix": True}) == [
        "Purpose: Telemarketing",
        "Channel: Phone",
        "Applies despite NIX: yes",
    ]
    assert swedish.fact_lines({"registration": "(erased: the data key was destroyed)"}) == ["Registrering: (raderad: nyckeln till uppgiften har förstörts)"]
    assert swedish.code("purpose", "SOMETHING_NEW") == "SOMETHING_NEW"  # a code without a word is shown as itself
