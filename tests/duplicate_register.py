"""A register with duplicates planted, and near misses that are not duplicates, for the duplicate search's tests.

`CUSTOMERS` are register rows (`projections.duplicates.Customer`); `DUPLICATES` the pairs that are one customer,
`NEAR_MISSES` pairs that share something but are two, `KNOWN_LIMIT` the near miss the search cannot tell apart
(see projections/duplicates.py): a father and son of one name at one address, neither with an identity number.
Every name, number and address here is made up.
"""

from __future__ import annotations

from sqlalchemy import insert

from events.identity import luhn_check_digit
from projections.database import connect
from projections.duplicates import Customer
from projections.tables import CustomerRow


def number(born: str, serial: str, *, coordination: bool = False) -> str:
    """A valid 12-digit personnummer born YYYYMMDD (a samordningsnummer: day + 60) with a three-digit serial."""
    if coordination:
        born = born[:6] + f"{int(born[6:]) + 60:02d}"
    return born + serial + str(luhn_check_digit(born[2:] + serial))


def org(nine: str) -> str:
    """An organisationsnummer's 12-digit form."""
    return "16" + nine + str(luhn_check_digit(nine))


def p(customer_id: str, given: str | None, surname: str | None, street: str | None, postal: str | None, city: str | None, **fields) -> Customer:
    """A person's register row."""
    return Customer(customer_id, given_names=given, surname=surname, street=street, postal_code=postal, city=city, **fields)


SARA = number("19880412", "226")
NORDKUST = org("556677889")
BERTIL = number("19700101", "234")
GUSTAV = number("19400606", "118")
ALI = number("19850312", "451")

