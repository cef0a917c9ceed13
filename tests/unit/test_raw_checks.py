"""The raw assets' checks made to fail: `nothing_lost` and `no_duplicate_offsets`
(pinterest_assets/defs/raw_lake/checks.py, logic in pinterest_assets/lib/lake/verify.py), for landings
recorded to break them (a count that does not add up, an object outside the range, spans that
overlap) and for S3 not holding what the run built (an object gone, other bytes), first as
functions, then run by Dagster against a fake S3 and manifest for a planted landing, as the UI
runs them alone. No services: tests/integration/test_raw_checks.py breaks a real landing in the
real S3 server and PostgreSQL manifest."""

from __future__ import annotations

import hashlib

import dagster as dg
import pytest
from botocore.exceptions import ClientError

from pinterest_assets.defs.raw_lake.assets import RAW_EVENTS
from pinterest_assets.defs.raw_lake.checks import (
    NO_CHECKSUMS,
    NO_DUPLICATES,
    NOTHING_CHECKED,
    NOTHING_LOST,
    RAW_EVENTS_CHECKS,
)
from pinterest_assets.lib.lake.verify import LandedObject, no_duplicates, nothing_lost, s3_etags

TOPIC = "pinterest.pin"


def body(first: int, last: int) -> bytes:
    return f"lines {first}..{last}".encode()


def obj(first: int, last: int, records: int | None = None, key: str | None = None) -> LandedObject:
    """An object as a landing run records it; its bytes are `body(first, last)`."""
    return LandedObject(
        key or f"raw/pin/o{first}-o{last}.jsonl.gz",
        first,
        last,
        last - first + 1 if records is None else records,
        hashlib.md5(body(first, last)).hexdigest(),
    )


def held(*objects: LandedObject) -> dict[str, str]:
    """The ETags S3 reports when it holds exactly the bytes of `objects`."""
    return {o.key: o.md5 for o in objects}


