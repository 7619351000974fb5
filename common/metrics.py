"""Prometheus metrics for every process: request counts and latencies, and `/metrics`.

A service adds its own figures in two steps (see README, Operations):

    from common.metrics import Gauge, on_scrape
    BACKLOG = Gauge("chiiki_webhook_backlog", "Webhook deliveries waiting", ["provider"])
    async def refresh(app): BACKLOG.labels(provider="...").set(await count(app.state.db))
    on_scrape(app, refresh)      # run before each /metrics answer

Metrics live in prometheus_client's default registry; labels are route templates, never raw paths, so that
ids in paths do not create a series each. A service run with `--workers N` (common/serve.py) sets
PROMETHEUS_MULTIPROC_DIR before its workers start: each worker then keeps its figures in files there, and
/metrics, whichever worker answers it, adds up every worker's. Gauges, which are set from the database at a
scrape, then report the most recent value written by any worker.
"""

import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import prometheus_client
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import Scope

__all__ = ["Counter", "Gauge", "Histogram", "metrics_router", "on_scrape", "UPSTREAM_ERRORS"]

REQUESTS = Counter("chiiki_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "chiiki_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
UPSTREAM_ERRORS = Counter(
    "chiiki_gateway_upstream_errors_total", "Gateway calls to a service that failed", ["upstream", "kind"]
)
RATE_LIMITED = Counter("chiiki_gateway_rate_limited_total", "Requests refused with 429", ["kind"])

ScrapeHook = Callable[[FastAPI], Awaitable[None]]
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


class Gauge(prometheus_client.Gauge):
    """A gauge that, with several workers, reports the value last set by any of them (not one series each)."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (), **kwargs: Any):
        kwargs.setdefault("multiprocess_mode", "mostrecent")
        super().__init__(name, documentation, labelnames, **kwargs)


def _registry() -> CollectorRegistry:
    """This process's figures; with several workers, all workers' figures added up."""
    if not os.environ.get(MULTIPROCESS_DIRECTORY):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
    return registry


def route_label(scope: Scope) -> str:
    """The matched route's template; the gateway's catch-all names the service's first path segment."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template == "/{path:path}":
        segment = scope["path"].lstrip("/").split("/", 1)[0]
        return f"/{segment}/…" if segment else "/"
    return template or "unmatched"


def on_scrape(app: FastAPI, hook: ScrapeHook) -> None:
    """Run `hook(app)` before each /metrics answer, to set gauges that are read from the database."""
    if not hasattr(app.state, "scrape_hooks"):
        app.state.scrape_hooks = []
    app.state.scrape_hooks.append(hook)


def metrics_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics of this process",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def get_metrics(request: Request) -> Response:
        """Request counts and latencies by route template, and the figures the service adds, in the Prometheus
        text format."""
        for hook in getattr(request.app.state, "scrape_hooks", []):
            await hook(request.app)
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)

    return router
