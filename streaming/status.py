"""The job's heartbeat: a JSON status file (the local stack's health check) and the row
`streaming_status` in PostgreSQL (the Kafka offsets consumed, for Dagster's lag and freshness).

The heartbeat is monitoring, not data: it is written after the batches commit, outside their
transactions, so it may trail them by one beat.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg2
from psycopg2.extras import Json

from pinterest_common.streaming_contract import QUERY_NAME

log = logging.getLogger(__name__)


_UPSERT = """
INSERT INTO streaming_status AS s (query_name, query_id, active, updated_at, batch_id, end_offsets,
                                   input_rows_per_second, processed_rows_per_second)
VALUES (%(query_name)s, %(query_id)s, %(active)s, now(), %(batch_id)s, %(end_offsets)s,
        %(input_rows_per_second)s, %(processed_rows_per_second)s)
ON CONFLICT (query_name) DO UPDATE SET
    query_id = EXCLUDED.query_id,
    active = EXCLUDED.active,
    updated_at = EXCLUDED.updated_at,
    batch_id = coalesce(EXCLUDED.batch_id, s.batch_id),
    end_offsets = coalesce(EXCLUDED.end_offsets, s.end_offsets),
    input_rows_per_second = EXCLUDED.input_rows_per_second,
    processed_rows_per_second = EXCLUDED.processed_rows_per_second
"""


@dataclass(frozen=True)
class JobStatus:
    """What the status file holds."""

    pid: int
    query_name: str
    query_id: str | None
    active: bool
    updated_at: float  # Unix time
    batch_id: int | None

    @classmethod
    def read(cls, path: Path) -> JobStatus | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        draft.write_text(json.dumps(asdict(self)))
        draft.replace(path)


class Heartbeat:
    """Reports the query's progress; `beat` never raises for PostgreSQL being unreachable."""

    def __init__(self, dsn: str, status_file: Path | None):
        self._dsn = dsn
        self._status_file = status_file
        self._conn = None

    def beat(self, query_id: str | None, active: bool, progresses: list[dict]) -> None:
        """Record the state; `progresses` are the query's recent progress reports (as dicts)."""
        latest = progresses[-1] if progresses else None
        if self._status_file is not None:
            batch_id = latest["batchId"] if latest else None
            JobStatus(os.getpid(), QUERY_NAME, query_id, active, time.time(), batch_id).write(self._status_file)
        self._record(query_id, active, latest)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _record(self, query_id: str | None, active: bool, latest: dict | None) -> None:
        source = latest["sources"][0] if latest and latest.get("sources") else {}
        values = {
            "query_name": QUERY_NAME,
            "query_id": query_id,
            "active": active,
            "batch_id": latest["batchId"] if latest else None,
            "end_offsets": Json(_offsets(source.get("endOffset"))) if source else None,
            "input_rows_per_second": latest.get("inputRowsPerSecond") if latest else None,
            "processed_rows_per_second": latest.get("processedRowsPerSecond") if latest else None,
        }
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg2.connect(self._dsn, application_name="pinterest-streaming-heartbeat")
                self._conn.autocommit = True
            with self._conn.cursor() as cur:
                cur.execute(_UPSERT, values)
        except psycopg2.Error as exc:
            log.warning("heartbeat not recorded in PostgreSQL: %s", exc)
            self.close()


def _offsets(end_offset) -> dict | None:
    """Kafka source offsets as {topic: {partition: next offset}} (Spark reports them as JSON)."""
    return json.loads(end_offset) if isinstance(end_offset, str) else end_offset
