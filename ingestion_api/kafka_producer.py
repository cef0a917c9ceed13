"""One long-lived KafkaProducer per process, and every wait on Kafka bounded.

The connection (topics ensured, producer built) is made by a background thread that retries
until Kafka answers, so the API starts, and answers 503, while Kafka is down. A request waits
for the acknowledgement of its records at most `api_kafka_timeout_s` (also the producer's
`delivery_timeout_ms`). A record answered 503 has an unknown outcome: it may still have been
written (the broker got it, its acknowledgement did not arrive in time), so a client that
retries it may store the event twice under two event_ids.

A producer whose every delivery has failed for REPLACE_AFTER_TIMEOUTS bounds while Kafka answers
metadata requests is replaced by a new one: after a partition leader fails over, kafka-python's
idempotent producer was seen timing out on every partition for minutes while a new producer
wrote at once (devstack/chaos, scenario 2).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from kafka import KafkaAdminClient, KafkaProducer, codec
from kafka.errors import KafkaError

from pinterest_common.config import Settings
from pinterest_common.kafka_admin import PLATFORM_TOPICS, ensure_topics

log = logging.getLogger(__name__)

RECONNECT_BACKOFF_S = (0.5, 5.0)  # first and largest pause between connection attempts
REPLACE_AFTER_TIMEOUTS = 3  # failing for this many request bounds in a row: a new producer
CODECS = {
    "none": lambda: True,
    "gzip": codec.has_gzip,
    "snappy": codec.has_snappy,
    "lz4": codec.has_lz4,
    "zstd": codec.has_zstd,
}  # compression types, each with whether its library is installed


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


class Publisher(Protocol):
    """What the API needs of its publisher: a KafkaPublisher, or a stand-in (bench.null_api, tests)."""

    timeout_s: float  # the longest a publish waits for acknowledgements

    def publish(self, records: list[OutgoingRecord]) -> list[Delivery]: ...

    def reachable(self) -> bool: ...

    def problem(self) -> str:
        """Why Kafka is not reachable, in words (the health check's answer)."""
        ...


class KafkaPublisher:
    """Publishes records and waits for Kafka's acknowledgement (acks=all, idempotent)."""

    def __init__(self, settings: Settings):
        if not CODECS.get(settings.api_kafka_compression, lambda: False)():
            raise ValueError(
                f"PINTEREST_API_KAFKA_COMPRESSION={settings.api_kafka_compression!r}: one of "
                f"{', '.join(CODECS)}, with its Python library installed"
            )
        self._settings = settings
        self.timeout_s = settings.api_kafka_timeout_s
        self._timeout_ms = int(self.timeout_s * 1000)
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None
        self._admin_lock = threading.Lock()
        self._replace_lock = threading.Lock()
        self._failing_since: float | None = None  # monotonic time of the first failure in a row
        self._ready = threading.Event()
        self._problem = "not connected to Kafka yet"
        self._closing = threading.Event()
        self._connector = threading.Thread(target=self._connect_until_ready, name="kafka-connect", daemon=True)
        self._connector.start()

    def _connect_once(self) -> None:
        created = ensure_topics(self._settings, self._settings.topic_partitions, timeout_s=self.timeout_s)
        if created:
            log.info("created topics %s", ", ".join(created))
        admin = KafkaAdminClient(
            **self._settings.kafka.client_config(),
            request_timeout_ms=self._timeout_ms,
            # kafka-python 3's option, missing from typeshed's stubs of kafka-python (2.3)
            bootstrap_timeout_ms=self._timeout_ms,  # pyright: ignore[reportCallIssue]
        )
        try:
            producer = self._new_producer()
        except BaseException:
            admin.close()
            raise
        self._admin, self._producer = admin, producer

    def _new_producer(self) -> KafkaProducer:
        producer = KafkaProducer(
            **self._settings.kafka.client_config(),
            acks="all",
            enable_idempotence=True,
            linger_ms=self._settings.api_kafka_linger_ms,
            batch_size=self._settings.api_kafka_batch_bytes,
            compression_type=None
            if self._settings.api_kafka_compression == "none"
            else self._settings.api_kafka_compression,
            # kafka-python requires delivery_timeout_ms > linger_ms + request_timeout_ms.
            request_timeout_ms=self._timeout_ms - self._settings.api_kafka_linger_ms - 1,
            delivery_timeout_ms=self._timeout_ms,
            max_block_ms=self._timeout_ms,
            # kafka-python 3's option, missing from typeshed's stubs of kafka-python (2.3)
            bootstrap_timeout_ms=self._timeout_ms,  # pyright: ignore[reportCallIssue]
            reconnect_backoff_max_ms=1000,
        )
        try:
            for topic in PLATFORM_TOPICS:  # load metadata now, so send() does not block on it later
                producer.partitions_for(topic)
        except BaseException:
            producer.close(timeout=0)
            raise
        return producer

    def _connect_until_ready(self) -> None:
        pause = RECONNECT_BACKOFF_S[0]
        while not self._closing.is_set():
            try:
                self._connect_once()
            except (KafkaError, OSError, TimeoutError) as exc:
                self._problem = self._settings.kafka.diagnose(exc)
                log.warning("%s; retrying in %.1fs", self._problem, pause)
                self._closing.wait(pause)
                pause = min(pause * 2, RECONNECT_BACKOFF_S[1])
                continue
            self._ready.set()
            log.info(
                "connected to Kafka at %s as %s",
                self._settings.kafka_bootstrap_servers,
                self._settings.kafka.describe(),
            )
            return

    def publish(self, records: list[OutgoingRecord]) -> list[Delivery]:
        """Send `records` and wait for their acknowledgements, all within the timeout."""
        deadline = time.monotonic() + self.timeout_s
        if not self._ready.wait(self.timeout_s):
            return [Delivery(error="Kafka is not reachable")] * len(records)
        producer = self._producer
        assert producer is not None  # connected before ready
        futures: list = []
        for record in records:
            try:
                futures.append(producer.send(record.topic, value=record.value, key=record.key, headers=record.headers))
            except KafkaError as exc:  # metadata or buffer space not available within max_block_ms
                futures += [exc] * (len(records) - len(futures))
                break
        deliveries = [self._await(future, deadline) for future in futures]
        self._track(producer, any(d.acknowledged for d in deliveries))
        return deliveries

    def _track(self, producer: KafkaProducer, delivered: bool) -> None:
        """Count a publish's outcome; replace `producer` once it has failed long enough."""
        if delivered:
            self._failing_since = None
            return
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failing_since >= REPLACE_AFTER_TIMEOUTS * self.timeout_s and self.reachable():
            self._replace(producer)

    def _replace(self, stuck: KafkaProducer) -> None:
        """A new producer instead of `stuck` (once, however many threads saw it fail)."""
        with self._replace_lock:
            if self._producer is not stuck:
                return  # another thread replaced it already
            try:
                fresh = self._new_producer()
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("could not replace the failing Kafka producer (%s); keeping it", exc)
                return
            self._producer, self._failing_since = fresh, None
        log.warning(
            "every delivery failed for %.0fs while Kafka answered: replaced the Kafka producer",
            REPLACE_AFTER_TIMEOUTS * self.timeout_s,
        )
        threading.Thread(target=self._close_producer, args=(stuck,), name="kafka-close", daemon=True).start()

    def _close_producer(self, producer: KafkaProducer, attempts: int = 3) -> None:
        """kafka-python's close() raises, without closing, while records are in flight; they
        expire within delivery_timeout_ms, so a later attempt closes."""
        for _ in range(attempts):
            try:
                producer.close(timeout=self.timeout_s)
                return
            except KafkaError:
                continue
        log.warning("a Kafka producer did not close after %d attempts", attempts)

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
        assert self._admin is not None  # connected before ready
        with self._admin_lock:
            try:
                return bool(self._admin.describe_cluster().get("brokers"))
            except (KafkaError, OSError):
                return False

    def problem(self) -> str:
        if not self._ready.is_set():
            return self._problem
        return f"Kafka at {self._settings.kafka_bootstrap_servers} does not answer metadata requests"

    def close(self) -> None:
        self._closing.set()
        self._connector.join()
        if self._producer is not None:
            self._close_producer(self._producer)
        if self._admin is not None:
            self._admin.close()
