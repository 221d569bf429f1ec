"""`POST /customers/find` in-process (ASGI) on a SQLite register: who may search, what they get, what is recorded."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from events.settings import Settings
from projections.access import DisclosureRow
from registervard.api.api_keys import create_key
from registervard.api.http_app import create_app
from registervard.api.roles import roles_for
from tests.unit.test_search import ANNA_NUMBER, BERTIL_NUMBER, KEY, build_register


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path / 'register.db'}"
    build_register(url).dispose()
    return create_app(Settings(database_url=url, kafka="127.0.0.1:1", lookup_key=KEY))


@pytest.fixture
def keys(app):
    engine = app.state.database.engine()
    return {role: create_key(engine, f"{role} system", role)[1] for role in ("customer_service", "admin", "reader", "marketing", "auditor")}


async def find(app, key: str, **body) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.post("/customers/find", json=body, headers={"Authorization": f"Bearer {key}"})


def test_customer_service_and_admin_may_search_and_no_other_role():
    assert roles_for("find") == ["customer_service", "admin"]


async def test_a_search_answers_the_customers_found_and_records_each_as_disclosed(app, keys):
    found = await find(app, keys["customer_service"], query="anna svens")
    assert found.status_code == 200
    assert found.json() == {
        "customers": [
            {"customer_id": c, "kind": "PERSON", "status": "ACTIVE", "protected": False, "badge": "active", "name": "Anna Svensson", "city": city}
            | {"matched_on": ["name"]}
            for c, city in (("C-anna", "Stockholm"), ("C-twin", "Malmö"))
        ],
        "more": False,
    }
    by_number = await find(app, keys["admin"], query=f"{ANNA_NUMBER[2:8]}-{ANNA_NUMBER[8:]}", by="IDENTITY_NUMBER", limit=1)
    assert by_number.status_code == 200, by_number.text
    assert [c["customer_id"] for c in by_number.json()["customers"]] == ["C-anna"] and by_number.json()["more"] is True
    with Session(app.state.database.engine()) as session:
        recorded = [(d.customer_id, d.recipient, d.channel, d.purpose) for d in session.scalars(select(DisclosureRow).order_by(DisclosureRow.id))]
    assert recorded == [
        ("C-anna", "customer_service system", "api", "find"),
        ("C-twin", "customer_service system", "api", "find"),
        ("C-anna", "admin system", "api", "find"),
    ]


async def test_a_protected_identity_is_found_by_number_without_name_or_city_and_never_by_name(app, keys):
    assert (await find(app, keys["customer_service"], query="bertil östberg")).json() == {"customers": [], "more": False}
    [bertil] = (await find(app, keys["customer_service"], query=BERTIL_NUMBER)).json()["customers"]
    assert (bertil["customer_id"], bertil["badge"], bertil["name"], bertil["city"]) == ("C-bertil", "protected", None, None)


async def test_other_roles_get_403_and_nothing_is_recorded(app, keys):
    for role in ("reader", "marketing", "auditor"):
        refused = await find(app, keys[role], query="anna")
        assert refused.status_code == 403 and refused.json()["error"] == "FORBIDDEN_FOR_ROLE", role
    with Session(app.state.database.engine()) as session:
        assert session.scalars(select(DisclosureRow)).all() == []


async def test_a_query_that_cannot_be_read_is_422_naming_the_field_never_repeating_it(app, keys):
    wrong = ANNA_NUMBER[:11] + str((int(ANNA_NUMBER[11]) + 1) % 10)
    refused = await find(app, keys["customer_service"], query=wrong, by="identity_number")
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "INVALID_QUERY" and body["message"].startswith("body.query: is not a valid identity number") and "check digit" in body["message"]
    assert wrong[2:] not in refused.text and wrong[6:] not in refused.text
    for bad in ({"query": "anna\u0000"}, {"query": ""}, {"query": "anna", "by": "shoe size"}, {"query": "anna", "limit": 0}):
        answer = await find(app, keys["customer_service"], **bad)
        assert answer.status_code == 422, bad
        assert "anna" not in answer.json()["message"]
