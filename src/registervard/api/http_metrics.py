"""The API's Prometheus metrics, served at GET /metrics without a key (like /health).

Counts and latencies only. The labels are the route TEMPLATE
(`/customers/{customer_id}`, or `unmatched` when no route matched), the method
(one of the standard ones, else `OTHER`) and the status: never a concrete path,
a query, a key or anything else a caller sends, so no label holds personal data
and a caller cannot make up new series.

Each app has its own registry (with the process collectors), so that several
apps in one process, as in tests, do not share counters.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, PlatformCollector, ProcessCollector, generate_latest

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNMATCHED = "unmatched"


class ApiMetrics:
    """The metric objects of one app, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        labels = ["method", "route", "status"]
        self.requests = Counter("registervard_api_requests", "HTTP requests answered, by route template, method and status.", labels, registry=self.registry)
        self.latency = Histogram(
            "registervard_api_request_duration_seconds", "Time to answer a request, by route template, method and status.", labels, registry=self.registry
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        labels = (method if method in METHODS else "OTHER", route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


def install_metrics(app: FastAPI) -> ApiMetrics:
    """Add GET /metrics to `app`; the request log middleware (`http_app.RequestLog`) observes each request."""
    metrics = ApiMetrics()

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format."}},
    )
    def prometheus_metrics() -> Response:
        """Request counts and latencies by route template, method and status, and the process' own metrics.
        Counts only, no personal data. Needs no key, like /health: restrict it at the network if it should not be public."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return metrics
