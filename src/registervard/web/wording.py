"""Filling in the console's texts: `say(words, key, name=value)` puts each value in place of `{name}`."""

from __future__ import annotations

from collections.abc import Mapping


def say(words: Mapping[str, str], key: str, **values: object) -> str:
    """The text `key` with each `{name}` replaced by its value (a text may leave some out; none is required)."""
    text = words[key]
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text
