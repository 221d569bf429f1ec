"""Which dead letters are resolved: sent again successfully (`deadletters retry`), or marked resolved by an operator
(`deadletters resolve`), when, by whom and why.

The dead letters themselves stay on the dead-letter topic, kept forever; a
resolution is kept beside them as a fact of its own, never deleted, in the
register database with the other records that are not derived from the event
log (API keys, disclosures, data keys), so a rebuild of the register leaves it
alone. A resolution names its dead letter by topic, partition, offset and the
letter's rejection time: a dead-letter topic made anew (whose offsets start
again at 0) does not inherit the resolutions of the old one, and those stay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, DateTime, Integer, String, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from events.deadletters import DeadLetter
from projections.tables import Base

MAX_NOTE = 500


class How(StrEnum):
    """How a dead letter was resolved."""

    RETRIED = "RETRIED"
    """Sent to the intake again; the worker decided on it anew (a refusal again is a new dead letter)."""
    MARKED = "MARKED"
    """Marked resolved by an operator, without sending it again (say, corrected and published as a new line)."""


class DeadLetterResolutionRow(Base):
    """A dead letter that is resolved. One row per dead letter: the first resolution stands."""

    __tablename__ = "dead_letter_resolutions"

    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rejected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    """When the letter was refused (UTC, as the letter says): tells it from another at the same offset of a topic made anew."""
    reason_code: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(36))
    how: Mapped[str] = mapped_column(String(16))
    """RETRIED or MARKED (`How`)."""
    note: Mapped[str | None] = mapped_column(String(MAX_NOTE))
    """The operator's reason (MARKED), never personal data."""
    resolved_by: Mapped[str] = mapped_column(String(100))
    """The operating-system user who resolved it."""
    resolved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Resolution:
    """How, when, by whom and why a dead letter was resolved."""

    how: How
    resolved_at: datetime
    resolved_by: str
    note: str | None

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready values."""
        return {"how": self.how.value, "resolved_at": self.resolved_at.isoformat(), "resolved_by": self.resolved_by, "note": self.note}


def resolutions(engine: Engine, topic: str, letters: Iterable[DeadLetter]) -> dict[str, Resolution]:
    """The resolutions of these dead letters of `topic` that are resolved, by the letter's ref (partition:offset)."""
    wanted = {(letter.partition, letter.offset): letter for letter in letters}
    if not wanted:
        return {}
    found: dict[str, Resolution] = {}
    with Session(engine) as session:
        for row in session.scalars(select(DeadLetterResolutionRow).where(DeadLetterResolutionRow.topic == topic)):
            letter = wanted.get((row.partition, row.offset))
            if letter is not None and _same_moment(row.rejected_at, letter.rejected_at):
                found[letter.ref] = Resolution(How(row.how), _utc(row.resolved_at), row.resolved_by, row.note)
    return found


def resolve(
    engine: Engine, topic: str, letters: Iterable[DeadLetter], how: How, *, by: str, note: str | None = None, at: datetime | None = None
) -> dict[str, Resolution]:
    """Record these dead letters of `topic` as resolved (`how`, `by`, `note`), those not resolved already; return the
    resolution of each letter: the one recorded now, or the earlier one that stands."""
    if note is not None and len(note) > MAX_NOTE:
        raise ValueError(f"the note is longer than {MAX_NOTE} characters")
    letters = list(letters)
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    recorded: dict[str, Resolution] = dict(resolutions(engine, topic, letters))
    new = [letter for letter in letters if letter.ref not in recorded]
    rows = [
        DeadLetterResolutionRow(
            topic=topic,
            partition=letter.partition,
            offset=letter.offset,
            rejected_at=_utc(letter.rejected_at),
            reason_code=letter.reason_code,
            event_id=letter.event_id,
            how=how.value,
            note=note,
            resolved_by=by[:100],
            resolved_at=moment,
        )
        for letter in new
    ]
    try:
        with Session(engine) as session, session.begin():
            session.add_all(rows)
    except IntegrityError:
        if not resolutions(engine, topic, new):
            raise
        # Another operator resolved some of them meanwhile: theirs stand, and the others go in again without them.
        return recorded | resolve(engine, topic, new, how, by=by, note=note, at=moment)
    recorded.update({letter.ref: Resolution(how, moment, by[:100], note) for letter in new})
    return recorded


def _utc(moment: datetime) -> datetime:
    """Stored in UTC; SQLite hands it back without a zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _same_moment(stored: datetime, letter: datetime) -> bool:
    """The same rejection time to the millisecond (the dead-letter record's precision)."""
    letter_utc = _utc(letter)
    return abs((_utc(stored) - letter_utc).total_seconds()) < 0.001
