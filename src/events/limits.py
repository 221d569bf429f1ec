"""The input limits, as data: how large, deep and long one event may be, and how far ahead of now (`limits.toml`).

`LIMITS` is read once from the packaged `limits.toml`; validation, the JSON
Lines reader, publishing and the worker's intake all read it from here.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType

LIMITS_PATH = Path(__file__).with_name("limits.toml")


@dataclass(frozen=True)
class Limits:
    """What one event may hold; see the comments in limits.toml."""

    max_event_bytes: int
    """Encoded (Avro) size of one event at intake."""
    max_line_bytes: int
    """UTF-8 size of one JSON line, without its line break."""
    max_nesting: int
    """Objects and arrays inside one another in one JSON line."""
    max_string_chars: int
    """Characters of any string field not named in `string_chars`."""
    string_chars: Mapping[str, int]
    """Characters of the string fields with a limit of their own, by the field's last name."""
    earliest: date
    """The first day a timestamp or date may fall on."""
    latest: date
    """The first day a timestamp or date may no longer fall on."""
    max_future: timedelta
    """How far `occurred_at` and `recorded_at` may lie ahead of the moment they are checked (clock skew)."""

    def max_chars(self, field: str) -> int:
        """The limit for string field `field` (a path such as `registration.address.street` or `data[0]`)."""
        name = field.rsplit(".", 1)[-1].split("[", 1)[0]
        return self.string_chars.get(name, self.max_string_chars)


def load_limits(path: Path = LIMITS_PATH) -> Limits:
    """Limits read from a TOML file laid out like the packaged limits.toml."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    strings = dict(data["strings"])
    return Limits(
        max_event_bytes=data["size"]["max_event_bytes"],
        max_line_bytes=data["size"]["max_line_bytes"],
        max_nesting=data["size"]["max_nesting"],
        max_string_chars=strings.pop("default"),
        string_chars=MappingProxyType(strings),
        earliest=data["time"]["earliest"],
        latest=data["time"]["latest"],
        max_future=timedelta(seconds=data["time"]["max_future_seconds"]),
    )


LIMITS = load_limits()
"""The limits in force."""
