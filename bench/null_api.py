"""Benchmark only: the ingestion API exactly as gunicorn serves it (same app factory, routes,
validation and answers), but with a publisher that acknowledges every record at once instead of
sending it to Kafka. It measures the HTTP ceiling: what Flask + gunicorn cost by themselves.

    gunicorn --config python:ingestion_api.gunicorn_config 'bench.null_api:create_app()'

Never part of a deployment: nothing outside bench/ imports it.
"""

from __future__ import annotations

import itertools
import threading

from ingestion_api.app import create_app as create_api
from ingestion_api.kafka_producer import Delivery, OutgoingRecord


class NullPublisher:
    """KafkaPublisher's interface; every record is 'acknowledged' immediately."""

    timeout_s = 5.0

    def __init__(self) -> None:
        self._offsets = itertools.count()
        self._lock = threading.Lock()

    def publish(self, records: list[OutgoingRecord]) -> list[Delivery]:
        with self._lock:
            return [Delivery(partition=0, offset=next(self._offsets)) for _ in records]

    def reachable(self) -> bool:
        return True

    def problem(self) -> str:
        return ""

    def close(self) -> None:
        pass


def create_app():
    return create_api(producer=NullPublisher())
