"""Issues 9 and 13: a file with every kind of bad line is reported line by line, naming the field, and only its good
lines are published. A line with a 10 MB street is refused for its street, not by the broker; a fact from the future
is refused for its `occurred_at`, whether or not the line gives a `recorded_at`."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from events import codec
from events.topics import ensure_topics, partitions_of
from registervard import exit_codes
from tests.builders import line, person
from tests.conftest import service_env
from tests.integration.kafka_helpers import read_topic

SEALED = {"key_id": "k1", "algorithm": "AES-256-GCM", "nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "AAAA"}


def moved(customer_id: str, street: str) -> dict:
    return line("AddressChanged", customer_id, effective_date="2025-03-01", address={"street": street, "postal_code": "11122", "city": "Lund"})


def mixed_file(path: Path, good: list[str]) -> tuple[Path, dict[int, str]]:
    """A file of good registrations for `good` between one line of each bad kind; and the code expected per bad line."""

    def encoded(document: dict) -> bytes:
        return json.dumps(document).encode()

    huge_registration = person("C-x")
    huge_registration["registration"]["address"]["street"] = "x" * 10_000_000
    # A clock a minute ahead of ours: within the 5 minutes of skew allowed, whenever the file is checked after this.
    a_minute_ahead = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()

    lines: list[tuple[bytes, str | None]] = [
        (encoded(person(good[0])), None),
        (b"[" * 100_000 + b"]" * 100_000, "LINE_TOO_LONG"),  # nested 100k deep: longer than a line may be
        (b"[" * 50_000 + b"]" * 50_000, "NESTED_TOO_DEEP"),  # 50k deep: fits a line, deeper than Python's parser goes
        (encoded(moved("C-x", "Storgatan 1")).replace(b"Storgatan 1", b"Storgatan \\ud800"), "INVALID_CHARACTER"),
        (encoded(moved("C-x", "Storgatan 1")).replace(b"Storgatan 1", b"Storgatan \xff\xfe"), "INVALID_ENCODING"),
        (encoded(moved("C-x", "x" * 10_000_000)), "FIELD_TOO_LONG"),
        (encoded(person(good[1])), None),
        (encoded({**person("C-x"), "occurred_at": "0001-01-01T00:00:00+14:00"}), "DATE_OUT_OF_RANGE"),
        (encoded(person("C-x", schema_version=2**40)), "UNKNOWN_SCHEMA_VERSION"),
        (encoded(line("AddressChanged", "C-x", effective_date="2025-03-01", address=SEALED)), "SEALED_INPUT"),
        (encoded(moved("C-x", "Storgatan\u00001")), "INVALID_CHARACTER"),
        (b"", None),
        (encoded(person(good[2])), None),
        (encoded(huge_registration), "FIELD_TOO_LONG"),
        (encoded({**person("C-x"), "occurred_at": "2099-01-01T00:00:00Z", "recorded_at": "2099-01-01T00:00:00Z"}), "IN_THE_FUTURE"),
        (encoded({**person("C-x"), "occurred_at": "2099-01-01T00:00:00Z"}), "IN_THE_FUTURE"),  # recorded_at left out
        (encoded({**person(good[3]), "occurred_at": a_minute_ahead}), None),
    ]
    path.write_bytes(b"".join(content + b"\n" for content, _ in lines))
    return path, {number: code for number, (_, code) in enumerate(lines, start=1) if code}


def registervard(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "registervard", *args], env=env, capture_output=True, text=True, timeout=300)


def reported(stderr: str) -> dict[int, str]:
    """Line number -> code, from the per-line report."""
    found = {}
    for text in stderr.splitlines():
        if text.startswith("line "):
            found[int(text.split()[1].rstrip(":"))] = text.rsplit("[", 1)[1].rstrip("]")
    return found


def test_check_reports_every_bad_line_with_its_number_and_code_and_never_contacts_a_broker(tmp_path):
    path, expected = mixed_file(tmp_path / "mixed.jsonl", ["C-1", "C-2", "C-3", "C-4"])
    with socket.socket() as broker:  # a "broker" that only notes whether anyone connected
        broker.bind(("127.0.0.1", 0))
        broker.listen()
        broker.setblocking(False)
        env = {**os.environ, "REGISTERVARD_KAFKA": f"127.0.0.1:{broker.getsockname()[1]}"}
        result = registervard("publish", "--check", str(path), env=env)
        with pytest.raises(BlockingIOError):
            broker.accept()
    assert result.returncode == exit_codes.SOME_REFUSED, result.stderr
    assert reported(result.stderr) == expected
    assert "line 4: address.street: contains half of a surrogate pair U+D800" in result.stderr
    assert "line 11: address.street: contains the control character U+0000" in result.stderr
    assert "line 10: address: holds sealed data; send the plain value" in result.stderr
    assert "line 9: schema_version:" in result.stderr and "line 8: occurred_at:" in result.stderr
    assert "line 6: address.street: is more than " in result.stderr and "line 14: registration.address.street: is more than " in result.stderr
    assert "line 15: occurred_at: lies in the future" in result.stderr and "line 16: occurred_at: lies in the future" in result.stderr
    assert "recorded_at" not in result.stderr
    assert "4 event(s) valid, 12 line(s) rejected (nothing published: --check)" in " ".join(result.stdout.split())
    assert "Traceback" not in result.stderr


@pytest.mark.kafka
def test_publish_sends_exactly_the_good_lines_of_such_a_file(settings, tmp_path):
    asyncio.run(ensure_topics(settings))
    good = [f"C-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    path, expected = mixed_file(tmp_path / "mixed.jsonl", good)

    result = registervard("publish", str(path), env=service_env(settings))
    assert result.returncode == exit_codes.SOME_REFUSED, result.stderr
    assert reported(result.stderr) == expected
    assert "4 event(s) published, 12 line(s) rejected" in " ".join(result.stdout.split())
    assert "Traceback" not in result.stderr and "Kafka" not in result.stderr  # the broker is never what is wrong

    assert asyncio.run(messages_in(settings, settings.intake_topic)) == 4
    intake = asyncio.run(read_topic(settings.kafka, settings.intake_topic, until=4))
    assert sorted(m.key.decode() for m in intake) == sorted(good)
    assert sorted(codec.decode(m.value).customer_id for m in intake) == sorted(good)


async def messages_in(settings, topic: str) -> int:
    """How many messages a topic holds: the sum of its partitions' end offsets."""
    partitions = [TopicPartition(topic, p) for p in await partitions_of(settings, topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka)
    await consumer.start()
    try:
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()
