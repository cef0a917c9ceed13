"""KafkaPublisher replaces a producer whose deliveries keep failing while Kafka answers (no Kafka
here: the producer and the admin client are stand-ins)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from kafka.errors import KafkaTimeoutError

from ingestion_api import kafka_producer
from ingestion_api.kafka_producer import KafkaPublisher, OutgoingRecord
from pinterest_common.config import Settings

RECORD = OutgoingRecord("pinterest.pin", b"k", b"{}", [])


class Future:
    def __init__(self, ok: bool):
        self.ok = ok

    def get(self, timeout):
        if not self.ok:
            raise KafkaTimeoutError("no acknowledgement")
        return type("Metadata", (), {"partition": 0, "offset": 7})()


class Producer:
    def __init__(self, ok: bool, failed_closes: int = 0):
        self.ok, self.closed, self.failed_closes = ok, False, failed_closes

    def send(self, topic, value, key, headers):
        return Future(self.ok)

    def close(self, timeout=None):
        if self.failed_closes:  # as kafka-python's, while records are in flight
            self.failed_closes -= 1
            raise KafkaTimeoutError("Timeout waiting for future")
        self.closed = True


class Admin:
    def __init__(self, brokers: list):
        self.brokers = brokers

    def describe_cluster(self):
        return {"brokers": self.brokers}

    def close(self):
        pass


@pytest.fixture
def publisher(monkeypatch):
    """A publisher on a stuck producer; the next producers it builds deliver."""
    monkeypatch.setattr(kafka_producer, "REPLACE_AFTER_TIMEOUTS", 2)
    built = []

    def connect_once(self):
        self._admin, self._producer = Admin([{"node_id": 1}]), Producer(ok=False, failed_closes=1)

    def new_producer(self):
        built.append(Producer(ok=True))
        return built[-1]

    monkeypatch.setattr(KafkaPublisher, "_connect_once", connect_once)
    monkeypatch.setattr(KafkaPublisher, "_new_producer", new_producer)
    settings = replace(Settings.from_env({}), api_kafka_timeout_s=0.05)
    publisher = KafkaPublisher(settings)
    assert publisher._ready.wait(5)
    publisher.built = built
    yield publisher
    publisher.close()


def test_a_producer_failing_for_the_bound_while_kafka_answers_is_replaced(publisher):
    stuck = publisher._producer
    assert not publisher.publish([RECORD])[0].acknowledged
    assert publisher._producer is stuck  # one failure is not enough
    time.sleep(2 * publisher.timeout_s)
    assert not publisher.publish([RECORD])[0].acknowledged
    assert publisher._producer is publisher.built[0]
    deadline = time.monotonic() + 5
    while not stuck.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stuck.closed
    assert publisher.publish([RECORD])[0] == kafka_producer.Delivery(0, 7)


def test_no_replacement_while_kafka_does_not_answer(publisher):
    publisher._admin.brokers = []
    stuck = publisher._producer
    for _ in range(4):
        assert not publisher.publish([RECORD])[0].acknowledged
        time.sleep(publisher.timeout_s)
    assert publisher._producer is stuck and publisher.built == []


def test_a_delivery_in_between_restarts_the_count(publisher):
    stuck = publisher._producer
    publisher.publish([RECORD])
    time.sleep(2 * publisher.timeout_s)
    stuck.ok = True
    assert publisher.publish([RECORD])[0].acknowledged
    stuck.ok = False
    assert not publisher.publish([RECORD])[0].acknowledged
    assert publisher._producer is stuck


@pytest.mark.parametrize("compression", ["brotli", "lz4"])
def test_a_compression_without_its_library_stops_the_api_at_start(monkeypatch, compression):
    monkeypatch.setitem(kafka_producer.CODECS, "lz4", lambda: False)  # as without the lz4 package
    with pytest.raises(ValueError, match="PINTEREST_API_KAFKA_COMPRESSION"):
        KafkaPublisher(replace(Settings.from_env({}), api_kafka_compression=compression))
