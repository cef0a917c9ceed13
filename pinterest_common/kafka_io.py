"""Kafka offsets and offset ranges: the one home of reading Kafka by position (the drain, the
drain sensors, `make batch`, the demo's and the chaos suite's reconciliation, the tests).

The readers keep their own progress (the lake's in PostgreSQL), so the consumer has no group and
commits nothing. It reads with isolation level read_committed: end offsets are then the last
stable offsets, and records of aborted transactions are skipped (their offsets become gaps).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .kafka_security import KafkaConnection

with warnings.catch_warnings():
    # kafka-python 3.0 loads its protocol schemas with importlib.resources.read_text/open_text,
    # deprecated since Python 3.11: not ours to fix, and not worth a warning in every process.
    warnings.filterwarnings("ignore", message=r"(read_text|open_text) is deprecated", category=DeprecationWarning)
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition  # not re-exported by kafka in typeshed's (2.3) stubs


POLL_RECORDS = 5000
FETCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class PartitionOffsets:
    earliest: int  # the first offset Kafka still holds (beginning offset)
    end: int  # the offset the next record will get (end offset)


def open_consumer(kafka: KafkaConnection, request_timeout_ms: int = 15_000, client_id: str = "pinterest") -> Any:
    return KafkaConsumer(
        **kafka.client_config(),
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        request_timeout_ms=request_timeout_ms,
        # kafka-python 3's option, missing from typeshed's stubs of kafka-python (2.3)
        bootstrap_timeout_ms=request_timeout_ms,  # pyright: ignore[reportCallIssue]
        max_poll_records=POLL_RECORDS,
        # Larger fetches than kafka-python's 1 MiB: fewer round trips for a landing run's range.
        max_partition_fetch_bytes=FETCH_BYTES,
        fetch_max_bytes=4 * FETCH_BYTES,
    )


def partition_offsets(consumer: Any, topic: str, timeout_ms: int = 10_000) -> dict[int, PartitionOffsets] | None:
    """Earliest and end offset of each partition of `topic`; None if the topic does not exist.

    Reads metadata only, never a message.
    """
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        return None
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    earliest = consumer.beginning_offsets(tps, timeout_ms=timeout_ms)
    end = consumer.end_offsets(tps, timeout_ms=timeout_ms)
    return {tp.partition: PartitionOffsets(int(earliest[tp]), int(end[tp])) for tp in tps}


def read_range(
    consumer: Any, topic: str, partition: int, start: int, end: int, idle_timeout_s: float = 60.0
) -> Iterator[Any]:
    """The records of `topic` partition `partition` with offsets in `[start, end)`, in order,
    as they arrive (one poll's worth at a time).

    Stops when the consumer's position reaches `end` (offsets without a record, e.g.
    transaction markers, count as read). Offsets below the partition's earliest offset are gone
    from Kafka: reading then starts at the earliest. Raises TimeoutError if no progress is made
    for `idle_timeout_s`.
    """
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek(tp, start)
    deadline = time.monotonic() + idle_timeout_s
    position = start
    while position < end:
        batch = consumer.poll(timeout_ms=500, max_records=POLL_RECORDS)
        for record in batch.get(tp, ()):
            if start <= record.offset < end:
                yield record
        new_position = consumer.position(tp, timeout_ms=10_000)
        if new_position is not None and new_position > position:
            position = new_position
            deadline = time.monotonic() + idle_timeout_s
        elif time.monotonic() > deadline:
            raise TimeoutError(f"{topic} p{partition}: no progress past offset {position} (reading up to {end})")


def end_offsets(kafka: KafkaConnection, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """The end offset of every partition of `topics` (those that exist): where a later read starts."""
    consumer = open_consumer(kafka)
    try:
        return {
            TopicPartition(topic, p): o.end
            for topic in topics
            for p, o in (partition_offsets(consumer, topic) or {}).items()
        }
    finally:
        consumer.close()


def read_partitions(
    consumer: Any, start: Mapping[TopicPartition, int], end: Mapping[TopicPartition, int], idle_timeout_s: float = 30.0
) -> Iterator[Any]:
    """The records of several partitions, each from its `start` offset (0 if absent) up to its
    `end` offset (exclusive), partition by partition in the order Kafka returns them. Raises
    TimeoutError if no partition makes progress for `idle_timeout_s`."""
    pending = {tp for tp, stop in end.items() if stop > start.get(tp, 0)}
    if not pending:
        return
    consumer.assign(sorted(pending))
    for tp in pending:
        consumer.seek(tp, start.get(tp, 0))
    deadline = time.monotonic() + idle_timeout_s
    while pending:
        batches = consumer.poll(timeout_ms=500, max_records=POLL_RECORDS)
        for tp, records in batches.items():
            for record in records:
                if record.offset < end[tp]:
                    yield record
        for tp in list(pending):
            if consumer.position(tp, timeout_ms=10_000) >= end[tp]:
                pending.discard(tp)
        if batches:
            deadline = time.monotonic() + idle_timeout_s
        elif time.monotonic() > deadline:
            raise TimeoutError(
                f"could not read up to the end offsets of {sorted(map(str, pending))} in {idle_timeout_s:g}s"
            )


def read_to_end(kafka: KafkaConnection, start: Mapping[TopicPartition, int], idle_timeout_s: float = 30.0) -> list[Any]:
    """Every record from the `start` offsets up to the partitions' end offsets as of now."""
    stop = end_offsets(kafka, sorted({tp.topic for tp in start}))
    consumer = open_consumer(kafka)
    try:
        return list(read_partitions(consumer, start, {tp: stop[tp] for tp in start if tp in stop}, idle_timeout_s))
    finally:
        consumer.close()
