"""Checks on the raw lake, run after every landing (and on demand from the UI).

They judge the landing run's materialization (or, run alone, the latest one) by what the run
counted and recorded, per object: key, first and last offset, lines, MD5 of the bytes
(pinterest_assets.lib.lake.verify), against what S3 reports without sending a body (HEAD: the
ETag) and the manifest in PostgreSQL. No object is read back.

- nothing_lost          the lines in the objects add up to the records consumed from the range,
                        every object lies inside the range, and S3 holds each one with exactly
                        the bytes the run built (ETag = MD5);
- no_duplicate_offsets  the run's objects span disjoint offsets, and no two landed objects of
                        the topic overlap anywhere in the lake (manifest).

A landing of zero records is checked like any other (and passes). Run alone before anything has
landed, they check nothing, and say so: not passed, with WARN severity and a note; likewise for
a landing recorded before objects carried their checksum.

Whether a record is a valid event is not the raw lake's concern: it holds every record; the
clean step decides, and reports what it quarantines.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource

from pinterest_assets.lib.lake.verify import LandedObject, Verdict, no_duplicates, nothing_lost, s3_etags
from pinterest_assets.lib.topics import DRAINED_TOPICS, DrainedTopic
from pinterest_assets.resources import PostgresResource, RawLakeResource

NOTHING_LOST, NO_DUPLICATES = "nothing_lost", "no_duplicate_offsets"
NOTHING_CHECKED = "nothing has landed yet: no landing to check"
NO_CHECKSUMS = "the latest landing was recorded before objects carried their checksum: nothing to check"


def _landing_metadata(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> Mapping[str, Any] | None:
    """The metadata of this run's materialization of `asset_key`, else of the latest one."""
    records = context.instance.fetch_materializations(asset_key, limit=50).records
    if not records:
        return None
    record = next((r for r in records if r.run_id == context.run.run_id), records[0])
    materialization = record.asset_materialization
    assert materialization is not None  # fetch_materializations' records are materializations
    return materialization.metadata


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    return metadata[key].value


def _result(
    asset_key: dg.AssetKey, name: str, verdict: Verdict, severity=dg.AssetCheckSeverity.ERROR
) -> dg.AssetCheckResult:
    metadata = {k: (dg.MetadataValue.json(v) if isinstance(v, list | dict) else v) for k, v in verdict.metadata.items()}
    return dg.AssetCheckResult(
        asset_key=asset_key, check_name=name, passed=verdict.passed, metadata=metadata, severity=severity
    )


def raw_events_checks(stream: DrainedTopic) -> dg.AssetChecksDefinition:
    asset_key = dg.AssetKey(stream.asset_name)
    specs = [
        dg.AssetCheckSpec(
            NOTHING_LOST,
            asset=asset_key,
            description="Lines landed equal the records consumed; S3 holds each object's exact bytes.",
        ),
        dg.AssetCheckSpec(
            NO_DUPLICATES, asset=asset_key, description="No (topic, partition, offset) twice in the lake."
        ),
    ]

    @dg.multi_asset_check(specs=specs, name=f"{stream.asset_name}_checks")
    def _checks(
        context: dg.AssetCheckExecutionContext, s3: S3Resource, postgres: PostgresResource, raw_lake: RawLakeResource
    ) -> Iterator[dg.AssetCheckResult]:
        metadata = _landing_metadata(context, asset_key)
        entries = [] if metadata is None else _value(metadata, "objects")
        if metadata is None or not all(isinstance(entry, dict) for entry in entries):
            # checked nothing: no pass, a warning that says so
            nothing = Verdict(False, {"note": NOTHING_CHECKED if metadata is None else NO_CHECKSUMS})
            for spec in specs:
                yield _result(asset_key, spec.name, nothing, severity=dg.AssetCheckSeverity.WARN)
            return
        objects = [LandedObject.from_metadata(entry) for entry in entries]
        etags = s3_etags(s3.get_client(), raw_lake.bucket, [o.key for o in objects])
        overlapping = raw_lake.progress(postgres).overlapping_landed_objects(stream.topic)
        consumed = _value(metadata, "records_consumed")
        start, end = _value(metadata, "landed_from_offset"), _value(metadata, "until_offset")
        yield _result(asset_key, NOTHING_LOST, nothing_lost(objects, etags, consumed, start, end))
        yield _result(asset_key, NO_DUPLICATES, no_duplicates(objects, overlapping))

    return _checks


RAW_EVENTS_CHECKS: list[dg.AssetChecksDefinition] = [raw_events_checks(stream) for stream in DRAINED_TOPICS]
