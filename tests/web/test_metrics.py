"""GET /metrics: tusd's metric names, each moving when its event happens (issue 16)."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .helpers import OCTET, TusCase, create, patch

TUSD_NAMES = (
    "tusd_requests_total",
    "tusd_errors_total",
    "tusd_bytes_received",
    "tusd_uploads_created",
    "tusd_uploads_finished",
    "tusd_uploads_terminated",
    "tusd_connections_open",
    "tusd_s3_request_duration_seconds",
)
OWN_NAMES = (
    "tusd_py_upload_bytes_in_flight",
    "tusd_py_upload_bodies_in_flight",
    "tusd_py_lock_wait_seconds",
    "tusd_py_jobs_queued",
    "tusd_py_jobs_running",
    "tusd_py_jobs_total",
    "tusd_py_transcode_seconds_per_source_second",
    "tusd_py_job_ready_latency_seconds",
)


async def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_every_metric_name_is_exposed(client: Any) -> None:
    response = await client.get("/metrics")
    text = await response.text()
    for name in TUSD_NAMES + OWN_NAMES:
        assert re.search(rf"^# TYPE {name}(_total)? ", text, re.M), name
    # tusd's counters without _total keep exactly tusd's sample names
    for name in ("tusd_bytes_received", "tusd_uploads_created", "tusd_uploads_finished", "tusd_uploads_terminated"):
        assert re.search(rf"^{name} \d", text, re.M), name


async def test_metrics_is_outside_the_tus_base_path(make_client: Any) -> None:
    client = await make_client(base_path="/")
    assert (await client.get("/metrics")).status == 200


async def test_counters_move_with_their_events(client: Any) -> None:
    before = await scrape(client)
    path = await create(client, 10)
    assert (await patch(client, path, 0, b"01234")).status == 204
    await TusCase(  # a 409: the offset does not match
        "PATCH", path, headers={"Content-Type": OCTET, "Upload-Offset": "0"}, body=b"x", status=409
    ).run(client)
    assert (await patch(client, path, 5, b"56789")).status == 204
    other = await create(client, 3)
    await TusCase("DELETE", other, status=204).run(client)
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("tusd_requests_total", method="POST") == 2
    assert moved("tusd_requests_total", method="PATCH") == 3
    assert moved("tusd_requests_total", method="DELETE") == 1
    assert moved("tusd_errors_total", status="409", code="ERR_MISMATCHED_OFFSET") == 1
    assert moved("tusd_bytes_received") == 10
    assert moved("tusd_uploads_created") == 2
    assert moved("tusd_uploads_finished") == 1
    assert moved("tusd_uploads_terminated") == 1
    assert moved("tusd_py_lock_wait_seconds_count") >= 4  # 3 PATCH + 1 DELETE took the lock
    assert value(after, "tusd_py_upload_bodies_in_flight") == 0
    assert value(after, "tusd_py_upload_bytes_in_flight") == 0


async def test_a_404_and_an_odd_method_are_counted_with_bounded_labels(client: Any) -> None:
    before = await scrape(client)
    await TusCase("HEAD", "/files/nope", status=404).run(client)
    assert (await client.request("PROPFIND", "/files/")).status >= 400
    after = await scrape(client)
    assert (
        value(after, "tusd_errors_total", status="404", code="ERR_UPLOAD_NOT_FOUND")
        - value(before, "tusd_errors_total", status="404", code="ERR_UPLOAD_NOT_FOUND")
        == 1
    )
    assert (
        value(after, "tusd_requests_total", method="OTHER") == value(before, "tusd_requests_total", method="OTHER") + 1
    )
    assert not any(labels and ("method", "PROPFIND") in labels for _, labels in after)


async def test_two_apps_do_not_share_a_registry(make_client: Any) -> None:
    one, two = await make_client(), await make_client()
    await create(one, 5)
    assert value(await scrape(one), "tusd_uploads_created") == 1
    assert value(await scrape(two), "tusd_uploads_created") == 0
