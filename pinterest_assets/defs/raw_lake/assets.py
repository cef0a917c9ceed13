"""raw_pin_events, raw_geo_events, raw_user_events: Kafka landed in the S3 lake, exactly once.

Each materialization lands one offset range of one partition (see pinterest_assets.lib.lake.landing)
and records what it wrote as metadata, among it each object's key, offsets, line count and MD5
(`objects`): what the raw checks judge the landing by (pinterest_assets.defs.raw_lake.checks).
"""

from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from pinterest_assets.lib.lake.landing import LandingReport, land_range
from pinterest_assets.lib.lake.objects import LakeObject
from pinterest_assets.lib.lake.ranges import OffsetRange
from pinterest_assets.lib.topics import DRAINED_TOPICS, RAW_LAKE_GROUP, DrainedTopic
from pinterest_assets.resources import KafkaResource, PostgresResource, RawLakeResource
from pinterest_common.lake_layout import RAW_PREFIX

LOCK_TIMEOUT_S = 300.0


class LandRangeConfig(dg.Config):
    """The offset range a landing run lands; the drain sensor fills it in."""

    partition: int = Field(description="Kafka partition.")
    from_offset: int = Field(description="First offset of the range.")
    until_offset: int = Field(description="One past the last offset of the range.")


def landed_object(o: LakeObject) -> dict[str, Any]:
    """One object as the landing metadata lists it (pinterest_assets.lib.lake.verify.LandedObject)."""
    return {
        "key": o.key,
        "first_offset": o.first_offset,
        "last_offset": o.last_offset,
        "records": o.records,
        "md5": o.md5,
    }


def landing_metadata(report: LandingReport, bucket: str, event_type: str) -> dict[str, Any]:
    requested = report.requested
    metadata: dict[str, Any] = {
        "topic": requested.topic,
        "partition": requested.partition,
        "from_offset": requested.start,
        "until_offset": requested.end,
        "landed_from_offset": report.start,
        "next_offset": report.next_offset,
        "already_landed": report.already_landed,
        "records_consumed": report.records_consumed,
        "dagster/row_count": report.records_landed,
        "offsets_without_record": report.offsets_without_record,
        "offsets_lost_before_landing": report.offsets_lost,
        "objects": dg.MetadataValue.json([landed_object(o) for o in report.objects]),
        "object_count": len(report.objects),
        "bytes": report.bytes,
        "uncompressed_bytes": report.uncompressed_bytes,
        "orphans_removed": dg.MetadataValue.json(list(report.orphans_removed)),
        "dagster/uri": f"s3://{bucket}/{RAW_PREFIX}/{event_type}/",
    }
    if report.received_min is not None and report.received_max is not None:
        metadata["received_at_min"] = report.received_min.isoformat()
        metadata["received_at_max"] = report.received_max.isoformat()
        metadata["received_at_span_seconds"] = (report.received_max - report.received_min).total_seconds()
    return metadata


def raw_events_asset(stream: DrainedTopic) -> dg.AssetsDefinition:
    @dg.asset(
        name=stream.asset_name,
        group_name=RAW_LAKE_GROUP,
        kinds={"kafka", "s3"},
        deps=[stream.topic_asset_name],
        description=(
            f"Every record of `{stream.topic}` landed in S3 exactly once, as gzip JSON lines under "
            f"`{RAW_PREFIX}/{stream.name}/dt=YYYY-MM-DD/` (the day of received_at, else of the Kafka "
            "timestamp), whatever it holds: the clean step decides which are valid events. One run lands "
            "one offset range of one partition; the drain sensor requests them."
        ),
        metadata={
            "topic": stream.topic,
            "layout": f"{RAW_PREFIX}/{stream.name}/dt=YYYY-MM-DD/<topic>+p<partition>+o<first>+o<last>.jsonl.gz",
        },
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: LandRangeConfig,
        kafka: KafkaResource,
        s3: S3Resource,
        postgres: PostgresResource,
        raw_lake: RawLakeResource,
    ) -> dg.MaterializeResult:
        requested = OffsetRange(stream.topic, config.partition, config.from_offset, config.until_offset)
        context.log.info(f"landing {requested}")
        report = land_range(
            requested,
            stream.event_type,
            read=lambda start, end: kafka.read_range(stream.topic, config.partition, start, end),
            earliest=lambda: kafka.earliest_offset(stream.topic, config.partition),
            s3=s3.get_client(),
            bucket=raw_lake.bucket,
            progress=raw_lake.progress(postgres),
            limits=raw_lake.roll_limits,
            upload_threads=raw_lake.upload_threads,
            run_id=context.run.run_id,
            lock_timeout_s=LOCK_TIMEOUT_S,
            log=context.log.info,
        )
        context.log.info(
            f"{requested}: {report.records_landed} landed, "
            f"{len(report.objects)} object(s); committed offset now {report.next_offset}"
        )
        return dg.MaterializeResult(metadata=landing_metadata(report, raw_lake.bucket, stream.name))

    return _asset


RAW_EVENTS: list[dg.AssetsDefinition] = [raw_events_asset(stream) for stream in DRAINED_TOPICS]
