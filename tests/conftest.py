"""Fixtures shared by the integration and end-to-end tests: the real broker and the real databases.

Kafka and PostgreSQL are started by the project's own scripts in `infra/` (a
no-op when `bin/test` has started them already). Each test module gets its own
topics, and each test its own database, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy
from sqlalchemy.orm import Session

from events.settings import Settings
from projections.database import connect
from projections.tables import CustomerRow

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def _start(script: str, announcement: str) -> str:
    """Run an infra script's `start` (harmless when running) and return the address it announces."""
    result = subprocess.run(["bash", str(ROOT / "infra" / script), "start"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.exit(f"infra/{script} start failed:\n{result.stdout}\n{result.stderr}", returncode=3)
    found = re.search(announcement, result.stdout)
    if not found:
        pytest.exit(f"infra/{script} start did not announce its address:\n{result.stdout}", returncode=3)
    return found.group(1)


@pytest.fixture(scope="session")
def kafka() -> str:
    """Bootstrap address of the real Kafka broker."""
    return os.environ.get("REGISTERVARD_KAFKA") or _start("kafka.sh", r"Kafka is (?:up|already running) at (\S+)")


@pytest.fixture(scope="session")
def postgres() -> str:
    """SQLAlchemy URL of the real PostgreSQL server's registervard database."""
    return os.environ.get("REGISTERVARD_TEST_POSTGRES_URL") or _start("postgres.sh", r"(postgresql\S+)")


@pytest.fixture(scope="module")
def settings(kafka: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with topics of this test module's own, and a key store (data keys) every process of the module shares."""
    keys = tmp_path_factory.mktemp("keys") / "keys.db"
    return Settings(kafka=kafka, topic_prefix=f"test-{uuid.uuid4().hex[:8]}", database_url="sqlite://", keystore_url=f"sqlite:///{keys}")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty register database: SQLite in a file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'register.db'}"
        return
    server = sqlalchemy.make_url(request.getfixturevalue("postgres"))
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield server.set(database=name).render_as_string(hide_password=False)
    drop_database(admin, name)
    admin.dispose()


def drop_database(admin: sqlalchemy.Engine, name: str) -> None:
    """Drop a test's PostgreSQL database, ending the sessions still in it.

    Tried again for a few seconds when PostgreSQL will not let our role end a session: an autovacuum worker that
    happens to be in the new database belongs to no role of ours, and it leaves within moments."""
    deadline = time.monotonic() + 15
    while True:
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except sqlalchemy.exc.ProgrammingError as error:
            if "pg_signal_backend" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that points a `registervard` process at these settings."""
    return {
        **os.environ,
        "REGISTERVARD_KAFKA": settings.kafka,
        "REGISTERVARD_TOPIC_PREFIX": settings.topic_prefix,
        "REGISTERVARD_DATABASE_URL": settings.database_url,
        "REGISTERVARD_KEYSTORE_URL": settings.key_store_url,
        "REGISTERVARD_WORKER_METRICS_PORT": "0",  # tests run several processes at once; a test that reads metrics sets a port
        "REGISTERVARD_PROJECTION_METRICS_PORT": "0",
        **extra,
    }


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL if it has not stopped within 30 s (nothing if it has already ended)."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def running_worker(settings: Settings, log: Path, **env: str) -> Iterator[subprocess.Popen]:
    """The real stream processor (`registervard worker`) against `settings`' topics, stopped afterwards."""
    with log.open("a") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "registervard", "worker"],
            env=service_env(settings, **{"REGISTERVARD_EXPIRY_CHECK_SECONDS": "1", **env}),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    time.sleep(2)
    if process.poll() is not None:
        pytest.fail(f"the worker stopped at once:\n{log.read_text()[-4000:]}")
    try:
        yield process
    finally:
        stop_process(process)
        if process.returncode not in (0, -15, 143):
            print(log.read_text()[-4000:])


@pytest.fixture(scope="module")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen]:
    """The real stream processor running against this module's topics."""
    with running_worker(settings, tmp_path_factory.mktemp("worker") / "worker.log") as process:
        yield process


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 60, what: str = "the condition") -> T:
    """Poll `probe` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


def register_rows(database_url: str) -> dict[str, CustomerRow]:
    """The register's rows as they stand, by customer id (detached, so they can be read after the session)."""
    engine = connect(database_url)
    try:
        with Session(engine) as session:
            rows = session.scalars(sqlalchemy.select(CustomerRow)).all()
            session.expunge_all()
            return {row.customer_id: row for row in rows}
    finally:
        engine.dispose()
