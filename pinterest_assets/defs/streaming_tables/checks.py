"""Freshness of the streaming tables: red while events wait in Kafka longer than the bound.

For each event table, the check looks at the records of its topic that the streaming job has not
consumed yet (see assets/streaming_tables.py). It fails when the oldest of them was received more
than PINTEREST_STREAMING_FRESHNESS_SECONDS ago: events are flowing and the table's newest row is
at least that much behind them (the job is stopped, stuck or falling behind). With no traffic, or
once the job has caught up, nothing waits and the check passes; sparse traffic cannot trip it.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg

from pinterest_assets.resources import KafkaResource, PostgresResource
from pinterest_common.config import get_settings

from .assets import EVENT_TABLES, job_heartbeat, table_state, topic_lag

FRESHNESS_CHECK = "fresh_while_events_flow"


@dg.multi_asset_check(
    name="streaming_tables_freshness",
    specs=[
        dg.AssetCheckSpec(
            FRESHNESS_CHECK,
            asset=table.name,
            description=f"No event of `{table.topic}` has waited longer than PINTEREST_STREAMING_FRESHNESS_SECONDS "
            f"to reach `{table.name}`.",
        )
        for table in EVENT_TABLES
    ],
)
def streaming_tables_freshness(postgres: PostgresResource, kafka: KafkaResource) -> Iterator[dg.AssetCheckResult]:
    settings = get_settings()
    conn = postgres.connect(settings.streaming_database)
    try:
        with conn.cursor() as cur:
            heartbeat = job_heartbeat(cur)
            newest = {table.name: table_state(cur, table).newest for table in EVENT_TABLES}
    finally:
        conn.close()
    now = datetime.now(UTC)
    bound = settings.streaming_freshness_seconds
    for table in EVENT_TABLES:
        lag = topic_lag(kafka, table.topic, heartbeat)
        waited = lag.waiting_seconds(now)
        metadata = {
            "bound_seconds": bound,
            "waiting_records": lag.waiting_records,
            "oldest_waiting_seconds": round(waited, 3),
            "job_active": bool(heartbeat and heartbeat.active),
        }
        if (newest_row := newest[table.name]) is not None:
            metadata["newest_row_age_seconds"] = round((now - newest_row).total_seconds(), 3)
        yield dg.AssetCheckResult(
            asset_key=table.name,
            check_name=FRESHNESS_CHECK,
            passed=waited <= bound,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=metadata,
        )


STREAMING_CHECKS: list[dg.AssetChecksDefinition] = [streaming_tables_freshness]
