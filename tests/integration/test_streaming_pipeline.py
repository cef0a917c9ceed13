"""End to end: events accepted by the API land exactly once in PostgreSQL through the streaming
job (a real `python -m streaming` process), and the aggregates equal a recomputation; garbage
under forged API headers is quarantined, once, and valid events keep flowing; events that break
a CLEANING rule of the contract are quarantined with the rule's name, unless it is relaxed; a
client's copies of an event (its retries) are stored once, the first, and counted.

On a stack of its own (`isolated_full_stack`, with its streaming service): the garbage, the
~900 KB values and the rule breakers it writes would otherwise stay in the session's topics for
every later test's lake, clean step and streaming job."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace

import pytest
import requests
from kafka import KafkaProducer

from devstack.chaos.garbage import HUGE_BYTES, write_garbage
from devstack.streaming_service import SparkStreaming
from ingestion_api.canonical import CANONICAL_TRIPLE
from pinterest_common.records import RecordMetadata
from pinterest_common.schema import EVENT_TYPES
from streaming.source import EVENT_TYPE_OF_TOPIC
from tests.fixtures.streaming import (
    assert_aggregates_equal_recomputation,
    connect,
    drop_database,
    event_ids,
    kafka_events,
    new_database,
    observe,
    post_triples,
    streaming_job,
    table_rows,
    wait_until_caught_up,
)

pytestmark = pytest.mark.integration


# devstack/chaos/garbage.py's kinds of garbage with forged API headers -> the reason's category.
FORGED_GARBAGE = {
    "not JSON": "value_not_json",
    "not UTF-8": "value_not_utf8",
    "wrong types": "wrong_type",
    "huge value": "missing_field",
}
# Events the API accepts that break a CLEANING rule of the contract, with the rule's name.
BREAKING_CLEANING_RULES = [
    ("user", {**CANONICAL_TRIPLE["user"], "age": 12}, "age_at_least_13"),
    ("pin", {**CANONICAL_TRIPLE["pin"], "unique_id": "not-a-uuid"}, "unique_id_is_uuid"),
    ("geo", {**CANONICAL_TRIPLE["geo"], "timestamp": "2005-06-01 10:00:00"}, "timestamp_not_before_launch"),
]


@pytest.fixture(scope="module")
def stack_settings(isolated_full_stack):
    """This module's stack, in place of the session's (see the module docstring)."""
    return isolated_full_stack


@dataclass(frozen=True)
class Run:
    job: SparkStreaming
    database: str
    accepted: list[dict]  # the API's answers


@pytest.fixture(scope="module")
def run(stack_settings, tmp_path_factory):
    """Events posted before the job starts (a backlog) and while it runs; then caught up."""
    database = new_database()
    job = streaming_job(stack_settings, tmp_path_factory.mktemp("pipeline"), database)
    accepted = post_triples(stack_settings, 150, seed=601)
    job.start()
    try:
        accepted += post_triples(stack_settings, 150, seed=602)
        wait_until_caught_up(stack_settings, database, kafka_events(stack_settings), job)
        yield Run(job, database, accepted)
    finally:
        job.stop()
        drop_database(stack_settings, database)


def caught_up(settings, database: str, job: SparkStreaming | None = None) -> dict[str, dict[str, tuple[int, int]]]:
    """The clean events in Kafka now (`kafka_events`; the tests of this module add theirs, in any
    order), once the event tables of `database` hold exactly them."""
    in_kafka = kafka_events(settings)
    wait_until_caught_up(settings, database, in_kafka, job)
    return in_kafka


def test_every_accepted_event_is_in_its_table_exactly_once_at_its_kafka_coordinates(stack_settings, run):
    assert len(run.accepted) == 900
    in_kafka = caught_up(stack_settings, run.database, run.job)
    for name, table in (("pin", "experimental_data"), ("geo", "geo_data"), ("user", "user_data")):
        rows = table_rows(stack_settings, run.database, table)
        ids = Counter(row["event_id"] for row in rows)
        assert ids.keys() == in_kafka[name].keys() and set(ids.values()) == {1}
        coordinates = {row["event_id"]: (row["kafka_partition"], row["kafka_offset"]) for row in rows}
        for answer in (a for a in run.accepted if a["event_type"] == name):
            assert coordinates[answer["event_id"]] == (answer["partition"], answer["offset"])


def test_pins_carry_the_cleaned_columns(stack_settings, run):
    # This module's own pins (the topics also hold its garbage and rule breakers).
    ours = {answer["event_id"] for answer in run.accepted}
    pins = [pin for pin in table_rows(stack_settings, run.database, "experimental_data") if pin["event_id"] in ours]
    assert len(pins) == 300
    assert all(pin["save_location"].startswith("/data/") for pin in pins)
    assert {pin["category"] for pin in pins} <= {pin["save_location"][len("/data/") :] for pin in pins}
    assert all(isinstance(pin["follower_count"], int) for pin in pins if pin["poster_name"] is not None)
    assert any(pin["poster_name"] is None and pin["follower_count"] is None for pin in pins)  # scrape failures


def test_aggregates_equal_a_recomputation_from_experimental_data(stack_settings, run):
    assert_aggregates_equal_recomputation(stack_settings, run.database)


def test_live_pins_can_be_cut_by_country_and_age_group(stack_settings, run):
    in_kafka = caught_up(stack_settings, run.database, run.job)
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
    assert len(enriched) == len(in_kafka["pin"])
    for pin in enriched:  # a pin posted alone (the canonical one below) has no geo or user event: NULLs
        assert pin["country"] == latest_geo.get(pin["ind"], {}).get("country")
        assert pin["age_group"] == latest_user.get(pin["ind"], {}).get("age_group")
    cut = Counter((pin["country"], pin["age_group"]) for pin in enriched)
    assert sum(cut.values()) == len(enriched) and len(cut) > 1


def test_the_local_stack_runs_the_job_into_its_database(stack_settings, run):
    """`make up` (here: this module's stack, started like the session's) runs the job as its
    `streaming` service."""
    caught_up(stack_settings, stack_settings.streaming_database)
    assert_aggregates_equal_recomputation(stack_settings, stack_settings.streaming_database)


def quarantined_rows(settings, database: str, positions, timeout_s: float = 120) -> dict[tuple[str, int, int], dict]:
    """The rows of quarantined_events by Kafka coordinates, once they include `positions`."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = {
            (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]): row
            for row in table_rows(settings, database, "quarantined_events")
        }
        if positions <= rows.keys():
            return rows
        assert time.monotonic() < deadline, f"not in quarantined_events: {sorted(positions - rows.keys())}"
        time.sleep(2)


