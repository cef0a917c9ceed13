"""Kafka unreachable: 503 within the bound, never a 2xx, and acceptance again once Kafka is back,
without restarting the API. Uses its own Kafka (own state directory and ports), never the
session's."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kafka import TopicPartition

from devstack.process import free_ports
from devstack.services import Kafka
from ingestion_api.app import create_app
from ingestion_api.canonical import CANONICAL_TRIPLE
from pinterest_common.config import Settings, get_settings
from pinterest_common.kafka_admin import EVENT_TOPICS
from pinterest_common.kafka_io import read_to_end
from pinterest_common.records import RecordMetadata

pytestmark = pytest.mark.integration

OVERHEAD_S = 1.0  # allowed on top of PINTEREST_API_KAFKA_TIMEOUT_S on a busy 2-core machine


@pytest.fixture
def own_kafka():
    base = get_settings().home / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    state_dir = Path(tempfile.mkdtemp(prefix="test-outage-", dir=base))
    port, controller_port = free_ports(2)
    settings = Settings.from_env(
        {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            "PINTEREST_KAFKA_CONTROLLER_PORT": str(controller_port),
        }
    )
    kafka = Kafka(settings, state_dir)
    try:
        yield settings, kafka
    finally:
        kafka.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


def timed_post(client, path: str, body: bytes):
    started = time.monotonic()
    answer = client.post(path, data=body, headers={"Content-Type": "application/json"})
    return answer, time.monotonic() - started


def accept_again(client, body: bytes, timeout_s: float = 120.0) -> str:
    """Post until the API answers 202 (every other answer must be 503); the event_id."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer, _ = timed_post(client, "/pin/", body)
        if answer.status_code == 202:
            return answer.json["event_id"]
        assert answer.status_code == 503
        time.sleep(0.5)
    raise AssertionError("the API did not accept again after Kafka came back")


def assert_unavailable_within_bound(app, bound_s: float) -> None:
    """Concurrent singles, a batch, an invalid event and /healthz: none 2xx, none slower than the bound."""
    pin, geo = json.dumps(CANONICAL_TRIPLE["pin"]).encode(), json.dumps(CANONICAL_TRIPLE["geo"])
    requests = [("/pin/", pin)] * 4 + [("/geo/batch", f"[{geo},{geo}]".encode()), ("/user/", b'{"ind": 1}')]
    with ThreadPoolExecutor(len(requests)) as pool:
        results = list(pool.map(lambda r: timed_post(app.test_client(), *r), requests))
    client = app.test_client()
    for (path, _), (answer, elapsed) in zip(requests, results):
        assert elapsed <= bound_s + OVERHEAD_S, (path, elapsed)
        if path == "/user/":  # invalid: still 422, but the dead letter could not be written
            assert answer.status_code == 422 and answer.json["dead_letter_id"] is None
        else:
            assert answer.status_code == 503 and int(answer.headers["Retry-After"]) >= 1
            assert all(r["status"] == 503 for r in answer.json.get("results", []))
    started = time.monotonic()
    assert client.get("/healthz").status_code == 503
    assert time.monotonic() - started <= bound_s + OVERHEAD_S


def test_kafka_down_means_503_within_the_bound_then_acceptance_without_a_restart(own_kafka):
    settings, kafka = own_kafka
    bound = settings.api_kafka_timeout_s
    assert bound == 5.0  # the default bound is what is shown here
    app = create_app(settings)  # Kafka not started yet: the API must start anyway
    client = app.test_client()
    body = json.dumps(CANONICAL_TRIPLE["pin"]).encode()
    try:
        assert_unavailable_within_bound(app, bound)

        kafka.start()
        accepted = [accept_again(client, body)]

        kafka.stop()
        assert_unavailable_within_bound(app, bound)

        kafka.start()
        accepted.append(accept_again(client, body))
        answer, _ = timed_post(client, "/pin/", body)
        assert answer.status_code == 202
        accepted.append(answer.json["event_id"])
    finally:
        app.extensions["publisher"].close()

    # Exactly the acknowledged events are in Kafka: nothing answered 503 landed later.
    start = {TopicPartition(topic, p): 0 for topic in EVENT_TOPICS for p in range(settings.topic_partitions)}
    records = read_to_end(settings.kafka, start)
    assert sorted(RecordMetadata.from_headers(r.headers).event_id for r in records) == sorted(accepted)
    assert all(r.value == body for r in records)
