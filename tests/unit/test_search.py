"""Finding customers (projections/search.py): what a search text is read as, and what it finds in a register on SQLite.

tests/integration/test_search_databases.py runs the register searches on PostgreSQL too.
"""

from __future__ import annotations

import re

import pytest

from events import codec
from events.event_log import LogRecord
from events.identity import luhn_check_digit
from events.jsonlines import parse_event
from events.sealing import MemoryKeyStore
from projections.database import connect
from projections.lookup import lookup_hash
from projections.register import RegisterProjection
from projections.runner import apply_batch
from projections.search import Matched, Query, SearchBy, SearchQueryError, customer_summary, find_customers, fold, read_query
from tests.builders import line, person

KEY = "lookup-key-of-this-test"


def number(born: str, serial: str) -> str:
    """A valid 12-digit personnummer born YYYYMMDD with a three-digit serial."""
    nine = born[2:] + serial
    return born + serial + str(luhn_check_digit(nine))


ANNA_NUMBER = number("19811218", "987")
CENTENARIAN_NUMBER = number("19200315", "123")
BERTIL_NUMBER = number("19700101", "234")
COMPANY_TEN = "556016" + "012" + str(luhn_check_digit("556016012"))  # an aktiebolag's organisationsnummer


def registered(customer: str, identity_number: str, given: str | None, surname: str | None, city: str, phone: str, email: str, **fields):
    document = person(customer, identity_number=identity_number, **fields)
    registration = document["registration"]
    registration["name"] = {"given_names": given, "surname": surname}
    registration["address"]["city"] = city
    registration["contact"] = {"phone": phone, "email": email}
    return document


REGISTER = [
    registered("C-anna", ANNA_NUMBER, "Anna", "Svensson", "Stockholm", "+46701234567", "anna@example.se"),
    registered("C-twin", ANNA_NUMBER, "Anna", "Svensson", "Malmö", "+46701111111", "twin@example.se"),  # the same number: a finding
    registered("C-dora", number("19500505", "345"), "Dora", "Svensson", "Lund", "+46702222222", "dora@example.se"),
    line("CustomerDeceased", "C-dora", date_of_death="2025-01-05"),
    registered("C-bertil", BERTIL_NUMBER, "Bertil", "Östberg-Ek", "Lund", "+46703333333", "bertil@example.se"),
    line("ProtectedIdentitySet", "C-bertil", protection="SKYDDAD_FOLKBOKFORING"),
    registered("C-cecilia", number("19850707", "456"), "Cecilia", "Ångström", "Umeå", "+46704444444", "cecilia@example.se"),
    line(
        "NameChanged",
        "C-cecilia",
        occurred_at="2025-03-01T09:00:00Z",
        reason="MARRIAGE",
        effective_date="2025-03-01",
        name={"given_names": "Cecilia", "surname": "Berg"},
    ),
    registered("C-zoe", number("19900909", "567"), "Zoë", "Renée", "Göteborg", "+46705555555", "Zoe.Renee@Example.se"),
    registered("C-old", CENTENARIAN_NUMBER, "Gösta", "Gammal", "Visby", "+46706666666", "gosta@example.se"),
    line(
        "CustomerRegistered",
        "C-company",
        customer_kind="COMPANY",
        registration={
            "identity_number": "16" + COMPANY_TEN,
            "company_name": "Åkeriet Nord AB",
            "address": {"street": "Hamnen 1", "postal_code": "90325", "city": "Umeå"},
        },
    ),
]


def build_register(url: str):
    """A register folded from REGISTER by the register projection itself (no broker), on the database at `url`."""
    engine = connect(url)
    records = [LogRecord("registervard.events", 0, n, codec.encode(parse_event(document))) for n, document in enumerate(REGISTER)]
    apply_batch(engine, RegisterProjection(KEY), records, MemoryKeyStore())
    return engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = build_register(f"sqlite:///{tmp_path_factory.mktemp('search') / 'register.db'}")
    yield engine
    engine.dispose()


def find(engine, text: str, by: SearchBy = SearchBy.AUTO, limit: int = 50) -> dict[str, tuple[str, ...]]:
    """customer id -> what it was found by."""
    result = find_customers(engine, read_query(text, by, lookup_key=KEY), limit=limit)
    return {found.customer_id: tuple(m.value for m in found.matched_on) for found in result.customers}


