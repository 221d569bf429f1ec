"""Swedish identity numbers: how the register reads personnummer, samordningsnummer
and organisationsnummer, and what it says when one is wrong."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from events.identity import (
    ORGANISATION_GROUPS,
    IdentityNumber,
    IdentityNumberError,
    luhn_check_digit,
    parse_identity_number,
    parse_organisationsnummer,
    parse_personnummer,
)

TODAY = date(2026, 11, 25)


def with_check_digit(nine: str) -> str:
    """The ten digits: nine digits plus their Luhn check digit."""
    return nine + str(luhn_check_digit(nine))


def reference_luhn_valid(digits: str) -> bool:
    """Textbook Luhn, written independently: double every second digit from the right."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def person_ten(yymmdd: str, serial: str) -> str:
    """A ten-digit person number (no separator) with the right check digit."""
    return with_check_digit(yymmdd + serial)


def error_message(call) -> str:
    with pytest.raises(IdentityNumberError) as caught:
        call()
    return str(caught.value)


# The numbers a message may carry: those of the rules it states, never a digit of the number it refuses.
RULE_PHRASES = (
    "expected 10 (YYMMDD-NNNC) or 12 (YYYYMMDDNNNC)",
    "expected 10 (NNNNNN-NNNC) or 12 (16NNNNNNNNNC)",
    "(YYMMDD-NNNC)",
    "(YYYYMMDDNNNC)",
    "(YYYYMMDD-NNNC)",
    "(NNNNNN-NNNC)",
    "(16NNNNNNNNNC)",
    "(16NNNNNN-NNNC)",
    "digits 3-4",
    "digits 5-6",
    "20 or more",
    "below 20",
    "01-12",
    "01-31",
    "61-91",
    "+ 60",
    "minus 60",
    "(1-3 or 5-9)",
    "starts with 16",
    "starting with 16",
    "12-digit",
)


def assert_no_digit_of_the_number(message: str) -> None:
    """Apart from the rules' own numbers and a digit count, a message has no digit in it."""
    rest = re.sub(r"has \d+ digits", "has N digits", message)
    for phrase in sorted(RULE_PHRASES, key=len, reverse=True):
        rest = rest.replace(phrase, "")
    assert re.search(r"\d", rest) is None, message


# --------------------------------------------------------------------------- #
# The Luhn check digit                                                         #
# --------------------------------------------------------------------------- #


class TestLuhnCheckDigit:
    def test_the_classic_test_personnummer_has_check_digit_6(self):
        assert luhn_check_digit("811218987") == 6

    def test_ericssons_organisationsnummer_has_check_digit_0(self):
        assert luhn_check_digit("556016068") == 0

    def test_tolvan_tolvansson_has_check_digit_2(self):
        # Skatteverket's well-known test person, 19121212-1212.
        assert luhn_check_digit("121212121") == 2

    @pytest.mark.parametrize("bad", ["", "12345678", "1234567890", "12345678x", "１２３４５６７８９", " 12345678"])
    def test_only_nine_ascii_digits_have_a_check_digit(self, bad):
        with pytest.raises(ValueError):
            luhn_check_digit(bad)

    @given(st.text(alphabet="0123456789", min_size=9, max_size=9))
    def test_the_check_digit_completes_a_textbook_luhn_number(self, nine):
        check = luhn_check_digit(nine)
        assert 0 <= check <= 9
        assert reference_luhn_valid(nine + str(check))
        assert sum(reference_luhn_valid(nine + str(other)) for other in range(10)) == 1


# --------------------------------------------------------------------------- #
# Personnummer                                                                 #
# --------------------------------------------------------------------------- #


