"""Record parsing for the raw lake (pinterest_assets.lake.records): lake lines and dead letters."""

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import pytest

from pinterest_assets.lake.records import DEAD_LETTER, RAW, parse_record, reason_category
from pinterest_common.records import RecordMetadata
from pinterest_common.schema import GEO, PIN, USER, record_key

PIN_EVENT = {
    "index": 7528, "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf", "title": "No Title Data Available",
    "description": "No description available Story format", "poster_name": "User Info Error",
    "follower_count": "User Info Error", "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
    "is_image_or_video": "multi-video(story page format)", "image_src": "Image src error.", "downloaded": 0,
    "save_location": "Local save in /data/mens-fashion", "category": "mens-fashion",
}
GEO_EVENT = {"ind": 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293, "country": "Albania"}
USER_EVENT = {"ind": 7528, "first_name": "Abigail", "last_name": "Ali", "age": 20, "date_joined": "2015-10-24 11:23:51"}
RECEIVED = datetime(2026, 11, 26, 23, 59, 59, 123456, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list = field(default_factory=list)


def api_record(event_type, event, offset=42, value=None, now=RECEIVED):
    """A record exactly as the API writes it."""
    meta = RecordMetadata.new(event_type.name, now=now)
    return Record(
        topic=event_type.topic, partition=1, offset=offset, timestamp=1_796_000_000_000,
        key=record_key(event_type, event), value=value if value is not None else json.dumps(event).encode(),
        headers=meta.headers(),
    ), meta


@pytest.mark.parametrize("event_type,event", [(PIN, PIN_EVENT), (GEO, GEO_EVENT), (USER, USER_EVENT)])
def test_api_records_become_lake_lines_with_the_documented_fields(event_type, event):
    record, meta = api_record(event_type, event)
    line = parse_record(record, event_type)
    assert line.kind == RAW and line.reason is None
    assert list(line.fields) == [
        "event_id", "event_type", "received_at", "schema_version", "kafka_topic", "kafka_partition",
        "kafka_offset", "kafka_timestamp", "key", "value",
    ]
    assert line.fields["event_id"] == meta.event_id
    assert line.fields["event_type"] == event_type.name
    assert line.fields["received_at"] == "2026-11-26T23:59:59.123456Z"
    assert line.fields["schema_version"] == 1
    assert (line.fields["kafka_topic"], line.fields["kafka_partition"], line.fields["kafka_offset"]) == (event_type.topic, 1, 42)
    assert line.fields["kafka_timestamp"] == 1_796_000_000_000
    assert line.fields["key"] == record_key(event_type, event).decode()
    assert line.fields["value"] == record.value.decode()
    assert line.day.isoformat() == "2026-11-26" and line.moment == RECEIVED


def test_the_value_is_kept_exactly_as_received():
    text = '{ "ind" : "7528", "timestamp":"2020:08:28 03:52:47","latitude":"-89.9787" ,"longitude":-173.293,"country":"Côte d\'Ivoire 🌍"}'
    record, _ = api_record(GEO, GEO_EVENT, value=text.encode())
    line = parse_record(record, GEO)
    assert line.kind == RAW
    assert line.fields["value"] == text
    encoded = line.encode()
    assert encoded.endswith(b"\n") and json.loads(encoded)["value"] == text
    assert "🌍".encode() in encoded  # UTF-8, not \u escapes


def _with_headers(record, **changes):
    headers = [(name, changes.pop(name).encode() if name in changes else value) for name, value in record.headers]
    headers += [(name, value.encode()) for name, value in changes.items()]
    return replace(record, headers=headers)


def _drop_header(record, name):
    return replace(record, headers=[(n, v) for n, v in record.headers if n != name])


CASES = {
    "not JSON": (lambda r: replace(r, value=b"{not json"), "value is not JSON"),
    "not UTF-8": (lambda r: replace(r, value=b"\xff\xfe{}"), "value is not UTF-8"),
    "nested too deeply": (lambda r: replace(r, value=b"[" * 100_000), "value is not JSON"),
    "tombstone": (lambda r: replace(r, value=None), "no value (tombstone)"),
    "no headers": (lambda r: replace(r, headers=[]), "invalid headers"),
    "missing event_id": (lambda r: _drop_header(r, "event_id"), "invalid headers"),
    "event_id not a UUID": (lambda r: _with_headers(r, event_id="42"), "invalid headers"),
    "wrong event_type": (lambda r: _with_headers(r, event_type="geo"), "invalid headers"),
    "bad received_at": (lambda r: _with_headers(r, received_at="yesterday"), "invalid headers"),
    "schema_version not an int": (lambda r: _with_headers(r, schema_version="v1"), "invalid headers"),
    "future schema_version": (lambda r: _with_headers(r, schema_version="2"), "invalid headers"),
    "schema-invalid": (lambda r: replace(r, value=json.dumps({**PIN_EVENT, "downloaded": True}).encode()), "schema-invalid"),
    "missing field": (lambda r: replace(r, value=json.dumps({"index": 1}).encode()), "schema-invalid"),
    "JSON array": (lambda r: replace(r, value=b"[1, 2]"), "schema-invalid"),
    "key not UTF-8": (lambda r: replace(r, key=b"\xff"), "key is not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_records_not_written_by_the_api_become_dead_letters_with_a_reason(case):
    corrupt, category = CASES[case]
    record = corrupt(api_record(PIN, PIN_EVENT)[0])
    line = parse_record(record, PIN)
    assert line.kind == DEAD_LETTER
    assert reason_category(line.reason) == category
    assert line.fields["reason"] == line.reason
    assert (line.fields["kafka_topic"], line.fields["kafka_partition"], line.fields["kafka_offset"]) == ("pinterest.pin", 1, 42)
    json.loads(line.encode())  # always serialisable


def test_dead_letters_keep_every_byte_and_fall_back_to_the_kafka_timestamp_for_their_day():
    record = Record("pinterest.pin", 0, 7, 1_600_000_000_000, b"\x00\xff", b"\xff\xfe", [("x", b"\xff"), ("y", None)])
    line = parse_record(record, PIN)
    assert line.kind == DEAD_LETTER
    assert line.fields["value"] is None and base64.b64decode(line.fields["value_base64"]) == b"\xff\xfe"
    assert line.fields["key"] is None and base64.b64decode(line.fields["key_base64"]) == b"\x00\xff"
    assert line.fields["headers"] == [
        {"name": "x", "value": None, "value_base64": base64.b64encode(b"\xff").decode()},
        {"name": "y", "value": None, "value_base64": None},
    ]
    assert line.day.isoformat() == "2020-09-13"  # 1_600_000_000 s


def test_dead_letters_with_a_readable_received_at_use_its_day():
    record = replace(api_record(PIN, PIN_EVENT)[0], value=b"nope")
    assert parse_record(record, PIN).day.isoformat() == "2026-11-26"
