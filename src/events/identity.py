"""Swedish identity numbers: parse, validate and normalise to twelve digits.

Three kinds of number identify a customer or a company:

* a **personnummer** (``YYMMDD-NNNC`` or ``YYYYMMDDNNNC``), where ``NNN`` is a
  serial number (never ``000``), ``C`` is a Luhn check digit over the nine
  digits ``YYMMDDNNN``, and the separator becomes ``+`` once the person is 100
  or older;
* a **samordningsnummer** (coordination number): the same form, with 60 added
  to the day of birth (days 61-91);
* an **organisationsnummer**: ten digits whose digits 3-4 are 20 or more, with a
  Luhn check digit; the first digit names the kind of organisation. Its
  twelve-digit form puts ``16`` in front.

Every number is stored in its twelve-digit form without separator, because the
ten-digit form of a personnummer does not fix the century on its own.

An **interim number** (a letter in place of the first serial digit, e.g.
``YYMMDD-TNNC``) is handed out by universities and hospitals, not by the
population register; the register does not take one, and says so.

What is valid follows the test data the personnummer libraries share across
languages (https://github.com/personnummer/meta, ``testdata/``); a copy and the
test reading it are under ``tests/``.

A personnummer is personal data. Nothing in this module puts the number, or
any digit or letter of it, in an error message, and a ``repr`` hides the last
four digits: a message names the part that is wrong (the month, the check
digit...) and the rule it breaks, never its value.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, get_args

__all__ = [
    "ORGANISATION_GROUPS",
    "IdentityKind",
    "IdentityNumber",
    "IdentityNumberError",
    "luhn_check_digit",
    "parse_identity_number",
    "parse_organisationsnummer",
    "parse_personnummer",
]

IdentityKind = Literal["personnummer", "samordningsnummer", "organisationsnummer"]

_KINDS: Final = frozenset(get_args(IdentityKind))
_DIGITS: Final = frozenset("0123456789")
_SEPARATORS: Final = frozenset("-+")

#: The first digit of an organisationsnummer says what kind of organisation it is.
#: Digits 0 and 4 are not used.
ORGANISATION_GROUPS: Final[dict[str, str]] = {
    "1": "dödsbo",
    "2": "stat, region eller kommun",
    "3": "utländskt företag",
    "5": "aktiebolag",
    "6": "enkelt bolag",
    "7": "ekonomisk förening eller samfällighet",
    "8": "ideell förening eller stiftelse",
    "9": "handelsbolag eller kommanditbolag",
}

#: Samordningsnummer add this to the day of birth.
_SAMORDNING_DAY_OFFSET: Final = 60

#: The letters an interim number may have in place of its first serial digit
#: (the shared specification's list, version 3.1).
_INTERIM_LETTERS: Final = frozenset("TRSUWXJKLMN")

#: A person's number with a letter where the serial number begins: an interim
#: number, or a letter no identity number has there.
_LETTER_IN_SERIAL: Final = re.compile(r"(?:\d\d)?\d\d(?P<month>\d\d)\d\d[-+]?[A-Za-z]\d{3}")

#: Nobody with a personnummer was born before this year (the register began in
#: 1947 with the people then alive); it also keeps the twelve-digit ``16...``
#: shape for organisations only.
_EARLIEST_BIRTH_YEAR: Final = 1800


class IdentityNumberError(ValueError):
    """An identity number that is not valid.

    The message says what is wrong. It never echoes the number, nor its date
    part: the number is personal data and messages end up in logs.
    """


@dataclass(frozen=True, repr=False)
class IdentityNumber:
    """A valid Swedish identity number in its normalised twelve-digit form.

    Build one with :func:`parse_identity_number`, :func:`parse_personnummer` or
    :func:`parse_organisationsnummer`. Constructing it directly (for example
    when rehydrating an event) checks the shape, the date and the check digit,
    but not that a birth date lies in the past.

    ``str()`` gives the twelve digits; ``repr()`` hides the last four so that a
    number in a traceback or a debug log does not identify anyone.
    """

    kind: IdentityKind
    #: ``YYYYMMDDNNNC`` for persons (day + 60 for a samordningsnummer) or
    #: ``16NNNNNNNNNC`` for organisations; twelve ASCII digits, no separator.
    number: str

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise IdentityNumberError("kind must be 'personnummer', 'samordningsnummer' or 'organisationsnummer'")
        if not isinstance(self.number, str) or len(self.number) != 12 or not _only_digits(self.number):
            raise IdentityNumberError("a normalised identity number is exactly 12 digits with no separator")
        if self.kind == "organisationsnummer":
            if not self.number.startswith("16"):
                raise IdentityNumberError("a normalised organisationsnummer starts with 16")
            _check_organisation_digits(self.number[2:])
            return
        if _is_organisation_shape(self.number):
            raise IdentityNumberError(_ORG_NOT_PERSON_12)
        kind, _ = _check_person_digits(int(self.number[:4]), self.number[4:])
        if kind != self.kind:
            raise IdentityNumberError(f"the day part marks a {kind}, not a {self.kind}")

    def __str__(self) -> str:
        """The twelve digits, e.g. for storing; this is personal data for persons."""
        return self.number

    def __repr__(self) -> str:
        return f"IdentityNumber(kind={self.kind!r}, number='{self.number[:8]}-****')"

    @property
    def is_person(self) -> bool:
        """True for a personnummer or samordningsnummer, False for an organisation."""
        return self.kind != "organisationsnummer"

    @property
    def birth_date(self) -> date | None:
        """The date of birth of a person (for a samordningsnummer the day minus 60).

        ``None`` for an organisationsnummer, whose digits are not a date.
        """
        if not self.is_person:
            return None
        day = int(self.number[6:8])
        if self.kind == "samordningsnummer":
            day -= _SAMORDNING_DAY_OFFSET
        return date(int(self.number[:4]), int(self.number[4:6]), day)

    @property
    def organisation_group(self) -> str | None:
        """What kind of organisation the first digit names, e.g. ``"aktiebolag"``.

        ``None`` for persons.
        """
        if self.is_person:
            return None
        return ORGANISATION_GROUPS[self.number[2]]


def luhn_check_digit(nine_digits: str) -> int:
    """The Luhn (mod 10) check digit over nine digits, weights 2, 1, 2, 1, ... from the left.

    Each digit is multiplied by its weight, the digits of the products are
    summed, and the check digit brings the total up to a multiple of ten.

    >>> luhn_check_digit("811218987")
    6
    """
    if not isinstance(nine_digits, str) or len(nine_digits) != 9 or not _only_digits(nine_digits):
        raise ValueError("the Luhn check digit is computed over exactly 9 digits")
    total = 0
    for position, char in enumerate(nine_digits):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def parse_identity_number(text: str, *, today: date | None = None) -> IdentityNumber:
    """Parse a personnummer, samordningsnummer or organisationsnummer.

    The shape decides the kind: twelve digits starting with ``16`` whose
    digits 5-6 are 20 or more, or ten digits whose digits 3-4 are 20 or more,
    are an organisationsnummer; anything else is read as a person's number
    (see :func:`parse_personnummer` for the rules and for ``today``).

    Raises :class:`IdentityNumberError` saying what is wrong.
    """
    digits, _, _ = _split(text)
    if _is_organisation_shape(digits):
        return parse_organisationsnummer(text)
    return parse_personnummer(text, today=today)


def parse_personnummer(text: str, *, today: date | None = None) -> IdentityNumber:
    """Parse a personnummer or samordningsnummer and normalise it to ``YYYYMMDDNNNC``.

    Accepted forms, with surrounding whitespace ignored:

    * ``YYMMDD-NNNC`` or ``YYMMDDNNNC``: the birth year is the most recent
      one ending in ``YY`` whose date is not after ``today``;
    * ``YYMMDD+NNNC``: the same, minus 100 years (the person is 100 or older);
    * ``YYYYMMDDNNNC``, ``YYYYMMDD-NNNC`` or, for someone 100 or older on
      ``today``, ``YYYYMMDD+NNNC``.

    The month and day must make a real calendar date (a samordningsnummer has
    60 added to the day), the date must not lie after ``today`` (default: the
    current date), the serial number ``NNN`` is never ``000`` and the last
    digit must be the Luhn check digit over ``YYMMDDNNN``. An interim number
    (a letter in the serial number) is refused with its own reason.

    Raises :class:`IdentityNumberError` saying what is wrong.
    """
    digits, separator, separator_at = _split(text)
    if today is None:
        today = date.today()

    if len(digits) == 10:
        if separator is not None and separator_at != 6:
            raise IdentityNumberError("the separator must come right after the six date digits (YYMMDD-NNNC)")
        if int(digits[2:4]) >= 20:
            raise IdentityNumberError(_ORG_NOT_PERSON_10)
        kind, day = _check_month_and_day(digits[2:4], digits[4:6])
        month = int(digits[2:4])
        year = today.year - today.year % 100 + int(digits[:2])
        if (year, month, day) > (today.year, today.month, today.day):
            year -= 100
        if separator == "+":
            year -= 100
        _check_birth_year(year)
        _check_day_in_month(year, month, day, kind)
        _check_serial(digits[6:9])
        _check_luhn(digits)
        return IdentityNumber(kind, f"{year:04d}{digits[2:]}")

    if len(digits) == 12:
        if separator is not None and separator_at != 8:
            raise IdentityNumberError("the separator must come right after the eight date digits (YYYYMMDD-NNNC)")
        if _is_organisation_shape(digits):
            raise IdentityNumberError(_ORG_NOT_PERSON_12)
        kind, birth = _check_person_digits(int(digits[:4]), digits[4:])
        if birth > today:
            raise IdentityNumberError("birth date lies in the future")
        # The century is written out, so '+' adds nothing; but it still says "100 or older" (the same rule as the
        # 10-digit form), and a date that disagrees points to a mistyped century or separator.
        if separator == "+" and (birth.year + 100, birth.month, birth.day) > (today.year, today.month, today.day):
            raise IdentityNumberError(_PLUS_UNDER_100)
        return IdentityNumber(kind, digits)

    raise IdentityNumberError(f"identity number has {len(digits)} digits; expected 10 (YYMMDD-NNNC) or 12 (YYYYMMDDNNNC)")


def parse_organisationsnummer(text: str) -> IdentityNumber:
    """Parse an organisationsnummer and normalise it to ``16NNNNNNNNNC``.

    Accepted forms, with surrounding whitespace ignored: ``NNNNNN-NNNC``,
    ``NNNNNNNNNC``, ``16NNNNNNNNNC`` and ``16NNNNNN-NNNC``. Digits 3-4 of the
    ten-digit number must be 20 or more, the first digit must be a group in
    :data:`ORGANISATION_GROUPS` and the last digit the Luhn check digit.

    A sole trader (enskild firma) has no organisationsnummer of its own and uses
    the owner's personnummer; parse that with :func:`parse_personnummer`.

    Raises :class:`IdentityNumberError` saying what is wrong.
    """
    digits, separator, separator_at = _split(text)
    if separator == "+":
        raise IdentityNumberError("an organisationsnummer has no '+' separator; only '-' is used")
    if len(digits) == 10:
        if separator is not None and separator_at != 6:
            raise IdentityNumberError("the separator must come right after the first six digits (NNNNNN-NNNC)")
        ten = digits
    elif len(digits) == 12:
        if not digits.startswith("16"):
            raise IdentityNumberError("a 12-digit organisationsnummer starts with 16")
        if separator is not None and separator_at != 8:
            raise IdentityNumberError("the separator must come right after the first eight digits (16NNNNNN-NNNC)")
        ten = digits[2:]
    else:
        raise IdentityNumberError(f"organisationsnummer has {len(digits)} digits; expected 10 (NNNNNN-NNNC) or 12 (16NNNNNNNNNC)")
    _check_organisation_digits(ten)
    return IdentityNumber("organisationsnummer", "16" + ten)


# --------------------------------------------------------------------------- #
# Internals. No message below has a digit or letter of the number in it: a   #
# message names the part that is wrong and the rule, never the value.        #
# --------------------------------------------------------------------------- #

_ORG_NOT_PERSON_10: Final = "digits 3-4 are 20 or more, which marks an organisationsnummer, not a personnummer or samordningsnummer"
_ORG_NOT_PERSON_12: Final = (
    "a 12-digit number starting with 16 whose digits 5-6 are 20 or more is an organisationsnummer, not a personnummer or samordningsnummer"
)
_INTERIM: Final = (
    "is an interim number (a letter in the serial number), which the population register "
    "does not assign to customers; use the person's personnummer or samordningsnummer"
)
_LETTER_NOT_INTERIM: Final = (
    "has a letter in the serial number that no identity number has there (only an interim "
    "number has one, T, R, S, U, W, X, J, K, L, M or N, and the register does not take those "
    "either); use the person's personnummer or samordningsnummer"
)
_PLUS_UNDER_100: Final = "the separator '+' marks a person aged a hundred or more, but the date makes them younger; write '-' or check the century"
_MONTH: Final = "the month does not exist: the two digits after the year must be 01-12"
_DAY: Final = "the day does not exist: a personnummer has days 01-31 and a samordningsnummer days 61-91 (day of birth + 60)"
_DATE_PERSON: Final = "the date does not exist: the day lies past the end of the month"
_DATE_SAMORDNING: Final = "the date does not exist: the day of birth (the samordningsnummer day minus 60) lies past the end of the month"
_NOT_LEAP_YEAR: Final = ", as the year is not a leap year"
_SERIAL: Final = "the serial number (the three digits after the date) is all zeros, which is never assigned; look for a mistyped digit"
_CHECK_DIGIT: Final = "the check digit (the last digit) does not agree with the digits before it (Luhn); look for a mistyped or swapped digit"
_GROUP: Final = "the first digit of an organisationsnummer names a group of organisations (1-3 or 5-9), and this one names none"


def _only_digits(text: str) -> bool:
    return all(char in _DIGITS for char in text)


def _split(text: str) -> tuple[str, str | None, int | None]:
    """Strip whitespace and split into (digits, separator, number of digits before it)."""
    if not isinstance(text, str):
        raise TypeError(f"an identity number must be given as str, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise IdentityNumberError("identity number is empty")
    letter = _LETTER_IN_SERIAL.fullmatch(stripped)
    # Digits 3-4 of 20 or more are an organisationsnummer's, which has no interim form.
    if letter is not None and int(letter["month"]) < 20:
        raise IdentityNumberError(_INTERIM if stripped[-4].upper() in _INTERIM_LETTERS else _LETTER_NOT_INTERIM)
    separators = [char for char in stripped if char in _SEPARATORS]
    if len(separators) > 1 or any(char not in _DIGITS and char not in _SEPARATORS for char in stripped):
        raise IdentityNumberError("contains characters other than digits and one separator '-' or '+'")
    if not separators:
        return stripped, None, None
    separator = separators[0]
    separator_at = stripped.index(separator)
    return stripped.replace(separator, ""), separator, separator_at


def _is_organisation_shape(digits: str) -> bool:
    """Whether the digits have the shape of an organisationsnummer (see parse_identity_number)."""
    if len(digits) == 12:
        return digits.startswith("16") and int(digits[4:6]) >= 20
    if len(digits) == 10:
        return int(digits[2:4]) >= 20
    return False


def _check_month_and_day(month_digits: str, day_digits: str) -> tuple[IdentityKind, int]:
    """Check the month and the day's range; return the kind and the real day of birth."""
    if not 1 <= int(month_digits) <= 12:
        raise IdentityNumberError(_MONTH)
    written_day = int(day_digits)
    if 1 <= written_day <= 31:
        return "personnummer", written_day
    if _SAMORDNING_DAY_OFFSET < written_day <= 91:
        return "samordningsnummer", written_day - _SAMORDNING_DAY_OFFSET
    raise IdentityNumberError(_DAY)


