"""The tables of the streaming database (PINTEREST_STREAMING_DATABASE, `pinterest_streaming`).

Event tables, one row per event accepted by the API, append-only: `experimental_data` (pins),
`geo_data`, `user_data`; cleaned columns, then `received_at`, the Kafka coordinates and
`client_event_id`. The key is `event_id`; `client_event_id` (the client's name for the event, the
event_id when it gave none) is unique too, so a client's retries (copies with event_ids of their
own) hold one row, the first copy's (streaming/sink.py). Tables from before client ids are
upgraded in place: the column added, filled with the event_id, then its unique index.
Quarantine: `quarantined_events`, one row per record with the API's headers
that is no cleanable event of its topic's type (the contract's types and rules,
pinterest_common.quarantine, as the batch clean step applies them), keyed by its Kafka
coordinates: the reason, the value (`value` text with NULs as U+FFFD, or `value_base64` when not
UTF-8), `client_event_id` (unique per event type: a client's copies hold one row, the first) and
`quarantined_at`; the API's role cannot read it (`rejected_events` before: upgraded in place, and
given client_event_id = event_id for the first record of each event_id). Aggregates, always equal to a
recomputation from `experimental_data` (streaming/aggregates.py): `profile_popularity`,
`category_trends`. Bookkeeping: `streaming_batches` (one row per applied micro-batch, with its
event and quarantined counts and, per event type, the duplicate copies it skipped) and
`streaming_status` (the job's heartbeat).
Indexes: the keys and unique keys above, and those a query needs (the window recomputation's,
the view's); those of the first releases that none needs are dropped in place.
The view `experimental_data_enriched` adds the latest geo and user event of each pin's `ind`
(country, age group, ...), to cut live metrics.
"""

from __future__ import annotations

from psycopg2 import errors, sql

from pinterest_common.cleaning import CLEANED_COLUMNS
from pinterest_common.pg_roles import API_TABLES
from pinterest_common.schema import USER

# Columns as the sink writes them, in order: an event type's cleaned columns (one list with the
# batch tables), users with their age group, then the metadata.
EVENT_COLUMNS = {**CLEANED_COLUMNS, USER.name: (*CLEANED_COLUMNS[USER.name], "age_group")}
METADATA_COLUMNS = ("event_id", "received_at", "kafka_partition", "kafka_offset", "client_event_id")
TABLE_COLUMNS = {event_type: (*columns, *METADATA_COLUMNS) for event_type, columns in EVENT_COLUMNS.items()}
# Columns of `quarantined_events` as the sink writes them (`quarantined_at` is the insert's time).
QUARANTINED_COLUMNS = (
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "event_id",
    "event_type",
    "received_at",
    "reason",
    "value",
    "value_base64",
    "client_event_id",
)

