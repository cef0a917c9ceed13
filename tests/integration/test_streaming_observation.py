"""Dagster observes the streaming tables: row counts and lag in the observation, and the
freshness check red while the job is stopped and events arrive, green once it has caught up."""

from __future__ import annotations

import time

import pytest

from pinterest_assets.defs.streaming_tables.assets import TABLES
from pinterest_common.schema import EVENT_TYPES
from tests.fixtures.streaming import (
    connect,
    drop_database,
    kafka_events,
    new_database,
    observe,
    post_triples,
    streaming_job,
    wait_until_caught_up,
)

pytestmark = pytest.mark.integration

FRESHNESS_BOUND_S = 5


def caught_up(settings, database: str, job) -> None:
    """Until the tables hold every Kafka record and the job's heartbeat (which trails the
    batches by up to one beat) reports their offsets consumed."""
    in_kafka = kafka_events(settings)
    wait_until_caught_up(settings, database, in_kafka, job)
    ends = {}
    for name, events in in_kafka.items():
        for partition, offset in events.values():
            key = (EVENT_TYPES[name].topic, str(partition))
            ends[key] = max(ends.get(key, 0), offset + 1)
    deadline = time.monotonic() + 60
    while True:
        conn = connect(settings, database)
        with conn.cursor() as cur:
            cur.execute("SELECT end_offsets FROM streaming_status")
            consumed = cur.fetchone()[0] or {}
        conn.close()
        if all(consumed.get(topic, {}).get(partition) == end for (topic, partition), end in ends.items()):
            return
        assert time.monotonic() < deadline, "the heartbeat did not report the consumed offsets"
        time.sleep(0.5)


def row_counts(settings, database: str) -> dict[str, int]:
    conn = connect(settings, database)
    try:
        with conn.cursor() as cur:
            counts = {}
            for table in TABLES:
                cur.execute(f"SELECT count(*) FROM {table.name}")
                counts[table.name] = cur.fetchone()[0]
            return counts
    finally:
        conn.close()


def test_observation_counts_and_lag_and_freshness_red_while_stopped_then_green(stack_settings, tmp_path, monkeypatch):
    database = new_database()
    monkeypatch.setenv("PINTEREST_STREAMING_DATABASE", database)
    monkeypatch.setenv("PINTEREST_STREAMING_FRESHNESS_SECONDS", str(FRESHNESS_BOUND_S))
    job = streaming_job(stack_settings, tmp_path, database)
    job.start()
    try:
        post_triples(stack_settings, 40, seed=901)
        caught_up(stack_settings, database, job)

        observations, checks = observe(stack_settings)
        counts = row_counts(stack_settings, database)
        for table, metadata in observations.items():
            assert metadata["dagster/row_count"] == counts[table] > 0
            assert metadata["kafka_lag_records"] == 0 and metadata["kafka_lag_seconds"] == 0
            assert metadata["job_active"] is True
        assert "newest_received_at" in observations["experimental_data"]
        assert "newest_window_start" in observations["profile_popularity"]
        assert set(checks) == {"experimental_data", "geo_data", "user_data"}
        assert all(check.passed for check in checks.values())

        job.stop()  # SIGTERM: the job finishes its micro-batch, stops the query and Spark
        log = job.log_file.read_text(errors="replace")
        assert "INFO streaming.job: stopped" in log and "Traceback" not in log
        post_triples(stack_settings, 20, seed=902)  # events arrive while the job is stopped
        time.sleep(FRESHNESS_BOUND_S + 3)
        stale, checks = observe(stack_settings)
        for table in ("experimental_data", "geo_data", "user_data"):
            assert stale[table]["kafka_lag_records"] == 20 and stale[table]["kafka_lag_seconds"] > FRESHNESS_BOUND_S
            assert stale[table]["dagster/row_count"] == counts[table] and stale[table]["job_active"] is False
            assert not checks[table].passed
            assert checks[table].metadata["waiting_records"].value == 20

        job.start()
        caught_up(stack_settings, database, job)
        fresh, checks = observe(stack_settings)
        assert all(check.passed for check in checks.values())
        for table in ("experimental_data", "geo_data", "user_data"):
            assert fresh[table]["dagster/row_count"] == counts[table] + 20
            assert fresh[table]["kafka_lag_records"] == 0 and fresh[table]["version"] != stale[table]["version"]
    finally:
        job.stop()
        drop_database(stack_settings, database)
