"""The input limits are data (limits.toml), read into one frozen record every check uses."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from events.limits import LIMITS, LIMITS_PATH, Limits, load_limits

FAUST_PRODUCER_LIMIT = 1_000_000
SEALING_OVERHEAD = 1024  # more than the worker's sealing adds to an event


def test_the_packaged_limits_are_read_into_a_frozen_record():
    assert isinstance(LIMITS, Limits) and load_limits(LIMITS_PATH) == LIMITS
    with pytest.raises(dataclasses.FrozenInstanceError):
        LIMITS.max_event_bytes = 10**9  # type: ignore[misc]


def test_an_event_at_the_limit_still_fits_kafka_once_sealed():
    assert LIMITS.max_event_bytes + SEALING_OVERHEAD < FAUST_PRODUCER_LIMIT
    assert LIMITS.max_line_bytes >= LIMITS.max_event_bytes
    assert LIMITS.max_nesting >= 3  # a registration's address


def test_the_accepted_time_range_is_1900_up_to_2100():
    assert (LIMITS.earliest, LIMITS.latest) == (date(1900, 1, 1), date(2100, 1, 1))


def test_a_moment_may_lie_five_minutes_ahead_for_clock_skew_as_limits_toml_says(tmp_path):
    assert LIMITS.max_future == timedelta(minutes=5)
    edited = LIMITS_PATH.read_text(encoding="utf-8").replace("max_future_seconds = 300", "max_future_seconds = 3600")
    (tmp_path / "limits.toml").write_text(edited, encoding="utf-8")
    assert load_limits(tmp_path / "limits.toml").max_future == timedelta(hours=1)


def test_a_string_limit_is_found_by_the_fields_last_name_or_is_the_default():
    assert LIMITS.max_chars("registration.address.street") == LIMITS.max_chars("address.street") == LIMITS.string_chars["street"]
    assert LIMITS.max_chars("contact.email") == 254
    assert LIMITS.max_chars("data_categories[0]") == LIMITS.max_chars("anything") == LIMITS.max_string_chars


def test_limits_are_read_from_any_file_of_the_same_layout(tmp_path):
    edited = LIMITS_PATH.read_text(encoding="utf-8").replace("max_event_bytes = 65_536", "max_event_bytes = 1_000")
    (tmp_path / "limits.toml").write_text(edited, encoding="utf-8")
    assert load_limits(tmp_path / "limits.toml").max_event_bytes == 1_000


@pytest.mark.parametrize("document", ["README.md", "schemas/README.md"])
def test_the_documentation_states_the_shipped_limits(document):
    text = (Path(__file__).parents[2] / document).read_text(encoding="utf-8")
    minutes = int(LIMITS.max_future.total_seconds()) // 60
    for stated in (f"{LIMITS.max_line_bytes:,} bytes", f"{LIMITS.max_event_bytes:,} bytes", str(LIMITS.earliest), str(LIMITS.latest), f"{minutes} minutes"):
        assert stated in text, f"{document} does not say {stated!r}: update it from src/events/limits.toml"
    assert "src/events/limits.toml" in text


def test_the_schema_documentation_states_every_string_limit():
    text = (Path(__file__).parents[2] / "schemas/README.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if "FIELD_TOO_LONG" in line and "any other" in line)
    for name, limit in LIMITS.string_chars.items():
        assert re.search(rf"`{name}`[^;|]*? {limit}\b", row), f"schemas/README.md does not give {name}'s limit, {limit}"
    assert f"any other {LIMITS.max_string_chars}" in row