class TestPersonnummer:
    def test_the_classic_test_personnummer_is_valid_and_stored_with_its_century(self):
        number = parse_personnummer("811218-9876", today=TODAY)
        assert number.kind == "personnummer"
        assert number.number == "198112189876"
        assert number.birth_date == date(1981, 12, 18)
        assert number.is_person
        assert number.organisation_group is None

    @pytest.mark.parametrize("written", ["811218-9876", "8112189876", "19811218-9876", "198112189876"])
    def test_every_accepted_way_of_writing_it_gives_the_same_twelve_digits(self, written):
        assert parse_personnummer(written, today=TODAY).number == "198112189876"

    def test_surrounding_whitespace_is_ignored(self):
        assert parse_personnummer("  811218-9876\t\n", today=TODAY).number == "198112189876"

    def test_a_personnummer_written_with_a_plus_belongs_to_someone_of_100_or_more(self):
        tolvan = parse_personnummer("121212+1212", today=TODAY)
        assert tolvan.number == "191212121212"
        assert tolvan.birth_date == date(1912, 12, 12)

    def test_the_same_digits_with_a_minus_belong_to_someone_under_100(self):
        child = parse_personnummer("121212-1212", today=TODAY)
        assert child.number == "201212121212"

    def test_the_ten_digit_form_without_separator_is_read_as_if_written_with_a_minus(self):
        assert parse_personnummer("1212121212", today=TODAY).number == "201212121212"

    def test_a_birthday_later_this_year_than_today_belongs_to_the_previous_century(self):
        tomorrow_99_years_ago = person_ten("261126", "123")
        assert parse_personnummer(tomorrow_99_years_ago, today=TODAY).number.startswith("1926")

    def test_someone_born_today_is_this_century(self):
        newborn = parse_personnummer(person_ten("261125", "123"), today=TODAY)
        assert newborn.birth_date == TODAY

    def test_the_century_follows_the_day_it_is_read(self):
        written = person_ten("300101", "123")
        assert parse_personnummer(written, today=TODAY).birth_date == date(1930, 1, 1)
        assert parse_personnummer(written, today=date(2030, 1, 1)).birth_date == date(2030, 1, 1)

    def test_today_defaults_to_the_current_date(self):
        assert parse_personnummer("811218-9876").number == "198112189876"

    def test_a_twelve_digit_number_born_in_the_future_is_rejected(self):
        ten = person_ten("261126", "123")
        message = error_message(lambda: parse_personnummer("20" + ten, today=TODAY))
        assert message == "birth date lies in the future"

    def test_a_twelve_digit_number_born_today_is_accepted(self):
        ten = person_ten("261125", "123")
        assert parse_personnummer("20" + ten, today=TODAY).birth_date == TODAY

    def test_a_birth_year_before_the_1800s_is_rejected(self):
        ten = person_ten("990101", "123")
        message = error_message(lambda: parse_personnummer("17" + ten, today=TODAY))
        assert "birth year" in message

    def test_the_third_serial_digit_does_not_change_the_kind(self):
        # Odd for men, even for women: both are plain personnummer.
        assert parse_personnummer(person_ten("811218", "981"), today=TODAY).kind == "personnummer"
        assert parse_personnummer(person_ten("811218", "982"), today=TODAY).kind == "personnummer"


class TestCalendarDates:
    def test_29_february_exists_in_a_leap_year(self):
        assert parse_personnummer("20" + person_ten("240229", "123"), today=TODAY).birth_date == date(2024, 2, 29)

    def test_29_february_2000_exists_because_2000_was_a_leap_year(self):
        assert parse_personnummer(person_ten("000229", "123"), today=TODAY).birth_date == date(2000, 2, 29)

    # The messages say which part is wrong without its value: the month and day are parts of a birth date.

    def test_29_february_1900_does_not_exist_so_the_plus_form_is_rejected(self):
        ten = person_ten("000229", "123")
        message = error_message(lambda: parse_personnummer(ten[:6] + "+" + ten[6:], today=TODAY))
        assert message == "the date does not exist: the day lies past the end of the month, as the year is not a leap year"

    def test_29_february_is_rejected_outside_leap_years(self):
        message = error_message(lambda: parse_personnummer("20" + person_ten("230229", "123"), today=TODAY))
        assert message == "the date does not exist: the day lies past the end of the month, as the year is not a leap year"

    def test_30_february_never_exists(self):
        message = error_message(lambda: parse_personnummer(person_ten("190230", "123"), today=TODAY))
        assert message == "the date does not exist: the day lies past the end of the month"

    def test_31_april_does_not_exist(self):
        message = error_message(lambda: parse_personnummer(person_ten("810431", "123"), today=TODAY))
        assert message == "the date does not exist: the day lies past the end of the month"

    @pytest.mark.parametrize("month", ["00", "13", "19"])
    def test_a_month_outside_1_to_12_is_rejected(self, month):
        message = error_message(lambda: parse_personnummer(person_ten(f"81{month}18", "123"), today=TODAY))
        assert message == "the month does not exist: the two digits after the year must be 01-12"

    def test_day_zero_is_rejected(self):
        message = error_message(lambda: parse_personnummer(person_ten("811200", "123"), today=TODAY))
        assert message.startswith("the day does not exist")

    @pytest.mark.parametrize("day", ["32", "45", "60"])
    def test_days_between_31_and_61_belong_to_neither_kind(self, day):
        message = error_message(lambda: parse_personnummer(person_ten(f"8112{day}", "123"), today=TODAY))
        assert message.startswith("the day does not exist")
        assert "01-31" in message and "61-91" in message
        assert_no_digit_of_the_number(message)


