"""The raw assets' checks made to fail: `nothing_lost` and `no_duplicate_offsets`
(pinterest_assets/checks/raw_events.py, logic in pinterest_assets/lake/verify.py), over objects
built to break them, first as functions, then run by Dagster against a fake S3 and manifest for a
planted landing, as the UI runs them alone. No services: tests/integration/test_raw_checks.py
breaks a real landing in the real S3 server and PostgreSQL manifest."""

from __future__ import annotations

import io
import json

import dagster as dg
import pytest

from pinterest_assets.assets.raw_events import RAW_EVENTS
from pinterest_assets.checks.raw_events import NO_DUPLICATES, NOTHING_CHECKED, NOTHING_LOST, RAW_EVENTS_CHECKS
from pinterest_assets.lake.objects import encode_lines
from pinterest_assets.lake.verify import ReadBack, no_duplicates, nothing_lost, read_back

TOPIC = "pinterest.pin"


def line(offset: int, partition: int = 0, event_id: str | None = "auto") -> bytes:
    event_id = f"00000000-0000-4000-8000-{offset:012d}" if event_id == "auto" else event_id
    return json.dumps({"kafka_topic": TOPIC, "kafka_partition": partition, "kafka_offset": offset,
                       "event_id": event_id, "value": "{}"}).encode() + b"\n"


def lake_object(*offsets: int) -> bytes:
    return encode_lines(line(offset) for offset in offsets)


