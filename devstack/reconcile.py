"""Reconcile a ledger of acknowledged event_ids against every store that should hold them.

The ledger is what the API acknowledged (the emulator's JSON lines: event_id, event_type, topic,
partition, offset). Each store is read in full and counted by event_id: Kafka (the record
headers), the raw lake (the `event_id` of every raw line), and the streaming job's event tables.
Records that are no valid event are looked up by Kafka coordinates: in the raw lake, which holds
every record (`raw_lines_by_position`), and in the streaming job's table of the records it sets
aside.
An acknowledged event is *lost* in a store that does not hold it and *duplicated* in one that
holds it more than once; events the store holds beyond the ledger (earlier runs) are ignored.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import psycopg2
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from pinterest_assets.lake import RAW_PREFIX
from pinterest_assets.lake.objects import decode_lines
from pinterest_common.config import Settings
from pinterest_common.records import RecordMetadata
from pinterest_common.s3 import list_keys
from pinterest_common.schema import EVENT_TYPES
from streaming.ddl import EVENT_TABLES


@dataclass(frozen=True)
class StageCount:
    stage: str
    acknowledged: int
    found: int  # acknowledged event_ids the store holds at least once
    duplicated: int  # acknowledged event_ids it holds more than once

    @property
    def lost(self) -> int:
        return self.acknowledged - self.found

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0

    def line(self) -> str:
        verdict = "ok" if self.ok else "MISMATCH"
        return (f"{self.stage:<22} {self.found:>9,} of {self.acknowledged:,} acknowledged, "
                f"{self.lost:,} lost, {self.duplicated:,} duplicated  {verdict}")


def read_ledger(paths: Iterable[Path]) -> dict[str, str]:
    """event_id -> event_type of every acknowledged event in the ledger files (the emulator's,
    ingestion_api.traffic: one line per event tried; lines without `outcome` are acknowledged)."""
    ledger: dict[str, str] = {}
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                entry = json.loads(line)
                if entry.get("outcome", "acknowledged") == "acknowledged":
                    ledger[entry["event_id"]] = entry["event_type"]
    return ledger


def api_records(settings: Settings) -> Iterator[tuple[ConsumerRecord, RecordMetadata]]:
    """Every record of the three event topics, from the first offset to the end, that carries the
    API's headers, with them parsed. Records from other writers are skipped, as the streaming job
    skips them (the raw lake holds them too, without an event_id)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
                             max_partition_fetch_bytes=8 * 1024 * 1024)
    try:
        partitions = [TopicPartition(event_type.topic, p) for event_type in EVENT_TYPES.values()
                      for p in consumer.partitions_for_topic(event_type.topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000, max_records=10_000).values():
                for record in records:
                    try:
                        yield record, RecordMetadata.from_headers(record.headers)
                    except ValueError:
                        continue
    finally:
        consumer.close()


def kafka_event_ids(settings: Settings) -> Counter[str]:
    """event_id of every API record of the three event topics."""
    return Counter(metadata.event_id for _, metadata in api_records(settings))


def _lake_lines(settings: Settings, prefix: str) -> Iterator[dict]:
    """Every line of every object under `prefix/` in the lake's bucket, parsed."""
    s3 = boto3.client(
        "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id, aws_secret_access_key=settings.s3_secret_access_key,
    )
    for key in list_keys(s3, settings.s3_bucket, f"{prefix}/"):
        body = s3.get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read()
        for line in decode_lines(body):
            yield json.loads(line)


def raw_lake_event_ids(settings: Settings) -> Counter[str]:
    """event_id of every line of every raw object in the lake (lines without one are not counted)."""
    return Counter(line["event_id"] for line in _lake_lines(settings, RAW_PREFIX) if line.get("event_id") is not None)


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


def streaming_accounted_event_ids(settings: Settings) -> Counter[str]:
    """event_id of every row of the streaming job's event tables and of its `quarantined_events`:
    where each event the job read went, whether it was cleaned or quarantined."""
    found = streaming_event_ids(settings)
    conn = psycopg2.connect(settings.pg_dsn(settings.streaming_database))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT event_id FROM quarantined_events")
            found.update(str(row[0]) for row in cur.fetchall())
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


def count_stage(stage: str, ledger: Iterable[str], store: Counter[str]) -> StageCount:
    ledger = list(ledger)
    found = sum(1 for event_id in ledger if store[event_id] > 0)
    duplicated = sum(1 for event_id in ledger if store[event_id] > 1)
    return StageCount(stage, len(ledger), found, duplicated)