class TestSamordningsnummer:
    def test_a_samordningsnummer_has_60_added_to_the_day(self):
        number = parse_personnummer("701063-2391", today=TODAY)
        assert number.kind == "samordningsnummer"
        assert number.number == "197010632391"
        assert number.birth_date == date(1970, 10, 3)
        assert number.is_person

    def test_a_samordningsnummer_is_also_found_by_parse_identity_number(self):
        assert parse_identity_number("197010632391", today=TODAY).kind == "samordningsnummer"

    def test_the_real_day_must_exist_in_the_month(self):
        message = error_message(lambda: parse_personnummer(person_ten("810290", "123"), today=TODAY))
        assert message == "the date does not exist: the day of birth (the samordningsnummer day minus 60) lies past the end of the month"

    def test_day_91_is_the_last_one(self):
        assert parse_personnummer(person_ten("811291", "123"), today=TODAY).birth_date == date(1981, 12, 31)
        message = error_message(lambda: parse_personnummer(person_ten("811292", "123"), today=TODAY))
        assert message.startswith("the day does not exist")
        assert "92" not in message

    def test_the_serial_number_of_a_samordningsnummer_is_never_000_either(self):
        assert "serial number" in error_message(lambda: parse_personnummer(person_ten("701063", "000"), today=TODAY))


CHECK_DIGIT_REFUSAL = "the check digit (the last digit) does not agree with the digits before it (Luhn); look for a mistyped or swapped digit"


