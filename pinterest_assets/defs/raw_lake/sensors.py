"""The drain sensors: one per topic, turning the Kafka backlog into landing runs.

A tick reads no message: it compares Kafka's offsets (metadata) with the committed offsets in
PostgreSQL, looks up the landing runs in flight in the Dagster instance, and requests one run per
offset range (pinterest_assets.lib.lake.ranges) with a run key derived from the range. The cursor
holds, per partition, how far runs have been requested.
"""

import time
from collections.abc import Mapping

import dagster as dg

from pinterest_assets.defs.raw_lake.assets import LandRangeConfig
from pinterest_assets.defs.raw_lake.jobs import LANDING_JOBS
from pinterest_assets.lib.lake.progress import ProgressStore
from pinterest_assets.lib.lake.ranges import DrainCursor, OffsetRange, plan_ranges
from pinterest_assets.lib.runs import FINISHED, NOT_FINISHED
from pinterest_assets.lib.topics import (
    ATTEMPT_TAG,
    DRAINED_TOPICS,
    LANDING_SLOT_TAG,
    PARTITION_TAG,
    RANGE_TAG,
    RUN_KEY_TAG,
    TOPIC_TAG,
    UNTIL_OFFSET_TAG,
    DrainedTopic,
)
from pinterest_assets.resources import KafkaResource, PostgresResource, RawLakeResource
from pinterest_common.config import get_settings


def _alive(record: dg.RunRecord, timeout_s: float, now: float) -> bool:
    """Not finished, and not older than the run timeout (a run killed without a trace stays
    STARTED in the instance until run monitoring fails it)."""
    if record.dagster_run.status in FINISHED:
        return False
    began = record.start_time or record.create_timestamp.timestamp()
    return now - began < timeout_s


def runs_in_flight(instance: dg.DagsterInstance, topic: str, timeout_s: float) -> dict[int, int]:
    """Partitions of `topic` with a landing run in flight -> the highest range end among them."""
    now = time.time()
    in_flight: dict[int, int] = {}
    records = instance.get_run_records(filters=dg.RunsFilter(tags={TOPIC_TAG: topic}, statuses=NOT_FINISHED))
    for record in records:
        tags = record.dagster_run.tags
        if _alive(record, timeout_s, now) and PARTITION_TAG in tags:
            partition = int(tags[PARTITION_TAG])
            in_flight[partition] = max(in_flight.get(partition, 0), int(tags.get(UNTIL_OFFSET_TAG, 0)))
    return in_flight


def landing_request(stream: DrainedTopic, offsets: OffsetRange, attempt: int, timeout_s: int) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=offsets.run_key(attempt),
        run_config=dg.RunConfig(
            ops={
                stream.asset_name: LandRangeConfig(
                    partition=offsets.partition, from_offset=offsets.start, until_offset=offsets.end
                )
            }
        ),
        tags={
            TOPIC_TAG: offsets.topic,
            PARTITION_TAG: str(offsets.partition),
            RANGE_TAG: offsets.range_id,
            UNTIL_OFFSET_TAG: str(offsets.end),
            ATTEMPT_TAG: str(attempt),
            RUN_KEY_TAG: offsets.run_key(attempt),
            LANDING_SLOT_TAG: f"{offsets.topic}/p{offsets.partition}",
            dg.MAX_RUNTIME_SECONDS_TAG: str(timeout_s),
        },
    )


def evaluate_drain(
    stream: DrainedTopic,
    context: dg.SensorEvaluationContext,
    kafka: KafkaResource,
    progress: ProgressStore,
    raw_lake: RawLakeResource,
) -> dg.SensorResult | dg.SkipReason:
    offsets = kafka.partition_offsets(stream.topic)
    if offsets is None:
        return dg.SkipReason(f"topic {stream.topic} does not exist yet")
    landed = progress.committed(stream.topic)
    cursor = DrainCursor.from_json(context.cursor)
    in_flight = runs_in_flight(context.instance, stream.topic, raw_lake.run_timeout_seconds)
    plan = plan_ranges(
        stream.topic, offsets, landed, cursor, in_flight, raw_lake.max_records_per_run, raw_lake.max_runs_per_tick
    )
    for warning in plan.warnings:
        context.log.warning(f"{stream.topic} {warning}")

    requests: list[dg.RunRequest] = []
    now = time.time()
    for offsets_range in plan.ranges:
        prior = context.instance.get_run_records(filters=dg.RunsFilter(tags={RANGE_TAG: offsets_range.range_id}))
        if any(_alive(record, raw_lake.run_timeout_seconds, now) for record in prior):
            continue  # being landed right now (by a run this cursor does not know about)
        requests.append(landing_request(stream, offsets_range, len(prior), raw_lake.run_timeout_seconds))

    summary = _summary(stream, offsets, landed, in_flight, plan.backlog)
    if not requests:
        return dg.SensorResult(skip_reason=f"nothing to land: {summary}", cursor=plan.cursor.to_json())
    context.log.info(f"{len(requests)} run(s): {', '.join(r.tags[RUN_KEY_TAG] for r in requests)}; {summary}")
    return dg.SensorResult(run_requests=requests, cursor=plan.cursor.to_json())


def _summary(
    stream: DrainedTopic, offsets: Mapping, landed: Mapping[int, int], in_flight: Mapping[int, int], backlog: int
) -> str:
    parts = [
        f"p{p} landed {landed.get(p, '-')}/end {o.end}" + (" (run in flight)" if p in in_flight else "")
        for p, o in sorted(offsets.items())
    ]
    return f"{stream.topic}: " + ", ".join(parts) + (f"; {backlog} more offsets for later ticks" if backlog else "")


def drain_sensor(stream: DrainedTopic, job) -> dg.SensorDefinition:
    @dg.sensor(
        name=stream.sensor_name,
        target=job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=get_settings().lake_sensor_interval_seconds,
        description=(
            f"Compares `{stream.topic}`'s end offsets with what has landed and requests one "
            f"`{stream.job_name}` run per offset range (run key = the range). Reads no messages."
        ),
    )
    def _sensor(
        context: dg.SensorEvaluationContext, kafka: KafkaResource, postgres: PostgresResource, raw_lake: RawLakeResource
    ) -> dg.SensorResult | dg.SkipReason:
        return evaluate_drain(stream, context, kafka, raw_lake.progress(postgres), raw_lake)

    return _sensor


DRAIN_SENSORS: list[dg.SensorDefinition] = [
    drain_sensor(stream, LANDING_JOBS[stream.name]) for stream in DRAINED_TOPICS
]
