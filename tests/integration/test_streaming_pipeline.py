"""End to end: events accepted by the API land exactly once in PostgreSQL through the streaming
job (a real `python -m streaming` process), and the aggregates equal a recomputation; garbage
under forged API headers is rejected, once, and valid events keep flowing."""

from __future__ import annotations

import base64
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from devstack.chaos.garbage import HUGE_BYTES, write_garbage
from devstack.streaming_service import SparkStreaming
from streaming.source import EVENT_TYPE_OF_TOPIC
from tests.fixtures.streaming import (
    assert_aggregates_equal_recomputation,
    connect,
    drop_database,
    event_ids,
    kafka_events,
    new_database,
    post_triples,
    streaming_job,
    table_rows,
    wait_until_caught_up,
)

pytestmark = pytest.mark.integration


# devstack/chaos/garbage.py's kinds of garbage with forged API headers -> the reason's category.
FORGED_GARBAGE = {"not JSON": "value is not JSON", "not UTF-8": "value is not UTF-8",
                  "wrong types": "schema-invalid", "huge value": "schema-invalid"}


@dataclass(frozen=True)
class Run:
    job: SparkStreaming
    database: str
    accepted: list[dict]  # the API's answers
    in_kafka: dict[str, dict[str, tuple[int, int]]]  # event type -> event_id -> (partition, offset)


@pytest.fixture(scope="module")
def run(stack_settings, tmp_path_factory):
    """Events posted before the job starts (a backlog) and while it runs; then caught up."""
    database = new_database()
    job = streaming_job(stack_settings, tmp_path_factory.mktemp("pipeline"), database)
    accepted = post_triples(stack_settings, 150, seed=601)
    job.start()
    try:
        accepted += post_triples(stack_settings, 150, seed=602)
        in_kafka = kafka_events(stack_settings)
        wait_until_caught_up(stack_settings, database, in_kafka, job)
        yield Run(job, database, accepted, in_kafka)
    finally:
        job.stop()
        drop_database(stack_settings, database)


def test_every_accepted_event_is_in_its_table_exactly_once_at_its_kafka_coordinates(stack_settings, run):
    assert len(run.accepted) == 900
    for name, table in (("pin", "experimental_data"), ("geo", "geo_data"), ("user", "user_data")):
        rows = table_rows(stack_settings, run.database, table)
        ids = Counter(row["event_id"] for row in rows)
        assert ids.keys() == run.in_kafka[name].keys() and set(ids.values()) == {1}
        coordinates = {row["event_id"]: (row["kafka_partition"], row["kafka_offset"]) for row in rows}
        for answer in (a for a in run.accepted if a["event_type"] == name):
            assert coordinates[answer["event_id"]] == (answer["partition"], answer["offset"])


def test_pins_carry_the_cleaned_columns(stack_settings, run):
    # This module's own pins: the session's topics also hold other tests' events (e.g. fuzzed ones).
    ours = {answer["event_id"] for answer in run.accepted}
    pins = [pin for pin in table_rows(stack_settings, run.database, "experimental_data") if pin["event_id"] in ours]
    assert len(pins) == 300
    assert all(pin["save_location"].startswith("/data/") for pin in pins)
    assert {pin["category"] for pin in pins} <= {pin["save_location"][len("/data/"):] for pin in pins}
    assert all(isinstance(pin["follower_count"], int) for pin in pins if pin["poster_name"] is not None)
    assert any(pin["poster_name"] is None and pin["follower_count"] is None for pin in pins)  # scrape failures


def test_aggregates_equal_a_recomputation_from_experimental_data(stack_settings, run):
    assert_aggregates_equal_recomputation(stack_settings, run.database)


def test_live_pins_can_be_cut_by_country_and_age_group(stack_settings, run):
    geo = table_rows(stack_settings, run.database, "geo_data")
    users = table_rows(stack_settings, run.database, "user_data")

    def latest(rows):
        by_ind = {}
        for row in sorted(rows, key=lambda r: (r["received_at"], r["event_id"])):
            if row["ind"] is not None:  # a NULL ind joins nothing in SQL
                by_ind[row["ind"]] = row
        return by_ind

    latest_geo, latest_user = latest(geo), latest(users)
    enriched = table_rows(stack_settings, run.database, "experimental_data_enriched")
    assert len(enriched) == len(run.in_kafka["pin"])
    for pin in enriched:  # other tests' pins (e.g. fuzzed) may have no geo or user event: NULLs
        assert pin["country"] == latest_geo.get(pin["ind"], {}).get("country")
        assert pin["age_group"] == latest_user.get(pin["ind"], {}).get("age_group")
    cut = Counter((pin["country"], pin["age_group"]) for pin in enriched)
    assert sum(cut.values()) == len(enriched) and len(cut) > 1


def test_the_local_stack_runs_the_job_into_its_database(stack_settings, run):
    """`make up` (here: the test session's stack) runs the job as its `streaming` service."""
    wait_until_caught_up(stack_settings, stack_settings.streaming_database, run.in_kafka)
    assert_aggregates_equal_recomputation(stack_settings, stack_settings.streaming_database)


def rejected_rows(settings, database: str, positions, timeout_s: float = 120) -> dict[tuple[str, int, int], dict]:
    """The rows of rejected_events by Kafka coordinates, once they include `positions`."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = {(row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]): row
                for row in table_rows(settings, database, "rejected_events")}
        if positions <= rows.keys():
            return rows
        assert time.monotonic() < deadline, f"not in rejected_events: {sorted(positions - rows.keys())}"
        time.sleep(2)


def test_forged_garbage_is_rejected_once_and_valid_events_keep_flowing(stack_settings, run):
    """Last in this module: the garbage and the events after it are not in `run.in_kafka`."""
    written = write_garbage(stack_settings)  # (topic, partition, offset) -> (kind, forged event_id or None)
    accepted = post_triples(stack_settings, 20, seed=603)
    wait_until_caught_up(stack_settings, run.database, kafka_events(stack_settings), run.job)
    forged = {position: kind_and_id for position, kind_and_id in written.items() if kind_and_id[1]}
    rejected = rejected_rows(stack_settings, run.database, forged.keys())  # written first: applied by now or soon

    for (topic, partition, offset), (kind, event_id) in forged.items():
        row = rejected[(topic, partition, offset)]
        assert (row["event_id"], row["event_type"]) == (event_id, EVENT_TYPE_OF_TOPIC[topic])
        assert row["reason"].split(":", 1)[0] == FORGED_GARBAGE[kind], row["reason"]
        if kind == "not UTF-8":
            assert row["value"] is None and base64.b64decode(row["value_base64"]).startswith(b"\xff\xfe")
        if kind == "huge value":
            assert len(row["value"]) > HUGE_BYTES and row["value_base64"] is None
    copies = Counter(row["event_id"] for row in rejected.values())
    assert all(copies[event_id] == 1 for _, event_id in forged.values())
    no_headers = written.keys() - forged.keys()
    assert len(no_headers) == 3 and not no_headers & rejected.keys()  # skipped, as before

    stored = set().union(*event_ids(stack_settings, run.database).values())
    assert not stored & {event_id for _, event_id in forged.values()}
    assert len(accepted) == 60 and {answer["event_id"] for answer in accepted} <= stored
    conn = connect(stack_settings, run.database)
    with conn.cursor() as cur:
        cur.execute("SELECT sum(rejected_events) FROM streaming_batches")
        assert cur.fetchone()[0] == len(rejected)
    conn.close()
    assert run.job.running()
