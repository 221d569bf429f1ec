"""Issue 13, input limits: facts from the future are refused naming `occurred_at` (never a `recorded_at` nobody
sent), and oversized input is refused naming its field, in a file (JSON Lines) and in a message (intake)."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from events import codec, validation
from events.catalog import AddressChanged, PostalAddress
from events.json_prefix import scan
from events.jsonlines import parse_event, parse_lines, read_lines
from events.limits import LIMITS
from events.refusal import Refusal
from processors.intake import admit
from tests.builders import envelope, line, person

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SKEW = LIMITS.max_future


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def moved(customer_id: str = "C-1", *, occurred: datetime = NOW - timedelta(days=1), recorded: datetime | None = None, street: str = "Ågatan 2"):
    """An AddressChanged as it would reach intake: both times present, as publish writes them."""
    address = PostalAddress(street=street, postal_code="22100", city="Lund")
    header = envelope(customer_id, on=occurred)
    return AddressChanged(envelope=dataclasses.replace(header, recorded_at=recorded or occurred), effective_date=occurred.date(), address=address)


def refusal(document: dict, now: datetime = NOW) -> Refusal:
    with pytest.raises(Refusal) as caught:
        parse_event(document, now=now)
    return caught.value


# --- The tolerance for clocks ahead of ours ---------------------------------------------------


def test_a_fact_ahead_of_now_by_more_than_the_tolerance_is_refused_naming_occurred_at():
    with pytest.raises(Refusal) as caught:
        validation.validate(moved(occurred=NOW + SKEW + timedelta(seconds=1)), now=NOW)
    assert (caught.value.field, caught.value.code) == ("occurred_at", "IN_THE_FUTURE")
    assert "5 minutes" in caught.value.reason and "2026-03-01T12:00:00Z" in caught.value.reason


def test_a_fact_ahead_of_now_by_the_tolerance_or_less_is_accepted():
    validation.validate(moved(occurred=NOW + SKEW), now=NOW)
    validation.validate(moved(occurred=NOW), now=NOW)


def test_with_both_times_sent_a_future_occurred_at_is_named_not_the_recorded_at_before_it():
    """At intake recorded_at is always there (publish fills it in): the fact in the future is still what is wrong."""
    with pytest.raises(Refusal) as caught:
        validation.validate(moved(occurred=datetime(2099, 1, 1, tzinfo=UTC), recorded=NOW), now=NOW)
    assert (caught.value.field, caught.value.code) == ("occurred_at", "IN_THE_FUTURE")


def test_a_recorded_at_sent_in_the_future_is_refused_naming_recorded_at():
    with pytest.raises(Refusal) as caught:
        validation.validate(moved(occurred=NOW, recorded=NOW + timedelta(days=1)), now=NOW)
    assert (caught.value.field, caught.value.code) == ("recorded_at", "IN_THE_FUTURE")


def test_without_a_moment_no_event_is_refused_for_the_clock():
    """Readers of the log pass no `now`: an event admitted once is never refused later because of the time."""
    validation.validate(moved(occurred=datetime(2099, 1, 1, tzinfo=UTC)))


def test_the_tolerance_is_data(monkeypatch):
    monkeypatch.setattr(validation, "LIMITS", dataclasses.replace(LIMITS, max_future=timedelta(hours=1)))
    validation.validate(moved(occurred=NOW + timedelta(minutes=59)), now=NOW)
    with pytest.raises(Refusal, match="more than 1 hour after"):
        validation.validate(moved(occurred=NOW + timedelta(minutes=61)), now=NOW)


# --- In a file: recorded_at is defaulted only when absent, and never blamed then ------------------


def test_a_line_in_2099_is_refused_naming_occurred_at():
    document = line("CustomerDeceased", date_of_death="2025-01-01", occurred_at="2099-01-01T00:00:00Z", recorded_at="2099-01-01T00:00:00Z")
    error = refusal(document)
    assert (error.field, error.code) == ("occurred_at", "IN_THE_FUTURE")


def test_a_line_with_only_occurred_at_in_the_future_names_occurred_at_not_the_recorded_at_it_never_sent():
    error = refusal(line("CustomerDeceased", date_of_death="2025-01-01", occurred_at=stamp(NOW + timedelta(hours=1))))
    assert (error.field, error.code) == ("occurred_at", "IN_THE_FUTURE")
    assert "recorded_at" not in str(error)


def test_a_line_from_a_clock_a_little_ahead_is_accepted_and_recorded_when_it_occurred():
    ahead = NOW + timedelta(minutes=2)
    event = parse_event(line("CustomerDeceased", date_of_death="2025-01-01", occurred_at=stamp(ahead)), now=NOW)
    assert event.envelope.occurred_at == event.envelope.recorded_at == ahead


def test_a_recorded_at_left_out_is_the_moment_of_publishing():
    assert parse_event(line("CustomerDeceased", date_of_death="2025-01-01"), now=NOW).envelope.recorded_at == NOW


def test_a_recorded_at_sent_is_kept_and_blamed_when_wrong():
    early = line("CustomerDeceased", date_of_death="2025-01-01", occurred_at=stamp(NOW), recorded_at=stamp(NOW - timedelta(hours=1)))
    assert refusal(early).field == "recorded_at"
    assert refusal({**early, "recorded_at": None}).field == "recorded_at"  # sent, as null: not defaulted


def test_every_line_of_a_file_is_checked_against_the_same_moment():
    lines = [json.dumps(line("CustomerDeceased", f"C-{n}", date_of_death="2025-01-01", occurred_at=stamp(NOW + SKEW))) for n in (1, 2)]
    assert [p.error for p in parse_lines(lines, now=NOW)] == [None, None]
    assert [p.error.code for p in parse_lines(lines, now=NOW - timedelta(seconds=1))] == ["IN_THE_FUTURE"] * 2


# --- In a file: a line too long to read whole names the field that makes it so ---------------------


def huge_street_lines() -> bytes:
    moved_line = line("AddressChanged", effective_date="2025-03-01", address={"street": "x" * 10_000_000, "postal_code": "22100", "city": "Lund"})
    registered = person("C-2")
    registered["registration"]["address"]["street"] = "Å" * 5_000_000
    return b"".join(json.dumps(d, ensure_ascii=False).encode() + b"\n" for d in (moved_line, registered, person("C-3")))


def test_a_10_mb_street_is_refused_naming_the_street_and_the_file_goes_on():
    parsed = list(parse_lines(read_lines(io.BytesIO(huge_street_lines()))))
    assert [(p.line_number, p.error.code if p.error else None) for p in parsed] == [(1, "FIELD_TOO_LONG"), (2, "FIELD_TOO_LONG"), (3, None)]
    assert [p.error.field for p in parsed[:2]] == ["address.street", "registration.address.street"]
    assert str(parsed[0].error).startswith("address.street: is more than ") and str(parsed[0].error).endswith("; the limit is 200")


def test_the_characters_counted_in_a_cut_string_are_characters_not_bytes():
    [first] = parse_lines([json.dumps(line("AddressChanged", address={"street": "Å" * 200_000}), ensure_ascii=False)])
    counted = int(first.error.reason.split()[3])  # "is more than N characters long"
    assert LIMITS.max_line_bytes // 2 - 100 < counted < LIMITS.max_line_bytes // 2  # two bytes each in UTF-8
    [escaped] = parse_lines([json.dumps(line("AddressChanged", address={"street": "Å" * 200_000}))])  # \u00c5: six bytes each
    assert LIMITS.max_line_bytes // 6 - 100 < int(escaped.error.reason.split()[3]) < LIMITS.max_line_bytes // 6


def test_a_long_string_before_the_cut_is_named_with_its_length():
    document = {**line("CustomerDeceased", date_of_death="2025-01-01", source="S" * 1000), "padding": "p" * 200_000}
    [parsed] = parse_lines([json.dumps(document)])
    assert str(parsed.error) == "source: is 1000 characters long; the limit is 100"


def test_a_line_too_long_without_a_long_string_names_the_field_the_limit_falls_in():
    purge = line("PersonalDataPurgeRequested", reason="OTHER", data_categories=["ALL"] * 100_000)
    [parsed] = parse_lines([json.dumps(purge)])
    assert (parsed.error.field, parsed.error.code) == ("data_categories", "LINE_TOO_LONG")
    [nested] = parse_lines([b"[" * 200_000 + b"]" * 200_000])
    assert (nested.error.field, nested.error.code) == ("", "LINE_TOO_LONG")


def test_the_scan_names_fields_as_refusals_do_and_never_repeats_an_odd_key():
    texts, cut_in = scan(b'{"type": "X", "registration": {"name": {"given_names": "A"}, "address": {"street": "Stor', longer_than=0)
    assert [(t.field, t.raw, t.complete) for t in texts] == [
        ("type", b"X", True),
        ("registration.name.given_names", b"A", True),
        ("registration.address.street", b"Stor", False),
    ]
    assert cut_in == "registration.address.street"
    assert scan(b'{"data": ["a", "bb", "ccc', longer_than=1)[0][-1].field == "data[2]"
    assert scan(b'{"Anna Svensson 19811218": "xxxx', longer_than=0)[0][0].field == ""
    assert scan(b'{"source": "a", "stre', longer_than=0)[1] == ""  # cut inside a key: between the members of the event
    assert scan(b'{"s": "\\u00c5\\"\\ud83d\\ude00x', longer_than=0)[0][0].chars == 4


# --- In a message: the worker's intake names the field --------------------------------------------


def test_intake_refuses_a_fact_from_the_future_naming_occurred_at():
    verdict = admit(b"C-1", codec.encode(moved(occurred=datetime(2099, 1, 1, tzinfo=UTC), recorded=NOW)), now=NOW)
    assert isinstance(verdict, Refusal) and (verdict.field, verdict.code) == ("occurred_at", "IN_THE_FUTURE")
    within = moved(occurred=NOW + SKEW)
    assert admit(b"C-1", codec.encode(within), now=NOW) == within


def test_intake_checks_against_the_clock_when_given_no_moment():
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    verdict = admit(b"C-1", codec.encode(moved(occurred=tomorrow)))
    assert isinstance(verdict, Refusal) and verdict.field == "occurred_at"


def test_intake_refuses_a_text_field_over_its_limit_naming_it():
    verdict = admit(b"C-1", codec.encode(moved(street="x" * 201)), now=NOW)
    assert isinstance(verdict, Refusal) and (verdict.field, verdict.code) == ("address.street", "FIELD_TOO_LONG")


def test_intake_refuses_an_event_over_the_size_limit_naming_the_field_that_holds_most_of_it():
    value = codec.encode(moved(street="x" * 100_000))
    verdict = admit(b"C-1", value, now=NOW)
    assert isinstance(verdict, Refusal) and (verdict.field, verdict.code) == ("address.street", "EVENT_TOO_LARGE")
    assert verdict.reason == (
        f"makes the event too large: the encoded event is {len(value)} bytes; the limit is {LIMITS.max_event_bytes}"
        " (the field is 100000 characters long; its own limit is 200)"
    )


def test_an_event_over_the_size_limit_with_every_field_within_its_own_names_the_largest(monkeypatch):
    registered = person("C-1")
    registered["registration"]["name"]["given_names"] = "Anna " * 30  # within its limit of 200, and most of the event
    event = parse_event(registered)
    value = codec.encode(event)
    monkeypatch.setattr(validation, "LIMITS", dataclasses.replace(LIMITS, max_event_bytes=100))
    with pytest.raises(Refusal) as caught:
        validation.check_encoded_size(value, event)
    assert (caught.value.field, caught.value.code) == ("registration.name.given_names", "EVENT_TOO_LARGE")
    assert caught.value.reason == f"makes the event too large: the encoded event is {len(value)} bytes; the limit is 100"
    with pytest.raises(Refusal) as unnamed:
        validation.check_encoded_size(value)
    assert unnamed.value.field == ""