class TestMistypedPersonnummer:
    def test_a_wrong_check_digit_is_rejected_and_the_message_names_the_check_digit_but_not_its_value(self):
        message = error_message(lambda: parse_personnummer("811218-9873", today=TODAY))
        assert message == CHECK_DIGIT_REFUSAL

    def test_the_twelve_digit_form_checks_the_same_digit(self):
        message = error_message(lambda: parse_personnummer("198112189873", today=TODAY))
        assert message == CHECK_DIGIT_REFUSAL

    @pytest.mark.parametrize("form", ["{ten}", "{ten_sep}", "19{ten}", "19{ten_sep}"])
    def test_the_serial_number_000_is_never_assigned_although_its_check_digit_fits(self, form):
        ten = person_ten("811218", "000")
        written = form.format(ten=ten, ten_sep=f"{ten[:6]}-{ten[6:]}")
        message = error_message(lambda: parse_personnummer(written, today=TODAY))
        assert message == "the serial number (the three digits after the date) is all zeros, which is never assigned; look for a mistyped digit"

    @pytest.mark.parametrize("written, count", [("81121898765", 11), ("811218-987", 9), ("1981121898765", 13), ("8", 1)])
    def test_a_number_with_the_wrong_number_of_digits_is_rejected(self, written, count):
        message = error_message(lambda: parse_personnummer(written, today=TODAY))
        assert message == f"identity number has {count} digits; expected 10 (YYMMDD-NNNC) or 12 (YYYYMMDDNNNC)"

    @pytest.mark.parametrize(
        "written",
        ["8112l8-9876", "811218 9876", "811218–9876", "81-1218-9876", "811218+-9876", "８１１２１８-９８７６", "811218/9876"],
    )
    def test_anything_but_digits_and_one_separator_is_rejected(self, written):
        message = error_message(lambda: parse_personnummer(written, today=TODAY))
        assert message == "contains characters other than digits and one separator '-' or '+'"

    @pytest.mark.parametrize("written", ["8112-189876", "-8112189876", "8112189876-", "1981-12189876"])
    def test_the_separator_must_follow_the_date(self, written):
        message = error_message(lambda: parse_personnummer(written, today=TODAY))
        assert "separator must come right after the" in message

    def test_a_plus_in_the_twelve_digit_form_is_accepted_for_someone_of_100_or_more(self):
        # The shared test data writes centenarians so (19090527+1474); the century is written out either way.
        assert parse_personnummer("19121212+1212", today=TODAY).number == "191212121212"

    def test_a_plus_in_the_twelve_digit_form_of_someone_under_100_is_rejected(self):
        message = error_message(lambda: parse_personnummer("19811218+9876", today=TODAY))
        assert message == "the separator '+' marks a person aged a hundred or more, but the date makes them younger; write '-' or check the century"

    def test_the_plus_in_the_twelve_digit_form_follows_the_same_birthday_as_in_the_ten_digit_form(self):
        twelve = "19" + person_ten("261125", "123")
        assert parse_personnummer(f"{twelve[:8]}+{twelve[8:]}", today=TODAY).number == twelve
        ten = person_ten("261126", "123")
        assert parse_personnummer(f"{ten[:6]}+{ten[6:]}", today=TODAY).number == "18" + ten
        with pytest.raises(IdentityNumberError):
            parse_personnummer(f"19{ten[:6]}+{ten[6:]}", today=TODAY)

    @pytest.mark.parametrize("written", ["000101-T220", "20000101T220", "000101t220", "20000101-N220", "000101+M220"])
    def test_an_interim_number_is_refused_as_such(self, written):
        message = error_message(lambda: parse_identity_number(written, today=TODAY))
        assert message == (
            "is an interim number (a letter in the serial number), which the population register does not assign to customers; "
            "use the person's personnummer or samordningsnummer"
        )

    @pytest.mark.parametrize("written", ["000101-E221", "20000101A220", "000101-P220"])
    def test_a_letter_no_interim_number_has_is_refused_as_such(self, written):
        message = error_message(lambda: parse_identity_number(written, today=TODAY))
        assert message.startswith("has a letter in the serial number that no identity number has there")

    @pytest.mark.parametrize("written", ["00010-1T220", "000101-22T0", "T00101-2220", "556016-T680"])
    def test_a_letter_elsewhere_is_a_stray_character(self, written):
        message = error_message(lambda: parse_identity_number(written, today=TODAY))
        assert message == "contains characters other than digits and one separator '-' or '+'"

    @pytest.mark.parametrize("written", ["", "   ", "\n"])
    def test_an_empty_number_is_rejected(self, written):
        assert error_message(lambda: parse_identity_number(written, today=TODAY)) == "identity number is empty"

    def test_a_number_given_as_an_int_is_a_programming_error(self):
        # An int has lost any leading zero and its separator: refuse it outright.
        with pytest.raises(TypeError):
            parse_personnummer(8112189876, today=TODAY)  # type: ignore[arg-type]

    def test_an_organisationsnummer_is_not_a_personnummer(self):
        message = error_message(lambda: parse_personnummer("556016-0680", today=TODAY))
        assert "organisationsnummer" in message
        message = error_message(lambda: parse_personnummer("165560160680", today=TODAY))
        assert "organisationsnummer" in message


# --------------------------------------------------------------------------- #
# Organisationsnummer                                                          #
# --------------------------------------------------------------------------- #


