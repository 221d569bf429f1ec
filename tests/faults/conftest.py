"""Fixtures of the fault suite: its private broker and PostgreSQL, and a rig per scenario.

The private services are started once per session (`infra/kafka.sh` on
28092/28093, `infra/postgres.sh` on 15436, state in a temporary directory) and
stopped at the end; the shared ones are never touched.
"""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy

from events.settings import Settings
from tests.conftest import drop_database
from tests.faults.report import RECORDED
from tests.faults.rig import Rig
from tests.faults.services import PrivateServices


@pytest.fixture(scope="session")
def private_services() -> Iterator[PrivateServices]:
    """The suite's own Kafka and PostgreSQL, running."""
    # Not under pytest's tmp dir (mode 700): the postgres user must reach the data directory.
    state = Path(tempfile.mkdtemp(prefix="registervard-faults-"))
    state.chmod(0o755)
    services = PrivateServices(state)
    try:
        services.start_kafka()
        services.start_postgres()
    except AssertionError as error:
        services.stop_all()
        shutil.rmtree(state, ignore_errors=True)
        pytest.fail(f"the fault suite could not start its private services: {error}")
    yield services
    problems = services.stop_all()
    shutil.rmtree(state, ignore_errors=True)
    if problems:
        print("\n".join(problems))


@pytest.fixture(autouse=True)
def quiet_kafka_clients() -> Iterator[None]:
    """The test process's own Kafka clients (load, probes) complain about every refused connection while the broker is
    stopped; those thousands of lines would bury a failure's message, so they are held back during a scenario."""
    loggers = [logging.getLogger(name) for name in ("aiokafka", "kafka")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    yield
    for logger, level in zip(loggers, levels, strict=False):
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def services_running(private_services: PrivateServices) -> PrivateServices:
    """Both private services up before each scenario (a failed scenario may have left one stopped)."""
    private_services.start_kafka()
    private_services.start_postgres()
    return private_services


@pytest.fixture
async def make_rig(
    services_running: PrivateServices, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[str], Awaitable[Rig]]]:
    """`await make_rig("sqlite" | "postgresql")`: topics of the test's own, a fresh register database, worker and projection running."""
    rigs: list[Rig] = []
    databases: list[str] = []
    admin = sqlalchemy.create_engine(services_running.postgres_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)

    async def make(database: str) -> Rig:
        if database == "postgresql":
            name = f"faults_{uuid.uuid4().hex[:12]}"
            with admin.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            databases.append(name)
            url = sqlalchemy.make_url(services_running.postgres_url).set(database=name).render_as_string(hide_password=False)
        else:
            url = f"sqlite:///{tmp_path / 'register.db'}"
        seed = int(time.time())
        settings = Settings(kafka=services_running.kafka, topic_prefix=f"faults-{uuid.uuid4().hex[:8]}", database_url=url)
        rig = Rig(
            name=request.node.name, settings=settings, services=services_running, workdir=tmp_path, database=database, rng=random.Random(seed)
        )
        rig.notes.append(f"random seed {seed}")
        rigs.append(rig)
        await rig.start()
        return rig

    try:
        yield make
    finally:
        for rig in rigs:
            await asyncio.to_thread(rig.close)
        services_running.start_postgres()  # a scenario may have failed with it stopped
        for name in databases:
            drop_database(admin, name)
        admin.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Every fault scenario's table, passed or failed."""
    if RECORDED:
        terminalreporter.section("fault scenarios")
        for report in RECORDED:
            terminalreporter.write_line(report.table())
            terminalreporter.write_line("")
