"""Postal codes as people write them: "221 00", "S-221 00", "SE-221 00" are the Swedish code 22100.

The one rule for reading a written postal code, for every way one comes in: `registervard import` reads a register's
cells with it, and `registervard publish` (events.jsonlines) a JSON line's Swedish addresses, so that a code one
accepts the other accepts too. The register stores a Swedish code as its five digits (`events.validation`).
"""

from __future__ import annotations

import re
from typing import Any

COUNTRY_PREFIXES = {"S": "SE", "SE": "SE", "N": "NO", "NO": "NO", "DK": "DK", "SF": "FI", "FI": "FI", "FIN": "FI", "D": "DE", "DE": "DE"}
"""Country letters written before a postal code ("S-211 20", "SE-211 20", "N-0150"), as ISO 3166-1 alpha-2 codes."""

PREFIXED_CODE = r"(?:(?P<prefix>[A-Za-z]{1,3})(?:\s*-\s*|\s+))?"
"""Country letters and a hyphen or space before a postal code, if any (a regex other patterns build on)."""
_POSTAL_CODE = re.compile(PREFIXED_CODE + r"(?P<code>\d[\d ]*\d)")
_SWEDISH = re.compile(r"\d{5}")


def country_of(prefix: str | None) -> str | None:
    """The ISO country code that country letters before a postal code name ("S", "SE" → "SE"), None if none or unknown."""
    return COUNTRY_PREFIXES.get(prefix.upper()) if prefix else None


def split_postal_code(text: str) -> tuple[str, str | None]:
    """A postal code without spaces and country letters, and the country they name: "111 22" → ("11122", None),
    "S-211 20" → ("21120", "SE"). Text that is no such code comes back without its spaces, for the rules to refuse."""
    found = _POSTAL_CODE.fullmatch(text.strip())
    if found is None or (found["prefix"] and country_of(found["prefix"]) is None):
        return re.sub(r"\s", "", text), None
    return re.sub(r"\s", "", found["code"]), country_of(found["prefix"])


def swedish_postal_code(text: str) -> str | None:
    """The five digits of a Swedish postal code in a written form ("221 00", "S-221 00", "SE-221 00", "SE 22100"), or
    None when `text` is not one (another country's letters, another number of digits)."""
    code, country = split_postal_code(text)
    return code if country in (None, "SE") and _SWEDISH.fullmatch(code) else None


def normalise_swedish_addresses(document: Any) -> Any:
    """A JSON document with the postal code of every Swedish address in it (an object with a `postal_code` and a
    `country` of SE, or none: SE is the default) written as its five digits. The document is not changed: what needs a
    change is copied, and a document with nothing to change comes back as it is (publishing reads many). A code that is
    not a Swedish one in any written form is left as sent, for validation to refuse."""
    if isinstance(document, list):
        items = [normalise_swedish_addresses(item) for item in document]
        return items if any(new is not old for new, old in zip(items, document, strict=True)) else document
    if not isinstance(document, dict):
        return document
    copied: dict[str, Any] | None = None
    for key, value in document.items():
        if isinstance(value, (dict, list)) and (new := normalise_swedish_addresses(value)) is not value:
            copied = copied if copied is not None else dict(document)
            copied[key] = new
    code = document.get("postal_code")
    if isinstance(code, str) and document.get("country", "SE") == "SE" and (five := swedish_postal_code(code)) not in (None, code):
        copied = copied if copied is not None else dict(document)
        copied["postal_code"] = five
    return copied if copied is not None else document
