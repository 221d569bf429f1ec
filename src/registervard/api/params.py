"""Parameter types with bounds, so that no value a caller sends can overflow what reads it.

A cursor is a 64-bit sequence number in the database; a moment is compared with
dates and converted to UTC, which overflows near year 1 and year 9999. Both are
bounded where they are parsed, and a value outside the bounds is a 422 naming
the parameter (`errors.validation_message`), never an OverflowError (a 500).

Every symbol (an enum value: channel, purpose, erasure reason, what a search is
by) is taken in any case (`phone` is PHONE), as the command line takes it; the
schema says so with a pattern. A new enum parameter or body field gets its
`...Param` here, built the same way.

A moment is the RFC 3339 date-time the schema promises, in the years 1900 to
2099, and nothing else pydantic would also take (a number of seconds, a date
alone, no time zone): the OpenAPI `pattern` and the check are one regex.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Path
from pydantic import BeforeValidator, WithJsonSchema

from events.catalog import Channel, ConsentPurpose, ErasureReason
from events.validation import is_identity_number
from projections.search import SearchBy

MAX_CURSOR = 2**63 - 1
"""The largest cursor: a 64-bit signed integer, what SQLite binds. `feed` binds it as BIGINT for PostgreSQL, whose
32-bit `seq` column would refuse a larger value typed as its own."""

MOMENT_PATTERN = (
    r"^(19|20)[0-9][0-9]-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""A date and time with seconds and a time zone, in the years 1900 to 2099 as written (the offset moves it at most a
day, which converting it to UTC handles without overflow). ASCII digits only, as `[0-9]`: a regex digit class takes any script's digits."""
_MOMENT = re.compile(MOMENT_PATTERN)

CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
"""The opaque customer id, as `events.validation._CUSTOMER_ID` admits it (anchored: pydantic searches)."""


def _rfc3339_in_range(value: Any) -> Any:
    if isinstance(value, datetime):
        return value  # from Python, not from a request
    if not isinstance(value, str) or not _MOMENT.fullmatch(value):
        raise ValueError("must be a date and time with seconds and a time zone, e.g. 2025-06-01T10:00:00Z, in the years 1900 to 2099")
    return value


Moment = Annotated[
    datetime,
    BeforeValidator(_rfc3339_in_range),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": MOMENT_PATTERN}),
]
"""A date and time with its time zone, in the years 1900 to 2099, for query parameters and body fields."""


def _spelled_as(symbols: type[StrEnum]) -> BeforeValidator:
    """A validator that turns a symbol written in any case into the enum's own spelling (upper or lower case as the
    enum writes it); anything else is left for the enum to refuse, naming the field."""
    spelling = {symbol.value.casefold(): symbol.value for symbol in symbols}

    def spelled(value: Any) -> Any:
        return spelling.get(value.casefold(), value) if isinstance(value, str) else value

    return BeforeValidator(spelled)


def _any_case(symbols: type[StrEnum]) -> dict[str, Any]:
    """The JSON schema of a symbol written in any case: a pattern (JSON Schema has no case-insensitive enum)."""
    spelled = ["".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in symbol.value) for symbol in symbols]
    return {"type": "string", "pattern": f"^({'|'.join(spelled)})$", "examples": [next(iter(symbols)).value]}


ChannelParam = Annotated[Channel, _spelled_as(Channel), WithJsonSchema(_any_case(Channel))]
"""A channel (PHONE, EMAIL, POST, SMS, ANY, OTHER) in any case, as the command line takes it."""
PurposeParam = Annotated[ConsentPurpose, _spelled_as(ConsentPurpose), WithJsonSchema(_any_case(ConsentPurpose))]
"""A purpose (MARKETING, PROFILING, TELEMARKETING, NEWSLETTER, OTHER) in any case, as the command line takes it."""
ErasureReasonParam = Annotated[ErasureReason, _spelled_as(ErasureReason), WithJsonSchema(_any_case(ErasureReason))]
"""Why a customer is erased (CUSTOMER_REQUEST, RETENTION_EXPIRED, OTHER) in any case, as `registervard erase --reason` takes it."""
SearchByParam = Annotated[SearchBy, _spelled_as(SearchBy), WithJsonSchema(_any_case(SearchBy))]
"""What a search's query is (auto, identity_number, name, phone, email) in any case, as `customer find --by` takes it."""


def customer_id_path() -> Any:
    """The `{customer_id}` path parameter: an opaque customer id, else 422 naming `path.customer_id`."""
    return Path(
        pattern=CUSTOMER_ID_PATTERN,
        description="The customer's opaque id (never an identity number): a letter or digit, then up to 99 of letters, digits, `.`, `_`, `:`, `-`.",
        examples=["C-00001"],
    )


def looks_like_identity_number(text: str) -> bool:
    """Whether `text` parses as a personnummer, samordningsnummer or organisationsnummer."""
    return is_identity_number(text)
