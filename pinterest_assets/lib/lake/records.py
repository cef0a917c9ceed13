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

Each line is serialised once, by orjson: compact, keys in the order above, non-ASCII kept as
UTF-8, control characters escaped (byte for byte what `json.dumps(..., ensure_ascii=False,
separators=(",", ":"))` writes), ending in a newline. Records with exactly the API's headers, a
canonical schema_version and UTF-8 key and value (nearly all) take a fast path; any other goes
through the general one.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, NamedTuple, Protocol

import orjson

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
_API_HEADER_NAMES = frozenset((API_HEADERS, API_HEADERS_BEFORE_CLIENT_IDS))
_INTEGER = re.compile(r"-?[0-9]+")
_INT32 = range(-(2**31), 2**31)  # the lake readers' column type (Spark IntegerType)
# received_at as the API writes it (pinterest_common.records.format_received_at), ASCII digits only.
_CANONICAL_RECEIVED_AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_LINE = orjson.OPT_APPEND_NEWLINE


class KafkaRecord(Protocol):
    """What we use of kafka-python's ConsumerRecord (values and keys as bytes)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


class LakeLine(NamedTuple):
    """One line of a lake object: one Kafka record, serialised."""

    offset: int
    moment: datetime  # received_at, or the Kafka timestamp when it has no usable one
    data: bytes  # the JSON line, newline included

    @classmethod
    def of(cls, offset: int, moment: datetime, fields: dict[str, Any]) -> LakeLine:
        return cls(offset, moment, orjson.dumps(fields, option=_LINE))

    @property
    def day(self) -> date:
        return self.moment.date()

    @property
    def fields(self) -> dict[str, Any]:
        """The line's fields, read back (for tests and tools; the drain never needs them)."""
        return orjson.loads(self.data)


def parse_record(record: KafkaRecord) -> LakeLine:
    """The lake line of `record` (see the module docstring); never raises for bad content."""
    return _api_line(record) or _any_line(record)


def _api_line(record: KafkaRecord) -> LakeLine | None:
    """The fast path: the line of a record with exactly the API's headers (UTF-8, schema_version
    canonical) and a UTF-8 or absent key and value; None for any other record."""
    headers = record.headers
    if not headers or tuple(name for name, _ in headers) not in _API_HEADER_NAMES:
        return None
    key, value = record.key, record.value
    try:
        # A header without value (None) raises AttributeError, caught below: the fast path checks nothing first.
        texts = [header.decode() for _, header in headers]  # pyright: ignore[reportOptionalMemberAccess]
        key_text = None if key is None else key.decode()
        value_text = None if value is None else value.decode()
    except (AttributeError, UnicodeDecodeError):  # a header without value, or bytes that are not UTF-8
        return None
    version_text = texts[3]
    if not (version_text.isascii() and version_text.isdigit()):  # negative ones take the general path
        return None
    schema_version = int(version_text)
    if schema_version not in _INT32 or str(schema_version) != version_text:
        return None
    received_at = texts[2]
    fields = {
        "event_id": texts[0],
        "event_type": texts[1],
        "received_at": received_at,
        "schema_version": schema_version,
        "client_event_id": texts[4] if len(texts) == 5 else None,
        "kafka_topic": record.topic,
        "kafka_partition": record.partition,
        "kafka_offset": record.offset,
        "kafka_timestamp": record.timestamp,
        "key": key_text,
        "value": value_text,
    }
    moment = _received_at(received_at) or _kafka_moment(record.timestamp)
    return LakeLine(record.offset, moment, orjson.dumps(fields, option=_LINE))


def _any_line(record: KafkaRecord) -> LakeLine:
    """The general path: any record, whatever its headers, key and value."""
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
    moment = _received_at(texts.get(RECEIVED_AT)) or _kafka_moment(record.timestamp)
    return LakeLine.of(record.offset, moment, fields)


def _integer(text: str | None) -> int | None:
    if text is None or not _INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if number in _INT32 else None


def _api_headers(
    headers: list[tuple[str, bytes | None]], texts: dict[str, str | None], schema_version: int | None
) -> bool:
    """Whether the headers are exactly those the API writes (the line then holds them all)."""
    names = tuple(name for name, _ in headers)
    return (
        names in _API_HEADER_NAMES
        and all(texts[name] is not None for name in names)
        and schema_version is not None
        and str(schema_version) == texts[SCHEMA_VERSION_HEADER]
    )


def _received_at(text: str | None) -> datetime | None:
    """received_at as parse_received_at reads it (None when it does not parse); the API's own
    form is read by fromisoformat, 80 times faster than strptime, with the same result."""
    if text is None:
        return None
    try:
        if _CANONICAL_RECEIVED_AT.fullmatch(text):
            return datetime.fromisoformat(text)
        return parse_received_at(text)
    except ValueError:
        return None


def _kafka_moment(timestamp_ms: int | None) -> datetime:
    return datetime.fromtimestamp(max(timestamp_ms or 0, 0) / 1000, tz=UTC)
