"""Two pipelines, one truth: the streaming tables against a recomputation from the raw lake.

One multi-asset check, `streaming_agreement`, with a check `agrees_with_lake` on each of
`profile_popularity`, `category_trends` (every window, key and value) and the event tables
`experimental_data`, `geo_data`, `user_data` (the event ids per UTC day). It reads the lake's
landed raw objects with Spark and recomputes what the streaming job stores by the job's own
definitions (pinterest_assets.lib.queries.agreement), over what both pipelines have seen: per
partition, the offsets below both the drain's committed offset (lake.drain_progress) and the
job's consumed one (`streaming_status`). Windows that end after the horizon (the first record
not covered by both, less a margin) and events received after it are "not yet comparable",
counted apart, as are the lines the design lets the pipelines treat apart (records without the
API's headers, which the job skips, and those whose headers only the clean step refuses: both
quarantined by it as `invalid_headers`). A difference is a WARN naming the window or day, the
key, the column and both values (the table `differences`); the check records its own cost
(`seconds`, per step `seconds_by_step`). Not blocking: it runs on demand (the UI, the job
`streaming_agreement_job`, `make demo`).
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pinterest_assets.lib.lake.progress import RAW_KIND
from pinterest_assets.lib.queries import agreement
from pinterest_assets.lib.queries.lake_tables import read_lake_lines
from pinterest_assets.lib.topics import DRAINED_TOPICS, DrainedTopic
from pinterest_assets.resources import KafkaResource, LakeSparkResource, PostgresResource, RawLakeResource
from pinterest_common import streaming_contract as contract
from pinterest_common.config import get_settings

from .assets import job_heartbeat, waiting_since

AGREEMENT_CHECK = "agrees_with_lake"
LISTED = 100  # differences listed in the metadata table at most
AGGREGATES = {
    contract.PROFILE_POPULARITY: (agreement.PROFILE_KEY, agreement.PROFILE_VALUES, agreement.profile_popularity),
    contract.CATEGORY_TRENDS: (agreement.TREND_KEY, agreement.TREND_VALUES, agreement.category_trends),
}
PIN = next(stream for stream in DRAINED_TOPICS if stream.name == "pin")


class Stopwatch:
    """The check's cost: `seconds` in all, and per step."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.steps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.steps[step] = round(now - self.last, 2)
        self.last = now

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 2)


@dataclass(frozen=True)
class Coverage:
    bounds: dict[int, int]  # partition -> first offset not covered by both pipelines
    horizon: datetime
    lake_offsets: int  # offsets landed in the lake
    covered_offsets: int


def coverage(topic: str, lake: dict[int, int], consumed: dict[str, int], kafka: KafkaResource) -> Coverage:
    """What both pipelines have seen of `topic`; the first record not covered of each partition
    is read from Kafka for the horizon."""
    bounds = agreement.covered_bounds(lake, consumed)
    first_uncovered = []
    for partition, offsets in (kafka.partition_offsets(topic) or {}).items():
        start = max(bounds.get(partition, 0), offsets.earliest)
        if offsets.end > start:
            first_uncovered += [waiting_since(r) for r in kafka.read_range(topic, partition, start, start + 1)]
    now = datetime.now(UTC)
    return Coverage(bounds, agreement.horizon(first_uncovered, now), sum(lake.values()), sum(bounds.values()))


def _text(value) -> str | int | float | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if value is None or isinstance(value, int | float | str):
        return value
    return str(value)


def _shown(value) -> str | None:
    return None if value is None else str(_text(value))


def _table(records: list[dict]) -> dg.MetadataValue:
    names = list(records[0]) if records else ["none"]
    return dg.MetadataValue.table(
        records=[dg.TableRecord({name: _text(v) for name, v in record.items()}) for record in records],
        schema=dg.TableSchema(columns=[dg.TableColumn(name, "string") for name in names]),
    )


def window_differences(key: tuple[str, ...], comparison: agreement.Comparison) -> list[dict]:
    """The differences as table records: the key's columns, the column, the lake's and the
    streaming table's value (the first LISTED)."""
    return [
        {**dict(zip(key, d.key)), "column": d.column, "lake": _shown(d.lake), "streaming": _shown(d.streaming)}
        for d in comparison.differences[:LISTED]
    ]


def day_differences(comparison: agreement.DayComparison) -> list[dict]:
    return [
        {
            "day": d.day.isoformat(),
            "lake_events": d.lake,
            "streaming_events": d.streaming,
            "only_in_lake": " ".join(d.only_in_lake[:5]),
            "only_in_streaming": " ".join(d.only_in_streaming[:5]),
        }
        for d in comparison.differences[:LISTED]
    ]


def _streaming_rows(cur, table: str, key: tuple[str, ...], values: tuple[str, ...]) -> dict[tuple, dict]:
    cur.execute(f"SELECT {', '.join((*key, *values))} FROM {table}")  # names from the code
    return {row[: len(key)]: dict(zip(values, row[len(key) :])) for row in cur.fetchall()}


def _streaming_events(cur, table: str, bounds: dict[int, int]) -> dict[str, datetime]:
    """event_id -> received_at of the table's covered rows."""
    cur.execute(f"SELECT event_id, received_at, kafka_partition, kafka_offset FROM {table}")  # names from the code
    return {event_id: received for event_id, received, p, o in cur.fetchall() if o < bounds.get(p, 0)}


