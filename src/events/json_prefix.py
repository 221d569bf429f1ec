"""Fields in a JSON line cut short: which field each long string is in, and which field the cut falls in.

A line over the size limit is read only up to the limit (`jsonlines.read_lines`), and what is read is no JSON
document. Scanning it still tells where its bytes went, so the refusal can name the field: a line with a street of
10 MB is refused for `address.street`, not merely as a long line. Fields are named as refusals name them: the
envelope's at the top, `registration.address.street`, `data[2]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(rb'"([^"\\]*(?:\\.[^"\\]*)*)("?)|[][{}:,]', re.DOTALL)
"""A string (its closing quote missing where the text is cut inside it) or a structural character; the rest
(numbers, literals, white space) is skipped."""
_ESCAPE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\.", re.DOTALL)
"""What JSON writes for one character with a backslash: a surrogate pair, a \\u escape, or a short one."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
"""A key that can be named in a refusal: any other is the upstream's text and is not repeated back."""


@dataclass(frozen=True)
class Text:
    """A string value of a JSON line cut short."""

    field: str
    """Its field ("" when that cannot be named)."""
    raw: bytes
    """What the line holds of it between the quotes, escapes as written."""
    complete: bool
    """False: the line is cut inside it, so the string is longer than `chars`."""

    @property
    def chars(self) -> int:
        """Characters `raw` stands for: each escape one, a UTF-8 character cut in two none."""
        return len(_ESCAPE.sub(b"x", self.raw).decode("utf-8", "ignore"))


class _Level:
    """An object or array the scan is inside: the key or index of the value being read."""

    __slots__ = ("index", "key", "object")

    def __init__(self, is_object: bool) -> None:
        self.object = is_object
        self.key: str | None = None
        """In an object: the current member's key once read (None while a key is expected); "" if it cannot be named."""
        self.index = 0
        """In an array: the position of the current item."""


def scan(prefix: bytes, *, longer_than: int = 0) -> tuple[list[Text], str]:
    """The string values of `prefix` (a JSON text, perhaps cut short) longer than `longer_than` bytes, in order,
    with their fields; and the field of the value the text ends in ("" if none can be named)."""
    levels: list[_Level] = []
    texts: list[Text] = []
    for token in _TOKEN.finditer(prefix):
        mark = token.group()[:1]
        level = levels[-1] if levels else None
        if mark == b'"':
            complete = bool(token.group(2))
            if level is not None and level.object and level.key is None:
                if not complete:
                    break  # cut inside a key: the text ends in the object around it
                level.key = _key(token.group(1))
            elif len(token.group(1)) > longer_than:
                texts.append(Text(_field(levels), token.group(1), complete))
        elif mark in b"{[":
            levels.append(_Level(mark == b"{"))
        elif mark in b"}]":
            if levels:
                levels.pop()
        elif mark == b"," and level is not None:
            if level.object:
                level.key = None
            else:
                level.index += 1
    return texts, _field(levels)


def _key(raw: bytes) -> str:
    try:
        key = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    return key if _NAME.fullmatch(key) else ""


def _field(levels: list[_Level]) -> str:
    """The field the innermost level's current value is, as refusals name it ("" if it cannot be named)."""
    if not levels or not levels[0].object:
        return ""  # an event is an object: a line that is not one has no fields to name
    path = ""
    for level in levels:
        if not level.object:
            path += f"[{level.index}]"
        elif level.key is None:
            break  # between members: the field is the object itself
        elif not level.key:
            return ""
        else:
            path = f"{path}.{level.key}" if path else level.key
    return path
