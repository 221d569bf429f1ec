"""The audit chain's verifications: when each ran, who asked, and what it found, so the console can say when the
chain was last checked and how that went.

Kept in a small JSON file in the state directory (`REGISTERVARD_STATE`, `audit-verifications.json`), the last
`KEEP` runs per register database (a database is named by a hash of its URL without its password, so registers that
share a state directory keep apart). Not in the register database: its schema changes only through the migrations,
and a verification is a note about the trail, not part of it. Written whole to a new file and swapped in, so a
reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from projections.audit import VerifyResult

KEEP = 20
"""Runs kept per database."""
DATABASES = 50
"""Databases kept (those verified most lately): test runs make a database of their own each time."""
FILE_NAME = "audit-verifications.json"

_lock = threading.Lock()


@dataclass(frozen=True)
class AuditRun:
    """One verification of the chain: when, by whom, how long it took, and `projections.audit.VerifyResult`'s findings."""

    ran_at: datetime
    by: str
    seconds: float
    entries: int
    intact: bool
    broken_seq: int | None = None
    problem: str | None = None
    reason: str | None = None

    @classmethod
    def of(cls, result: VerifyResult, *, ran_at: datetime, by: str, seconds: float) -> AuditRun:
        """The run that found `result`."""
        return cls(ran_at, by, round(seconds, 3), result.entries, result.intact, result.broken_seq, result.problem, result.reason)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ran_at": self.ran_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditRun:
        return cls(**{**data, "ran_at": datetime.fromisoformat(data["ran_at"])})


def database_name(database_url: str) -> str:
    """A name for the register database that does not carry its password: a hash of its URL without it."""
    shown = make_url(database_url).render_as_string(hide_password=True)
    return hashlib.sha256(shown.encode()).hexdigest()[:16]


class AuditRuns:
    """The verifications of one register's audit chain, kept in `path`."""

    def __init__(self, path: Path, database_url: str) -> None:
        self.path = path
        self.database = database_name(database_url)

    def recent(self) -> list[AuditRun]:
        """The runs kept, the latest first."""
        return [AuditRun.from_json(run) for run in self._read().get(self.database, [])]

    def last(self) -> AuditRun | None:
        """The latest run, or None when the chain was never verified here."""
        runs = self.recent()
        return runs[0] if runs else None

    def record(self, run: AuditRun) -> None:
        """Keep `run` as the latest."""
        with _lock:
            everything = self._read()
            runs = [run.as_json(), *everything.pop(self.database, [])][:KEEP]
            everything = {self.database: runs, **dict(list(everything.items())[: DATABASES - 1])}  # the latest verified first
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".audit-", suffix=".json")
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(everything, file, indent=1)
            os.replace(temporary, self.path)

    def _read(self) -> dict[str, list[dict[str, Any]]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):  # never run, or a file someone damaged: start afresh
            return {}
        return data if isinstance(data, dict) else {}