class FakeS3:
    """The slice of a boto3 S3 client that read_back uses."""

    class exceptions:  # noqa: N801 (boto3's spelling)
        class NoSuchKey(Exception):
            pass

    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def get_client(self) -> FakeS3:
        return self

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803 (boto3's spelling)
        if Key not in self.objects:
            raise self.exceptions.NoSuchKey(Key)
        return {"Body": io.BytesIO(self.objects[Key])}


def back(*offsets: int, missing: tuple[str, ...] = ()) -> ReadBack:
    return ReadBack([(TOPIC, 0, o) for o in offsets], [f"e{o}" for o in offsets], list(missing))


# The logic ---------------------------------------------------------------------------------------
def test_nothing_lost_passes_for_exactly_the_records_consumed_and_for_a_landing_of_none():
    assert nothing_lost(back(10, 11, 12), records_consumed=3, start=10, end=13).passed
    empty = nothing_lost(back(), records_consumed=0, start=13, end=13)
    assert empty.passed and empty.metadata["records_in_objects"] == 0


@pytest.mark.parametrize(("read", "consumed", "figure", "value"), [
    (back(10, 11), 3, "records_in_objects", 2),  # a record consumed is in no object
    (back(10, 11, 12, 12), 3, "records_in_objects", 4),  # a line more than the records consumed
    (back(9, 10, 11), 3, "offsets_outside_range", 1),  # a line from before the range
    (back(10, 11, 13), 3, "offsets_outside_range", 1),  # ... or after it
    (back(10, 11, 12, missing=("raw/pin/gone.jsonl.gz",)), 3, "missing_objects", 1),  # an object not in S3
], ids=["line_missing", "line_extra", "before_range", "after_range", "object_missing"])
def test_nothing_lost_fails_for_a_line_missing_extra_or_out_of_range_or_an_object_gone(read, consumed, figure, value):
    verdict = nothing_lost(read, records_consumed=consumed, start=10, end=13)
    assert not verdict.passed and verdict.metadata[figure] == value


def test_no_duplicates_fails_for_an_offset_twice_or_overlapping_objects_but_not_for_an_event_id_twice():
    assert no_duplicates(back(1, 2, 3), []).passed
    twice = no_duplicates(back(1, 2, 2, 3), [])
    assert not twice.passed and twice.metadata["repeated_offsets"] == 1
    assert twice.metadata["examples"] == [f"{TOPIC} p0 o2"]
    overlapping = no_duplicates(back(1, 2), [("raw/b.jsonl.gz", "raw/a.jsonl.gz")])
    assert not overlapping.passed and overlapping.metadata["overlapping_landed_objects"] == 1
    assert "raw/b.jsonl.gz / raw/a.jsonl.gz" in overlapping.metadata["examples"]
    # A producer retry stored one event at two offsets: Kafka's duplicate, kept as it is, reported.
    retried = ReadBack([(TOPIC, 0, 1), (TOPIC, 0, 2)], ["e1", "e1"])
    verdict = no_duplicates(retried, [])
    assert verdict.passed and verdict.metadata["repeated_event_ids_in_kafka"] == 1


def test_read_back_reads_what_s3_holds_and_names_the_objects_it_lacks():
    s3 = FakeS3({"a": lake_object(0, 1), "b": encode_lines([line(2, event_id=None), line(3, partition=1)])})
    read = read_back(s3, "bucket", ["a", "gone", "b"])
    assert read.positions == [(TOPIC, 0, 0), (TOPIC, 0, 1), (TOPIC, 0, 2), (TOPIC, 1, 3)]
    assert read.event_ids == [f"00000000-0000-4000-8000-{o:012d}" for o in (0, 1, 3)]
    assert read.missing == ["gone"]


# The checks, run by Dagster ----------------------------------------------------------------------
class FakeLake:
    """RawLakeResource's bucket and the one manifest query the check makes."""

    bucket = "pinterest-data-lake"

    def __init__(self, overlapping: list[tuple[str, str]]):
        self.overlapping = overlapping

    def progress(self, postgres) -> FakeLake:
        return self

    def overlapping_landed_objects(self, topic: str) -> list[tuple[str, str]]:
        assert topic == TOPIC
        return self.overlapping


def landing(objects: list[str], consumed: int, start: int, end: int) -> dg.AssetMaterialization:
    """The metadata a landing run of raw_pin_events records (assets/raw_events.py), the part the checks read."""
    return dg.AssetMaterialization("raw_pin_events", metadata={
        "objects": dg.MetadataValue.json(objects), "records_consumed": consumed,
        "landed_from_offset": start, "until_offset": end, "dagster/row_count": consumed,
    })


def run_checks(landed: dg.AssetMaterialization | None, objects: dict[str, bytes],
               overlapping: list[tuple[str, str]] = ()) -> dict[str, dg.AssetCheckEvaluation]:
    """The raw_pin_events checks run alone (as from the UI) after `landed`; by check name."""
    with dg.instance_for_test() as instance:
        if landed is not None:
            instance.report_runless_asset_event(landed)
        result = dg.materialize(
            [RAW_EVENTS[0], RAW_EVENTS_CHECKS[0]], instance=instance,
            selection=dg.AssetSelection.checks_for_assets("raw_pin_events"),
            resources={"s3": FakeS3(objects), "raw_lake": FakeLake(list(overlapping)), "postgres": object(),
                       "kafka": object()},
        )
    assert result.success  # a failed check fails no run: the raw checks do not block
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {NOTHING_LOST, NO_DUPLICATES}
    return evaluations


KEY_A, KEY_B = "raw/pin/dt=2026-12-01/a.jsonl.gz", "raw/pin/dt=2026-12-01/b.jsonl.gz"


def test_a_landing_whose_objects_hold_exactly_its_records_passes_both():
    checks = run_checks(landing([KEY_A, KEY_B], 4, 0, 4), {KEY_A: lake_object(0, 1), KEY_B: lake_object(2, 3)})
    assert all(check.passed for check in checks.values())


def test_a_landing_of_zero_records_passes_both():
    checks = run_checks(landing([], 0, 4, 4), {})
    assert all(check.passed for check in checks.values())
    assert checks[NOTHING_LOST].metadata["records_in_objects"].value == 0


def test_an_object_gone_from_s3_fails_nothing_lost_as_an_error():
    checks = run_checks(landing([KEY_A, KEY_B], 4, 0, 4), {KEY_A: lake_object(0, 1)})
    lost = checks[NOTHING_LOST]
    assert not lost.passed and lost.severity == dg.AssetCheckSeverity.ERROR
    assert lost.metadata["missing_objects"].value == 1 and lost.metadata["records_in_objects"].value == 2
    assert checks[NO_DUPLICATES].passed


def test_a_record_missing_from_its_object_fails_nothing_lost():
    checks = run_checks(landing([KEY_A], 3, 0, 3), {KEY_A: lake_object(0, 2)})
    assert not checks[NOTHING_LOST].passed and checks[NOTHING_LOST].metadata["records_consumed"].value == 3


def test_an_offset_written_twice_fails_both():
    checks = run_checks(landing([KEY_A, KEY_B], 3, 0, 3), {KEY_A: lake_object(0, 1), KEY_B: lake_object(1, 2)})
    duplicates = checks[NO_DUPLICATES]
    assert not duplicates.passed and duplicates.severity == dg.AssetCheckSeverity.ERROR
    assert duplicates.metadata["repeated_offsets"].value == 1
    assert not checks[NOTHING_LOST].passed  # 4 lines for 3 records


def test_objects_overlapping_in_the_manifest_fail_no_duplicate_offsets():
    checks = run_checks(landing([KEY_A], 2, 0, 2), {KEY_A: lake_object(0, 1)}, overlapping=[(KEY_B, KEY_A)])
    assert not checks[NO_DUPLICATES].passed and checks[NO_DUPLICATES].metadata["overlapping_landed_objects"].value == 1
    assert checks[NOTHING_LOST].passed


def test_run_before_anything_landed_the_checks_do_not_pass_they_warn_that_they_checked_nothing():
    checks = run_checks(None, {})
    for check in checks.values():
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert check.metadata["note"].value == NOTHING_CHECKED
