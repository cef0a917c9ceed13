"""The API in front of the real Kafka: accepted records read back, rejections dead-lettered,
and the topics command."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from ingestion_api.app import create_app
from ingestion_api.canonical import CANONICAL_TRIPLE
from ingestion_api.cli import main
from ingestion_api.dlq import parse_dead_letter
from ingestion_api.topics import describe
from pinterest_common.kafka_admin import PLATFORM_TOPICS
from pinterest_common.kafka_io import end_offsets, read_to_end
from pinterest_common.records import RecordMetadata, parse_received_at
from pinterest_common.schema import DLQ_TOPIC, EVENT_TYPES, SCHEMA_VERSION

pytestmark = pytest.mark.integration


def wait_until_healthy(client, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, "the API did not reach Kafka"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def api(stack_settings):
    app = create_app(stack_settings)
    client = app.test_client()
    wait_until_healthy(client)
    yield client
    app.extensions["publisher"].close()


def read_at(settings, topic: str, partition: int, offset: int):
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False, consumer_timeout_ms=15_000
    )
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        return next(iter(consumer))
    finally:
        consumer.close()


def post(client, path: str, body: bytes, content_type: str = "application/json"):
    return client.post(path, data=body, headers={"Content-Type": content_type})


@pytest.mark.parametrize("name", list(CANONICAL_TRIPLE))
def test_the_canonical_triple_reads_back_with_an_identical_value_and_its_metadata(api, stack_settings, name):
    body = json.dumps(CANONICAL_TRIPLE[name]).encode()
    answer = post(api, f"/{name}/", body)
    assert answer.status_code == 202, answer.json

    record = read_at(stack_settings, answer.json["topic"], answer.json["partition"], answer.json["offset"])
    assert record.topic == EVENT_TYPES[name].topic
    assert record.value == body
    assert json.loads(record.value) == CANONICAL_TRIPLE[name]
    assert record.key == b"fbe53c66-3442-4773-b19e-d3ec6f54dddf" if name == "pin" else b"7528"
    metadata = RecordMetadata.from_headers(record.headers)
    assert metadata.event_id == answer.json["event_id"]
    assert (metadata.event_type, metadata.schema_version) == (name, SCHEMA_VERSION)
    received = parse_received_at(metadata.received_at)
    assert timedelta(0) <= datetime.now(UTC) - received < timedelta(minutes=1)


def _batch_of(event: dict, count: int) -> bytes:
    return json.dumps([event] * count).encode()


BAD_GEO = {"ind": "x", "timestamp": "28/08/2020", "latitude": "north", "longitude": 1, "country": "Albania"}
# (path, body, content type, status, reason, a problem that must be named)
INVALID_CASES = {
    "malformed JSON": (
        "/pin/",
        b'{"index": 7528, "title": ',
        "application/json",
        400,
        "malformed_json",
        "malformed JSON: Expecting value",
    ),
    "missing field": (
        "/user/",
        json.dumps({k: v for k, v in CANONICAL_TRIPLE["user"].items() if k != "age"}).encode(),
        "application/json",
        422,
        "schema",
        "missing field 'age'",
    ),
    "wrong type": (
        "/geo/",
        json.dumps(BAD_GEO).encode(),
        "application/json",
        422,
        "schema",
        "'latitude' must be a number or a numeric string",
    ),
    "unknown field": (
        "/pin/",
        json.dumps({**CANONICAL_TRIPLE["pin"], "clicks": 3}).encode(),
        "application/json",
        422,
        "schema",
        "unknown field 'clicks'",
    ),
    "not an object": (
        "/user/",
        b'["Abigail", "Ali"]',
        "application/json",
        422,
        "schema",
        "a user event must be a JSON object, got list",
    ),
    "not JSON": (
        "/geo/",
        json.dumps(CANONICAL_TRIPLE["geo"]).encode(),
        "text/plain",
        415,
        "unsupported_media_type",
        "Content-Type must be application/json",
    ),
    "too large": (
        "/pin/",
        b'{"title": "' + b"x" * 600_000 + b'"}',
        "application/json",
        413,
        "too_large",
        "exceeds the limit of 524288 bytes",
    ),
    "batch too long": (
        "/geo/batch",
        _batch_of(CANONICAL_TRIPLE["geo"], 501),
        "application/json",
        413,
        "too_large",
        "a batch holds at most 500 events, got 501",
    ),
}


@pytest.mark.parametrize("case", list(INVALID_CASES))
def test_every_invalid_case_gets_its_status_a_readable_error_and_a_dead_letter(api, stack_settings, case):
    path, body, content_type, status, reason, problem = INVALID_CASES[case]
    start = end_offsets(stack_settings.kafka, (DLQ_TOPIC,))
    answer = post(api, path, body, content_type)

    assert answer.status_code == status
    assert answer.json["status"] == status and answer.json["error"]
    assert any(problem in p for p in answer.json["problems"]), answer.json["problems"]
    if case == "wrong type":  # every problem is named, not only the first
        assert len(answer.json["problems"]) == 3
    letters = [parse_dead_letter(r.headers, r.value) for r in read_to_end(stack_settings.kafka, start)]
    [letter] = [d for d in letters if d["event_id"] == answer.json["dead_letter_id"]]
    assert (letter["status"], letter["reason"], letter["endpoint"]) == (status, reason, path)
    assert letter["problems"] == answer.json["problems"]
    assert letter["event_type"] == path.strip("/").split("/")[0]
    if case == "too large":
        assert letter["truncated"] and letter["body"] == body[: stack_settings.api_max_bytes]
    else:
        assert not letter["truncated"] and letter["body"] == body


def test_an_invalid_event_in_a_batch_is_dead_lettered_alone_and_the_rest_accepted(api, stack_settings):
    start = end_offsets(stack_settings.kafka, PLATFORM_TOPICS)
    good = json.dumps(CANONICAL_TRIPLE["geo"])
    answer = post(api, "/geo/batch", f"[{good}, {json.dumps(BAD_GEO)}]".encode())

    assert answer.status_code == 207
    accepted, rejected = answer.json["results"]
    assert (accepted["status"], rejected["status"]) == (202, 422)
    records = read_to_end(stack_settings.kafka, start)
    by_id = {RecordMetadata.from_headers(r.headers).event_id: r for r in records}
    assert by_id[accepted["event_id"]].value == good.encode()
    letter = parse_dead_letter(by_id[rejected["dead_letter_id"]].headers, by_id[rejected["dead_letter_id"]].value)
    assert (letter["position"], letter["body"], letter["reason"]) == (1, json.dumps(BAD_GEO).encode(), "schema")


def test_healthz_reports_kafka_reachable(api):
    answer = api.get("/healthz")
    assert answer.status_code == 200 and answer.json["kafka"] == "reachable"


def test_the_topics_command_shows_partitions_offsets_and_consumer_group_lag(api, stack_settings, capsys):
    assert post(api, "/geo/", json.dumps(CANONICAL_TRIPLE["geo"]).encode()).status_code == 202
    group = f"test-lag-{uuid.uuid4().hex[:8]}"
    latest = end_offsets(stack_settings.kafka, ("pinterest.geo",))
    committed = {tp: max(0, offset - 1) for tp, offset in latest.items()}  # one record behind where there are any
    consumer = KafkaConsumer(
        bootstrap_servers=stack_settings.kafka_bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    try:
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in committed.items()})
    finally:
        consumer.close()

    topics, lags = describe(stack_settings)
    assert [t.name for t in topics] == ["pinterest.pin", "pinterest.geo", "pinterest.user", "pinterest.dlq"]
    assert all(len(t.partitions) == stack_settings.topic_partitions for t in topics)
    [lag] = [g for g in lags if g.group == group]
    assert lag.topic == "pinterest.geo"
    assert lag.lag == sum(latest[tp] - committed[tp] for tp in latest) >= 1

    assert main(["topics"]) == 0
    out = capsys.readouterr().out
    assert "pinterest.dlq" in out and group in out
    geo_total = next(line for line in out.splitlines() if line.startswith("pinterest.geo") and " all " in line)
    assert geo_total.split()[-1] == str(sum(p.messages for p in topics[1].partitions))