def _lake_events(spark, bucket: str, stream: DrainedTopic, keys: list[str], cover: Coverage, relaxed) -> tuple:
    """The covered lines (persisted: read once), their streamed events (persisted) and the counts
    of the lines the design lets the pipelines treat apart (`agreement.explained_lines`)."""
    lines = read_lake_lines(spark, bucket, stream.name, keys)
    covered = lines.where(agreement.covered(cover.bounds)).persist()
    explained = agreement.explained_lines(covered, stream.name)
    return covered, agreement.streamed_events(covered, stream.name, relaxed).persist(), explained


@dg.multi_asset_check(
    name="streaming_agreement",
    description="The streaming tables against a recomputation from the raw lake (Spark), over what both "
    "pipelines have seen; WARN with the differing windows, keys and values.",
    specs=[
        *(
            dg.AssetCheckSpec(
                AGREEMENT_CHECK,
                asset=table,
                description=f"Every closed window of `{table}` equals its recomputation from the raw lake's lines "
                "(streaming/aggregates.py's definitions), over the offsets both pipelines have seen.",
            )
            for table in AGGREGATES
        ),
        *(
            dg.AssetCheckSpec(
                AGREEMENT_CHECK,
                asset=table,
                description=f"`{table}` holds, per UTC day, the event ids the raw lake's lines give "
                "(triaged, cleaned, first copy per client event) received before the horizon, over the offsets both "
                "pipelines have seen.",
            )
            for table in contract.EVENT_TABLES.values()
        ),
    ],
)
def streaming_agreement(
    context: dg.AssetCheckExecutionContext,
    pyspark: LakeSparkResource,
    postgres: PostgresResource,
    kafka: KafkaResource,
    raw_lake: RawLakeResource,
) -> Iterator[dg.AssetCheckResult]:
    watch = Stopwatch()
    settings = get_settings()
    spark, progress = pyspark.spark_session, raw_lake.progress(postgres)
    conn = postgres.connect(settings.streaming_database)
    try:
        with conn.cursor() as cur:
            heartbeat = job_heartbeat(cur)
            consumed = heartbeat.consumed_offsets if heartbeat else {}
            covers = {
                s.name: coverage(s.topic, progress.committed(s.topic), consumed.get(s.topic, {}), kafka)
                for s in DRAINED_TOPICS
            }
            streamed = {
                table: _streaming_rows(cur, table, key, values) for table, (key, values, _) in AGGREGATES.items()
            }
            received = {
                s.name: _streaming_events(cur, contract.EVENT_TABLES[s.name], covers[s.name].bounds)
                for s in DRAINED_TOPICS
            }
    finally:
        conn.close()
    watch.lap("coverage_and_streaming_tables")

    results: list[tuple[str, bool, dict]] = []
    for stream in DRAINED_TOPICS:
        cover = covers[stream.name]
        keys = [o.object_key for o in progress.objects(stream.topic, state="landed") if o.kind == RAW_KIND]
        covered, events, lines = _lake_events(spark, raw_lake.bucket, stream, keys, cover, settings.relaxed_rules)
        try:
            lake_received = {
                r["event_id"]: r["received_at"].replace(tzinfo=UTC)
                for r in events.select("event_id", F.col("received_at").cast("timestamp_ntz")).collect()
            }
            explained = {
                "covered_offsets": cover.covered_offsets,
                "lake_offsets": cover.lake_offsets,
                **lines,
                "horizon": dg.MetadataValue.timestamp(cover.horizon),
            }
            by_day = agreement.compare_days(lake_received, received[stream.name], cover.horizon)
            results.append(
                (
                    contract.EVENT_TABLES[stream.name],
                    not by_day.differences,
                    {
                        "compared_days": by_day.compared_days,
                        "compared_events": by_day.compared_events,
                        "disagreeing_days": len(by_day.differences),
                        "not_yet_comparable_events": by_day.not_yet_comparable_events,
                        "differences": _table(day_differences(by_day)),
                        **explained,
                    },
                )
            )
            watch.lap(f"lake_{stream.name}_events")
            if stream is PIN:
                results += _aggregate_results(events, streamed, explained, cover)
                watch.lap("aggregates")
        finally:
            events.unpersist()
            covered.unpersist()
    cost = {"seconds": watch.seconds, "seconds_by_step": dg.MetadataValue.json(watch.steps)}
    context.log.info(f"agreement checked in {cost['seconds']}s: {watch.steps}")
    for table, passed, metadata in results:
        yield dg.AssetCheckResult(
            asset_key=table,
            check_name=AGREEMENT_CHECK,
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={**metadata, **cost},
        )


def _aggregate_results(
    pins: DataFrame, streamed: dict[str, dict[tuple, dict]], explained: dict, cover: Coverage
) -> list[tuple[str, bool, dict]]:
    results = []
    for table, (key, values, recompute) in AGGREGATES.items():
        comparison = agreement.compare_rows(
            agreement.collect_rows(recompute(pins), key, values), streamed[table], values, cover.horizon
        )
        results.append(
            (
                table,
                not comparison.differences,
                {
                    "compared_windows": comparison.compared,
                    "disagreeing_windows": comparison.disagreeing_keys,
                    "not_yet_comparable_windows": comparison.not_yet_comparable,
                    "differences": _table(window_differences(key, comparison)),
                    **explained,
                },
            )
        )
    return results


STREAMING_AGREEMENT_JOB = dg.define_asset_job(
    name="streaming_agreement_job",
    selection=dg.AssetSelection.checks(streaming_agreement),
    description="Compare the streaming tables with a recomputation from the raw lake (Spark).",
)