class TestOrganisationsnummer:
    def test_an_aktiebolag_is_stored_with_the_16_prefix(self):
        company = parse_organisationsnummer("556016-0680")
        assert company.kind == "organisationsnummer"
        assert company.number == "165560160680"
        assert company.organisation_group == "aktiebolag"
        assert not company.is_person
        assert company.birth_date is None

    @pytest.mark.parametrize("written", ["556016-0680", "5560160680", "165560160680", "16556016-0680", " 556016-0680 "])
    def test_every_accepted_way_of_writing_it_gives_the_same_twelve_digits(self, written):
        assert parse_organisationsnummer(written).number == "165560160680"

    def test_skatteverket_is_a_state_authority(self):
        assert parse_organisationsnummer("202100-5489").organisation_group == "stat, region eller kommun"

    @pytest.mark.parametrize("group, meaning", sorted(ORGANISATION_GROUPS.items()))
    def test_the_first_digit_says_what_kind_of_organisation_it_is(self, group, meaning):
        company = parse_organisationsnummer(with_check_digit(group + "02001234"))
        assert company.organisation_group == meaning

    def test_the_groups_are_those_of_the_domain(self):
        assert sorted(ORGANISATION_GROUPS) == ["1", "2", "3", "5", "6", "7", "8", "9"]
        assert ORGANISATION_GROUPS["5"] == "aktiebolag"
        assert ORGANISATION_GROUPS["1"] == "dödsbo"

    @pytest.mark.parametrize("group", ["0", "4"])
    def test_an_unused_group_digit_is_rejected(self, group):
        message = error_message(lambda: parse_organisationsnummer(with_check_digit(group + "56016068")))
        assert message == "the first digit of an organisationsnummer names a group of organisations (1-3 or 5-9), and this one names none"

    def test_a_wrong_check_digit_is_rejected_and_the_message_names_the_check_digit_but_not_its_value(self):
        message = error_message(lambda: parse_organisationsnummer("556016-0681"))
        assert message == CHECK_DIGIT_REFUSAL

    def test_an_organisationsnummer_may_have_000_where_a_person_has_a_serial_number(self):
        assert parse_organisationsnummer(with_check_digit("556016000")).number == "16" + with_check_digit("556016000")

    def test_digits_3_and_4_below_20_mark_a_person_not_an_organisation(self):
        message = error_message(lambda: parse_organisationsnummer("811218-9876"))
        assert "below 20" in message
        assert "sole trader" in message

    def test_a_twelve_digit_organisationsnummer_starts_with_16(self):
        message = error_message(lambda: parse_organisationsnummer("175560160680"))
        assert message == "a 12-digit organisationsnummer starts with 16"

    def test_an_organisationsnummer_has_no_plus(self):
        message = error_message(lambda: parse_organisationsnummer("556016+0680"))
        assert "'+'" in message

    @pytest.mark.parametrize("written", ["5560-160680", "1655601606-80", "165-5601606-80"])
    def test_the_separator_sits_before_the_last_four_digits(self, written):
        with pytest.raises(IdentityNumberError):
            parse_organisationsnummer(written)

    def test_a_number_with_the_wrong_number_of_digits_is_rejected(self):
        message = error_message(lambda: parse_organisationsnummer("556016-068"))
        assert message == "organisationsnummer has 9 digits; expected 10 (NNNNNN-NNNC) or 12 (16NNNNNNNNNC)"


# --------------------------------------------------------------------------- #
# Any kind: parse_identity_number                                              #
# --------------------------------------------------------------------------- #


class TestAnyKind:
    @pytest.mark.parametrize(
        "written, kind, number",
        [
            ("811218-9876", "personnummer", "198112189876"),
            ("121212+1212", "personnummer", "191212121212"),
            ("701063-2391", "samordningsnummer", "197010632391"),
            ("556016-0680", "organisationsnummer", "165560160680"),
            ("165560160680", "organisationsnummer", "165560160680"),
            ("2021005489", "organisationsnummer", "162021005489"),
        ],
    )
    def test_the_shape_of_the_number_decides_its_kind(self, written, kind, number):
        parsed = parse_identity_number(written, today=TODAY)
        assert (parsed.kind, parsed.number) == (kind, number)

    def test_an_organisation_shape_with_a_plus_is_rejected(self):
        with pytest.raises(IdentityNumberError):
            parse_identity_number("556016+0680", today=TODAY)


# --------------------------------------------------------------------------- #
# The IdentityNumber value                                                     #
# --------------------------------------------------------------------------- #


