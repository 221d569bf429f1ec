"""Prometheus metrics of the worker and the projections: counts an operator can alert on, and no customer in them."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from events.jsonlines import parse_event
from events.publish import Publisher
from events.settings import Settings
from tests.builders import line, person
from tests.conftest import eventually, running_worker, service_env

pytestmark = pytest.mark.kafka


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def value(metrics: str, name: str) -> float:
    return sum(float(row.rsplit(" ", 1)[1]) for row in metrics.splitlines() if row.startswith(name))


async def test_the_worker_and_the_projection_count_what_they_did_without_naming_anyone(settings: Settings, tmp_path: Path):
    worker_port, projection_port = free_port(), free_port()
    events = [parse_event(person("C-metrics-1")), parse_event(line("AddressChanged", "C-unknown-9", effective_date="2025-03-01",
                                                                     address={"street": "Ågatan 2", "postal_code": "22100", "city": "Lund"}))]
    with running_worker(settings, tmp_path / "worker.log", REGISTERVARD_WORKER_METRICS_PORT=str(worker_port)):
        async with Publisher(settings) as publisher:
            await publisher.publish(events)

        async def counted() -> str | None:
            text = scrape(worker_port)
            admitted = value(text, "registervard_worker_events_admitted_total")
            dead = value(text, 'registervard_worker_dead_letters_total{code="UNKNOWN_CUSTOMER"}')
            return text if admitted >= 1 and dead >= 1 else None

        worker_metrics = await eventually(counted, what="the worker's counters")
        env = service_env(
            settings, REGISTERVARD_DATABASE_URL=f"sqlite:///{tmp_path / 'register.db'}", REGISTERVARD_PROJECTION_METRICS_PORT=str(projection_port)
        )
        projection = subprocess.Popen([sys.executable, "-m", "registervard", "project"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:

            async def applied() -> str | None:
                text = scrape(projection_port)
                return text if value(text, 'registervard_projection_events_applied_total{projection="register"}') >= 1 else None

            projection_metrics = await eventually(applied, what="the projection's counters")
        finally:
            projection.terminate()
            projection.wait(timeout=30)
    assert "registervard_projection_lag_events" in projection_metrics
    for text in (worker_metrics, projection_metrics):
        assert "C-metrics-1" not in text and "C-unknown-9" not in text and "Svensson" not in text
