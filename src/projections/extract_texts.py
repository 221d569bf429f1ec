"""The register extract's words, in Swedish or English, and how it writes values for people.

Every label, fixed text and code word is data: `extract_sv.toml` and
`extract_en.toml` beside this module, with the same keys. `Texts` reads one of
them and turns the extract's values into words: codes (ACTIVE, NEWSLETTER,
CustomerRegistered) into the language's words, identity numbers and postal
codes into their written forms, UTC timestamps into Swedish time, and an
event's facts into labelled lines.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from events.deregistration import cause as find_cause

LANGUAGES = ("sv", "en")
"""Swedish first: the default."""
SWEDISH_TIME = ZoneInfo("Europe/Stockholm")
ERASED_FACT = "(erased: the data key was destroyed)"
"""What the extract's JSON says of a fact whose data key was destroyed (kept as it was: scripts read it)."""
UNREADABLE_FACT = "(not readable:"
"""How the JSON's note on a fact that cannot be read begins."""

# The facts whose values are codes, and the table of words for each.
CODED_FACTS = {
    "customer_kind": "kind",
    "civil_status": "civil_status",
    "protection": "protection",
    "purpose": "purpose",
    "channel": "channel",
    "reason": "reason",
    "data_categories": "data_category",
    "destination_country": "country",
    "origin_country": "country",
    "country": "country",
}


@dataclass(frozen=True)
class Texts:
    """The words of one language (`extract_<language>.toml`)."""

    language: str
    labels: dict[str, str]
    texts: dict[str, str]
    codes: dict[str, dict[str, str]]
    purposes: list[dict[str, str]]
    rights: list[dict[str, str]]
    recipient_categories: list[dict[str, str]]

    def label(self, key: str, **values: Any) -> str:
        """The label `key`, its {placeholders} filled with `values`."""
        return self.labels[key].format(**values) if values else self.labels[key]

    def text(self, key: str, **values: Any) -> str:
        """The fixed text `key`, its {placeholders} filled with `values`."""
        return self.texts[key].format(**values)

    def code(self, table: str, value: Any) -> str:
        """The word for `value` in the code table `table`; the value itself when the table has no word for it."""
        if value is None:
            return ""
        return self.codes.get(table, {}).get(str(value), str(value))

    def cause(self, cause: dict[str, Any] | None) -> str:
        """A deregistration cause (the extract's `{code, meaning, english}`) in words, with its code."""
        if not cause:
            return ""
        words = cause.get("meaning") if self.language == "sv" else cause.get("english")
        return f"{words} ({cause['code']})" if words else str(cause["code"])

    def fact_lines(self, facts: Any) -> list[str]:
        """An event's facts as `Label: value` lines a person reads; nested records are written as one value where they
        read as one (a name, an address), else as their own labelled lines."""
        if not isinstance(facts, dict):
            return [self._fact_value("", facts)]
        lines: list[str] = []
        for key, value in facts.items():
            if value is None or value == [] or value == {}:
                continue
            label = self.code("fact", key)
            if isinstance(value, dict) and key in {"registration", "contact"}:
                lines += self.fact_lines(value)
            elif isinstance(value, dict) and key == "name":
                lines.append(f"{label}: {person_name(value)}")
            elif isinstance(value, dict) and key == "address":
                lines.append(f"{label}: {self.address(value, sep=', ')}")
            elif isinstance(value, dict):
                lines += [f"{label} › {line}" for line in self.fact_lines(value)]
            elif key == "cause":
                lines.append(f"{label}: {self.cause(_cause(value))}")
            else:
                lines.append(f"{label}: {self._fact_value(key, value)}")
        return lines

    def _fact_value(self, key: str, value: Any) -> str:
        if isinstance(value, str) and value == ERASED_FACT:
            return self.label("erased_fact")
        if isinstance(value, str) and value.startswith(UNREADABLE_FACT):
            return self.label("unreadable_fact")
        if isinstance(value, bool):
            return self.label("yes") if value else self.label("no")
        if isinstance(value, list):
            return ", ".join(self._fact_value(key, v) for v in value)
        if key in CODED_FACTS:
            return self.code(CODED_FACTS[key], value)
        if key == "identity_number":
            return identity_number(value)
        if key == "postal_code":
            return postal_code(value)
        return str(value)

    def address(self, address: dict[str, Any] | None, *, sep: str = "\n") -> str:
        """A postal address as it is written on an envelope (lines joined by `sep`); the country only when not Sweden."""
        if not address:
            return ""
        country = address.get("country") or "SE"
        lines = [
            f"c/o {address['care_of']}" if address.get("care_of") else None,
            address.get("street"),
            f"{postal_code(address.get('postal_code'), country)} {address.get('city') or ''}".strip(),
            self.code("country", country) if country != "SE" else None,
        ]
        return sep.join(line for line in lines if line)


def _cause(code: Any) -> dict[str, Any]:
    found = find_cause(str(code))
    return {"code": code, "meaning": found.meaning if found else None, "english": found.english if found else None}


@cache
def texts(language: str = "sv") -> Texts:
    """The words of `language` (sv or en); a ValueError naming the languages there are for any other."""
    if language not in LANGUAGES:
        raise ValueError(f"the register extract is in {' or '.join(LANGUAGES)}, not {language!r}")
    with Path(__file__).with_name(f"extract_{language}.toml").open("rb") as file:
        document = tomllib.load(file)
    return Texts(
        language=document["language"],
        labels=document["labels"],
        texts=document["texts"],
        codes=document["codes"],
        purposes=document["purposes"],
        rights=document["rights"],
        recipient_categories=document["recipient_categories"],
    )


def person_name(name: dict[str, Any] | None) -> str:
    """Given names and surname, as written."""
    if not name:
        return ""
    return f"{name.get('given_names') or ''} {name.get('surname') or ''}".strip()


def identity_number(number: Any) -> str:
    """A 12-digit identity number as Swedes write it (19811218-9876); anything else as it is."""
    text = str(number or "")
    return f"{text[:8]}-{text[8:]}" if len(text) == 12 and text.isdigit() else text


def postal_code(code: Any, country: str = "SE") -> str:
    """A Swedish postal code as it is written (111 22); any other as it is."""
    text = str(code or "")
    return f"{text[:3]} {text[3:]}" if country == "SE" and len(text) == 5 and text.isdigit() else text


def day(value: Any) -> str:
    """A date (ISO) as people write it in either language: 2025-06-01."""
    return str(value)[:10] if value else ""


def moment(value: Any) -> str:
    """A UTC timestamp of the extract (ISO, `Z`) in Swedish time, to the minute: 2025-06-01 11:00."""
    if not value:
        return ""
    at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return at.astimezone(SWEDISH_TIME).strftime("%Y-%m-%d %H:%M")
