"""The table each fault scenario records: what was published, lost, applied twice, how long recovery took, restarts.

Tables are printed by the scenario (shown by pytest when it fails) and again in
pytest's terminal summary (conftest.py), so a passing run shows them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RECORDED: list[FaultReport] = []
"""Every report of this session, in the order the scenarios ran."""


@dataclass
class FaultReport:
    """One scenario's figures."""

    scenario: str
    database: str
    published: int = 0
    in_log: int = 0
    dead_letters: int = 0
    lost: int = 0
    applied_twice: int = 0
    audit_problems: int = 0
    register_equals_rebuild: str = "not checked"
    recovery_seconds: float | None = None
    """From the end of the fault until the register had caught up with a settled log; None: it never did."""
    restarts: dict[str, str] = field(default_factory=dict)
    """Per supervised service: restarts and exit codes."""
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The report as a small two-column table."""
        recovery = "never (stuck)" if self.recovery_seconds is None else f"{self.recovery_seconds:.1f} s"
        rows = [
            ("events published", str(self.published)),
            ("published ids in the log", str(self.in_log)),
            ("dead letters", str(self.dead_letters)),
            ("lost (in neither)", str(self.lost)),
            ("applied twice", str(self.applied_twice)),
            ("audit trail problems", str(self.audit_problems)),
            ("register equals a rebuild", self.register_equals_rebuild),
            ("time to recover", recovery),
            *((f"restarts: {name}", summary) for name, summary in self.restarts.items()),
            *(("note", note) for note in self.notes),
        ]
        width = max(len(label) for label, _ in rows)
        title = f"fault scenario: {self.scenario} (register on {self.database})"
        lines = [title, "-" * len(title), *(f"{label.ljust(width)}  {value}" for label, value in rows)]
        return "\n".join(lines)


def record(report: FaultReport) -> None:
    """Keep the report for the session summary and print it."""
    RECORDED.append(report)
    print("\n" + report.table())
