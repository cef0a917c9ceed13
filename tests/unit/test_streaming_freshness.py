"""The streaming tables' freshness check made to fail without services: `fresh_while_events_flow`
(pinterest_assets/defs/streaming_tables/checks.py) over a fake heartbeat table and fake Kafka
offsets and records. tests/integration/test_streaming_observation.py shows it red with the real
job stopped and green once it has caught up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from pinterest_assets.defs.streaming_tables.checks import FRESHNESS_CHECK, streaming_tables_freshness
from pinterest_common.config import LOCAL_SECRETS
from pinterest_common.kafka_io import PartitionOffsets
from pinterest_common.records import RecordMetadata, format_received_at

BOUND_S = 60


def now() -> datetime:
    return datetime.now(UTC)


TABLES = {"pinterest.pin": "experimental_data", "pinterest.geo": "geo_data", "pinterest.user": "user_data"}


class Cursor:
    """Answers the two queries the check makes: the job's heartbeat row and each table's state."""

    def __init__(self, heartbeat: tuple | None):
        self.heartbeat, self.last = heartbeat, ""

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def execute(self, query, params=None) -> None:
        self.last = query if isinstance(query, str) else "table state"

    def fetchone(self):
        if "streaming_status" in self.last:
            return self.heartbeat
        return (10, now() - timedelta(minutes=30), "10")


class Postgres:
    def __init__(self, heartbeat: tuple | None):
        self.heartbeat = heartbeat

    def connect(self, database: str) -> Postgres:
        return self

    def cursor(self) -> Cursor:
        return Cursor(self.heartbeat)

    def close(self) -> None:
        pass


class Record:
    def __init__(self, received: datetime | None, kafka_time: datetime):
        self.headers = RecordMetadata("e", "pin", format_received_at(received)).headers() if received else []
        self.timestamp = int(kafka_time.timestamp() * 1000)


class Kafka:
    """Partition 0 of each topic holds `ends[topic]` records; the first waiting one was received at `received`."""

    def __init__(self, ends: dict[str, int], received: dict[str, datetime | None], kafka_time: datetime | None = None):
        self.ends, self.received, self.kafka_time = ends, received, kafka_time or now()

    def partition_offsets(self, topic: str) -> dict[int, PartitionOffsets]:
        return {0: PartitionOffsets(0, self.ends.get(topic, 0))}

    def read_range(self, topic: str, partition: int, start: int, end: int) -> list[Record]:
        assert end == start + 1 and start < self.ends[topic]
        return [Record(self.received.get(topic), self.kafka_time)]


def heartbeat(consumed: dict[str, int], active: bool = True) -> tuple:
    """A streaming_status row: active, updated_at, end_offsets, rates."""
    return (active, now(), {topic: {"0": offset} for topic, offset in consumed.items()}, 1.0, 1.0)


@pytest.fixture(autouse=True)
def settings(monkeypatch, tmp_path):
    monkeypatch.setenv("PINTEREST_HOME", str(tmp_path))
    for name in LOCAL_SECRETS:
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("PINTEREST_STREAMING_FRESHNESS_SECONDS", str(BOUND_S))


def check(postgres: Postgres, kafka: Kafka) -> dict[str, dg.AssetCheckResult]:
    results = {r.asset_key.to_user_string(): r for r in streaming_tables_freshness(postgres=postgres, kafka=kafka)}
    assert set(results) == set(TABLES.values()) and {r.check_name for r in results.values()} == {FRESHNESS_CHECK}
    return results


def test_passes_once_the_job_has_consumed_everything():
    ends = dict.fromkeys(TABLES, 20)
    results = check(Postgres(heartbeat(ends)), Kafka(ends, {}))
    assert all(r.passed and r.metadata["waiting_records"].value == 0 for r in results.values())


def test_fails_while_events_have_waited_longer_than_the_bound_for_a_stopped_job():
    ends = dict.fromkeys(TABLES, 20)
    old = dict.fromkeys(TABLES, now() - timedelta(seconds=10 * BOUND_S))
    results = check(Postgres(heartbeat(dict.fromkeys(TABLES, 15), active=False)), Kafka(ends, old))
    for result in results.values():
        assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
        assert result.metadata["waiting_records"].value == 5 and result.metadata["job_active"].value is False
        assert result.metadata["oldest_waiting_seconds"].value >= 10 * BOUND_S
        assert result.metadata["bound_seconds"].value == BOUND_S


def test_only_the_table_whose_topic_lags_fails():
    ends = dict.fromkeys(TABLES, 20)
    consumed = {**ends, "pinterest.geo": 19}
    results = check(Postgres(heartbeat(consumed)), Kafka(ends, {"pinterest.geo": now() - timedelta(hours=1)}))
    assert {name for name, r in results.items() if not r.passed} == {"geo_data"}


def test_events_waiting_less_than_the_bound_pass_so_sparse_traffic_cannot_trip_it():
    ends = dict.fromkeys(TABLES, 20)
    recent = dict.fromkeys(TABLES, now() - timedelta(seconds=BOUND_S // 4))
    results = check(Postgres(heartbeat(dict.fromkeys(TABLES, 19))), Kafka(ends, recent))
    assert all(r.passed and r.metadata["waiting_records"].value == 1 for r in results.values())


def test_a_job_that_never_ran_fails_for_whatever_waits_in_kafka_by_its_kafka_timestamp_without_headers():
    ends = dict.fromkeys(TABLES, 3)
    kafka = Kafka(ends, {}, kafka_time=now() - timedelta(hours=2))  # records of another writer: no received_at
    results = check(Postgres(None), kafka)
    for result in results.values():
        assert not result.passed and result.metadata["waiting_records"].value == 3
        assert result.metadata["oldest_waiting_seconds"].value >= 7200 and result.metadata["job_active"].value is False
