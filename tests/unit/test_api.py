"""The API with a fake publisher: answers, Kafka records and dead letters, without services."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from ingestion_api.app import create_app
from ingestion_api.canonical import CANONICAL_TRIPLE
from ingestion_api.dlq import parse_dead_letter
from ingestion_api.kafka_producer import Delivery, OutgoingRecord
from pinterest_common.config import LOCAL_SECRETS, Settings
from pinterest_common.records import RecordMetadata, parse_received_at
from pinterest_common.schema import DLQ_TOPIC, EVENT_TYPES, SCHEMA_VERSION


class FakePublisher:
    """Acknowledges every record (or fails the next `failures` ones), keeping what was sent."""

    timeout_s = 0.1

    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []
        self.failures = 0
        self.up = True

    def publish(self, records: list[OutgoingRecord]) -> list[Delivery]:
        deliveries = []
        for record in records:
            if self.failures > 0 or not self.up:
                self.failures -= 1
                deliveries.append(Delivery(error="Kafka did not acknowledge the record within 0.1s"))
            else:
                self.records.append(record)
                deliveries.append(Delivery(partition=0, offset=len(self.records) - 1))
        return deliveries

    def reachable(self) -> bool:
        return self.up

    def problem(self) -> str:
        return "Kafka at 127.0.0.1:9 is not reachable as PLAINTEXT"

    def on(self, topic: str) -> list[OutgoingRecord]:
        return [r for r in self.records if r.topic == topic]


def make_settings(home: Path | str = "/nonexistent-home", **overrides: str) -> Settings:
    """Settings without services. Every local secret is given, so none is generated into
    `home`/secrets.env; tests that have a tmp_path pass it as `home`."""
    return Settings.from_env({"PINTEREST_HOME": str(home), **{name: "x" for name in LOCAL_SECRETS}, **overrides})


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def client(publisher, tmp_path):
    return create_app(
        make_settings(tmp_path, PINTEREST_API_BATCH_MAX_EVENTS="3", PINTEREST_API_MAX_BYTES="4096"), publisher
    ).test_client()


def post(client, path: str, body: bytes, content_type: str | None = "application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post(path, data=body, headers=headers)


def dead_letters(publisher: FakePublisher) -> list[dict]:
    return [parse_dead_letter(r.headers, r.value) for r in publisher.on(DLQ_TOPIC)]


@pytest.mark.parametrize("name", ["pin", "geo", "user"])
def test_the_canonical_dirty_triple_is_accepted_with_its_exact_bytes(client, publisher, name):
    body = json.dumps(CANONICAL_TRIPLE[name]).encode()
    answer = post(client, f"/{name}/", body)

    assert answer.status_code == 202
    event_id = answer.json["event_id"]
    assert uuid.UUID(event_id).version == 4
    [record] = publisher.records
    assert record.topic == EVENT_TYPES[name].topic
    assert record.value == body
    assert record.key == str(CANONICAL_TRIPLE[name][EVENT_TYPES[name].key_field]).encode()
    metadata = RecordMetadata.from_headers(record.headers)
    assert (metadata.event_id, metadata.event_type, metadata.schema_version) == (event_id, name, SCHEMA_VERSION)
    assert parse_received_at(metadata.received_at).tzinfo is not None
    assert answer.json["received_at"] == metadata.received_at


def test_numbers_may_arrive_as_numeric_strings_and_dates_in_any_of_three_formats(client, publisher):
    for timestamp in ("2020-08-28 03:52:47", "2020-08-28T03:52:47", "2020:08:28 03:52:47"):
        geo = {
            "ind": "7528",
            "timestamp": timestamp,
            "latitude": "-89.9787",
            "longitude": -173,
            "country": "Cote d'Ivoire",
        }
        assert post(client, "/geo/", json.dumps(geo).encode()).status_code == 202
    pin = {**CANONICAL_TRIPLE["pin"], "index": "12", "downloaded": "1", "follower_count": "5k"}
    assert post(client, "/pin/", json.dumps(pin).encode()).status_code == 202
    assert len(publisher.records) == 4


def test_the_value_keeps_the_bytes_as_sent_including_escapes_and_spacing(client, publisher):
    body = (
        '  {"ind" : 1, "first_name": "Zo\\u00eb", "last_name": "\u00c5sa 🎨",\n "age": "20",'
        ' "date_joined": "2015-10-24 11:23:51"}  '
    ).encode()
    assert post(client, "/user/", body).status_code == 202
    assert publisher.records[0].value == body.strip()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason", "problem"),
    [
        (b'{"ind": 1, "first_name": ', "application/json", 400, "malformed_json", "malformed JSON"),
        (b'{"ind": NaN}', "application/json", 400, "malformed_json", "NaN is not valid JSON"),
        (b'{"ind": 1, "ind": 2}', "application/json", 400, "malformed_json", "repeated field(s): ind"),
        (b"\xff\xfe{}", "application/json", 400, "malformed_json", "not UTF-8"),
        (b"", "application/json", 400, "malformed_json", "the body is empty"),
        (b"[1, 2]", "application/json", 422, "schema", "a user event must be a JSON object, got list"),
        (b'"Abigail"', "application/json", 422, "schema", "must be a JSON object, got str"),
        (
            json.dumps(CANONICAL_TRIPLE["user"]).encode(),
            "text/plain",
            415,
            "unsupported_media_type",
            "Content-Type must be application/json, got text/plain",
        ),
        (json.dumps(CANONICAL_TRIPLE["user"]).encode(), None, 415, "unsupported_media_type", "got none"),
        (b'{"a": "' + b"x" * 5000 + b'"}', "application/json", 413, "too_large", "exceeds the limit of 4096 bytes"),
    ],
)
def test_a_bad_body_is_answered_with_its_problem_and_dead_lettered(
    client, publisher, body, content_type, status, reason, problem
):
    answer = post(client, "/user/", body, content_type)

    assert answer.status_code == status
    assert answer.is_json and any(problem in p for p in answer.json["problems"])
    assert not publisher.on("pinterest.user")
    [letter] = dead_letters(publisher)
    assert letter["event_id"] == answer.json["dead_letter_id"]
    assert (letter["status"], letter["reason"], letter["event_type"], letter["endpoint"]) == (
        status,
        reason,
        "user",
        "/user/",
    )
    assert letter["problems"] == answer.json["problems"]
    assert letter["body"] == (body[:4096] if status == 413 else body)
    assert letter["truncated"] == (status == 413)


def test_a_schema_error_names_every_problem(client, publisher):
    event = {**CANONICAL_TRIPLE["geo"], "latitude": True, "timestamp": "28/08/2020", "clicks": 3}
    del event["country"]
    answer = post(client, "/geo/", json.dumps(event).encode())

    assert answer.status_code == 422
    assert answer.json["error"] == "invalid geo event"
    assert sorted(answer.json["problems"]) == sorted(
        [
            "missing field 'country'",
            "unknown field 'clicks'",
            "'latitude' must be a number",
            "'timestamp' must match one of %Y-%m-%d %H:%M:%S, %Y-%m-%dT%H:%M:%S, %Y:%m:%d %H:%M:%S",
        ]
    )
    [letter] = dead_letters(publisher)
    assert letter["reason"] == "schema" and len(letter["problems"]) == 4


def test_a_mixed_batch_reports_per_event(client, publisher):
    good, bad = CANONICAL_TRIPLE["geo"], {"ind": "x"}
    body = f"[{json.dumps(good)} , {json.dumps(bad)},{json.dumps(good)}]".encode()
    answer = post(client, "/geo/batch", body)

    assert answer.status_code == 207
    assert (answer.json["accepted"], answer.json["rejected"], answer.json["failed"]) == (2, 1, 0)
    statuses = [r["status"] for r in answer.json["results"]]
    assert statuses == [202, 422, 202]
    assert [r.value for r in publisher.on("pinterest.geo")] == [json.dumps(good).encode()] * 2
    accepted_ids = {r["event_id"] for r in answer.json["results"] if r["status"] == 202}
    assert accepted_ids == {RecordMetadata.from_headers(r.headers).event_id for r in publisher.on("pinterest.geo")}
    [letter] = dead_letters(publisher)
    assert (letter["position"], letter["body"], letter["endpoint"]) == (1, json.dumps(bad).encode(), "/geo/batch")
    assert letter["event_id"] == answer.json["results"][1]["dead_letter_id"]


def test_batch_status_is_202_when_all_accepted_and_422_when_none(client):
    good = json.dumps(CANONICAL_TRIPLE["pin"])
    assert post(client, "/pin/batch", f"[{good},{good}]".encode()).status_code == 202
    answer = post(client, "/pin/batch", b'[{"index": 1}, 3]')
    assert answer.status_code == 422 and answer.json["accepted"] == 0


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        (b'{"ind": 1}', 422, "a batch must be a JSON array of events, got dict"),
        (b"[]", 422, "a batch must contain at least one event"),
        (b"[{}, {}, {}, {}]", 413, "a batch holds at most 3 events, got 4"),
        (b"[{}, ", 400, "malformed JSON"),
    ],
)
def test_a_batch_rejected_as_a_whole_is_dead_lettered_whole(client, publisher, body, status, problem):
    answer = post(client, "/user/batch", body)
    assert answer.status_code == status
    assert any(problem in p for p in answer.json["problems"])
    [letter] = dead_letters(publisher)
    assert (letter["body"], letter["status"], letter["position"]) == (body, status, None)


def test_kafka_not_acknowledging_means_503_with_retry_after_and_no_2xx(client, publisher):
    publisher.up = False
    answer = post(client, "/pin/", json.dumps(CANONICAL_TRIPLE["pin"]).encode())
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) >= 1
    assert "Kafka" in answer.json["problems"][0]

    publisher.up, publisher.failures = True, 1
    good = json.dumps(CANONICAL_TRIPLE["geo"])
    answer = post(client, "/geo/batch", f"[{good},{good}]".encode())
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert [r["status"] for r in answer.json["results"]] == [503, 202]
    assert answer.json["results"][1]["event_id"]


def test_an_invalid_event_is_still_answered_4xx_when_the_dead_letter_cannot_be_written(client, publisher):
    publisher.up = False
    answer = post(client, "/geo/", b'{"ind": 1}')
    assert answer.status_code == 422
    assert answer.json["dead_letter_id"] is None


def test_healthz_follows_kafka(client, publisher):
    assert client.get("/healthz").status_code == 200
    publisher.up = False
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert answer.json["detail"] == publisher.problem()


def test_unknown_paths_and_methods_answer_json(client):
    assert client.get("/nowhere").json["status"] == 404
    answer = client.get("/pin/")
    assert answer.status_code == 405 and answer.is_json and "POST" in answer.headers["Allow"]


class TestApiKeys:
    @pytest.fixture
    def secured(self, publisher, tmp_path):
        return create_app(make_settings(tmp_path, PINTEREST_API_KEYS="key-one, key-two"), publisher).test_client()

    def test_a_request_without_a_valid_key_gets_401_and_is_not_dead_lettered(self, secured, publisher):
        body = json.dumps(CANONICAL_TRIPLE["user"]).encode()
        for headers in ({}, {"X-API-Key": "key-three"}, {"Authorization": "Bearer nope"}, {"Authorization": "key-one"}):
            answer = secured.post("/user/", data=body, headers={"Content-Type": "application/json", **headers})
            assert answer.status_code == 401
            assert "key-one" not in answer.get_data(as_text=True)
        assert publisher.records == []

    def test_either_header_carries_a_valid_key(self, secured, publisher):
        body = json.dumps(CANONICAL_TRIPLE["user"]).encode()
        for headers in ({"X-API-Key": "key-two"}, {"Authorization": "Bearer key-one"}):
            answer = secured.post("/user/", data=body, headers={"Content-Type": "application/json", **headers})
            assert answer.status_code == 202
        assert len(publisher.records) == 2

    def test_health_and_the_openapi_document_need_no_key(self, secured):
        assert secured.get("/healthz").status_code == 200
        document = secured.get("/openapi.json").json
        assert document["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
        assert "401" in document["paths"]["/pin/"]["post"]["responses"]


def client_ids(publisher: FakePublisher, topic: str) -> list[str | None]:
    return [RecordMetadata.from_headers(r.headers).client_event_id for r in publisher.on(topic)]


def test_an_idempotency_key_names_the_event_in_the_answer_and_the_kafka_header(client, publisher):
    body = json.dumps(CANONICAL_TRIPLE["pin"]).encode()
    first = client.post("/pin/", data=body, headers={"Content-Type": "application/json", "Idempotency-Key": "c-1"})
    again = client.post("/pin/", data=body, headers={"Content-Type": "application/json", "Idempotency-Key": '"c-1"'})
    assert first.status_code == again.status_code == 202
    assert first.json["client_event_id"] == again.json["client_event_id"] == "c-1"  # sf-string quotes removed
    assert first.headers["Idempotency-Key"] == "c-1"
    assert first.json["event_id"] != again.json["event_id"]
    assert client_ids(publisher, "pinterest.pin") == ["c-1", "c-1"]  # Kafka holds both copies


def test_without_an_idempotency_key_the_event_id_is_the_client_id(client, publisher):
    answer = post(client, "/geo/", json.dumps(CANONICAL_TRIPLE["geo"]).encode())
    assert answer.json["client_event_id"] == answer.json["event_id"]
    assert client_ids(publisher, "pinterest.geo") == [answer.json["event_id"]]


@pytest.mark.parametrize("key", ["", "has space", "é", "x" * 256])
def test_an_invalid_idempotency_key_is_a_400_naming_the_header(client, publisher, key):
    body = json.dumps(CANONICAL_TRIPLE["pin"]).encode()
    answer = client.post("/pin/", data=body, headers={"Content-Type": "application/json", "Idempotency-Key": key})
    assert answer.status_code == 400
    assert "Idempotency-Key" in answer.json["problems"][0]
    assert publisher.on("pinterest.pin") == []
    [letter] = dead_letters(publisher)
    assert (letter["reason"], letter["body"]) == ("invalid_idempotency_key", body)


def test_a_503_names_the_client_id_so_that_the_client_can_retry_with_it(client, publisher):
    publisher.up = False
    body = json.dumps(CANONICAL_TRIPLE["pin"]).encode()
    answer = client.post("/pin/", data=body, headers={"Content-Type": "application/json", "Idempotency-Key": "k"})
    assert answer.status_code == 503 and answer.json["client_event_id"] == "k"


def test_batch_elements_name_themselves_in_an_envelope_or_take_the_requests_key_and_position(client, publisher):
    geo = CANONICAL_TRIPLE["geo"]
    event_bytes = b'{ "ind" : 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293, "country": "X" }'
    body = b'[{"idempotency_key": "mine", "event": ' + event_bytes + b"}, " + json.dumps(geo).encode() + b"]"
    answer = client.post("/geo/batch", data=body, headers={"Content-Type": "application/json", "Idempotency-Key": "b7"})
    assert answer.status_code == 202
    assert [r["client_event_id"] for r in answer.json["results"]] == ["mine", "b7:1"]
    records = publisher.on("pinterest.geo")
    assert records[0].value == event_bytes  # the event's exact bytes, without the envelope
    assert client_ids(publisher, "pinterest.geo") == ["mine", "b7:1"]


def test_a_batch_without_keys_gets_generated_client_ids(client, publisher):
    good = json.dumps(CANONICAL_TRIPLE["user"])
    answer = post(client, "/user/batch", f"[{good},{good}]".encode())
    assert [r["client_event_id"] for r in answer.json["results"]] == [r["event_id"] for r in answer.json["results"]]


def test_an_envelope_with_an_invalid_key_or_event_is_rejected_per_element(client, publisher):
    good = json.dumps(CANONICAL_TRIPLE["pin"])
    body = (
        f'[{{"idempotency_key": 7, "event": {good}}}, {{"idempotency_key": "ok", "event": {{"index": 1}}}},'
        f' {{"idempotency_key": "fine", "event": {good}}}]'
    ).encode()
    answer = post(client, "/pin/batch", body)
    assert answer.status_code == 207
    results = answer.json["results"]
    assert [r["status"] for r in results] == [422, 422, 202]
    assert "idempotency_key must be a string, got int" in results[0]["problems"]
    assert results[2]["client_event_id"] == "fine"
    assert client_ids(publisher, "pinterest.pin") == ["fine"]
