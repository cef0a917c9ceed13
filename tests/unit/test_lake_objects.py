"""Rolling, naming and encoding lake objects (pinterest_assets.lib.lake.objects)."""

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from pinterest_assets.lib.lake.objects import (
    Roller,
    RollLimits,
    build_objects,
    decode_lines,
    encode_lines,
    object_key,
    roll,
)
from pinterest_assets.lib.lake.records import LakeLine

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def line(offset, moment=T0, size=10):
    return LakeLine.of(offset, moment, {"kafka_offset": offset, "pad": "x" * size})


def test_object_keys_follow_the_documented_layout():
    day = T0.date()
    assert (
        object_key("pin", day, "pinterest.pin", 0, 0, 499)
        == "raw/pin/dt=2026-11-26/pinterest.pin+p0+o000000000000+o000000000499.jsonl.gz"
    )
    assert (
        object_key("geo", day, "pinterest.geo", 2, 1234, 1240)
        == "raw/geo/dt=2026-11-26/pinterest.geo+p2+o000000001234+o000000001240.jsonl.gz"
    )


def test_gzip_bytes_are_deterministic_and_carry_no_timestamp():
    body = encode_lines([b'{"a":1}\n', b'{"b":2}\n'])
    assert body == encode_lines([b'{"a":1}\n', b'{"b":2}\n'])
    assert body[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME field
    assert decode_lines(body) == [b'{"a":1}', b'{"b":2}']


def test_roll_by_record_count():
    groups = roll([line(i) for i in range(7)], RollLimits(max_records=3))
    assert [[item.offset for item in g] for g in groups] == [[0, 1, 2], [3, 4, 5], [6]]


def test_roll_by_uncompressed_bytes():
    lines = [line(i, size=100) for i in range(5)]
    one = len(lines[0].data)
    groups = roll(lines, RollLimits(max_bytes=2 * one))
    assert [len(g) for g in groups] == [2, 2, 1]
    # A single line larger than the limit still makes its own object.
    assert [len(g) for g in roll(lines, RollLimits(max_bytes=1))] == [1] * 5


def test_roll_by_received_at_span_and_at_day_boundaries_never_by_wall_clock():
    moments = [T0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=61), T0 + timedelta(minutes=62)]
    groups = roll([line(i, m) for i, m in enumerate(moments)], RollLimits(max_span_seconds=3600))
    assert [[item.offset for item in g] for g in groups] == [[0, 1], [2, 3]]

    midnight = datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC)
    groups = roll([line(0, midnight), line(1, midnight + timedelta(seconds=2))], RollLimits())
    assert [g[0].day.isoformat() for g in groups] == ["2026-11-26", "2026-11-27"]


def test_span_counts_out_of_order_received_at_values():
    moments = [T0, T0 - timedelta(minutes=50), T0 + timedelta(minutes=20)]
    groups = roll([line(i, m) for i, m in enumerate(moments)], RollLimits(max_span_seconds=3600))
    assert [[item.offset for item in g] for g in groups] == [[0, 1], [2]]


def test_build_objects_puts_every_line_in_one_object_named_by_its_first_and_last_offsets():
    lines = [line(10), line(11), line(13), line(14), line(15, T0 + timedelta(days=1))]  # 12: no record
    objects = build_objects(lines, "pinterest.pin", 1, "pin", RollLimits(max_records=2))
    assert [(o.first_offset, o.last_offset, o.records) for o in objects] == [(10, 11, 2), (13, 14, 2), (15, 15, 1)]
    assert objects[0].key == "raw/pin/dt=2026-11-26/pinterest.pin+p1+o000000000010+o000000000011.jsonl.gz"
    assert objects[2].key.startswith("raw/pin/dt=2026-11-27/")
    assert [json.loads(raw)["kafka_offset"] for raw in gzip.decompress(objects[0].body).splitlines()] == [10, 11]
    assert [json.loads(raw)["kafka_offset"] for o in objects for raw in gzip.decompress(o.body).splitlines()] == [
        10,
        11,
        13,
        14,
        15,
    ]
    assert objects[0].uncompressed_bytes == len(gzip.decompress(objects[0].body))
    assert all(o.md5 == hashlib.md5(o.body).hexdigest() and o.bytes == len(o.body) for o in objects)
    assert objects[0].without_body().body is None and objects[0].without_body().md5 == objects[0].md5
    # Same lines, same objects, same bytes.
    again = build_objects(lines, "pinterest.pin", 1, "pin", RollLimits(max_records=2))
    assert [(o.key, o.body) for o in again] == [(o.key, o.body) for o in objects]


def test_rolling_lines_as_they_come_gives_the_groups_of_rolling_them_all_at_once():
    moments = [T0 + timedelta(minutes=25 * i) for i in range(40)]
    lines = [line(i, m, size=i % 7 * 30) for i, m in enumerate(moments)]
    limits = RollLimits(max_records=5, max_bytes=300, max_span_seconds=3600)
    roller, groups = Roller(limits), []
    for one in lines:
        if finished := roller.add(one):
            groups.append(finished)
    groups.append(roller.flush())
    assert groups == roll(lines, limits) and sum(map(len, groups)) == len(lines) and len(groups) > 8
    assert roller.flush() is None


@pytest.mark.parametrize("limits", [dict(max_records=0), dict(max_bytes=0), dict(max_span_seconds=-1)])
def test_invalid_roll_limits_are_rejected(limits):
    with pytest.raises(ValueError):
        RollLimits(**limits)