class FakeS3:
    """The slice of a boto3 S3 client that the checks use: HEAD, answering an MD5 ETag."""

    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def get_client(self) -> FakeS3:
        return self

    def head_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803 (boto3's spelling)
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        return {"ETag": f'"{hashlib.md5(self.objects[Key]).hexdigest()}"', "ContentLength": len(self.objects[Key])}


# The logic ---------------------------------------------------------------------------------------
def test_nothing_lost_passes_for_exactly_the_records_consumed_and_for_a_landing_of_none():
    a, b = obj(10, 11), obj(13, 14, records=1)  # 14 only: 12 and 13 had no record
    assert nothing_lost([a, b], held(a, b), records_consumed=3, start=10, end=15).passed
    empty = nothing_lost([], {}, records_consumed=0, start=13, end=13)
    assert empty.passed and empty.metadata["records_in_objects"] == 0


A, B = obj(10, 11), obj(12, 12)


@pytest.mark.parametrize(
    ("objects", "etags", "consumed", "figure", "value"),
    [
        ([A, B], held(A, B), 4, "records_in_objects", 3),  # a record consumed is in no object
        ([A, B], held(A, B), 2, "records_in_objects", 3),  # a line more than the records consumed
        ([obj(9, 11), B], held(obj(9, 11), B), 4, "objects_outside_range", 1),  # lines from before the range
        ([A, obj(12, 13)], held(A, obj(12, 13)), 4, "objects_outside_range", 1),  # ... or after it
        ([A, obj(12, 12, records=2)], held(A, obj(12, 12)), 4, "objects_miscounted", 1),  # 2 lines for 1 offset
        ([A, B], held(A), 3, "missing_objects", 1),  # an object not in S3
        ([A, B], {**held(A, B), B.key: hashlib.md5(b"other bytes").hexdigest()}, 3, "checksum_mismatches", 1),
    ],
    ids=[
        "line_missing",
        "line_extra",
        "before_range",
        "after_range",
        "more_lines_than_offsets",
        "object_missing",
        "other_bytes_in_s3",
    ],
)
def test_nothing_lost_fails_for_counts_that_differ_objects_out_of_range_gone_or_changed(
    objects, etags, consumed, figure, value
):
    verdict = nothing_lost(objects, etags, records_consumed=consumed, start=10, end=13)
    assert not verdict.passed and verdict.metadata[figure] == value


def test_no_duplicates_fails_for_spans_overlapping_in_the_run_or_in_the_manifest():
    assert no_duplicates([obj(1, 2), obj(3, 5), obj(6, 6)], []).passed
    # An offset in two objects of the run, also when the object reaching into it is not the previous one.
    for objects in ([obj(1, 2), obj(2, 3)], [obj(1, 9), obj(3, 4), obj(5, 6)], [obj(1, 2), obj(1, 2, key="again")]):
        verdict = no_duplicates(objects, [])
        assert not verdict.passed and verdict.metadata["overlapping_objects_in_run"] == len(objects) - 1
    assert no_duplicates([obj(1, 2), obj(2, 3)], []).metadata["examples"] == [f"{obj(2, 3).key} / {obj(1, 2).key}"]
    overlapping = no_duplicates([obj(1, 2)], [("raw/b.jsonl.gz", "raw/a.jsonl.gz")])
    assert not overlapping.passed and overlapping.metadata["overlapping_landed_objects"] == 1
    assert "raw/b.jsonl.gz / raw/a.jsonl.gz" in overlapping.metadata["examples"]


def test_s3_etags_are_the_md5_of_what_s3_holds_and_none_for_an_object_it_lacks():
    s3 = FakeS3({A.key: body(10, 11), B.key: b"changed"})
    assert s3_etags(s3, "bucket", [A.key, "gone", B.key]) == {
        A.key: A.md5,
        "gone": None,
        B.key: hashlib.md5(b"changed").hexdigest(),
    }


def test_s3_etags_raise_for_other_errors():
    class Forbidden(FakeS3):
        def head_object(self, Bucket, Key):  # noqa: N803
            raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

    with pytest.raises(ClientError):
        s3_etags(Forbidden({}), "bucket", ["a"])


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


def landing(objects: list[LandedObject] | list[str], consumed: int, start: int, end: int) -> dg.AssetMaterialization:
    """The metadata a landing run of raw_pin_events records (assets/raw_events.py), the part the checks read."""
    entries = [o if isinstance(o, str) else o.__dict__ for o in objects]
    return dg.AssetMaterialization(
        "raw_pin_events",
        metadata={
            "objects": dg.MetadataValue.json(entries),
            "records_consumed": consumed,
            "landed_from_offset": start,
            "until_offset": end,
            "dagster/row_count": consumed,
        },
    )


def run_checks(
    landed: dg.AssetMaterialization | None, objects: dict[str, bytes], overlapping: list[tuple[str, str]] = ()
) -> dict[str, dg.AssetCheckEvaluation]:
    """The raw_pin_events checks run alone (as from the UI) after `landed`; by check name."""
    with dg.instance_for_test() as instance:
        if landed is not None:
            instance.report_runless_asset_event(landed)
        result = dg.materialize(
            [RAW_EVENTS[0], RAW_EVENTS_CHECKS[0]],
            instance=instance,
            selection=dg.AssetSelection.checks_for_assets("raw_pin_events"),
            resources={
                "s3": FakeS3(objects),
                "raw_lake": FakeLake(list(overlapping)),
                "postgres": object(),
                "kafka": object(),
            },
        )
    assert result.success  # a failed check fails no run: the raw checks do not block
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {NOTHING_LOST, NO_DUPLICATES}
    return evaluations


P, Q = obj(0, 1), obj(2, 3)
IN_S3 = {P.key: body(0, 1), Q.key: body(2, 3)}


def test_a_landing_whose_objects_s3_holds_as_built_passes_both():
    checks = run_checks(landing([P, Q], 4, 0, 4), IN_S3)
    assert all(check.passed for check in checks.values())


def test_a_landing_of_zero_records_passes_both():
    checks = run_checks(landing([], 0, 4, 4), {})
    assert all(check.passed for check in checks.values())
    assert checks[NOTHING_LOST].metadata["records_in_objects"].value == 0


def test_an_object_gone_from_s3_fails_nothing_lost_as_an_error():
    checks = run_checks(landing([P, Q], 4, 0, 4), {P.key: body(0, 1)})
    lost = checks[NOTHING_LOST]
    assert not lost.passed and lost.severity == dg.AssetCheckSeverity.ERROR
    assert lost.metadata["missing_objects"].value == 1 and lost.metadata["examples"].value == [Q.key]
    assert checks[NO_DUPLICATES].passed


def test_an_object_s3_holds_with_other_bytes_fails_nothing_lost():
    checks = run_checks(landing([P, Q], 4, 0, 4), {**IN_S3, Q.key: body(2, 3) + b"a line more\n"})
    assert not checks[NOTHING_LOST].passed and checks[NOTHING_LOST].metadata["checksum_mismatches"].value == 1


def test_a_record_consumed_but_in_no_object_fails_nothing_lost():
    checks = run_checks(landing([P, Q], 5, 0, 5), IN_S3)
    lost = checks[NOTHING_LOST]
    assert not lost.passed and (lost.metadata["records_consumed"].value, lost.metadata["records_in_objects"].value) == (
        5,
        4,
    )


def test_an_offset_in_two_objects_of_the_run_fails_both():
    twice = obj(1, 2)
    checks = run_checks(landing([P, twice], 3, 0, 3), {P.key: body(0, 1), twice.key: body(1, 2)})
    duplicates = checks[NO_DUPLICATES]
    assert not duplicates.passed and duplicates.severity == dg.AssetCheckSeverity.ERROR
    assert duplicates.metadata["overlapping_objects_in_run"].value == 1
    assert not checks[NOTHING_LOST].passed  # 4 lines for 3 records


def test_objects_overlapping_in_the_manifest_fail_no_duplicate_offsets():
    checks = run_checks(landing([P, Q], 4, 0, 4), IN_S3, overlapping=[("raw/pin/forged.jsonl.gz", P.key)])
    assert not checks[NO_DUPLICATES].passed and checks[NO_DUPLICATES].metadata["overlapping_landed_objects"].value == 1
    assert checks[NOTHING_LOST].passed


def test_run_before_anything_landed_the_checks_do_not_pass_they_warn_that_they_checked_nothing():
    checks = run_checks(None, {})
    for check in checks.values():
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert check.metadata["note"].value == NOTHING_CHECKED


def test_a_landing_recorded_before_checksums_is_not_judged_they_warn():
    checks = run_checks(landing([P.key, Q.key], 4, 0, 4), IN_S3)  # metadata of earlier versions: keys only
    for check in checks.values():
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert check.metadata["note"].value == NO_CHECKSUMS
