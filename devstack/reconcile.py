"""Reconcile a ledger of what a client sent against every store that should hold it.

The ledger is the emulator's JSON lines (ingestion_api.traffic): one line per event tried, with
its `client_event_id`, `event_type`, `outcome` (acknowledged, rejected, failed) and `attempts`,
and for an acknowledged event the API's event_id and Kafka coordinates. A client that retries
sends the same client_event_id again, so an event may have several copies (event_ids) in Kafka.

Each store is read in full and counted by (event type, client_event_id), the event_id standing
in for records without one (`ClientKey`): Kafka (the record headers), the raw lake (each line's
`client_event_id`) and the streaming job (its event tables' and its quarantine's
`client_event_id`). Kafka and the raw lake keep every copy: an acknowledged event must be there
at least once. Every store after them keeps the first copy: exactly once (`count_clients`,
`ClientCount`); the demo and the fault suite check both. Records that are no valid event are
looked up by Kafka coordinates: in the raw lake, which holds every record
(`raw_lines_by_position`), and in the streaming job's table of the records it sets aside. What a
store holds beyond the ledger (earlier runs) is ignored.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition  # not re-exported by kafka in typeshed's (2.3) stubs

from pinterest_assets.lib.lake.objects import decode_lines
from pinterest_common import kafka_io
from pinterest_common.config import Settings
from pinterest_common.lake_layout import RAW_PREFIX
from pinterest_common.records import RecordMetadata
from pinterest_common.s3 import list_keys, s3_client
from pinterest_common.schema import EVENT_TYPES
from pinterest_common.streaming_contract import EVENT_TABLES

ClientKey = tuple[str, str]  # (event type, client_event_id or, without one, the event_id)
EVENT_TYPE_OF_TOPIC = {event_type.topic: name for name, event_type in EVENT_TYPES.items()}
ACKNOWLEDGED, REJECTED, FAILED = "acknowledged", "rejected", "failed"  # ledger outcomes


@dataclass
class ClientLedger:
    """The events a client tried, by ClientKey: the outcome and the attempts of each."""

    outcomes: dict[ClientKey, str] = field(default_factory=dict)
    attempts: dict[ClientKey, int] = field(default_factory=dict)

    def keys(self, outcome: str) -> list[ClientKey]:
        return [key for key, o in self.outcomes.items() if o == outcome]

    @property
    def tried(self) -> int:
        return len(self.outcomes)

    @property
    def acknowledged(self) -> int:
        return len(self.keys(ACKNOWLEDGED))

    @property
    def retried(self) -> int:
        """Events sent more than once (each time under the same client_event_id)."""
        return sum(1 for attempts in self.attempts.values() if attempts > 1)


def read_client_ledger(paths: Iterable[Path]) -> ClientLedger:
    """Every event tried in the ledger files, by (event_type, client_event_id). An event settled
    twice counts as acknowledged if it was once, and with the attempts of both."""
    ledger = ClientLedger()
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                entry = json.loads(line)
                key = (entry["event_type"], entry["client_event_id"])
                if ledger.outcomes.get(key) != ACKNOWLEDGED:
                    ledger.outcomes[key] = entry["outcome"]
                ledger.attempts[key] = ledger.attempts.get(key, 0) + entry["attempts"]
    return ledger


@dataclass(frozen=True)
class ClientCount:
    """One store against a ClientLedger. `exact`: the store keeps one copy per client event
    (after the raw lake); otherwise copies are allowed (Kafka, the raw lake) and only counted."""

    stage: str
    exact: bool
    acknowledged: int
    found: int  # acknowledged events the store holds at least once
    duplicated: int  # acknowledged events it holds more than once
    copies: int  # copies of acknowledged events beyond the first
    unacknowledged_found: int = 0  # events whose outcome was `failed`, held anyway
    unacknowledged_duplicated: int = 0  # of those, held more than once
    rejected_found: int = 0  # events the API rejected (4xx), which no store may hold
    beyond_upstream: int = 0  # events held more often than the store it copies holds them (the raw lake: Kafka)

    @property
    def lost(self) -> int:
        return self.acknowledged - self.found

    def problems(self) -> list[str]:
        """What breaks the guarantees: a lost acknowledged event; a rejected event held; in an
        exact store, any event (acknowledged or not) held more than once."""
        problems = []
        if self.lost:
            problems.append(f"{self.stage}: {self.lost:,} acknowledged events lost")
        if self.exact and self.duplicated:
            problems.append(f"{self.stage}: {self.duplicated:,} acknowledged events held more than once")
        if self.exact and self.unacknowledged_duplicated:
            problems.append(
                f"{self.stage}: {self.unacknowledged_duplicated:,} unacknowledged events held more than once"
            )
        if self.rejected_found:
            problems.append(f"{self.stage}: {self.rejected_found:,} events the API rejected are held")
        if self.beyond_upstream:
            problems.append(f"{self.stage}: {self.beyond_upstream:,} events held more often than upstream")
        return problems

    @property
    def ok(self) -> bool:
        return not self.problems()

    def line(self) -> str:
        rule = "exactly once" if self.exact else "at least once"
        extra = (
            f", {self.duplicated:,} duplicated"
            if self.exact
            else f", {self.copies:,} extra copies ({self.duplicated:,} events)"
        )
        return (
            f"{self.stage:<22} {self.found:>7,} of {self.acknowledged:,} acknowledged, {self.lost:,} lost{extra}; "
            f"{self.unacknowledged_found:,} unacknowledged held ({self.unacknowledged_duplicated:,} twice or more); "
            f"{rule}  {'ok' if self.ok else 'MISMATCH'}"
        )


def count_clients(
    stage: str, ledger: ClientLedger, store: Counter[ClientKey], exact: bool, upstream: Counter[ClientKey] | None = None
) -> ClientCount:
    """`ledger` against the copies per client event that `store` holds; `upstream`: the copies
    of the store it mirrors (the raw lake mirrors Kafka record for record), which it may not exceed."""
    acknowledged, failed = ledger.keys(ACKNOWLEDGED), ledger.keys(FAILED)
    return ClientCount(
        stage,
        exact,
        len(acknowledged),
        found=sum(1 for key in acknowledged if store[key] > 0),
        duplicated=sum(1 for key in acknowledged if store[key] > 1),
        copies=sum(store[key] - 1 for key in acknowledged if store[key] > 1),
        unacknowledged_found=sum(1 for key in failed if store[key] > 0),
        unacknowledged_duplicated=sum(1 for key in failed if store[key] > 1),
        rejected_found=sum(1 for key in ledger.keys(REJECTED) if store[key] > 0),
        beyond_upstream=0 if upstream is None else sum(1 for key in ledger.outcomes if store[key] > upstream[key]),
    )


def api_records(settings: Settings) -> Iterator[tuple[ConsumerRecord, RecordMetadata]]:
    """Every record of the three event topics, from the first offset to the end, that carries the
    API's headers, with them parsed. Records from other writers are skipped, as the streaming job
    skips them (the raw lake holds them too, without an event_id)."""
    consumer = kafka_io.open_consumer(settings.kafka, client_id="pinterest-reconcile")
    try:
        start, end = {}, {}
        for event_type in EVENT_TYPES.values():
            for partition, offsets in (kafka_io.partition_offsets(consumer, event_type.topic) or {}).items():
                tp = TopicPartition(event_type.topic, partition)
                start[tp], end[tp] = offsets.earliest, offsets.end
        for record in kafka_io.read_partitions(consumer, start, end):
            try:
                yield record, RecordMetadata.from_headers(record.headers)
            except ValueError:
                continue
    finally:
        consumer.close()


def kafka_clients(settings: Settings) -> Counter[ClientKey]:
    """The copies of every client event in the three event topics (API records: the header
    client_event_id, else the event_id)."""
    return Counter((EVENT_TYPE_OF_TOPIC[record.topic], metadata.dedup_id) for record, metadata in api_records(settings))


def _lake_lines(settings: Settings, prefix: str) -> Iterator[dict]:
    """Every line of every object under `prefix/` in the lake's bucket, parsed."""
    s3 = s3_client(settings)
    for key in list_keys(s3, settings.s3_bucket, f"{prefix}/"):
        body = s3.get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read()
        for line in decode_lines(body):
            yield json.loads(line)


