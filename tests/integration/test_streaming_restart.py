"""The streaming driver killed with SIGKILL mid-run and restarted: still exactly once, no gap, and
the same tables as an uninterrupted run; a micro-batch Spark replays after PostgreSQL committed it
changes nothing."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.streaming_service import SparkStreaming
from tests.fixtures.streaming import (
    connect,
    drop_database,
    event_ids,
    kafka_events,
    kill_9,
    new_database,
    post_triples,
    streaming_job,
    table_rows,
    wait_until_caught_up,
)

pytestmark = pytest.mark.integration

TABLES = ("experimental_data", "geo_data", "user_data", "profile_popularity", "category_trends")


class Traffic(threading.Thread):
    """Posts triples through the API, a few at a time, until stopped."""

    def __init__(self, settings):
        super().__init__(daemon=True)
        self.settings = settings
        self.halt = threading.Event()
        self.accepted: list[dict] = []

    def run(self) -> None:
        seed = 7000
        while not self.halt.is_set():
            self.accepted += post_triples(self.settings, 10, seed=seed, batch_size=10)
            seed += 1
            time.sleep(0.3)

    def stop(self) -> None:
        self.halt.set()
        self.join()


@dataclass(frozen=True)
class Runs:
    reference: SparkStreaming  # never interrupted
    killed: SparkStreaming
    reference_db: str
    killed_db: str
    accepted: list[dict]
    in_kafka: dict


def applied_batches(settings, database: str) -> tuple[int, int]:
    """(how many micro-batches, the highest batch id) applied to `database`."""
    conn = connect(settings, database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), coalesce(max(batch_id), -1) FROM streaming_batches")
            return cur.fetchone()
    finally:
        conn.close()


def kill_right_after_a_commit(settings, job: SparkStreaming, database: str, after: int) -> None:
    """SIGKILL the job the moment a micro-batch commits in PostgreSQL, once `after` have (Spark
    may or may not have recorded it in its checkpoint yet: either way it must not count twice)."""
    deadline = time.monotonic() + 600
    _, last = applied_batches(settings, database)
    while time.monotonic() < deadline:
        count, latest = applied_batches(settings, database)
        if count >= after and latest != last:
            kill_9(job)
            return
        last = latest
        time.sleep(0.01)
    pytest.fail("the job applied no micro-batch to kill it after")


@pytest.fixture(scope="module")
def runs(stack_settings, tmp_path_factory):
    reference_db, killed_db = new_database(), new_database()
    reference = streaming_job(stack_settings, tmp_path_factory.mktemp("reference"), reference_db)
    killed = streaming_job(stack_settings, tmp_path_factory.mktemp("killed"), killed_db)
    reference.start()
    killed.start()
    traffic = Traffic(stack_settings)
    traffic.start()
    try:
        kill_right_after_a_commit(stack_settings, killed, killed_db, after=2)
        time.sleep(5)  # events keep arriving while the driver is down
        killed.start()  # the same checkpoint
        time.sleep(10)
    finally:
        traffic.stop()
    try:
        in_kafka = kafka_events(stack_settings)
        wait_until_caught_up(stack_settings, killed_db, in_kafka, killed)
        wait_until_caught_up(stack_settings, reference_db, in_kafka, reference)
        yield Runs(reference, killed, reference_db, killed_db, traffic.accepted, in_kafka)
    finally:
        killed.stop()
        reference.stop()
        drop_database(stack_settings, reference_db)
        drop_database(stack_settings, killed_db)


def test_killed_and_restarted_run_has_every_event_once_and_equals_the_uninterrupted_run(stack_settings, runs):
    ids = event_ids(stack_settings, runs.killed_db)
    assert {answer["event_id"] for answer in runs.accepted} <= set().union(*ids.values())
    assert ids == {name: set(events) for name, events in runs.in_kafka.items()}
    for table in TABLES:
        killed, reference = (table_rows(stack_settings, db, table) for db in (runs.killed_db, runs.reference_db))
        assert len(killed) == len(reference) and killed == reference, table


def test_a_batch_replayed_after_postgres_committed_it_changes_nothing(stack_settings, runs):
    job = runs.killed
    before = {table: table_rows(stack_settings, runs.killed_db, table) for table in TABLES}
    last = applied_batches(stack_settings, runs.killed_db)[1]
    commits = job.checkpoint / "commits"
    wait_for_commit(commits, last)
    kill_9(job)  # idle: every batch is committed in PostgreSQL and in the checkpoint
    assert max(int(path.name) for path in commits.iterdir() if path.name.isdigit()) == last
    for path in (commits / str(last), commits / f".{last}.crc"):
        path.unlink(missing_ok=True)  # as if the driver died between the two commits
    job.start()
    replayed = f"batch {last} of query"
    deadline = time.monotonic() + 300
    while replayed not in _log(job.log_file):
        assert time.monotonic() < deadline, f"batch {last} was not replayed"
        time.sleep(1)
    assert "replay skipped" in next(line for line in _log(job.log_file).splitlines() if replayed in line)
    wait_for_commit(commits, last)  # Spark records the replayed batch again
    after = {table: table_rows(stack_settings, runs.killed_db, table) for table in TABLES}
    assert after == before


def wait_for_commit(commits: Path, batch_id: int) -> None:
    """Spark records a batch in its commit log just after foreachBatch returns."""
    deadline = time.monotonic() + 60
    while not (commits / str(batch_id)).exists():
        assert time.monotonic() < deadline, f"Spark did not record batch {batch_id}"
        time.sleep(0.2)


def _log(path: Path) -> str:
    return path.read_text(errors="replace")
