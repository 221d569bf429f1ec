"""`/ready` tells a load balancer whether the register is being kept current: projections running and keeping up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.orm import Session

from events.settings import Settings
from projections.runner import beat
from projections.status import projection_health
from projections.tables import ProjectionHealthRow
from registervard.api.http_app import create_app


async def ready(app) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get("/ready")


def register_api(tmp_path, **settings):
    return create_app(Settings(database_url=f"sqlite:///{tmp_path / 'register.db'}", kafka="127.0.0.1:1", **settings))


async def test_a_register_whose_projection_never_ran_is_not_ready(tmp_path):
    answer = await ready(register_api(tmp_path))
    assert answer.status_code == 503
    assert "register projection has never run" in answer.json()["message"]


async def test_a_projection_that_stopped_reporting_makes_the_api_unready(tmp_path):
    app = register_api(tmp_path, ready_heartbeat_seconds=30)
    engine = app.state.database.engine()
    with Session(engine) as session, session.begin():
        session.merge(ProjectionHealthRow(projection="register", beat_at=datetime.now(UTC) - timedelta(minutes=5), lag=0))
    answer = await ready(app)
    assert answer.status_code == 503
    assert "has not reported for 300 s" in answer.json()["message"]
    assert answer.json()["checks"]["projections"]["register"]["running"] is False


async def test_a_projection_too_far_behind_makes_the_api_unready_until_it_catches_up(tmp_path):
    app = register_api(tmp_path, ready_max_lag=100)
    engine = app.state.database.engine()
    beat(engine, "register", lag=3460)
    behind = await ready(app)
    assert behind.status_code == 503 and "3460 events behind" in behind.json()["message"]
    beat(engine, "register", lag=12)
    caught_up = await ready(app)
    assert caught_up.status_code == 200 and caught_up.json()["checks"]["projections"]["register"]["lag"] == 12


def test_every_projection_that_ever_reported_must_keep_reporting(tmp_path):
    app = register_api(tmp_path)
    engine = app.state.database.engine()
    beat(engine, "register", lag=0)
    with Session(engine) as session, session.begin():
        session.merge(ProjectionHealthRow(projection="audit", beat_at=datetime.now(UTC) - timedelta(hours=1), lag=0))
    health = {h.projection: h for h in projection_health(engine, max_silence=30, max_lag=1000)}
    assert health["register"].healthy and not health["audit"].healthy
