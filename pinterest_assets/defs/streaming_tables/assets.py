"""The streaming job's tables (PostgreSQL database PINTEREST_STREAMING_DATABASE), observed.

The Spark job (streaming/, deployed on its own) writes them; Dagster observes them. Each
observation reports per table a data version (content-derived), `dagster/row_count`, the newest
`received_at` (event tables) or window start (aggregates), and the lag behind Kafka: how many
records of the table's topic the job has not consumed yet (its heartbeat row `streaming_status`
holds the offsets it consumed) and how long the oldest of them has been waiting; the event tables
also report `quarantined_records`, the records of their topic the job stored in
`quarantined_events` instead (no cleanable event), `quarantined_by_reason`, those counts per
reason, and `duplicate_copies_skipped`, the copies of client events (a client's retries) the job
did not store because the first copy is (`streaming_batches`). The sensor in
pinterest_assets/defs/streaming_tables/sensors.py runs the observation job every PINTEREST_STREAMING_OBSERVE_INTERVAL_SECONDS.
Row counts are exact (`count(*)`), which is fine at the local stack's volumes.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
from psycopg2 import sql

from pinterest_assets.lib.topics import DRAINED_TOPICS
from pinterest_assets.resources import KafkaResource, PostgresResource
from pinterest_common import streaming_contract as contract
from pinterest_common.config import get_settings
from pinterest_common.records import RecordMetadata, parse_received_at
from pinterest_common.schema import EVENT_TYPES, GEO, PIN, USER

STREAMING_GROUP = "streaming"
STREAMING_KINDS = {"spark", "postgres"}
_TOPIC_ASSETS = {stream.topic: stream.topic_asset_name for stream in DRAINED_TOPICS}


@dataclass(frozen=True)
class StreamingTable:
    name: str
    topic: str  # where its rows come from (the aggregates: the pins)
    time_column: str  # the newest value of it is reported
    version: str  # SQL aggregate that changes whenever the table's content does
    upstream: str  # asset key
    description: str


EVENT_TABLE_VERSION = "count(*)::text"  # append-only tables
TABLES = (
    StreamingTable(
        contract.EVENT_TABLES["pin"],
        PIN.topic,
        "received_at",
        EVENT_TABLE_VERSION,
        _TOPIC_ASSETS[PIN.topic],
        "One row per pin event accepted by the API (key event_id; client_event_id unique, the first "
        "copy of a client's retries): cleaned columns, received_at, Kafka partition and offset.",
    ),
    StreamingTable(
        contract.EVENT_TABLES["geo"],
        GEO.topic,
        "received_at",
        EVENT_TABLE_VERSION,
        _TOPIC_ASSETS[GEO.topic],
        "One row per geo event (key event_id; client_event_id unique): ind, country, coordinates, timestamp.",
    ),
    StreamingTable(
        contract.EVENT_TABLES["user"],
        USER.topic,
        "received_at",
        EVENT_TABLE_VERSION,
        _TOPIC_ASSETS[USER.topic],
        "One row per user event (key event_id; client_event_id unique): ind, user_name, age, age_group, date_joined.",
    ),
    StreamingTable(
        contract.PROFILE_POPULARITY,
        PIN.topic,
        "window_start",
        "count(*) || ':' || coalesce(sum(pins_posted), 0)",
        "experimental_data",
        "Per poster and event-time window (1m tumbling, 1h rolling every 15 min): pins posted, distinct "
        "pins, latest follower count, categories, popularity score (see streaming/aggregates.py).",
    ),
    StreamingTable(
        contract.CATEGORY_TRENDS,
        PIN.topic,
        "window_start",
        "count(*) || ':' || coalesce(sum(events), 0)",
        "experimental_data",
        "Per category per minute: events, image and video share, average follower count.",
    ),
)
EVENT_TABLES = tuple(table for table in TABLES if table.time_column == "received_at")


@dataclass(frozen=True)
class TableState:
    row_count: int
    newest: datetime | None
    version: str


@dataclass(frozen=True)
class TopicLag:
    """Records of a topic the job has not consumed yet, and when the oldest of them was received."""

    waiting_records: int
    oldest_waiting_received_at: datetime | None

    def waiting_seconds(self, now: datetime) -> float:
        if self.oldest_waiting_received_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_waiting_received_at).total_seconds())


@dataclass(frozen=True)
class JobHeartbeat:
    active: bool
    updated_at: datetime
    consumed_offsets: dict  # {topic: {partition (str): next offset}}
    input_rows_per_second: float | None
    processed_rows_per_second: float | None


def table_state(cur, table: StreamingTable) -> TableState:
    cur.execute(
        sql.SQL("SELECT count(*), max({}), {} FROM {}").format(
            sql.Identifier(table.time_column),
            sql.SQL(table.version),
            sql.Identifier(table.name),
        )
    )
    row_count, newest, version = cur.fetchone()
    return TableState(row_count, newest, version)


def quarantined_records(cur) -> dict[str, dict[str, int]]:
    """Topic -> reason -> how many of its records are in `quarantined_events` with that reason."""
    cur.execute("SELECT kafka_topic, reason, count(*) FROM quarantined_events GROUP BY kafka_topic, reason")
    counts: dict[str, dict[str, int]] = {}
    for topic, reason, count in cur.fetchall():
        counts.setdefault(topic, {})[reason] = count
    return counts


def duplicate_copies(cur) -> dict[str, int]:
    """Topic -> how many copies of its client events the job skipped (`streaming_batches`)."""
    types = tuple(EVENT_TYPES)
    cur.execute(
        sql.SQL("SELECT {} FROM streaming_batches").format(
            sql.SQL(", ").join(
                sql.SQL("coalesce(sum({}), 0)").format(sql.Identifier(f"{name}_duplicate_copies")) for name in types
            )
        )
    )
    return {EVENT_TYPES[name].topic: int(count) for name, count in zip(types, cur.fetchone())}


def job_heartbeat(cur) -> JobHeartbeat | None:
    cur.execute(
        "SELECT active, updated_at, coalesce(end_offsets, '{}'), input_rows_per_second, "
        "processed_rows_per_second FROM streaming_status WHERE query_name = %s",
        (contract.QUERY_NAME,),
    )
    row = cur.fetchone()
    return JobHeartbeat(*row) if row else None


def topic_lag(kafka: KafkaResource, topic: str, heartbeat: JobHeartbeat | None) -> TopicLag:
    """Compares Kafka's end offsets with the offsets the job consumed; reads the first waiting
    record of each lagging partition for the moment it arrived (`waiting_since`)."""
    consumed = (heartbeat.consumed_offsets if heartbeat else {}).get(topic, {})
    waiting, oldest = 0, None
    for partition, offsets in (kafka.partition_offsets(topic) or {}).items():
        start = max(consumed.get(str(partition), offsets.earliest), offsets.earliest)
        if offsets.end <= start:
            continue
        waiting += offsets.end - start
        for record in kafka.read_range(topic, partition, start, start + 1):
            received = waiting_since(record)
            oldest = received if oldest is None else min(oldest, received)
    return TopicLag(waiting, oldest)


def waiting_since(record) -> datetime:
    """When a Kafka record arrived: the API's `received_at` header; for a record some other writer
    produced without it, the record's Kafka timestamp."""
    try:
        return parse_received_at(RecordMetadata.from_headers(record.headers).received_at)
    except (ValueError, UnicodeDecodeError):
        return datetime.fromtimestamp(record.timestamp / 1000, UTC)


