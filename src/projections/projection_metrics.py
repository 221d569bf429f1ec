"""The projections' Prometheus metrics. Labels name projections, partitions and reason codes, never a customer."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_APPLIED = Counter("registervard_projection_events_applied_total", "Log records applied by a projection.", ["projection"])
QUARANTINED = Counter(
    "registervard_projection_quarantined_total", "Log records a projection skipped and quarantined, by reason.", ["projection", "code"]
)
LAG = Gauge("registervard_projection_lag_events", "Log records not yet applied, per partition of the log.", ["projection", "partition"])
BATCH_SECONDS = Histogram("registervard_projection_batch_seconds", "Time to apply one batch, in one transaction.", ["projection"])
RETRIES = Counter("registervard_projection_retries_total", "Attempts repeated after a database or broker fault.", ["projection"])
