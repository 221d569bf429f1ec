"""A refusal: why something may not enter the register, as a code, a field and a reason.

One type for every refusal, wherever it is decided: a line of a JSON Lines
file or a row of an imported register that breaks a rule (`events.validation`,
`events.jsonlines`, `registervard.importing`), bytes that are no event
(`events.codec`), an intake message or an event that contradicts what the
worker knows (`processors.intake`, `processors.lifecycle`), and the API's 422
bodies. Code that gives up raises it; code that returns a verdict returns it.

Its text, `field: reason` (the reason alone when no field applies), is what
people read: in a publish report, a dead letter, an API error. A reason names
what is wrong, never the personal data itself.
"""

from __future__ import annotations

from typing import Any


class Refusal(ValueError):
    """Something refused: `code` to branch on (stable, e.g. INVALID_FIELD, UNDECODABLE, UNKNOWN_CUSTOMER),
    `field` it is about ("" when none, or when the reason names it in its own words), `reason` in words."""

    def __init__(self, field: str, reason: str, code: str = "INVALID_FIELD") -> None:
        self.field = field
        self.reason = reason
        self.code = code
        super().__init__(f"{field}: {reason}" if field else reason)

    def within(self, name: str) -> Refusal:
        """The same refusal, seen from the record that holds field `name`."""
        if not self.field:
            path = name
        elif self.field.startswith("["):
            path = f"{name}{self.field}"
        else:
            path = f"{name}.{self.field}"
        return Refusal(path, self.reason, self.code)

    # A refusal is a value: two with the same code, field and reason are the same verdict.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Refusal):
            return NotImplemented
        return (self.code, self.field, self.reason) == (other.code, other.field, other.reason)

    def __hash__(self) -> int:
        return hash((self.code, self.field, self.reason))

    def __repr__(self) -> str:
        return f"Refusal(code={self.code!r}, field={self.field!r}, reason={self.reason!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Refusal, (self.field, self.reason, self.code))
