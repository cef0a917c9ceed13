"""Apply a micro-batch to PostgreSQL exactly once: everything in one transaction.

In that transaction: take the writer lock (one writer at a time, whatever the process), insert
the progress row `(query_id, batch_id)` into `streaming_batches` (present already: the batch is
a replay, nothing else happens; it counts the events and the quarantined records offered). Then
per table, the batch's rows (COPY text lines, streaming/source.py) are copied (`COPY ... FROM
STDIN`) into a temporary staging table dropped at commit and applied with one `INSERT ... SELECT
... ORDER BY` Kafka position `ON CONFLICT DO NOTHING`: the events, and the quarantined records
(no cleanable event) into `quarantined_events`; then per event type the duplicate copies skipped
are recorded, and the aggregate windows the new pins touch recomputed (streaming/aggregates.py).
A crash before the commit leaves nothing; Spark replays the batch.

An event is skipped when its event_id is stored already (the same record twice, or a new query
re-reading Kafka) or its client_event_id is (a client's retry: a copy). The copies of a client
event share its key, hence its partition, so the first copy by offset wins, in the batch as
across batches; the copies skipped are the events offered whose event_id is not stored
afterwards (`streaming_batches`, `<type>_duplicate_copies`; a new query re-reading Kafka counts
them again, as it counts its events); a quarantined record is skipped when its position is
stored, or its (event_type, client_event_id), and the copies are those whose position is not.
Only the pins inserted reach `new_pins`, so the aggregates count each client event once.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg2

from pinterest_common.streaming_contract import EVENT_TABLES

from .aggregates import NEW_PINS_TABLE, recompute_touched_windows
from .ddl import QUARANTINED_COLUMNS, TABLE_COLUMNS

WRITER_LOCK = 0x5752_4954  # advisory lock key held by each batch transaction
QUARANTINE_TABLE = "quarantined_events"

_INSERT_BATCH = """
INSERT INTO streaming_batches (query_id, batch_id, pin_events, geo_events, user_events, quarantined_events)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (query_id, batch_id) DO NOTHING
RETURNING batch_id
"""
_RECORD_COPIES = f"""
UPDATE streaming_batches SET {", ".join(f"{t}_duplicate_copies = %({t})s" for t in EVENT_TABLES)}
WHERE query_id = %(query_id)s AND batch_id = %(batch_id)s
"""


def staging_table(table: str) -> str:
    return f"staged_{table}"


def stage_sql(table: str, columns: Sequence[str]) -> tuple[str, str]:
    """The staging table of `table` (its `columns`, no constraints, dropped at commit) and the
    COPY into it."""
    names = ", ".join(f'"{c}"' for c in columns)
    return (
        f"CREATE TEMPORARY TABLE {staging_table(table)} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA",
        f"COPY {staging_table(table)} ({names}) FROM STDIN",
    )


def insert_sql(table: str, columns: Sequence[str], order: str) -> str:
    """The staged rows into `table` in `order` (Kafka's: the first copy of a client event first),
    those with a key stored already skipped (no conflict target: every unique key counts)."""
    names = ", ".join(f'"{c}"' for c in columns)
    return (
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging_table(table)} ORDER BY {order} "
        "ON CONFLICT DO NOTHING"
    )


def insert_events_sql(event_type: str) -> str:
    """The staged events into the event type's table (pins also into `new_pins`)."""
    insert = insert_sql(EVENT_TABLES[event_type], TABLE_COLUMNS[event_type], "kafka_partition, kafka_offset")
    if event_type != "pin":
        return insert
    return (
        f"WITH inserted AS ({insert} RETURNING poster_name, category, received_at) "
        "INSERT INTO new_pins SELECT poster_name, category, received_at FROM inserted"
    )


INSERT_QUARANTINED = insert_sql(QUARANTINE_TABLE, QUARANTINED_COLUMNS, "kafka_topic, kafka_partition, kafka_offset")


def duplicate_copies_sql(event_type: str) -> str:
    """After the insert, the staged events whose event_id is not in the table: the copies skipped."""
    table = EVENT_TABLES[event_type]
    return (
        f"SELECT count(*) FROM {staging_table(table)} s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} e WHERE e.event_id = s.event_id)"
    )


# Per event type, the staged quarantined records not stored after the insert: copies of a
# client event quarantined already.
QUARANTINED_COPIES = f"""
SELECT s.event_type, count(*) FROM {staging_table(QUARANTINE_TABLE)} s
WHERE NOT EXISTS (SELECT 1 FROM {QUARANTINE_TABLE} q WHERE q.kafka_topic = s.kafka_topic
                  AND q.kafka_partition = s.kafka_partition AND q.kafka_offset = s.kafka_offset)
GROUP BY s.event_type
"""


@dataclass(frozen=True)
class MicroBatch:
    query_id: str
    batch_id: int
    # Event type -> rows, each a line of COPY's text format in ddl.TABLE_COLUMNS order (no newline).
    rows: Mapping[str, Sequence[str]]
    # Records that are no cleanable event, each a line in ddl.QUARANTINED_COLUMNS order.
    quarantined: Sequence[str] = ()

    def count(self, event_type: str) -> int:
        return len(self.rows.get(event_type, ()))


def _copy(cur, table: str, columns: Sequence[str], lines: Sequence[str]) -> None:
    create, copy = stage_sql(table, columns)
    cur.execute(create)
    cur.copy_expert(copy, io.StringIO("\n".join(lines) + "\n"))


class PostgresSink:
    """Writes micro-batches over one connection, reopened after an error."""

    def __init__(self, dsn: str):
        self._dsn = dsn
        self._conn = None

    def apply(self, batch: MicroBatch) -> bool:
        """Apply `batch`; False (and no change) if this query already applied this batch id."""
        conn = self._connection()
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                cur.execute("SET LOCAL work_mem = '64MB'")  # the window recomputation sorts in memory
                counts = (batch.count("pin"), batch.count("geo"), batch.count("user"), len(batch.quarantined))
                cur.execute(_INSERT_BATCH, (batch.query_id, batch.batch_id, *counts))
                if cur.fetchone() is None:
                    return False
                cur.execute(NEW_PINS_TABLE)
                copies = dict.fromkeys(EVENT_TABLES, 0)
                for event_type, table in EVENT_TABLES.items():
                    if batch.rows.get(event_type):
                        _copy(cur, table, TABLE_COLUMNS[event_type], batch.rows[event_type])
                        cur.execute(insert_events_sql(event_type))
                        cur.execute(duplicate_copies_sql(event_type))
                        row = cur.fetchone()
                        assert row is not None  # count(*) returns one row
                        copies[event_type] = row[0]
                if batch.quarantined:
                    _copy(cur, QUARANTINE_TABLE, QUARANTINED_COLUMNS, batch.quarantined)
                    cur.execute(INSERT_QUARANTINED)
                    cur.execute(QUARANTINED_COPIES)
                    for event_type, skipped in cur.fetchall():
                        copies[event_type] += skipped
                if any(copies.values()):
                    cur.execute(_RECORD_COPIES, {**copies, "query_id": batch.query_id, "batch_id": batch.batch_id})
                recompute_touched_windows(cur)
            return True
        except psycopg2.Error:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self):
        if self._conn is None or self._conn.closed:
            # The lines' timestamps are UTC wall-clock, for `timestamptz` columns too.
            self._conn = psycopg2.connect(self._dsn, application_name="pinterest-streaming", options="-c TimeZone=UTC")
        return self._conn
