"""The streaming tables' shape: columns as cleaned, bulk inserts, window arithmetic."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from pinterest_common.cleaning import CLEANED_COLUMNS
from streaming.aggregates import MINUTE, PROFILE_WINDOWS, ROLLING_HOUR, TREND_WINDOW
from streaming.ddl import EVENT_COLUMNS, EVENT_TABLES, METADATA_COLUMNS, SCHEMA, TABLE_COLUMNS
from streaming.sink import insert_events_sql

MOMENT = datetime(2024, 5, 1, 10, 37, 42, 500000, tzinfo=timezone.utc)


def test_event_columns_are_the_cleaned_columns_then_the_metadata():
    assert EVENT_COLUMNS["pin"] == CLEANED_COLUMNS["pin"]
    assert EVENT_COLUMNS["geo"] == CLEANED_COLUMNS["geo"]
    assert EVENT_COLUMNS["user"] == (*CLEANED_COLUMNS["user"], "age_group")
    for event_type, table in EVENT_TABLES.items():
        created = re.search(rf"CREATE TABLE IF NOT EXISTS {table} \((.*?)\n\);", SCHEMA, re.S).group(1)
        declared = [line.split()[0].strip("\"") for line in created.splitlines() if line.strip()]
        assert sorted(declared) == sorted(TABLE_COLUMNS[event_type])
        assert TABLE_COLUMNS[event_type][-4:] == METADATA_COLUMNS


def test_inserts_are_bulk_idempotent_and_pins_feed_the_window_recomputation():
    for event_type, table in EVENT_TABLES.items():
        statement = insert_events_sql(event_type)
        assert f"INSERT INTO {table}" in statement and "VALUES %s ON CONFLICT (event_id) DO NOTHING" in statement
    assert "INSERT INTO new_pins" in insert_events_sql("pin") and "new_pins" not in insert_events_sql("geo")


def test_a_moment_falls_in_one_minute_and_in_four_rolling_hours():
    assert PROFILE_WINDOWS == (MINUTE, ROLLING_HOUR) and TREND_WINDOW == MINUTE
    assert MINUTE.starts(MOMENT) == [datetime(2024, 5, 1, 10, 37, tzinfo=timezone.utc)]
    assert [s.strftime("%H:%M") for s in ROLLING_HOUR.starts(MOMENT)] == ["10:30", "10:15", "10:00", "09:45"]
    for start in ROLLING_HOUR.starts(MOMENT):
        assert start <= MOMENT < ROLLING_HOUR.end(start)


def test_the_latest_rolling_hour_covers_the_last_45_to_60_minutes():
    start = ROLLING_HOUR.latest_start(MOMENT)
    assert start == datetime(2024, 5, 1, 9, 45, tzinfo=timezone.utc)
    assert ROLLING_HOUR.end(start) == datetime(2024, 5, 1, 10, 45, tzinfo=timezone.utc)
    on_the_hour = datetime(2024, 5, 1, 11, 0, tzinfo=timezone.utc)
    assert ROLLING_HOUR.latest_start(on_the_hour) == datetime(2024, 5, 1, 10, 15, tzinfo=timezone.utc)
