"""Projections: the register and other read models folded from the event log."""
