"""The small register the SPAR fixtures (tests/data/spar/) are written against: who is in it, under which customer
id and identity number, and what each fixture says about them. Built through the register projection on a SQLite
file (no broker) for the unit tests, or published through the real broker for the end-to-end test."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.builders import line, person
from tests.small_register import register_of

SPAR_FILES = Path(__file__).parent / "data" / "spar"
CHANGES, CURRENT, FULL = (SPAR_FILES / f"{name}.xml" for name in ("andringsavisering", "nulagesavisering", "bruttoavisering"))
"""A change notification, a current-state notification and a full notification."""
ATTACKS = (SPAR_FILES / "billion_laughs.xml", SPAR_FILES / "external_entity.xml")

PEOPLE = {
    "C-ANNA": ("198112189876", "Anna"),  # marries and moves (change notification)
    "C-PROT": ("196408233234", "Doris"),  # gets a protected identity (change); her full record has neither name nor address
    "C-BAD": ("200004059937", "Helga"),  # changes name; her new address has a malformed postal code (change)
    "C-DEAD": ("195306062398", "Folke"),  # dies (change)
    "C-EMIG": ("194107086995", "Bertil"),  # emigrates to Norway (change)
    "C-GONE": ("197802022389", "Erik"),  # deregistered as missing, cause OB (current state)
    "C-POST": ("200001012384", "Cecilia"),  # asks for a special postal address and blocks direct marketing (current state); it ends (full)
    "C-SAME": ("194608239986", "Gustav"),  # SPAR agrees with the register, case and spacing aside (current state): only the kind is new
    "C-LIFT": ("200002292399", "Ivar"),  # protected in the register; SPAR says neither flag (full)
    "C-SAMO": ("197302889931", "Jonas"),  # a samordningsnummer with a contact address (full)
}
COMPANY = ("C-CO", "165560360793")
UNKNOWN = "195704289999"
"""In the change notification, but not in the register."""
REGISTERED_ON = "2025-01-10"


def documents() -> list[Mapping[str, Any]]:
    """The register's events, as upstream systems write them: everyone at Storgatan 1, 111 22 Stockholm."""
    people = []
    for customer_id, (number, given_names) in PEOPLE.items():
        document = person(customer_id, number)
        document["registration"]["name"] = {"given_names": given_names, "surname": "Svensson"}
        del document["registration"]["contact"]
        people.append(document)
    company_id, orgnr = COMPANY
    return [
        *people,
        line("CustomerRegistered", company_id, customer_kind="COMPANY", registration={"identity_number": orgnr, "company_name": "Exempel AB"}),
        line("ProtectedIdentitySet", "C-LIFT", protection="SEKRETESSMARKERING"),  # reported from SPAR earlier
    ]


def build(path: Path) -> str:
    """The register on a SQLite file at `path`; its database URL."""
    return register_of(path, documents())