def test_forged_garbage_is_quarantined_once_and_valid_events_keep_flowing(stack_settings, run):
    written = write_garbage(stack_settings)  # (topic, partition, offset) -> (kind, forged event_id or None)
    accepted = post_triples(stack_settings, 20, seed=603)
    wait_until_caught_up(stack_settings, run.database, kafka_events(stack_settings), run.job)
    forged = {position: kind_and_id for position, kind_and_id in written.items() if kind_and_id[1]}
    quarantined = quarantined_rows(stack_settings, run.database, forged.keys())  # written first: applied by now or soon

    for (topic, partition, offset), (kind, event_id) in forged.items():
        row = quarantined[(topic, partition, offset)]
        assert (row["event_id"], row["event_type"]) == (event_id, EVENT_TYPE_OF_TOPIC[topic])
        assert row["reason"].split(":", 1)[0] == FORGED_GARBAGE[kind], row["reason"]
        if kind == "not UTF-8":
            assert row["value"] is None and base64.b64decode(row["value_base64"]).startswith(b"\xff\xfe")
        if kind == "huge value":
            assert len(row["value"]) > HUGE_BYTES and row["value_base64"] is None
    copies = Counter(row["event_id"] for row in quarantined.values())
    assert all(copies[event_id] == 1 for _, event_id in forged.values())
    no_headers = written.keys() - forged.keys()
    assert len(no_headers) == 3 and not no_headers & quarantined.keys()  # skipped, as before

    stored = set().union(*event_ids(stack_settings, run.database).values())
    assert not stored & {event_id for _, event_id in forged.values()}
    assert len(accepted) == 60 and {answer["event_id"] for answer in accepted} <= stored
    conn = connect(stack_settings, run.database)
    with conn.cursor() as cur:
        cur.execute("SELECT sum(quarantined_events) FROM streaming_batches")
        assert cur.fetchone()[0] == len(quarantined)
    conn.close()
    assert run.job.running()


