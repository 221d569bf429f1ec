"""A small register on a SQLite file, built through the register projection (no broker), for the tests of the files
the commands write (`wash`, `export`): a person whose number was washed clear of NIX, one never washed, one in NIX, a
protected identity, a person without a phone number, a company and a deceased person."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from events import codec
from events.event_log import LogRecord
from events.jsonlines import parse_event
from events.sealing import MemoryKeyStore
from projections.database import connect
from projections.register import RegisterProjection
from projections.runner import apply_batch
from tests.builders import line, person

CHECKED, UNCHECKED, IN_NIX, PROTECTED, NO_PHONE, COMPANY, DECEASED = "C-CHECKED", "C-UNCHECKED", "C-NIX", "C-PROT", "C-NOPHONE", "C-CO", "C-DEAD"
PHONES = {CHECKED: "+46701234561", UNCHECKED: "+46701234562", IN_NIX: "+46701234563", PROTECTED: "+46701234564", DECEASED: "+46701234566"}
IDENTITIES = {
    CHECKED: "198112189876",
    UNCHECKED: "194107086995",
    IN_NIX: "200001012384",
    PROTECTED: "196408233234",
    NO_PHONE: "197802022389",
    DECEASED: "195306062398",
}
ORGNR = "165560360793"
NIX_VERSION = "2025-06-01"
AT = "2025-06-10T10:00:00Z"
"""A moment the NIX wash of NIX_VERSION still counts at."""
DIED_ON = "2025-03-15"


def _person(customer_id: str, given_names: str, **contact: Any) -> dict[str, Any]:
    document = person(customer_id, IDENTITIES[customer_id])
    document["registration"]["name"] = {"given_names": given_names, "surname": "Svensson"}
    if contact:
        document["registration"]["contact"] = dict(contact)
    else:
        del document["registration"]["contact"]
    return document


def documents() -> list[Mapping[str, Any]]:
    """The register's events, as upstream systems write them."""
    nix = [
        line("NixDeregistered", CHECKED, phone=PHONES[CHECKED], register_version_date=NIX_VERSION),
        line("NixRegistered", IN_NIX, phone=PHONES[IN_NIX], register_version_date=NIX_VERSION),
    ]
    return [
        _person(CHECKED, "Anna", phone=PHONES[CHECKED]),
        _person(UNCHECKED, "Bertil", phone=PHONES[UNCHECKED]),
        _person(IN_NIX, "Cecilia", phone=PHONES[IN_NIX]),
        _person(PROTECTED, "Doris", phone=PHONES[PROTECTED]),
        _person(NO_PHONE, "Erik"),
        _person(DECEASED, "Folke", phone=PHONES[DECEASED]),
        line("CustomerRegistered", COMPANY, customer_kind="COMPANY", registration={"identity_number": ORGNR, "company_name": "Exempel AB"}),
        *nix,
        line("ProtectedIdentitySet", PROTECTED, protection="SKYDDAD_FOLKBOKFORING"),
        line("CustomerDeceased", DECEASED, date_of_death=DIED_ON),
    ]


def build(path: Path) -> str:
    """The register on a SQLite file at `path`; its database URL."""
    return register_of(path, documents())


def register_of(path: Path, lines: list[dict[str, Any]]) -> str:
    """A register on a SQLite file at `path` built by the real projection from these event lines; its database URL."""
    url = f"sqlite:///{path}"
    records = [LogRecord("registervard.events", 0, offset, codec.encode(parse_event(document))) for offset, document in enumerate(lines)]
    engine = connect(url)
    try:
        assert apply_batch(engine, RegisterProjection(), records, MemoryKeyStore()) == []
    finally:
        engine.dispose()
    return url