class TestIdentityNumberValue:
    def test_str_gives_the_twelve_digits_for_storage(self):
        assert str(parse_personnummer("811218-9876", today=TODAY)) == "198112189876"

    def test_repr_hides_the_last_four_digits(self):
        assert repr(parse_personnummer("811218-9876", today=TODAY)) == "IdentityNumber(kind='personnummer', number='19811218-****')"
        assert "9876" not in repr(parse_personnummer("811218-9876", today=TODAY))

    def test_repr_of_an_organisation_is_masked_the_same_way(self):
        assert repr(parse_organisationsnummer("556016-0680")) == "IdentityNumber(kind='organisationsnummer', number='16556016-****')"

    def test_it_cannot_be_changed(self):
        number = parse_personnummer("811218-9876", today=TODAY)
        with pytest.raises(dataclasses.FrozenInstanceError):
            number.number = "191212121212"  # type: ignore[misc]

    def test_the_same_number_written_differently_is_equal(self):
        a = parse_identity_number("811218-9876", today=TODAY)
        b = parse_identity_number("198112189876", today=TODAY)
        assert a == b
        assert hash(a) == hash(b)

    def test_rehydrating_a_stored_number_checks_it(self):
        assert IdentityNumber("personnummer", "198112189876").birth_date == date(1981, 12, 18)
        assert IdentityNumber("organisationsnummer", "165560160680").organisation_group == "aktiebolag"

    @pytest.mark.parametrize(
        "kind, number",
        [
            ("personnummer", "198112189873"),  # wrong check digit
            ("personnummer", "8112189876"),  # not normalised
            ("personnummer", "19811218-9876"),  # separator
            ("samordningsnummer", "198112189876"),  # day is not + 60
            ("personnummer", "197010632391"),  # day is + 60
            ("personnummer", "165560160680"),  # an organisation
            ("personnummer", "198112180008"),  # serial number 000, although the check digit fits
            ("organisationsnummer", "198112189876"),  # a person
            ("organisationsnummer", "5560160680"),  # no 16 prefix
            ("company", "165560160680"),  # no such kind
        ],
    )
    def test_a_value_that_is_not_a_valid_normalised_number_cannot_be_built(self, kind, number):
        with pytest.raises(IdentityNumberError) as caught:
            IdentityNumber(kind, number)  # type: ignore[arg-type]
        assert number.replace("-", "") not in str(caught.value)


# --------------------------------------------------------------------------- #
# Properties                                                                   #
# --------------------------------------------------------------------------- #

# The ten-digit form can name anyone born in the 200 years up to TODAY:
# with '-' the last 100 years, with '+' the 100 before.
EARLIEST_TEN_DIGIT_BIRTH = date(TODAY.year - 200, TODAY.month, TODAY.day) + timedelta(days=1)


@st.composite
def valid_persons(draw):
    """(ten-digit form with separator, twelve-digit form, kind, birth date)."""
    born = draw(st.dates(min_value=EARLIEST_TEN_DIGIT_BIRTH, max_value=TODAY))
    serial = draw(st.integers(min_value=1, max_value=999))  # 000 is never assigned
    samordning = draw(st.booleans())
    day = born.day + (60 if samordning else 0)
    nine = f"{born.year % 100:02d}{born.month:02d}{day:02d}{serial:03d}"
    ten = with_check_digit(nine)
    under_100 = (born.year + 100, born.month, born.day) > (TODAY.year, TODAY.month, TODAY.day)
    separator = "-" if under_100 else "+"
    kind = "samordningsnummer" if samordning else "personnummer"
    return f"{ten[:6]}{separator}{ten[6:]}", f"{born.year // 100:02d}{ten}", kind, born


@st.composite
def valid_organisations(draw):
    """The ten digits of a valid organisationsnummer."""
    group = draw(st.sampled_from(sorted(ORGANISATION_GROUPS)))
    second = draw(st.integers(min_value=0, max_value=9))
    third_fourth = draw(st.integers(min_value=20, max_value=99))
    rest = draw(st.integers(min_value=0, max_value=99999))
    return with_check_digit(f"{group}{second}{third_fourth}{rest:05d}")


def mutate_one_digit(digits: str, position: int, new_digit: str) -> str:
    return digits[:position] + new_digit + digits[position + 1 :]


