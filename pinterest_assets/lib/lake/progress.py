"""What has landed: committed offsets and the object manifest, in PostgreSQL schema `lake`.

    lake.drain_progress (topic, partition, next_offset, updated_at)
        per partition, the first offset NOT landed yet. It only moves forward, and only in the
        transaction that marks the range's objects landed, after their upload succeeded.
    lake.objects (object_key, topic, partition, kind, first_offset, last_offset, records, bytes,
                  state, run_id, updated_at)
        every object a run wrote (`kind` is always `raw` now: every record is a line of a raw
        object; lakes landed before that may also hold `dead_letter` objects, under
        `dead-letter/raw/`): `pending` from just before its upload until the commit,
        `landed` after. Pending rows are the write-ahead log of a run that died between its
        upload and its commit: the next run on that partition deletes those objects before
        writing its own, so no offset is ever in two objects.

A run holds a PostgreSQL advisory lock on (topic, partition) from reading the committed offset
to the commit, so two runs never land the same partition at once. The lock belongs to the
run's database session and ends with it, also when the process is killed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS lake;
CREATE TABLE IF NOT EXISTS lake.drain_progress (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS lake.objects (
    object_key   text        PRIMARY KEY,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('raw', 'dead_letter')),
    first_offset bigint      NOT NULL,
    last_offset  bigint      NOT NULL,
    records      integer     NOT NULL,
    bytes        bigint      NOT NULL,
    state        text        NOT NULL CHECK (state IN ('pending', 'landed')),
    run_id       text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS objects_by_partition ON lake.objects (topic, partition, state, first_offset);
"""

# The `kind` of every object written (the column remains from when the drain also wrote dead letters).
RAW_KIND = "raw"

# Serialises the CREATE ... IF NOT EXISTS above between processes (they race otherwise).
_SCHEMA_LOCK_ID = 7_405_061
_LOCK_NAMESPACE = "pinterest.lake.drain"


class PartitionBusy(TimeoutError):
    """Another run held the partition's lock for longer than we were willing to wait."""


@dataclass(frozen=True)
class ObjectRow:
    object_key: str
    topic: str
    partition: int
    kind: str
    first_offset: int
    last_offset: int
    records: int
    bytes: int
    state: str
    run_id: str | None


