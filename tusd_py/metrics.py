"""Prometheus metrics (``Metrics``): the server's ``Observer`` and the pipeline's ``JobObserver``
over one ``CollectorRegistry`` per app (never the global default registry, so several apps in one
process, as in tests, do not collide). ``GET /metrics`` renders it (``metrics_handler``).

tusd's names are kept where tusd has one, so its dashboards work. tusd's counters without the
``_total`` suffix (``tusd_bytes_received``, ``tusd_uploads_*``) cannot be prometheus-client
``Counter``s (which always append ``_total``): they are exposed as untyped samples with exactly
tusd's names, monotonic like counters (``rate()`` works on them as on tusd's).

Cost on the request path: labelled children are bound once (per method, per status and code)
and the byte count is one addition per PATCH, never per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from pipeline.observe import JobObserver

from .core.observer import Observer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "PUT")
S3_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LOCK_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0)
RATIO_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
LATENCY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class _Untyped(Collector):
    """tusd's ``_total``-less counters: plain numbers, exposed under exactly their names."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}
        self.docs: dict[str, str] = {}

    def add(self, name: str, doc: str) -> list[float]:
        cell = self.values[name] = [0.0]
        self.docs[name] = doc
        return cell

    def collect(self) -> Iterator[Metric]:
        for name, cell in self.values.items():
            metric = Metric(name, self.docs[name], "unknown")
            metric.add_sample(name, {}, cell[0])
            yield metric


class Metrics(Observer, JobObserver):
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._untyped = untyped = _Untyped()
        registry.register(untyped)
        self._bytes = untyped.add("tusd_bytes_received", "Bytes received for uploads (counter semantics).")
        self._created = untyped.add("tusd_uploads_created", "Uploads created (counter semantics).")
        self._finished = untyped.add("tusd_uploads_finished", "Uploads whose last byte was stored (counter semantics).")
        self._terminated = untyped.add("tusd_uploads_terminated", "Uploads terminated by DELETE (counter semantics).")
        self.requests = Counter("tusd_requests_total", "Requests by method.", ["method"], registry=registry)
        self._requests = {m: self.requests.labels(m) for m in METHODS}
        self._other = self.requests.labels("OTHER")  # any other method: bounded label values
        self.errors = Counter(
            "tusd_errors_total", "Error responses by status and tus code.", ["status", "code"], registry=registry
        )
        self._errors: dict[tuple[int, str], Counter] = {}
        self.connections = Gauge("tusd_connections_open", "Open client connections.", registry=registry)
        self.s3 = Histogram(
            "tusd_s3_request_duration_seconds",
            "S3 calls by operation, retries included.",
            ["operation"],
            buckets=S3_BUCKETS,
            registry=registry,
        )
        self._s3: dict[str, Histogram] = {}
        self.in_flight = Gauge(
            "tusd_py_upload_bytes_in_flight",
            "Declared bytes of upload bodies being received (chunked bodies count 0).",
            registry=registry,
        )
        self.bodies = Gauge("tusd_py_upload_bodies_in_flight", "Upload bodies being received.", registry=registry)
        self.lock_wait = Histogram(
            "tusd_py_lock_wait_seconds", "Seconds waited for an upload lock.", buckets=LOCK_BUCKETS, registry=registry
        )
        self.jobs_queued = Gauge(
            "tusd_py_jobs_queued", "Processing jobs waiting in this process's queue.", registry=registry
        )
        self.jobs_running = Gauge("tusd_py_jobs_running", "Processing jobs running in this process.", registry=registry)
        self.jobs = Counter("tusd_py_jobs_total", "Processing job tries by outcome.", ["state"], registry=registry)
        self._jobs = {s: self.jobs.labels(s) for s in ("ready", "failed", "stored", "retry")}
        self.transcode_ratio = Histogram(
            "tusd_py_transcode_seconds_per_source_second",
            "Wall seconds of transcoding per second of source.",
            buckets=RATIO_BUCKETS,
            registry=registry,
        )
        self.ready_latency = Histogram(
            "tusd_py_job_ready_latency_seconds",
            "Seconds from an upload's hand-off (finished) to its media being ready.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.webhooks = Counter(
            "tusd_py_webhook_deliveries_total", "Webhook delivery attempts by outcome.", ["outcome"], registry=registry
        )
        self._webhooks = {outcome: self.webhooks.labels(outcome) for outcome in ("delivered", "failed", "gave_up")}

    # -- Observer (the server) --------------------------------------------------------------
    def request(self, method: str) -> None:
        (self._requests.get(method) or self._other).inc()

    def error(self, status: int, code: str) -> None:
        child = self._errors.get((status, code))
        if child is None:
            child = self._errors[(status, code)] = self.errors.labels(str(status), code)
        child.inc()

    def upload_created(self) -> None:
        self._created[0] += 1

    def upload_finished(self) -> None:
        self._finished[0] += 1

    def upload_terminated(self) -> None:
        self._terminated[0] += 1

    def bytes_received(self, count: int) -> None:
        self._bytes[0] += count

    def body_started(self, declared: int) -> None:
        self.bodies.inc()
        if declared:
            self.in_flight.inc(declared)

    def body_ended(self, declared: int) -> None:
        self.bodies.dec()
        if declared:
            self.in_flight.dec(declared)

    def lock_waited(self, seconds: float) -> None:
        self.lock_wait.observe(seconds)

    def watch_connections(self, count: Callable[[], int]) -> None:
        self.connections.set_function(count)

    def watch_queue(self, count: Callable[[], int]) -> None:
        self.jobs_queued.set_function(count)

    def s3_call(self, operation: str, seconds: float) -> None:
        child = self._s3.get(operation)
        if child is None:
            child = self._s3[operation] = self.s3.labels(operation)
        child.observe(seconds)

    # -- JobObserver (the pipeline) ---------------------------------------------------------
    def job_started(self) -> None:
        self.jobs_running.inc()

    def job_ended(self, state: str) -> None:
        self.jobs_running.dec()
        (self._jobs.get(state) or self.jobs.labels(state)).inc()

    def transcoded(self, seconds: float, source_seconds: float) -> None:
        if source_seconds > 0:
            self.transcode_ratio.observe(seconds / source_seconds)

    def ready_after(self, seconds: float) -> None:
        self.ready_latency.observe(max(seconds, 0.0))

    # -- webhooks (the dispatcher) --------------------------------------------------------------
    def webhook_attempt(self, outcome: str) -> None:
        """One delivery attempt ended: ``delivered``, ``failed`` (tried again later) or ``gave_up``."""
        self._webhooks[outcome].inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


METRICS = web.AppKey("tusd_py.metrics", Metrics)


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus text format 0.0.4."""
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
