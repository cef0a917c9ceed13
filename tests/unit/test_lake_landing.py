"""Landing one range exactly once (pinterest_assets.lib.lake.landing), with in-memory Kafka, S3 and
progress: crashes between upload and commit, re-runs, ranges that grew, gaps, write-ahead
before every upload, and S3 answering with a checksum other than the bytes'."""

import base64
import gzip
import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from pinterest_assets.lib.lake.landing import ChecksumMismatch, RangeNotReady, land_range
from pinterest_assets.lib.lake.objects import RollLimits
from pinterest_assets.lib.lake.progress import ObjectRow
from pinterest_assets.lib.lake.ranges import OffsetRange
from pinterest_common.records import RecordMetadata
from pinterest_common.schema import GEO, record_key

TOPIC = GEO.topic
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list


def geo_record(offset, partition=0, value=None):
    event = {"ind": offset, "timestamp": "2020-08-28 03:52:47", "latitude": 1.5, "longitude": 2.5, "country": "Albania"}
    meta = RecordMetadata(
        f"00000000-0000-4000-8000-{offset:012d}",
        "geo",
        (T0 + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )
    return Record(
        TOPIC, partition, offset, 0, record_key(GEO, event), value or json.dumps(event).encode(), meta.headers()
    )


class Crash(BaseException):
    """A process dying (not an Exception: nothing may catch it)."""


@dataclass
class FakeProgress:
    next_offsets: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)
    crash_on_commit: bool = False

    @contextmanager
    def partition_lock(self, topic, partition, timeout_s=0):
        yield

    def committed_offset(self, topic, partition):
        return self.next_offsets.get(partition)

    def objects(self, topic, state=None, partition=None):
        return [
            r
            for r in self.rows.values()
            if (state is None or r.state == state) and (partition is None or r.partition == partition)
        ]

    def record_pending(self, rows):
        for row in rows:
            assert self.rows.get(row.object_key, row).state == "pending"
            self.rows[row.object_key] = row

    def forget_pending(self, keys):
        for key in keys:
            self.rows.pop(key)

    def commit(self, topic, partition, expected, next_offset, keys):
        if self.crash_on_commit:
            raise Crash()
        assert self.next_offsets.get(partition) == expected
        self.next_offsets[partition] = max(self.next_offsets.get(partition, 0), next_offset)
        for key in keys:
            row = self.rows[key]
            self.rows[key] = ObjectRow(**{**row.__dict__, "state": "landed"})


class FakeS3:
    """put_object as S3 answers it: Content-MD5 checked, the MD5 as ETag (unless `etag` says
    otherwise); with `progress`, asserts that the object was recorded pending before its upload."""

    def __init__(self, progress=None, etag=None):
        self.objects, self.puts, self.progress, self.etag = {}, 0, progress, etag

    def put_object(self, Bucket, Key, Body, ContentType, ContentMD5):
        assert base64.b64decode(ContentMD5) == hashlib.md5(Body).digest()
        if self.progress is not None:
            assert self.progress.rows[Key].state == "pending"
        self.objects[Key] = Body
        self.puts += 1
        return {"ETag": self.etag or f'"{hashlib.md5(Body).hexdigest()}"'}

    def delete_object(self, Bucket, Key):
        self.objects.pop(Key, None)


class Kafka:
    def __init__(self, records, earliest=0):
        self.records, self.earliest = records, earliest

    def read(self, start, end):
        return [r for r in self.records if max(start, self.earliest) <= r.offset < end]


FOUR_A_ROLL = RollLimits(max_records=4)


def land(kafka, s3, progress, start, end, limits=FOUR_A_ROLL, upload_threads=2):
    return land_range(
        OffsetRange(TOPIC, 0, start, end),
        GEO,
        read=kafka.read,
        earliest=lambda: kafka.earliest,
        s3=s3,
        bucket="lake",
        progress=progress,
        limits=limits,
        upload_threads=upload_threads,
    )


def offsets_in_lake(s3):
    return sorted(
        json.loads(line)["kafka_offset"] for body in s3.objects.values() for line in gzip.decompress(body).splitlines()
    )


