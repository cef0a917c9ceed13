"""Kafka records -> raw lake lines (pinterest_assets.lib.lake.records): every record is one line,
whatever it holds; an API record's line has the ten documented fields, garbage stays visible."""

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from pinterest_assets.lib.lake.records import parse_record
from pinterest_common.records import RecordMetadata
from pinterest_common.schema import GEO, PIN, USER, record_key

PIN_EVENT = {
    "index": 7528,
    "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
    "title": "No Title Data Available",
    "description": "No description available Story format",
    "poster_name": "User Info Error",
    "follower_count": "User Info Error",
    "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
    "is_image_or_video": "multi-video(story page format)",
    "image_src": "Image src error.",
    "downloaded": 0,
    "save_location": "Local save in /data/mens-fashion",
    "category": "mens-fashion",
}
GEO_EVENT = {
    "ind": 7528,
    "timestamp": "2020-08-28 03:52:47",
    "latitude": -89.9787,
    "longitude": -173.293,
    "country": "Albania",
}
USER_EVENT = {"ind": 7528, "first_name": "Abigail", "last_name": "Ali", "age": 20, "date_joined": "2015-10-24 11:23:51"}
RECEIVED = datetime(2026, 11, 26, 23, 59, 59, 123456, tzinfo=UTC)


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
        topic=event_type.topic,
        partition=1,
        offset=offset,
        timestamp=1_796_000_000_000,
        key=record_key(event_type, event),
        value=value if value is not None else json.dumps(event).encode(),
        headers=meta.headers(),
    ), meta


API_FIELDS = [
    "event_id",
    "event_type",
    "received_at",
    "schema_version",
    "client_event_id",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
    "key",
    "value",
]


@pytest.mark.parametrize("event_type,event", [(PIN, PIN_EVENT), (GEO, GEO_EVENT), (USER, USER_EVENT)])
def test_api_records_become_lake_lines_with_the_documented_fields(event_type, event):
    record, meta = api_record(event_type, event)
    line = parse_record(record)
    assert list(line.fields) == API_FIELDS
    assert line.fields["event_id"] == meta.event_id
    assert line.fields["event_type"] == event_type.name
    assert line.fields["received_at"] == "2026-11-26T23:59:59.123456Z"
    assert line.fields["schema_version"] == 1
    assert line.fields["client_event_id"] == meta.event_id  # no Idempotency-Key: the event_id stands in
    assert (line.fields["kafka_topic"], line.fields["kafka_partition"], line.fields["kafka_offset"]) == (
        event_type.topic,
        1,
        42,
    )
    assert line.fields["kafka_timestamp"] == 1_796_000_000_000
    assert line.fields["key"] == record_key(event_type, event).decode()
    assert line.fields["value"] == record.value.decode()
    assert line.offset == 42 and line.day.isoformat() == "2026-11-26" and line.moment == RECEIVED


