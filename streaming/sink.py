"""Apply a micro-batch to PostgreSQL exactly once: everything in one transaction.

In that transaction: take the writer lock (one writer at a time, whatever the process), insert
the progress row `(query_id, batch_id)` into `streaming_batches` (present already: the batch is
a replay, nothing else happens; it counts the events and the quarantined records), insert the
events in Kafka order (partition, offset) with `ON CONFLICT DO NOTHING` and the quarantined
records (no cleanable event) into `quarantined_events`, in Kafka order too, with
`ON CONFLICT DO NOTHING` (bulk, `execute_values`; a record stored already, or a copy of a client
event quarantined already), record per event type the duplicate copies skipped, and recompute the aggregate windows the new
pins touch (streaming/aggregates.py). A crash before the commit leaves nothing; Spark replays the
batch.

An event is skipped when its event_id is stored already (a new query re-reading Kafka) or its
client_event_id is (a client's retry: a copy). The copies of a client event share its key, hence
its partition, so the first copy by offset wins, in the batch as across batches; the copies
skipped are the events offered whose event_id is not stored afterwards (`streaming_batches`,
`<type>_duplicate_copies`; a new query re-reading Kafka counts them again, as it counts its
events). Only the pins inserted reach `new_pins`, so the aggregates count each client event once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg2
from psycopg2.extras import execute_values

from .aggregates import NEW_PINS_TABLE, recompute_touched_windows
from .ddl import EVENT_TABLES, QUARANTINED_COLUMNS, TABLE_COLUMNS

WRITER_LOCK = 0x5752_4954  # advisory lock key held by each batch transaction
PAGE_SIZE = 1000  # rows per INSERT statement

_INSERT_BATCH = """
INSERT INTO streaming_batches (query_id, batch_id, pin_events, geo_events, user_events, quarantined_events)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (query_id, batch_id) DO NOTHING
RETURNING batch_id
"""
INSERT_QUARANTINED = (
    f"INSERT INTO quarantined_events ({', '.join(QUARANTINED_COLUMNS)}) VALUES %s ON CONFLICT DO NOTHING"
)
# Per event type, the quarantined records offered (topic, partition, offset, type arrays) that
# are not stored after the insert: copies of a client event quarantined already.
QUARANTINED_COPIES = """
SELECT o.event_type, count(*)
FROM unnest(%s::text[], %s::integer[], %s::bigint[], %s::text[]) AS o (kafka_topic, kafka_partition, kafka_offset, event_type)
WHERE NOT EXISTS (SELECT 1 FROM quarantined_events q WHERE q.kafka_topic = o.kafka_topic
                  AND q.kafka_partition = o.kafka_partition AND q.kafka_offset = o.kafka_offset)
GROUP BY o.event_type
"""
_POSITION = tuple(QUARANTINED_COLUMNS.index(c) for c in ("kafka_topic", "kafka_partition", "kafka_offset"))
_QUARANTINED_TYPE = QUARANTINED_COLUMNS.index("event_type")


def insert_events_sql(event_type: str) -> str:
    """The bulk insert of one event type (pins also feed `new_pins`)."""
    columns = ", ".join(f'"{c}"' for c in TABLE_COLUMNS[event_type])
    insert = f"INSERT INTO {EVENT_TABLES[event_type]} ({columns}) VALUES %s ON CONFLICT DO NOTHING"
    if event_type != "pin":
        return insert
    return (
        f"WITH inserted AS ({insert} RETURNING poster_name, category, received_at) "
        "INSERT INTO new_pins SELECT poster_name, category, received_at FROM inserted"
    )


def duplicate_copies_sql(event_type: str) -> str:
    """How many of the event_ids given (a text array) are not in the event type's table: after
    its insert, the copies of client events skipped."""
    return (f"SELECT count(*) FROM unnest(%s::text[]) AS offered (event_id) WHERE NOT EXISTS "
            f"(SELECT 1 FROM {EVENT_TABLES[event_type]} e WHERE e.event_id = offered.event_id)")


_RECORD_COPIES = f"""
UPDATE streaming_batches SET {', '.join(f'{t}_duplicate_copies = %({t})s' for t in EVENT_TABLES)}
WHERE query_id = %(query_id)s AND batch_id = %(batch_id)s
"""
_EVENT_ID = {event_type: columns.index("event_id") for event_type, columns in TABLE_COLUMNS.items()}
_KAFKA_ORDER = {event_type: (columns.index("kafka_partition"), columns.index("kafka_offset"))
                for event_type, columns in TABLE_COLUMNS.items()}


def in_kafka_order(event_type: str, rows: Sequence[tuple]) -> list[tuple]:
    """`rows` of `event_type` by Kafka partition, then offset: a client event's first copy first."""
    partition, offset = _KAFKA_ORDER[event_type]
    return sorted(rows, key=lambda row: (row[partition], row[offset]))


@dataclass(frozen=True)
class MicroBatch:
    query_id: str
    batch_id: int
    # Event type -> rows, each a tuple in ddl.TABLE_COLUMNS order; timestamps naive UTC.
    rows: Mapping[str, Sequence[tuple]]
    # Records that are no cleanable event, each a tuple in ddl.QUARANTINED_COLUMNS order.
    quarantined: Sequence[tuple] = ()

    def count(self, event_type: str) -> int:
        return len(self.rows.get(event_type, ()))


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
                for event_type in EVENT_TABLES:
                    if batch.rows.get(event_type):
                        rows = in_kafka_order(event_type, batch.rows[event_type])
                        execute_values(cur, insert_events_sql(event_type), rows, page_size=PAGE_SIZE)
                        cur.execute(duplicate_copies_sql(event_type), ([row[_EVENT_ID[event_type]] for row in rows],))
                        copies[event_type] = cur.fetchone()[0]
                if batch.quarantined:
                    quarantined = sorted(batch.quarantined, key=lambda row: tuple(row[i] for i in _POSITION))
                    execute_values(cur, INSERT_QUARANTINED, quarantined, page_size=PAGE_SIZE)
                    columns = [[row[i] for row in quarantined] for i in (*_POSITION, _QUARANTINED_TYPE)]
                    cur.execute(QUARANTINED_COPIES, columns)
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
            # Naive timestamps are UTC, for `timestamptz` columns too.
            self._conn = psycopg2.connect(self._dsn, application_name="pinterest-streaming", options="-c TimeZone=UTC")
        return self._conn