_METADATA_DDL = """
    received_at       timestamptz NOT NULL,
    kafka_partition   integer NOT NULL,
    kafka_offset      bigint NOT NULL,
    client_event_id   text NOT NULL
"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS experimental_data (
    event_id          text PRIMARY KEY,
    ind               integer,
    unique_id         text,
    title             text,
    description       text,
    follower_count    bigint,
    poster_name       text,
    tag_list          text,
    is_image_or_video text,
    image_src         text,
    save_location     text,
    category          text,
    downloaded        integer,
    {_METADATA_DDL}
);
-- Besides the keys, the indexes a query needs: the window recomputation's (streaming/aggregates.py).
CREATE INDEX IF NOT EXISTS experimental_data_poster_time ON experimental_data (poster_name, received_at);
CREATE INDEX IF NOT EXISTS experimental_data_category_time ON experimental_data (category, received_at);

CREATE TABLE IF NOT EXISTS geo_data (
    event_id          text PRIMARY KEY,
    ind               integer,
    country           text,
    coordinates       double precision[],
    "timestamp"       timestamp,
    {_METADATA_DDL}
);
-- The view's latest event per ind (below).
CREATE INDEX IF NOT EXISTS geo_data_ind_latest ON geo_data (ind, received_at DESC, event_id DESC);

CREATE TABLE IF NOT EXISTS user_data (
    event_id          text PRIMARY KEY,
    ind               integer,
    user_name         text,
    age               integer,
    date_joined       timestamp,
    age_group         text,
    {_METADATA_DDL}
);
CREATE INDEX IF NOT EXISTS user_data_ind_latest ON user_data (ind, received_at DESC, event_id DESC);

-- Indexes of the first releases that no query uses, each a cost of every insert: dropped in place.
DROP INDEX IF EXISTS experimental_data_received_at, experimental_data_offset, experimental_data_ind,
    geo_data_received_at, geo_data_offset, user_data_received_at, user_data_offset;

-- client_event_id added after the first releases: upgrades existing tables in place, once (the
-- view selects e.*, so it is dropped and recreated below with the new column).
DO $$
DECLARE
    event_table text;
BEGIN
    FOREACH event_table IN ARRAY ARRAY['experimental_data', 'geo_data', 'user_data'] LOOP
        IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                       AND table_name = event_table AND column_name = 'client_event_id') THEN
            IF event_table = 'experimental_data' THEN
                DROP VIEW IF EXISTS experimental_data_enriched;
            END IF;
            EXECUTE format('ALTER TABLE %I ADD COLUMN client_event_id text', event_table);
            EXECUTE format('UPDATE %I SET client_event_id = event_id', event_table);
            EXECUTE format('ALTER TABLE %I ALTER COLUMN client_event_id SET NOT NULL', event_table);
        END IF;
    END LOOP;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS experimental_data_client_event_id ON experimental_data (client_event_id);
CREATE UNIQUE INDEX IF NOT EXISTS geo_data_client_event_id ON geo_data (client_event_id);
CREATE UNIQUE INDEX IF NOT EXISTS user_data_client_event_id ON user_data (client_event_id);

-- Called rejected_events before: renamed in place, once.
DO $$
BEGIN
    IF to_regclass('rejected_events') IS NOT NULL AND to_regclass('quarantined_events') IS NULL THEN
        ALTER TABLE rejected_events RENAME TO quarantined_events;
        ALTER INDEX IF EXISTS rejected_events_pkey RENAME TO quarantined_events_pkey;
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS quarantined_events (
    kafka_topic       text NOT NULL,
    kafka_partition   integer NOT NULL,
    kafka_offset      bigint NOT NULL,
    event_id          text NOT NULL,
    event_type        text NOT NULL,
    received_at       timestamptz NOT NULL,
    reason            text NOT NULL,
    value             text,
    value_base64      text,
    client_event_id   text,
    quarantined_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
);
ALTER TABLE quarantined_events ADD COLUMN IF NOT EXISTS quarantined_at timestamptz NOT NULL DEFAULT now();
-- client_event_id added after the first releases: the first record of each event_id gets it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'quarantined_events' AND column_name = 'client_event_id') THEN
        ALTER TABLE quarantined_events ADD COLUMN client_event_id text;
        UPDATE quarantined_events q SET client_event_id = q.event_id
        FROM (SELECT DISTINCT ON (event_type, event_id) kafka_topic, kafka_partition, kafka_offset
              FROM quarantined_events ORDER BY event_type, event_id, kafka_partition, kafka_offset) f
        WHERE (q.kafka_topic, q.kafka_partition, q.kafka_offset) = (f.kafka_topic, f.kafka_partition, f.kafka_offset);
    END IF;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS quarantined_events_client_event_id ON quarantined_events (event_type, client_event_id);

CREATE TABLE IF NOT EXISTS profile_popularity (
    window_name           text NOT NULL,
    window_start          timestamptz NOT NULL,
    window_end            timestamptz NOT NULL,
    poster_name           text NOT NULL,
    pins_posted           integer NOT NULL,
    distinct_pins         integer NOT NULL,
    latest_follower_count bigint,
    categories            text[] NOT NULL,
    popularity_score      double precision NOT NULL,
    PRIMARY KEY (window_name, window_start, poster_name)
);
CREATE INDEX IF NOT EXISTS profile_popularity_ranking
    ON profile_popularity (window_name, window_start, popularity_score DESC);

CREATE TABLE IF NOT EXISTS category_trends (
    category           text NOT NULL,
    window_start       timestamptz NOT NULL,
    window_end         timestamptz NOT NULL,
    events             integer NOT NULL,
    image_share        double precision NOT NULL,
    video_share        double precision NOT NULL,
    avg_follower_count double precision,
    PRIMARY KEY (category, window_start)
);

CREATE TABLE IF NOT EXISTS streaming_batches (
    query_id     text NOT NULL,
    batch_id     bigint NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    pin_events   integer NOT NULL,
    geo_events   integer NOT NULL,
    user_events  integer NOT NULL,
    PRIMARY KEY (query_id, batch_id)
);
-- Added after the first release (as rejected_events, renamed in place once): upgrades existing databases too.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'streaming_batches' AND column_name = 'rejected_events')
       AND NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                       AND table_name = 'streaming_batches' AND column_name = 'quarantined_events') THEN
        ALTER TABLE streaming_batches RENAME COLUMN rejected_events TO quarantined_events;
    END IF;
END $$;
ALTER TABLE streaming_batches ADD COLUMN IF NOT EXISTS quarantined_events integer NOT NULL DEFAULT 0;
-- Per event type, the copies of client events the batch skipped (streaming/sink.py).
ALTER TABLE streaming_batches ADD COLUMN IF NOT EXISTS pin_duplicate_copies integer NOT NULL DEFAULT 0;
ALTER TABLE streaming_batches ADD COLUMN IF NOT EXISTS geo_duplicate_copies integer NOT NULL DEFAULT 0;
ALTER TABLE streaming_batches ADD COLUMN IF NOT EXISTS user_duplicate_copies integer NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS streaming_status (
    query_name                text PRIMARY KEY,
    query_id                  text,
    active                    boolean NOT NULL,
    updated_at                timestamptz NOT NULL,
    batch_id                  bigint,
    end_offsets               jsonb,
    input_rows_per_second     double precision,
    processed_rows_per_second double precision
);
-- The late events Spark dropped, counted until the job kept no state: gone in place.
ALTER TABLE streaming_status DROP COLUMN IF EXISTS late_events_dropped;

CREATE OR REPLACE VIEW experimental_data_enriched AS
SELECT e.*, g.country, g.coordinates, g."timestamp" AS posted_at,
       u.user_name, u.age, u.age_group, u.date_joined
FROM experimental_data e
LEFT JOIN LATERAL (
    SELECT country, coordinates, "timestamp" FROM geo_data
    WHERE geo_data.ind = e.ind ORDER BY received_at DESC, event_id DESC LIMIT 1
) g ON true
LEFT JOIN LATERAL (
    SELECT user_name, age, age_group, date_joined FROM user_data
    WHERE user_data.ind = e.ind ORDER BY received_at DESC, event_id DESC LIMIT 1
) u ON true;
"""

SCHEMA_LOCK = 0x5343_4845  # advisory lock key: one process creates the schema at a time


def ensure_database(admin_conn, database: str) -> None:
    """Create `database` when missing; `admin_conn` is an autocommit connection to another one."""
    with admin_conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if cur.fetchone() is None:
            try:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            except errors.DuplicateDatabase:
                pass  # created by another process in the meantime


def ensure_schema(conn, api_reader: str | None = None) -> None:
    """Create the tables, indexes and view when missing (idempotent; one process at a time), and
    grant `api_reader` (the API's role, PINTEREST_PG_API_USER) SELECT on what the API reads
    (pg_roles.API_TABLES) alone, when that role exists. Run as the streaming writer, which then
    owns the tables."""
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        cur.execute(SCHEMA)
        if api_reader:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s AND rolname <> current_user", (api_reader,))
            if cur.fetchone() is not None:
                for table in API_TABLES:
                    cur.execute(
                        sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(table), sql.Identifier(api_reader))
                    )