def test_an_api_records_line_is_byte_for_byte_what_it_was():
    record, meta = api_record(GEO, GEO_EVENT)
    expected = {
        "event_id": meta.event_id,
        "event_type": "geo",
        "received_at": "2026-11-26T23:59:59.123456Z",
        "schema_version": 1,
        "client_event_id": meta.event_id,
        "kafka_topic": "pinterest.geo",
        "kafka_partition": 1,
        "kafka_offset": 42,
        "kafka_timestamp": 1_796_000_000_000,
        "key": "7528",
        "value": json.dumps(GEO_EVENT),
    }
    assert (
        parse_record(record).data == (json.dumps(expected, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    )


def test_the_value_is_kept_exactly_as_received():
    text = '{ "ind" : "7528", "timestamp":"2020:08:28 03:52:47","latitude":"-89.9787" ,"longitude":-173.293,"country":"Côte d\'Ivoire 🌍"}'
    record, _ = api_record(GEO, GEO_EVENT, value=text.encode())
    line = parse_record(record)
    assert list(line.fields) == API_FIELDS
    assert line.fields["value"] == text
    encoded = line.data
    assert encoded.endswith(b"\n") and json.loads(encoded)["value"] == text
    assert "🌍".encode() in encoded  # UTF-8, not \u escapes


def test_a_client_named_record_keeps_its_client_event_id():
    meta = RecordMetadata.new("pin", now=RECEIVED, client_event_id="order-17:retry-safe")
    record = replace(api_record(PIN, PIN_EVENT)[0], headers=meta.headers())
    line = parse_record(record)
    assert list(line.fields) == API_FIELDS
    assert line.fields["client_event_id"] == "order-17:retry-safe" and line.fields["event_id"] == meta.event_id


def test_a_record_from_before_client_ids_is_still_an_api_record():
    record = _drop_header(api_record(PIN, PIN_EVENT)[0], "client_event_id")
    line = parse_record(record)
    assert list(line.fields) == API_FIELDS and line.fields["client_event_id"] is None


def _with_headers(record, **changes):
    headers = [(name, changes.pop(name).encode() if name in changes else value) for name, value in record.headers]
    headers += [(name, value.encode()) for name, value in changes.items()]
    return replace(record, headers=headers)


def _drop_header(record, name):
    return replace(record, headers=[(n, v) for n, v in record.headers if n != name])


def _header_bytes(record, name):
    return next(v for n, v in record.headers if n == name)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# The drain judges no value: anything the API would have refused lands as it came, as an API
# record's line (the clean step quarantines it).
VALUES_NOT_JUDGED = {
    "not JSON": b"{not json",
    "nested too deeply": b"[" * 100_000,
    "schema-invalid": json.dumps({**PIN_EVENT, "downloaded": True}).encode(),
    "missing field": json.dumps({"index": 1}).encode(),
    "JSON array": b"[1, 2]",
    "empty": b"",
    "NUL characters": b'{"title": "a\x00b"}',
}


@pytest.mark.parametrize("case", sorted(VALUES_NOT_JUDGED))
def test_values_are_not_judged_they_land_as_received(case):
    record, meta = api_record(PIN, PIN_EVENT, value=VALUES_NOT_JUDGED[case])
    line = parse_record(record)
    assert list(line.fields) == API_FIELDS
    assert line.fields["value"] == VALUES_NOT_JUDGED[case].decode()
    assert line.fields["event_id"] == meta.event_id and line.day.isoformat() == "2026-11-26"
    assert json.loads(line.data)["value"].encode() == VALUES_NOT_JUDGED[case]


def test_a_value_that_is_not_utf8_is_kept_in_base64():
    record = replace(api_record(PIN, PIN_EVENT)[0], value=b"\xff\xfe{}")
    line = parse_record(record)
    assert list(line.fields) == [*API_FIELDS, "value_base64"]
    assert line.fields["value"] is None and base64.b64decode(line.fields["value_base64"]) == b"\xff\xfe{}"
    assert line.fields["event_type"] == "pin" and line.fields["schema_version"] == 1


def test_a_tombstone_is_a_line_without_value():
    record = replace(api_record(PIN, PIN_EVENT)[0], value=None)
    line = parse_record(record)
    assert list(line.fields) == API_FIELDS and line.fields["value"] is None


def test_a_key_that_is_not_utf8_is_kept_in_base64_and_an_absent_key_is_null():
    record = replace(api_record(PIN, PIN_EVENT)[0], key=b"\xff\x00")
    line = parse_record(record)
    assert list(line.fields) == [*API_FIELDS, "key_base64"]
    assert line.fields["key"] is None and line.fields["key_base64"] == b64(b"\xff\x00")
    line = parse_record(replace(record, key=None))
    assert list(line.fields) == API_FIELDS and line.fields["key"] is None


def test_a_record_without_headers_lands_with_its_empty_header_list_and_the_kafka_timestamps_day():
    record = replace(api_record(PIN, PIN_EVENT)[0], headers=[], timestamp=1_600_000_000_000)
    line = parse_record(record)
    assert list(line.fields) == [*API_FIELDS, "headers"]
    assert [line.fields[f] for f in ("event_id", "event_type", "received_at", "schema_version")] == [None] * 4
    assert line.fields["headers"] == []
    assert line.fields["value"] == json.dumps(PIN_EVENT)
    assert line.day.isoformat() == "2020-09-13"  # 1_600_000_000 s
    assert parse_record(replace(record, headers=None)).fields["headers"] == []


# Headers that are not exactly the API's four: the line lists them all, as they were.
HEADER_CASES = {
    "missing event_id": lambda r: _drop_header(r, "event_id"),
    "event_id not a UUID": lambda r: _with_headers(r, event_id="42"),
    "wrong event_type": lambda r: _with_headers(r, event_type="geo"),
    "bad received_at": lambda r: _with_headers(r, received_at="yesterday"),
    "schema_version not an int": lambda r: _with_headers(r, schema_version="v1"),
    "future schema_version": lambda r: _with_headers(r, schema_version="2"),
    "an extra header": lambda r: _with_headers(r, traceparent="00-abc"),
    "reordered": lambda r: replace(r, headers=list(reversed(r.headers))),
    "a header twice": lambda r: replace(r, headers=[*r.headers, ("event_id", b"second")]),
}


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_records_with_other_headers_become_one_line_too(case):
    record = HEADER_CASES[case](api_record(PIN, PIN_EVENT)[0])
    line = parse_record(record)
    # The first occurrence of each API header fills its field, as the streaming job reads it.
    first = {}
    for name, value in record.headers:
        first.setdefault(name, value.decode())
    assert line.fields["event_id"] == first.get("event_id")
    assert line.fields["event_type"] == first.get("event_type")
    assert line.fields["received_at"] == first.get("received_at")
    expected_headers = [{"name": n, "value": v.decode(), "value_base64": None} for n, v in record.headers]
    # The drain does not judge header values either: these are still the API's four headers,
    # each value in its field.
    is_api = case in ("wrong event_type", "event_id not a UUID", "bad received_at", "future schema_version")
    if is_api:
        assert list(line.fields) == API_FIELDS
    else:
        assert list(line.fields) == [*API_FIELDS, "headers"] and line.fields["headers"] == expected_headers
    assert line.fields["value"] == json.dumps(PIN_EVENT)
    json.loads(line.data)


def test_schema_version_is_an_int_only_when_the_header_is_a_32_bit_integer():
    record = api_record(PIN, PIN_EVENT)[0]
    for text, expected, listed in [
        ("1", 1, False),
        ("2", 2, False),
        ("-3", -3, False),
        ("01", 1, True),
        ("+1", None, True),
        (" 1", None, True),
        ("1.0", None, True),
        ("١", None, True),
        ("1_0", None, True),
        ("", None, True),
        ("v1", None, True),
        (str(2**31 - 1), 2**31 - 1, False),
        (str(2**31), None, True),
    ]:
        line = parse_record(_with_headers(record, schema_version=text))
        assert line.fields["schema_version"] == expected, text
        assert ("headers" in line.fields) is listed, text  # "01" is 1, but its bytes stay visible


def test_headers_that_are_not_utf8_or_have_no_value_are_null_and_listed_in_base64():
    record = _with_headers(api_record(PIN, PIN_EVENT)[0])
    record = replace(
        record,
        headers=[
            ("event_id", b"\xff\xfe"),
            *[(n, v) for n, v in record.headers if n in ("event_type", "received_at")],
            ("schema_version", None),
        ],
    )
    line = parse_record(record)
    assert line.fields["event_id"] is None and line.fields["schema_version"] is None
    assert line.fields["event_type"] == "pin" and line.day.isoformat() == "2026-11-26"
    assert line.fields["headers"] == [
        {"name": "event_id", "value": None, "value_base64": b64(b"\xff\xfe")},
        {"name": "event_type", "value": "pin", "value_base64": None},
        {"name": "received_at", "value": "2026-11-26T23:59:59.123456Z", "value_base64": None},
        {"name": "schema_version", "value": None, "value_base64": None},
    ]


def test_garbage_everywhere_is_one_line_with_every_byte_visible():
    record = Record("pinterest.pin", 0, 7, 1_600_000_000_000, b"\x00\xff", b"\xff\xfe", [("x", b"\xff"), ("y", None)])
    line = parse_record(record)
    assert line.fields == {
        "event_id": None,
        "event_type": None,
        "received_at": None,
        "schema_version": None,
        "client_event_id": None,
        "kafka_topic": "pinterest.pin",
        "kafka_partition": 0,
        "kafka_offset": 7,
        "kafka_timestamp": 1_600_000_000_000,
        "key": None,
        "value": None,
        "key_base64": b64(b"\x00\xff"),
        "value_base64": b64(b"\xff\xfe"),
        "headers": [
            {"name": "x", "value": None, "value_base64": b64(b"\xff")},
            {"name": "y", "value": None, "value_base64": None},
        ],
    }
    assert line.day.isoformat() == "2020-09-13"  # 1_600_000_000 s
    assert json.loads(line.data) == line.fields


def test_the_day_is_that_of_received_at_when_it_parses_else_of_the_kafka_timestamp():
    record = replace(api_record(PIN, PIN_EVENT)[0], value=b"nope", timestamp=1_600_000_000_000)
    assert parse_record(record).day.isoformat() == "2026-11-26"
    assert parse_record(_with_headers(record, received_at="yesterday")).day.isoformat() == "2020-09-13"
    assert parse_record(_with_headers(record, received_at="2026-11-26T23:59:59Z")).day.isoformat() == "2020-09-13"
    assert parse_record(replace(record, headers=[("received_at", b"\xff")])).day.isoformat() == "2020-09-13"
    assert parse_record(replace(record, headers=[], timestamp=-1)).day.isoformat() == "1970-01-01"


def test_the_same_record_always_gives_the_same_bytes():
    record = Record("pinterest.geo", 2, 9, 5, b"\xff", b"\xfe", [("x", b"1"), ("event_id", b"\xff")])
    assert parse_record(record).data == parse_record(record).data


# One serialisation, by orjson: the bytes json.dumps(ensure_ascii=False, compact) would write,
# which Spark's JSON reader reads back to the same strings.
AWKWARD_TEXT = 'tab\there "quoted" back\\slash /slash \x00\x01\x1f\x7f é 🌍 \u2028\u2029 \r\n\b\f end'


def _reference(line) -> bytes:
    return (json.dumps(line.fields, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


@pytest.mark.parametrize("value", [AWKWARD_TEXT.encode(), b"\xff\xfe", b"", None, json.dumps(PIN_EVENT).encode()])
def test_lines_are_the_bytes_of_compact_json_with_utf8_kept_and_control_characters_escaped(value):
    api = replace(api_record(PIN, PIN_EVENT)[0], value=value)
    odd = _with_headers(api, traceparent=AWKWARD_TEXT)  # the general path
    for record in (api, odd):
        line = parse_record(record)
        assert line.data == _reference(line)
        assert line.data.count(b"\n") == 1 and line.data.endswith(b"\n")  # one line, whatever the text holds
        assert json.loads(line.data)["value"] == (value.decode() if value not in (None, b"\xff\xfe") else None)
    assert "🌍".encode() in parse_record(odd).data and b"\\u0000" in parse_record(odd).data


def test_the_fast_path_writes_the_line_of_the_general_path():
    from pinterest_assets.lib.lake.records import _any_line, _api_line

    records = [api_record(t, e)[0] for t, e in ((PIN, PIN_EVENT), (GEO, GEO_EVENT), (USER, USER_EVENT))]
    records += [
        _drop_header(records[0], "client_event_id"),
        replace(records[0], key=None, value=None),
        replace(records[1], value=AWKWARD_TEXT.encode()),
        _with_headers(records[2], event_id="42"),
    ]
    for record in records:
        assert _api_line(record) is not None
        assert _api_line(record) == _any_line(record)
    # Anything else takes the general path.
    for record in [
        replace(records[0], value=b"\xff"),
        replace(records[0], key=b"\xff"),
        _with_headers(records[0], schema_version="01"),
        _with_headers(records[0], schema_version="-1"),
        _with_headers(records[0], schema_version=str(2**31)),
        _with_headers(records[0], traceparent="x"),
        replace(records[0], headers=[*records[0].headers[:3], ("schema_version", None), records[0].headers[4]]),
        replace(records[0], headers=[]),
    ]:
        assert _api_line(record) is None


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26T23:59:59.123456Z",
        "2024-02-29T00:00:00.000000Z",
        "2026-02-29T00:00:00.000000Z",
        "2026-11-26T24:00:00.000000Z",
        "2026-11-26T23:59:60.000000Z",
        "2026-13-01T00:00:00.000000Z",
        "2026-W48-4T23:59:59.123456Z",
        "2026-11-26T23:59:59Z",
        "2026-11-26T23:59:59.1Z",
        "2026-11-26 23:59:59.123456Z",
        "2026-11-26T23:59:59.123456+00:00",
        "2026-1-2T3:4:5.6Z",
        "２０２６-11-26T23:59:59.123456Z",
        "",
    ],
)
def test_received_at_is_read_as_parse_received_at_reads_it(text):
    from pinterest_assets.lib.lake.records import _received_at
    from pinterest_common.records import parse_received_at

    try:
        expected = parse_received_at(text)
    except ValueError:
        expected = None
    assert _received_at(text) == expected
