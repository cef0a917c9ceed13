"""One long-lived KafkaProducer per process, and every wait on Kafka bounded.

The connection (topics ensured, producer built) is made by a background thread that retries
until Kafka answers, so the API starts, and answers 503, while Kafka is down. A request waits
for the acknowledgement of its records at most `api_kafka_timeout_s`; `delivery_timeout_ms`
equals that bound, so a record that was not acknowledged in time expires in the producer
instead of landing later.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError

from pinterest_common.config import Settings
from pinterest_common.kafka_admin import PLATFORM_TOPICS, ensure_topics

log = logging.getLogger(__name__)

RECONNECT_BACKOFF_S = (0.5, 5.0)  # first and largest pause between connection attempts


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Delivery:
    """What happened to one record: acknowledged at (partition, offset), or an error."""

    partition: int | None = None
    offset: int | None = None
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.error is None


class KafkaPublisher:
    """Publishes records and waits for Kafka's acknowledgement (acks=all, idempotent)."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self.timeout_s = settings.api_kafka_timeout_s
        self._timeout_ms = int(self.timeout_s * 1000)
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None
        self._admin_lock = threading.Lock()
        self._ready = threading.Event()
        self._closing = threading.Event()
        self._connector = threading.Thread(target=self._connect_until_ready, name="kafka-connect", daemon=True)
        self._connector.start()

    def _connect_once(self) -> None:
        servers = self._settings.kafka_bootstrap_servers
        created = ensure_topics(self._settings, self._settings.topic_partitions, timeout_s=self.timeout_s)
        if created:
            log.info("created topics %s", ", ".join(created))
        admin = KafkaAdminClient(
            bootstrap_servers=servers, request_timeout_ms=self._timeout_ms, bootstrap_timeout_ms=self._timeout_ms,
        )
        try:
            producer = KafkaProducer(
                bootstrap_servers=servers,
                acks="all",
                enable_idempotence=True,
                linger_ms=0,
                request_timeout_ms=self._timeout_ms,
                delivery_timeout_ms=self._timeout_ms,
                max_block_ms=self._timeout_ms,
                bootstrap_timeout_ms=self._timeout_ms,
                reconnect_backoff_max_ms=1000,
            )
            for topic in PLATFORM_TOPICS:  # load metadata now, so send() does not block on it later
                producer.partitions_for(topic)
        except BaseException:
            admin.close()
            raise
        self._admin, self._producer = admin, producer

    def _connect_until_ready(self) -> None:
        pause = RECONNECT_BACKOFF_S[0]
        while not self._closing.is_set():
            try:
                self._connect_once()
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("Kafka at %s not ready (%s); retrying in %.1fs",
                            self._settings.kafka_bootstrap_servers, exc, pause)
                self._closing.wait(pause)
                pause = min(pause * 2, RECONNECT_BACKOFF_S[1])
                continue
            self._ready.set()
            log.info("connected to Kafka at %s", self._settings.kafka_bootstrap_servers)
            return

    def publish(self, records: list[OutgoingRecord]) -> list[Delivery]:
        """Send `records` and wait for their acknowledgements, all within the timeout."""
        deadline = time.monotonic() + self.timeout_s
        if not self._ready.wait(self.timeout_s):
            return [Delivery(error="Kafka is not reachable")] * len(records)
        futures: list = []
        for record in records:
            try:
                futures.append(self._producer.send(record.topic, value=record.value, key=record.key, headers=record.headers))
            except KafkaError as exc:  # metadata or buffer space not available within max_block_ms
                futures += [exc] * (len(records) - len(futures))
                break
        return [self._await(future, deadline) for future in futures]

    def _await(self, future, deadline: float) -> Delivery:
        if isinstance(future, KafkaError):
            return Delivery(error=f"Kafka did not accept the record: {future}")
        try:
            metadata = future.get(timeout=max(0.0, deadline - time.monotonic()))
        except KafkaError as exc:
            return Delivery(error=f"Kafka did not acknowledge the record within {self.timeout_s:g}s: {exc}")
        return Delivery(metadata.partition, metadata.offset)

    def reachable(self) -> bool:
        """Kafka answers a metadata request now."""
        if not self._ready.is_set():
            return False
        with self._admin_lock:
            try:
                return bool(self._admin.describe_cluster().get("brokers"))
            except (KafkaError, OSError):
                return False

    def close(self) -> None:
        self._closing.set()
        self._connector.join()
        if self._producer is not None:
            self._producer.close(timeout=self.timeout_s)
            self._admin.close()