# --- Reading the search text ------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        ANNA_NUMBER,
        f"{ANNA_NUMBER[2:8]}-{ANNA_NUMBER[8:]}",
        ANNA_NUMBER[2:],
        f"{ANNA_NUMBER[:8]}-{ANNA_NUMBER[8:]}",
        f" {ANNA_NUMBER[2:8]} - {ANNA_NUMBER[8:]} ",
    ],
)
def test_every_written_form_of_a_personnummer_is_read_as_the_same_keyed_hash(written):
    assert read_query(written, lookup_key=KEY).identity_hash == lookup_hash(ANNA_NUMBER, KEY)


def test_a_centenarians_plus_form_and_an_organisationsnummer_are_read_as_identity_numbers():
    plus = f"{CENTENARIAN_NUMBER[2:8]}+{CENTENARIAN_NUMBER[8:]}"
    assert read_query(plus, lookup_key=KEY).identity_hash == lookup_hash(CENTENARIAN_NUMBER, KEY)
    for written in (f"{COMPANY_TEN[:6]}-{COMPANY_TEN[6:]}", COMPANY_TEN, "16" + COMPANY_TEN):
        assert read_query(written, lookup_key=KEY).identity_hash == lookup_hash("16" + COMPANY_TEN, KEY), written


def test_phone_numbers_in_any_written_form_and_e_mail_addresses_are_read_as_such():
    for written in ("070-123 45 67", "+46 70 123 45 67", "0046701234567", "(070) 123 45 67"):
        assert read_query(written).phone == "+46701234567", written
    assert read_query("Anna@Example.SE") == Query(email="anna@example.se")


def test_digits_that_are_both_a_personnummer_and_a_phone_number_are_searched_as_both():
    digits = "070123456" + str(luhn_check_digit("070123456"))  # born 2007-01-23 (or 1907), and a mobile number
    both = read_query(digits)
    assert both.identity_hash is not None and both.phone == "+46" + digits[1:]
    assert both.read_as == (Matched.IDENTITY_NUMBER, Matched.PHONE), "an identity number is never a customer id"


def test_a_name_is_read_as_folded_words_and_an_id_as_an_id():
    assert read_query("Svensson, Anna").name_words == ("svensson", "anna")
    assert read_query("Östberg-Ek").name_words == ("ostberg", "ek")
    assert read_query("C-00001") == Query(customer_id="C-00001")
    assert read_query("anna svens").customer_id is None


def test_fold_lowers_and_strips_accents_the_same_for_composed_and_decomposed_letters():
    assert fold("Östberg-Ek ÅNGSTRÖM Zoë Renée Æbelø") == "ostberg ek angstrom zoe renee æbelø"
    assert fold("O\u0308stberg") == "ostberg"


@pytest.mark.parametrize(
    ("text", "by", "reason"),
    [
        (f"{ANNA_NUMBER[2:8]}-{ANNA_NUMBER[8:11]}{(int(ANNA_NUMBER[11]) + 1) % 10}", SearchBy.IDENTITY_NUMBER, "check digit"),
        (f"{ANNA_NUMBER[2:8]} {ANNA_NUMBER[8:11]}{(int(ANNA_NUMBER[11]) + 1) % 10} x", SearchBy.AUTO, "two letters"),
        (f"{ANNA_NUMBER[2:8]} {ANNA_NUMBER[8:11]}{(int(ANNA_NUMBER[11]) + 1) % 10}", SearchBy.AUTO, "neither an identity number nor a phone number"),
        ("070-12", SearchBy.PHONE, "not a phone number"),
        ("anna.example.se", SearchBy.EMAIL, "not an e-mail address"),
        ("%", SearchBy.AUTO, "two letters"),
        ("anna\x00", SearchBy.AUTO, "control characters"),
        ("   ", SearchBy.AUTO, "empty"),
    ],
)
def test_a_text_that_cannot_be_read_is_refused_with_the_reason_never_repeating_it(text, by, reason):
    with pytest.raises(SearchQueryError) as refused:
        read_query(text, by, lookup_key=KEY)
    message = str(refused.value)
    assert reason in message
    assert not re.search(r"\d{2}", message), "no part of a number is repeated"
    assert "anna" not in message.lower()


