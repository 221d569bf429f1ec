"""The population register's deregistration causes (avregistreringsorsak), as data.

`CAUSES` is read once from the packaged `deregistration_causes.toml`: the two-
character codes Navet and SPAR deliver, what each means, and what it does to a
customer (`number_replaced`: the person lives on under a new number; otherwise
the identity has ended). The fold, the lifecycle rules and validation read the
table from here; no code names a cause but the tests.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from events.refusal import Refusal

CAUSES_PATH = Path(__file__).with_name("deregistration_causes.toml")


@dataclass(frozen=True, kw_only=True)
class Cause:
    """One deregistration cause; see the comments in deregistration_causes.toml."""

    code: str
    """Two characters, as the population register writes it (e.g. GN)."""
    meaning: str
    """The population register's own words."""
    english: str
    """The same in English."""
    own_event: str | None = None
    """The event upstream sends for this cause instead of CustomerDeregistered (death, emigration)."""
    number_replaced: bool = False
    """The person lives on under a new identity number; otherwise the identity has ended."""
    confirmed: bool = True
    """False while the code is not checked against SPAR's interface manual."""
    note: str | None = None
    """Anything else a reader of the register needs to know."""

    @property
    def ends_identity(self) -> bool:
        """Whether the identity the customer was registered under has ended for good (every consent ends with it)."""
        return not self.number_replaced


def parse_causes(data: Mapping[str, Any], *, source: str = "causes") -> Mapping[str, Cause]:
    """The causes in the parsed TOML of a causes file; a ValueError names what is wrong."""
    causes: dict[str, Cause] = {}
    for code, entry in data.get("causes", {}).items():
        if len(code) != 2 or not code.isascii() or not code.isupper():
            raise ValueError(f"{source}: causes.{code}: a cause is two capital letters, as the population register writes it")
        try:
            causes[code] = Cause(code=code, **entry)
        except TypeError as error:
            raise ValueError(f"{source}: causes.{code}: {error}") from None
    if not causes:
        raise ValueError(f"{source}: no [causes.XX] tables")
    return MappingProxyType(causes)


def load_causes(path: Path = CAUSES_PATH) -> Mapping[str, Cause]:
    """The causes in `path` (by default the packaged table)."""
    return parse_causes(tomllib.loads(path.read_text(encoding="utf-8")), source=path.name)


CAUSES: Mapping[str, Cause] = load_causes()
"""Every cause the register knows, by code."""


def cause(code: str | None) -> Cause | None:
    """The cause with this code, or None for no code or one the table does not hold (an older table's record)."""
    return CAUSES.get(code) if code is not None else None


def ends_identity(code: str | None) -> bool:
    """Whether a deregistration with this cause ended the identity for good; an unknown code is taken to (the safe side)."""
    found = cause(code)
    return code is not None and (found is None or found.ends_identity)


def check_cause(code: str, field: str = "cause") -> None:
    """A CustomerDeregistered's cause must be one of the table's, and not one with an event of its own."""
    found = CAUSES.get(code)
    if found is None:
        known = ", ".join(sorted(c for c, entry in CAUSES.items() if entry.own_event is None))
        raise Refusal(field, f"is not a deregistration cause of the population register; use one of {known}", code="UNKNOWN_CAUSE")
    if found.own_event is not None:
        raise Refusal(field, f"{code} ({found.english}) has an event of its own: send {found.own_event} instead", code="USE_OWN_EVENT")