class ProgressStore:
    """The lake's durable progress. `connect` returns a new psycopg2 connection."""

    def __init__(self, connect: Callable[[], Any]):
        self._connect = connect
        self._schema_ready = False

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        conn = self._connect()
        try:
            with conn, conn.cursor() as cur:
                if not self._schema_ready:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))
                    cur.execute(SCHEMA_SQL)
                    self._schema_ready = True
                yield cur
        finally:
            conn.close()

    def ensure_schema(self) -> None:
        with self._transaction():
            pass

    # Reading --------------------------------------------------------------------------------
    def committed(self, topic: str) -> dict[int, int]:
        """partition -> next offset to land, for the partitions where something has landed."""
        with self._transaction() as cur:
            cur.execute("SELECT partition, next_offset FROM lake.drain_progress WHERE topic = %s", (topic,))
            return {int(p): int(o) for p, o in cur.fetchall()}

    def objects(self, topic: str, state: str | None = None, partition: int | None = None) -> list[ObjectRow]:
        query = (
            "SELECT object_key, topic, partition, kind, first_offset, last_offset, records, bytes, state, run_id"
            " FROM lake.objects WHERE topic = %s"
        )
        params: list[Any] = [topic]
        if state is not None:
            query += " AND state = %s"
            params.append(state)
        if partition is not None:
            query += " AND partition = %s"
            params.append(partition)
        with self._transaction() as cur:
            cur.execute(query + " ORDER BY partition, kind, first_offset", params)
            return [ObjectRow(*row) for row in cur.fetchall()]

    def overlapping_landed_objects(self, topic: str) -> list[tuple[str, str]]:
        """Landed objects of one partition and kind whose offset span overlaps an earlier one
        (in offset order), with that earlier object: (object, earlier object)."""
        with self._transaction() as cur:
            cur.execute(
                """
                SELECT object_key, previous_key FROM (
                    SELECT object_key, first_offset,
                           max(last_offset) OVER earlier AS previous_last,
                           lag(object_key) OVER (PARTITION BY partition, kind ORDER BY first_offset, last_offset)
                               AS previous_key
                    FROM lake.objects
                    WHERE topic = %s AND state = 'landed'
                    WINDOW earlier AS (PARTITION BY partition, kind ORDER BY first_offset, last_offset
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                ) spans
                WHERE first_offset <= previous_last
                """,
                (topic,),
            )
            return [(a, b) for a, b in cur.fetchall()]

    # Landing (call these while holding partition_lock) -------------------------------------
    @contextmanager
    def partition_lock(self, topic: str, partition: int, timeout_s: float = 300.0) -> Iterator[None]:
        """Hold the advisory lock of (topic, partition); wait at most `timeout_s` for it."""
        self.ensure_schema()
        conn = self._connect()
        conn.autocommit = True
        key = (f"{_LOCK_NAMESPACE}:{topic}", partition)
        try:
            with conn.cursor() as cur:
                deadline = time.monotonic() + timeout_s
                while True:
                    cur.execute("SELECT pg_try_advisory_lock(hashtext(%s), %s)", key)
                    if cur.fetchone()[0]:
                        break
                    if time.monotonic() > deadline:
                        raise PartitionBusy(f"{topic} p{partition} is being landed by another run")
                    time.sleep(0.5)
            try:
                yield
            finally:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(hashtext(%s), %s)", key)
        finally:
            conn.close()

    def committed_offset(self, topic: str, partition: int) -> int | None:
        with self._transaction() as cur:
            cur.execute(
                "SELECT next_offset FROM lake.drain_progress WHERE topic = %s AND partition = %s", (topic, partition)
            )
            row = cur.fetchone()
            return None if row is None else int(row[0])

    def record_pending(self, rows: Sequence[ObjectRow]) -> None:
        """Write-ahead: the objects about to be uploaded (committed before the upload)."""
        with self._transaction() as cur:
            for row in rows:
                cur.execute(
                    """
                    INSERT INTO lake.objects (object_key, topic, partition, kind, first_offset, last_offset,
                                              records, bytes, state, run_id)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s)
                    ON CONFLICT (object_key) DO UPDATE SET
                        records = EXCLUDED.records, bytes = EXCLUDED.bytes, run_id = EXCLUDED.run_id,
                        updated_at = now()
                    WHERE lake.objects.state = 'pending'
                    RETURNING object_key
                    """,
                    (
                        row.object_key,
                        row.topic,
                        row.partition,
                        row.kind,
                        row.first_offset,
                        row.last_offset,
                        row.records,
                        row.bytes,
                        row.run_id,
                    ),
                )
                if cur.fetchone() is None:
                    raise RuntimeError(f"{row.object_key} has landed already; refusing to overwrite it")

    def forget_pending(self, keys: Sequence[str]) -> None:
        """Drop pending rows whose objects have been deleted."""
        if keys:
            with self._transaction() as cur:
                cur.execute("DELETE FROM lake.objects WHERE state = 'pending' AND object_key = ANY(%s)", (list(keys),))

    def commit(self, topic: str, partition: int, expected: int | None, next_offset: int, keys: Sequence[str]) -> None:
        """Mark `keys` landed and move the partition to `next_offset`, in one transaction.

        `expected` is the committed offset the run started from (None: nothing had landed);
        anything else means another writer interfered, and nothing is committed.
        """
        with self._transaction() as cur:
            cur.execute(
                "SELECT next_offset FROM lake.drain_progress WHERE topic = %s AND partition = %s FOR UPDATE",
                (topic, partition),
            )
            row = cur.fetchone()
            current = None if row is None else int(row[0])
            if current != expected:
                raise RuntimeError(
                    f"{topic} p{partition}: committed offset is {current}, expected {expected}; not committing"
                )
            cur.execute(
                """
                INSERT INTO lake.drain_progress (topic, partition, next_offset, updated_at)
                VALUES (%s, %s, %s, now())
                ON CONFLICT (topic, partition) DO UPDATE
                SET next_offset = GREATEST(lake.drain_progress.next_offset, EXCLUDED.next_offset), updated_at = now()
                """,
                (topic, partition, next_offset),
            )
            if keys:
                cur.execute(
                    "UPDATE lake.objects SET state = 'landed', updated_at = now()"
                    " WHERE object_key = ANY(%s) AND state = 'pending'",
                    (list(keys),),
                )
                if cur.rowcount != len(set(keys)):
                    raise RuntimeError(f"{topic} p{partition}: pending rows missing for some objects; not committing")
