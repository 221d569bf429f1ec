"""`publish` reads a Swedish postal code in the forms people write it ("221 00", "S-221 00", "SE-221 00"), by the one
rule the import reads it with (`events.postal_codes`), and stores it as its five digits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from events import codec, publish
from events.jsonlines import parse_event
from events.postal_codes import swedish_postal_code
from registervard import exit_codes
from registervard.cli import app
from registervard.importing import normalise_postal_code
from tests.builders import line, person
from tests.unit.test_publish_file import FakePublisher

WRITTEN = ["221 00", "S-221 00", "SE-221 00", "SE 221 00", "s-22100", "22100"]


def moved(customer_id: str, postal_code: str, **address: str) -> dict:
    return line(
        "AddressChanged", customer_id, effective_date="2025-03-01", address={"street": "Ågatan 2", "postal_code": postal_code, "city": "Lund", **address}
    )


@pytest.fixture
def fake(monkeypatch):
    FakePublisher.chunks, FakePublisher.fail_on = [], None
    monkeypatch.setattr(publish, "Publisher", FakePublisher)
    return FakePublisher


def write(path: Path, documents: list) -> Path:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents), encoding="utf-8")
    return path


def test_publish_takes_a_swedish_postal_code_as_people_write_it_and_stores_its_five_digits(fake, tmp_path):
    registered = person("C-0")
    registered["registration"]["address"]["postal_code"] = "SE-111 22"
    events = write(tmp_path / "moves.jsonl", [registered, *(moved(f"C-{n}", code) for n, code in enumerate(WRITTEN, start=1))])
    result = CliRunner().invoke(app, ["publish", str(events)], env={"REGISTERVARD_KAFKA": "127.0.0.1:1"})
    assert result.exit_code == 0, result.output
    assert f"{len(WRITTEN) + 1} event(s) published, 0 line(s) rejected" in result.stdout
    published = [codec.decode(value) for chunk in fake.chunks for _key, value in chunk]
    assert published[0].registration.address.postal_code == "11122"
    assert [event.address.postal_code for event in published[1:]] == ["22100"] * len(WRITTEN)


def test_what_is_no_swedish_postal_code_is_still_refused_naming_the_line_and_the_rest_is_published(fake, tmp_path):
    lines = [moved("C-1", "221 00"), moved("C-2", "1234"), moved("C-3", "N-0150"), moved("C-4", "DK-2100"), moved("C-5", "22 1000")]
    result = CliRunner().invoke(app, ["publish", str(write(tmp_path / "e.jsonl", lines))], env={"REGISTERVARD_KAFKA": "127.0.0.1:1"})
    assert result.exit_code == exit_codes.SOME_REFUSED == 4, result.output
    for number in (2, 3, 4, 5):
        assert f"line {number}: address.postal_code: must be five digits for a Swedish address" in result.stderr
    assert "1 event(s) published, 4 line(s) rejected" in result.stdout


def test_a_foreign_postal_code_is_left_as_written():
    event = parse_event(moved("C-1", "SW1A 1AA", country="GB"))
    assert event.address.postal_code == "SW1A 1AA"
    assert parse_event(moved("C-1", "D-10115", country="DE")).address.postal_code == "D-10115"


def test_one_fact_written_two_ways_is_one_event():
    """The id derived from a line's content is derived after the code is read: "221 00" and "22100" are one event."""
    assert parse_event(moved("C-1", "221 00")).event_id == parse_event(moved("C-1", "22100")).event_id


@pytest.mark.parametrize("written", [*WRITTEN, "111 22", "S-211 20", "1234", "N-0150", "abc"])
def test_publish_and_import_read_a_postal_code_by_the_same_rule(written):
    """What the import makes of a cell, publishing makes of a JSON line's code (where it is a Swedish code at all)."""
    swedish = swedish_postal_code(written)
    assert swedish is None or swedish == normalise_postal_code(written)
    if swedish is not None:
        assert parse_event(moved("C-1", written)).address.postal_code == swedish
