"""Request ids, JSON access logs and Prometheus metrics, as one middleware."""

from __future__ import annotations

import json
import logging
import time
import uuid

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from serving.api.deps import require
from serving.api.problems import problem_response
from serving.verdict import VerdictState

log = logging.getLogger("secondlook.api")


class Metrics:
    """The service's metrics, in a registry of its own (several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "secondlook_request_seconds",
            "Request latency",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.inference = Histogram(
            "secondlook_inference_seconds", "Both reviewers on one item's photos", registry=self.registry
        )
        self.verdicts = Counter(
            "secondlook_verdicts_total", "AI verdicts given", ["state"], registry=self.registry
        )

    def observe_appraisal(self, state: VerdictState, inference_ms: float) -> None:
        """One appraisal judged: its inference time and its verdict."""
        self.inference.observe(inference_ms / 1000)
        self.verdicts.labels(state.value).inc()


def install(app: FastAPI) -> Metrics:
    metrics = Metrics()

    @app.middleware("http")
    async def observe(request: Request, call_next):
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # a bug: answered here, so that it too gets a request id, a log line and a metric
            log.exception(
                "unhandled error in %s %s (request %s)", request.method, request.url.path, request_id
            )
            response = problem_response(request, 500, "internal error; it has been logged", "internal-error")
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - started
        metrics.latency.labels(request.method, template, str(response.status_code)).observe(elapsed)
        response.headers["x-request-id"] = request_id
        log.info(
            json.dumps(
                {
                    "request_id": request_id,
                    "method": request.method,
                    "route": template,
                    "status": response.status_code,
                    "ms": round(1000 * elapsed, 1),
                }
            )
        )
        return response

    # Verdict counts are business figures: a key is needed (give Prometheus a `monitor` key).
    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(require("monitor"))])
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