def post_event(settings, event_type: str, event: dict) -> dict:
    """POST one event to the running API; its answer (202)."""
    headers = {"X-API-Key": settings.api_keys[0]} if settings.api_keys else {}
    answer = requests.post(
        f"http://127.0.0.1:{settings.api_port}/{event_type}/", json=event, headers=headers, timeout=30
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def produce_forged(settings, event_type: str, value: bytes) -> tuple[tuple[str, int, int], str]:
    """Write `value` with forged API headers straight into the topic: its coordinates and event_id."""
    metadata = RecordMetadata.new(event_type)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    try:
        sent = producer.send(
            EVENT_TYPES[event_type].topic, key=b"garbage", value=value, headers=metadata.headers()
        ).get(30)
    finally:
        producer.close()
    return (sent.topic, sent.partition, sent.offset), metadata.event_id


def test_events_breaking_a_cleaning_rule_are_quarantined_with_its_name_unless_it_is_relaxed(
    stack_settings, run, tmp_path
):
    """The API accepts these events; the job quarantines them, and a job with their rules relaxed
    (PINTEREST_RELAXED_RULES) stores them as events."""
    breaking = [(post_event(stack_settings, name, event), reason) for name, event, reason in BREAKING_CLEANING_RULES]
    not_json, not_json_id = produce_forged(stack_settings, "pin", b"{this is not JSON")
    valid = post_event(stack_settings, "pin", CANONICAL_TRIPLE["pin"])
    expected = {(a["topic"], a["partition"], a["offset"]): (a["event_id"], reason) for a, reason in breaking}
    expected[not_json] = (not_json_id, "value_not_json")

    wait_until_caught_up(stack_settings, run.database, kafka_events(stack_settings), run.job)
    quarantined = quarantined_rows(stack_settings, run.database, expected.keys())
    assert {
        position: (quarantined[position]["event_id"], quarantined[position]["reason"]) for position in expected
    } == expected
    stored = event_ids(stack_settings, run.database)
    assert valid["event_id"] in stored["pin"]
    assert not set().union(*stored.values()) & {event_id for event_id, _ in expected.values()}

    relaxed = replace(stack_settings, relaxed_rules=tuple(reason for _, _, reason in BREAKING_CLEANING_RULES))
    database = new_database()
    job = streaming_job(relaxed, tmp_path, database)
    job.start()
    try:
        wait_until_caught_up(relaxed, database, kafka_events(relaxed), job)
        stored = event_ids(relaxed, database)
        assert valid["event_id"] in stored["pin"]
        assert all(answer["event_id"] in stored[answer["event_type"]] for answer, _ in breaking)
        quarantined = quarantined_rows(relaxed, database, {not_json})
        assert quarantined[not_json]["reason"] == "value_not_json"
        assert not quarantined.keys() & (expected.keys() - {not_json})
        users = {row["event_id"]: row for row in table_rows(relaxed, database, "user_data")}
        assert users[breaking[0][0]["event_id"]]["age"] == 12
    finally:
        job.stop()
        drop_database(relaxed, database)


def test_a_clients_copies_are_stored_once_the_first_and_counted_and_observed(stack_settings, run):
    """Three copies of one pin, as a client's retries leave them in Kafka: event_ids of their own,
    the same client_event_id and key (hence partition). A poster and a category of their own, so
    the aggregates of this pin are its alone."""
    suffix = uuid.uuid4().hex[:12]
    pin = {
        **CANONICAL_TRIPLE["pin"],
        "unique_id": str(uuid.uuid4()),
        "poster_name": f"copies-{suffix}",
        "follower_count": "12k",
        "category": f"copies-{suffix}",
        "save_location": f"Local save in /data/copies-{suffix}",
    }
    copies = [RecordMetadata.new("pin", client_event_id=f"retry-{suffix}") for _ in range(3)]
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap_servers, acks="all")
    try:
        sent = [
            producer.send(
                EVENT_TYPES["pin"].topic,
                key=pin["unique_id"].encode(),
                value=json.dumps(pin).encode(),
                headers=metadata.headers(),
            ).get(30)
            for metadata in copies
        ]
    finally:
        producer.close()
    assert len({record.partition for record in sent}) == 1 and [r.offset for r in sent] == sorted(
        r.offset for r in sent
    )

    caught_up(stack_settings, run.database, run.job)
    ours = [
        row
        for row in table_rows(stack_settings, run.database, "experimental_data")
        if row["poster_name"] == pin["poster_name"]
    ]
    assert [(row["event_id"], row["client_event_id"], row["kafka_offset"]) for row in ours] == [
        (copies[0].event_id, f"retry-{suffix}", sent[0].offset)
    ]
    profiles = [
        row
        for row in table_rows(stack_settings, run.database, "profile_popularity")
        if row["poster_name"] == pin["poster_name"]
    ]
    assert len(profiles) == 5 and all(
        (row["pins_posted"], row["latest_follower_count"]) == (1, 12_000) for row in profiles
    )
    trends = [
        row for row in table_rows(stack_settings, run.database, "category_trends") if row["category"] == pin["category"]
    ]
    assert [row["events"] for row in trends] == [1]

    conn = connect(stack_settings, run.database)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT sum(pin_duplicate_copies), sum(geo_duplicate_copies), sum(user_duplicate_copies) FROM streaming_batches"
        )
        assert cur.fetchone() == (2, 0, 0)  # this module posts no other copies
    conn.close()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PINTEREST_STREAMING_DATABASE", run.database)
        observed, _ = observe(stack_settings)
    assert [
        observed[table]["duplicate_copies_skipped"] for table in ("experimental_data", "geo_data", "user_data")
    ] == [2, 0, 0]