def _observation(
    table: StreamingTable,
    state: TableState,
    lag: TopicLag,
    heartbeat: JobHeartbeat | None,
    quarantined: dict[str, dict[str, int]],
    copies: dict[str, int],
    now: datetime,
) -> dg.ObserveResult:
    metadata: dict = {
        "dagster/row_count": state.row_count,
        "kafka_topic": table.topic,
        "kafka_lag_records": lag.waiting_records,
        "kafka_lag_seconds": round(lag.waiting_seconds(now), 3),
        "job_active": bool(heartbeat and heartbeat.active),
    }
    if table in EVENT_TABLES:
        by_reason = quarantined.get(table.topic, {})
        metadata["quarantined_records"] = sum(by_reason.values())
        metadata["quarantined_by_reason"] = dg.MetadataValue.json(dict(sorted(by_reason.items())))
        metadata["duplicate_copies_skipped"] = copies.get(table.topic, 0)
    if state.newest is not None:
        metadata[f"newest_{table.time_column}"] = dg.MetadataValue.timestamp(state.newest)
    if heartbeat is not None:
        metadata["job_heartbeat_age_seconds"] = round((now - heartbeat.updated_at).total_seconds(), 3)
        for rate in ("input_rows_per_second", "processed_rows_per_second"):
            if getattr(heartbeat, rate) is not None:
                metadata[f"job_{rate}"] = round(getattr(heartbeat, rate), 1)
    return dg.ObserveResult(asset_key=table.name, data_version=dg.DataVersion(state.version), metadata=metadata)


def observe_streaming_tables(postgres: PostgresResource, kafka: KafkaResource) -> Iterator[dg.ObserveResult]:
    conn = postgres.connect(get_settings().streaming_database)
    try:
        with conn.cursor() as cur:
            heartbeat = job_heartbeat(cur)
            states = {table.name: table_state(cur, table) for table in TABLES}
            quarantined = quarantined_records(cur)
            copies = duplicate_copies(cur)
    finally:
        conn.close()
    lags = {topic: topic_lag(kafka, topic, heartbeat) for topic in {table.topic for table in TABLES}}
    now = datetime.now(UTC)
    for table in TABLES:
        yield _observation(table, states[table.name], lags[table.topic], heartbeat, quarantined, copies, now)


# Observable source assets are the documented way to observe tables that another system writes;
# every observation API is marked beta in this Dagster release, so that one warning is silenced here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    observe_streaming_tables_asset = dg.multi_observable_source_asset(
        name="observe_streaming_tables",
        description="Row counts, newest rows and the lag behind Kafka of the streaming job's tables.",
        specs=[
            dg.AssetSpec(
                key=table.name,
                group_name=STREAMING_GROUP,
                kinds=STREAMING_KINDS,
                deps=[table.upstream],
                description=f"PostgreSQL table `{table.name}`, written by the streaming job. {table.description}",
            )
            for table in TABLES
        ],
    )(observe_streaming_tables)

STREAMING_ASSETS: list[dg.AssetsDefinition] = [observe_streaming_tables_asset]
