"""Dates and times as Swedes write them: 2025-03-01, and 2025-03-01 14:05 in Swedish time (Europe/Stockholm).

The register keeps moments in UTC; an operator reads them in the time of the
office. The filters take what the read models hold (date, datetime, or their
ISO text) and show a dash for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

SWEDISH_TIME = ZoneInfo("Europe/Stockholm")
NOTHING = "–"


def swedish_date(value: Any) -> str:
    """A date (or the date of a moment, in Swedish time) as YYYY-MM-DD; a dash for None."""
    if value is None or value == "":
        return NOTHING
    if isinstance(value, str):
        value = _parse(value)
        if isinstance(value, str):
            return value
    if isinstance(value, datetime):
        return _local(value).strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def swedish_moment(value: Any) -> str:
    """A moment as YYYY-MM-DD HH:MM in Swedish time (a date alone as YYYY-MM-DD); a dash for None."""
    moment = _parse(value) if isinstance(value, str) and value else value
    if isinstance(moment, datetime):
        return _local(moment).strftime("%Y-%m-%d %H:%M")
    return swedish_date(value)  # a date, nothing, or text that is no moment


def _local(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(SWEDISH_TIME)


def _parse(text: str) -> datetime | date | str:
    """ISO text as a datetime or a date; anything else is shown as it is."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text


def identity_number(value: Any) -> str:
    """A 12-digit identity number as Swedes write it, 19811218-9876; a dash for None."""
    text = str(value or "")
    return f"{text[:8]}-{text[8:]}" if len(text) == 12 and text.isdigit() else (text or NOTHING)


def postal_address(record: Any) -> str:
    """A register row's address on one line: c/o, street, postal code and city (postal code as 111 22 in Sweden), country if not SE."""
    get = record.get
    code = str(get("postal_code") or "")
    country = get("country")
    if len(code) == 5 and code.isdigit() and country in (None, "SE"):
        code = f"{code[:3]} {code[3:]}"
    parts = [f"c/o {get('care_of')}" if get("care_of") else None, get("street"), f"{code} {get('city') or ''}".strip()]
    if country not in (None, "SE"):
        parts.append(str(country))
    return ", ".join(str(part) for part in parts if part)


FILTERS: dict[str, Callable[[Any], str]] = {"date": swedish_date, "moment": swedish_moment, "identity": identity_number, "address": postal_address}
"""Template filters: `{{ x | date }}`, `{{ x | moment }}`, `{{ n | identity }}`, `{{ row | address }}`."""