CUSTOMERS = [
    # --- Duplicates ---------------------------------------------------------------------------------------
    # The same personnummer under two ids; married and moved in between.
    p("D01a", "Sara", "Lind", "Tallvägen 8", "75310", "Uppsala", identity_number=SARA),
    p("D01b", "Sara", "Berg", "Kyrkogatan 3", "58223", "Linköping", identity_number=SARA, phone="+46705550101"),
    # The same organisationsnummer twice.
    Customer("D02a", kind="COMPANY", identity_number=NORDKUST, company_name="Nordkust AB", street="Hamngatan 1", postal_code="41103", city="Göteborg"),
    Customer("D02b", kind="COMPANY", identity_number=NORDKUST, company_name="Nordkust Aktiebolag", street="Box 44", postal_code="41104", city="Göteborg"),
    # The example: an initial, and a house letter on one side only.
    p("D03a", "Emma", "Andersson", "Storgatan 73", "11122", "Stockholm", identity_number=number("19900101", "128")),
    p("D03b", "E.", "Andersson", "Storgatan 73 A", "111 22", "Stockholm"),
    # Accents, a street abbreviation and a postal code written with a space.
    p("D04a", "Östen", "Åberg", "Drottninggatan 5", "41103", "Göteborg"),
    p("D04b", "Osten", "Aberg", "Drottningg. 5", "411 03", "GÖTEBORG"),
    # A hyphen, and a flat number after the house number.
    p("D05a", "Karl-Johan", "Nilsson", "Ringvägen 12, lgh 1101", "90325", "Umeå"),
    p("D05b", "Karl Johan", "Nilsson", "Ringvägen 12", "90325", "Umeå", identity_number=number("19770707", "215")),
    # The same phone, both names spelt otherwise, moved.
    p("D06a", "Mikael", "Pettersson", "Skolvägen 4", "21120", "Malmö", phone="+46701234567"),
    p("D06b", "Michael", "Petersson", "Parkgatan 19", "21432", "Malmö", phone="+46701234567", identity_number=number("19820202", "336")),
    # The same e-mail in another case, a second given name, another city.
    p("D07a", "Lena", "Holm", "Sjövägen 2", "18130", "Lidingö", email="Lena.Holm@Example.se"),
    p("D07b", "Lena Maria", "Holm", "Åkervägen 9", "75645", "Uppsala", email="lena.holm@example.se"),
    # A samordningsnummer, then a personnummer of the same birth date; the surname spelt otherwise, moved.
    p("D08a", "Ali", "Hassan", "Björkgatan 7", "70210", "Örebro", identity_number=ALI),
    p("D08b", "Ali", "Hasan", "Linnégatan 40", "41304", "Göteborg", identity_number=number("19850312", "773", coordination=True)),
    # A company without its number, the legal form written out.
    Customer("D09a", kind="COMPANY", company_name="Fjällbyggen AB", street="Industrivägen 3", postal_code="83145", city="Östersund"),
    Customer("D09b", kind="COMPANY", company_name="FJÄLLBYGGEN AKTIEBOLAG", street="Industriv. 3", postal_code="831 45", city="Östersund"),
    # A protected identity registered again (listed by ids alone).
    Customer("D10a", protected=True, identity_number=BERTIL, phone="+46703333333"),
    p("D10b", "Bertil", "Östberg", "Lönngatan 5", "22100", "Lund", identity_number=BERTIL),
    # A deceased customer registered twice: still a duplicate to clear up.
    p("D11a", "Gustav", "Ek", "Ekvägen 1", "37131", "Karlskrona", identity_number=GUSTAV, status="DECEASED"),
    p("D11b", "Gustav", "Ek", "Ekvägen 1", "37131", "Karlskrona", identity_number=GUSTAV, status="DECEASED"),
    # A surname with C or K, a street abbreviation.
    p("D12a", "Jonas", "Carlsson", "Skolvägen 3", "52230", "Tidaholm"),
    p("D12b", "Jonas", "Karlsson", "Skolv. 3", "52230", "Tidaholm", phone="+46709998877"),
    # --- Near misses: not duplicates ---------------------------------------------------------------------
    # Father and son of one name at one address, both with a personnummer (different birth dates).
    p("N01a", "Lars", "Berg", "Parkgatan 4", "21120", "Malmö", identity_number=number("19500303", "151"), phone="+46406660000"),
    p("N01b", "Lars", "Berg", "Parkgatan 4", "21120", "Malmö", identity_number=number("19800808", "159"), phone="+46406660000"),
    # Twins at one address, alike names, different personnummer of one birth date.
    p("N02a", "Emma", "Lundgren", "Åsgatan 11", "80320", "Gävle", identity_number=number("20050505", "224")),
    p("N02b", "Emmy", "Lundgren", "Åsgatan 11", "80320", "Gävle", identity_number=number("20050505", "240")),
    # Namesakes in other cities, nothing else in common.
    p("N03a", "Anna", "Svensson", "Storgatan 1", "11122", "Stockholm"),
    p("N03b", "Anna", "Svensson", "Storgatan 1", "21120", "Malmö"),
    # A family sharing an e-mail, an address and a phone.
    p("N04a", "Per", "Lind", "Vasagatan 20", "72215", "Västerås", email="familjen.lind@example.se", phone="+4621123456"),
    p("N04b", "Karin", "Lind", "Vasagatan 20", "72215", "Västerås", email="Familjen.Lind@example.se", phone="+4621123456"),
    # Namesakes born the same day, each with a personnummer (and one with an old phone number of the other's).
    p("N05a", "Johan", "Nilsson", "Torget 2", "95131", "Luleå", identity_number=number("19791111", "317"), phone="+46705551234"),
    p("N05b", "Johan", "Nilsson", "Kungsgatan 9", "21120", "Malmö", identity_number=number("19791111", "335"), phone="+46705551234"),
    # Neighbours: one surname, one given name's initial, different houses.
    p("N06a", "Erik", "Ström", "Björkgatan 14", "70210", "Örebro"),
    p("N06b", "E.", "Ström", "Björkgatan 16", "70210", "Örebro"),
    # Brothers sharing a phone, one without a personnummer: alike given names, not alike enough.
    p("N07a", "Johan", "Eklund", "Smedgatan 8", "63220", "Eskilstuna", phone="+4616101010"),
    p("N07b", "Jonas", "Eklund", "Smedgatan 8", "63220", "Eskilstuna", phone="+4616101010", identity_number=number("19930909", "151")),
    # An erased customer leaves nothing to compare (the register keeps no data of theirs but status).
    Customer("N08a", status="ERASED"),
    p("N08b", None, None, None, None, None, status="ERASED"),
    # A person and a company of one name at one address.
    p("N09a", "Hanna", "Berglund", "Strandvägen 6", "11456", "Stockholm"),
    Customer("N09b", kind="COMPANY", company_name="Hanna Berglund AB", street="Strandvägen 6", postal_code="11456", city="Stockholm"),
    # The known limit: a father and son of one name at one address, neither with an identity number.
    p("L01a", "Nils", "Sjöberg", "Granvägen 2", "43137", "Mölndal"),
    p("L01b", "Nils", "Sjöberg", "Granvägen 2", "43137", "Mölndal"),
]

DUPLICATES = {(f"D{n:02d}a", f"D{n:02d}b") for n in range(1, 13)}
NEAR_MISSES = {(f"N{n:02d}a", f"N{n:02d}b") for n in range(1, 10)}
KNOWN_LIMIT = {("L01a", "L01b")}


def write_register(url: str) -> None:
    """The register at `url` (migrated to head) with CUSTOMERS as its `customers` rows."""
    engine = connect(url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(CustomerRow), [dict(c._asdict(), kind=c.kind, status=c.status) for c in CUSTOMERS])
    finally:
        engine.dispose()
