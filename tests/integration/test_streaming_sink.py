"""The sink against PostgreSQL: one transaction per micro-batch (COPY into staging tables, one
insert each), replays change nothing, late pins update their old windows, the aggregates always equal a recomputation, a client's copies
are stored once (the first by Kafka offset) and counted, and quarantined records are stored once,
out of the API role's reach (a database from before, with `rejected_events` or event tables
without `client_event_id`, is upgraded in place)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from psycopg2 import errors

from pinterest_common.config import PG_API
from streaming.ddl import QUARANTINED_COLUMNS, ensure_database, ensure_schema
from streaming.sink import MicroBatch, PostgresSink
from tests.fixtures.streaming import (
    assert_aggregates_equal_recomputation,
    connect,
    drop_database,
    micro_batch,
    new_database,
    table_rows,
)

pytestmark = pytest.mark.integration

TABLES = ("experimental_data", "geo_data", "user_data", "profile_popularity", "category_trends")
NOW = datetime(2024, 5, 1, 10, 0, 10)  # the sink takes naive UTC


def metadata(received: datetime, offset: int = 0, client_event_id: str | None = None) -> tuple:
    """event_id, received_at, Kafka partition 0 and `offset`, client_event_id (else the event_id)."""
    event_id = str(uuid.uuid4())
    return (event_id, received, 0, offset, client_event_id or event_id)


def pin(
    poster: str | None,
    followers: int | None,
    category: str,
    received: datetime,
    unique_id: str | None = None,
    media: str = "image",
    offset: int = 0,
    client_event_id: str | None = None,
) -> tuple:
    return (
        1,
        unique_id or str(uuid.uuid4()),
        "t",
        "d",
        followers,
        poster,
        "tags",
        media,
        "src",
        f"/data/{category}",
        category,
        1,
        *metadata(received, offset, client_event_id),
    )


def geo(ind: int, received: datetime, offset: int = 0, client_event_id: str | None = None) -> tuple:
    return (
        ind,
        "Albania",
        [-89.9787, -173.293],
        datetime(2020, 8, 28, 3, 52, 47),
        *metadata(received, offset, client_event_id),
    )


def user(ind: int, received: datetime) -> tuple:
    return (ind, "Abigail Ali", 20, datetime(2015, 10, 24, 11, 23, 51), "18-24", *metadata(received))


def quarantined(
    offset: int, reason: str, value: str | None, value_base64: str | None = None, client_event_id: str | None = None
) -> tuple:
    event_id = str(uuid.uuid4())
    return ("pinterest.pin", 1, offset, event_id, "pin", NOW, reason, value, value_base64, client_event_id or event_id)


@pytest.fixture
def empty_database(stack_settings):
    name = new_database()
    admin = connect(stack_settings, "postgres")
    ensure_database(admin, name)
    admin.close()
    yield name
    drop_database(stack_settings, name)


@pytest.fixture
def database(stack_settings, empty_database):
    conn = psycopg2.connect(stack_settings.pg_dsn(empty_database))
    ensure_schema(conn)
    ensure_schema(conn)  # idempotent
    conn.close()
    return empty_database


def snapshot(settings, database: str) -> dict:
    return {table: table_rows(settings, database, table) for table in TABLES}


def test_a_replayed_batch_changes_nothing_and_a_new_query_rewrites_nothing(stack_settings, database):
    sink = PostgresSink(stack_settings.pg_dsn(database))
    batch = micro_batch(
        "query-1",
        0,
        {
            "pin": [pin("Ann", 1000, "art", NOW), pin("Ann", 1000, "travel", NOW), pin(None, None, "art", NOW)],
            "geo": [geo(1, NOW)],
            "user": [user(1, NOW)],
        },
    )
    assert sink.apply(batch)
    applied = snapshot(stack_settings, database)
    assert [len(applied[t]) for t in TABLES] == [3, 1, 1, 5, 2]  # Ann: a minute, 4 rolling hours; 2 categories
    assert not sink.apply(batch)
    assert sink.apply(MicroBatch("query-2", 0, batch.rows))  # e.g. a new checkpoint re-reading Kafka
    assert snapshot(stack_settings, database) == applied
    sink.close()


def test_late_pins_update_their_old_windows_and_aggregates_equal_a_recomputation(stack_settings, database):
    sink = PostgresSink(stack_settings.pg_dsn(database))
    replayed = str(uuid.uuid4())
    early = NOW - timedelta(hours=2)
    sink.apply(
        micro_batch(
            "q",
            0,
            {
                "pin": [
                    pin("Ann", 1000, "art", NOW, replayed),
                    pin("Ann", 2000, "art", NOW + timedelta(seconds=1), replayed),
                    pin("Bob", None, "travel", NOW, media="video"),
                    pin("Bob", 50, "travel", NOW, media="multi-video(story page format)"),
                ]
            },
        )
    )
    sink.apply(micro_batch("q", 1, {"pin": [pin("Ann", 3000, "art", early), pin("Cid", 7, "art", early)]}))
    assert_aggregates_equal_recomputation(stack_settings, database)
    ann = [
        r
        for r in table_rows(stack_settings, database, "profile_popularity")
        if r["poster_name"] == "Ann" and r["window_name"] == "1m" and r["window_start"] > early.replace(tzinfo=UTC)
    ]
    assert [(r["pins_posted"], r["distinct_pins"], r["latest_follower_count"]) for r in ann] == [(2, 1, 2000)]


def test_a_failed_batch_leaves_nothing(stack_settings, database):
    sink = PostgresSink(stack_settings.pg_dsn(database))
    broken = pin("Ann", 1000, "art", NOW)[:-5] + (None, NOW, 0, 0, "c")  # no event_id: violates NOT NULL
    with pytest.raises(psycopg2.Error):
        sink.apply(micro_batch("q", 0, {"pin": [pin("Ann", 1000, "art", NOW), broken]}))
    assert all(rows == [] for rows in snapshot(stack_settings, database).values())
    conn = connect(stack_settings, database)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM streaming_batches")
        assert cur.fetchone()[0] == 0
    conn.close()
    assert sink.apply(micro_batch("q", 0, {"pin": [pin("Ann", 1000, "art", NOW)]}))  # the retry applies


def duplicate_copies(settings, database: str) -> list[tuple]:
    conn = connect(settings, database)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT query_id, batch_id, pin_duplicate_copies, geo_duplicate_copies, user_duplicate_copies"
            " FROM streaming_batches ORDER BY 1, 2"
        )
        rows = cur.fetchall()
    conn.close()
    return rows


def test_a_clients_copies_are_stored_once_the_first_by_offset_and_the_others_counted(stack_settings, database):
    sink = PostgresSink(stack_settings.pg_dsn(database))
    # Three copies of one pin (a client's retries), offered out of Kafka order; the first is offset 3.
    copies = [
        pin("Ann", 1000, "art", NOW + timedelta(seconds=s), "u1", offset=o, client_event_id="retry-1")
        for s, o in ((2, 9), (0, 3), (1, 5))
    ]
    other = pin("Ann", 1000, "art", NOW, "u2", offset=4)
    # A geo event with the same client id is another event (another type); its own copy comes later.
    geo_first, geo_copy = (
        geo(1, NOW, offset=3, client_event_id="retry-1"),
        geo(1, NOW, offset=8, client_event_id="retry-1"),
    )
    assert sink.apply(micro_batch("q", 0, {"pin": [*copies, other], "geo": [geo_first]}))
    late_copy = pin("Ann", 1000, "art", NOW + timedelta(seconds=3), "u1", offset=12, client_event_id="retry-1")
    assert sink.apply(micro_batch("q", 1, {"pin": [late_copy], "geo": [geo_copy]}))
    assert sink.apply(micro_batch("q2", 0, {"pin": [*copies, other], "geo": [geo_first]}))  # a new query re-reading

    pins = table_rows(stack_settings, database, "experimental_data")
    assert sorted((row["event_id"], row["client_event_id"], row["kafka_offset"]) for row in pins) == sorted(
        [(copies[1][12], "retry-1", 3), (other[12], other[12], 4)]
    )
    assert [(row["event_id"], row["client_event_id"]) for row in table_rows(stack_settings, database, "geo_data")] == [
        (geo_first[4], "retry-1")
    ]
    # Copies: batch 0 skipped two pins, batch 1 one pin and one geo; the re-reading query skips the
    # stored events as no copies, and the two copies again.
    assert duplicate_copies(stack_settings, database) == [("q", 0, 2, 0, 0), ("q", 1, 1, 1, 0), ("q2", 0, 2, 0, 0)]
    ann = [r for r in table_rows(stack_settings, database, "profile_popularity") if r["window_name"] == "1m"]
    assert [(r["pins_posted"], r["distinct_pins"]) for r in ann] == [(2, 2)]
    assert [r["events"] for r in table_rows(stack_settings, database, "category_trends")] == [2]
    assert_aggregates_equal_recomputation(stack_settings, database)
    sink.close()


def test_quarantined_records_are_stored_once_with_their_batch_and_counted(stack_settings, database):
    sink = PostgresSink(stack_settings.pg_dsn(database))
    garbage = [
        quarantined(7, "value_not_json", "{not json \ufffd"),
        quarantined(8, "value_not_utf8", None, "//4="),
        quarantined(9, "missing_field:index", '{"title": "x"}'),
    ]
    batch = micro_batch("query-1", 0, {"pin": [pin("Ann", 1000, "art", NOW)]}, garbage)
    assert sink.apply(batch)
    stored = table_rows(stack_settings, database, "quarantined_events")
    utc = NOW.replace(tzinfo=UTC)
    assert [tuple(row[c] for c in QUARANTINED_COLUMNS) for row in stored] == [(*g[:5], utc, *g[6:]) for g in garbage]
    assert all(row["quarantined_at"] > utc for row in stored)  # the time of the insert
    assert not sink.apply(batch)  # a replay
    assert sink.apply(MicroBatch("query-2", 0, batch.rows, batch.quarantined[1:]))  # a new checkpoint re-reading Kafka
    assert sink.apply(micro_batch("query-2", 1, {}, garbage[:1]))  # quarantined records alone
    assert table_rows(stack_settings, database, "quarantined_events") == stored
    assert len(table_rows(stack_settings, database, "experimental_data")) == 1
    conn = connect(stack_settings, database)
    with conn.cursor() as cur:
        cur.execute("SELECT query_id, batch_id, pin_events, quarantined_events FROM streaming_batches ORDER BY 1, 2")
        assert cur.fetchall() == [("query-1", 0, 1, 3), ("query-2", 0, 1, 2), ("query-2", 1, 0, 1)]
    conn.close()
    sink.close()


def test_a_clients_quarantined_copies_are_stored_once_and_counted(stack_settings, database):
    sink = PostgresSink(stack_settings.pg_dsn(database))
    first, copy = (
        quarantined(4, "downloaded_is_flag", '{"x": 1}', client_event_id="c-9"),
        quarantined(6, "downloaded_is_flag", '{"x": 1}', client_event_id="c-9"),
    )
    assert sink.apply(micro_batch("q", 0, {}, [copy, first]))  # offered out of Kafka order
    later = quarantined(11, "downloaded_is_flag", '{"x": 1}', client_event_id="c-9")
    assert sink.apply(micro_batch("q", 1, {}, [later]))
    stored = table_rows(stack_settings, database, "quarantined_events")
    assert [(row["kafka_offset"], row["client_event_id"]) for row in stored] == [(4, "c-9")]
    assert duplicate_copies(stack_settings, database) == [("q", 0, 1, 0, 0), ("q", 1, 1, 0, 0)]
    sink.close()


def test_the_api_role_cannot_read_quarantined_events(stack_settings, database):
    admin = psycopg2.connect(stack_settings.pg_dsn(database))
    ensure_schema(admin, api_reader=stack_settings.pg_api_user)  # the grants the job gives
    admin.close()
    api = psycopg2.connect(stack_settings.pg_dsn(database, PG_API))
    api.autocommit = True
    try:
        with api.cursor() as cur:
            cur.execute("SELECT count(*) FROM profile_popularity")  # what it reads
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("SELECT * FROM quarantined_events")
    finally:
        api.close()


# The two tables as the first releases created them (before the quarantine).
OLD_SCHEMA = """
CREATE TABLE rejected_events (
    kafka_topic text NOT NULL, kafka_partition integer NOT NULL, kafka_offset bigint NOT NULL,
    event_id text NOT NULL, event_type text NOT NULL, received_at timestamptz NOT NULL, reason text NOT NULL,
    value text, value_base64 text,
    PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
);
CREATE TABLE streaming_batches (
    query_id text NOT NULL, batch_id bigint NOT NULL, committed_at timestamptz NOT NULL DEFAULT now(),
    pin_events integer NOT NULL, geo_events integer NOT NULL, user_events integer NOT NULL,
    rejected_events integer NOT NULL DEFAULT 0,
    PRIMARY KEY (query_id, batch_id)
);
"""


def test_a_database_with_rejected_events_is_upgraded_in_place_keeping_its_rows(stack_settings, empty_database):
    old = quarantined(7, "value is not JSON: Expecting value", "{not json")
    conn = psycopg2.connect(stack_settings.pg_dsn(empty_database), options="-c TimeZone=UTC")
    with conn, conn.cursor() as cur:
        cur.execute(OLD_SCHEMA)
        cur.execute(f"INSERT INTO rejected_events ({', '.join(QUARANTINED_COLUMNS[:-1])}) VALUES %s", (old[:-1],))
        cur.execute("INSERT INTO streaming_batches VALUES ('q', 0, now(), 1, 0, 0, 1)")
    ensure_schema(conn)
    ensure_schema(conn)  # idempotent after the upgrade too
    conn.close()
    sink = PostgresSink(stack_settings.pg_dsn(empty_database))
    assert sink.apply(
        micro_batch("q", 1, {"pin": [pin("Ann", 1000, "art", NOW)]}, [quarantined(8, "value_not_utf8", None, "//4=")])
    )
    sink.close()
    stored = table_rows(stack_settings, empty_database, "quarantined_events")
    assert [(row["kafka_offset"], row["reason"]) for row in stored] == [(7, old[6]), (8, "value_not_utf8")]
    assert all(row["quarantined_at"] is not None for row in stored)
    assert stored[0]["client_event_id"] == old[3]  # the upgrade names an old record by its event_id
    conn = connect(stack_settings, empty_database)
    with conn.cursor() as cur:
        cur.execute("SELECT batch_id, quarantined_events FROM streaming_batches ORDER BY 1")
        assert cur.fetchall() == [(0, 1), (1, 1)]
        cur.execute("SELECT to_regclass('rejected_events'), to_regclass('quarantined_events_pkey')::text")
        assert cur.fetchone() == (None, "quarantined_events_pkey")
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'streaming_batches'"
            " AND column_name LIKE '%_events' ORDER BY 1"
        )
        assert [row[0] for row in cur.fetchall()] == ["geo_events", "pin_events", "quarantined_events", "user_events"]
    conn.close()


def test_event_tables_without_client_event_id_are_upgraded_in_place_keeping_their_rows(stack_settings, database):
    """As the releases before client ids left them: no column, and the view without it."""
    old = pin("Ann", 1000, "art", NOW)
    conn = psycopg2.connect(stack_settings.pg_dsn(database), options="-c TimeZone=UTC")
    with conn, conn.cursor() as cur:
        cur.execute("DROP VIEW experimental_data_enriched")
        for table in ("experimental_data", "geo_data", "user_data"):
            cur.execute(f"ALTER TABLE {table} DROP COLUMN client_event_id")
        cur.execute(
            "CREATE VIEW experimental_data_enriched AS SELECT e.*, NULL::text AS country FROM experimental_data e"
        )
        cur.execute(
            "INSERT INTO experimental_data (ind, unique_id, title, description, follower_count, poster_name,"
            " tag_list, is_image_or_video, image_src, save_location, category, downloaded, event_id,"
            " received_at, kafka_partition, kafka_offset) VALUES %s",
            (old[:-1],),
        )
    ensure_schema(conn)
    ensure_schema(conn)  # idempotent after the upgrade too
    conn.close()
    assert [
        (row["event_id"], row["client_event_id"]) for row in table_rows(stack_settings, database, "experimental_data")
    ] == [(old[12], old[12])]
    sink = PostgresSink(stack_settings.pg_dsn(database))
    copy = pin("Ann", 1000, "art", NOW, offset=1, client_event_id=old[12])  # a copy named by the old event_id
    assert sink.apply(micro_batch("q", 0, {"pin": [copy]}))
    sink.close()
    assert [row["event_id"] for row in table_rows(stack_settings, database, "experimental_data_enriched")] == [old[12]]
    assert duplicate_copies(stack_settings, database) == [("q", 0, 1, 0, 0)]
    conn = connect(stack_settings, database)
    with conn.cursor() as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%client_event_id' ORDER BY 1")
        assert [row[0] for row in cur.fetchall()] == [
            "experimental_data_client_event_id",
            "geo_data_client_event_id",
            "quarantined_events_client_event_id",
            "user_data_client_event_id",
        ]
        cur.execute(
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'geo_data'::regclass AND attname = 'client_event_id'"
        )
        assert cur.fetchone() == (True,)
    conn.close()


# Indexes of the first releases that no query uses.
OLD_INDEXES = {
    "experimental_data_received_at": "experimental_data (received_at)",
    "experimental_data_offset": "experimental_data (kafka_partition, kafka_offset)",
    "experimental_data_ind": "experimental_data (ind)",
    "geo_data_received_at": "geo_data (received_at)",
    "geo_data_offset": "geo_data (kafka_partition, kafka_offset)",
    "user_data_received_at": "user_data (received_at)",
    "user_data_offset": "user_data (kafka_partition, kafka_offset)",
}


def test_indexes_no_query_needs_are_dropped_in_place(stack_settings, database):
    conn = psycopg2.connect(stack_settings.pg_dsn(database))
    with conn, conn.cursor() as cur:
        for name, on in OLD_INDEXES.items():
            cur.execute(f"CREATE INDEX {name} ON {on}")
    ensure_schema(conn)
    conn.close()
    conn = connect(stack_settings, database)
    with conn.cursor() as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
        assert [row[0] for row in cur.fetchall()] == [
            "category_trends_pkey",
            "experimental_data_category_time",
            "experimental_data_client_event_id",
            "experimental_data_pkey",
            "experimental_data_poster_time",
            "geo_data_client_event_id",
            "geo_data_ind_latest",
            "geo_data_pkey",
            "profile_popularity_pkey",
            "profile_popularity_ranking",
            "quarantined_events_client_event_id",
            "quarantined_events_pkey",
            "streaming_batches_pkey",
            "streaming_status_pkey",
            "user_data_client_event_id",
            "user_data_ind_latest",
            "user_data_pkey",
        ]
    conn.close()
