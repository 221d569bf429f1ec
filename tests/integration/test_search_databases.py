"""Finding customers on SQLite and PostgreSQL alike: the databases fold names as the search text is folded."""

from __future__ import annotations

import pytest
from sqlalchemy import literal, select

from projections.search import SearchBy, _folded, _prepare, find_customers, fold, read_query
from tests.unit.test_search import BERTIL_NUMBER, KEY, build_register

NAMES = ["Östberg-Ek", "ÅNGSTRÖM", "Zoë Renée", "O\u0308stberg", "Æbelø Łukasz Šimon", "Ñúñez", "Ÿvonne ÇELİK", "Smith"]


@pytest.fixture
def engine(database_url):
    engine = build_register(database_url)
    yield engine
    engine.dispose()


def test_the_database_folds_a_name_exactly_as_the_search_text_is_folded(engine):
    with engine.connect() as connection:
        _prepare(connection)
        folded = [connection.execute(select(_folded(literal(name), connection.dialect.name))).scalar_one() for name in NAMES]
    assert folded == [fold(name) for name in NAMES]
    assert folded[:4] == ["ostberg ek", "angstrom", "zoe renee", "ostberg"]


def test_names_phones_and_identity_numbers_find_the_same_customers_on_either_database(engine):
    def ids(text: str, by: SearchBy = SearchBy.AUTO) -> list[str]:
        return [f.customer_id for f in find_customers(engine, read_query(text, by, lookup_key=KEY)).customers]

    assert ids("anna svens") == ["C-anna", "C-twin"]
    assert ids("angstrom") == ["C-cecilia"] and ids("ZOË") == ["C-zoe"] and ids("åkeriet") == ["C-company"]
    assert ids("bertil") == [] and ids("ostberg") == [], "a protected identity is not found by name"
    assert ids(BERTIL_NUMBER) == ["C-bertil"]
    assert ids("070-123 45 67") == ["C-anna"] and ids("zoe.renee@EXAMPLE.se") == ["C-zoe"]
    assert ids("_nna", SearchBy.NAME) == []
