"""Checks on the raw lake, run after every landing (and on demand from the UI).

For the landing run's materialization (or, run alone, the latest one) they read the objects
back from S3:

- nothing_lost          every record consumed from the range is in the objects, and only those;
- no_duplicate_offsets  no (topic, partition, offset) twice, in the run's objects and across
                        every landed object of the topic (manifest in PostgreSQL).

A landing of zero records is checked like any other (and passes). Run alone before anything has
landed, they check nothing, and say so: not passed, with WARN severity and a note.

Whether a record is a valid event is not the raw lake's concern: it holds every record; the
clean step decides, and reports what it quarantines.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource

from ..lake.verify import Verdict, no_duplicates, nothing_lost, read_back
from ..raw_streams import STREAMS, RawStream
from ..resources import PostgresResource, RawLakeResource

NOTHING_LOST, NO_DUPLICATES = "nothing_lost", "no_duplicate_offsets"
NOTHING_CHECKED = "nothing has landed yet: no landing to check"


def _landing_metadata(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> Mapping[str, Any] | None:
    """The metadata of this run's materialization of `asset_key`, else of the latest one."""
    records = context.instance.fetch_materializations(asset_key, limit=50).records
    for record in records:
        if record.run_id == context.run.run_id:
            return record.asset_materialization.metadata
    return records[0].asset_materialization.metadata if records else None


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    return metadata[key].value


def _result(asset_key: dg.AssetKey, name: str, verdict: Verdict, severity=dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    metadata = {k: (dg.MetadataValue.json(v) if isinstance(v, list | dict) else v) for k, v in verdict.metadata.items()}
    return dg.AssetCheckResult(
        asset_key=asset_key, check_name=name, passed=verdict.passed, metadata=metadata, severity=severity
    )


def raw_events_checks(stream: RawStream) -> dg.AssetChecksDefinition:
    asset_key = dg.AssetKey(stream.asset_name)
    specs = [
        dg.AssetCheckSpec(NOTHING_LOST, asset=asset_key, description="Records landed equal the offsets consumed."),
        dg.AssetCheckSpec(NO_DUPLICATES, asset=asset_key, description="No (topic, partition, offset) twice in the lake."),
    ]

    @dg.multi_asset_check(specs=specs, name=f"{stream.asset_name}_checks")
    def _checks(
        context: dg.AssetCheckExecutionContext, s3: S3Resource, postgres: PostgresResource, raw_lake: RawLakeResource
    ) -> Iterator[dg.AssetCheckResult]:
        metadata = _landing_metadata(context, asset_key)
        if metadata is None:  # checked nothing: no pass, a warning that says so
            nothing = Verdict(False, {"note": NOTHING_CHECKED})
            for spec in specs:
                yield _result(asset_key, spec.name, nothing, severity=dg.AssetCheckSeverity.WARN)
            return
        back = read_back(s3.get_client(), raw_lake.bucket, _value(metadata, "objects"))
        overlapping = raw_lake.progress(postgres).overlapping_landed_objects(stream.topic)
        consumed = _value(metadata, "records_consumed")
        start, end = _value(metadata, "landed_from_offset"), _value(metadata, "until_offset")
        yield _result(asset_key, NOTHING_LOST, nothing_lost(back, consumed, start, end))
        yield _result(asset_key, NO_DUPLICATES, no_duplicates(back, overlapping))

    return _checks


RAW_EVENTS_CHECKS: list[dg.AssetChecksDefinition] = [raw_events_checks(stream) for stream in STREAMS]
