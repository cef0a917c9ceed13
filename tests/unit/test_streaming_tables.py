"""The streaming tables' shape: columns as cleaned, quarantined records, client copies, staged
inserts in Kafka order, only the indexes queries need, window arithmetic."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pinterest_common.cleaning import CLEANED_COLUMNS
from pinterest_common.pg_roles import API_TABLES
from pinterest_common.streaming_contract import EVENT_TABLES, MINUTE, PROFILE_WINDOWS, ROLLING_HOUR, TREND_WINDOW
from streaming.ddl import EVENT_COLUMNS, METADATA_COLUMNS, QUARANTINED_COLUMNS, SCHEMA, TABLE_COLUMNS
from streaming.sink import INSERT_QUARANTINED, insert_events_sql, stage_sql

MOMENT = datetime(2024, 5, 1, 10, 37, 42, 500000, tzinfo=UTC)


def declared_columns(table: str) -> list[str]:
    created = re.search(rf"CREATE TABLE IF NOT EXISTS {table} \((.*?)\n\);", SCHEMA, re.S).group(1)
    return [line.split()[0].strip('"') for line in created.splitlines() if line.strip() and "PRIMARY KEY (" not in line]


def test_event_columns_are_the_cleaned_columns_then_the_metadata():
    assert EVENT_COLUMNS["pin"] == CLEANED_COLUMNS["pin"]
    assert EVENT_COLUMNS["geo"] == CLEANED_COLUMNS["geo"]
    assert EVENT_COLUMNS["user"] == (*CLEANED_COLUMNS["user"], "age_group")
    for event_type, table in EVENT_TABLES.items():
        assert sorted(declared_columns(table)) == sorted(TABLE_COLUMNS[event_type])
        assert TABLE_COLUMNS[event_type][-5:] == METADATA_COLUMNS


def test_quarantined_records_are_keyed_by_their_kafka_coordinates_counted_per_batch_and_not_for_the_api():
    assert declared_columns("quarantined_events") == [*QUARANTINED_COLUMNS, "quarantined_at"]
    assert "PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)" in SCHEMA
    names = ", ".join(f'"{c}"' for c in QUARANTINED_COLUMNS)
    assert INSERT_QUARANTINED == (
        f"INSERT INTO quarantined_events ({names}) SELECT {names} FROM staged_quarantined_events "
        "ORDER BY kafka_topic, kafka_partition, kafka_offset ON CONFLICT DO NOTHING"
    )
    assert (
        "CREATE UNIQUE INDEX IF NOT EXISTS quarantined_events_client_event_id ON quarantined_events (event_type, client_event_id)"
        in SCHEMA
    )
    # Existing databases are upgraded: the table and the count column renamed once, the new columns added.
    assert "ALTER TABLE rejected_events RENAME TO quarantined_events" in SCHEMA
    assert "ALTER TABLE streaming_batches RENAME COLUMN rejected_events TO quarantined_events" in SCHEMA
    assert (
        "ALTER TABLE quarantined_events ADD COLUMN IF NOT EXISTS quarantined_at timestamptz NOT NULL DEFAULT now()"
        in SCHEMA
    )
    assert (
        "ALTER TABLE streaming_batches ADD COLUMN IF NOT EXISTS quarantined_events integer NOT NULL DEFAULT 0" in SCHEMA
    )
    assert "quarantined_events" not in API_TABLES


def test_each_table_is_copied_into_a_staging_table_then_inserted_in_kafka_order_once():
    for event_type, table in EVENT_TABLES.items():
        create, copy = stage_sql(table, TABLE_COLUMNS[event_type])
        assert create.startswith(f"CREATE TEMPORARY TABLE staged_{table} ON COMMIT DROP AS SELECT")
        assert create.endswith(f"FROM {table} WITH NO DATA") and copy.endswith("FROM STDIN")
        statement = insert_events_sql(event_type)
        # No conflict target: a known event_id and a known client_event_id are both skipped.
        assert (
            f"INSERT INTO {table}" in statement
            and f"FROM staged_{table} ORDER BY kafka_partition, kafka_offset" in statement
        )
        assert "ON CONFLICT DO NOTHING" in statement
    assert "INSERT INTO new_pins" in insert_events_sql("pin") and "new_pins" not in insert_events_sql("geo")


def test_only_the_keys_and_the_indexes_queries_need_are_created_and_the_others_dropped_in_place():
    created = re.findall(r"CREATE (UNIQUE )?INDEX IF NOT EXISTS (\w+)", SCHEMA)
    assert sorted(name for _, name in created) == [
        "experimental_data_category_time",
        "experimental_data_client_event_id",
        "experimental_data_poster_time",
        "geo_data_client_event_id",
        "geo_data_ind_latest",
        "profile_popularity_ranking",
        "quarantined_events_client_event_id",
        "user_data_client_event_id",
        "user_data_ind_latest",
    ]
    dropped = re.search(r"DROP INDEX IF EXISTS ([^;]+);", SCHEMA).group(1)
    assert sorted(name.strip() for name in dropped.split(",")) == [
        "experimental_data_ind",
        "experimental_data_offset",
        "experimental_data_received_at",
        "geo_data_offset",
        "geo_data_received_at",
        "user_data_offset",
        "user_data_received_at",
    ]


def test_client_event_id_is_unique_per_event_table_and_old_tables_are_upgraded_with_the_event_id():
    for event_type, table in EVENT_TABLES.items():
        assert "client_event_id" in TABLE_COLUMNS[event_type]
        assert f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_client_event_id ON {table} (client_event_id);" in SCHEMA
        assert (
            f"ALTER TABLE streaming_batches ADD COLUMN IF NOT EXISTS {event_type}_duplicate_copies integer NOT NULL DEFAULT 0"
            in SCHEMA
        )
    upgrade = SCHEMA.index("UPDATE %I SET client_event_id = event_id")
    assert (
        SCHEMA.index("ADD COLUMN client_event_id text")
        < upgrade
        < SCHEMA.index("ALTER COLUMN client_event_id SET NOT NULL")
    )
    assert upgrade < SCHEMA.index("CREATE UNIQUE INDEX IF NOT EXISTS experimental_data_client_event_id")


def test_a_moment_falls_in_one_minute_and_in_four_rolling_hours():
    assert PROFILE_WINDOWS == (MINUTE, ROLLING_HOUR) and TREND_WINDOW == MINUTE
    assert MINUTE.starts(MOMENT) == [datetime(2024, 5, 1, 10, 37, tzinfo=UTC)]
    assert [s.strftime("%H:%M") for s in ROLLING_HOUR.starts(MOMENT)] == ["10:30", "10:15", "10:00", "09:45"]
    for start in ROLLING_HOUR.starts(MOMENT):
        assert start <= MOMENT < ROLLING_HOUR.end(start)


def test_the_latest_rolling_hour_covers_the_last_45_to_60_minutes():
    start = ROLLING_HOUR.latest_start(MOMENT)
    assert start == datetime(2024, 5, 1, 9, 45, tzinfo=UTC)
    assert ROLLING_HOUR.end(start) == datetime(2024, 5, 1, 10, 45, tzinfo=UTC)
    on_the_hour = datetime(2024, 5, 1, 11, 0, tzinfo=UTC)
    assert ROLLING_HOUR.latest_start(on_the_hour) == datetime(2024, 5, 1, 10, 15, tzinfo=UTC)


def test_a_waiting_record_arrived_at_its_received_at_header_else_at_its_kafka_timestamp():
    from types import SimpleNamespace

    from pinterest_assets.defs.streaming_tables.assets import waiting_since
    from pinterest_common.records import RecordMetadata

    moment = datetime(2026, 11, 26, 12, 0, 1, 500000, tzinfo=UTC)
    api_record = SimpleNamespace(headers=RecordMetadata.new("pin", moment).headers(), timestamp=0)
    assert waiting_since(api_record) == moment
    stranger = SimpleNamespace(headers=[], timestamp=int(moment.timestamp() * 1000))
    assert waiting_since(stranger) == moment