def raw_lake_clients(settings: Settings) -> Counter[ClientKey]:
    """The copies of every client event in the raw lake: lines with an event_id, by the line's
    client_event_id (else the event_id)."""
    return Counter(
        (EVENT_TYPE_OF_TOPIC[line["kafka_topic"]], line.get("client_event_id") or line["event_id"])
        for line in _lake_lines(settings, RAW_PREFIX)
        if line.get("event_id") is not None
    )


def raw_lines_by_position(
    settings: Settings, positions: Iterable[tuple[str, int, int]]
) -> dict[tuple[str, int, int], list[dict]]:
    """For each Kafka coordinate (topic, partition, offset) in `positions`, the lines of the raw
    lake that hold that record, parsed: one per copy, so exactly one when the lake is right."""
    found: dict[tuple[str, int, int], list[dict]] = {position: [] for position in positions}
    for line in _lake_lines(settings, RAW_PREFIX):
        position = (line["kafka_topic"], line["kafka_partition"], line["kafka_offset"])
        if position in found:
            found[position].append(line)
    return found


def streaming_event_ids(settings: Settings) -> Counter[str]:
    """event_id of every row of the streaming job's event tables."""
    conn = psycopg2.connect(settings.pg_dsn(settings.streaming_database))
    try:
        found: Counter[str] = Counter()
        with conn.cursor() as cur:
            for table in EVENT_TABLES.values():
                cur.execute(f"SELECT event_id FROM {table}")  # table names from the code
                found.update(str(row[0]) for row in cur.fetchall())
        return found
    finally:
        conn.close()


def streaming_clients(settings: Settings) -> Counter[ClientKey]:
    """The rows per client event of the streaming job's event tables and of its
    `quarantined_events` (their `client_event_id`; a quarantined record from before client ids
    that was not its event_id's first has none, as a copy)."""
    conn = psycopg2.connect(settings.pg_dsn(settings.streaming_database))
    try:
        found: Counter[ClientKey] = Counter()
        with conn.cursor() as cur:
            for event_type, table in EVENT_TABLES.items():
                cur.execute(f"SELECT client_event_id FROM {table}")  # table names from the code
                found.update((event_type, row[0]) for row in cur.fetchall())
            cur.execute("SELECT event_type, client_event_id FROM quarantined_events WHERE client_event_id IS NOT NULL")
            found.update((event_type, client_event_id) for event_type, client_event_id in cur.fetchall())
        return found
    finally:
        conn.close()


def streaming_quarantine(settings: Settings) -> dict[tuple[str, int, int], str]:
    """(topic, partition, offset) of every row of the streaming job's `quarantined_events` -> its reason."""
    conn = psycopg2.connect(settings.pg_dsn(settings.streaming_database))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT kafka_topic, kafka_partition, kafka_offset, reason FROM quarantined_events")
            return {(topic, partition, offset): reason for topic, partition, offset, reason in cur.fetchall()}
    finally:
        conn.close()