def _check_birth_year(year: int) -> None:
    if year < _EARLIEST_BIRTH_YEAR:
        raise IdentityNumberError("birth year lies before the nineteenth century; no personnummer is that old")


def _check_day_in_month(year: int, month: int, day: int, kind: IdentityKind) -> date:
    """Check that the day exists in that month of that year; return the birth date."""
    days_in_month = calendar.monthrange(year, month)[1]
    if day > days_in_month:
        message = _DATE_SAMORDNING if kind == "samordningsnummer" else _DATE_PERSON
        if month == 2 and day == 29:
            message += _NOT_LEAP_YEAR
        raise IdentityNumberError(message)
    return date(year, month, day)


def _check_person_digits(year: int, mmddnnnc: str) -> tuple[IdentityKind, date]:
    """Check year, date and check digit of a 12-digit person number; return kind and birth date."""
    _check_birth_year(year)
    kind, day = _check_month_and_day(mmddnnnc[:2], mmddnnnc[2:4])
    birth = _check_day_in_month(year, int(mmddnnnc[:2]), day, kind)
    _check_serial(mmddnnnc[4:7])
    _check_luhn(f"{year % 100:02d}{mmddnnnc}")
    return kind, birth


def _check_organisation_digits(ten: str) -> None:
    """Check digits 3-4, the group digit and the check digit of a 10-digit organisationsnummer."""
    if int(ten[2:4]) < 20:
        raise IdentityNumberError(
            "digits 3-4 of an organisationsnummer are 20 or more; these are below 20, "
            "which marks a personnummer or samordningsnummer (a sole trader uses "
            "the owner's personnummer)"
        )
    if ten[0] not in ORGANISATION_GROUPS:
        raise IdentityNumberError(_GROUP)
    _check_luhn(ten)


def _check_serial(serial: str) -> None:
    """The serial number 000 is never assigned, although its check digit can be right."""
    if serial == "000":
        raise IdentityNumberError(_SERIAL)


def _check_luhn(ten: str) -> None:
    if int(ten[9]) != luhn_check_digit(ten[:9]):
        raise IdentityNumberError(_CHECK_DIGIT)
