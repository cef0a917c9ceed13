"""A Kafka record -> the line it becomes in the lake, or a dead letter with the reason.

Only records the API wrote are lake lines: JSON values valid for the topic's event type, with
the four headers of `pinterest_common.records`. Anything else (another writer, a corrupted
record) becomes a dead letter; it never stops a run.

Lake line, one JSON object per line, fields in this order:
    event_id, event_type, received_at, schema_version   from the headers
    kafka_topic, kafka_partition, kafka_offset           where the record was
    kafka_timestamp                                      the record timestamp, ms since the epoch
    key                                                  the record key as text
    value                                                the event JSON text exactly as received

Dead letter: reason, kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, key,
key_base64, headers ([{name, value, value_base64}]), value, value_base64. Bytes that are not
UTF-8 go to the *_base64 field, and the text field is null.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Protocol

from pinterest_common.records import RecordMetadata, base64_if_not_utf8, parse_received_at, utf8_text
from pinterest_common.schema import SCHEMA_VERSION, EventType, value_problem

RAW, DEAD_LETTER = "raw", "dead_letter"


class KafkaRecord(Protocol):
    """What we use of kafka-python's ConsumerRecord (values and keys as bytes)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class LakeLine:
    """One line of a lake object: a landed event or a dead letter."""

    kind: str  # RAW or DEAD_LETTER
    offset: int
    moment: datetime  # received_at, or the Kafka timestamp when that is all there is
    fields: dict[str, Any]
    reason: str | None = None

    @property
    def day(self) -> date:
        return self.moment.date()

    def encode(self) -> bytes:
        return (json.dumps(self.fields, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class DeadLetter(ValueError):
    """Why a record cannot be a lake line."""


def parse_record(record: KafkaRecord, event_type: EventType) -> LakeLine:
    """The lake line for `record`, or its dead letter; never raises for bad input."""
    try:
        return _lake_line(record, event_type)
    except DeadLetter as problem:
        return dead_letter(record, str(problem))


def _lake_line(record: KafkaRecord, event_type: EventType) -> LakeLine:
    try:
        meta = RecordMetadata.from_headers(record.headers)
    except (ValueError, UnicodeDecodeError) as exc:  # missing header, non-UTF-8, non-integer version
        raise DeadLetter(f"invalid headers: {exc}") from None
    try:
        uuid.UUID(meta.event_id)
    except ValueError:
        raise DeadLetter(f"invalid headers: event_id {meta.event_id!r} is not a UUID") from None
    if meta.event_type != event_type.name:
        raise DeadLetter(f"invalid headers: event_type {meta.event_type!r} on topic {record.topic}")
    if meta.schema_version != SCHEMA_VERSION:
        raise DeadLetter(f"invalid headers: unsupported schema_version {meta.schema_version}")
    try:
        received_at = parse_received_at(meta.received_at)
    except ValueError:
        raise DeadLetter(f"invalid headers: received_at {meta.received_at!r} is not UTC ISO-8601 with Z") from None
    problem = value_problem(event_type, record.value)
    if problem:
        raise DeadLetter(problem)
    key = utf8_text(record.key)
    if record.key is not None and key is None:
        raise DeadLetter("key is not UTF-8")
    return LakeLine(
        kind=RAW,
        offset=record.offset,
        moment=received_at,
        fields={
            "event_id": meta.event_id,
            "event_type": meta.event_type,
            "received_at": meta.received_at,
            "schema_version": meta.schema_version,
            "kafka_topic": record.topic,
            "kafka_partition": record.partition,
            "kafka_offset": record.offset,
            "kafka_timestamp": record.timestamp,
            "key": key,
            "value": record.value.decode("utf-8"),
        },
    )


def dead_letter(record: KafkaRecord, reason: str) -> LakeLine:
    """The dead letter for `record`: everything it carried, and why it was set aside.

    Its day is that of the received_at header when it parses, else of the Kafka timestamp.
    """
    headers = list(record.headers or [])
    moment = _header_moment(headers) or _kafka_moment(record.timestamp)
    return LakeLine(
        kind=DEAD_LETTER,
        offset=record.offset,
        moment=moment,
        reason=reason,
        fields={
            "reason": reason,
            "kafka_topic": record.topic,
            "kafka_partition": record.partition,
            "kafka_offset": record.offset,
            "kafka_timestamp": record.timestamp,
            "key": utf8_text(record.key),
            "key_base64": base64_if_not_utf8(record.key),
            "headers": [
                {"name": name, "value": utf8_text(value), "value_base64": base64_if_not_utf8(value)}
                for name, value in headers
            ],
            "value": utf8_text(record.value),
            "value_base64": base64_if_not_utf8(record.value),
        },
    )


def reason_category(reason: str) -> str:
    """The reason without its details, for counting: e.g. `value is not JSON`."""
    return reason.split(":", 1)[0]


def _header_moment(headers: list[tuple[str, bytes | None]]) -> datetime | None:
    for name, value in headers:
        if name == "received_at" and value is not None:
            try:
                return parse_received_at(value.decode("utf-8"))
            except ValueError:  # includes UnicodeDecodeError
                return None
    return None


def _kafka_moment(timestamp_ms: int | None) -> datetime:
    return datetime.fromtimestamp(max(timestamp_ms or 0, 0) / 1000, tz=timezone.utc)