class TestProperties:
    @given(valid_persons())
    @example(("121212+1212", "191212121212", "personnummer", date(1912, 12, 12)))
    @example(("000229-1235", "200002291235", "personnummer", date(2000, 2, 29)))
    def test_any_valid_person_number_parses_to_the_same_twelve_digits_in_every_form(self, person):
        ten_with_separator, twelve, kind, born = person
        forms = [ten_with_separator, twelve, f"{twelve[:8]}-{twelve[8:]}", f" {twelve} "]
        if "-" in ten_with_separator:
            forms.append(ten_with_separator.replace("-", ""))
        else:
            forms.append(f"{twelve[:8]}+{twelve[8:]}")
        for form in forms:
            parsed = parse_identity_number(form, today=TODAY)
            assert parsed == parse_personnummer(form, today=TODAY)
            assert parsed.number == twelve
            assert parsed.kind == kind
            assert parsed.birth_date == born
            assert str(parsed) == twelve
            assert IdentityNumber(parsed.kind, str(parsed)) == parsed

    @given(valid_organisations())
    def test_any_valid_organisationsnummer_parses_to_the_same_twelve_digits_in_every_form(self, ten):
        forms = [ten, f"{ten[:6]}-{ten[6:]}", "16" + ten, f"16{ten[:6]}-{ten[6:]}"]
        for form in forms:
            parsed = parse_identity_number(form, today=TODAY)
            assert parsed == parse_organisationsnummer(form)
            assert parsed.kind == "organisationsnummer"
            assert parsed.number == "16" + ten
            assert parsed.organisation_group == ORGANISATION_GROUPS[ten[0]]

    @given(valid_organisations())
    def test_an_organisationsnummer_never_parses_as_a_person(self, ten):
        for form in (ten, f"{ten[:6]}-{ten[6:]}", "16" + ten):
            with pytest.raises(IdentityNumberError):
                parse_personnummer(form, today=TODAY)

    @given(valid_persons())
    def test_a_person_number_never_parses_as_an_organisation(self, person):
        ten_with_separator, twelve, _, _ = person
        for form in (ten_with_separator, ten_with_separator.replace("-", ""), twelve):
            with pytest.raises(IdentityNumberError):
                parse_organisationsnummer(form)
            assert parse_identity_number(form, today=TODAY).is_person

    @given(valid_persons(), st.integers(min_value=0, max_value=9), st.integers(min_value=1, max_value=9))
    def test_changing_any_one_checked_digit_of_a_person_number_is_caught(self, person, position, shift):
        _, twelve, _, _ = person
        ten = twelve[2:]
        changed = mutate_one_digit(ten, position, str((int(ten[position]) + shift) % 10))
        assert not reference_luhn_valid(changed)
        for form in (changed, twelve[:2] + changed):
            with pytest.raises(IdentityNumberError):
                parse_identity_number(form, today=TODAY)

    @given(valid_organisations(), st.integers(min_value=0, max_value=9), st.integers(min_value=1, max_value=9))
    def test_changing_any_one_digit_of_an_organisationsnummer_is_caught(self, ten, position, shift):
        changed = mutate_one_digit(ten, position, str((int(ten[position]) + shift) % 10))
        for form in (changed, "16" + changed):
            with pytest.raises(IdentityNumberError):
                parse_organisationsnummer(form)
            with pytest.raises(IdentityNumberError):
                parse_identity_number(form, today=TODAY)

    @given(
        st.one_of(
            # Random digit strings of the right lengths reach the date and Luhn checks.
            st.text(alphabet="0123456789", min_size=10, max_size=10),
            st.text(alphabet="0123456789", min_size=12, max_size=12),
            st.builds(lambda d: "16" + d, st.text(alphabet="0123456789", min_size=10, max_size=10)),
            # Near-misses of valid numbers.
            st.builds(
                lambda p, i, s: mutate_one_digit(p[1], i, str((int(p[1][i]) + s) % 10)),
                valid_persons(),
                st.integers(min_value=0, max_value=11),
                st.integers(min_value=1, max_value=9),
            ),
            # Anything made of digits, separators, letters and stray characters.
            st.text(alphabet="0123456789-+ xTE", min_size=0, max_size=16),
            st.from_regex(r"\A(19|20)?[0-9]{6}[-+]?[A-Z][0-9]{3}\Z"),
        )
    )
    def test_error_messages_never_contain_the_number(self, text):
        digits = re.sub(r"\D", "", text)
        for parse in (
            lambda: parse_identity_number(text, today=TODAY),
            lambda: parse_personnummer(text, today=TODAY),
            lambda: parse_organisationsnummer(text),
        ):
            try:
                parse()
            except IdentityNumberError as error:
                message = str(error)
                if len(digits) >= 3:
                    assert digits not in message
                    assert text.strip() not in message
                # Not even the date part: no message carries three digits in a row.
                assert re.search(r"\d{3}", message) is None, message
                # Nor a month, day, group or check digit: only the numbers the rules themselves name.
                assert_no_digit_of_the_number(message)

    @given(st.one_of(valid_persons().map(lambda p: p[1]), valid_organisations().map(lambda t: "16" + t)))
    def test_repr_never_contains_the_whole_number(self, twelve):
        parsed = parse_identity_number(twelve, today=TODAY)
        assert twelve not in repr(parsed)
        assert twelve[2:] not in repr(parsed)
        assert repr(parsed).endswith(f"number='{twelve[:8]}-****')")
