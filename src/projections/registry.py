"""Every projection the service runs, by name."""

from __future__ import annotations

from events.settings import Settings
from projections.audit import AuditProjection
from projections.register import RegisterProjection
from projections.runner import Projection


def projections(settings: Settings, only: list[str] | None = None) -> list[Projection]:
    """The projections to run: all of them, or those named in `only`."""
    every: list[Projection] = [RegisterProjection(settings.lookup_key), AuditProjection()]
    available = {p.name: p for p in every}
    unknown = sorted(set(only or ()) - set(available))
    if unknown:
        raise ValueError(f"unknown projection(s) {', '.join(unknown)}; choose from {', '.join(available)}")
    return [p for name, p in available.items() if not only or name in only]
