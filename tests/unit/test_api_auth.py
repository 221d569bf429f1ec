"""API keys, the roles table and the refusals, in-process (ASGI) on a SQLite file: no server, no broker."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from events.settings import Settings
from projections.access import ApiKeyRow, DisclosureRow
from projections.runner import beat
from registervard.api.api_keys import KEY_PREFIX, create_key, find_key, key_hash, list_keys, revoke_key
from registervard.api.http_app import create_app
from registervard.api.roles import ENDPOINTS, ROLE_ENDPOINTS, ROLES, may_call, roles_for

PUBLIC = {"/health", "/ready", "/metrics", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}


@pytest.fixture
def app(tmp_path):
    return create_app(Settings(database_url=f"sqlite:///{tmp_path / 'register.db'}", kafka="127.0.0.1:1"))


@pytest.fixture
def engine(app):
    return app.state.database.engine()


async def call(app, method: str, path: str, headers: dict[str, str] | None = None, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.request(method, path, headers=headers or {}, **kwargs)


# --- The roles table -------------------------------------------------------------------


def test_the_roles_table_names_only_known_endpoints_and_admin_has_them_all():
    assert set(ROLES) == {"reader", "marketing", "customer_service", "auditor", "admin"}
    for role, endpoints in ROLE_ENDPOINTS.items():
        assert endpoints <= set(ENDPOINTS), role
    assert ROLE_ENDPOINTS["admin"] == set(ENDPOINTS)
    assert ROLE_ENDPOINTS["marketing"] == {"contactability", "wash"}
    assert ROLE_ENDPOINTS["auditor"] == {"history", "changes", "audit_verify", "health_report"}
    assert roles_for("lookup") == ["customer_service", "admin"]
    assert not may_call("nobody", "customer")
    with pytest.raises(KeyError):
        may_call("admin", "no-such-endpoint")


def api_routes(routes):
    """Every route, also those of included routers (FastAPI keeps those behind a wrapper with `original_router`)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)
        else:
            yield route


def test_every_route_but_the_public_ones_is_guarded_by_an_entry_of_the_roles_table(app):
    guarded: dict[str, str] = {}
    for route in api_routes(app.routes):
        if not isinstance(route, APIRoute):
            continue
        names = [d.call.endpoint for d in route.dependant.dependencies if hasattr(d.call, "endpoint")]
        if route.path in PUBLIC:
            assert not names, route.path
            continue
        assert len(names) == 1, f"{route.path} has no authorize(...) dependency"
        guarded[names[0]] = f"{next(iter(route.methods))} {route.path}"
    assert guarded == {name: route for name, route in ENDPOINTS.items() if " /console/" not in route}


# --- Keys ------------------------------------------------------------------------------


def test_a_key_is_stored_only_as_its_sha256_and_listing_never_shows_it(engine):
    facts, key = create_key(engine, "CRM", "reader")
    assert key.startswith(KEY_PREFIX) and len(key) == len(KEY_PREFIX) + 43
    with Session(engine) as session:
        row = session.get(ApiKeyRow, facts.key_id)
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() == key_hash(key)
        dump = " ".join(str(value) for r in session.execute(text("SELECT * FROM api_keys")) for value in r)
        assert key not in dump and key[len(KEY_PREFIX):] not in dump
        assert find_key(session, key).key_id == facts.key_id
        assert find_key(session, key + "x") is None and find_key(session, "not-a-key") is None
    assert [k.key_id for k in list_keys(engine)] == [facts.key_id]
    assert not any(key in repr(k) for k in list_keys(engine))


def test_revoking_a_key_keeps_the_first_time_and_unknown_ids_and_bad_input_are_refused(engine):
    facts, _key = create_key(engine, "Shop", "marketing")
    first = revoke_key(engine, facts.key_id)
    assert first is not None and not first.active
    assert revoke_key(engine, facts.key_id).revoked_at == first.revoked_at
    assert revoke_key(engine, "nope") is None
    with pytest.raises(ValueError, match="unknown role"):
        create_key(engine, "X", "superuser")
    with pytest.raises(ValueError, match="name"):
        create_key(engine, "  ", "reader")


