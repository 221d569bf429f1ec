"""The worker's Prometheus metrics. Labels name partitions, event types and reason codes, never a customer."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ADMITTED = Counter("registervard_worker_events_admitted_total", "Intake events admitted to the log.", ["event_type"])
DERIVED = Counter("registervard_worker_events_derived_total", "Events the worker derived and appended (consequences, expiries).", ["event_type"])
DEAD_LETTERED = Counter("registervard_worker_dead_letters_total", "Intake messages sent to the dead-letter topic, by reason.", ["code"])
DUPLICATES = Counter("registervard_worker_duplicates_total", "Intake events already in the log, dropped.")
QUARANTINED = Counter(
    "registervard_worker_quarantined_total", "Log records the worker could not open while rebuilding its state, by reason.", ["code"]
)
INTAKE_LAG = Gauge("registervard_worker_intake_lag_events", "Intake messages not yet handled, per partition.", ["partition"])
BATCH_SECONDS = Histogram("registervard_worker_batch_seconds", "Time to handle one intake batch until the log has it.")
CUSTOMERS = Gauge("registervard_worker_customers", "Customers the worker knows.")
