"""Identity numbers against the test data the personnummer projects share across languages.

The files under tests/data/personnummer/ are copies of the personnummer/meta repository's testdata/ (its README there
names the commit and what each field means). Every entry is checked in every form the files write it in; the numbers
are public test numbers, so they may appear in the test ids.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from events.identity import (
    IdentityNumber,
    IdentityNumberError,
    luhn_check_digit,
    parse_identity_number,
    parse_organisationsnummer,
    parse_personnummer,
)

DATA = Path(__file__).parents[1] / "data" / "personnummer"

GENERATED = date(2023, 11, 10)
"""The day list.json was generated: its '+' separators give each person's age on that day, so it is read as of then."""

PERSON_FORMS = ("integer", "long_format", "short_format", "separated_format", "separated_long")
ORGANISATION_FORMS = ("integer", "short_format", "separated_format")
INTERIM_LETTERS = frozenset("TRSUWXJKLMN")
"""The letters the shared specification (v3.1) names for interim numbers."""

KIND_OF_TYPE = {"ssn": "personnummer", "con": "samordningsnummer"}


def entries(name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return entries


def written_forms(file: str, forms: tuple[str, ...]) -> list[Any]:
    """One pytest param per entry and form: (entry, form name, the text as written).

    The integer form is the long form as a spreadsheet cell would hold it; our parser takes text only, so it is checked
    as its decimal text. The files put 0 there when a number has no integer form (a space or a letter in it).
    """
    params = []
    for entry in entries(file):
        for form in forms:
            value = entry[form]
            if form == "integer":
                if value == 0:
                    continue
                value = str(value)
            verdict = "valid" if entry["valid"] else "invalid"
            params.append(pytest.param(entry, form, value, id=f"{entry['type']}-{verdict}-{form}-{value}"))
    return params


def reference_luhn_valid(digits: str) -> bool:
    """Textbook Luhn, written independently of the module: double every second digit from the right."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def refusal(call) -> str:
    with pytest.raises(IdentityNumberError) as caught:
        call()
    return str(caught.value)


def assert_quotes_nothing_of(message: str, written: str, *numbers: str) -> None:
    """The message names what is wrong without the number, its digits, or any run of three of them."""
    for text in (written, re.sub(r"[\s+-]", "", written), *numbers):
        assert text not in message
    assert re.search(r"\d{3}", message) is None, message


# --------------------------------------------------------------------------- #
# list.json: personnummer and samordningsnummer                                #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("entry, form, written", [p for p in written_forms("list.json", PERSON_FORMS) if p.values[0]["valid"]])
def test_a_valid_person_number_is_accepted_in_every_form_and_stored_in_twelve_digits(entry, form, written):
    long = entry["long_format"]
    expected = long
    if form == "short_format" and "+" in entry["separated_format"]:
        # Ten digits without a separator cannot say that someone is 100 or older: like every personnummer library, we
        # read them as a person under 100 (YYMMDD-NNNC), whose twelve digits differ from the test data's in the century.
        expected = f"{int(long[:4]) + 100}{long[4:]}"
    parsed = parse_identity_number(written, today=GENERATED)
    assert (parsed.kind, parsed.number) == (KIND_OF_TYPE[entry["type"]], expected)
    assert parse_personnummer(written, today=GENERATED) == parsed
    assert IdentityNumber(parsed.kind, str(parsed)) == parsed
    day_of_birth = int(expected[6:8]) - (60 if entry["type"] == "con" else 0)
    assert parsed.birth_date == date(int(expected[:4]), int(expected[4:6]), day_of_birth)


@pytest.mark.parametrize("entry, form, written", [p for p in written_forms("list.json", PERSON_FORMS) if not p.values[0]["valid"]])
def test_an_invalid_person_number_is_refused_in_every_form_saying_what_is_wrong(entry, form, written):
    long = entry["long_format"]
    # What is wrong, worked out here rather than by the module: the generator spoils numbers in these three ways.
    if " " in written:
        reason = "characters other than digits"
    elif long[8:11] == "000":
        reason = "serial number"
    else:
        assert not reference_luhn_valid(long[2:])
        reason = "check digit"
    for parse in (parse_identity_number, parse_personnummer):
        message = refusal(lambda parse=parse: parse(written, today=GENERATED))
        assert reason in message
        assert_quotes_nothing_of(message, written, long, long[2:])


def test_the_serial_number_000_is_refused_although_its_check_digit_is_right():
    # 20150916-0006 in the test data: Luhn alone would let it through.
    assert luhn_check_digit("150916000") == 6
    assert "serial number" in refusal(lambda: parse_identity_number("20150916-0006", today=GENERATED))


@pytest.mark.parametrize("written", ["19090527+1474", "190905271474", "090527+1474"])
def test_a_centenarian_may_be_written_with_a_plus_in_the_twelve_digit_form_too(written):
    assert parse_identity_number(written, today=GENERATED).number == "190905271474"


def test_a_plus_in_the_twelve_digit_form_must_agree_with_the_date():
    # '+' says 100 or older; a date that makes the person younger is a mistyped century or separator.
    under_100 = "19460823+9986"  # valid with '-' (test data), 77 on the day the data was generated
    message = refusal(lambda: parse_identity_number(under_100, today=GENERATED))
    assert "'+'" in message
    assert_quotes_nothing_of(message, under_100)
    hundredth_birthday = date(2046, 8, 23)
    assert parse_identity_number(under_100, today=hundredth_birthday).number == "194608239986"
    assert "'+'" in refusal(lambda: parse_identity_number(under_100, today=hundredth_birthday - timedelta(days=1)))


# --------------------------------------------------------------------------- #
# interim.json: interim numbers                                                #
# --------------------------------------------------------------------------- #

INTERIM_REFUSAL = "is an interim number (a letter in the serial number)"


@pytest.mark.parametrize("entry, form, written", written_forms("interim.json", PERSON_FORMS))
def test_an_interim_number_gets_its_own_refusal_and_a_wrong_letter_another(entry, form, written):
    letter = written[-4]
    assert letter.isalpha()
    for parse in (parse_identity_number, parse_personnummer):
        message = refusal(lambda parse=parse: parse(written, today=GENERATED))
        if entry["valid"]:
            assert letter in INTERIM_LETTERS
            # The population register does not assign them, so the register takes none; the message says what to use.
            assert message.startswith(INTERIM_REFUSAL)
            assert "personnummer or samordningsnummer" in message
        else:
            assert letter not in INTERIM_LETTERS
            assert INTERIM_REFUSAL not in message
            assert "letter" in message
        assert "other than digits" not in message
        assert_quotes_nothing_of(message, written, entry["long_format"])
        assert re.search(rf"\b{letter}\b", message) is None, message


# --------------------------------------------------------------------------- #
# orgnumber.json: organisationsnummer                                          #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("entry, form, written", written_forms("orgnumber.json", ORGANISATION_FORMS))
def test_an_organisationsnummer_is_accepted_as_one_and_refused_as_a_personnummer(entry, form, written):
    # The file's valid: false is about personnummer; its comment says each is a valid organisationsnummer.
    assert entry["valid"] is False and "Valid Organisationsnummer" in entry["comment"]
    twelve = "16" + entry["short_format"]
    parsed = parse_identity_number(written, today=GENERATED)
    assert (parsed.kind, parsed.number) == ("organisationsnummer", twelve)
    assert parse_organisationsnummer(written) == parsed
    assert IdentityNumber("organisationsnummer", twelve) == parsed
    message = refusal(lambda: parse_personnummer(written, today=GENERATED))
    assert "organisationsnummer" in message
    assert_quotes_nothing_of(message, written, twelve)


# --------------------------------------------------------------------------- #
# The files themselves                                                         #
# --------------------------------------------------------------------------- #


def test_the_files_hold_valid_and_invalid_numbers_of_every_kind():
    # Guards against an emptied or truncated copy, which would leave the tests above checking nothing.
    seen = {(entry["type"], entry["valid"]) for name in ("list.json", "interim.json", "orgnumber.json") for entry in entries(name)}
    assert seen >= {("ssn", True), ("ssn", False), ("con", True), ("con", False), ("interim", True), ("interim", False), ("org", False)}
    assert len(written_forms("list.json", PERSON_FORMS)) >= 60
