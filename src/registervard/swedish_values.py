"""Values as Swedish registers write them, taken apart: a whole name, a postal address, a c/o line.

Pure functions for `registervard.importing`; a postal code alone is read by `events.postal_codes`, the one rule
that publishing JSON Lines follows too. Each returns None (or raises ValueError) when the text is not what it
expects, and never guesses beyond the rule it states: the last word of a name is the surname unless a comma says
otherwise, and a postal address is a postal code followed by a town.
"""

from __future__ import annotations

import re

from events.postal_codes import PREFIXED_CODE, country_of

NAME_PARTICLES = frozenset({"af", "av", "von", "van", "der", "den", "de", "du", "la", "le", "di", "da", "del", "zu", "ten", "ter"})
"""Lower-case words that belong to the surname that follows them ("Karl af Klercker", "Anna von Platen")."""

_POSTAL_ADDRESS = re.compile(PREFIXED_CODE + r"(?P<code>\d[\d ]{2,8}\d)\s+(?P<city>[^\d\s].*)")
_CARE_OF = re.compile(r"c\s*/\s*o\b[\s.:]*", re.IGNORECASE)
_CARE_OF_IN_STREET = re.compile(r"c\s*/\s*o\b[\s.:]*(?P<care_of>[^,]+?)\s*,\s*(?P<street>.+)", re.IGNORECASE)
_COMPANY_FORM = re.compile(
    r"(?:^|\s)(?:AB|HB|KB|Aktiebolag|Handelsbolag|Kommanditbolag|Ek\.?\s*för\.?|Ekonomisk förening|Stiftelse|Kommun|Region)(?:\s*\(publ\))?$",
    re.IGNORECASE,
)


def split_name(text: str) -> tuple[str, str] | None:
    """A whole name as (given names, surname): "Anna Maria Svensson" → ("Anna Maria", "Svensson"), "Svensson, Anna" →
    ("Anna", "Svensson"), "Karl af Klercker" → ("Karl", "af Klercker"); None for a single word."""
    text = " ".join(text.split())
    if "," in text:
        surname, _, given = (part.strip() for part in text.partition(","))
        return (given, surname) if given and surname and "," not in given else None
    words = text.split(" ")
    if len(words) < 2:
        return None
    start = len(words) - 1
    while start > 1 and words[start - 1] in NAME_PARTICLES:
        start -= 1
    return " ".join(words[:start]), " ".join(words[start:])


def looks_like_company(name: str) -> bool:
    """Whether a name ends in a company form ("Exempel AB", "Bygg HB", "Konsum Ek. för."): a company's name, not a person's."""
    return bool(_COMPANY_FORM.search(name.strip()))


def split_postal_address(text: str) -> tuple[str, str, str | None] | None:
    """A postal address as (postal code, town, country or None): "111 22 Stockholm" → ("11122", "Stockholm", None),
    "S-211 20 Malmö" and "SE-211 20 Malmö" → ("21120", "Malmö", "SE"); None if it is not a code followed by a town."""
    found = _POSTAL_ADDRESS.fullmatch(" ".join(text.split()))
    if found is None:
        return None
    country = country_of(found["prefix"])
    if found["prefix"] and country is None:
        return None
    return re.sub(r"\s", "", found["code"]), found["city"].strip(), country


def split_care_of(street: str) -> tuple[str, str] | None:
    """A street cell that begins with a c/o line, as (care of, street): "c/o Nilsson, Storgatan 5" → ("Nilsson",
    "Storgatan 5"); None when it does not begin with "c/o" and a comma."""
    found = _CARE_OF_IN_STREET.fullmatch(street.strip())
    return (found["care_of"].strip(), found["street"].strip()) if found else None


def without_care_of_prefix(text: str) -> str:
    """A c/o cell without its "c/o": "c/o Nilsson" → "Nilsson" (the register stores the name the line names)."""
    text = text.strip()
    found = _CARE_OF.match(text)
    return text[found.end() :].strip() if found else text
