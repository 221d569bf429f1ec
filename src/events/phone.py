"""Phone numbers as people write them, brought to E.164 ("070-123 45 67" -> "+46701234567")."""

from __future__ import annotations

import re

_PHONE_PUNCTUATION = re.compile(r"[\s\-().\/]")


def normalise_phone(text: str) -> str:
    """A Swedish or international phone number in E.164 form: "070-123 45 67" → "+46701234567".

    Accepts +CC..., 00CC..., a Swedish national number with its leading 0, 46...
    and a Swedish number whose leading 0 a spreadsheet dropped (701234567).
    ValueError (without the number) if it is none of those.
    """
    raw = _PHONE_PUNCTUATION.sub("", text.strip())
    if raw.startswith("+"):
        digits = raw[1:]
    elif raw.startswith("00"):
        digits = raw[2:]
    elif raw.startswith("0"):
        digits = "46" + raw[1:]
    elif raw.startswith("46") and len(raw) >= 10:
        digits = raw
    elif len(raw) in (7, 8, 9) and raw[:1] in "123456789":
        digits = "46" + raw  # a Swedish number that lost its leading 0 in a spreadsheet
    else:
        digits = ""
    if digits.startswith("460"):
        digits = "46" + digits[3:]  # +46 (0)70...
    if not digits.isdigit() or not 7 <= len(digits) <= 15 or digits[0] == "0":
        raise ValueError("is not a phone number (expected a Swedish number with its leading zero, or + and a country code)")
    if digits.startswith("46") and not 6 <= len(digits) - 2 <= 9:
        raise ValueError("is not a Swedish phone number: it should have 6 to 9 digits after the leading 0")
    return "+" + digits