def test_a_twelve_digit_number_with_a_wrong_check_digit_is_looked_up_as_an_id_and_says_why_it_is_no_identity_number():
    wrong = ANNA_NUMBER[:11] + str((int(ANNA_NUMBER[11]) + 1) % 10)
    query = read_query(wrong, lookup_key=KEY)
    assert query.identity_hash is None and query.customer_id == wrong
    assert any("check digit" in note for note in query.notes)


# --- Finding customers in the register ----------------------------------------------------


def test_a_personnummer_in_its_ten_digit_form_finds_every_customer_registered_with_it(engine):
    assert find(engine, f"{ANNA_NUMBER[2:8]}-{ANNA_NUMBER[8:]}") == {"C-anna": ("identity_number",), "C-twin": ("identity_number",)}


def test_a_centenarian_is_found_by_the_plus_form_and_a_company_by_its_organisationsnummer(engine):
    assert find(engine, f"{CENTENARIAN_NUMBER[2:8]}+{CENTENARIAN_NUMBER[8:]}") == {"C-old": ("identity_number",)}
    assert find(engine, f"{COMPANY_TEN[:6]}-{COMPANY_TEN[6:]}") == {"C-company": ("identity_number",)}


def test_a_partial_name_in_any_case_finds_those_whose_name_has_words_beginning_so(engine):
    assert find(engine, "anna svens") == {"C-anna": ("name",), "C-twin": ("name",)}
    assert find(engine, "SVENS") == {"C-anna": ("name",), "C-twin": ("name",), "C-dora": ("name",)}
    assert find(engine, "svensson, dora") == {"C-dora": ("name",)}
    assert find(engine, "nna") == {}, "a word of the search begins a word of the name"


def test_accents_do_not_matter_either_way(engine):
    assert find(engine, "zoe renee") == {"C-zoe": ("name",)}
    assert find(engine, "ZOË") == {"C-zoe": ("name",)}
    assert find(engine, "akeriet") == {"C-company": ("name",)}
    assert find(engine, "gosta") == {"C-old": ("name",)}


def test_a_former_name_finds_the_customer_and_says_so(engine):
    assert find(engine, "cecilia angstrom") == {"C-cecilia": ("former_name",)}
    assert find(engine, "cecilia berg") == {"C-cecilia": ("name",)}


def test_a_protected_identity_is_not_found_by_name_and_shows_neither_name_nor_city(engine):
    assert find(engine, "bertil") == {}
    assert find(engine, "östberg") == {}
    result = find_customers(engine, read_query(BERTIL_NUMBER, lookup_key=KEY))
    [bertil] = result.customers
    assert (bertil.customer_id, bertil.protected, bertil.name, bertil.city, bertil.badge) == ("C-bertil", True, None, None, "protected")
    assert bertil.as_dict()["name"] is None and bertil.as_dict()["city"] is None
    assert find(engine, "+46703333333") == {"C-bertil": ("phone",)}


def test_phone_and_e_mail_find_the_customer_in_any_written_form(engine):
    assert find(engine, "070-123 45 67") == {"C-anna": ("phone",)}
    assert find(engine, "ZOE.RENEE@example.SE") == {"C-zoe": ("email",)}
    assert find(engine, "+46709999999") == {}


def test_a_result_shows_kind_status_badge_name_and_city(engine):
    [dora] = find_customers(engine, read_query("dora svensson")).customers
    assert dora.as_dict() == {
        "customer_id": "C-dora",
        "kind": "PERSON",
        "status": "DECEASED",
        "protected": False,
        "badge": "deceased",
        "name": "Dora Svensson",
        "city": "Lund",
        "matched_on": ["name"],
    }
    company = customer_summary(engine, "C-company")
    assert company is not None and (company.kind, company.name, company.city, company.badge) == ("COMPANY", "Åkeriet Nord AB", "Umeå", "active")
    assert customer_summary(engine, "C-nobody") is None


def test_the_limit_cuts_the_list_and_says_there_are_more(engine):
    result = find_customers(engine, read_query("svensson"), limit=2)
    assert [f.customer_id for f in result.customers] == ["C-anna", "C-dora"] and result.more is True
    assert find_customers(engine, read_query("svensson"), limit=3).more is False


def test_like_wildcards_in_the_search_are_letters_not_wildcards(engine):
    assert find(engine, "_nna") == {}
    assert find(engine, "an%") == {}
