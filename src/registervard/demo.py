"""A small, believable demo register: a few hundred customers and what happens to them."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from events.identity import luhn_check_digit

GIVEN_NAMES = ["Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Sara", "Anders", "Emma", "Per", "Elin", "Nils", "Ida", "Oskar"]
SURNAMES = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson", "Lindberg"]
STREETS = ["Storgatan", "Kungsgatan", "Drottninggatan", "Skolvägen", "Björkvägen", "Ringvägen", "Parkgatan", "Sjövägen"]
CITIES = [("11122", "Stockholm"), ("41103", "Göteborg"), ("21120", "Malmö"), ("75310", "Uppsala"), ("90325", "Umeå"), ("58223", "Linköping")]
COMPANIES = ["Nordkust AB", "Fjällbyggen AB", "Ekolivs Handel AB", "Solgläntan HB", "Bryggeriet i Norr AB"]
OUR_COMPANY = "Registervård Demo AB"


def personnummer(rng: random.Random) -> str:
    """A valid, random 12-digit personnummer."""
    born = date(1930, 1, 1) + timedelta(days=rng.randrange(365 * 75))
    nine = f"{born:%y%m%d}{rng.randrange(1, 1000):03d}"  # serial number 000 is never assigned
    return f"{born:%Y}{nine[2:]}{luhn_check_digit(nine)}"


def organisationsnummer(rng: random.Random) -> str:
    """A valid, random 12-digit organisationsnummer of an aktiebolag."""
    nine = f"5{rng.randrange(10)}{rng.randrange(20, 100)}{rng.randrange(100000):05d}"
    return f"16{nine}{luhn_check_digit(nine)}"


def demo_events(*, customers: int = 300, seed: int = 7) -> list[str]:
    """JSON lines telling the demo customers' lives, in the order they happened."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for number in range(1, customers + 1):
        events.extend(_life(rng, f"C-{number:05d}"))
    events.sort(key=lambda e: e["occurred_at"])
    return [json.dumps(e, ensure_ascii=False) for e in events]


def _life(rng: random.Random, customer_id: str) -> list[dict[str, Any]]:
    start = datetime(2024, 1, 1, 8, tzinfo=UTC) + timedelta(hours=rng.randrange(24 * 200))

    def at(days: int, type_: str, source: str, **fields: Any) -> dict[str, Any]:
        moment = start + timedelta(days=days)
        reported = moment + timedelta(hours=rng.randrange(1, 72))  # reports reach us a little later
        return {"type": type_, "customer_id": customer_id, "occurred_at": moment.isoformat(),
                "recorded_at": reported.isoformat(), "source": source, **fields}

    def address() -> dict[str, str]:
        postal_code, city = rng.choice(CITIES)
        return {"street": f"{rng.choice(STREETS)} {rng.randrange(1, 90)}", "postal_code": postal_code, "city": city}

    def day(days: int) -> str:
        return (start + timedelta(days=days)).date().isoformat()

    if rng.random() < 0.1:
        return [at(0, "CustomerRegistered", "CRM", customer_kind="COMPANY", registration={
            "identity_number": organisationsnummer(rng), "company_name": rng.choice(COMPANIES), "address": address()})]

    phone = f"+467{rng.randrange(10**8):08d}"
    surname = rng.choice(SURNAMES)
    life = [at(0, "CustomerRegistered", "CRM", customer_kind="PERSON", registration={
        "identity_number": personnummer(rng), "name": {"given_names": rng.choice(GIVEN_NAMES), "surname": surname},
        "address": address(), "contact": {"phone": phone, "email": f"{customer_id.lower()}@example.se"}})]
    if rng.random() < 0.5:
        life.append(at(3, "ConsentGiven", "WEBSHOP", purpose="MARKETING", channel="EMAIL", company=OUR_COMPANY))
    if rng.random() < 0.25:
        life.append(at(5, "NixRegistered", "NIX", phone=phone, register_version_date=day(4)))
        if rng.random() < 0.5:
            life.append(at(40, "ConsentGiven", "CUSTOMER_SERVICE", purpose="TELEMARKETING", channel="PHONE",
                           company=OUR_COMPANY, overrides_nix=True))
    if rng.random() < 0.3:
        moved = rng.randrange(30, 500)
        life.append(at(moved, "AddressChanged", "SPAR", effective_date=day(moved), address=address()))
    if rng.random() < 0.1:
        married = rng.randrange(30, 500)
        life.append(at(married, "NameChanged", "SPAR", reason="MARRIAGE", effective_date=day(married),
                       name={"given_names": life[0]["registration"]["name"]["given_names"], "surname": rng.choice(SURNAMES)}))
        life.append(at(married, "CivilStatusChanged", "SPAR", civil_status="MARRIED", effective_date=day(married)))
    if rng.random() < 0.05:
        life.append(at(rng.randrange(10, 500), "MarketingOptOut", "CUSTOMER_SERVICE", channel="ANY"))
    if rng.random() < 0.02:
        life.append(at(rng.randrange(10, 500), "ProtectedIdentitySet", "SPAR", protection="SKYDDAD_FOLKBOKFORING"))
    # A life may end in emigration or death, after everything else in it.
    last = max((datetime.fromisoformat(e["occurred_at"]) - start).days for e in life)
    if rng.random() < 0.03:
        left = last + rng.randrange(5, 100)
        life.append(at(left, "CustomerEmigrated", "SPAR", effective_date=day(left), destination_country="NO"))
    elif rng.random() < 0.05:
        died = last + rng.randrange(5, 100)
        life.append(at(died + 2, "CustomerDeceased", "SPAR", date_of_death=day(died)))
    return life