# --- Refusals --------------------------------------------------------------------------


async def test_no_unknown_or_revoked_key_is_401_a_wrong_role_403_each_logged_without_the_key(app, engine):
    reader, reader_key = create_key(engine, "Reader system", "reader")
    gone, gone_key = create_key(engine, "Old system", "admin")
    revoke_key(engine, gone.key_id)
    with capture_logs() as logs:
        missing = await call(app, "GET", "/customers/C-1")
        unknown = await call(app, "GET", "/customers/C-1", {"Authorization": "Bearer rv_guess"})
        revoked = await call(app, "GET", "/customers/C-1", {"X-API-Key": gone_key})
        forbidden = await call(app, "GET", "/customers/C-1/history", {"Authorization": f"Bearer {reader_key}"})
        allowed = await call(app, "GET", "/customers/C-1", {"X-API-Key": reader_key})
    assert [r.status_code for r in (missing, unknown, revoked, forbidden, allowed)] == [401, 401, 401, 403, 404]
    assert [r.json()["error"] for r in (missing, unknown, revoked, forbidden, allowed)] == [
        "MISSING_API_KEY",
        "UNKNOWN_API_KEY",
        "API_KEY_REVOKED",
        "FORBIDDEN_FOR_ROLE",
        "CUSTOMER_NOT_FOUND",
    ]
    assert set(forbidden.json()) == {"error", "message"}
    refusals = [entry for entry in logs if entry["event"] == "api_request_refused"]
    assert [(r["status"], r["reason"], r["key_id"], r["role"], r["path"]) for r in refusals] == [
        (401, "MISSING_API_KEY", None, None, "/customers/{customer_id}"),
        (401, "UNKNOWN_API_KEY", None, None, "/customers/{customer_id}"),
        (401, "API_KEY_REVOKED", gone.key_id, "admin", "/customers/{customer_id}"),
        (403, "FORBIDDEN_FOR_ROLE", reader.key_id, "reader", "/customers/{customer_id}/history"),
    ]
    assert not any(secret in repr(logs) for secret in (reader_key, gone_key, "rv_guess", "C-1"))
    with Session(engine) as session:
        assert session.scalars(select(DisclosureRow)).all() == [], "nothing was disclosed"


async def test_validation_errors_name_the_field_and_never_echo_the_input(app, engine):
    _facts, key = create_key(engine, "Service desk", "customer_service")
    headers = {"Authorization": f"Bearer {key}"}
    too_long = await call(app, "POST", "/customers/lookup", headers, json={"identity_number": "19811218987612345678901"})
    assert too_long.status_code == 422 and too_long.json()["message"].startswith("body.identity_number:")
    assert "1981121898761" not in too_long.text
    invalid = await call(app, "POST", "/customers/lookup", headers, json={"identity_number": "198113189876"})
    assert invalid.status_code == 422 and invalid.json()["error"] == "INVALID_IDENTITY_NUMBER"
    assert "198113189876" not in invalid.text and "8113189876" not in invalid.text
    not_json = await call(app, "POST", "/customers/lookup", {**headers, "Content-Type": "application/json"}, content=b"{198112189876")
    assert not_json.status_code == 422 and "198112189876" not in not_json.text
    method = await call(app, "DELETE", "/changes", headers)
    assert method.status_code == 405 and method.json()["error"] == "METHOD_NOT_ALLOWED"


async def test_health_needs_nothing_and_ready_reports_kafka_unreachable_without_being_unready(app, engine):
    assert (await call(app, "GET", "/health")).json() == {"status": "ok"}
    beat(engine, "register", lag=0)  # the projection is running
    ready = await call(app, "GET", "/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["at_head"] is True and ready.json()["checks"]["kafka"] == "unreachable"


async def test_ready_is_503_when_the_database_cannot_be_reached(tmp_path):
    app = create_app(Settings(database_url="postgresql+psycopg://nobody:x@127.0.0.1:1/none", kafka="127.0.0.1:1"))
    ready = await call(app, "GET", "/ready")
    assert ready.status_code == 503 and ready.json()["error"] == "NOT_READY"
    assert ready.json()["checks"]["database"]["reachable"] is False
    assert "x@" not in ready.text