def test_a_range_lands_in_objects_and_moves_the_committed_offset():
    kafka, s3, progress = Kafka([geo_record(i) for i in range(10)]), FakeS3(), FakeProgress()
    report = land(kafka, s3, progress, 0, 10)
    assert progress.next_offsets == {0: 10}
    assert offsets_in_lake(s3) == list(range(10))
    assert (report.records_consumed, report.records_landed, len(report.objects)) == (10, 10, 3)
    assert report.received_min == T0 and report.received_max == T0 + timedelta(seconds=9)
    assert all(r.state == "landed" and r.kind == "raw" for r in progress.rows.values())
    # The report keeps each object's figures in offset order, not its bytes.
    assert [(o.first_offset, o.last_offset, o.records) for o in report.objects] == [(0, 3, 4), (4, 7, 4), (8, 9, 2)]
    assert all(o.body is None and o.md5 == hashlib.md5(s3.objects[o.key]).hexdigest() for o in report.objects)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_many_objects_land_in_offset_order_each_recorded_pending_before_its_upload(threads):
    progress = FakeProgress()
    kafka, s3 = Kafka([geo_record(i) for i in range(50)]), FakeS3(progress)
    report = land(kafka, s3, progress, 0, 50, limits=RollLimits(max_records=3), upload_threads=threads)
    assert [o.first_offset for o in report.objects] == list(range(0, 50, 3))
    assert offsets_in_lake(s3) == list(range(50)) and progress.next_offsets == {0: 50}
    assert {r.state for r in progress.rows.values()} == {"landed"} and len(progress.rows) == 17


def test_s3_answering_with_another_checksum_fails_the_run_before_its_commit():
    progress = FakeProgress()
    kafka, s3 = Kafka([geo_record(i) for i in range(10)]), FakeS3(progress, etag='"0123456789abcdef0123456789abcdef"')
    with pytest.raises(ChecksumMismatch):
        land(kafka, s3, progress, 0, 10)
    assert progress.next_offsets == {} and {r.state for r in progress.rows.values()} == {"pending"}


def test_reading_kafka_failing_midway_commits_nothing():
    def read(start, end):
        yield from (geo_record(i) for i in range(start, 7))
        raise TimeoutError("no progress")

    progress, s3 = FakeProgress(), FakeS3()
    with pytest.raises(TimeoutError):
        land_range(
            OffsetRange(TOPIC, 0, 0, 10),
            GEO,
            read=read,
            earliest=lambda: 0,
            s3=s3,
            bucket="lake",
            progress=progress,
            limits=RollLimits(max_records=2),
        )
    assert progress.next_offsets == {} and all(r.state == "pending" for r in progress.rows.values())


def test_killed_between_upload_and_commit_then_run_again_gives_the_same_objects_once():
    kafka, s3, progress = Kafka([geo_record(i) for i in range(10)]), FakeS3(), FakeProgress(crash_on_commit=True)
    with pytest.raises(Crash):
        land(kafka, s3, progress, 0, 10)
    uploaded = dict(s3.objects)
    assert uploaded and progress.next_offsets == {}
    assert {r.state for r in progress.rows.values()} == {"pending"}

    progress.crash_on_commit = False
    report = land(kafka, s3, progress, 0, 10)
    assert s3.objects == uploaded  # same keys, same bytes
    assert report.orphans_removed == []
    assert offsets_in_lake(s3) == list(range(10)) and progress.next_offsets == {0: 10}


def test_killed_then_the_range_grew_the_dead_runs_objects_are_replaced_not_duplicated():
    kafka, s3, progress = Kafka([geo_record(i) for i in range(6)]), FakeS3(), FakeProgress(crash_on_commit=True)
    with pytest.raises(Crash):
        land(kafka, s3, progress, 0, 6)
    kafka.records += [geo_record(i) for i in range(6, 9)]
    progress.crash_on_commit = False
    report = land(kafka, s3, progress, 0, 9)
    assert report.orphans_removed  # e.g. the object that ended at offset 5
    assert offsets_in_lake(s3) == list(range(9))
    assert not progress.objects(TOPIC, state="pending")