IMPORT_HEADER = ("Kundnummer", "Personnummer", "Förnamn", "Efternamn", "Företag", "Gatuadress", "Postnummer", "Ort", "Telefon", "E-post")
"""The columns of a demo register to import (`registervard import` finds them by these headers)."""

_DAYS = 365 * 75
"""Birth days a demo personnummer can have; with 999 serial numbers each, 27 million distinct numbers."""

MAX_IMPORT_ROWS = 8_000_000
"""The most rows `import_rows` keeps distinct: its organisationsnummer (80 "months" of 100,000) run out first."""


def import_rows(*, customers: int, seed: int = 7) -> Iterator[list[str]]:
    """A demo register as `registervard import` reads it, one row (cells in `IMPORT_HEADER` order) at a time.

    Every customer id and identity number is distinct (derived from the row's number, not drawn at random:
    random numbers would repeat in a large file, and the import rejects a repeated person), so a million rows
    import as a million customers. One row in ten is a company.
    """
    if customers > MAX_IMPORT_ROWS:
        raise ValueError(f"at most {MAX_IMPORT_ROWS} customers")
    rng = random.Random(seed)
    first = date(1930, 1, 1)
    for number in range(1, customers + 1):
        postal_code, city = rng.choice(CITIES)
        street = f"{rng.choice(STREETS)} {rng.randrange(1, 90)}"
        customer_id = f"C-{number:07d}"
        if number % 10 == 0:  # a company: 55, a "month" of 20-99 and five digits, all from its number
            nine = f"55{20 + number // 100_000 % 80}{number % 100_000:05d}"
            orgnr = f"{nine}{luhn_check_digit(nine)}"
            yield [customer_id, f"{orgnr[:6]}-{orgnr[6:]}", "", "", rng.choice(COMPANIES), street, postal_code, city, "", ""]
            continue
        born = first + timedelta(days=number % _DAYS)
        nine = f"{born:%y%m%d}{number // _DAYS + 1:03d}"  # serial number 000 is never assigned
        ten = f"{nine}{luhn_check_digit(nine)}"
        phone = f"07{rng.randrange(10**8):08d}"
        yield [customer_id, f"{ten[:6]}-{ten[6:]}", rng.choice(GIVEN_NAMES), rng.choice(SURNAMES), "", street, postal_code, city,
               f"{phone[:3]}-{phone[3:6]} {phone[6:8]} {phone[8:]}", f"{customer_id.lower()}@example.se"]


def write_import_csv(path: Path, *, customers: int, seed: int = 7) -> int:
    """Write a demo register of `customers` rows as a `;`-separated CSV file for `registervard import`, row by row
    (memory does not grow with the file); return the number of rows written."""
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(IMPORT_HEADER)
        for row in import_rows(customers=customers, seed=seed):
            writer.writerow(row)
            written += 1
    return written
