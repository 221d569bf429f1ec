"""Publishing a file streams it a chunk at a time, checks it without a broker, and says how far it got when the broker fails."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import pytest
from aiokafka.errors import KafkaTimeoutError
from typer.testing import CliRunner

from events import publish, validation
from events.publish import PublishInterrupted, publish_file
from events.settings import Settings
from registervard.cli import app
from tests.builders import line, person

SETTINGS = Settings(kafka="127.0.0.1:1", topic_prefix="unit")
BAD = line("CustomerDeceased", "C-bad", date_of_death="0001-01-01")


class FakePublisher:
    """Stands in for the Kafka producer: records each chunk, and fails on chunk `fail_on` (1-based)."""

    chunks: ClassVar[list[list[tuple[bytes, bytes]]]] = []
    fail_on: ClassVar[int | None] = None

    def __init__(self, settings: Settings) -> None:
        pass

    async def __aenter__(self) -> FakePublisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def publish_encoded(self, encoded: list[tuple[bytes, bytes]]) -> int:
        if len(FakePublisher.chunks) + 1 == FakePublisher.fail_on:
            raise KafkaTimeoutError()
        FakePublisher.chunks.append(encoded)
        return len(encoded)


class NoBroker:
    def __init__(self, settings: Settings) -> None:
        raise AssertionError("tried to contact a broker")


@pytest.fixture
def fake(monkeypatch):
    FakePublisher.chunks, FakePublisher.fail_on = [], None
    monkeypatch.setattr(publish, "Publisher", FakePublisher)
    return FakePublisher


def write(path: Path, documents: list) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")
    return path


def publish_now(path: Path, **options) -> publish.PublishReport:
    return asyncio.run(publish_file(path, SETTINGS, **options))


def test_a_file_is_published_a_chunk_at_a_time_as_it_is_read(fake, tmp_path):
    events = write(tmp_path / "e.jsonl", [person("C-1"), person("C-2"), BAD, person("C-3"), person("C-4"), person("C-5")])
    report = publish_now(events, chunk_size=2)
    assert [[key for key, _ in chunk] for chunk in fake.chunks] == [[b"C-1", b"C-2"], [b"C-3", b"C-4"], [b"C-5"]]
    assert (report.accepted, report.valid, report.published_through) == (5, 5, 6)
    assert [(number, error.code) for number, error in report.rejected] == [(3, "DATE_OUT_OF_RANGE")]


def test_check_validates_the_whole_file_and_contacts_no_broker(monkeypatch, tmp_path):
    monkeypatch.setattr(publish, "Publisher", NoBroker)
    report = publish_now(write(tmp_path / "e.jsonl", [person("C-1"), BAD, person("C-2")]), check_only=True)
    assert (report.accepted, report.valid) == (0, 2)
    assert [number for number, _ in report.rejected] == [2]


def test_all_or_nothing_publishes_nothing_when_a_line_is_bad_and_everything_when_none_is(fake, tmp_path):
    report = publish_now(write(tmp_path / "bad.jsonl", [person("C-1"), BAD]), all_or_nothing=True)
    assert fake.chunks == [] and report.accepted == 0 and len(report.rejected) == 1
    report = publish_now(write(tmp_path / "good.jsonl", [person("C-1"), person("C-2")]), all_or_nothing=True)
    assert report.accepted == 2 and len(fake.chunks) == 1


def test_an_event_whose_encoding_is_over_the_limit_is_a_rejected_line(fake, monkeypatch, tmp_path):
    monkeypatch.setattr(validation, "LIMITS", dataclasses.replace(validation.LIMITS, max_event_bytes=100))
    report = publish_now(write(tmp_path / "e.jsonl", [line("CustomerDeceased", "C-1", date_of_death="2025-01-01"), person("C-2")]))
    assert report.accepted == 1
    [(number, error)] = report.rejected
    assert number == 2 and error.code == "EVENT_TOO_LARGE" and "170 bytes; the limit is 100" in error.reason


def test_a_broker_failure_part_way_says_how_many_events_and_lines_were_published(fake, tmp_path):
    fake.fail_on = 2
    events = write(tmp_path / "e.jsonl", [person("C-1"), BAD, person("C-2"), person("C-3"), person("C-4")])
    with pytest.raises(PublishInterrupted) as caught:
        publish_now(events, chunk_size=2)
    assert (caught.value.report.accepted, caught.value.report.published_through) == (2, 3)
    assert "after 2 event(s) were published, every valid line up to line 3" in str(caught.value)
    fake.chunks, fake.fail_on = [], 1
    with pytest.raises(PublishInterrupted, match="before any event was published"):
        publish_now(events, chunk_size=2)


def test_the_command_reports_the_bad_lines_and_what_to_resend_when_the_broker_fails(fake, tmp_path):
    fake.fail_on = 2
    events = write(tmp_path / "e.jsonl", [BAD] + [person(f"C-{n}") for n in range(1500)])
    result = CliRunner().invoke(app, ["publish", str(events)], env={"REGISTERVARD_KAFKA": "127.0.0.1:1"})
    assert result.exit_code == 1
    assert "line 1: date_of_death: must be from 1900-01-01" in result.stderr
    assert "after 1000 event(s) were published, every valid line up to line 1001" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
