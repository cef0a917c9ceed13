"""Kafka, for the drain sensors (offsets only) and the landing runs (one offset range each)."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from ..lake import kafka_io
from ..lake.ranges import PartitionOffsets


class KafkaResource(dg.ConfigurableResource):
    """The Kafka cluster the API writes to (KAFKA_BOOTSTRAP_SERVERS)."""

    bootstrap_servers: str = Field(description="Comma-separated host:port list of the brokers.")
    request_timeout_ms: int = Field(default=10_000, description="Timeout of one Kafka request.")
    read_idle_timeout_s: float = Field(
        default=60.0, description="A landing run fails if reading its range makes no progress for this long."
    )

    def partition_offsets(self, topic: str) -> dict[int, PartitionOffsets] | None:
        """Earliest and end offset per partition (metadata only); None if the topic is missing.

        Bounded for sensor ticks: at worst about 3 request timeouts (bootstrap, metadata, and
        half a timeout for each of the two offset lookups), well inside Dagster's 60 s.
        """
        consumer = kafka_io.open_consumer(self.bootstrap_servers, self.request_timeout_ms, "pinterest-lake-sensor")
        try:
            return kafka_io.partition_offsets(consumer, topic, timeout_ms=self.request_timeout_ms // 2)
        finally:
            consumer.close()

    def earliest_offset(self, topic: str, partition: int) -> int:
        """The first offset Kafka still holds for one partition."""
        offsets = self.partition_offsets(topic) or {}
        if partition not in offsets:
            raise LookupError(f"{topic} has no partition {partition}")
        return offsets[partition].earliest

    def read_range(self, topic: str, partition: int, start: int, end: int) -> Iterator:
        """The records of one partition with offsets in [start, end), in order, as they arrive."""
        consumer = kafka_io.open_consumer(self.bootstrap_servers, self.request_timeout_ms, "pinterest-lake-landing")
        try:
            yield from kafka_io.read_range(consumer, topic, partition, start, end, self.read_idle_timeout_s)
        finally:
            consumer.close()
