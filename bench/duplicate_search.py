"""Duplicate search time (`registervard duplicates find`) at 100k and 1M customers, next to a full scan of the same table.

    .venv/bin/python bench/duplicate_search.py [--customers 100000 1000000] [--repeat 1] [--json-out FILE]

For each size, a SQLite register is written row by row straight into its `customers` table (migrated by
`projections.database.connect`; no events, no broker): Swedish names, addresses over some thousand postal codes
with households (a family at one address, some sharing a phone or an e-mail), most with a personnummer, a few with
a samordningsnummer, and 1% planted duplicates of the kinds the search looks for (same identity number under
another id, an initial and a house letter, the same phone or e-mail with a name spelt otherwise, a samordningsnummer
of the same birth date). Timed, best of --repeat, each from a fresh connection:

* baseline: a full scan: read every column the search reads, of every customer, into tuples;
* search: `projections.duplicates.register_duplicates` (read, block, compare, score, sort), all pairs kept.

Prints JSON: how many planted pairs were found at the default minimum score, how many listed pairs are the same
person without being planted (a duplicate of a duplicate), and how many are not the same person (family members the
generator gave alike names, "Anna" and "Hanna", at one address with one phone; nothing in their rows tells them
apart); with --json-out also appends the figures (bench/report.py). No personal data of real people: every name and number is generated.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import report
from sqlalchemy import select

from events.identity import luhn_check_digit
from projections.database import connect
from projections.duplicates import COLUMNS, DEFAULT_MIN_SCORE, register_duplicates
from projections.tables import CustomerRow

GIVEN = (  # noqa: SIM905 (names read as a text, not as quoted items)
    "Anna Eva Maria Karin Sara Kristina Lena Emma Kerstin Ingrid Marie Malin Jenny Linda Elin Hanna Annika Susanne Ida Johanna "
    "Lars Mikael Anders Johan Erik Per Peter Karl Thomas Jan Daniel Fredrik Hans Andreas Stefan Mats Magnus Bengt Oskar Nils "
    "Ulla Birgitta Gunilla Camilla Sofia Maja Alice Ebba Wilma Klara Lucas Liam William Elias Hugo Oliver Adam Axel Leo Viktor"
).split()
SURNAMES = (  # noqa: SIM905 (names read as a text, not as quoted items)
    "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson Pettersson Jonsson Jansson "
    "Hansson Bengtsson Jönsson Lindberg Jakobsson Magnusson Olofsson Lindström Lindqvist Lindgren Berg Axelsson Bergström "
    "Lundberg Lind Lundgren Lundqvist Mattsson Berglund Fredriksson Sandberg Henriksson Forsberg Sjöberg Wallin Engström "
    "Eklund Danielsson Lundin Håkansson Björk Bergman Gunnarsson Holm Wikström Samuelsson Isaksson Fransson Bergqvist "
    "Nyström Holmberg Arvidsson Löfgren Söderberg Nyberg Blomqvist Claesson Nordström Mårtensson Lundström Ali Viklund"
).split()
STREET_STEMS = (  # noqa: SIM905 (names read as a text, not as quoted items)
    "Stor Kungs Drottning Skol Björk Ring Park Sjö Kyrko Järnvägs Tall Gran Ek Ask Lönn Hamn Strand Berg Dal Äng Åker Mölle "
    "Fabriks Torg Väster Öster Söder Norr Smed Linné Vasa Tegnér Bergs Lilla Trädgårds Slotts Skogs Backe Rosen Syren"
).split()
STREET_KINDS = ("gatan", "vägen", "gränd", "stigen")
CITIES = ("Stockholm", "Göteborg", "Malmö", "Uppsala", "Västerås", "Örebro", "Linköping", "Helsingborg", "Jönköping", "Norrköping", "Lund", "Umeå")
POSTAL_CODES = 4000
PLANTED = 0.01


USED: set[str] = set()
"""Numbers handed out: a number drawn twice would be an unplanted duplicate (a million draws of 27 million numbers
repeat some thousands of times)."""


def personnummer(rng: random.Random, *, coordination: bool = False, born: date | None = None) -> str:
    """A valid 12-digit personnummer (or samordningsnummer: day + 60) not handed out before."""
    while True:
        day_of_birth = born or date(1930, 1, 1) + timedelta(days=rng.randrange(365 * 75))
        day = day_of_birth.day + (60 if coordination else 0)
        nine = f"{day_of_birth:%y%m}{day:02d}{rng.randrange(1, 1000):03d}"
        number = f"{day_of_birth:%Y}{nine[2:]}{luhn_check_digit(nine)}"
        if number not in USED:
            USED.add(number)
            return number


def street(rng: random.Random) -> str:
    return rng.choice(STREET_STEMS) + rng.choice(STREET_KINDS)


def person(rng: random.Random, index: int, places: list[tuple[str, str, str]]) -> dict[str, object]:
    """One customer: a name, an address of `places`, a personnummer (most), a phone and an e-mail (some)."""
    given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
    name_street, postal, city = rng.choice(places)
    roll = rng.random()
    number = personnummer(rng, coordination=roll < 0.01) if roll < 0.85 else None
    letter = rng.choice(" AB") if rng.random() < 0.1 else ""
    return {
        "customer_id": f"C-{index:07d}",
        "identity_number": number,
        "given_names": given + (" " + rng.choice(GIVEN) if rng.random() < 0.3 else ""),
        "surname": surname,
        "street": f"{name_street} {rng.randint(1, 120)}{' ' + letter.strip() if letter.strip() else ''}",
        "postal_code": postal,
        "city": city,
        "phone": f"+467{rng.randrange(10**8):08d}" if rng.random() < 0.7 else None,
        "email": f"{given}.{surname}{index}@example.se".lower() if rng.random() < 0.5 else None,
    }


def household_member(rng: random.Random, index: int, of: dict[str, object]) -> dict[str, object]:
    """Another person at `of`'s address with `of`'s surname: a family; some share its phone or e-mail."""
    other = dict(of, customer_id=f"C-{index:07d}", given_names=rng.choice([g for g in GIVEN if g not in str(of["given_names"])]))
    other["identity_number"] = personnummer(rng) if rng.random() < 0.85 else None
    other["phone"] = of["phone"] if rng.random() < 0.2 else None
    other["email"] = of["email"] if rng.random() < 0.2 else None
    return other


def duplicate(rng: random.Random, index: int, of: dict[str, object]) -> dict[str, object]:
    """The same person again under a new id, written as another system wrote it."""
    again = dict(of, customer_id=f"C-{index:07d}")
    given, surname = str(of["given_names"]), str(of["surname"])
    kind = rng.randrange(4)
    if kind == 0 and of["identity_number"]:  # the same identity number, a moved address
        again.update(street=f"{street(rng)} {rng.randint(1, 60)}", phone=None, email=None)
    elif kind == 1:  # an initial and the house letter: "E. Andersson, Storgatan 73 A"
        again.update(given_names=given[0] + ".", street=f"{of['street']} A" if not str(of["street"])[-1].isalpha() else of["street"], identity_number=None)
        again.update(phone=None, email=None)
    elif kind == 2 and (of["phone"] or of["email"]):  # the same phone or e-mail, the surname mistyped, elsewhere
        again.update(surname=surname[:-2] + surname[-1] if len(surname) > 5 else surname, identity_number=None, street=f"{street(rng)} 1")
    elif of["identity_number"]:  # a samordningsnummer of the same birth date, the given name shortened, elsewhere
        number = str(of["identity_number"])
        born = date(int(number[:4]), int(number[4:6]), int(number[6:8]) % 60 or 1)
        again.update(identity_number=personnummer(rng, coordination=True, born=born), given_names=given.split()[0], street=f"{street(rng)} 2")
        again.update(phone=None, email=None)
    else:
        again.update(identity_number=None, phone=None, email=None)  # exactly the same name and address
    return again


def build(path: Path, customers: int, seed: int) -> set[tuple[str, str]]:
    """Write the register to `path`; returns the planted pairs of customer ids."""
    rng = random.Random(seed)
    USED.clear()
    connect(f"sqlite:///{path}").dispose()  # migrated to head: the real schema
    places = [(street(rng), f"{10000 + rng.randrange(90000):05d}", rng.choice(CITIES)) for _ in range(POSTAL_CODES) for _ in range(3)]
    planted: set[tuple[str, str]] = set()
    rows: list[dict[str, object]] = []
    while len(rows) < customers:
        index = len(rows)
        roll = rng.random()
        if rows and roll < PLANTED:
            of = rows[rng.randrange(len(rows))]
            rows.append(duplicate(rng, index, of))
            planted.add((str(of["customer_id"]), f"C-{index:07d}"))
        elif rows and roll < 0.2:
            rows.append(household_member(rng, index, rows[rng.randrange(len(rows))]))
        else:
            rows.append(person(rng, index, places))
    columns = ("customer_id", "kind", "status", "protected", "identity_number", "given_names", "surname", "street", "postal_code", "city", "country")
    columns += ("phone", "email", "active_consents", "nix_registered", "events_applied")
    fixed = {"kind": "PERSON", "status": "ACTIVE", "protected": 0, "country": "SE", "active_consents": 0, "nix_registered": 0, "events_applied": 1}
    database = sqlite3.connect(path)
    with database:
        database.executemany(
            f"INSERT INTO customers ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            ([{**fixed, **row}.get(c) for c in columns] for row in rows),
        )
    database.close()
    return planted


def best(repeat: int, run):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def _people(planted: set[tuple[str, str]]) -> dict[str, str]:
    """Customer id -> one id per person, over the planted pairs (a duplicate of a duplicate is the same person too)."""
    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for a, b in planted:
        parent[root(a)] = root(b)
    return {c: root(c) for c in parent}


def measure(customers: int, repeat: int, seed: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "register.db"
        started = time.perf_counter()
        planted = build(path, customers, seed)
        built_s = time.perf_counter() - started
        engine = connect(f"sqlite:///{path}")
        try:

            def scan() -> int:
                with engine.connect() as connection:
                    return len([tuple(row) for row in connection.execute(select(*COLUMNS).where(CustomerRow.status != "ERASED"))])

            def search():  # type: ignore[no-untyped-def]
                return register_duplicates(engine, limit=10**9)

            scan_s, scanned = best(repeat, scan)
            search_s, found = best(repeat, search)
        finally:
            engine.dispose()
    listed = {(pair.first.customer_id, pair.second.customer_id) for pair in found.pairs}
    person = _people(planted)
    same_person = {(a, b) for a, b in listed if a in person and person.get(a) == person.get(b)}
    return {
        "customers": customers,
        "scanned": scanned,
        "build_s": round(built_s, 1),
        "baseline_scan_s": round(scan_s, 2),
        "search_s": round(search_s, 2),
        "candidate_pairs": found.compared,
        "pairs_listed": len(found.pairs),
        "planted": len(planted),
        "planted_found": len(planted & listed),
        "listed_same_person_not_planted": len(same_person - planted),
        "listed_not_the_same_person": len(listed - same_person),
        "min_score": DEFAULT_MIN_SCORE,
        "skipped_shared_keys": {block.value: n for block, n in found.skipped.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json-out", default=None, help="append the figures to this JSON lines file (bench/report.py)")
    args = parser.parse_args()
    for customers in args.customers:
        result = measure(customers, args.repeat, args.seed)
        print(json.dumps(result, indent=2))
        search_s, scan_s = float(result["search_s"]), float(result["baseline_scan_s"])  # type: ignore[arg-type]
        size = f"{customers // 1_000_000}M" if customers >= 1_000_000 else f"{customers // 1000}k"
        report.write(
            args.json_out,
            [
                report.Figure(
                    f"duplicate search, {size} customers",
                    "sqlite",
                    search_s,
                    "s",
                    scan_s,
                    "full scan of the customers table",
                    round(report.slower_by_time(search_s, scan_s), 2),
                    "well under 60 s at 1M",
                )
            ],
        )


if __name__ == "__main__":
    main()
