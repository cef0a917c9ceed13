"""A Kafka record -> the one line it becomes in the raw lake, whatever it holds.

The raw lake mirrors the event topics: every record is one lake line, whoever wrote it and
whatever its value. The drain neither parses nor judges values; the clean step decides what is
a valid event (and quarantines the rest). Garbage stays visible: bytes that are not UTF-8 are
kept in base64.

Lake line, one JSON object per line, fields in this order:
    event_id, event_type, received_at   the header texts; null when absent or not UTF-8
    schema_version                      the header as an integer; null when absent or not an
                                        integer (decimal digits, 32-bit signed)
    client_event_id                     the header text (the client's name for the event); null
                                        when absent (records from before client ids) or not UTF-8
    kafka_topic, kafka_partition, kafka_offset   where the record was
    kafka_timestamp                     the record timestamp, ms since the epoch
    key                                 the record key as text; null when absent or not UTF-8
    value                               the value text exactly as received; null when absent
                                        (a tombstone) or not UTF-8
and only when needed, after those:
    key_base64                          the key in base64, only when it is not UTF-8
    value_base64                        the value in base64, only when it is not UTF-8
    headers                             every header in order, [{name, value, value_base64}]
                                        (value: the text, null when absent or not UTF-8;
                                        value_base64: null unless the value is bytes that are
                                        not UTF-8), only when the headers are not
                                        exactly the API's (pinterest_common.records:
                                        event_id, event_type, received_at, schema_version and,
                                        since client ids, client_event_id, in that order, once
                                        each, UTF-8, schema_version written as its integer)

A record the API wrote is thus a line of the first eleven fields, from which its headers can be
written again byte for byte. A header present more than once counts by its first occurrence
(as in the streaming job). The line's day (its object's `dt=`) is the UTC day of received_at
when that parses (pinterest_common.records.parse_received_at), else of the Kafka timestamp.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Protocol

from pinterest_common.records import (
    CLIENT_EVENT_ID,
    EVENT_ID,
    EVENT_TYPE,
    RECEIVED_AT,
    SCHEMA_VERSION_HEADER,
    base64_if_not_utf8,
    parse_received_at,
    utf8_text,
)

API_HEADERS = (EVENT_ID, EVENT_TYPE, RECEIVED_AT, SCHEMA_VERSION_HEADER, CLIENT_EVENT_ID)
API_HEADERS_BEFORE_CLIENT_IDS = API_HEADERS[:-1]
_INTEGER = re.compile(r"-?[0-9]+")
_INT32 = range(-(2**31), 2**31)  # the lake readers' column type (Spark IntegerType)


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
    """One line of a lake object: one Kafka record."""

    offset: int
    moment: datetime  # received_at, or the Kafka timestamp when it has no usable one
    fields: dict[str, Any]

    @property
    def day(self) -> date:
        return self.moment.date()

    def encode(self) -> bytes:
        return (json.dumps(self.fields, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def parse_record(record: KafkaRecord) -> LakeLine:
    """The lake line of `record` (see the module docstring); never raises for bad content."""
    headers = list(record.headers or [])
    texts: dict[str, str | None] = {}
    for name, value in headers:
        texts.setdefault(name, utf8_text(value))
    schema_version = _integer(texts.get(SCHEMA_VERSION_HEADER))
    fields: dict[str, Any] = {
        "event_id": texts.get(EVENT_ID),
        "event_type": texts.get(EVENT_TYPE),
        "received_at": texts.get(RECEIVED_AT),
        "schema_version": schema_version,
        "client_event_id": texts.get(CLIENT_EVENT_ID),
        "kafka_topic": record.topic,
        "kafka_partition": record.partition,
        "kafka_offset": record.offset,
        "kafka_timestamp": record.timestamp,
        "key": utf8_text(record.key),
        "value": utf8_text(record.value),
    }
    if (key_base64 := base64_if_not_utf8(record.key)) is not None:
        fields["key_base64"] = key_base64
    if (value_base64 := base64_if_not_utf8(record.value)) is not None:
        fields["value_base64"] = value_base64
    if not _api_headers(headers, texts, schema_version):
        fields["headers"] = [
            {"name": name, "value": utf8_text(value), "value_base64": base64_if_not_utf8(value)}
            for name, value in headers
        ]
    return LakeLine(
        offset=record.offset,
        moment=_received_at(texts.get(RECEIVED_AT)) or _kafka_moment(record.timestamp),
        fields=fields,
    )


def _integer(text: str | None) -> int | None:
    if text is None or not _INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if number in _INT32 else None


def _api_headers(headers: list[tuple[str, bytes | None]], texts: dict[str, str | None], schema_version: int | None) -> bool:
    """Whether the headers are exactly those the API writes (the line then holds them all)."""
    names = tuple(name for name, _ in headers)
    return (
        names in (API_HEADERS, API_HEADERS_BEFORE_CLIENT_IDS)
        and all(texts[name] is not None for name in names)
        and schema_version is not None
        and str(schema_version) == texts[SCHEMA_VERSION_HEADER]
    )


def _received_at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_received_at(text)
    except ValueError:
        return None


def _kafka_moment(timestamp_ms: int | None) -> datetime:
    return datetime.fromtimestamp(max(timestamp_ms or 0, 0) / 1000, tz=timezone.utc)