def test_a_rerun_of_a_landed_range_writes_nothing():
    kafka, s3, progress = Kafka([geo_record(i) for i in range(5)]), FakeS3(), FakeProgress()
    land(kafka, s3, progress, 0, 5)
    puts = s3.puts
    report = land(kafka, s3, progress, 0, 5)
    assert report.already_landed and s3.puts == puts and progress.next_offsets == {0: 5}
    # A range overlapping what landed lands only the rest.
    kafka.records += [geo_record(i) for i in range(5, 8)]
    report = land(kafka, s3, progress, 3, 8)
    assert report.start == 5 and offsets_in_lake(s3) == list(range(8))


def test_a_range_waits_for_the_ranges_before_it():
    kafka, s3, progress = Kafka([geo_record(i) for i in range(10)]), FakeS3(), FakeProgress()
    with pytest.raises(RangeNotReady):
        land(kafka, s3, progress, 5, 10)  # nothing landed, and Kafka still holds 0..4
    land(kafka, s3, progress, 0, 5)
    land(kafka, s3, progress, 5, 10)
    assert offsets_in_lake(s3) == list(range(10))


def test_offsets_gone_from_kafka_before_landing_are_skipped_and_reported():
    kafka, s3, progress = Kafka([geo_record(i) for i in range(10)]), FakeS3(), FakeProgress()
    land(kafka, s3, progress, 0, 2)
    kafka.earliest = 6  # retention deleted 2..5 before they landed
    report = land(kafka, s3, progress, 6, 10)
    assert report.offsets_lost == 4 and offsets_in_lake(s3) == [0, 1, 6, 7, 8, 9]


def test_garbage_lands_in_the_raw_lake_like_any_record_once_each():
    records = [
        geo_record(0),
        geo_record(1, value=b"not json"),
        geo_record(2, value=b'{"ind": 1}'),
        geo_record(3, value=b"\xff\xfe"),
        Record(TOPIC, 0, 4, 1_600_000_000_000, b"\xff", b"{}", []),  # no headers, key not UTF-8
        Record(TOPIC, 0, 5, 0, None, None, [("event_id", b"\xff")]),  # a tombstone
        geo_record(6),
    ]
    kafka, s3, progress = Kafka(records), FakeS3(), FakeProgress()
    report = land(kafka, s3, progress, 0, 7, limits=RollLimits())
    assert (report.records_consumed, report.records_landed) == (7, 7)
    assert all(key.startswith("raw/geo/dt=") for key in s3.objects)
    assert offsets_in_lake(s3) == list(range(7))
    lines = {
        line["kafka_offset"]: line
        for body in s3.objects.values()
        for line in map(json.loads, gzip.decompress(body).splitlines())
    }
    assert lines[1]["value"] == "not json" and lines[2]["value"] == '{"ind": 1}'
    assert lines[3]["value"] is None and lines[3]["value_base64"] == "//4="
    assert lines[4]["headers"] == [] and lines[4]["key_base64"] == "/w=="
    assert lines[5]["value"] is None and lines[5]["headers"] == [
        {"name": "event_id", "value": None, "value_base64": "/w=="}
    ]
    # Without a received_at, a record's day is that of its Kafka timestamp.
    days = [(o.first_offset, o.last_offset, o.key.split("/")[2]) for o in report.objects]
    assert days == [(0, 3, "dt=2026-11-26"), (4, 4, "dt=2020-09-13"), (5, 5, "dt=1970-01-01"), (6, 6, "dt=2026-11-26")]


def test_offsets_without_a_record_count_as_read():
    kafka = Kafka([geo_record(i) for i in (0, 1, 4)])  # 2 and 3: e.g. transaction markers
    s3, progress = FakeS3(), FakeProgress()
    report = land(kafka, s3, progress, 0, 5)
    assert report.offsets_without_record == 2 and progress.next_offsets == {0: 5}
