"""`GET /duplicates` in-process on a SQLite register with duplicates planted: for the admin role, recorded as disclosed."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from events.settings import Settings
from projections.access import DisclosureRow
from registervard.api.api_keys import create_key
from registervard.api.http_app import create_app
from registervard.api.roles import roles_for
from tests.duplicate_register import write_register


def test_admin_gets_the_pairs_each_customer_recorded_as_disclosed_and_other_roles_get_403(tmp_path):
    url = f"sqlite:///{tmp_path / 'register.db'}"
    write_register(url)
    app = create_app(Settings(database_url=url, kafka="127.0.0.1:1"))
    engine = app.state.database.engine()
    keys = {role: create_key(engine, f"{role} system", role)[1] for role in ("admin", "customer_service")}
    client = TestClient(app)
    assert roles_for("duplicates_find") == ["admin"]

    refused = client.get("/duplicates", headers={"Authorization": f"Bearer {keys['customer_service']}"})
    assert refused.status_code == 403 and refused.json()["error"] == "FORBIDDEN_FOR_ROLE"
    bad = client.get("/duplicates", params={"min_score": 101}, headers={"Authorization": f"Bearer {keys['admin']}"})
    assert bad.status_code == 422

    answer = client.get("/duplicates", params={"min_score": 100, "limit": 3}, headers={"Authorization": f"Bearer {keys['admin']}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["more"] is True and [p["score"] for p in body["pairs"]] == [100, 100, 100]
    listed = [c["customer_id"] for p in body["pairs"] for c in p["customers"]]
    assert listed == ["D01a", "D01b", "D02a", "D02b", "D10a", "D10b"]
    protected = body["pairs"][2]
    assert protected["protected"] is True and protected["reasons"] == ["same_identity_number"]
    assert [(c["name"], c["address"]) for c in protected["customers"]] == [(None, None), (None, None)]
    with Session(engine) as session:
        recorded = [(d.customer_id, d.recipient, d.channel, d.purpose) for d in session.scalars(select(DisclosureRow).order_by(DisclosureRow.id))]
    assert recorded == [(c, "admin system", "api", "duplicates_find") for c in listed]
